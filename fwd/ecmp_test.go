package fwd

// ECMP: learned routes with several equal next hops, a group's member
// picked per flow by flowHash.

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macUp2   = mac(0x02, 0x11)
	macUp3   = mac(0x02, 0x12)
	macPeer2 = mac(0x02, 0x21)
	macPeer3 = mac(0x02, 0x22)

	ecmpGw4 = []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.101.1"), netip.MustParseAddr("198.51.102.1")}
	ecmpGw6 = []netip.Addr{netip.MustParseAddr("fe80::20"), netip.MustParseAddr("fe80::21"), netip.MustParseAddr("fe80::22")}

	ecmpNet4 = netip.MustParsePrefix("192.0.2.0/24")
	ecmpNet6 = netip.MustParsePrefix("2001:db8:beef::/48")
)

// oneHop is a learned route's single gateway.
func oneHop(port int, gw netip.Addr) LearnedHop {
	return LearnedHop{Gateways: []LearnedGateway{{Port: port, Gateway: gw}}}
}

// ecmpConfig is twoWorkloads with no static routes and three uplinks:
// "up" (port 2, MTU 1280), "up2" (3) and "up3" (4), each with its own
// router (ecmpNeigh).
func ecmpConfig() Config {
	c := twoWorkloads()
	c.Routes = nil
	c.Ports = append(slices.Clone(c.Ports),
		PortConfig{Name: "up2", Ifindex: 14, Role: RoleUplink, MAC: mac6(macUp2), MTU: 1500},
		PortConfig{Name: "up3", Ifindex: 15, Role: RoleUplink, MAC: mac6(macUp3), MTU: 1500})
	return c
}

var ecmpNeigh = []neigh.Entry{
	{Ifindex: 13, Addr: ecmpGw4[0], MAC: mac6(macPeer)}, {Ifindex: 13, Addr: ecmpGw6[0], MAC: mac6(macPeer)},
	{Ifindex: 14, Addr: ecmpGw4[1], MAC: mac6(macPeer2)}, {Ifindex: 14, Addr: ecmpGw6[1], MAC: mac6(macPeer2)},
	{Ifindex: 15, Addr: ecmpGw4[2], MAC: mac6(macPeer3)}, {Ifindex: 15, Addr: ecmpGw6[2], MAC: mac6(macPeer3)},
}

// ecmpHop is the group of the first n uplinks (ports 2, 3, 4) of
// ecmpConfig, in the family of gws.
func ecmpHop(gws []netip.Addr, n int) LearnedHop {
	var h LearnedHop
	for i := range n {
		h.Gateways = append(h.Gateways, LearnedGateway{Port: 2 + i, Gateway: gws[i]})
	}
	return h
}

// learnECMP learns ecmpNet4 and ecmpNet6 over three equal paths.
func learnECMP(t testing.TB, tab *Tables) {
	t.Helper()
	if err := tab.Learn(0, ecmpNet4, ecmpHop(ecmpGw4, 3)); err != nil {
		t.Fatalf("Learn(%v): %v", ecmpNet4, err)
	}
	if err := tab.Learn(0, ecmpNet6, ecmpHop(ecmpGw6, 3)); err != nil {
		t.Fatalf("Learn(%v): %v", ecmpNet6, err)
	}
}

// ecmpHost is an ecmpConfig host (c) with both prefixes learned.
func ecmpHost(t testing.TB, c Config) *host {
	t.Helper()
	h := newHost(t, c, ecmpNeigh)
	learnECMP(t, h.tables.Load())
	return h
}

// randomFlow is a UDP or TCP packet from W1 to a random address of the
// learned prefix of its family, from and to random ports.
func randomFlow(rng *rand.Rand) spec {
	s := spec{srcMAC: macW1, dstMAC: gwMAC, proto: []string{"udp", "syn"}[rng.IntN(2)],
		sport: uint16(1024 + rng.IntN(60000)), dport: uint16(1 + rng.IntN(65535))}
	if rng.IntN(2) == 0 {
		s.src, s.dst = w1v4, netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
	} else {
		a := ecmpNet6.Addr().As16()
		binary.BigEndian.PutUint64(a[8:], rng.Uint64())
		s.src, s.dst = w1v6, netip.AddrFrom16(a)
	}
	return s
}

// egressOf sends frame in on port 0 and returns the port it left by (-1:
// none).
func egressOf(t testing.TB, h *host, frame []byte) int {
	t.Helper()
	h.send(0, frame)
	out := -1
	for p := range h.ports {
		if n := len(h.out(p)); n > 0 {
			if out >= 0 {
				t.Fatalf("frame left by ports %d and %d", out, p)
			}
			out = p
		}
	}
	return out
}

// summaryOf parses frame.
func summaryOf(t testing.TB, frame []byte) *pkt.Summary {
	t.Helper()
	var s pkt.Summary
	if pkt.Parse(frame, &s) != pkt.OK {
		t.Fatalf("Parse: %v", s.Reason)
	}
	return &s
}

// TestFlowHashGolden: the hash is a constant function of the flow — the
// same in every run, on every worker and every host (no seed): golden
// values, and two workers of two hosts send every flow the same way.
func TestFlowHashGolden(t *testing.T) {
	tests := []struct {
		name string
		spec spec
		want uint64
	}{
		{"udp4", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("192.0.2.7"), proto: "udp", sport: 40000, dport: 53}, 0xca60e1a6cbbdc0f5},
		{"tcp4", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("192.0.2.7"), proto: "syn", sport: 40000, dport: 443}, 0x22367c957989d019},
		{"icmp4", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("192.0.2.7"), proto: "echo", id: 9, seq: 1}, 0xabee3f26803e2616},
		{"tcp6", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: netip.MustParseAddr("2001:db8:beef::7"), proto: "syn", sport: 40000, dport: 443}, 0xd780f16b775f0800},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := flowHash(summaryOf(t, tc.spec.frame(t))); got != tc.want {
				t.Errorf("flowHash(%s) = %#016x, want %#016x", tc.name, got, tc.want)
			}
		})
	}

	a, b := ecmpHost(t, ecmpConfig()), ecmpHost(t, ecmpConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		f := randomFlow(rng).frame(t)
		if pa, pb := egressOf(t, a, f), egressOf(t, b, f); pa != pb || pa < 2 {
			t.Fatalf("a flow left host a by port %d and host b by port %d", pa, pb)
		}
	}
}

// TestECMPSpread: many random flows spread evenly over a group's members
// (a chi-square test at p = 0.001, for groups of 2 to MaxECMP and through
// the pipeline for a group of 3).
func TestECMPSpread(t *testing.T) {
	// Critical values of chi-square at p = 0.001 for 1..7 degrees of freedom.
	crit := []float64{10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32}
	chi2 := func(counts []int, total int) float64 {
		e := float64(total) / float64(len(counts))
		x := 0.0
		for _, c := range counts {
			x += (float64(c) - e) * (float64(c) - e) / e
		}
		return x
	}
	tab, err := NewTables(ecmpConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var s pkt.Summary
	for n := 2; n <= MaxECMP; n++ {
		g := ecmpGroup{n: uint8(n)} // members all point at up ports
		counts := make([]int, n)
		const flows = 20000
		for range flows {
			f := randomFlow(rng)
			s = pkt.Summary{Family: pkt.FamilyIPv4, Proto: pkt.ProtoUDP, Flags: pkt.FlagPorts, SrcPort: f.sport, DstPort: f.dport}
			if f.dst.Is6() {
				s.Family, s.Src, s.Dst = pkt.FamilyIPv6, f.src.As16(), f.dst.As16()
			} else {
				a, b := f.src.As4(), f.dst.As4()
				copy(s.Src[:], a[:])
				copy(s.Dst[:], b[:])
			}
			m, _, ok := tab.pickMember(&g, flowHash(&s))
			if !ok {
				t.Fatal("pickMember: no live member")
			}
			counts[m]++
		}
		if x := chi2(counts, flows); x > crit[n-2] {
			t.Errorf("group of %d: %d flows fall %v over the members: chi-square %.1f > %.1f", n, flows, counts, x, crit[n-2])
		}
	}

	h := ecmpHost(t, ecmpConfig())
	counts := make([]int, 3)
	const flows = 3000
	for range flows {
		p := egressOf(t, h, randomFlow(rng).frame(t))
		if p < 2 {
			t.Fatalf("a flow left by port %d, want an uplink (drops %v)", p, nonZero(h.stats()))
		}
		counts[p-2]++
	}
	t.Logf("%d flows over up, up2, up3: %v", flows, counts)
	if x := chi2(counts, flows); x > crit[1] {
		t.Errorf("%d flows fall %v over the three uplinks: chi-square %.1f > %.1f", flows, counts, x, crit[1])
	}
}

// TestECMPFlowSticks: every packet of a flow takes the same member,
// whatever else differs between them (length, TTL, TCP flags).
func TestECMPFlowSticks(t *testing.T) {
	h := ecmpHost(t, ecmpConfig())
	rng := rand.New(rand.NewPCG(5, 6))
	seen := map[int]bool{}
	for range 100 {
		f := randomFlow(rng)
		first := egressOf(t, h, f.frame(t))
		seen[first] = true
		for i := range 8 {
			g := f
			g.payload = make([]byte, rng.IntN(1000))
			g.ttl = uint8(2 + rng.IntN(250))
			if g.proto != "udp" {
				g.proto = []string{"syn", "ack", "synack"}[i%3]
			}
			if p := egressOf(t, h, g.frame(t)); p != first {
				t.Fatalf("flow %v:%d -> %v:%d: packet %d left by port %d, the first by port %d", f.src, f.sport, f.dst, f.dport, i, p, first)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("100 flows left by ports %v, want all three uplinks", seen)
	}
}

// fragments4 is datagram f (UDP) cut into IPv4 fragments of at most 8*k
// payload bytes each.
func fragments4(t testing.TB, f spec, id uint16, k int) [][]byte {
	t.Helper()
	ip := f.packet(t)
	hl := int(ip[0]&0x0f) * 4
	data := ip[hl:]
	var out [][]byte
	for off := 0; off < len(data); off += 8 * k {
		end := min(off+8*k, len(data))
		frag := &layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice(),
			FragOffset: uint16(off / 8)}
		if end < len(data) {
			frag.Flags = layers.IPv4MoreFragments
		}
		out = append(out, serialize(t, &layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: layers.EthernetTypeIPv4}, frag,
			gopacket.Payload(data[off:end])))
	}
	return out
}

// fragments6 is datagram f (UDP over IPv6) cut into fragments.
func fragments6(t testing.TB, f spec, id uint32, k int) [][]byte {
	t.Helper()
	ip := f.packet(t)
	data := ip[pkt.IPv6Len:]
	var out [][]byte
	for off := 0; off < len(data); off += 8 * k {
		end := min(off+8*k, len(data))
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice()}
		fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: uint16(off / 8), MoreFragments: end < len(data), Identification: id}
		out = append(out, serialize(t, &layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip6, fh,
			gopacket.Payload(data[off:end])))
	}
	return out
}

// TestECMPFragments: the rule for fragments — every fragment of a
// datagram (the first, which carries the ports, too) hashes on addresses
// and protocol only, so a datagram never splits over two paths, and all
// fragmented datagrams between two hosts take the path of the
// port-less hash.
func TestECMPFragments(t *testing.T) {
	h := ecmpHost(t, ecmpConfig())
	tab := h.tables.Load()
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 60 {
		f := randomFlow(rng)
		f.proto, f.payload = "udp", make([]byte, 600)
		var frags [][]byte
		if f.dst.Is4() {
			frags = fragments4(t, f, uint16(i), 30)
		} else {
			frags = fragments6(t, f, uint32(i), 30)
		}
		if len(frags) < 3 {
			t.Fatalf("%d fragments", len(frags))
		}
		// The member the port-less hash picks.
		s := *summaryOf(t, f.frame(t))
		s.Flags &^= pkt.FlagPorts
		nh := lookup(tab, tab.flat, &s)
		m, _, _ := tab.pickMember(&nh.group, flowHash(&s))
		want := tab.nhs[nh.group.members[m]].port
		for j, fr := range frags {
			if p := egressOf(t, h, fr); p != want {
				t.Fatalf("datagram %d (%v -> %v): fragment %d left by port %d, want %d (the addresses' and protocol's member)", i, f.src, f.dst, j, p, want)
			}
		}
	}
	if st := h.stats(); st.Dropped() != 0 {
		t.Errorf("drops %v", nonZero(st))
	}
}

// slowFlowHash is flowHash's twin: the words of the flow from the
// addresses and ports as gopacket decodes them, mixed one by one.
func slowFlowHash(src, dst netip.Addr, proto uint8, ports bool, sport, dport uint16) uint64 {
	words := []uint64{}
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		words = append(words, uint64(binary.BigEndian.Uint32(a[:]))<<32+uint64(binary.BigEndian.Uint32(b[:])))
	} else {
		a, b := src.As16(), dst.As16()
		words = append(words, binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
	}
	if ports {
		words = append(words, 1<<32+uint64(sport)<<16+uint64(dport))
	}
	h := uint64(proto)
	for _, w := range words {
		h ^= w
		h *= 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	for _, m := range []uint64{0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53} {
		h ^= h >> 33
		h *= m
	}
	return h ^ h>>33
}

// slowPick is pickMember's twin: the first choice from the high half of
// the hash scaled to n in big integers; when its member is down, the live
// members listed and one chosen from the low half.
func slowPick(n int, down []bool, h uint64) (int, bool) {
	scale := func(x uint64, n int) int {
		v := new(big.Int).Mul(new(big.Int).SetUint64(x), big.NewInt(int64(n)))
		return int(v.Rsh(v, 32).Int64())
	}
	first := scale(h>>32, n)
	if !down[first] {
		return first, true
	}
	var live []int
	for i := range n {
		if !down[i] {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return 0, false
	}
	return live[scale(h&0xffffffff, len(live))], true
}

// TestECMPPickTwin: the pick (flowHash, then pickMember over groups of
// every size with random ports down) against its slow twin.
func TestECMPPickTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for round := range 200 {
		n := 2 + rng.IntN(MaxECMP-1)
		c := Config{Ports: []PortConfig{{Name: "w", Role: RoleWorkload}}}
		down := make([]bool, n)
		var hop LearnedHop
		for i := range n {
			down[i] = rng.IntN(3) == 0 && round%4 != 0
			c.Ports = append(c.Ports, PortConfig{Name: "up" + string(rune('a'+i)), Ifindex: 10 + i, Role: RoleUplink, Down: down[i]})
			hop.Gateways = append(hop.Gateways, LearnedGateway{Port: 1 + i, Gateway: netip.AddrFrom4([4]byte{10, 0, byte(i), 1})})
		}
		rng.Shuffle(len(hop.Gateways), func(i, j int) { hop.Gateways[i], hop.Gateways[j] = hop.Gateways[j], hop.Gateways[i] })
		tab, err := NewTables(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.Learn(0, netip.MustParsePrefix("0.0.0.0/0"), hop); err != nil {
			t.Fatal(err)
		}
		i, _ := tab.flat.table.Get(netip.MustParsePrefix("0.0.0.0/0"))
		g := &tab.nhs[i].group
		for range 200 {
			f := randomFlow(rng)
			if rng.IntN(4) == 0 {
				f.proto, f.id = "echo", uint16(rng.IntN(65536))
			}
			s := summaryOf(t, f.frame(t))
			ports := f.proto != "echo"
			var proto uint8
			switch {
			case f.proto == "udp":
				proto = pkt.ProtoUDP
			case f.proto == "syn":
				proto = pkt.ProtoTCP
			case f.src.Is4():
				proto = pkt.ProtoICMP
			default:
				proto = pkt.ProtoICMPv6
			}
			h := flowHash(s)
			if want := slowFlowHash(f.src, f.dst, proto, ports, f.sport, f.dport); h != want {
				t.Fatalf("flowHash(%v:%d -> %v:%d %s) = %#x, twin %#x", f.src, f.sport, f.dst, f.dport, f.proto, h, want)
			}
			// Members are in port order: member j is port 1+j.
			got, _, ok := tab.pickMember(g, h)
			want, wok := slowPick(n, down, h)
			if ok != wok || ok && got != want {
				t.Fatalf("group of %d, down %v, hash %#x: pickMember = %d, %v; twin %d, %v", n, down, h, got, ok, want, wok)
			}
		}
	}
}

// TestECMPPortDown: a member whose port is down is skipped — flows of
// the live members stay where they were, the dead member's flows spread
// over the live ones — and with every member down the packet is
// answered host unreachable, as for a plain route.
func TestECMPPortDown(t *testing.T) {
	up := ecmpHost(t, ecmpConfig())
	one := ecmpHost(t, downPort(ecmpConfig(), 3))
	all := ecmpHost(t, downPort(downPort(downPort(ecmpConfig(), 2), 3), 4))
	rng := rand.New(rand.NewPCG(11, 12))
	moved := map[int]int{}
	for range 600 {
		f := randomFlow(rng).frame(t)
		before, after := egressOf(t, up, f), egressOf(t, one, f)
		switch {
		case after == 3 || after < 2:
			t.Fatalf("with up2 down a flow left by port %d (drops %v)", after, nonZero(one.stats()))
		case before != 3 && after != before:
			t.Fatalf("a flow of live port %d moved to %d when up2 went down", before, after)
		case before == 3:
			moved[after]++
		}
		all.advance(time.Second) // an ICMP token for every packet
		if p := egressOf(t, all, f); p != 0 {
			t.Fatalf("with every member down: answered by port %d, want back out of w1", p)
		}
	}
	if moved[2] == 0 || moved[4] == 0 {
		t.Errorf("up2's flows moved to %v, want both live uplinks", moved)
	}
	if st := all.stats(); st.Drops[ReasonPortDown] != 600 {
		t.Errorf("all down: port-down %d, want 600 (drops %v)", st.Drops[ReasonPortDown], nonZero(st))
	}
}

// TestLearnECMP: groups are learned, shared and replaced like single
// hops: the same set in another order (or with repeats) is the same
// group, a member added or dropped makes the route's new group at once,
// a group of one is the plain hop, and past MaxECMP the first in order
// are kept.
func TestLearnECMP(t *testing.T) {
	h := newHost(t, ecmpConfig(), ecmpNeigh)
	tab := h.tables.Load()
	idx := func(p netip.Prefix) uint32 {
		t.Helper()
		i, ok := tab.flat.table.Get(p)
		if !ok {
			t.Fatalf("%v not in the table", p)
		}
		return i
	}
	spread := func(n int) map[int]int {
		rng := rand.New(rand.NewPCG(13, uint64(n)))
		got := map[int]int{}
		for range n {
			f := randomFlow(rng)
			f.src, f.dst = w1v4, netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
			got[egressOf(t, h, f.frame(t))]++
		}
		return got
	}
	other := netip.MustParsePrefix("203.0.113.0/24")
	two := ecmpHop(ecmpGw4, 2)
	if err := tab.Learn(0, ecmpNet4, two); err != nil {
		t.Fatal(err)
	}
	if got := spread(200); len(got) != 2 || got[2] == 0 || got[3] == 0 {
		t.Errorf("group of up, up2: flows left by %v", got)
	}
	// The same set reversed, with a repeat: the same next hop.
	rev := LearnedHop{Gateways: []LearnedGateway{two.Gateways[1], two.Gateways[0], two.Gateways[1]}}
	if err := tab.Learn(0, other, rev); err != nil {
		t.Fatal(err)
	}
	if idx(other) != idx(ecmpNet4) {
		t.Errorf("the same group in another order got next hop %d, the first %d", idx(other), idx(ecmpNet4))
	}
	// A member added.
	if err := tab.Learn(0, ecmpNet4, ecmpHop(ecmpGw4, 3)); err != nil {
		t.Fatal(err)
	}
	if got := spread(300); len(got) != 3 {
		t.Errorf("group of three: flows left by %v", got)
	}
	// One dropped: up and up3.
	if err := tab.Learn(0, ecmpNet4, LearnedHop{Gateways: []LearnedGateway{{2, ecmpGw4[0]}, {4, ecmpGw4[2]}}}); err != nil {
		t.Fatal(err)
	}
	if got := spread(200); len(got) != 2 || got[2] == 0 || got[4] == 0 {
		t.Errorf("group of up, up3: flows left by %v", got)
	}
	// A group of one is the plain hop.
	if err := tab.Learn(0, other, oneHop(3, ecmpGw4[1])); err != nil {
		t.Fatal(err)
	}
	if err := tab.Learn(0, ecmpNet4, LearnedHop{Gateways: []LearnedGateway{{3, ecmpGw4[1]}, {3, ecmpGw4[1]}}}); err != nil {
		t.Fatal(err)
	}
	if nh := &tab.nhs[idx(ecmpNet4)]; idx(ecmpNet4) != idx(other) || nh.kind != nhGateway || nh.port != 3 || nh.gw != ecmpGw4[1] {
		t.Errorf("group of one: next hop %d %+v, plain hop %d", idx(ecmpNet4), *nh, idx(other))
	}
	if got := spread(50); len(got) != 1 || got[3] != 50 {
		t.Errorf("group of one: flows left by %v", got)
	}
	// The groups' members are the plain hops.
	if err := tab.Learn(0, ecmpNet4, ecmpHop(ecmpGw4, 3)); err != nil {
		t.Fatal(err)
	}
	g := tab.nhs[idx(ecmpNet4)]
	if g.kind != nhECMP || g.group.n != 3 || g.group.members[1] != idx(other) {
		t.Errorf("group of three: %+v; members should share up2's plain hop %d", g, idx(other))
	}
	// More than MaxECMP: the first MaxECMP in (port, gateway) order.
	var many LearnedHop
	for i := range MaxECMP + 3 {
		many.Gateways = append(many.Gateways, LearnedGateway{Port: 4 - i%3, Gateway: netip.AddrFrom4([4]byte{198, 51, 100, byte(200 - i)})})
	}
	if err := tab.Learn(0, other, many); err != nil {
		t.Fatal(err)
	}
	g = tab.nhs[idx(other)]
	var got []string
	for _, m := range g.group.members[:g.group.n] {
		got = append(got, tab.ports[tab.nhs[m].port].name+" "+tab.nhs[m].gw.String())
	}
	want := []string{"up 198.51.100.192", "up 198.51.100.195", "up 198.51.100.198",
		"up2 198.51.100.190", "up2 198.51.100.193", "up2 198.51.100.196", "up2 198.51.100.199", "up3 198.51.100.191"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("group of %d gateways kept %v, want %v", MaxECMP+3, got, want)
	}
	// Refusals: no gateway; one bad member (a workload port, an IPv4
	// gateway of an IPv6 prefix) refuses the route. An IPv4 prefix may
	// mix IPv4 and IPv6 gateways (RFC 8950).
	for _, tc := range []struct {
		prefix string
		hop    LearnedHop
	}{
		{"198.18.200.0/24", LearnedHop{}},
		{"198.18.200.0/24", LearnedHop{Gateways: []LearnedGateway{{2, ecmpGw4[0]}, {0, ecmpGw4[1]}}}},
		{"2001:db8:200::/48", LearnedHop{Gateways: []LearnedGateway{{2, ecmpGw6[0]}, {3, ecmpGw4[1]}}}},
	} {
		if err := tab.Learn(0, netip.MustParsePrefix(tc.prefix), tc.hop); err == nil {
			t.Errorf("Learn(%s, %+v) accepted", tc.prefix, tc.hop)
		}
	}
	if err := tab.Learn(0, netip.MustParsePrefix("198.18.201.0/24"), LearnedHop{Gateways: []LearnedGateway{{2, ecmpGw4[0]}, {3, ecmpGw6[1]}}}); err != nil {
		t.Errorf("Learn(an IPv4 prefix over an IPv4 and an IPv6 gateway) = %v", err)
	}
	// Forgotten: net unreachable.
	if err := tab.Forget(0, ecmpNet4); err != nil {
		t.Fatal(err)
	}
	if p := egressOf(t, h, randomFlowTo(ecmpNet4.Addr().Next()).frame(t)); p != 0 {
		t.Errorf("after Forget: answered by port %d, want w1 (net unreachable)", p)
	}
}

func randomFlowTo(dst netip.Addr) spec {
	return spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: dst, proto: "udp", sport: 1, dport: 2}
}

// TestECMPTrace: the trace says which member it picked and why.
func TestECMPTrace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     Config
		proto uint8
		want  string
	}{
		{"all up", ecmpConfig(), pkt.ProtoUDP, "ECMP group of 3: member 1 by flow hash 0x"},
		{"first choice down", downPort(downPort(ecmpConfig(), 2), 4), pkt.ProtoUDP, "is out of port up, which is down: member 2, picked among the 1 live by the hash's low half: gateway 198.51.101.1 out of port up2"},
		{"all down", downPort(downPort(downPort(ecmpConfig(), 2), 3), 4), pkt.ProtoUDP, "every port of the ECMP group of 3 (up, up2, up3) is down: host unreachable"},
		{"icmp", ecmpConfig(), pkt.ProtoICMP, "(addresses and protocol)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ecmpHost(t, tc.c)
			tab := h.tables.Load()
			var spec TraceSpec
			for sport := uint16(1000); ; sport++ {
				spec = TraceSpec{In: 0, Src: w1v4, Dst: netip.MustParseAddr("192.0.2.9"), Proto: tc.proto, SrcPort: sport, DstPort: 53}
				f, err := tab.traceFrame(spec)
				if err != nil {
					t.Fatal(err)
				}
				// A flow whose first choice is member 1 (up).
				if _, first, _ := tab.pickMember(&tab.nhs[mustGet(t, tab, ecmpNet4)].group, flowHash(summaryOf(t, f))); first == 0 || tc.proto != pkt.ProtoUDP {
					break
				}
			}
			f, _ := tab.traceFrame(spec)
			res := tab.Trace(0, f, h.neigh.Table)
			if !strings.Contains(res.String(), tc.want) {
				t.Errorf("trace lacks %q:\n%s", tc.want, res)
			}
			t.Logf("%s", res)
			if got := workerDid(h, tc.c, 0, f); got != (outcome{res.Verdict, res.Reason, res.Egress}) {
				t.Errorf("the worker did %+v; the trace says %+v", got, res)
			}
		})
	}
}

func mustGet(t *testing.T, tab *Tables, p netip.Prefix) uint32 {
	t.Helper()
	i, ok := tab.flat.table.Get(p)
	if !ok {
		t.Fatalf("%v not routed", p)
	}
	return i
}
