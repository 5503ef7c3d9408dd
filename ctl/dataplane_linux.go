package ctl

// The data plane as the daemon runs it: one UMEM and one worker per core,
// made at start and kept for the daemon's life, and ports that come and
// go. Attaching a port loads the XDP program onto its interface, opens a
// socket per worker on the worker's queue of it, gives each worker its
// socket (fwd.Worker.AttachPort) and only then points the program's
// XSKMAP at the sockets. Detaching undoes it in the reverse order and
// gets every frame back (fwd.Worker.DetachPort). Only the daemon's loop
// calls these.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/nat"
)

// detachDrain bounds how long a detached port's queued transmissions get
// to leave before their frames are taken back off the ring.
const detachDrain = 100 * time.Millisecond

// dataplane is the fixed part: workers, their UMEMs, the neighbour cache
// of the uplinks, the connection table.
type dataplane struct {
	plan    *config.Plan // the dataplane settings it was made with
	pins    string       // this namespace's pin directory
	umems   []*xsk.Umem
	workers []*fwd.Worker
	neigh   *neigh.Cache
	nb      fwd.Neighbours
	cancel  context.CancelFunc
	st      stateful
	tap     *fwd.HostTAP // endpointToHost: accept's host interface (hostpath_linux.go)
	restore *nat.Restore // what the connection table's state file held; nil without conntrack
	// caps is where the daemon's loop publishes the running captures
	// (observe.go); every worker loads it once per round.
	caps atomic.Pointer[fwd.CaptureSet]
	// The kernel fast path (dataplane.fastPath); nil when off.
	fp        *bpf.FastPath
	off       *fwd.Offload
	offCancel context.CancelFunc
}

// startDataplane makes the UMEMs and workers of p and starts them with no
// ports; uplinks resolve neighbours through a cache on their interfaces.
func startDataplane(p *config.Plan, tables *fwdTablesPtr, uplinks []int, log *slog.Logger) (*dataplane, error) {
	dp := &dataplane{plan: p}
	pins, err := pinDir(p.PinPath)
	if err != nil {
		return nil, err
	}
	dp.pins = pins
	ok := false
	defer func() {
		if !ok {
			dp.stop(nil)
		}
	}()
	ncpu := onlineCPUs()
	for i, core := range p.Cores {
		if core >= ncpu {
			return nil, fmt.Errorf("dataplane.cores[%d]: CPU %d does not exist (this machine has CPUs 0-%d)", i, core, ncpu-1)
		}
	}
	st, restore, err := openStateful(p)
	if err != nil {
		return nil, err
	}
	dp.st, dp.restore = st, restore
	dp.nb = &fwd.StaticNeighbours{Table: neigh.NewSnapshot(nil)}
	if len(uplinks) > 0 {
		c, err := neigh.New(uplinks)
		if err != nil {
			return nil, err
		}
		dp.neigh = c
		cctx, cancel := context.WithCancel(context.Background())
		dp.cancel = cancel
		if err := c.Start(cctx); err != nil {
			return nil, fmt.Errorf("neighbour cache: %w", err)
		}
		dp.nb = c
	}
	if p.FastPathFlows > 0 {
		if dp.fp, err = bpf.NewFastPath(p.FastPathFlows); err != nil {
			return nil, fmt.Errorf("dataplane.fastPath: %w", err)
		}
		if dp.off, err = fwd.NewOffload(dp.fp, fwd.OffloadConfig{Tables: tables, Neighbours: dp.nb,
			Delivered: fwd.XDPDelivered, Log: log}); err != nil {
			return nil, fmt.Errorf("dataplane.fastPath: %w", err)
		}
		octx, cancel := context.WithCancel(context.Background())
		dp.offCancel = cancel
		go dp.off.Run(octx)
	}
	isolateWorkers(p.Cores)
	idle := fwd.IdlePoll
	if p.BusyPoll {
		idle = fwd.IdleBusy
	}
	held := p.HeldFragments
	if held == 0 {
		held = -1 // fwd's zero is its default
	}
	for wi, core := range p.Cores {
		umem, err := xsk.NewUmem(xsk.UmemConfig{NumFrames: p.Frames, FrameSize: p.FrameSize,
			FillSize: p.RingSize, CompletionSize: p.RingSize})
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", wi, err)
		}
		dp.umems = append(dp.umems, umem)
		w, err := fwd.NewWorker(fwd.WorkerConfig{
			Mem: umem.Mem(), FrameSize: p.FrameSize, Tables: tables,
			Neighbours: dp.nb, Pin: true, CPU: core, Idle: idle, HeldFragments: held,
			Index: wi, Captures: &dp.caps, Offload: dp.off,
		})
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", wi, err)
		}
		dp.workers = append(dp.workers, w)
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("dataplane.cores[%d]: %w", wi, err)
		}
	}
	ok = true
	return dp, nil
}

// stop stops the workers, closes what closeFirst closes (the ports'
// sockets and programs), then frees the UMEMs and the neighbour cache.
func (dp *dataplane) stop(closeFirst func() error) error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range dp.workers {
		if err := w.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// A worker still running may touch its frames: leave them.
		return errors.Join(errs...)
	}
	if closeFirst != nil {
		if err := closeFirst(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := dp.closeHost(); err != nil {
		errs = append(errs, err)
	}
	for _, u := range dp.umems {
		if err := u.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// The connection table stays mapped: its state file is the next
	// gannet's once this process exits (which releases its lock), and
	// an API read still walking the sessions must not lose the memory
	// under it.
	if dp.cancel != nil {
		dp.cancel()
	}
	if dp.offCancel != nil {
		dp.offCancel()
	}
	if dp.fp != nil {
		// The programs that used the maps are closed (closeFirst) or
		// left pinned, which keeps the maps alive in the kernel.
		if err := dp.fp.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if dp.neigh != nil {
		if err := dp.neigh.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	dp.umems, dp.workers, dp.neigh = nil, nil, nil
	return errors.Join(errs...)
}

// stats sums every worker's counters.
func (dp *dataplane) stats() fwd.Stats {
	var s fwd.Stats
	for _, w := range dp.workers {
		ws := w.Stats()
		s.Add(&ws)
	}
	return s
}

// attach brings port pt up on its interface li: program, sockets,
// workers, XSKMAP. On error everything it did is undone.
func (dp *dataplane) attach(pt *port, li *linkInfo) (err error) {
	p := dp.plan
	if li.queues < len(dp.workers) {
		return fmt.Errorf("interface %q has %d receive queues; %d workers need one each (ethtool -L, or numrxqueues when creating a veth)",
			pt.name, li.queues, len(dp.workers))
	}
	if pt.uplink && li.mac == ([6]byte{}) {
		return fmt.Errorf("interface %q is not Ethernet", pt.name)
	}
	host, err := hostAddrs()
	if err != nil {
		return err
	}
	noSock := bpf.NoSocketPass
	if p.NoSocketDrop {
		noSock = bpf.NoSocketDrop
	}
	role := bpf.RoleWorkload
	if pt.uplink {
		role = bpf.RoleUplink
	}
	prog, err := bpf.Load(bpf.Options{Role: role, NoSocket: noSock, HostAddrs: host, FastPath: dp.fp})
	if err != nil {
		return err
	}
	attached := 0
	var socks []*fwd.XSKPort
	defer func() {
		if err == nil {
			return
		}
		for wi := range socks {
			_ = prog.ClearSocket(wi)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for wi := range attached {
			_ = dp.workers[wi].DetachPort(ctx, pt.slot, 0)
		}
		for _, s := range socks[attached:] {
			s.Close()
		}
		prog.Close()
	}()
	mode := map[string]bpf.AttachMode{"auto": bpf.AttachAuto, "native": bpf.AttachNative, "generic": bpf.AttachGeneric}[p.XDPMode]
	got, adopted, err := prog.AttachPinned(li.index, mode, filepath.Join(dp.pins, pt.name))
	if err != nil {
		return explainAttach(pt.name, li.index, err)
	}
	pt.adopted = adopted
	xskMode := map[string]xsk.Mode{"auto": xsk.ModeAuto, "copy": xsk.ModeCopy, "zerocopy": xsk.ModeZeroCopy}[p.XSKMode]
	for wi := range dp.workers {
		sc := xsk.SocketConfig{Ifindex: li.index, Queue: wi, RxSize: p.RingSize, TxSize: p.RingSize, Mode: xskMode,
			BusyPollUsec: p.BusyPollUsec, BusyPollBudget: p.BusyPollBudget, PreferBusyPoll: p.PreferBusyPoll}
		s, err := fwd.NewXSKPort(dp.umems[wi], fwd.XSKPortConfig{Socket: sc})
		if err != nil {
			return fmt.Errorf("worker %d: queue %d: %w", wi, wi, err)
		}
		socks = append(socks, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for wi, w := range dp.workers {
		if err := w.AttachPort(ctx, pt.slot, socks[wi]); err != nil {
			return err
		}
		attached++
	}
	for wi, s := range socks {
		if err := prog.SetSocket(wi, s.FD()); err != nil {
			return err
		}
	}
	if dp.fp != nil {
		// Flows may leave by it only once its sockets are in place.
		if err := dp.off.AddEgress(li.index); err != nil {
			return err
		}
	}
	pt.ifindex = li.index
	pt.prog, pt.socks, pt.xdpMode = prog, socks, got.String()
	if len(socks) > 0 {
		pt.xskMode, pt.copying = socks[0].Mode().String(), !socks[0].Shared()
	}
	return nil
}

// detach takes port pt off its interface: no more frames reach its
// sockets, every worker lets go of it and gets its frames back, and the
// program comes off the interface (if the interface still exists).
func (dp *dataplane) detach(pt *port) error {
	if pt.prog == nil {
		return nil
	}
	var errs []error
	if dp.fp != nil && pt.ifindex > 0 {
		// No flow leaves by it from now on (an entry that still names
		// it goes to the pipeline, which has no route there either).
		if err := dp.off.RemoveEgress(pt.ifindex); err != nil {
			errs = append(errs, err)
		}
	}
	for wi := range pt.socks {
		if err := pt.prog.ClearSocket(wi); err != nil {
			errs = append(errs, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range dp.workers {
		if err := w.DetachPort(ctx, pt.slot, detachDrain); err != nil {
			errs = append(errs, err)
		}
	}
	if err := pt.prog.Close(); err != nil {
		errs = append(errs, err)
	}
	pt.prog, pt.socks = nil, nil
	return errors.Join(errs...)
}

// onlineCPUs is one more than the highest online CPU: the CPUs a worker may
// be pinned to, whatever affinity mask gannet itself was started with.
func onlineCPUs() int {
	n := runtime.NumCPU()
	if m, err := cpusOnline(); err == nil && m > n {
		return m
	}
	return n
}

// cpusOnline reads /sys/devices/system/cpu/online ("0-3,5").
func cpusOnline() (int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0, err
	}
	highest := -1
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		_, hi, _ := strings.Cut(r, "-")
		if hi == "" {
			hi = r
		}
		if n, err := strconv.Atoi(hi); err == nil && n > highest {
			highest = n
		}
	}
	if highest < 0 {
		return 0, errors.New("no online CPU listed")
	}
	return highest + 1, nil
}

// fwdTablesPtr is where the daemon publishes tables and workers read them.
type fwdTablesPtr = atomic.Pointer[fwd.Tables]

// explainAttach says what to do when a device already has an XDP program
// that is not gannet's.
func explainAttach(name string, ifindex int, err error) error {
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EEXIST) {
		return err
	}
	l, lerr := netlink.LinkByIndex(ifindex)
	if lerr != nil || l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached {
		return err
	}
	return fmt.Errorf("interface %s already has XDP program id %d attached, not through gannet's pins: remove it (ip link set dev %s xdp off; bpftool net detach xdp dev %s) or run gannet cleanup if an older gannet left it: %w",
		name, l.Attrs().Xdp.ProgId, name, name, err)
}

// isolateWorkers keeps gannet's own other threads (the control loop, the
// API, the Go runtime's) off the workers' cores when there are cores
// left: a change being compiled must not take a worker's CPU. Every
// thread that exists now gets the other cores; threads made later are
// made by one of them (Go starts new threads from a template thread, never
// from a locked worker) and inherit it; each worker then pins itself to
// its own core.
//
// It also fixes GOMAXPROCS at a P for every worker plus one for every
// other core. Left to itself the runtime re-reads GOMAXPROCS from its
// monitor thread's CPU affinity (Go 1.25+), which is now the other cores
// only: on a 2-CPU host it fell to 1, and the busy-polling worker shared
// its one P with the whole control plane — a full BGP table cut the
// forwarded rate by a quarter. An operator's GOMAXPROCS is left alone.
func isolateWorkers(cores []int) {
	var set unix.CPUSet
	set.Zero()
	n := onlineCPUs()
	for c := 0; c < n; c++ {
		set.Set(c)
	}
	for _, c := range cores {
		set.Clear(c)
	}
	if set.Count() == 0 {
		return // every core runs a worker: share them
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), len(cores)+set.Count()))
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetaffinity(tid, &set)
		}
	}
}
