package fwd

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
	"golang.org/x/sys/unix"
)

// The translated spaces of the 4<->6 differential test: space 7 under the default
// prefix (64:ff9b:1:7::/96) with an EAM for one remote IPv4 network, space 8 under a
// prefix of its own.
var (
	xlatPrefix8 = netip.MustParsePrefix("2001:db8:8::/96")
	eamRemote4  = netip.MustParseAddr("100.64.9.5") // in space 7, by the EAM 100.64.9.0/24 -> 2001:db8:99::/120
	eamRemote6  = netip.MustParseAddr("2001:db8:99::5")
)

// xlatFastConfig is a host with tenant A's workload (space 7) on port 0, tenant B's
// (space 8) on port 1, both at addrHere, and an IPv6 uplink on port 2 (MTU 1500) whose
// neighbour is llB at macUpB; conntrack on (its clock returned), policy open.
func xlatFastConfig(t *testing.T) (Config, *nat.ManualClock) {
	t.Helper()
	tr, err := xlat.New(xlat.Config{
		AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): xlatPrefix8.String()},
		EAM:           []xlat.EAMEntry{{IPv4: "100.64.9.0/24", IPv6: "2001:db8:99::/120", Space: int(tenantA)}},
	})
	if err != nil {
		t.Fatalf("xlat.New: %v", err)
	}
	clock := &nat.ManualClock{}
	ct, err := nat.New(nat.Config{Capacity: 256, Clock: clock, Seed: 5})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	cp, err := acl.CompilePolicy(&acl.PolicySet{
		Profiles: []acl.Profile{{Name: "open", Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: withProfile([]acl.Endpoint{
			{Name: "a", Labels: map[string]string{"role": "client"}, Addrs: []netip.Addr{addrHere}},
			{Name: "b", Labels: map[string]string{"role": "client"}, Addrs: []netip.Addr{addrHere}},
		}, "open"),
	})
	if err != nil {
		t.Fatalf("CompilePolicy: %v", err)
	}
	c := Config{
		Ports: []PortConfig{
			{Name: "tenant-a", Ifindex: 21, Role: RoleWorkload, MTU: 1500},
			{Name: "tenant-b", Ifindex: 22, Role: RoleWorkload, MTU: 1500},
			{Name: "fabric", Ifindex: 23, Role: RoleUplink, MAC: mac6(macUpA), MTU: 1500},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a", Port: 0, MAC: mac6(macTA), Addrs: []netip.Addr{addrHere}, Space: tenantA},
			{Name: "b", Port: 1, MAC: mac6(macTB), Addrs: []netip.Addr{addrHere}, Space: tenantB},
		},
		Routes: []RouteConfig{
			{Prefix: netip.MustParsePrefix("64:ff9b:1::/48"), Port: 2, Gateway: llB},
			{Prefix: netip.MustParsePrefix("2001:db8::/32"), Port: 2, Gateway: llB},
		},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		NAT:         ct,
		Xlat:        tr,
	}
	for i := range c.Endpoints {
		ep := cp.Endpoint(c.Endpoints[i].Name)
		c.Endpoints[i].Ingress, c.Endpoints[i].Egress = ep.Ingress, ep.Egress
	}
	return c, clock
}

// in8 is a's RFC 6052 form under space 8's prefix.
func in8(a netip.Addr) netip.Addr {
	b := xlatPrefix8.Addr().As16()
	v4 := a.As4()
	copy(b[12:], v4[:])
	return netip.AddrFrom16(b)
}

// TestFastPathDifferentialXlat runs random established traffic out of translated
// spaces across the IPv6 core — TCP and UDP, two spaces with different RFC 6052
// prefixes, a destination mapped by an EAM, random TTL, TOS, DF, lengths and trailing
// bytes — through the pipeline and through the XDP program with the decision the
// pipeline offered, and requires the same frame out of both (the kernel swaps the IPv4
// header for the IPv6 one To6 writes). What To6 treats specially reaches the pipeline
// with a miss: a zero UDP checksum (To6 computes the whole checksum; fast-other), and
// a packet To6 fragments (no DF, longer than the lowest IPv6 MTU) or answers (DF,
// longer than the core link; fast-mtu). The answers, 6->4 from the core into the
// spaces, are offloaded too (xlat64Differential): the same frame but for the IPv4
// Identification, which the kernel draws from its own generator. The Offload's sweep
// finds the flows' sessions in their spaces (nothing evicted while they live; the
// answers' entries are keyed by the IPv6 packet, their sessions by its IPv4 form) and
// removes the UDP flows once their sessions expire.
func TestFastPathDifferentialXlat(t *testing.T) {
	c, clock := xlatFastConfig(t)
	r := newFastRig(t, c, []neigh.Entry{{Ifindex: 23, Addr: llB, MAC: mac6(macUpB)}})

	type pair struct {
		name   string
		port   int              // the workload's
		wmac   net.HardwareAddr // the workload's
		remote netip.Addr       // IPv4 in the space
		src6   netip.Addr       // the workload's address on the core
		dst6   netip.Addr       // the remote's
		proto  string
		sport  uint16
		dport  uint16
	}
	pairs := []pair{
		{"space 7 udp", 0, macTA, addrThere, core6(tenantA, addrHere), core6(tenantA, addrThere), "udp", 4000, 53},
		{"space 7 tcp", 0, macTA, addrThere, core6(tenantA, addrHere), core6(tenantA, addrThere), "syn", 4001, 80},
		{"space 7 eam udp", 0, macTA, eamRemote4, core6(tenantA, addrHere), eamRemote6, "udp", 4002, 5353},
		{"space 7 eam tcp", 0, macTA, eamRemote4, core6(tenantA, addrHere), eamRemote6, "syn", 4003, 443},
		{"space 8 udp", 1, macTB, addrThere, in8(addrHere), in8(addrThere), "udp", 4000, 53},
		{"space 8 tcp", 1, macTB, addrThere, in8(addrHere), in8(addrThere), "syn", 4001, 80},
	}
	var flows []fastFlow
	var answers []fastFlow
	for _, p := range pairs {
		h := r.host
		a := spec{srcMAC: p.wmac, dstMAC: gwMAC, src: addrHere, dst: p.remote, proto: p.proto, sport: p.sport, dport: p.dport, payload: []byte("x")}
		h.send(p.port, a.frame(t))
		got := h.out(2)
		if len(got) != 1 {
			t.Fatalf("%s: opening: %d frames out of the uplink, want 1 (drops %v)", p.name, len(got), nonZero(h.stats()))
		}
		if s, d := netip.AddrFrom16([16]byte(got[0][22:38])), netip.AddrFrom16([16]byte(got[0][38:54])); s != p.src6 || d != p.dst6 {
			t.Fatalf("%s: opening left as %v -> %v, want %v -> %v", p.name, s, d, p.src6, p.dst6)
		}
		b := spec{srcMAC: macUpB, dstMAC: macUpA, src: p.dst6, dst: p.src6, proto: p.proto, sport: p.dport, dport: p.sport, payload: []byte("y")}
		if b.proto == "syn" {
			b.proto = "synack"
		}
		h.send(2, b.frame(t))
		if got := h.out(p.port); len(got) != 1 {
			t.Fatalf("%s: answer: %d frames out of port %d, want 1 (drops %v)", p.name, len(got), p.port, nonZero(h.stats()))
		}
		if a.proto == "syn" {
			a.proto, b.proto = "ack", "ack"
		}
		flows = append(flows, fastFlow{name: p.name, in: p.port, out: 2, pkt: a})
		answers = append(answers, fastFlow{name: p.name + " answer", in: 2, out: p.port, pkt: b})
	}

	// One established packet of each flow: the pipeline offers it.
	r.offer(t, flows)

	xlatDifferential(t, r, flows, 1500, 46)
	// One established answer of each flow: the pipeline offers its 6->4.
	r.offer(t, answers)
	xlat64Differential(t, r, answers, 1500, 64)
	// conntrack follows the translated flows the kernel forwards: a sweep refreshes
	// their sessions in their space; once quiet past the UDP timeout, the UDP
	// sessions end and their entries go, both directions.
	r.off.Sweep()
	all := len(flows) + len(answers)
	if st := r.off.Stats(); st.EvictEnded != 0 || st.Installed != all {
		t.Fatalf("sweep after the traffic: %+v; want all %d flows kept", st, all)
	}
	clock.Advance(6 * time.Minute)
	r.off.Sweep()
	if st := r.off.Stats(); st.EvictEnded != 6 || st.Installed != all-6 {
		t.Fatalf("sweep after 6 quiet minutes: %+v; want the 3 UDP flows evicted as ended, both ways", st)
	}
}

// xlat64Differential sends random packets of the established flows from the IPv6 core
// into translated spaces (spaceMTU: the IPv4 limit To4 and the egress port set them)
// through the pipeline and
// the XDP program of the rig: random hop limit, traffic class and flow label, lengths
// around To4's DF rule (DF above 1260 bytes of IPv4) and that limit, zero
// UDP checksums and trailing bytes. It requires the kernel's frame to be the
// pipeline's but for the IPv4 Identification (each from its own generator, RFC 7915
// 5.1) and so the header checksum, which must verify; or, for a packet To4 fragments
// or answers (longer than the link allows) and a zero UDP checksum, the frame unchanged
// to the pipeline with the miss counted. Then consecutive packets of one flow on one
// CPU get consecutive, so distinct, Identifications.
func xlat64Differential(t *testing.T, r *fastRig, flows []fastFlow, spaceMTU int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	n := xlatPackets()
	var hits, mtuMiss, zeroMiss, df int
	for i := range n {
		f := flows[rng.IntN(len(flows))]
		hdr := 20 + 20 // IPv4 and TCP headers
		if f.pkt.proto == "udp" {
			hdr = 20 + 8
		}
		p := randomized(rng, f.pkt, func() int {
			switch rng.IntN(6) {
			case 0, 1:
				return 1200 + rng.IntN(spaceMTU-1200+60) // around the DF rule and the limit
			case 2:
				// At the edges: the longest IPv4 packet without DF and the
				// shortest with it, the longest the limit allows and one more.
				return []int{1260, 1261, spaceMTU, spaceMTU + 1}[rng.IntN(4)] - hdr
			}
			return rng.IntN(300)
		})
		in := p.frame(t)
		tc := byte(rng.Uint32()) // To4 copies it into the TOS; the flow label goes
		in[14] = 0x60 | tc>>4
		in[15] = tc<<4 | byte(rng.IntN(16))
		in[16], in[17] = byte(rng.Uint32()), byte(rng.Uint32())
		l3len := 40 + int(binary.BigEndian.Uint16(in[18:]))
		zero := p.proto == "udp" && rng.IntN(5) == 0
		if zero {
			binary.BigEndian.PutUint16(in[14+40+6:], 0) // no UDP checksum: invalid in IPv6
		}
		if rng.IntN(5) == 0 {
			in = append(in, make([]byte, 1+rng.IntN(20))...) // trailing bytes
		}
		want, act, got, before, after := r.both(t, f, in)
		switch {
		case zero:
			if act == bpf.ActionRedirect || after.FastOther != before.FastOther+1 || string(got) != string(in) {
				t.Fatalf("packet %d (%s, zero UDP checksum): XDP action %d, fast-other %d -> %d; want the frame unchanged to the pipeline", i, f.name, act, before.FastOther, after.FastOther)
			}
			zeroMiss++
		case l3len-20 > spaceMTU:
			// To4 answers it (DF: longer than 1260) with Packet Too Big.
			if act == bpf.ActionRedirect || after.FastMTU != before.FastMTU+1 || string(got) != string(in) {
				t.Fatalf("packet %d (%s, %d bytes): XDP action %d, fast-mtu %d -> %d; want the frame unchanged to the pipeline", i, f.name, l3len, act, before.FastMTU, after.FastMTU)
			}
			if len(want) != 0 {
				t.Fatalf("packet %d (%s, %d bytes): pipeline sent %d frames into the space, want none", i, f.name, l3len, len(want))
			}
			mtuMiss++
		default:
			r.requireBothForward(t, i, f, want, act, after)
			if !sameBut64(got, want[0]) {
				t.Fatalf("packet %d (%s): in\n%x\nXDP\n%x\npipeline\n%x", i, f.name, in, got, want[0])
			}
			if want[0][20]&0x40 != 0 {
				df++
			}
			hits++
		}
	}
	if hits == 0 || df == 0 || df == hits || mtuMiss == 0 || zeroMiss == 0 {
		t.Errorf("%d hits (%d with DF), %d MTU misses, %d zero-checksum misses: want some of each", hits, df, mtuMiss, zeroMiss)
	}
	t.Logf("%d packets: %d frames identical but for the Identification (%d with DF), %d MTU misses, %d zero-checksum misses", n, hits, df, mtuMiss, zeroMiss)

	// The kernel's generator: a counter per CPU. On one CPU, one flow's packets take
	// consecutive Identifications.
	f := flows[0]
	p := f.pkt
	p.payload = []byte("id")
	in := p.frame(t)
	var ids []uint16
	if err := r.ns.Do(func() error {
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return err
		}
		var one unix.CPUSet
		one.Set(0)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			return err
		}
		defer unix.SchedSetaffinity(0, &old)
		for range 4 {
			act, out, err := r.progs[f.in].RunFrame(r.ifindex[f.in], in)
			if err != nil {
				return err
			}
			if act != bpf.ActionRedirect {
				return fmt.Errorf("XDP action %d, want redirect", act)
			}
			ids = append(ids, binary.BigEndian.Uint16(out[18:]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("%s: Identifications of consecutive packets on one CPU %v, want each one more than the last", f.name, ids)
		}
	}
}

// sameBut64 reports whether the IPv4 frames got (the kernel's 6->4) and want (the
// pipeline's) are the same but for the IPv4 Identification and header checksum, and
// got's header checksum verifies.
func sameBut64(got, want []byte) bool {
	if len(got) != len(want) || len(got) < 34 {
		return false
	}
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(got[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff && string(got[:18]) == string(want[:18]) && string(got[20:24]) == string(want[20:24]) &&
		string(got[26:]) == string(want[26:])
}

// TestFastPathDifferentialXlatBorder: at a border, the Internet host's answers to a
// tenant's connection (space 7 across the core, source-NATed to a public address) are
// un-NATed into the space and translated 4->6 back into the core: the kernel repeats
// both in one header swap (one checksum delta for NAT and the translation), byte for
// byte, for TCP and UDP; the core link's MTU (1400) is below the Internet side's. The
// other way, the tenant's packets to the Internet are translated 6->4 into the space and
// source-NATed in one header swap too (one delta for the translation and NAT), the
// same frame but for the IPv4 Identification.
func TestFastPathDifferentialXlatBorder(t *testing.T) {
	_, ack, c := natBorder(t, 0)
	inetHost, public := ack.src, ack.dst
	r := newFastRig(t, c, []neigh.Entry{{Ifindex: 3, Addr: inetHost, MAC: mac6(mac(0x02, 0x99))}, {Ifindex: 2, Addr: llA, MAC: mac6(macUpA)}})
	ack.df, ack.payload = false, []byte("x")
	// A UDP flow the same way: out to the Internet, its answer back.
	q := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantA, addrHere), dst: core6(tenantA, inetHost), proto: "udp", sport: 4001, dport: 53, payload: []byte("q")}
	r.host.send(1, q.frame(t))
	out := r.host.out(0)
	if len(out) != 1 {
		t.Fatalf("the UDP query did not leave for the Internet (drops %v)", nonZero(r.host.stats()))
	}
	var s pkt.Summary
	pkt.Parse(out[0], &s)
	if s.SrcAddr() != public {
		t.Fatalf("the query left from %v, want %v", s.SrcAddr(), public)
	}
	a := spec{srcMAC: ack.srcMAC, dstMAC: ack.dstMAC, src: inetHost, dst: public, proto: "udp", sport: 53, dport: s.SrcPort, payload: []byte("a")}
	flows := []fastFlow{{name: "tcp answer", in: 0, out: 1, pkt: ack}, {name: "udp answer", in: 0, out: 1, pkt: a}}
	r.offer(t, flows)
	if st := r.off.Stats(); st.Installed != len(flows) {
		t.Fatalf("%d flows installed, want %d (%+v)", st.Installed, len(flows), st)
	}
	xlatDifferential(t, r, flows, 1400, 47)

	tcpOut := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantA, addrHere), dst: core6(tenantA, inetHost), proto: "ack", sport: 4000, dport: 80, payload: []byte("o")}
	out64 := []fastFlow{{name: "tcp to the Internet", in: 1, out: 0, pkt: tcpOut}, {name: "udp to the Internet", in: 1, out: 0, pkt: q}}
	r.offer(t, out64)
	if st := r.off.Stats(); st.Installed != len(flows)+len(out64) {
		t.Fatalf("%d flows installed, want %d (%+v)", st.Installed, len(flows)+len(out64), st)
	}
	xlat64Differential(t, r, out64, 1400, 48) // To4 takes the lowest uplink MTU for a route into a space
	// The sweep finds every flow's session: the tenant's, in the space before its
	// source NAT, by the tuple kept with the entry.
	r.off.Sweep()
	if st := r.off.Stats(); st.EvictEnded != 0 || st.EvictStale != 0 || st.Installed != len(flows)+len(out64) {
		t.Fatalf("sweep after the traffic: %+v; want all %d flows kept", st, len(flows)+len(out64))
	}
}

// offer sends a packet of each of the established flows through the pipeline, which
// must send one frame out of the flow's port and offers the flow, and drains the offers
// into the kernel.
func (r *fastRig) offer(t *testing.T, flows []fastFlow) {
	t.Helper()
	for _, f := range flows {
		r.host.send(f.in, f.pkt.frame(t))
		if got := r.host.out(f.out); len(got) != 1 {
			t.Fatalf("%s: %d frames out of port %d, want 1 (drops %v)", f.name, len(got), f.out, nonZero(r.host.stats()))
		}
	}
	r.sync(t)
}

// both sends frame in of flow f through the pipeline (want: its frames out of f.out;
// what it sends back out of f.in, an ICMP error for a packet too big, is dropped) and,
// with the offers in the kernel, through the XDP program of f.in, whose counters it
// returns from before and after.
func (r *fastRig) both(t *testing.T, f fastFlow, in []byte) (want [][]byte, act int, got []byte, before, after bpf.Stats) {
	t.Helper()
	r.host.send(f.in, append([]byte(nil), in...))
	want = r.host.out(f.out)
	r.host.out(f.in)
	r.sync(t)
	before, _ = r.progs[f.in].Stats()
	act, got = r.xdp(t, f.in, in)
	after, _ = r.progs[f.in].Stats()
	return want, act, got, before, after
}

// requireBothForward requires packet i of flow f forwarded by both: one frame out of the
// pipeline, a redirect by the XDP program (after: its counters then).
func (r *fastRig) requireBothForward(t *testing.T, i int, f fastFlow, want [][]byte, act int, after bpf.Stats) {
	t.Helper()
	if len(want) != 1 {
		t.Fatalf("packet %d (%s): pipeline sent %d frames out of port %d (drops %v)", i, f.name, len(want), f.out, nonZero(r.host.stats()))
	}
	if act != bpf.ActionRedirect {
		t.Fatalf("packet %d (%s): XDP action %d, want redirect (program counters %+v, offload %+v)", i, f.name, act, after, r.off.Stats())
	}
}

// xlatDifferential sends random packets of the established flows (out of translated
// spaces into the core, whose link has coreMTU) through the pipeline and the XDP
// program of the rig and requires the same frame out of both, or, for a packet To6
// treats specially, the frame unchanged to the pipeline with the miss counted.
func xlatDifferential(t *testing.T, r *fastRig, flows []fastFlow, coreMTU int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	n := xlatPackets()
	var hits, mtuMiss, zeroMiss int
	for i := range n {
		f := flows[rng.IntN(len(flows))]
		p := randomized(rng, f.pkt, func() int {
			if rng.IntN(4) == 0 {
				return 1200 + rng.IntN(coreMTU-1200) // around the lowest IPv6 MTU (1280) and the core's
			}
			return rng.IntN(300)
		})
		in := p.frame(t)
		in[15] = byte(rng.Uint32()) // TOS: To6 copies it into the traffic class
		zero := p.proto == "udp" && rng.IntN(5) == 0
		if zero {
			binary.BigEndian.PutUint16(in[14+20+6:], 0) // no UDP checksum
		}
		ip := in[14:34]
		binary.BigEndian.PutUint16(ip[10:], pkt.IPv4(ip).ComputeChecksum())
		if rng.IntN(5) == 0 {
			in = append(in, make([]byte, 1+rng.IntN(20))...) // trailing bytes
		}
		want, act, got, before, after := r.both(t, f, in)
		l3len := int(binary.BigEndian.Uint16(in[16:]))
		switch {
		case zero:
			// To6 computes the checksum over the datagram: the pipeline's.
			if act == bpf.ActionRedirect || after.FastOther != before.FastOther+1 || string(got) != string(in) {
				t.Fatalf("packet %d (%s, zero UDP checksum): XDP action %d, fast-other %d -> %d; want the frame unchanged to the pipeline", i, f.name, act, before.FastOther, after.FastOther)
			}
			if len(want) == 0 && !(p.df && l3len+20 > coreMTU) {
				t.Fatalf("packet %d (%s, zero UDP checksum): pipeline sent nothing (drops %v)", i, f.name, nonZero(r.host.stats()))
			}
			zeroMiss++
		case l3len+20 > coreMTU || !p.df && l3len+20 > 1280:
			// The pipeline answers (DF) or fragments (no DF) it.
			if act == bpf.ActionRedirect || after.FastMTU != before.FastMTU+1 || string(got) != string(in) {
				t.Fatalf("packet %d (%s, %d bytes, DF %v): XDP action %d, fast-mtu %d -> %d; want the frame unchanged to the pipeline", i, f.name, l3len, p.df, act, before.FastMTU, after.FastMTU)
			}
			if !p.df && len(want) != 2 {
				t.Fatalf("packet %d (%s, %d bytes, no DF): pipeline sent %d frames, want 2 fragments (drops %v)", i, f.name, l3len, len(want), nonZero(r.host.stats()))
			}
			mtuMiss++
		default:
			r.requireBothForward(t, i, f, want, act, after)
			if string(got) != string(want[0]) {
				t.Fatalf("packet %d (%s): in\n%x\nXDP\n%x\npipeline\n%x", i, f.name, in, got, want[0])
			}
			hits++
		}
	}
	if hits == 0 || mtuMiss == 0 || zeroMiss == 0 {
		t.Errorf("%d hits, %d MTU misses, %d zero-checksum misses: want some of each", hits, mtuMiss, zeroMiss)
	}
	t.Logf("%d packets: %d identical frames, %d MTU misses, %d zero-checksum misses", n, hits, mtuMiss, zeroMiss)
}

// TestFastOfferXlatZeroAlloc: rounds in which every established flow out of a
// translated space is translated 4->6 and offered to the fast path again (a new
// generation each round) allocate nothing on the worker; nor do rounds of their
// answers, translated 6->4 from the core into the space and offered.
func TestFastOfferXlatZeroAlloc(t *testing.T) {
	off := allocOffload(t)
	c, _ := xlatFastConfig(t)
	h := newHostWith(t, c, []neigh.Entry{{Ifindex: 23, Addr: llB, MAC: mac6(macUpB)}},
		func(wc *WorkerConfig) { wc.Offload = off })
	var frames, answers [][]byte
	for i := range 16 {
		p := spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "udp", sport: uint16(4000 + i), dport: 53, payload: make([]byte, 100)}
		if i%2 == 1 {
			p.dst = eamRemote4
		}
		h.send(0, p.frame(t))
		h.out(2)
		a := spec{srcMAC: macUpB, dstMAC: macUpA, src: core6(tenantA, addrThere), dst: core6(tenantA, addrHere), proto: "udp", sport: 53, dport: p.sport}
		if i%2 == 1 {
			a.src = eamRemote6
		}
		h.send(2, a.frame(t))
		if got := h.out(0); len(got) != 1 {
			t.Fatalf("answer %d: %d frames, want 1 (drops %v)", i, len(got), nonZero(h.stats()))
		}
		frames = append(frames, p.frame(t))
		answers = append(answers, a.frame(t))
	}
	for _, q := range off.queues {
		q.pop(func(*fastInstall) {}) // the opening packets' offers
	}
	offerRoundsAllocNothing(t, h, off, 0, frames, func(in *fastInstall) {
		if !in.flow.Xlat46 {
			t.Errorf("offer %+v: not a 4->6 decision", in.key)
		}
	})
	offerRoundsAllocNothing(t, h, off, 2, answers, func(in *fastInstall) {
		if !in.flow.Xlat64 || in.key.Family != bpf.FamilyIPv6 || in.ct.Family != bpf.FamilyIPv4 {
			t.Errorf("offer %+v (conntrack's %+v): not a 6->4 decision", in.key, in.ct)
		}
	})
}

// xlatPackets is how many random packets a translated differential test sends.
func xlatPackets() int {
	if testing.Short() {
		return 120
	}
	return 600
}
