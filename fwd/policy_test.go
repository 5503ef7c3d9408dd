package fwd

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/nat"
)

// policed returns twoWorkloads with policy: w2 ("web") admits TCP to port
// 80 only; w1 ("client") admits nothing new inbound and may not send UDP
// to port 53; an "open" profile allows the rest.
func policed(t *testing.T, stateful bool) (Config, *nat.ManualClock) {
	t.Helper()
	return policedWith(t, policedSet(), stateful)
}

// policedSet is policed's policy set.
func policedSet() *acl.PolicySet {
	return &acl.PolicySet{
		Policies: []acl.Policy{
			{Name: "web", Selector: "app == 'web'", Ingress: []acl.PolicyRule{{Action: acl.Allow, Protocol: "TCP", Destination: acl.EntityMatch{Ports: []string{"80"}}}}},
			{Name: "client-in", Selector: "app == 'client'", Types: []acl.PolicyType{acl.Ingress}},
			{Name: "client-out", Selector: "app == 'client'", Egress: []acl.PolicyRule{
				{Action: acl.Deny, Protocol: "UDP", Destination: acl.EntityMatch{Ports: []string{"53"}}},
				{Action: acl.Allow}}},
		},
		Profiles: []acl.Profile{{Name: "open", Ingress: []acl.PolicyRule{{Action: acl.Allow}}, Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: []acl.Endpoint{
			{Name: "w1", Labels: map[string]string{"app": "client"}, Addrs: []netip.Addr{w1v4, w1v6}, Profiles: []string{"open"}},
			{Name: "w2", Labels: map[string]string{"app": "web"}, Addrs: []netip.Addr{w2v4, w2v6}, Profiles: []string{"open"}},
		},
	}
}

// policedWith is twoWorkloads with set's programs for w1 and w2.
func policedWith(t testing.TB, set *acl.PolicySet, stateful bool) (Config, *nat.ManualClock) {
	t.Helper()
	cp, err := acl.CompilePolicy(set)
	if err != nil {
		t.Fatalf("CompilePolicy: %v", err)
	}
	c := twoWorkloads()
	for i := range c.Endpoints {
		ep := cp.Endpoint(c.Endpoints[i].Name)
		c.Endpoints[i].Ingress, c.Endpoints[i].Egress = ep.Ingress, ep.Egress
	}
	clock := &nat.ManualClock{}
	if stateful {
		tab, err := nat.New(nat.Config{Capacity: 1024, Clock: clock, Seed: 1})
		if err != nil {
			t.Fatalf("nat.New: %v", err)
		}
		c.NAT = tab
	}
	return c, clock
}

func TestPolicy(t *testing.T) {
	syn := func(src, dst netip.Addr, sport, dport uint16) spec {
		return spec{src: src, dst: dst, proto: "syn", sport: sport, dport: dport}
	}
	synack := func(src, dst netip.Addr, sport, dport uint16) spec {
		return spec{src: src, dst: dst, proto: "synack", sport: sport, dport: dport}
	}
	type step struct {
		from, to int
		p        spec
		reason   Reason // ReasonNone: forwarded
	}
	tests := []struct {
		name     string
		stateful bool
		steps    []step
	}{
		{"allowed connection and its return traffic", true, []step{
			{0, 1, syn(w1v4, w2v4, 4000, 80), ReasonNone},
			{1, 0, synack(w2v4, w1v4, 80, 4000), ReasonNone},
			{0, 1, spec{src: w1v4, dst: w2v4, proto: "ack", sport: 4000, dport: 80}, ReasonNone},
		}},
		{"ipv6 allowed connection and its return traffic", true, []step{
			{0, 1, syn(w1v6, w2v6, 4000, 80), ReasonNone},
			{1, 0, synack(w2v6, w1v6, 80, 4000), ReasonNone},
		}},
		{"ingress denies another port", true, []step{
			{0, 1, syn(w1v4, w2v4, 4000, 22), ReasonPolicyIngress},
		}},
		{"ingress denies a new connection to the client", true, []step{
			{1, 0, syn(w2v4, w1v4, 80, 4000), ReasonPolicyIngress},
		}},
		{"egress denies", true, []step{
			{0, 1, spec{src: w1v4, dst: w2v4, proto: "udp", sport: 5000, dport: 53}, ReasonPolicyEgress},
		}},
		{"reply to a denied flow is not established", true, []step{
			{0, 1, syn(w1v4, w2v4, 4000, 22), ReasonPolicyIngress},
			{1, 0, synack(w2v4, w1v4, 22, 4000), ReasonPolicyIngress},
		}},
		{"stateless: return traffic needs its own rule", false, []step{
			{0, 1, syn(w1v4, w2v4, 4000, 80), ReasonNone},
			{1, 0, synack(w2v4, w1v4, 80, 4000), ReasonPolicyIngress},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := policed(t, tc.stateful)
			h := newHost(t, c, peerNeigh)
			macs := []spec{{srcMAC: macW1, dstMAC: macW2}, {srcMAC: macW2, dstMAC: macW1}}
			var portDenials [3]PortStats
			for i, s := range tc.steps {
				p := s.p
				p.srcMAC, p.dstMAC = macs[s.from].srcMAC, gwMAC
				before := h.stats()
				h.send(s.from, p.frame(t))
				got := h.out(s.to)
				after := h.stats()
				if s.reason == ReasonNone {
					expectFrames(t, "destination", got, p.hop(gwMAC, macs[s.from].dstMAC).wire(t))
					continue
				}
				expectFrames(t, "destination", got)
				if after.Drops[s.reason] != before.Drops[s.reason]+1 {
					t.Errorf("step %d: drops %v, want one more %v", i, nonZero(after), s.reason)
				}
				// The denial is counted against the endpoint whose
				// program said no: the sender's port for egress, the
				// receiver's for ingress.
				want := [3]PortStats{}
				for port := range want {
					want[port] = portDenials[port]
				}
				if s.reason == ReasonPolicyEgress {
					want[s.from].DeniedEgress++
				} else {
					want[s.to].DeniedIngress++
				}
				for port := range want {
					ps := h.w.PortStats(port)
					got := PortStats{DeniedEgress: ps.DeniedEgress, DeniedIngress: ps.DeniedIngress}
					if got != want[port] {
						t.Errorf("step %d: port %d denials %+v, want %+v", i, port, got, want[port])
					}
					portDenials[port] = got
				}
			}
		})
	}
}

func TestSNATOnUplink(t *testing.T) {
	c := twoWorkloads()
	clock := &nat.ManualClock{}
	tab, err := nat.New(nat.Config{Capacity: 1024, Clock: clock, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.SetPolicy(&nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.100/32")}},
	}); err != nil {
		t.Fatal(err)
	}
	c.NAT = tab
	h := newHost(t, c, peerNeigh)
	public := netip.MustParseAddr("203.0.113.100")
	server := netip.MustParseAddr("198.51.100.50")

	out := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: server, proto: "udp", sport: 40000, dport: 53, payload: []byte("q")}
	h.send(0, out.frame(t))
	natted := out.hop(macUp, macPeer)
	natted.src = public
	expectFrames(t, "uplink", h.out(2), natted.wire(t))

	back := spec{srcMAC: macPeer, dstMAC: macUp, src: server, dst: public, proto: "udp", sport: 53, dport: 40000, payload: []byte("a"), ttl: 50}
	h.send(2, back.frame(t))
	unnatted := back.hop(gwMAC, macW1)
	unnatted.dst = w1v4
	expectFrames(t, "w1", h.out(0), unnatted.wire(t))

	// Between workloads in the pool nothing is translated.
	local := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}
	h.send(0, local.frame(t))
	expectFrames(t, "w2", h.out(1), local.hop(gwMAC, macW2).wire(t))

	// Unsolicited inbound to the public address is dropped by nat.
	h.send(2, spec{srcMAC: macPeer, dstMAC: macUp, src: server, dst: public, proto: "udp", sport: 53, dport: 40001}.frame(t))
	expectFrames(t, "w1", h.out(0))
	st := h.stats()
	if st.NATCreated != 2 || st.Drops[ReasonConntrack] != 1 || st.NAT[nat.ReasonNoMapping] != 1 {
		t.Errorf("NATCreated %d, drops %v, nat no-mapping %d; want 2, one conntrack drop, 1", st.NATCreated, nonZero(st), st.NAT[nat.ReasonNoMapping])
	}
}
