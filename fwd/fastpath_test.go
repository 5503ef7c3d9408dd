package fwd

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/internal/netnstest"
	"github.com/gannet-net/gannet/nat"
)

// fastRig is a host whose worker offers its decisions to a real kernel flow table, and
// the XDP programs of its ports, loaded with that table, in a namespace of their own
// whose veths stand for the ports (BPF_PROG_RUN needs the ingress device to
// exist, the devmap the egress one).
type fastRig struct {
	*host
	ns      *netnstest.NS
	fp      *bpf.FastPath
	off     *Offload
	progs   map[int]*bpf.Program // by port
	ifindex []int
}

func newFastRig(t *testing.T, c Config, nb []neigh.Entry) *fastRig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN) for BPF_PROG_RUN with devices and a namespace")
	}
	r := &fastRig{ns: netnstest.NewNS(t, "fp"), progs: map[int]*bpf.Program{}}
	for i := range c.Ports {
		netnstest.Veth(t, fmt.Sprintf("p%d", i), r.ns, fmt.Sprintf("q%d", i), r.ns)
	}
	var err error
	if r.fp, err = bpf.NewFastPath(4096); err != nil {
		t.Fatalf("NewFastPath: %v", err)
	}
	t.Cleanup(func() { r.fp.Close() })
	if err := r.ns.Do(func() error {
		for i := range c.Ports {
			ifi, err := net.InterfaceByName(fmt.Sprintf("p%d", i))
			if err != nil {
				return err
			}
			r.ifindex = append(r.ifindex, ifi.Index)
			if err := r.fp.AddEgress(ifi.Index); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("devices: %v", err)
	}
	// The ports' ifindexes, and the neighbours', are the devices'.
	old := map[int]int{}
	for i := range c.Ports {
		old[c.Ports[i].Ifindex] = r.ifindex[i]
		c.Ports[i].Ifindex = r.ifindex[i]
	}
	var nbs []neigh.Entry
	for _, e := range nb {
		e.Ifindex = old[e.Ifindex]
		nbs = append(nbs, e)
	}
	for i, pc := range c.Ports {
		role := bpf.RoleWorkload
		if pc.Role == RoleUplink {
			role = bpf.RoleUplink
		}
		p, err := bpf.Load(bpf.Options{Role: role, NoSocket: bpf.NoSocketPass, FastPath: r.fp})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		r.progs[i] = p
	}
	var tabs atomic.Pointer[Tables]
	if r.off, err = NewOffload(r.fp, OffloadConfig{Tables: &tabs, SweepEvery: 1 << 30}); err != nil {
		t.Fatalf("NewOffload: %v", err)
	}
	r.host = newHostWith(t, c, nbs, func(wc *WorkerConfig) { wc.Offload = r.off })
	r.off.cfg.Tables = &r.host.tables
	return r
}

// sync drains the worker's offers into the kernel, in the rig's namespace (the devmap
// and the flow table resolve devices there).
func (r *fastRig) sync(t *testing.T) {
	t.Helper()
	if err := r.ns.Do(func() error { r.off.Sync(); return nil }); err != nil {
		t.Fatal(err)
	}
}

// xdp runs frame through the program of port as if received there.
func (r *fastRig) xdp(t *testing.T, port int, frame []byte) (int, []byte) {
	t.Helper()
	var act int
	var out []byte
	if err := r.ns.Do(func() error {
		var err error
		act, out, err = r.progs[port].RunFrame(r.ifindex[port], frame)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return act, out
}

// fastFlow is one direction of a flow of the differential test: the frame that opens it
// (new to conntrack) and how to make its later packets.
type fastFlow struct {
	name    string
	in, out int // ports
	pkt     spec
}

// TestFastPathDifferential runs random established traffic — routed IPv4 and IPv6
// between workloads, source NAT to the uplink and its replies, a floating IP (DNAT) and
// its replies, TCP and UDP — through the pipeline and through the XDP program with the
// decision the pipeline offered, and requires the same frame out of both.
func TestFastPathDifferential(t *testing.T) {
	floating := netip.MustParseAddr("203.0.113.200")
	c := twoWorkloads()
	c.Ports[2].MTU = 1500
	tab, err := nat.New(nat.Config{Capacity: 1024, Clock: &nat.ManualClock{}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.NAT = tab
	setFloating(t, c, floating)
	r := newFastRig(t, c, peerNeigh)

	// Open the flows: each pair's first direction, then its answer. The answers out of
	// the uplink come back to the public address and port SNAT chose.
	type pair struct {
		name        string
		a, b        fastFlow
		snat        bool // a leaves source-NATed: b is addressed to what a left with
		viaFloating bool // a arrives for the floating IP: b leaves from it
	}
	udp := func(src, dst netip.Addr, sp, dp uint16, smac, dmac net.HardwareAddr) spec {
		return spec{srcMAC: smac, dstMAC: dmac, src: src, dst: dst, proto: "udp", sport: sp, dport: dp, payload: []byte("x")}
	}
	tcp := func(s spec) spec { s.proto = "syn"; return s }
	pairs := []pair{
		{name: "routed udp4", a: fastFlow{in: 0, out: 1, pkt: udp(w1v4, w2v4, 4000, 53, macW1, gwMAC)}},
		{name: "routed tcp4", a: fastFlow{in: 0, out: 1, pkt: tcp(udp(w1v4, w2v4, 4001, 80, macW1, gwMAC))}},
		{name: "routed udp6", a: fastFlow{in: 0, out: 1, pkt: udp(w1v6, w2v6, 4002, 53, macW1, gwMAC)}},
		{name: "routed tcp6", a: fastFlow{in: 1, out: 0, pkt: tcp(udp(w2v6, w1v6, 4003, 80, macW2, gwMAC))}},
		{name: "routed tcp6 out", a: fastFlow{in: 0, out: 2, pkt: tcp(udp(w1v6, netip.MustParseAddr("2001:db8:99::9"), 4004, 443, macW1, gwMAC))}},
		{name: "snat udp4", snat: true, a: fastFlow{in: 0, out: 2, pkt: udp(w1v4, natServer, 4005, 53, macW1, gwMAC)}},
		{name: "snat tcp4", snat: true, a: fastFlow{in: 0, out: 2, pkt: tcp(udp(w1v4, natServer, 4006, 443, macW1, gwMAC))}},
		{name: "floating tcp4", viaFloating: true, a: fastFlow{in: 2, out: 1, pkt: tcp(udp(natServer, floating, 5000, 80, macPeer, macUp))}},
		{name: "floating udp4", viaFloating: true, a: fastFlow{in: 2, out: 1, pkt: udp(natServer, floating, 5001, 53, macPeer, macUp)}},
	}
	var flows []fastFlow
	for i := range pairs {
		p := &pairs[i]
		h := r.host
		h.send(p.a.in, p.a.pkt.frame(t))
		got := h.out(p.a.out)
		if len(got) != 1 {
			t.Fatalf("%s: opening: %d frames out of port %d, want 1 (drops %v)", p.name, len(got), p.a.out, nonZero(h.stats()))
		}
		o := got[0]
		// b answers what a became on the wire.
		b := p.a.pkt
		b.src, b.dst = b.dst, b.src
		b.sport, b.dport = b.dport, b.sport
		if p.snat {
			b.dst = natPublic
			b.dport = binary.BigEndian.Uint16(o[34:])
		}
		if p.viaFloating {
			b.src = w2v4
		}
		bin := p.a.out
		switch bin {
		case 2:
			b.srcMAC, b.dstMAC = macPeer, macUp
		case 0:
			b.srcMAC, b.dstMAC = macW1, gwMAC
		case 1:
			b.srcMAC, b.dstMAC = macW2, gwMAC
		}
		if b.proto == "syn" {
			b.proto = "synack"
		}
		h.send(bin, b.frame(t))
		if got := h.out(p.a.in); len(got) != 1 {
			t.Fatalf("%s: answer: %d frames out of port %d, want 1 (drops %v)", p.name, len(got), p.a.in, nonZero(h.stats()))
		}
		a := p.a
		a.name = p.name
		if a.pkt.proto == "syn" {
			a.pkt.proto, b.proto = "ack", "ack"
		}
		flows = append(flows, a, fastFlow{name: p.name + " answer", in: bin, out: p.a.in, pkt: b})
	}

	rng := rand.New(rand.NewPCG(19, 1))
	n := 600
	if testing.Short() {
		n = 120
	}
	hits := 0
	for i := range n {
		f := flows[rng.IntN(len(flows))]
		p := randomized(rng, f.pkt, func() int { return rng.IntN(300) })
		in := p.frame(t)
		if p.src.Is4() && p.proto == "udp" && rng.IntN(4) == 0 {
			binary.BigEndian.PutUint16(in[14+20+6:], 0) // no UDP checksum (IPv4)
		}
		if rng.IntN(5) == 0 {
			in = append(in, make([]byte, 1+rng.IntN(20))...) // trailing bytes
		}
		r.host.send(f.in, append([]byte(nil), in...))
		want := r.host.out(f.out)
		if len(want) != 1 {
			t.Fatalf("packet %d (%s): pipeline sent %d frames out of port %d (drops %v)", i, f.name, len(want), f.out, nonZero(r.host.stats()))
		}
		r.sync(t)
		act, got := r.xdp(t, f.in, in)
		if act != bpf.ActionRedirect {
			st, _ := r.progs[f.in].Stats()
			t.Fatalf("packet %d (%s): XDP action %d, want redirect (program counters %+v, offload %+v)", i, f.name, act, st, r.off.Stats())
		}
		if string(got) != string(want[0]) {
			t.Fatalf("packet %d (%s): in\n%x\nXDP\n%x\npipeline\n%x", i, f.name, in, got, want[0])
		}
		hits++
	}
	// Each flow was offered once or, when another took its slot of the worker's
	// memory of recent offers, a few times.
	if s := r.off.Stats(); s.Installed != len(flows) || s.Installs < uint64(len(flows)) || s.Installs > uint64(3*len(flows)) {
		t.Errorf("%d flows installed by %d installs, want all %d flows (%+v)", s.Installed, s.Installs, len(flows), s)
	}
	t.Logf("%d packets, %d flows: identical frames", hits, len(flows))
}

// randomized is a packet of flow p with a random TTL (above 1), IPv4 identification and
// DF, and size() random payload bytes.
func randomized(rng *rand.Rand, p spec, size func() int) spec {
	p.ttl = uint8(2 + rng.IntN(254))
	p.ipid = uint16(rng.Uint32())
	p.df = rng.IntN(2) == 0
	p.payload = make([]byte, size())
	for j := range p.payload {
		p.payload[j] = byte(rng.Uint32())
	}
	return p
}

// TestFastOfferZeroAlloc: rounds in which every established flow is offered to the
// fast path again (a new generation each round) allocate nothing on the worker.
func TestFastOfferZeroAlloc(t *testing.T) {
	off := allocOffload(t)
	c := twoWorkloads()
	tab, err := nat.New(nat.Config{Capacity: 1024, Clock: &nat.ManualClock{}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.NAT = tab
	h := newHostWith(t, c, peerNeigh, func(wc *WorkerConfig) { wc.Offload = off })
	var frames [][]byte
	for i := range 16 {
		p := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: uint16(4000 + i), dport: 53, payload: make([]byte, 100)}
		h.send(0, p.frame(t))
		h.out(1)
		r := p
		r.src, r.dst, r.sport, r.dport, r.srcMAC = w2v4, w1v4, 53, p.sport, macW2
		h.send(1, r.frame(t))
		h.out(0)
		frames = append(frames, p.frame(t))
	}
	offerRoundsAllocNothing(t, h, off, 0, frames, func(*fastInstall) {})
}

// allocOffload is an Offload over a small kernel flow table for the zero-allocation
// tests; it skips them in short mode and without root.
func allocOffload(t *testing.T) *Offload {
	t.Helper()
	if testing.Short() {
		t.Skip("short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF) for the kernel flow table")
	}
	fp, err := bpf.NewFastPath(64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Close() })
	var tabs atomic.Pointer[Tables]
	off, err := NewOffload(fp, OffloadConfig{Tables: &tabs})
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// offerRoundsAllocNothing runs rounds in which the established flows of frames, sent on
// port, are offered again (a new generation each round; each offer is passed to check)
// and requires that they allocate nothing and offer every flow once a round.
func offerRoundsAllocNothing(t *testing.T, h *host, off *Offload, port int, frames [][]byte, check func(*fastInstall)) {
	t.Helper()
	offered := 0
	round := func() {
		off.gen.Add(1)
		h.round(port, frames...)
		for _, q := range off.queues {
			offered += q.pop(check)
		}
	}
	round()
	offered = 0
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Errorf("a round offering %d flows allocates %v times, want 0", len(frames), a)
	}
	if offered != 51*len(frames) {
		t.Errorf("%d offers in 51 rounds of %d flows, want one per flow and round", offered, len(frames))
	}
}

// TestFastPathPolicyChange: a policy change takes effect for an offloaded flow at its
// next packet after the publish. Without conntrack policy decides every packet; the
// kernel forwards the flow while the tables allow it, and after the new tables are
// published and the generation bumped the next packet reaches the pipeline, which
// denies it.
func TestFastPathPolicyChange(t *testing.T) {
	allow := policedSet()
	c, _ := policedWith(t, allow, false)
	r := newFastRig(t, c, peerNeigh)
	p := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "ack", sport: 4000, dport: 80, payload: []byte("x")}
	r.host.send(0, p.frame(t))
	if got := r.host.out(1); len(got) != 1 {
		t.Fatalf("allowed: %d frames out, want 1 (drops %v)", len(got), nonZero(r.host.stats()))
	}
	r.sync(t)
	if act, _ := r.xdp(t, 0, p.frame(t)); act != bpf.ActionRedirect {
		t.Fatalf("offloaded flow: XDP action %d, want redirect", act)
	}

	// client-out now denies TCP to port 80.
	deny := policedSet()
	deny.Policies[2].Egress[0] = acl.PolicyRule{Action: acl.Deny, Protocol: "TCP", Destination: acl.EntityMatch{Ports: []string{"80"}}}
	c2, _ := policedWith(t, deny, false)
	for i := range c2.Ports {
		c2.Ports[i].Ifindex = r.ifindex[i]
	}
	tab, err := NewTables(c2)
	if err != nil {
		t.Fatal(err)
	}
	r.host.tables.Store(tab)
	if err := r.off.Publish(); err != nil {
		t.Fatal(err)
	}
	before, _ := r.progs[0].Stats()
	act, out := r.xdp(t, 0, p.frame(t))
	after, _ := r.progs[0].Stats()
	if act == bpf.ActionRedirect || string(out) != string(p.frame(t)) || after.FastStale != before.FastStale+1 {
		t.Fatalf("after the publish: XDP action %d (stale %d -> %d), want the frame unchanged to the socket as stale", act, before.FastStale, after.FastStale)
	}
	r.host.send(0, p.frame(t))
	if got := r.host.out(1); len(got) != 0 {
		t.Fatalf("denied: %d frames out, want 0", len(got))
	}
	if n := r.host.stats().Drops[ReasonPolicyEgress]; n != 1 {
		t.Errorf("policy-egress drops %d, want 1", n)
	}
	r.sync(t)
	if act, _ := r.xdp(t, 0, p.frame(t)); act == bpf.ActionRedirect {
		t.Fatalf("denied flow offloaded again")
	}
}

// TestFastPathConntrackExpiry: conntrack's timers follow a flow whose packets only the
// kernel forwards (each sweep refreshes the session as one of its packets would), and
// once the flow goes quiet the session expires and the sweep removes its entry.
func TestFastPathConntrackExpiry(t *testing.T) {
	c := twoWorkloads()
	clock := &nat.ManualClock{}
	tab, err := nat.New(nat.Config{Capacity: 1024, Clock: clock, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.NAT = tab
	r := newFastRig(t, c, peerNeigh)
	p := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 4000, dport: 53, payload: []byte("q")}
	a := spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: w1v4, proto: "udp", sport: 53, dport: 4000, payload: []byte("a")}
	r.host.send(0, p.frame(t))
	r.host.send(1, a.frame(t))
	r.host.send(0, p.frame(t)) // established: offered
	r.host.out(0)
	r.host.out(1)
	r.sync(t)
	// Both directions: the answer made the session established, and its own
	// packet was offered too.
	if tab.Len() != 1 || r.off.Stats().Installed != 2 {
		t.Fatalf("%d sessions, %d flows installed; want 1 and 2", tab.Len(), r.off.Stats().Installed)
	}
	// Ten minutes of traffic the kernel alone forwards, twice the UDP timeout.
	for range 20 {
		clock.Advance(30 * time.Second)
		if act, _ := r.xdp(t, 0, p.frame(t)); act != bpf.ActionRedirect {
			t.Fatalf("XDP action %d, want redirect", act)
		}
		r.off.Sweep()
	}
	if tab.Len() != 1 || r.off.Stats().Installed != 2 || r.off.Stats().EvictEnded != 0 {
		t.Fatalf("after 10 minutes of kernel-only traffic: %d sessions, %+v; want the session and its entry kept", tab.Len(), r.off.Stats())
	}
	// Quiet: the session expires after its timeout and the sweep removes the entry.
	clock.Advance(6 * time.Minute)
	r.off.Sweep()
	s := r.off.Stats()
	if s.EvictEnded != 2 || s.Installed != 0 {
		t.Fatalf("after 6 quiet minutes: %+v; want both entries evicted as ended", s)
	}
	if act, _ := r.xdp(t, 0, p.frame(t)); act == bpf.ActionRedirect {
		t.Fatalf("expired flow still forwarded in the kernel")
	}
	// The flow begins again: its session is new, then established, and it is
	// offered anew (the worker forgot its earlier offer with the eviction).
	r.host.send(0, p.frame(t))
	r.host.send(1, a.frame(t))
	r.host.send(0, p.frame(t))
	r.host.out(0)
	r.host.out(1)
	r.sync(t)
	if act, _ := r.xdp(t, 0, p.frame(t)); act != bpf.ActionRedirect {
		t.Fatalf("the flow begun again: XDP action %d, want redirect (%+v)", act, r.off.Stats())
	}
}

// TestFastPathPortCounters: what the kernel forwards for an offloaded flow is added, at
// each sweep, to the traffic of the flow's ingress port (rx) and egress port (tx) —
// once: a sweep without new packets adds nothing, and a reinstall of the flow (after a
// publish, the entry's counts start again) loses none of what the old entry counted.
func TestFastPathPortCounters(t *testing.T) {
	r := newFastRig(t, twoWorkloads(), peerNeigh)
	p := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 4000, dport: 53, payload: make([]byte, 100)}
	frame := p.frame(t)
	r.host.send(0, frame)
	if got := r.host.out(1); len(got) != 1 {
		t.Fatalf("first packet: %d frames out, want 1 (drops %v)", len(got), nonZero(r.host.stats()))
	}
	r.sync(t)
	pipeIn, pipeOut := r.host.w.PortStats(0), r.host.w.PortStats(1)
	want := func(n uint64) (in, out PortStats) {
		b := n * uint64(len(frame))
		return PortStats{RxPackets: n, RxBytes: b}, PortStats{TxPackets: n, TxBytes: b}
	}
	check := func(when string, n uint64) {
		t.Helper()
		wantIn, wantOut := want(n)
		if got := r.off.PortStats(r.ifindex[0]); got != wantIn {
			t.Errorf("%s: ingress port's fast-path traffic %+v, want %+v", when, got, wantIn)
		}
		if got := r.off.PortStats(r.ifindex[1]); got != wantOut {
			t.Errorf("%s: egress port's fast-path traffic %+v, want %+v", when, got, wantOut)
		}
		if in, out := r.host.w.PortStats(0), r.host.w.PortStats(1); in != pipeIn || out != pipeOut {
			t.Errorf("%s: the pipeline's port counters moved: %+v %+v, were %+v %+v", when, in, out, pipeIn, pipeOut)
		}
	}
	xdp := func(n int) {
		t.Helper()
		for range n {
			if act, _ := r.xdp(t, 0, p.frame(t)); act != bpf.ActionRedirect {
				t.Fatalf("offloaded flow: XDP action %d, want redirect", act)
			}
		}
	}
	check("before any kernel packet", 0)
	xdp(7)
	check("before the sweep", 0)
	r.off.Sweep()
	check("after the sweep", 7)
	r.off.Sweep()
	check("after a quiet sweep", 7)

	// Five more in the kernel, then a publish: the next packet goes to the pipeline
	// (stale), which offers the flow again; the install replaces the entry.
	xdp(5)
	if err := r.off.Publish(); err != nil {
		t.Fatal(err)
	}
	r.host.send(0, frame)
	r.host.out(1)
	pipeIn, pipeOut = r.host.w.PortStats(0), r.host.w.PortStats(1)
	r.sync(t)
	if r.off.Stats().Installs != 2 {
		t.Fatalf("installs %d, want 2 (the flow offered again after the publish)", r.off.Stats().Installs)
	}
	xdp(3)
	r.off.Sweep()
	check("after the reinstall and a sweep", 15)
}
