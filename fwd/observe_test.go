package fwd

// Tests of what the control plane sees of the data path: rule hits,
// policy log records, captures.

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/capfilter"
	"github.com/gannet-net/gannet/nat"
)

// logged is policed with a Log rule first in w2's ingress policy.
func logged(t *testing.T, stateful bool) (Config, *nat.ManualClock) {
	t.Helper()
	set := policedSet()
	set.Policies = []acl.Policy{
		{Name: "web", Selector: "app == 'web'", Ingress: []acl.PolicyRule{
			{Action: acl.Log, Protocol: "TCP"},
			{Action: acl.Allow, Protocol: "TCP", Destination: acl.EntityMatch{Ports: []string{"80"}}}}},
	}
	return policedWith(t, set, stateful)
}

func synTo(dport uint16) spec {
	return spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "syn", sport: 4000, dport: dport}
}

// hitsOf returns the summed hits of endpoint i's programs in h's tables.
func hitsOf(h *host, i int) (in, eg []uint64) {
	ep := h.tables.Load().ports[i].ep
	if ep.inHits != nil {
		in = ep.inHits.Sum()
	}
	if ep.egHits != nil {
		eg = ep.egHits.Sum()
	}
	return in, eg
}

func TestRuleHits(t *testing.T) {
	c, _ := policed(t, true)
	h := newHost(t, c, peerNeigh)
	h.send(0, synTo(80).frame(t))                                                                                      // w1 egress: client-out[1] allow; w2 ingress: web[0] allow
	h.send(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "ack", sport: 4000, dport: 80}.frame(t)) // established: no rule
	h.send(0, synTo(22).frame(t))                                                                                      // w2 ingress: default deny
	h.send(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 5000, dport: 53}.frame(t)) // w1 egress: client-out[0] deny
	h.out(1)

	// w1's egress program: client-out[0] deny, client-out[1] allow, the
	// open profile's rule, then the default deny.
	_, eg1 := hitsOf(h, 0)
	if diff := cmp.Diff([]uint64{1, 2, 0, 0}, eg1); diff != "" {
		t.Errorf("w1 egress hits (-want +got):\n%s", diff)
	}
	// w2's ingress: web[0] allow, the profile's rule, default deny.
	in2, _ := hitsOf(h, 1)
	if diff := cmp.Diff([]uint64{1, 0, 1}, in2); diff != "" {
		t.Errorf("w2 ingress hits (-want +got):\n%s", diff)
	}

	// Counters handed to the next tables carry over; counters of another
	// program are refused.
	old := h.tables.Load().ports[1].ep
	c2 := c
	c2.Endpoints = append([]EndpointConfig(nil), c.Endpoints...)
	c2.Endpoints[1].IngressHits = old.inHits
	nt, err := NewTables(c2)
	if err != nil {
		t.Fatalf("NewTables with carried counters: %v", err)
	}
	h.tables.Store(nt)
	h.send(0, synTo(23).frame(t))
	h.out(1)
	if in2, _ := hitsOf(h, 1); !cmp.Equal([]uint64{1, 0, 2}, in2) {
		t.Errorf("w2 ingress hits after a change = %v, want [1 0 2]", in2)
	}
	c2.Endpoints[1].IngressHits = NewRuleHits(c.Endpoints[0].Egress, 1)
	if _, err := NewTables(c2); err == nil {
		t.Errorf("NewTables with counters of another program: no error")
	}
}

func TestPolicyLog(t *testing.T) {
	c, _ := logged(t, false)
	c.PolicyLogRate = 2
	h := newHost(t, c, peerNeigh)
	drain := func() []PolicyLog {
		var got []PolicyLog
		h.w.DrainPolicyLog(func(r *PolicyLog) { got = append(got, *r) })
		return got
	}
	h.send(0, synTo(80).frame(t), synTo(22).frame(t), synTo(80).frame(t))
	got := drain()
	if len(got) != 2 {
		t.Fatalf("%d records, want 2 (the rate's burst)", len(got))
	}
	prog := c.Endpoints[1].Ingress
	for i, want := range []struct {
		rule    int32
		verdict acl.Verdict
	}{{1, acl.Accept}, {acl.RuleDefaultDeny, acl.Drop}} {
		r := got[i]
		if r.Endpoint != "w2" || r.Dir != acl.Ingress || r.Program != prog || r.LogRule != 0 || r.Rule != want.rule || r.Verdict != want.verdict {
			t.Errorf("record %d = %+v, want w2 Ingress log rule 0, rule %d, %v", i, r, want.rule, want.verdict)
		}
		if r.Key.Src != w1v4.As16() && netip.AddrFrom4([4]byte(r.Key.Src[:4])) != w1v4 || r.Key.Proto != 6 || r.Key.SrcPort != 4000 {
			t.Errorf("record %d key = %+v, want from %v TCP port 4000", i, r.Key, w1v4)
		}
	}
	if st := h.stats(); st.PolicyLog != [NumLogOutcomes]uint64{2, 1, 0} {
		t.Errorf("PolicyLog = %v, want [2 1 0] (queued, rate-limited, ring-full)", st.PolicyLog)
	}
	// The Log rule counts its hits too.
	if in2, _ := hitsOf(h, 1); !cmp.Equal([]uint64{3, 2, 0, 1}, in2) {
		t.Errorf("w2 ingress hits = %v, want [3 2 0 1]", in2)
	}
	// Half a second later the bucket holds one more record.
	h.advance(500 * time.Millisecond)
	h.send(0, synTo(80).frame(t), synTo(80).frame(t))
	if got := drain(); len(got) != 1 {
		t.Errorf("%d records after 0.5s, want 1", len(got))
	}

	// Without a consumer the ring fills up and refuses, counted.
	c.PolicyLogRate = 1 << 30
	h = newHost(t, c, peerNeigh)
	// (64 frames a round: the port's fill target.)
	for range policyLogSlots/64 + 2 {
		for range 64 {
			h.ports[0].Inject(synTo(80).frame(t))
		}
		h.run()
		h.out(1)
	}
	if st := h.stats(); st.PolicyLog[LogQueued] != policyLogSlots || st.PolicyLog[LogRingFull] != 128 {
		t.Errorf("PolicyLog = %v, want %d queued and 128 ring-full", st.PolicyLog, policyLogSlots)
	}
	if n := len(drain()); n != policyLogSlots {
		t.Errorf("drained %d records, want %d", n, policyLogSlots)
	}
}

func TestCapture(t *testing.T) {
	c, _ := policed(t, true)
	var caps atomic.Pointer[CaptureSet]
	h := newHostWith(t, c, peerNeigh, func(wc *WorkerConfig) { wc.Captures = &caps })
	tcp, err := capfilter.Parse("tcp")
	if err != nil {
		t.Fatal(err)
	}
	both, err := NewCapture(CaptureConfig{Port: 1, Dir: DirRx | DirTx, Filter: tcp, Workers: 1, Snap: 2048})
	if err != nil {
		t.Fatal(err)
	}
	rxOnly, err := NewCapture(CaptureConfig{Port: 1, Dir: DirRx, Workers: 1, Slots: 1, Snap: 60})
	if err != nil {
		t.Fatal(err)
	}
	caps.Store(NewCaptureSet([]*Capture{both, rxOnly}))

	syn := synTo(80).frame(t)
	h.send(0, syn)
	sent := h.out(1)
	synack := spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: w1v4, proto: "synack", sport: 80, dport: 4000}.frame(t)
	udp := spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: w1v4, proto: "udp", sport: 80, dport: 4000}.frame(t)
	h.send(1, synack, udp) // rx on port 1
	h.out(0)
	h.send(0, syn) // not on port 1's rx; its tx is established now
	h.out(1)

	type frame struct {
		Dir  Direction
		Data []byte
		Orig int
	}
	drain := func(c *Capture) []frame {
		var got []frame
		c.Drain(func(f *CapturedFrame) { got = append(got, frame{f.Dir, bytes.Clone(f.Data), f.OrigLen}) })
		return got
	}
	want := []frame{
		{DirTx, sent[0], len(sent[0])},
		{DirRx, synack, len(synack)}, // as it came in: TTL not yet decremented
		{DirTx, sent[0], len(sent[0])},
	}
	if diff := cmp.Diff(want, drain(both)); diff != "" {
		t.Errorf("capture tcp both (-want +got):\n%s", diff)
	}
	// One slot, 60 bytes: the first rx frame, cut; the UDP one dropped.
	if diff := cmp.Diff([]frame{{DirRx, synack[:60], len(synack)}}, drain(rxOnly)); diff != "" {
		t.Errorf("capture rx (-want +got):\n%s", diff)
	}
	if both.Dropped() != 0 || rxOnly.Dropped() != 1 {
		t.Errorf("Dropped = %d and %d, want 0 and 1", both.Dropped(), rxOnly.Dropped())
	}

	// Off again: nothing more is copied.
	caps.Store(nil)
	h.send(1, synack)
	h.out(0)
	if n := both.Drain(func(*CapturedFrame) {}); n != 0 {
		t.Errorf("%d frames captured after the capture ended", n)
	}

	// Errors.
	for _, cc := range []CaptureConfig{
		{Port: -1, Dir: DirRx, Workers: 1, Snap: 64},
		{Port: 0, Dir: 0, Workers: 1, Snap: 64},
		{Port: 0, Dir: DirRx, Workers: 0, Snap: 64},
		{Port: 0, Dir: DirRx, Workers: 1, Snap: 0},
	} {
		if _, err := NewCapture(cc); err == nil {
			t.Errorf("NewCapture(%+v): no error", cc)
		}
	}
}

// TestObserveZeroAlloc: rounds that count rule hits, queue policy log
// records and copy frames into a filtered capture (and overflow it)
// allocate nothing; nor does a round with the capture pointer set empty.
func TestObserveZeroAlloc(t *testing.T) {
	c, _ := logged(t, false)
	c.PolicyLogRate = 1 << 30
	var caps atomic.Pointer[CaptureSet]
	h := newHostWith(t, c, peerNeigh, func(wc *WorkerConfig) { wc.Captures = &caps })
	f, err := capfilter.Parse("tcp and dst port 80")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := NewCapture(CaptureConfig{Port: 1, Dir: DirRx | DirTx, Filter: f, Workers: 1, Slots: 16, Snap: 2048})
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{synTo(80).frame(t), synTo(22).frame(t), spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 80}.frame(t)}
	round := func() {
		for range 8 {
			for _, fr := range frames {
				h.ports[0].Inject(fr)
			}
		}
		for h.w.Step() > 0 {
		}
		h.ports[1].Drain(nil)
		h.w.Step()
	}
	for _, set := range []*CaptureSet{nil, NewCaptureSet([]*Capture{cp})} {
		caps.Store(set)
		round()
		if a := testing.AllocsPerRun(50, round); a != 0 {
			t.Errorf("captures %v: a round allocates %v times, want 0", set != nil, a)
		}
	}
	if cp.Drain(func(*CapturedFrame) {}) == 0 || cp.Dropped() == 0 {
		t.Errorf("the capture saw nothing or never overflowed: the test did not take the paths it means to")
	}
	if st := h.stats(); st.PolicyLog[LogQueued] == 0 || st.PolicyLog[LogRingFull] == 0 {
		t.Errorf("PolicyLog = %v: the test did not log or overflow", st.PolicyLog)
	}
}

// BenchmarkCapture: BenchmarkPipeline's route case (1024 UDP flows from
// w1 through the full table to the uplink) with captures off (no
// CaptureSet pointer; the pointer set and empty), a capture of another
// port, a filtered capture of the uplink that matches nothing, and one
// that copies every frame (drained after each batch).
func BenchmarkCapture(b *testing.B) {
	loadBench(b)
	e := &benchEnv
	const flows = 1024
	none, err := capfilter.Parse("tcp")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pointer bool
		cfg     *CaptureConfig
	}{
		{"off", false, nil},
		{"off-pointer", true, nil},
		{"other-port", true, &CaptureConfig{Port: 1, Dir: DirRx | DirTx}},
		{"uplink-filter-misses", true, &CaptureConfig{Port: 2, Dir: DirTx, Filter: none}},
		{"uplink-all", true, &CaptureConfig{Port: 2, Dir: DirTx}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var caps atomic.Pointer[CaptureSet]
			h := newHostWith(b, twoWorkloads(), peerNeigh, func(wc *WorkerConfig) {
				if tc.pointer {
					wc.Captures = &caps
				}
			})
			h.tables.Store(variant(e.tables, nil, nil))
			var cp *Capture
			if tc.cfg != nil {
				cc := *tc.cfg
				cc.Workers, cc.Snap = 1, testFrameSize
				if cp, err = NewCapture(cc); err != nil {
					b.Fatal(err)
				}
				caps.Store(NewCaptureSet([]*Capture{cp}))
			}
			frames := benchFrames(b, flows)
			p := h.ports[0]
			var copied int
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames.frame((off + j) % flows))
				}
				h.w.Step()
				h.ports[2].Drain(nil)
				if cp != nil {
					copied += cp.Drain(func(*CapturedFrame) {})
				}
			}
			runBatches(b, h, flows, batch)
			if tc.name == "uplink-all" && (copied == 0 || cp.Dropped() != 0) {
				b.Fatalf("copied %d frames, dropped %d", copied, cp.Dropped())
			}
		})
	}
}

// BenchmarkRuleHits: BenchmarkPipeline's route+policy1k (every packet
// evaluated by a 1k-rule egress program) with the program's hits counted
// and without counters, alternating (the first runs of a process pay for
// the setup's garbage collection).
func BenchmarkRuleHits(b *testing.B) {
	loadBench(b)
	e := &benchEnv
	const flows = 1024
	for _, counted := range []bool{false, true, false, true} {
		name := "uncounted"
		if counted {
			name = "counted"
		}
		b.Run(name, func(b *testing.B) {
			h := newHost(b, twoWorkloads(), peerNeigh)
			t := variant(e.tables, e.policy, nil)
			if !counted {
				t.ports[0].ep.egHits = nil
			}
			h.tables.Store(t)
			frames := benchFrames(b, flows)
			p := h.ports[0]
			runBatches(b, h, flows, func(off int) {
				for j := range BatchSize {
					p.Inject(frames.frame((off + j) % flows))
				}
				h.w.Step()
				h.ports[2].Drain(nil)
			})
			if counted && sumAll(t.ports[0].ep.egHits.Sum()) == 0 {
				b.Fatalf("no hits counted")
			}
		})
	}
}

func sumAll(v []uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}
