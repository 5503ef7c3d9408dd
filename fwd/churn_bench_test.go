package fwd

// BenchmarkForwardDuringChanges: issue 13's "while changes are applied
// every 10 ms, the forwarding rate of untouched flows stays within 5% of
// the rate without changes". One Worker runs on its own goroutine (Start)
// over MemPorts w1, w2 and the uplink, with slot 3 for a third endpoint
// that comes and goes. The tables are a host's: 1,000 other workload
// endpoints (IPv4 and IPv6 host routes each) and a 1k-rule
// ClassBench-derived egress program on every endpoint, so every forwarded
// packet pays a policy check and every NewTables compiles 1,000 endpoints.
// A wire goroutine injects 8 flows (w1->w2 and w2->w1, IPv4 and IPv6) as
// fast as the fill rings take them and drains what the worker sends,
// counting packets per flow.
//
// A change is what the daemon's Apply does (ctl/daemon.go): the third
// endpoint is alternately added (attach its port, compile, publish) and
// removed (compile without it, publish, detach and reclaim its frames).
// Policy compilation is not part of a change here: the publish-time
// benchmark of the same issue covers it.
//
// Time is cut into phases of churnPhase: quiet (nothing changes) and
// churn (a change every churnPeriod, the first at the phase's start). The
// interleaved variant alternates the two on one running worker, one pair
// per iteration, so the noise of a shared machine falls on both alike:
// its churn/quiet metric is the figure the issue asks about. quiet and
// churn run one kind of phase only, for absolute rates.
//
// Threads (the figures depend on them; a shared two-core machine is
// noisy): the worker is locked to its OS thread (Start) and pinned to CPU
// 1, alone, as the daemon pins workers. The wire is one goroutine, not a
// generator and a sink, so that the rig needs one CPU besides the
// worker's; it is pinned to CPU 2 when there are three CPUs and shares CPU
// 0 with the control plane otherwise, napping when the worker is behind so
// as to leave that CPU to changes (a NIC is never descheduled: the rings
// hold daemon-sized buffers, 8192 frames, 2048-entry rings, about 1 ms of
// traffic, so a nap or a preemption of the wire does not starve the
// worker). The control plane is a goroutine of its own pinned to CPU 0
// (the daemon's loop runs off the workers' cores); its thread and the
// wire's stay locked and end with their goroutines. Pinning is best
// effort (on one CPU, or a CPU set without 1, nothing is pinned).
// GOMAXPROCS is at least 4 while the benchmark runs, so that a change
// never waits for the spinning worker or the wire to be preempted to get a
// P, nor does the garbage collector's worker. On two CPUs a change's CPU
// time (ctl-ms/change) still competes with the wire and the runtime's
// unpinned threads with the worker: there churn/quiet is a lower bound.
//
// After the run every frame is accounted for (free stack plus the ports'
// rings), no detached port kept any (Lost), and every flow delivered
// exactly what was injected; anything else fails the benchmark.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/pkt"
)

const (
	churnPeriod    = 10 * time.Millisecond // one change every 10 ms
	churnPhase     = 50 * time.Millisecond // five changes per churn phase
	churnSettle    = churnPeriod           // unmeasured, after each phase
	churnWarmUp    = 200 * time.Millisecond
	churnEndpoints = 1000 // the host's other workloads
	churnFrames    = 8192
	churnRing      = 2048
	churnFrameSize = 4096
	churnFlows     = 8 // 0-3 w1->w2, 4-7 w2->w1; even IPv4, odd IPv6
	churnSport     = 40000
	churnDrain     = 100 * time.Millisecond // the daemon's detachDrain
	churnBurst     = 512                    // frames per port between two drains
	churnWireNap   = 20 * time.Microsecond
	churnProcs     = 4 // GOMAXPROCS at least: worker, wire, control, GC
)

var churnPolicy struct {
	once sync.Once
	prog *acl.Program
	err  error
}

// churnProgram is the 1k-rule egress program every endpoint gets.
func churnProgram(b *testing.B) *acl.Program {
	b.Helper()
	p := &churnPolicy
	p.once.Do(func() { p.prog, _, p.err = classbenchPolicy("../acl/testdata/classbench/acl1_1k") })
	if p.err != nil {
		b.Fatalf("policy: %v", p.err)
	}
	return p.prog
}

// churnConfig is withThird's host with churnEndpoints more workload
// endpoints on ports 4 and up, every endpoint with egress as its egress
// program. Those ports are in the tables (NewTables compiles them) but not
// on this worker, so they are Down, as the daemon marks ports it has not
// attached; no traffic goes to them.
func churnConfig(third bool, egress *acl.Program) Config {
	c := withThird(third)
	for i := range c.Endpoints {
		c.Endpoints[i].Egress = egress
	}
	for i := range churnEndpoints {
		slot := len(c.Ports)
		c.Ports = append(c.Ports, PortConfig{Name: fmt.Sprintf("cali%04d", i), Ifindex: 100 + i, Role: RoleWorkload, MTU: 1500, Down: true})
		a6 := netip.MustParseAddr("2001:db8:1::").As16()
		a6[14], a6[15] = byte(i>>8), byte(i)
		c.Endpoints = append(c.Endpoints, EndpointConfig{
			Name: fmt.Sprintf("wl%04d", i), Port: slot, MAC: [6]byte{0x02, 0x77, 0, 0, byte(i >> 8), byte(i)},
			Addrs:  []netip.Addr{netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), netip.AddrFrom16(a6)},
			Egress: egress,
		})
	}
	return c
}

// churnFrameSet returns the frames of the untouched flows: flow i comes in
// on port in[i] and leaves on port 1-in[i], from source port churnSport+i.
func churnFrameSet(b *testing.B) (frames [churnFlows][]byte, in [churnFlows]int) {
	for i := range churnFlows {
		s := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: uint16(churnSport + i), dport: 443, payload: make([]byte, 18)}
		if i >= churnFlows/2 {
			s.srcMAC, s.src, s.dst, in[i] = macW2, w2v4, w1v4, 1
		}
		if i%2 == 1 {
			s.src, s.dst = map[netip.Addr]netip.Addr{w1v4: w1v6, w2v4: w2v6}[s.src], map[netip.Addr]netip.Addr{w1v4: w1v6, w2v4: w2v6}[s.dst]
		}
		frames[i] = s.frame(b)
	}
	return frames, in
}

// churnFlow returns the flow of a frame the worker sent (-1: none of ours).
func churnFlow(f []byte) int {
	var off int
	switch {
	case len(f) >= pkt.EthernetLen+20+2 && f[12] == 0x08 && f[13] == 0x00:
		off = pkt.EthernetLen + int(f[pkt.EthernetLen]&0x0f)*4
	case len(f) >= pkt.EthernetLen+40+2 && f[12] == 0x86 && f[13] == 0xdd:
		off = pkt.EthernetLen + 40
	default:
		return -1
	}
	if len(f) < off+2 {
		return -1
	}
	i := int(binary.BigEndian.Uint16(f[off:])) - churnSport
	if i < 0 || i >= churnFlows {
		return -1
	}
	return i
}

// drainFlows is MemPort.Drain reading each frame in place (Drain's
// callback gets a copy, an allocation per packet): it counts each frame
// under its flow in got, or in *stray when it is not one of port's
// outgoing flows, and completes it. The draining goroutine only.
func drainFlows(p *MemPort, port int, in *[churnFlows]int, got *[churnFlows]uint64, stray *uint64) int {
	var d [64]xsk.Desc
	var addrs [64]uint64
	total := 0
	for {
		n := p.tx.consume(d[:])
		if n == 0 {
			return total
		}
		for i, x := range d[:n] {
			if fl := churnFlow(p.mem[x.Addr : x.Addr+uint64(x.Len)]); fl >= 0 && 1-in[fl] == port {
				got[fl]++
			} else {
				*stray++
			}
			addrs[i] = x.Addr
		}
		if p.comp.produce(addrs[:n]) != n {
			panic("drainFlows: completion ring overflow")
		}
		p.drained.Add(uint64(n))
		total += n
	}
}

// churnRig is one running worker, its wire and its control plane.
type churnRig struct {
	b      *testing.B
	ctx    context.Context
	mem    []byte
	w      *Worker
	tables atomic.Pointer[Tables]
	ports  [3]*MemPort // w1, w2, uplink
	egress *acl.Program

	// The wire goroutine's; read by others once it is done (wireDone).
	frames        [churnFlows][]byte
	in            [churnFlows]int
	injected, got [churnFlows]uint64
	stray         uint64
	delivered     atomic.Uint64 // untouched-flow packets drained so far
	wireStop      atomic.Bool
	wireDone      chan struct{}
	// The control goroutine's (it runs what arrives on ctl), read by
	// others after control returns.
	ctl                chan func()
	ctlClose           sync.Once
	pinned             bool // to cpus
	cpus               churnCPUs
	third              bool // slot 3 attached and published
	changes            int
	changeTime         time.Duration
	quietPkts, churnPk uint64
	quietT, churnT     time.Duration
}

func newChurnRig(b *testing.B) *churnRig {
	b.Helper()
	r := &churnRig{b: b, egress: churnProgram(b), wireDone: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	r.ctx = ctx
	tab, err := NewTables(churnConfig(false, r.egress))
	if err != nil {
		b.Fatalf("NewTables: %v", err)
	}
	r.tables.Store(tab)
	r.mem = make([]byte, churnFrames*churnFrameSize)
	for i := 0; i < len(r.mem); i += 4096 {
		r.mem[i] = 1 // fault it in now, as registering a UMEM does
	}
	ports := make([]Port, 3)
	for i := range r.ports {
		r.ports[i] = NewMemPort(r.mem, churnFrameSize, churnRing)
		ports[i] = r.ports[i]
	}
	cfg := WorkerConfig{Mem: r.mem, FrameSize: churnFrameSize, Ports: ports, Tables: &r.tables,
		Neighbours: &StaticNeighbours{Table: neigh.NewSnapshot(peerNeigh)}}
	r.pinned = runtime.NumCPU() >= 2
	r.cpus = churnCPUs{worker: 1, wire: 0, control: 0}
	if runtime.NumCPU() >= 3 {
		r.cpus.wire = 2
	}
	cfg.Pin, cfg.CPU = r.pinned, r.cpus.worker
	if r.w, err = NewWorker(cfg); err != nil {
		b.Fatalf("NewWorker: %v", err)
	}
	r.frames, r.in = churnFrameSet(b)
	if err = r.w.Start(); err != nil && r.pinned {
		b.Logf("not pinned: %v", err)
		r.pinned, r.w.cfg.Pin = false, false
		err = r.w.Start()
	}
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	r.ctl = make(chan func())
	go r.control()
	go r.wire()
	b.Cleanup(func() { // after a failure; a no-op after finish
		r.ctlClose.Do(func() { close(r.ctl) })
		r.stopWire()
		r.w.Stop(context.Background())
	})
	return r
}

// churnCPUs are where the rig's threads run when pinned: the worker on a
// CPU of its own, the wire on another when there are three, the control
// plane on CPU 0.
type churnCPUs struct{ worker, wire, control int }

// pin locks the calling goroutine to its thread and, when the rig is
// pinned, that thread to cpu. The lock is never undone: the thread ends
// with its goroutine instead of going back to the runtime pinned.
func (r *churnRig) pin(cpu int) {
	runtime.LockOSThread()
	if r.pinned {
		_ = pinCPU(cpu) // best effort: unpinned, it only shares the worker's CPU more
	}
}

// control is the daemon's loop: it runs what arrives on ctl, in order.
func (r *churnRig) control() {
	r.pin(r.cpus.control)
	for fn := range r.ctl {
		fn()
	}
}

// onControl runs fn on the control goroutine and waits for it.
func (r *churnRig) onControl(fn func() error) error {
	errc := make(chan error, 1)
	r.ctl <- func() { errc <- fn() }
	return <-errc
}

// wire injects the flows round-robin on their ports, as many as the fill
// rings take but at most churnBurst per port between two drains (so that
// a tx ring cannot fill while the wire is busy injecting), and drains
// every port. When a pass moved less than a batch the worker is behind:
// the wire naps instead of spinning, leaving its CPU to the control plane
// on a machine where they share one (the rx rings hold far more than a
// nap's worth of packets, so the worker never waits for it).
func (r *churnRig) wire() {
	defer close(r.wireDone)
	r.pin(r.cpus.wire)
	var next [2]int
	for !r.wireStop.Load() {
		moved := 0
		for port := range 2 {
			for range churnBurst {
				fl := port*churnFlows/2 + next[port]
				if !r.ports[port].Inject(r.frames[fl]) {
					break
				}
				r.injected[fl]++
				next[port] = (next[port] + 1) % (churnFlows / 2)
				moved++
			}
		}
		moved += r.drain()
		if moved < BatchSize {
			time.Sleep(churnWireNap)
		}
	}
}

// drain drains every port (the wire goroutine, or anyone once it is done).
func (r *churnRig) drain() int {
	n := 0
	for port, p := range r.ports {
		n += drainFlows(p, port, &r.in, &r.got, &r.stray)
	}
	var sum uint64
	for _, g := range r.got {
		sum += g
	}
	r.delivered.Store(sum)
	return n
}

func (r *churnRig) stopWire() {
	if r.wireStop.Swap(true) {
		return
	}
	<-r.wireDone
}

// change is one Apply of the daemon: the third endpoint comes or goes.
func (r *churnRig) change() error {
	start := time.Now()
	if !r.third {
		// Attach before publishing tables that route to the slot.
		if err := r.w.AttachPort(r.ctx, 3, NewMemPort(r.mem, churnFrameSize, churnRing)); err != nil {
			return fmt.Errorf("change %d: AttachPort: %w", r.changes, err)
		}
		t, err := NewTables(churnConfig(true, r.egress))
		if err != nil {
			return fmt.Errorf("change %d: NewTables: %w", r.changes, err)
		}
		r.tables.Store(t)
	} else {
		// Publish tables without the slot before detaching it.
		t, err := NewTables(churnConfig(false, r.egress))
		if err != nil {
			return fmt.Errorf("change %d: NewTables: %w", r.changes, err)
		}
		r.tables.Store(t)
		if err := r.w.DetachPort(r.ctx, 3, churnDrain); err != nil {
			return fmt.Errorf("change %d: DetachPort: %w", r.changes, err)
		}
	}
	r.third = !r.third
	r.changes++
	r.changeTime += time.Since(start)
	return nil
}

// phase runs one phase (with changes when churn) and one settling
// period after it, and adds the phase's packets and time to its kind.
// The control goroutine only.
func (r *churnRig) phase(churn bool) error {
	n0, t0 := r.delivered.Load(), time.Now()
	if churn {
		for k := range churnPhase / churnPeriod {
			time.Sleep(time.Until(t0.Add(k * churnPeriod)))
			if err := r.change(); err != nil {
				return err
			}
		}
	}
	time.Sleep(time.Until(t0.Add(churnPhase)))
	n, el := r.delivered.Load()-n0, time.Since(t0)
	if churn {
		r.churnPk, r.churnT = r.churnPk+n, r.churnT+el
	} else {
		r.quietPkts, r.quietT = r.quietPkts+n, r.quietT+el
	}
	time.Sleep(churnSettle)
	return nil
}

// finish stops everything, leaves the third slot empty, and checks that
// no frame and no packet of an untouched flow was lost.
func (r *churnRig) finish() {
	b := r.b
	if err := r.onControl(func() error {
		if !r.third {
			return nil
		}
		n, d := r.changes, r.changeTime
		defer func() { r.changes, r.changeTime = n, d }() // not one of the run's
		return r.change()
	}); err != nil {
		b.Fatal(err)
	}
	r.ctlClose.Do(func() { close(r.ctl) })
	r.stopWire()
	if err := r.w.Stop(r.ctx); err != nil {
		b.Fatalf("Stop: %v", err)
	}
	// The worker is ours now: run it until the rings are empty.
	for {
		r.drain()
		if r.w.Step() == 0 {
			break
		}
	}
	r.drain()
	r.w.Step() // completions back to the free stack

	for fl := range churnFlows {
		if r.injected[fl] != r.got[fl] || r.injected[fl] == 0 {
			b.Errorf("flow %d: injected %d, delivered %d", fl, r.injected[fl], r.got[fl])
		}
	}
	if r.stray != 0 {
		b.Errorf("%d frames out of a port that is not their flow's", r.stray)
	}
	if n := r.w.Lost(); n != 0 {
		b.Errorf("Lost() = %d frames, want 0", n)
	}
	onPorts := 0
	for _, p := range r.ports {
		p.Frames(func(uint64) { onPorts++ })
	}
	if total := r.w.FreeFrames() + onPorts; total != r.w.numFrames {
		b.Errorf("free %d + on ports %d = %d frames, want %d", r.w.FreeFrames(), onPorts, total, r.w.numFrames)
	}
	st := r.w.Stats()
	if d := st.Dropped(); d != 0 {
		b.Errorf("%d drops: %v", d, nonZero(st))
	}
	if b.Failed() {
		b.FailNow()
	}
}

func BenchmarkForwardDuringChanges(b *testing.B) {
	churnProgram(b)
	for _, tc := range []struct {
		name         string
		quiet, churn bool
	}{
		{"quiet", true, false},
		{"churn", false, true},
		{"interleaved", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(churnProcs, runtime.GOMAXPROCS(0))))
			r := newChurnRig(b)
			time.Sleep(churnWarmUp)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := r.onControl(func() error {
					if tc.quiet {
						if err := r.phase(false); err != nil {
							return err
						}
					}
					if tc.churn {
						return r.phase(true)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			r.finish()
			b.ReportMetric(0, "ns/op")
			pps := func(n uint64, d time.Duration) float64 { return float64(n) / d.Seconds() }
			if tc.churn {
				b.ReportMetric(float64(r.changes), "changes")
				b.ReportMetric(float64(r.changes)/r.churnT.Seconds(), "changes/s")
				b.ReportMetric(float64(r.changeTime.Microseconds())/1e3/float64(r.changes), "ctl-ms/change")
			}
			switch {
			case tc.quiet && tc.churn:
				q, c := pps(r.quietPkts, r.quietT), pps(r.churnPk, r.churnT)
				b.ReportMetric(q, "quiet-pkt/s")
				b.ReportMetric(c, "churn-pkt/s")
				b.ReportMetric(c/q, "churn/quiet")
			case tc.quiet:
				b.ReportMetric(pps(r.quietPkts, r.quietT), "pkt/s")
				b.ReportMetric(float64(r.quietT.Nanoseconds())/float64(r.quietPkts), "ns/pkt")
			default:
				b.ReportMetric(pps(r.churnPk, r.churnT), "pkt/s")
				b.ReportMetric(float64(r.churnT.Nanoseconds())/float64(r.churnPk), "ns/pkt")
			}
		})
	}
}
