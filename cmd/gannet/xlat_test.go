package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/gannet-net/gannet/pkt"
)

const xlatTestConfig = `
addressSpaces:
  7:
rfc6791v4: [192.0.2.1]
rfc6791v6: ["2001:db8:ffff::1"]
lowestIPv6MTU: 1280
ipv4MTU: 1500
ipv6MTU: 1280
`

func xlatPacket(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// runXlat writes frames (one a second) as a capture of link type lt,
// runs gannet xlat on it with config cfg and the extra arguments, checks
// that it printed each of printed, and returns a reader of its output.
func runXlat(t *testing.T, lt layers.LinkType, frames [][]byte, cfg string, printed []string, args ...string) *pcapgo.Reader {
	t.Helper()
	dir := t.TempDir()
	var in bytes.Buffer
	w := pcapgo.NewWriter(&in)
	w.WriteFileHeader(65535, lt)
	for i, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(f), Length: len(f)}, f)
	}
	inPath, outPath, cfgPath := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "xlat.yaml")
	os.WriteFile(inPath, in.Bytes(), 0o644)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	root := newRootCmd()
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetArgs(append([]string{"xlat", "--config", cfgPath, "--in", inPath, "--out", outPath}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("gannet xlat %v: %v", args, err)
	}
	for _, want := range printed {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output %q lacks %q", stdout.String(), want)
		}
	}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestXlatCommand runs gannet xlat over an Ethernet capture holding an
// IPv4 packet, an IPv6 packet, a DF=0 IPv4 packet too big for the IPv6
// side, a DF=1 one, and IGMP, and checks what comes out, in order.
func TestXlatCommand(t *testing.T) {
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
	}
	v4 := func(df bool, proto layers.IPProtocol) *layers.IPv4 {
		i := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 19, 1, 2}, Id: 5}
		if df {
			i.Flags = layers.IPv4DontFragment
		}
		return i
	}
	udp := func(n gopacket.NetworkLayer) *layers.UDP {
		u := &layers.UDP{SrcPort: 1, DstPort: 2}
		u.SetNetworkLayerForChecksum(n)
		return u
	}
	i1, i3, i4 := v4(true, 17), v4(false, 17), v4(true, 17)
	i2 := &layers.IPv6{Version: 6, HopLimit: 9, NextHeader: 17,
		SrcIP: net.ParseIP("64:ff9b:1:7::c613:102"), DstIP: net.ParseIP("64:ff9b:1:7::c612:1")}
	frames := [][]byte{
		xlatPacket(t, eth(layers.EthernetTypeIPv4), i1, udp(i1), gopacket.Payload("hello")),
		xlatPacket(t, eth(layers.EthernetTypeIPv6), i2, udp(i2), gopacket.Payload("world")),
		xlatPacket(t, eth(layers.EthernetTypeIPv4), i3, udp(i3), gopacket.Payload(make([]byte, 2000))),
		xlatPacket(t, eth(layers.EthernetTypeIPv4), i4, udp(i4), gopacket.Payload(make([]byte, 1400))),
		xlatPacket(t, eth(layers.EthernetTypeIPv4), v4(false, 2), gopacket.Payload(make([]byte, 8))),
	}
	r := runXlat(t, layers.LinkTypeEthernet, frames, xlatTestConfig,
		[]string{"packets 5", "forward 2", "fragments 1", "reply 1", "drop 1", "igmp 1", "too-big 1"}, "--space", "7")
	if r.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type %v, want raw", r.LinkType())
	}
	// Translation of 1, of 2, two fragments of 3, the error for 4.
	want := []struct {
		family pkt.Family
		frag   bool
		icmp   bool
		sec    int64
	}{{6, false, false, 0}, {4, false, false, 1}, {6, true, false, 2}, {6, true, false, 2}, {4, false, true, 3}}
	var s pkt.Summary
	for i, w := range want {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if pkt.ParseIP(data, &s) != pkt.OK || s.Family != w.family || (s.Flags&pkt.FlagFragment != 0) != w.frag ||
			(s.Flags&pkt.FlagICMPError != 0) != w.icmp || ci.Timestamp.Unix() != w.sec {
			t.Errorf("packet %d = %v frag %v icmp %v at %d (%v), want %v frag %v icmp %v at %d",
				i, s.Family, s.Flags&pkt.FlagFragment != 0, s.Flags&pkt.FlagICMPError != 0, ci.Timestamp.Unix(), s.Reason,
				w.family, w.frag, w.icmp, w.sec)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Errorf("more packets than expected")
	}
}

func TestXlatCommandBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "xlat.yaml")
	os.WriteFile(cfgPath, []byte("pool6: 2001:db8::/33\n"), 0o644)
	root := newRootCmd()
	root.SetArgs([]string{"xlat", "--config", cfgPath, "--in", filepath.Join(dir, "x"), "--out", filepath.Join(dir, "y")})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "pool6") || !strings.Contains(err.Error(), "/33") {
		t.Errorf("gannet xlat with pool6 /33 = %v, want an error naming pool6 and /33", err)
	}
}

// embed40 is the RFC 6052 /40 form of a under 2001:db8:100::/40.
func embed40(a [4]byte) net.IP {
	return net.IP{0x20, 0x01, 0x0d, 0xb8, 0x01, a[0], a[1], a[2], 0, a[3], 0, 0, 0, 0, 0, 0}
}

// TestXlatCommandHop runs gannet xlat --hop over a raw-IP capture: the
// translator as one router hop, as the data plane is (RFC 7915 4.1 and
// 5.1: the translator decrements TTL / hop limit and "MUST generate an
// ICMP[v6] 'Time Exceeded' error" for an expired packet), with its own
// addresses as the source of the errors it sends (translatorIPv4/IPv6), a
// Packet Too Big for an IPv6 packet too big for the IPv4 next hop (RFC
// 7915 1.4), and an EAM hairpin (RFC 7757 4.2.2).
func TestXlatCommandHop(t *testing.T) {
	const cfg = `
pool6: 2001:db8:100::/40
eam: [{ipv4: 198.51.100.0/24, ipv6: "2001:db8:3::/120"}]
ipv4MTU: 1400
translatorIPv4: 192.0.2.1
translatorIPv6: "2001:db8:1c0:2:1::"
`
	v4 := func(ttl uint8) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: ttl, Protocol: 17, SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 19, 1, 2}}
	}
	v6 := func(hop uint8, src, dst net.IP) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: 17, SrcIP: src, DstIP: dst}
	}
	udp := func(n gopacket.NetworkLayer) *layers.UDP {
		u := &layers.UDP{SrcPort: 1, DstPort: 2}
		u.SetNetworkLayerForChecksum(n)
		return u
	}
	from6, to4 := embed40([4]byte{198, 19, 1, 2}), embed40([4]byte{198, 18, 0, 1})
	i1, i2 := v4(1), v4(64)
	i3, i4, i6 := v6(9, from6, to4), v6(64, from6, to4), v6(1, from6, to4)
	i5 := v6(30, net.ParseIP("2001:db8:3::8"), embed40([4]byte{198, 51, 100, 9}))
	packets := [][]byte{
		xlatPacket(t, i1, udp(i1), gopacket.Payload("expired")),
		xlatPacket(t, i2, udp(i2), gopacket.Payload("hello")),
		xlatPacket(t, i3, udp(i3), gopacket.Payload("world")),
		xlatPacket(t, i4, udp(i4), gopacket.Payload(make([]byte, 1400))),
		xlatPacket(t, i5, udp(i5), gopacket.Payload("hairpin")),
		xlatPacket(t, i6, udp(i6), gopacket.Payload("expired")),
	}
	r := runXlat(t, layers.LinkTypeRaw, packets, cfg, []string{"packets 6", "time-exceeded 2", "hairpinned 1", "too-big 1"}, "--hop")
	want := []struct {
		family   pkt.Family
		ttl      uint8
		src, dst string
		icmp     uint8 // ICMP error type, 0: none
	}{
		{4, 64, "192.0.2.1", "198.18.0.1", pkt.ICMPv4TimeExceeded},
		{6, 63, net.IP(embed40([4]byte{198, 18, 0, 1})).String(), net.IP(embed40([4]byte{198, 19, 1, 2})).String(), 0},
		{4, 8, "198.19.1.2", "198.18.0.1", 0},
		{6, 64, "2001:db8:1c0:2:1::", from6.String(), pkt.ICMPv6PacketTooBig},
		{6, 29, net.IP(embed40([4]byte{198, 51, 100, 8})).String(), "2001:db8:3::9", 0},
		{6, 64, "2001:db8:1c0:2:1::", from6.String(), pkt.ICMPv6TimeExceeded},
	}
	var s pkt.Summary
	for i, w := range want {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if pkt.ParseIP(data, &s) != pkt.OK {
			t.Fatalf("packet %d does not parse: %v", i, s.Reason)
		}
		typ := uint8(0)
		if s.Flags&pkt.FlagICMPError != 0 {
			typ = s.ICMPType
		}
		if s.Family != w.family || s.TTL != w.ttl || s.SrcAddr().String() != w.src || s.DstAddr().String() != w.dst || typ != w.icmp {
			t.Errorf("packet %d: %v TTL %d %v -> %v ICMP %d; want %v TTL %d %s -> %s ICMP %d",
				i, s.Family, s.TTL, s.SrcAddr(), s.DstAddr(), typ, w.family, w.ttl, w.src, w.dst, w.icmp)
		}
		if w.icmp == pkt.ICMPv6PacketTooBig {
			if mtu := pkt.ICMP(data[s.L4Off:]).MTU6(); mtu != 1420 {
				t.Errorf("Packet Too Big MTU %d, want 1420 (IPv4 MTU 1400 + 20)", mtu)
			}
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Errorf("more packets than expected")
	}
}
