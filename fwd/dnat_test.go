package fwd

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket/layers"
)

// setFloating gives c's connection table a policy that source-NATs the
// workloads (198.18.0.0/24) to 203.0.113.100 and maps floating to W2.
func setFloating(t *testing.T, c Config, floating netip.Addr) {
	t.Helper()
	if err := c.NAT.SetPolicy(&nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.100/32")}},
		Floating: []nat.FloatingIP{{Workload: w2v4, Public: floating}},
	}); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
}

// TestDNATIngressPolicy: a new inbound flow that nat delivers to a local
// endpoint — through a floating IP or an endpoint-independent mapping —
// is checked against that endpoint's ingress program before any session
// is made. W2 ("web") admits TCP to port 80 only; W1 ("client") admits
// nothing new inbound.
func TestDNATIngressPolicy(t *testing.T) {
	floating := netip.MustParseAddr("203.0.113.200")
	public := netip.MustParseAddr("203.0.113.100")
	server := netip.MustParseAddr("198.51.100.50")
	other := netip.MustParseAddr("198.51.100.60")
	type step struct {
		from, to int
		p        spec
		dnat     netip.Addr // destination after NAT when forwarded
		reason   Reason     // ReasonNone: forwarded
		sessions int        // sessions in the table afterwards
	}
	in := func(src, dst netip.Addr, proto string, sport, dport uint16) spec {
		return spec{srcMAC: macPeer, dstMAC: macUp, src: src, dst: dst, proto: proto, sport: sport, dport: dport, ttl: 50}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"floating IP to a port the endpoint denies", []step{
			{2, 1, in(server, floating, "syn", 5000, 22), netip.Addr{}, ReasonPolicyIngress, 0},
			{2, 1, in(server, floating, "syn", 5000, 22), netip.Addr{}, ReasonPolicyIngress, 0}, // the retry stays denied
		}},
		{"floating IP to a port the endpoint admits", []step{
			{2, 1, in(server, floating, "syn", 5000, 80), w2v4, ReasonNone, 1},
			{2, 1, in(server, floating, "syn", 5001, 22), netip.Addr{}, ReasonPolicyIngress, 1},
		}},
		{"inbound through a mapping to an endpoint that admits nothing new", []step{
			{0, 2, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: server, proto: "udp", sport: 40000, dport: 5353}, netip.Addr{}, ReasonNone, 1},
			{2, 0, in(server, public, "udp", 5353, 40000), w1v4, ReasonNone, 1}, // the reply: established
			{2, 0, in(other, public, "udp", 5353, 40000), netip.Addr{}, ReasonPolicyIngress, 1},
			{2, 0, in(other, public, "udp", 5353, 40000), netip.Addr{}, ReasonPolicyIngress, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := policed(t, true)
			setFloating(t, c, floating)
			h := newHost(t, c, peerNeigh)
			macs := []spec{{dstMAC: macW1}, {dstMAC: macW2}, {dstMAC: macPeer}}
			for i, s := range tc.steps {
				before := h.stats()
				h.send(s.from, s.p.frame(t))
				got := h.out(s.to)
				after := h.stats()
				if s.reason == ReasonNone {
					want := s.p.hop(gwMAC, macs[s.to].dstMAC)
					if s.to == 2 {
						want = s.p.hop(macUp, macPeer)
						want.src = public
					} else {
						want.dst = s.dnat
					}
					expectFrames(t, "destination", got, want.wire(t))
				} else {
					expectFrames(t, "destination", got)
					if after.Drops[s.reason] != before.Drops[s.reason]+1 {
						t.Errorf("step %d: drops %v, want one more %v", i, nonZero(after), s.reason)
					}
				}
				if n := c.NAT.Len(); n != s.sessions {
					t.Errorf("step %d: %d sessions, want %d", i, n, s.sessions)
				}
			}
			checkFrames(t, h)

			// Deciding where a new flow goes allocates nothing.
			last := tc.steps[len(tc.steps)-1].p.frame(t)
			from := tc.steps[len(tc.steps)-1].from
			if a := testing.AllocsPerRun(20, func() {
				h.ports[from].Inject(last)
				for h.w.Step() > 0 {
				}
				for _, p := range h.ports {
					p.Drain(nil)
				}
			}); a != 0 {
				t.Errorf("a denied DNAT flow allocates %v times per packet, want 0", a)
			}
		})
	}
}

// TestNewFlowNoRoute: a new flow to a destination with no route is
// answered Destination Unreachable before nat commits it, so it leaves no
// session, mapping or port behind; a flow whose destination nat
// translates (a floating IP) is routed after translation and still gets
// through.
func TestNewFlowNoRoute(t *testing.T) {
	floating := netip.MustParseAddr("203.0.113.200")
	c, _ := policed(t, true)
	c.Routes = nil // nothing beyond the local workloads
	setFloating(t, c, floating)
	h := newHost(t, c, peerNeigh)
	tests := []struct {
		name string
		p    spec
		code uint8
	}{
		{"ipv4 natOutgoing", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("198.51.100.50"), proto: "syn", sport: 4000, dport: 80},
			layers.ICMPv4CodeNet},
		{"ipv6", spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: netip.MustParseAddr("2001:db8:77::1"), proto: "syn", sport: 4000, dport: 80},
			layers.ICMPv6CodeNoRouteToDst},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.stats()
			h.send(0, tc.p.frame(t))
			src, typ := rtr4, uint8(layers.ICMPv4TypeDestinationUnreachable)
			if tc.p.src.Is6() {
				src, typ = rtr6, layers.ICMPv6TypeDestinationUnreachable
			}
			expectFrames(t, "w1", h.out(0), icmpErr(t, macW1, src, tc.p.src, typ, tc.code, 0, tc.p.packet(t)))
			after := h.stats()
			if after.Drops[ReasonNoRoute] != before.Drops[ReasonNoRoute]+1 || after.NATCreated != before.NATCreated {
				t.Errorf("drops %v, sessions created %d; want one more no-route and none", nonZero(after), after.NATCreated-before.NATCreated)
			}
			if n := c.NAT.Len(); n != 0 {
				t.Errorf("nat table holds %d sessions, want 0", n)
			}
		})
	}

	// The floating IP's destination is routed once nat has translated it.
	in := spec{srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("198.51.100.50"), dst: floating, proto: "syn", sport: 5000, dport: 80, ttl: 50}
	h.send(2, in.frame(t))
	want := in.hop(gwMAC, macW2)
	want.dst = w2v4
	expectFrames(t, "w2", h.out(1), want.wire(t))
	if n := c.NAT.Len(); n != 1 {
		t.Errorf("nat table holds %d sessions after the floating-IP flow, want 1", n)
	}
	checkFrames(t, h)
	checkConservation(t, h.stats())
}
