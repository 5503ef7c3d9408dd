// Workers: one per core. Frames flow from the worker's free stack onto
// its ports' fill rings, come back on the rx rings in batches of up to
// BatchSize, go through the pipeline, leave on the tx rings, and return to
// the free stack from the completion rings (or at once when dropped).
// Every frame is always in exactly one of those places.

package fwd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// Clock gives the time; the worker reads it once per round. nat.ManualClock
// satisfies it for tests.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Neighbours is where a worker finds the MACs of uplink next hops. A
// *neigh.Cache satisfies it. Snapshot is called once per round; Miss once
// per round and unresolved address (it must not block).
type Neighbours interface {
	Snapshot() *neigh.Snapshot
	Miss(ifindex int, addr netip.Addr)
}

// StaticNeighbours serves a fixed snapshot (static configuration, tests);
// misses are counted, nothing resolves them.
type StaticNeighbours struct {
	Table  *neigh.Snapshot
	misses atomic.Uint64
}

// Snapshot implements Neighbours.
func (n *StaticNeighbours) Snapshot() *neigh.Snapshot { return n.Table }

// Miss implements Neighbours.
func (n *StaticNeighbours) Miss(int, netip.Addr) { n.misses.Add(1) }

// Misses returns how many misses were reported.
func (n *StaticNeighbours) Misses() uint64 { return n.misses.Load() }

// Idle is what a worker does when a round found nothing to receive.
type Idle uint8

const (
	// IdlePoll waits in poll(2) on the ports' descriptors (PollTimeout at
	// most) when every port has one, and naps for Nap otherwise.
	IdlePoll Idle = iota
	// IdleBusy goes straight to the next round: lowest latency, one core
	// at 100%.
	IdleBusy
)

// WorkerConfig describes one worker.
type WorkerConfig struct {
	// Mem is the worker's frame memory (an xsk.Umem's Mem() for real
	// ports), cut into frames of FrameSize bytes (a power of two > 256).
	Mem       []byte
	FrameSize int
	// Ports are the worker's queues, one per port of the tables, by
	// index (a port's index is its slot); a nil entry is an empty slot.
	// Ports share Mem. More come and go while the worker runs
	// (AttachPort, DetachPort).
	Ports []Port
	// MaxPorts bounds the slots, hence the tables' port indices; zero
	// means DefaultMaxPorts.
	MaxPorts int
	// Tables is where the control plane publishes snapshots; shared by
	// all workers. A nil pointer value means "no tables yet": every
	// frame is dropped as port-unknown.
	Tables *atomic.Pointer[Tables]
	// Neighbours resolves uplink next hops; nil means none are known.
	Neighbours Neighbours
	// Clock defaults to the wall clock.
	Clock Clock
	// Pin locks the worker's goroutine to CPU when started.
	Pin         bool
	CPU         int
	Idle        Idle
	PollTimeout time.Duration // default 10ms
	Nap         time.Duration // default 50µs
	// FillTarget is how many frames each port keeps on its fill ring;
	// zero means by demand: a port starts with fillStart and doubles its
	// target whenever a visit finds a full batch waiting, up to an equal
	// share of half the frames.
	FillTarget int
	// Index is the worker's position among the workers sharing the
	// tables: the row of rule-hit counters (RuleHits) and the ring of
	// every capture (CaptureConfig.Workers) it writes. Workers that share
	// tables must have distinct indices from 0 up.
	Index int
	// Captures is where the control plane publishes the running
	// captures (shared by all workers); nil: captures are off for good.
	Captures *atomic.Pointer[CaptureSet]
	// Offload, when set, receives the worker's decisions about
	// established flows for the kernel fast path (fastpath.go).
	Offload *Offload
	// HeldFragments is how many later fragments that overtake their
	// datagram's first fragment the worker keeps (a copy of one frame
	// each) until the first comes, with a connection table (RFC 4787
	// REQ-14); zero means DefaultHeldFragments, negative means none:
	// such fragments are dropped (nat fragment-no-state). A new flow's
	// later fragments in the batch of its first fragment are among them:
	// the batch is tracked before Commit creates the flow.
	HeldFragments int
}

// DefaultHeldFragments is WorkerConfig.HeldFragments when it is zero.
const DefaultHeldFragments = 64

// DefaultMaxPorts is WorkerConfig.MaxPorts when it is zero.
const DefaultMaxPorts = 4096

// Worker owns frame memory, a free-frame stack and one queue per port,
// and runs the pipeline over them. Methods other than Stats, Start and
// Stop belong to the goroutine running it.
type Worker struct {
	mem       []byte
	frameSize int
	numFrames int
	free      *xsk.FrameStack
	tables    *atomic.Pointer[Tables]
	neigh     Neighbours
	clock     Clock
	cfg       WorkerConfig
	fillShare int // the most frames a port's fill ring is given

	// Ports by slot (nil: empty) and the slots in use, in order. Only
	// the worker's goroutine changes them (ports.go).
	ports   []Port
	active  []int
	fillOut []int // by slot: frames on the port's fill ring (given, not yet received)
	// fillT is by slot the port's fill target. It grows with demand
	// and only starts small, because frames on a fill ring cannot be
	// taken back: an idle port parks them until it receives. Targets
	// that started at an equal share and shrank as ports came parked
	// more frames than exist on idle ports, and the newest ports got none.
	fillT   []int
	txOutP  []int // by slot: frames on the port's tx ring, not yet completed
	fds     []int32
	portC   []portCounters  // by slot, private
	portPub []portPublished // by slot, published
	// txOut counts frames handed to ports' tx rings and not yet
	// completed; completed is how many came back in the last round. A
	// worker with frames in flight does not sleep in poll(): on a
	// copy-mode socket the kernel sends only while the worker kicks it,
	// and the frames stuck on a tx ring are the ones the fill ring lacks.
	txOut     int
	completed int

	// Control operations (AttachPort, DetachPort) run on the worker's
	// goroutine at the start of a round; opsPending is the one load the
	// round pays when there are none.
	opMu       sync.Mutex
	ops        []func()
	opsPending atomic.Bool
	lost       atomic.Uint64 // frames a detached port did not give back

	// Per round.
	nsnap      *neigh.Snapshot
	nowNs      int64
	nw         *nat.Worker
	natTable   *nat.Table
	missed     bool
	lastMissIf int
	lastMiss   netip.Addr

	icmpTokens, icmpLast int64
	rx                   [BatchSize]xsk.Desc
	sums                 [BatchSize]pkt.Summary
	addrs                [BatchSize]uint64
	txq                  []txQueue
	xp                   xlat.Packet
	key                  acl.PacketKey
	key2                 acl.PacketKey // the key as the destination sees a DNATed flow
	hkey                 acl.PacketKey // the key as an uplink's host endpoint sees the packet leave
	dnat                 dnatTarget
	c                    counters
	pub                  published

	// The packet in flight when it is several frames (frag.go): its
	// extra fragments, the frames lent to the translator, and scratch.
	frags    [maxFragments]fragFrame
	nfrags   int
	lent     [maxFragments + 1]uint64
	fragBufs [maxFragments + 1][]byte
	nlent    int
	fragHdr  [60]byte
	fragSum  pkt.Summary
	errSum   pkt.Summary // natTooBig's error, as nat is given it

	// A batch between the stages before conntrack and nat.TrackBatch.
	views   [BatchSize]view
	tframes [BatchSize][]byte
	tsums   [BatchSize]*pkt.Summary
	tspaces [BatchSize]uint16
	tres    [BatchSize]nat.Result

	// Frames for the host (hostpath.go), handed over at the end of the
	// batch.
	hostq    [BatchSize]hostFrame
	hostBufs [BatchSize][]byte
	nhost    int

	// Fragments nat released this round (nat.Worker.Released) are
	// sent after the batch that released them; nrel of them are sent.
	holdSlots int // HoldFragments slots of every nat handle; 0: off
	nrel      int
	relSum    pkt.Summary

	natMu sync.Mutex    // guards natws against Stats
	natws []*nat.Worker // every nat handle this worker used, for counters

	running atomic.Bool
	stop    atomic.Bool
	done    chan struct{}

	// What the control plane sees (rulehits.go, policylog.go,
	// capture.go); last, so the pipeline's own fields keep their places.
	logTokens, logLast int64
	logRate            int // this round's tables' PolicyLogRate

	touched  [maxTouched]hitRef // rule-hit counters counted this round (rulehits.go)
	ntouched int

	plog *spsc[PolicyLog] // policy log records for the control plane

	// The fast path (fastpath.go): nil off without an Offload.
	off     *Offload
	fq      *spsc[fastInstall]
	fgen    uint32 // the generation read before this round's tables
	fepoch  uint32 // the Offload's eviction count this round
	frecent [fastRecentSlots]fastRecent
	caps    *CaptureSet // this round's captures; nil: none
	capSum  pkt.Summary // a captured frame parsed for its filter
}

type txQueue struct {
	d [BatchSize]xsk.Desc
	n int
}

var empty, _ = NewTables(Config{})

// NewWorker checks cfg and returns a worker with every frame on its free
// stack.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	fs := cfg.FrameSize
	if fs <= RxHeadroom || fs&(fs-1) != 0 {
		return nil, fmt.Errorf("fwd: WorkerConfig.FrameSize: %d is not a power of two above %d", fs, RxHeadroom)
	}
	n := len(cfg.Mem) / fs
	if n < 1 {
		return nil, fmt.Errorf("fwd: WorkerConfig.Mem: %d bytes hold no %d-byte frame", len(cfg.Mem), fs)
	}
	if cfg.MaxPorts == 0 {
		cfg.MaxPorts = DefaultMaxPorts
	}
	if cfg.MaxPorts < 0 || cfg.MaxPorts > 1<<16 {
		return nil, fmt.Errorf("fwd: WorkerConfig.MaxPorts: %d out of range 1-65536", cfg.MaxPorts)
	}
	if len(cfg.Ports) > cfg.MaxPorts {
		return nil, fmt.Errorf("fwd: WorkerConfig.Ports: %d ports, more than MaxPorts (%d)", len(cfg.Ports), cfg.MaxPorts)
	}
	if cfg.Tables == nil {
		return nil, errors.New("fwd: WorkerConfig.Tables: nil")
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 10 * time.Millisecond
	}
	if cfg.Nap <= 0 {
		cfg.Nap = 50 * time.Microsecond
	}
	w := &Worker{
		mem: cfg.Mem[:n*fs], frameSize: fs, numFrames: n,
		free:    xsk.NewFrameStack(n),
		tables:  cfg.Tables,
		neigh:   cfg.Neighbours,
		clock:   cfg.Clock,
		cfg:     cfg,
		portPub: make([]portPublished, cfg.MaxPorts),
		plog:    newSPSC[PolicyLog](policyLogSlots),
	}
	if cfg.Index < 0 {
		return nil, fmt.Errorf("fwd: WorkerConfig.Index: %d", cfg.Index)
	}
	switch {
	case cfg.HeldFragments == 0:
		w.holdSlots = DefaultHeldFragments
	case cfg.HeldFragments > nat.MaxHoldSlots:
		return nil, fmt.Errorf("fwd: WorkerConfig.HeldFragments: %d out of range (at most %d)", cfg.HeldFragments, nat.MaxHoldSlots)
	case cfg.HeldFragments > 0:
		w.holdSlots = cfg.HeldFragments
	}
	if cfg.Offload != nil {
		w.off, w.fq = cfg.Offload, cfg.Offload.register()
	}
	for i := n - 1; i >= 0; i-- {
		w.free.Push(uint64(i * fs))
	}
	for slot, p := range cfg.Ports {
		if p != nil {
			w.attach(slot, p)
		}
	}
	w.nowNs = w.clock.Now().UnixNano()
	w.icmpLast, w.icmpTokens = w.nowNs, icmpBurst
	w.logLast, w.logTokens = w.nowNs, logBurst
	return w, nil
}

// Step runs one round: for each port, take back completed frames, receive
// a batch and run it through the pipeline, top up the fill ring, then
// publish the counters. It returns the number of frames received. Tests
// and single-threaded drivers call it directly; Start calls it in a loop.
func (w *Worker) Step() int {
	if w.opsPending.Load() {
		w.runOps()
	}
	// The generation before the tables: a decision of this round is
	// never tagged newer than the tables it was made under (fastpath.go).
	if w.off != nil {
		w.fgen, w.fepoch = w.off.gen.Load(), w.off.evicted.Load()
	}
	// After the operations: a port is detached only once tables that no
	// longer route to it are published, and this load sees them.
	t := w.tables.Load()
	if t == nil {
		t = empty
	}
	if w.neigh != nil {
		w.nsnap = w.neigh.Snapshot()
	}
	w.missed = false
	w.nowNs = w.clock.Now().UnixNano()
	if w.cfg.Captures != nil {
		w.caps = w.cfg.Captures.Load() // all captures cost when none runs
	}
	w.refill()
	w.logRate = t.logRate
	w.nw = nil
	if t.nat != nil {
		w.nw = w.natWorker(t)
		w.nw.BeginBatchWith(t.natPolicy)
		w.nrel = 0
	}
	mask := ^uint64(w.frameSize - 1)
	got := 0
	w.completed = 0
	for _, pi := range w.active {
		p := w.ports[pi]
		for {
			n := p.Complete(w.addrs[:])
			w.completed += n
			w.txOut -= n
			w.txOutP[pi] -= n
			for _, a := range w.addrs[:n] {
				w.free.Push(a & mask)
			}
			if n < len(w.addrs) {
				break
			}
		}
		if n := p.Receive(w.rx[:]); n > 0 {
			if n == len(w.rx) && w.fillT[pi] < w.fillShare {
				// A full batch: more wait behind it, the port is
				// busy and its ring may run dry between visits.
				w.fillT[pi] = min(2*w.fillT[pi], w.fillShare)
			}
			w.fillOut[pi] -= n
			w.c.rx += uint64(n)
			pc := &w.portC[pi]
			pc.rx += uint64(n)
			for _, d := range w.rx[:n] {
				pc.rxBytes += uint64(d.Len)
			}
			if w.caps != nil {
				w.capture(pi, DirRx, w.rx[:n])
			}
			got += n
			w.process(t, pi, w.rx[:n])
		}
		// Top up after the batch, so that the ring is full while the
		// worker is elsewhere and the batch's dropped frames are reused.
		for want := w.fillT[pi] - w.fillOut[pi]; want > 0; {
			k := w.free.PopBatch(w.addrs[:min(want, len(w.addrs))])
			m := p.Fill(w.addrs[:k])
			w.free.PushBatch(w.addrs[m:k])
			w.fillOut[pi] += m
			want -= m
			if m < len(w.addrs) {
				break
			}
		}
	}
	if w.nw != nil && len(w.nw.Released()) > w.nrel {
		// Released by BeginBatch (another worker forwarded their
		// first fragment) with no batch of ours to follow.
		w.sendReleased(t)
		w.flush()
	}
	w.c.batches++
	if w.ntouched > 0 {
		w.publishHits()
	}
	w.pub.publish(&w.c)
	for _, pi := range w.active {
		w.portPub[pi].publish(&w.portC[pi])
	}
	return got
}

// natWorker returns the nat handle for t's table, making a new one when
// the control plane published a different table.
func (w *Worker) natWorker(t *Tables) *nat.Worker {
	if w.natTable != t.nat {
		nw := t.nat.NewWorker()
		if w.holdSlots > 0 {
			// Cannot fail: NewWorker checked the slots, a frame size is
			// a power of two above 256, and a new handle holds nothing.
			// Were it to, fragments would be dropped as without holding.
			_ = nw.HoldFragments(w.holdSlots, min(w.frameSize, 1<<16))
		}
		w.natMu.Lock()
		w.natws = append(w.natws, nw)
		w.natMu.Unlock()
		w.natTable = t.nat
		return nw
	}
	return w.natws[len(w.natws)-1]
}

// drop frees the frame and counts r.
func (w *Worker) drop(chunk uint64, r Reason) {
	w.c.drops[r]++
	w.free.Push(chunk)
}

// enqueue puts a frame on port's tx queue for the end of the batch. A
// batch can send more frames than it received (fragments): a full queue
// is handed to its port at once.
func (w *Worker) enqueue(port int, d xsk.Desc) {
	q := &w.txq[port]
	if q.n == len(q.d) {
		w.flushPort(port)
	}
	q.d[q.n] = d
	q.n++
}

// flush hands every tx queue to its port.
func (w *Worker) flush() {
	for pi := range w.txq {
		if w.txq[pi].n != 0 {
			w.flushPort(pi)
		}
	}
}

// flushPort hands port pi's tx queue to the port; what a full ring
// refuses is dropped.
func (w *Worker) flushPort(pi int) {
	mask := ^uint64(w.frameSize - 1)
	q := &w.txq[pi]
	p := w.ports[pi]
	if p == nil {
		// Routed to a slot the worker has no port in (the tables and
		// the worker's ports disagree for a moment while a port comes
		// or goes).
		for _, d := range q.d[:q.n] {
			w.drop(d.Addr&mask, ReasonNoPort)
		}
		q.n = 0
		return
	}
	k := p.Transmit(q.d[:q.n])
	pc := &w.portC[pi]
	for _, d := range q.d[:k] {
		w.c.txBytes += uint64(d.Len)
		pc.txBytes += uint64(d.Len)
	}
	w.c.tx += uint64(k)
	pc.tx += uint64(k)
	if w.caps != nil {
		// The frames are the kernel's to send now, but not to change:
		// they come back to this worker only through completion.
		w.capture(pi, DirTx, q.d[:k])
	}
	w.txOut += k
	w.txOutP[pi] += k
	for _, d := range q.d[k:q.n] {
		w.drop(d.Addr&mask, ReasonTxFull)
	}
	q.n = 0
}

// Stats returns the worker's counters as last published (any goroutine).
func (w *Worker) Stats() Stats {
	var s Stats
	w.pub.read(&s)
	w.natMu.Lock()
	for _, nw := range w.natws {
		for r := range s.NAT {
			s.NAT[r] += nw.Drops(nat.Reason(r))
		}
		s.NATCreated += nw.Created()
	}
	w.natMu.Unlock()
	return s
}

// Start runs the worker on its own goroutine, locked to an OS thread and,
// with Pin, to its CPU. It returns once the goroutine runs (or failed to
// pin).
func (w *Worker) Start() error {
	w.opMu.Lock()
	if !w.running.CompareAndSwap(false, true) {
		w.opMu.Unlock()
		return errors.New("fwd: worker already started")
	}
	w.stop.Store(false)
	w.done = make(chan struct{})
	done := w.done
	w.opMu.Unlock()
	started := make(chan error, 1)
	go func() {
		defer close(done)
		// Operations queued while the worker stops run here, before
		// done says the worker is gone.
		defer w.runOps()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if w.cfg.Pin {
			if err := pinCPU(w.cfg.CPU); err != nil {
				started <- fmt.Errorf("fwd: pin worker to CPU %d: %w", w.cfg.CPU, err)
				return
			}
		}
		started <- nil
		w.loop()
	}()
	if err := <-started; err != nil {
		<-done
		w.running.Store(false)
		return err
	}
	return nil
}

// maxStalledRounds is how many rounds in a row a worker with frames in
// flight spins without a completion before it waits like an idle one.
const maxStalledRounds = 1 << 14

func (w *Worker) loop() {
	stalled := 0
	for !w.stop.Load() {
		if w.Step() > 0 || w.cfg.Idle == IdleBusy {
			stalled = 0
			continue
		}
		// Frames still on their way out: keep completing (and so kicking
		// the kernel) while they drain. A sleep here, even a short one,
		// costs a millisecond and starves the fill rings; only when the
		// frames stop moving for a while (a dead link) does the worker
		// fall back to waiting.
		if w.txOut > 0 && stalled < maxStalledRounds {
			if w.completed > 0 {
				stalled = 0
			} else {
				stalled++
			}
			continue
		}
		stalled = 0
		if w.opsPending.Load() {
			continue
		}
		if w.fds != nil {
			pollIn(w.fds, w.cfg.PollTimeout)
		} else {
			time.Sleep(w.cfg.Nap)
		}
	}
}

// Stop asks the worker to finish its round and waits until its goroutine
// has exited, or ctx ends. After it returns nil the caller may close the
// ports and free the frame memory.
func (w *Worker) Stop(ctx context.Context) error {
	if !w.running.Load() {
		return nil
	}
	w.stop.Store(true)
	w.opMu.Lock()
	done := w.done
	w.opMu.Unlock()
	select {
	case <-done:
		w.running.Store(false)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fwd: stop worker: %w", ctx.Err())
	}
}
