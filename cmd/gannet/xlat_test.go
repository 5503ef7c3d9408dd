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

// TestXlatCommand runs gannet xlat over an Ethernet capture holding an
// IPv4 packet, an IPv6 packet, a DF=0 IPv4 packet too big for the IPv6
// side, a DF=1 one, and IGMP, and checks what comes out, in order.
func TestXlatCommand(t *testing.T) {
	dir := t.TempDir()
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
	var in bytes.Buffer
	w := pcapgo.NewWriter(&in)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for i, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(f), Length: len(f)}, f)
	}
	inPath, outPath, cfgPath := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "xlat.yaml")
	os.WriteFile(inPath, in.Bytes(), 0o644)
	os.WriteFile(cfgPath, []byte(xlatTestConfig), 0o644)

	root := newRootCmd()
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetArgs([]string{"xlat", "--config", cfgPath, "--in", inPath, "--out", outPath, "--space", "7"})
	if err := root.Execute(); err != nil {
		t.Fatalf("gannet xlat: %v", err)
	}
	for _, want := range []string{"packets 5", "forward 2", "fragments 1", "reply 1", "drop 1", "igmp 1", "too-big 1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output %q lacks %q", stdout.String(), want)
		}
	}

	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
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
