package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

const loIfindex = 1 // every namespace has lo with ifindex 1

var (
	fpOutMAC = [6]byte{0x02, 0, 0, 0, 0, 0x99}
	fpGwMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	fpNatIP4 = netip.MustParseAddr("203.0.113.7")
)

// tcp4Frame is a TCP segment from peerIP4:40000 to transitIP4:443 with flags set from
// syn/ack/fin/rst, addressed to fpGwMAC.
func fpFrame(t testing.TB, v6 bool, proto layers.IPProtocol, ttl uint8, flags string, payload int) []byte {
	var ipl gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: peerIP6.AsSlice(), DstIP: transitIP6.AsSlice()}
		ipl, nl, et = ip, ip, layers.EthernetTypeIPv6
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto, SrcIP: peerIP4.AsSlice(), DstIP: transitIP4.AsSlice(), Flags: layers.IPv4DontFragment}
		ipl, nl = ip, ip
	}
	e := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: net.HardwareAddr(fpGwMAC[:]), EthernetType: et}
	var l4 gopacket.SerializableLayer
	if proto == layers.IPProtocolTCP {
		tc := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, Ack: 2, Window: 100, ACK: true}
		for _, c := range flags {
			switch c {
			case 'S':
				tc.SYN = true
			case 'F':
				tc.FIN = true
			case 'R':
				tc.RST = true
			}
		}
		tc.SetNetworkLayerForChecksum(nl)
		l4 = tc
	} else {
		u := &layers.UDP{SrcPort: 40000, DstPort: 443}
		u.SetNetworkLayerForChecksum(nl)
		l4 = u
	}
	return serialize(t, e, ipl, l4, gopacket.Payload(make([]byte, payload)))
}

func fpKey(v6 bool, proto uint8) FlowKey {
	k := FlowKey{Ifindex: loIfindex, Family: FamilyIPv4, Proto: proto, SrcPort: 40000, DstPort: 443}
	if v6 {
		k.Family, k.Src, k.Dst = FamilyIPv6, peerIP6.As16(), transitIP6.As16()
	} else {
		copy(k.Src[:], peerIP4.AsSlice())
		copy(k.Dst[:], transitIP4.AsSlice())
	}
	return k
}

func loadFast(t *testing.T, capacity int) (*FastPath, *Program) {
	t.Helper()
	requireRoot(t)
	fp, err := NewFastPath(capacity)
	if err != nil {
		t.Fatalf("NewFastPath: %v", err)
	}
	t.Cleanup(func() { fp.Close() })
	p, err := Load(Options{Role: RoleWorkload, NoSocket: NoSocketPass, FastPath: fp})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	if err := fp.AddEgress(loIfindex); err != nil {
		t.Fatalf("AddEgress: %v", err)
	}
	if err := fp.SetGeneration(7, time.Hour); err != nil {
		t.Fatalf("SetGeneration: %v", err)
	}
	return fp, p
}

// runFast runs frame as received on ifindex and returns the action, the frame out and
// what the program counted.
func runFast(t *testing.T, p *Program, ifindex uint32, frame []byte) (int, []byte, Stats) {
	t.Helper()
	before, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(frame)+64)
	ctx := xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: ifindex}
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Context: ctx}
	ret, err := p.objs.GannetXdp.Run(opts)
	if err != nil {
		t.Fatalf("BPF_PROG_RUN: %v", err)
	}
	after, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return int(ret), out[:len(opts.DataOut)], sub(after, before)
}

// TestFastPathMisses: every frame the fast path does not cover reaches the socket
// unchanged, counted once under its reason (and once as the socket's outcome).
func TestFastPathMisses(t *testing.T) {
	fp, p := loadFast(t, 64)
	base := Flow{Gen: 7, Egress: loIfindex, DstMAC: fpOutMAC, SrcMAC: fpGwMAC, InMAC: fpGwMAC, MTU: 1500}
	tcp, udp := layers.IPProtocolTCP, layers.IPProtocolUDP
	install := func(v6 bool, proto uint8, f Flow) {
		k := fpKey(v6, proto)
		if err := fp.Install(&k, &f); err != nil {
			t.Fatalf("Install: %v", err)
		}
	}
	install(false, 6, base)
	install(true, 6, base)
	stale := base
	stale.Gen = 6
	install(false, 17, stale)
	small := base
	small.MTU = 100
	install(true, 17, small)
	optioned := fpFrame(t, false, tcp, 64, "", 10)
	cases := []struct {
		name  string
		in    uint32
		frame []byte
		want  Stats
	}{
		{"miss: another ingress device", 2, fpFrame(t, false, tcp, 64, "", 10), Stats{FastMiss: 1}},
		{"stale generation", loIfindex, fpFrame(t, false, udp, 64, "", 10), Stats{FastStale: 1}},
		{"SYN", loIfindex, fpFrame(t, false, tcp, 64, "S", 0), Stats{FastTCPFlags: 1}},
		{"FIN", loIfindex, fpFrame(t, true, tcp, 64, "F", 0), Stats{FastTCPFlags: 1}},
		{"RST", loIfindex, fpFrame(t, false, tcp, 64, "R", 0), Stats{FastTCPFlags: 1}},
		{"TTL 1", loIfindex, fpFrame(t, false, tcp, 1, "", 10), Stats{FastTTL: 1}},
		{"hop limit 1", loIfindex, fpFrame(t, true, tcp, 1, "", 10), Stats{FastTTL: 1}},
		{"over the egress MTU", loIfindex, fpFrame(t, true, udp, 64, "", 100), Stats{FastMTU: 1}},
		{"IPv4 options", loIfindex, func() []byte {
			f := append([]byte(nil), optioned...)
			f[14] = 0x46
			return f
		}(), Stats{FastOther: 1}},
		{"bad IPv4 header checksum", loIfindex, func() []byte {
			f := append([]byte(nil), optioned...)
			f[14+10] ^= 0xff
			return f
		}(), Stats{FastOther: 1}},
		{"IPv4 fragment", loIfindex, func() []byte {
			f := append([]byte(nil), optioned...)
			f[14+6] |= 0x20 // MF
			binary.BigEndian.PutUint16(f[14+10:], 0)
			cs := ipv4Checksum(f[14 : 14+20])
			binary.BigEndian.PutUint16(f[14+10:], cs)
			return f
		}(), Stats{FastFragment: 1}},
		{"another destination MAC", loIfindex, func() []byte {
			f := append([]byte(nil), optioned...)
			f[5] ^= 1
			return f
		}(), Stats{FastOther: 1}},
		{"ICMP", loIfindex, fpFrame(t, false, layers.IPProtocolICMPv4, 64, "", 10), Stats{FastOther: 1}},
	}
	for _, c := range cases {
		c.want.PassNoSocket = 1
		ret, out, st := runFast(t, p, c.in, c.frame)
		if ret != xdpPass || st != c.want {
			t.Errorf("%s: action %d counting %+v, want pass counting %+v", c.name, ret, st, c.want)
		}
		if string(out) != string(c.frame) {
			t.Errorf("%s: frame changed: %x, was %x", c.name, out, c.frame)
		}
	}
}

func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// TestFastPathHit: a routed and a source-NATed flow are rewritten and redirected, with
// valid checksums, the counters of the entry and the program updated, and trailing bytes
// trimmed.
func TestFastPathHit(t *testing.T) {
	fp, p := loadFast(t, 64)
	f := Flow{Gen: 7, Egress: loIfindex, DstMAC: fpOutMAC, SrcMAC: fpGwMAC, InMAC: fpGwMAC, MTU: 1500}
	k := fpKey(true, 6)
	if err := fp.Install(&k, &f); err != nil {
		t.Fatal(err)
	}
	in := append(fpFrame(t, true, layers.IPProtocolTCP, 64, "", 20), 0, 0, 0, 0) // padded
	ret, out, st := runFast(t, p, loIfindex, in)
	if ret != xdpRedirect || st != (Stats{FastHit: 1}) {
		t.Fatalf("routed IPv6: action %d counting %+v, want redirect counting one hit", ret, st)
	}
	want := append([]byte(nil), in[:len(in)-4]...)
	copy(want[0:], fpOutMAC[:])
	copy(want[6:], fpGwMAC[:])
	want[14+7] = 63
	if string(out) != string(want) {
		t.Fatalf("routed IPv6 out\n%x\nwant\n%x", out, want)
	}
	c, gen, ok, err := fp.Lookup(&k)
	if err != nil || !ok || gen != 7 || c.Packets != 1 || c.Bytes != uint64(len(want)-14) || c.LastSeen == 0 {
		t.Fatalf("Counters = %+v %v %v", c, ok, err)
	}

	// Source NAT of an IPv4 UDP flow: the deltas as nat computes them.
	k4 := fpKey(false, 17)
	n := f
	n.Rewrite = true
	n.Src, n.Dst = k4.Src, k4.Dst
	copy(n.Src[:], fpNatIP4.AsSlice())
	n.SrcPort, n.DstPort = 1024, 443
	oldA := leSum(k4.Src[:4]) + leSum(k4.Dst[:4])
	newA := leSum(n.Src[:4]) + leSum(n.Dst[:4])
	n.L3Delta = testDelta(oldA, newA)
	n.L4Delta = testDelta(oldA+uint64(netPort(40000))+uint64(netPort(443)), newA+uint64(netPort(1024))+uint64(netPort(443)))
	if err := fp.Install(&k4, &n); err != nil {
		t.Fatal(err)
	}
	in = fpFrame(t, false, layers.IPProtocolUDP, 64, "", 20)
	ret, out, st = runFast(t, p, loIfindex, in)
	if ret != xdpRedirect || st != (Stats{FastHit: 1}) {
		t.Fatalf("SNAT IPv4: action %d counting %+v", ret, st)
	}
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	u, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip == nil || u == nil {
		t.Fatalf("SNAT out does not parse: %x", out)
	}
	if !net.IP(fpNatIP4.AsSlice()).Equal(ip.SrcIP) || ip.TTL != 63 || u.SrcPort != 1024 {
		t.Fatalf("SNAT out: src %v ttl %d sport %d", ip.SrcIP, ip.TTL, u.SrcPort)
	}
	if ipv4Checksum(out[14:34]) != 0 {
		t.Errorf("SNAT out: IPv4 header checksum does not verify: %x", out[14:34])
	}
	// The UDP checksum verifies over the pseudo-header.
	ph := append(append(append([]byte(nil), out[14+12:14+20]...), 0, 17), out[14+20+4:14+20+6]...)
	if s := onesSum(append(ph, out[14+20:]...)); s != 0xffff {
		t.Errorf("SNAT out: UDP checksum does not verify (sum %#x)", s)
	}
}

func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// leSum sums b's little-endian 16-bit words.
func leSum(b []byte) uint64 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return s
}

func testFold(x uint64) uint16 {
	for x > 0xffff {
		x = x>>16 + x&0xffff
	}
	return uint16(x)
}

func testDelta(oldSum, newSum uint64) uint16 {
	return testFold(uint64(^testFold(oldSum)) + uint64(testFold(newSum)))
}

// TestFastPathFull: a full table refuses an install with ErrFlowTableFull.
func TestFastPathFull(t *testing.T) {
	fp, _ := loadFast(t, 2)
	f := Flow{Gen: 7, Egress: loIfindex, MTU: 1500}
	for i := range 3 {
		k := fpKey(false, 6)
		k.SrcPort = uint16(1000 + i)
		err := fp.Install(&k, &f)
		if i < 2 && err != nil {
			t.Fatalf("Install %d: %v", i, err)
		}
		if i == 2 && !errors.Is(err, ErrFlowTableFull) {
			t.Fatalf("Install into a full table: %v, want ErrFlowTableFull", err)
		}
	}
	n := 0
	if err := fp.Flows(func(*FlowKey, uint32, FlowCounters) { n++ }); err != nil || n != 2 {
		t.Fatalf("Flows saw %d (%v), want 2", n, err)
	}
}

// TestFastPathLease: once the Go side's lease has passed, no entry applies.
func TestFastPathLease(t *testing.T) {
	fp, p := loadFast(t, 8)
	f := Flow{Gen: 7, Egress: loIfindex, DstMAC: fpOutMAC, SrcMAC: fpGwMAC, InMAC: fpGwMAC, MTU: 1500}
	k := fpKey(false, 17)
	if err := fp.Install(&k, &f); err != nil {
		t.Fatal(err)
	}
	in := fpFrame(t, false, layers.IPProtocolUDP, 64, "", 10)
	if ret, _, _ := runFast(t, p, loIfindex, in); ret != xdpRedirect {
		t.Fatalf("within the lease: action %d, want redirect", ret)
	}
	if err := fp.SetGeneration(7, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	ret, out, st := runFast(t, p, loIfindex, in)
	if ret != xdpPass || st != (Stats{FastStale: 1, PassNoSocket: 1}) || string(out) != string(in) {
		t.Fatalf("after the lease: action %d counting %+v, want the frame unchanged to the socket as stale", ret, st)
	}
}

// TestFastPathXlat46: an entry for a flow out of a translated space turns the IPv4
// packet into the IPv6 one (RFC 7915 4.1): version 6, traffic class = TOS, flow label 0,
// payload length = total length - 20, next header = protocol, hop limit = TTL - 1, the
// entry's addresses, and a transport checksum that verifies over the IPv6
// pseudo-header; the frame grows by 20 bytes at the front and loses its trailing
// bytes. A zero UDP checksum (fast-other) and packets over the DF or the no-DF limit
// (fast-mtu) reach the socket unchanged.
func TestFastPathXlat46(t *testing.T) {
	fp, p := loadFast(t, 64)
	src6, dst6 := netip.MustParseAddr("64:ff9b:1:7::100.64.0.1"), netip.MustParseAddr("2001:db8:99::5")
	for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP} {
		k := fpKey(false, uint8(proto))
		f := Flow{Gen: 7, Egress: loIfindex, DstMAC: fpOutMAC, SrcMAC: fpGwMAC, InMAC: fpGwMAC, MTU: 1480, MTUFrag: 1260,
			Rewrite: true, Xlat46: true, Src: src6.As16(), Dst: dst6.As16(), SrcPort: 40000, DstPort: 443}
		f.L4Delta = testDelta(leSum(k.Src[:4])+leSum(k.Dst[:4]), leSum(f.Src[:])+leSum(f.Dst[:]))
		if err := fp.Install(&k, &f); err != nil {
			t.Fatal(err)
		}
		in := fpFrame(t, false, proto, 64, "", 30) // DF set
		in[15] = 0xb8                              // TOS (DSCP EF)
		binary.BigEndian.PutUint16(in[14+10:], 0)
		binary.BigEndian.PutUint16(in[14+10:], ipv4Checksum(in[14:34]))
		padded := append(append([]byte(nil), in...), 1, 2, 3)
		ret, out, st := runFast(t, p, loIfindex, padded)
		if ret != xdpRedirect || st != (Stats{FastHit: 1}) {
			t.Fatalf("%v: action %d counting %+v, want redirect counting one hit", proto, ret, st)
		}
		if len(out) != len(in)+20 {
			t.Fatalf("%v: %d bytes out, want %d", proto, len(out), len(in)+20)
		}
		if string(out[0:6]) != string(fpOutMAC[:]) || string(out[6:12]) != string(fpGwMAC[:]) || binary.BigEndian.Uint16(out[12:]) != 0x86dd {
			t.Errorf("%v: Ethernet header %x", proto, out[:14])
		}
		ip := out[14:54]
		l3len := int(binary.BigEndian.Uint16(in[16:]))
		if binary.BigEndian.Uint32(ip[0:]) != 6<<28|0xb8<<20 || int(binary.BigEndian.Uint16(ip[4:])) != l3len-20 ||
			ip[6] != uint8(proto) || ip[7] != 63 || netip.AddrFrom16([16]byte(ip[8:24])) != src6 || netip.AddrFrom16([16]byte(ip[24:40])) != dst6 {
			t.Errorf("%v: IPv6 header %x", proto, ip)
		}
		seg := out[54:]
		l4len := 8
		if proto == layers.IPProtocolTCP {
			l4len = 20
		}
		if string(seg[:4]) != string(in[34:38]) || string(seg[l4len:]) != string(in[34+l4len:]) {
			t.Errorf("%v: ports or payload changed", proto)
		}
		ph := append(append(append([]byte(nil), ip[8:40]...), 0, 0, byte(len(seg)>>8), byte(len(seg))), 0, 0, 0, uint8(proto))
		if s := onesSum(append(ph, seg...)); s != 0xffff {
			t.Errorf("%v: transport checksum does not verify over the IPv6 pseudo-header (sum %#x)", proto, s)
		}
		if c, _, _, _ := fp.Lookup(&k); c.Packets != 1 || c.Bytes != uint64(l3len) {
			t.Errorf("%v: entry counted %+v, want one packet of %d bytes", proto, c, l3len)
		}

		miss := func(name string, frame []byte, want Stats) {
			t.Helper()
			fastMissed(t, p, fmt.Sprintf("%v %s", proto, name), frame, want)
		}
		big := func(payload int, df bool) []byte {
			b := fpFrame(t, false, proto, 64, "", payload)
			if !df {
				b[14+6] &^= 0x40
				binary.BigEndian.PutUint16(b[14+10:], 0)
				binary.BigEndian.PutUint16(b[14+10:], ipv4Checksum(b[14:34]))
			}
			return b
		}
		hdr := 20 + l4len
		miss("DF, over the limit with DF", big(1481-hdr, true), Stats{FastMTU: 1})
		miss("no DF, over the limit without DF", big(1261-hdr, false), Stats{FastMTU: 1})
		for _, c := range []struct {
			payload int
			df      bool
		}{{1480 - hdr, true}, {1260 - hdr, false}} {
			if ret, _, st := runFast(t, p, loIfindex, big(c.payload, c.df)); ret != xdpRedirect || st != (Stats{FastHit: 1}) {
				t.Errorf("%v: %d bytes, DF %v, at the limit: action %d counting %+v, want a hit", proto, hdr+c.payload, c.df, ret, st)
			}
		}
		if proto == layers.IPProtocolUDP {
			z := append([]byte(nil), in...)
			binary.BigEndian.PutUint16(z[34+6:], 0)
			miss("zero UDP checksum", z, Stats{FastOther: 1})
		}
	}
}

// TestFastPathXlat64: an entry for a flow from the IPv6 core into a translated space
// turns the IPv6 packet into the IPv4 one (RFC 7915 5.1): version 4, IHL 5, TOS = traffic
// class, total length = payload length + 20, an Identification from the per-CPU
// generator, DF only above 1260 bytes ("the IPv6 minimum MTU less 20" rule To4 follows),
// TTL = hop limit - 1, protocol = next header, the entry's addresses, a header checksum
// that verifies and a transport checksum that verifies over the IPv4 pseudo-header; the
// frame shrinks by 20 bytes at the front and loses its trailing bytes. A zero UDP
// checksum (fast-other) and a packet over the limit (fast-mtu) reach the socket
// unchanged.
func TestFastPathXlat64(t *testing.T) {
	fp, p := loadFast(t, 64)
	src4, dst4 := netip.MustParseAddr("100.64.9.5"), netip.MustParseAddr("100.64.0.1")
	onOneCPU(t) // the Identifications of one CPU's generator
	for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP} {
		k := fpKey(true, uint8(proto))
		// The workload's port differs from the one the core used (a DNAT in the space).
		f := Flow{Gen: 7, Egress: loIfindex, DstMAC: fpOutMAC, SrcMAC: fpGwMAC, InMAC: fpGwMAC, MTU: 1420,
			Rewrite: true, Xlat64: true, SrcPort: 40000, DstPort: 8443}
		copy(f.Src[:], src4.AsSlice())
		copy(f.Dst[:], dst4.AsSlice())
		f.L4Delta = testDelta(leSum(k.Src[:])+leSum(k.Dst[:])+uint64(netPort(443)), leSum(f.Src[:4])+leSum(f.Dst[:4])+uint64(netPort(8443)))
		if err := fp.Install(&k, &f); err != nil {
			t.Fatal(err)
		}
		l4len := 8
		if proto == layers.IPProtocolTCP {
			l4len = 20
		}
		frame := func(total int) []byte { // total: the IPv4 packet's length
			b := fpFrame(t, true, proto, 64, "", total-20-l4len)
			b[14], b[15] = 0x6b, 0x85 // traffic class 0xb8 (DSCP EF), flow label 0x5....
			return b
		}
		var ids []uint16
		for _, total := range []int{100, 1260, 1261, 1400} {
			in := frame(total)
			padded := append(append([]byte(nil), in...), 1, 2, 3)
			ret, out, st := runFast(t, p, loIfindex, padded)
			if ret != xdpRedirect || st != (Stats{FastHit: 1}) {
				t.Fatalf("%v %d: action %d counting %+v, want redirect counting one hit", proto, total, ret, st)
			}
			if len(out) != len(in)-20 {
				t.Fatalf("%v %d: %d bytes out, want %d", proto, total, len(out), len(in)-20)
			}
			if string(out[0:6]) != string(fpOutMAC[:]) || string(out[6:12]) != string(fpGwMAC[:]) || binary.BigEndian.Uint16(out[12:]) != 0x0800 {
				t.Errorf("%v %d: Ethernet header %x", proto, total, out[:14])
			}
			ip := out[14:34]
			var flags uint16
			if total > 1260 {
				flags = 0x4000 // DF
			}
			if ip[0] != 0x45 || ip[1] != 0xb8 || int(binary.BigEndian.Uint16(ip[2:])) != total || binary.BigEndian.Uint16(ip[6:]) != flags ||
				ip[8] != 63 || ip[9] != uint8(proto) || netip.AddrFrom4([4]byte(ip[12:16])) != src4 || netip.AddrFrom4([4]byte(ip[16:20])) != dst4 {
				t.Errorf("%v %d: IPv4 header %x", proto, total, ip)
			}
			if s := onesSum(ip); s != 0xffff {
				t.Errorf("%v %d: IPv4 header checksum does not verify (sum %#x)", proto, total, s)
			}
			ids = append(ids, binary.BigEndian.Uint16(ip[4:]))
			seg := out[34:]
			if binary.BigEndian.Uint16(seg[2:]) != 8443 || string(seg[:2]) != string(in[54:56]) || string(seg[l4len:]) != string(in[54+l4len:]) {
				t.Errorf("%v %d: ports or payload wrong", proto, total)
			}
			ph := append(append([]byte(nil), ip[12:20]...), 0, uint8(proto), byte(len(seg)>>8), byte(len(seg)))
			if s := onesSum(append(ph, seg...)); s != 0xffff {
				t.Errorf("%v %d: transport checksum does not verify over the IPv4 pseudo-header (sum %#x)", proto, total, s)
			}
		}
		if c, _, _, _ := fp.Lookup(&k); c.Packets != 4 {
			t.Errorf("%v: entry counted %+v, want 4 packets", proto, c)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] != ids[i-1]+1 {
				t.Errorf("%v: Identifications %v of consecutive packets on one CPU, want each one more than the last", proto, ids)
			}
		}

		miss := func(name string, frame []byte, want Stats) {
			t.Helper()
			fastMissed(t, p, fmt.Sprintf("%v %s", proto, name), frame, want)
		}
		miss("over the limit", frame(1401), Stats{FastMTU: 1})
		if proto == layers.IPProtocolUDP {
			z := frame(100)
			binary.BigEndian.PutUint16(z[54+6:], 0)
			miss("zero UDP checksum", z, Stats{FastOther: 1})
		}
	}
}

// onOneCPU keeps the test's goroutine on its thread and the thread on CPU 0 until the
// test ends, so that every BPF_PROG_RUN runs on the same CPU.
func onOneCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	one.Set(0)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
}

// fastMissed runs frame through p and requires it passed to the socket unchanged,
// counted as want (and as passed to the socket).
func fastMissed(t *testing.T, p *Program, name string, frame []byte, want Stats) {
	t.Helper()
	want.PassNoSocket = 1
	ret, out, st := runFast(t, p, loIfindex, frame)
	if ret != xdpPass || st != want || string(out) != string(frame) {
		t.Errorf("%s: action %d counting %+v (frame unchanged: %v), want pass counting %+v", name, ret, st, string(out) == string(frame), want)
	}
}
