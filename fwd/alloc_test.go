package fwd

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/acl"
)

// TestPipelineZeroAlloc runs full batches — established conntrack with
// policy programs, SNAT-free forwarding to workloads and the uplink
// (fragmented for its MTU), ARP
// answers, ICMP errors, drops, and both translations — and counts
// allocations per round of Inject, Step and Drain.
func TestPipelineZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c, _ := policed(t, true)
	h := newHost(t, c, peerNeigh)
	frames, ports := trafficMix(t)
	// An established TCP flow: the first SYN creates the session.
	syn := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "syn", sport: 4000, dport: 80}
	h.send(0, syn.frame(t))
	h.out(1)
	for range 8 {
		frames = append(frames, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "ack", sport: 4000, dport: 80, payload: make([]byte, 200)}.frame(t))
		ports = append(ports, 0)
	}

	// The translated paths: a tenant echo out to the core (4->6) and its
	// reply from the core (6->4, established).
	ta := tenantHost(t, addrHere, macUpA, llB, macUpB, &acl.PolicySet{
		Profiles:  []acl.Profile{{Name: "open", Ingress: []acl.PolicyRule{{Action: acl.Allow}}, Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: withProfile([]acl.Endpoint{{Name: "a", Addrs: []netip.Addr{addrHere}}, {Name: "b", Addrs: []netip.Addr{addrHere}}}, "open"),
	})
	echo := spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "echo", id: 5, seq: 1}
	reply := spec{srcMAC: macUpB, dstMAC: macUpA, src: core6(tenantA, addrThere), dst: core6(tenantA, addrHere), ttl: 63, proto: "echo-reply", id: 5, seq: 1}
	ta.send(0, echo.frame(t))
	ta.out(2)
	tframes := [][]byte{echo.frame(t), reply.frame(t)}
	tports := []int{0, 2}

	round := func(h *host, frames [][]byte, ports []int) {
		for i, f := range frames {
			h.ports[ports[i]].Inject(f)
		}
		for h.w.Step() > 0 {
		}
		for _, p := range h.ports {
			p.Drain(nil)
		}
		h.w.Step()
	}
	round(h, frames, ports)
	round(ta, tframes, tports)
	if a := testing.AllocsPerRun(50, func() { round(h, frames, ports) }); a != 0 {
		t.Errorf("a round of %d frames allocates %v times, want 0", len(frames), a)
	}
	if a := testing.AllocsPerRun(50, func() { round(ta, tframes, tports) }); a != 0 {
		t.Errorf("a translated round allocates %v times, want 0", a)
	}
	st, tst := h.stats(), ta.stats()
	if st.Forwarded == 0 || st.Fragmented == 0 || tst.Forwarded != 1+2*52 || tst.Dropped() != 0 {
		t.Errorf("forwarded %d and %d; drops %v and %v: the test did not take the paths it means to", st.Forwarded, tst.Forwarded, nonZero(st), nonZero(tst))
	}
}

// TestHeldFragmentsZeroAlloc: a round in which later fragments of an
// SNATed datagram overtake their first, are held, and leave translated
// once it comes (a new datagram, so a new IPv4 ID, every round) allocates
// nothing.
func TestHeldFragmentsZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h, _ := snatHost(t, 0)
	const rounds = 64
	sets := make([][][]byte, rounds)
	for i := range sets {
		sets[i], _ = outFragments(t, uint16(0x5000+i), 0)
	}
	n := 0
	round := func() {
		in := sets[n%rounds]
		n++
		h.ports[0].Inject(in[2])
		h.ports[0].Inject(in[1])
		h.ports[0].Inject(in[0])
		for h.w.Step() > 0 {
		}
		h.ports[2].Drain(nil)
		h.w.Step()
	}
	round()
	if a := testing.AllocsPerRun(rounds-2, round); a != 0 {
		t.Errorf("a round with held and released fragments allocates %v times, want 0", a)
	}
	if st := h.stats(); st.Held != 2*uint64(n) || st.Released != st.Held || st.Forwarded != 3*uint64(n) || st.Dropped() != 0 {
		t.Errorf("held %d, released %d, forwarded %d, drops %v after %d rounds: the test did not take the path it means to",
			st.Held, st.Released, st.Forwarded, nonZero(st), n)
	}
}

// TestECMPZeroAlloc: rounds of IPv4 and IPv6 flows through a learned
// three-way ECMP group (flow hash, member pick, neighbour) allocate
// nothing.
func TestECMPZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	h := ecmpHost(t, ecmpConfig())
	rng := rand.New(rand.NewPCG(21, 22))
	var frames [][]byte
	for range 48 {
		frames = append(frames, randomFlow(rng).frame(t))
	}
	round := func() { h.round(0, frames...) }
	round()
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Errorf("a round of %d frames through an ECMP group allocates %v times, want 0", len(frames), a)
	}
	if st := h.stats(); st.Forwarded != 52*uint64(len(frames)) || st.Dropped() != 0 {
		t.Errorf("forwarded %d, drops %v: the test did not take the path it means to", st.Forwarded, nonZero(st))
	}
}
