package fwd

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/nat"
)

var (
	hostV4  = netip.MustParseAddr("192.0.2.10")
	hostV6  = netip.MustParseAddr("2001:db8:ffff::10")
	hostMAC = [6]byte{0x02, 0, 0, 0, 0, 0x77}
	coreOK  = netip.MustParseAddr("203.0.113.5") // a core source the uplink's host endpoint admits
	coreBad = netip.MustParseAddr("203.0.113.6") // one it does not
)

// memSink is a HostSink in memory: it keeps a copy of every frame, and
// takes at most limit per call when limit > 0.
type memSink struct {
	frames [][]byte
	limit  int
}

func (s *memSink) WriteFrames(frames [][]byte) int {
	n := len(frames)
	if s.limit > 0 && n > s.limit {
		n = s.limit
	}
	for _, f := range frames[:n] {
		s.frames = append(s.frames, bytes.Clone(f))
	}
	return n
}

// toHostConfig is twoWorkloads whose w1 may send only TCP to port 8080
// (and anything to w2), with the host's addresses hostV4 and hostV6 and,
// when sink is non-nil, endpointToHost: accept into sink.
func toHostConfig(t testing.TB, sink HostSink, stateful bool) Config {
	t.Helper()
	set := &acl.PolicySet{
		Policies: []acl.Policy{{Name: "w1-out", Selector: "app == 'client'", Egress: []acl.PolicyRule{
			{Action: acl.Allow, Protocol: "TCP", Destination: acl.EntityMatch{Nets: []string{"192.0.2.10/32", "2001:db8:ffff::10/128"}, Ports: []string{"8080"}}},
			{Action: acl.Allow, Destination: acl.EntityMatch{Nets: []string{"198.18.0.2/32", "2001:db8::2/128"}}},
		}}},
		Endpoints: []acl.Endpoint{
			{Name: "w1", Labels: map[string]string{"app": "client"}, Addrs: []netip.Addr{w1v4, w1v6}},
			{Name: "w2", Labels: map[string]string{"app": "web"}, Addrs: []netip.Addr{w2v4, w2v6}},
		},
	}
	c, _ := policedWith(t, set, stateful)
	c.HostAddrs = []netip.Addr{hostV4, hostV6}
	if sink != nil {
		c.Host = &HostPath{Sink: sink, MAC: hostMAC}
	}
	return c
}

// TestEndpointToHost: a workload's packet to one of the host's addresses
// reaches the host (endpointToHost: accept) only with its own source and
// when its egress policy allows it, never NATed or tracked, and is
// dropped with a named reason otherwise (issue 15 item 1; Calico's
// DefaultEndpointToHostAction).
func TestEndpointToHost(t *testing.T) {
	syn := func(src, dst netip.Addr, dport uint16) spec {
		return spec{srcMAC: macW1, dstMAC: gwMAC, src: src, dst: dst, proto: "syn", sport: 4000, dport: dport}
	}
	tests := []struct {
		name     string
		accept   bool
		stateful bool
		p        spec
		reason   Reason // ReasonNone: delivered to the host
	}{
		{"accept, policy allows (IPv4)", true, true, syn(w1v4, hostV4, 8080), ReasonNone},
		{"accept, policy allows (IPv6)", true, true, syn(w1v6, hostV6, 8080), ReasonNone},
		{"accept, stateless", true, false, syn(w1v4, hostV4, 8080), ReasonNone},
		{"accept, loopback is the host's too", true, true, syn(w1v4, netip.MustParseAddr("127.0.0.1"), 8080), ReasonPolicyEgress},
		{"accept, policy denies another port", true, true, syn(w1v4, hostV4, 22), ReasonPolicyEgress},
		{"accept, forged source", true, true, syn(netip.MustParseAddr("203.0.113.9"), hostV4, 8080), ReasonSpoofed},
		{"accept, another workload's source", true, true, syn(w2v4, hostV4, 8080), ReasonSpoofed},
		{"drop (default), policy allows", false, true, syn(w1v4, hostV4, 8080), ReasonToHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			var hs HostSink
			if tc.accept {
				hs = sink
			}
			h := newHost(t, toHostConfig(t, hs, tc.stateful), peerNeigh)
			before := h.stats()
			h.send(0, tc.p.frame(t))
			after := h.stats()
			for p := range h.ports {
				expectFrames(t, "port", h.out(p))
			}
			if tc.reason != ReasonNone {
				if len(sink.frames) != 0 {
					t.Fatalf("the host got %d frame(s), want none", len(sink.frames))
				}
				if after.Drops[tc.reason] != before.Drops[tc.reason]+1 {
					t.Fatalf("drops %v, want one more %v", nonZero(after), tc.reason)
				}
				return
			}
			if len(sink.frames) != 1 {
				t.Fatalf("the host got %d frames, want 1; drops %v", len(sink.frames), nonZero(after))
			}
			// As sent, addressed to the host interface: no hop taken
			// (local delivery), no NAT.
			want := tc.p
			want.srcMAC, want.dstMAC = gwMAC, hostMAC[:]
			expectFrames(t, "host", sink.frames, want.wire(t))
			if after.ToHost != before.ToHost+1 || after.Forwarded != before.Forwarded+1 {
				t.Errorf("ToHost %d->%d, Forwarded %d->%d: want one more of each", before.ToHost, after.ToHost, before.Forwarded, after.Forwarded)
			}
			if after.Dropped() != before.Dropped() {
				t.Errorf("drops %v, want none", nonZero(after))
			}
			if tc.stateful && h.tables.Load().nat.Len() != 0 {
				t.Errorf("conntrack holds %d sessions: to-host traffic is not tracked (its reply never comes through gannet)", h.tables.Load().nat.Len())
			}
		})
	}
}

// TestEndpointToHostRefused: frames the host interface does not take are
// dropped and counted (host-write), their frames reclaimed.
func TestEndpointToHostRefused(t *testing.T) {
	sink := &memSink{limit: 1}
	h := newHost(t, toHostConfig(t, sink, true), peerNeigh)
	var frames [][]byte
	for i := range 3 {
		p := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000 + uint16(i), dport: 8080}
		frames = append(frames, p.frame(t))
	}
	free := h.w.free.Len()
	h.send(0, frames...)
	st := h.stats()
	if len(sink.frames) != 1 || st.ToHost != 1 || st.Drops[ReasonHostWrite] != 2 {
		t.Fatalf("host got %d, ToHost %d, host-write %d: want 1, 1, 2", len(sink.frames), st.ToHost, st.Drops[ReasonHostWrite])
	}
	if got := h.w.free.Len(); got != free {
		t.Fatalf("free frames %d, want %d back", got, free)
	}
}

func TestEndpointToHostAllocs(t *testing.T) {
	sink := &countSink{}
	h := newHost(t, toHostConfig(t, sink, true), peerNeigh)
	f := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000, dport: 8080}.frame(t)
	if n := testing.AllocsPerRun(100, func() { h.round(0, f) }); n != 0 {
		t.Fatalf("%v allocations per to-host packet, want 0", n)
	}
	if sink.n < 100 {
		t.Fatalf("host got %d frames, want at least 100", sink.n)
	}
}

// countSink counts frames without keeping them.
type countSink struct{ n int }

func (s *countSink) WriteFrames(frames [][]byte) int { s.n += len(frames); return len(frames) }

// hepConfig is twoWorkloads with the uplink's host endpoint "core": its
// ingress admits only new flows from coreOK (TCP 80 to w2), its egress
// denies new flows to 203.0.113.7, compiled from applyOnForward policies
// with the same engine as workloads'.
func hepConfig(t testing.TB, stateful bool) Config {
	t.Helper()
	set := &acl.PolicySet{
		Policies: []acl.Policy{
			{Name: "core-in", Selector: "role == 'core'", ApplyOnForward: true, Types: []acl.PolicyType{acl.Ingress, acl.Egress},
				Ingress: []acl.PolicyRule{{Action: acl.Allow, Protocol: "TCP", Source: acl.EntityMatch{Nets: []string{coreOK.String() + "/32"}},
					Destination: acl.EntityMatch{Selector: "app == 'web'", Ports: []string{"80"}}}},
				Egress: []acl.PolicyRule{
					{Action: acl.Deny, Destination: acl.EntityMatch{Nets: []string{"203.0.113.7/32"}}},
					{Action: acl.Allow}}},
		},
		Endpoints: []acl.Endpoint{
			{Name: "w1", Labels: map[string]string{"app": "client"}, Addrs: []netip.Addr{w1v4, w1v6}},
			{Name: "w2", Labels: map[string]string{"app": "web"}, Addrs: []netip.Addr{w2v4, w2v6}},
			{Name: "core", Labels: map[string]string{"role": "core"}},
		},
	}
	cp, err := acl.CompilePolicy(set)
	if err != nil {
		t.Fatal(err)
	}
	c := twoWorkloads() // the workloads have no policy: only the host endpoint's
	if stateful {
		tab, err := nat.New(nat.Config{Capacity: 1024, Clock: &nat.ManualClock{}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.NAT = tab
	}
	ep := cp.Endpoint("core")
	c.Ports[2].HostEndpoint = &HostEndpointConfig{Name: "core", Ingress: ep.Ingress, Egress: ep.Egress}
	return c
}

// TestHostEndpointPolicy: an uplink's host endpoint polices what is
// forwarded in and out by it (Calico applyOnForward), statefully: a core
// source it does not admit never reaches a workload, one it admits does,
// and replies to workloads' own connections pass (issue 15 item 5).
func TestHostEndpointPolicy(t *testing.T) {
	type step struct {
		from, to int
		p        spec
		reason   Reason
	}
	in := func(src netip.Addr, proto string, sport, dport uint16) spec {
		return spec{srcMAC: macPeer, dstMAC: macUp, src: src, dst: w2v4, proto: proto, sport: sport, dport: dport}
	}
	out := func(dst netip.Addr, proto string, sport, dport uint16) spec {
		return spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: dst, proto: proto, sport: sport, dport: dport}
	}
	back := func(src netip.Addr, proto string, sport, dport uint16) spec {
		return spec{srcMAC: macPeer, dstMAC: macUp, src: src, dst: w2v4, proto: proto, sport: sport, dport: dport}
	}
	tests := []struct {
		name     string
		stateful bool
		steps    []step
	}{
		{"admitted core source", true, []step{{2, 1, in(coreOK, "syn", 5000, 80), ReasonNone}}},
		{"admitted source, another port", true, []step{{2, 1, in(coreOK, "syn", 5000, 22), ReasonHostEndpointIngress}}},
		{"core source not admitted", true, []step{{2, 1, in(coreBad, "syn", 5000, 80), ReasonHostEndpointIngress}}},
		{"not admitted, UDP", true, []step{{2, 1, in(coreBad, "udp", 5000, 80), ReasonHostEndpointIngress}}},
		{"reply to a workload's connection", true, []step{
			{1, 2, out(coreBad, "syn", 4000, 443), ReasonNone},
			{2, 1, back(coreBad, "synack", 443, 4000), ReasonNone},
		}},
		{"egress denied by the uplink's host endpoint", true, []step{
			{1, 2, out(netip.MustParseAddr("203.0.113.7"), "syn", 4000, 443), ReasonHostEndpointEgress},
		}},
		{"stateless: the reply is new to the host endpoint", false, []step{
			{1, 2, out(coreBad, "syn", 4000, 443), ReasonNone},
			{2, 1, back(coreBad, "synack", 443, 4000), ReasonHostEndpointIngress},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, hepConfig(t, tc.stateful), peerNeigh)
			for i, s := range tc.steps {
				before := h.stats()
				h.send(s.from, s.p.frame(t))
				got := h.out(s.to)
				after := h.stats()
				if s.reason == ReasonNone {
					if len(got) != 1 || after.Forwarded != before.Forwarded+1 {
						t.Fatalf("step %d: %d frames out, drops %v: want it forwarded", i, len(got), nonZero(after))
					}
					continue
				}
				expectFrames(t, "destination", got)
				if after.Drops[s.reason] != before.Drops[s.reason]+1 {
					t.Fatalf("step %d: drops %v, want one more %v", i, nonZero(after), s.reason)
				}
			}
		})
	}
}

// TestHostEndpointTrace: gannet trace tells the host endpoint's verdict
// and the delivery to the host as the worker makes them.
func TestHostEndpointTrace(t *testing.T) {
	c := hepConfig(t, true)
	tab, err := NewTables(c)
	if err != nil {
		t.Fatal(err)
	}
	f := spec{srcMAC: macPeer, dstMAC: macUp, src: coreBad, dst: w2v4, proto: "syn", sport: 5000, dport: 80}.frame(t)
	if r := tab.Trace(2, f, nil); r.Verdict != "drop" || r.Reason != ReasonHostEndpointIngress.String() {
		t.Fatalf("trace: %s %s, want drop %v", r.Verdict, r.Reason, ReasonHostEndpointIngress)
	}
	th, err := NewTables(toHostConfig(t, &memSink{}, true))
	if err != nil {
		t.Fatal(err)
	}
	f = spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000, dport: 8080}.frame(t)
	if r := th.Trace(0, f, nil); r.Verdict != "forward" || r.Egress != "host" {
		t.Fatalf("trace: %s %s %s, want forward to host", r.Verdict, r.Reason, r.Egress)
	}
	f = spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000, dport: 22}.frame(t)
	if r := th.Trace(0, f, nil); r.Verdict != "drop" || r.Reason != ReasonPolicyEgress.String() {
		t.Fatalf("trace: %s %s, want drop %v", r.Verdict, r.Reason, ReasonPolicyEgress)
	}
}

// BenchmarkHostPaths: batches of 64 frames through the paths of this
// file next to their peers in the same run — a core SYN forwarded from
// the uplink to w2 without and with the uplink's host endpoint program
// (stateless: evaluated on every packet), and w1's TCP to the host's
// address delivered to the host (endpointToHost: accept, egress policy
// on every packet) next to the same frame dropped (to-host).
func BenchmarkHostPaths(b *testing.B) {
	noHEP := hepConfig(b, false)
	noHEP.Ports[2].HostEndpoint = nil
	cases := []struct {
		name string
		c    Config
		in   int
		f    spec
	}{
		{"uplink-to-workload", noHEP, 2, spec{srcMAC: macPeer, dstMAC: macUp, src: coreOK, dst: w2v4, proto: "syn", sport: 5000, dport: 80}},
		{"uplink-to-workload+host-endpoint", hepConfig(b, false), 2, spec{srcMAC: macPeer, dstMAC: macUp, src: coreOK, dst: w2v4, proto: "syn", sport: 5000, dport: 80}},
		{"to-host-drop", toHostConfig(b, nil, false), 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000, dport: 8080}},
		{"to-host-accept", toHostConfig(b, &countSink{}, false), 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: hostV4, proto: "syn", sport: 4000, dport: 8080}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := newHost(b, tc.c, peerNeigh)
			f := tc.f.frame(b)
			p := h.ports[tc.in]
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for range BatchSize {
					p.Inject(f)
				}
				h.w.Step()
				h.ports[1].Drain(nil)
				h.w.Step()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/pkt")
			if st := h.stats(); st.Forwarded == 0 && st.Drops[ReasonToHost] == 0 {
				b.Fatalf("nothing forwarded: %v", nonZero(st))
			}
		})
	}
}
