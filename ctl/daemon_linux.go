package ctl

// The daemon: a validated Plan is brought up in a fixed order — resolve
// interfaces, build tables, load and attach the XDP program per interface,
// create each worker's UMEM and its socket on every port, start the
// neighbour cache and the workers — and torn down in the reverse order.
// A failure at any step undoes the steps before it, so a daemon that did
// not start leaves no program attached and no socket open.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// RunOptions tune Run.
type RunOptions struct {
	// Log receives the startup report, periodic counters and the final
	// counters.
	Log io.Writer
	// StatsInterval prints a counters line this often; 0: only at exit.
	StatsInterval time.Duration
}

// Check resolves every interface the plan names, as Run would before
// attaching anything, and builds the tables; it changes nothing.
func Check(p *Plan) error {
	links, err := resolveLinks(p)
	if err != nil {
		return err
	}
	st, err := newStateful(p)
	if err != nil {
		return err
	}
	_, err = fwd.NewTables(fwdConfig(p, links, make([][]netip.Addr, len(links)), st))
	return err
}

// daemon is one running data plane.
type daemon struct {
	plan    *Plan
	log     io.Writer
	links   []link
	tables  atomic.Pointer[fwd.Tables]
	progs   []*bpf.Program
	umems   []*xsk.Umem
	ports   [][]*fwd.XSKPort // [worker][port]
	workers []*fwd.Worker
	neigh   *neigh.Cache
	cancel  context.CancelFunc
	// kernelLines are the kernel-side counters taken just before stop
	// closes the sockets and programs.
	kernelLines []string
}

// Run brings the plan up, forwards until ctx ends, then stops everything
// and prints the final counters. A startup error leaves nothing attached.
func Run(ctx context.Context, p *Plan, opts RunOptions) error {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	d := &daemon{plan: p, log: opts.Log}
	if err := d.start(ctx); err != nil {
		d.stop()
		return err
	}
	fmt.Fprintf(d.log, "gannet: forwarding: %s\n", d.summary())
	var tick <-chan time.Time
	if opts.StatsInterval > 0 {
		t := time.NewTicker(opts.StatsInterval)
		defer t.Stop()
		tick = t.C
	}
	var last fwd.Stats
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.log, "gannet: stopping")
			err := d.stop()
			d.printCounters()
			if err != nil {
				return err
			}
			fmt.Fprintln(d.log, "gannet: stopped")
			return nil
		case <-tick:
			s := d.stats()
			fmt.Fprintf(d.log, "gannet: rx %d tx %d forwarded %d dropped %d\n",
				s.RxPackets-last.RxPackets, s.TxPackets-last.TxPackets, s.Forwarded-last.Forwarded, s.Dropped()-last.Dropped())
			last = s
		}
	}
}

func (d *daemon) start(ctx context.Context) error {
	p := d.plan
	links, err := resolveLinks(p)
	if err != nil {
		return err
	}
	d.links = links
	for _, l := range links {
		if l.down {
			fmt.Fprintf(d.log, "gannet: warning: %s: interface %s is down\n", l.field, l.name)
		}
	}
	host, err := hostAddrs()
	if err != nil {
		return err
	}
	linkAddrs, err := perLinkAddrs(links)
	if err != nil {
		return err
	}
	st, err := newStateful(p)
	if err != nil {
		return err
	}
	t, err := fwd.NewTables(fwdConfig(p, links, linkAddrs, st))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	d.tables.Store(t)

	// One XDP program per interface; sockets are bound before any worker
	// runs, and frames for a queue without a socket follow noSocket.
	noSock := bpf.NoSocketPass
	if p.NoSocketDrop {
		noSock = bpf.NoSocketDrop
	}
	attach := map[string]bpf.AttachMode{"auto": bpf.AttachAuto, "native": bpf.AttachNative, "generic": bpf.AttachGeneric}[p.XDPMode]
	for _, l := range links {
		role := bpf.RoleWorkload
		if l.uplink {
			role = bpf.RoleUplink
		}
		prog, err := bpf.Load(bpf.Options{Role: role, NoSocket: noSock, HostAddrs: host})
		if err != nil {
			return fmt.Errorf("%s: %w", l.field, err)
		}
		d.progs = append(d.progs, prog)
		if _, err := prog.Attach(l.index, attach); err != nil {
			return fmt.Errorf("%s: %w", l.field, err)
		}
	}

	// Neighbours of uplink next hops come from the kernel.
	var uplinks []int
	for _, l := range links {
		if l.uplink {
			uplinks = append(uplinks, l.index)
		}
	}
	var nb fwd.Neighbours = &fwd.StaticNeighbours{Table: neigh.NewSnapshot(nil)}
	if len(uplinks) > 0 {
		c, err := neigh.New(uplinks)
		if err != nil {
			return err
		}
		d.neigh = c
		cctx, cancel := context.WithCancel(context.Background())
		d.cancel = cancel
		if err := c.Start(cctx); err != nil {
			return fmt.Errorf("neighbour cache: %w", err)
		}
		nb = c
	}

	xskMode := map[string]xsk.Mode{"auto": xsk.ModeAuto, "copy": xsk.ModeCopy, "zerocopy": xsk.ModeZeroCopy}[p.XSKMode]
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
			return fmt.Errorf("worker %d: %w", wi, err)
		}
		d.umems = append(d.umems, umem)
		var ports []*fwd.XSKPort
		d.ports = append(d.ports, nil)
		for li, l := range links {
			sc := xsk.SocketConfig{Ifindex: l.index, Queue: wi, RxSize: p.RingSize, TxSize: p.RingSize, Mode: xskMode,
				BusyPollUsec: p.BusyPollUsec, BusyPollBudget: p.BusyPollBudget, PreferBusyPoll: p.PreferBusyPoll}
			port, err := fwd.NewXSKPort(umem, fwd.XSKPortConfig{Socket: sc})
			if err != nil {
				return fmt.Errorf("%s: worker %d: queue %d: %w", l.field, wi, wi, err)
			}
			ports = append(ports, port)
			d.ports[wi] = ports
			if err := d.progs[li].SetSocket(wi, port.FD()); err != nil {
				return fmt.Errorf("%s: %w", l.field, err)
			}
		}
		fp := make([]fwd.Port, len(ports))
		for i := range ports {
			fp[i] = ports[i]
		}
		w, err := fwd.NewWorker(fwd.WorkerConfig{
			Mem: umem.Mem(), FrameSize: p.FrameSize, Ports: fp, Tables: &d.tables,
			Neighbours: nb, Pin: true, CPU: core, Idle: idle, HeldFragments: held,
		})
		if err != nil {
			return fmt.Errorf("worker %d: %w", wi, err)
		}
		d.workers = append(d.workers, w)
	}
	for i, w := range d.workers {
		if err := w.Start(); err != nil {
			return fmt.Errorf("dataplane.cores[%d]: %w", i, err)
		}
	}
	_ = ctx
	return nil
}

// stop undoes start, whatever step it reached: workers first (they use
// the sockets), then sockets, programs (detaching them), UMEMs and the
// neighbour cache.
func (d *daemon) stop() error {
	var errs []error
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range d.workers {
		if err := w.Stop(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// A worker still running may touch its sockets and frames:
		// leave them rather than free memory under it.
		return errors.Join(errs...)
	}
	d.kernelLines = d.kernelCounters()
	for wi, ports := range d.ports {
		for li, port := range ports {
			if li < len(d.progs) {
				_ = d.progs[li].ClearSocket(wi)
			}
			if err := port.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i, prog := range d.progs {
		if err := prog.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.links[i].field, err))
		}
	}
	for _, u := range d.umems {
		if err := u.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.cancel != nil {
		d.cancel()
	}
	if d.neigh != nil {
		if err := d.neigh.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.ports, d.progs, d.umems, d.neigh = nil, nil, nil, nil
	return errors.Join(errs...)
}

// kernelCounters records what the kernel side saw — the XDP program's
// decisions and the sockets' XDP_STATISTICS, per interface and summed over
// workers — while programs and sockets are still open.
func (d *daemon) kernelCounters() []string {
	var rest []string
	for li, l := range d.links {
		if li < len(d.progs) {
			if ps, err := d.progs[li].Stats(); err == nil {
				for _, c := range []struct {
					name string
					n    uint64
				}{{"redirected", ps.Redirected}, {"pass-host", ps.PassHost}, {"pass-arp", ps.PassARP},
					{"pass-ndp", ps.PassNDP}, {"pass-link-local", ps.PassLinkLocal}, {"pass-multicast", ps.PassMulticast},
					{"pass-other-proto", ps.PassOtherProto}, {"pass-no-socket", ps.PassNoSocket},
					{"drop-no-socket", ps.DropNoSocket}, {"drop-malformed", ps.DropMalformed}} {
					if c.n > 0 {
						rest = append(rest, fmt.Sprintf("xdp/%s/%s %d", l.name, c.name, c.n))
					}
				}
			}
		}
		var xs xsk.Stats
		for _, ports := range d.ports {
			if li < len(ports) {
				if st, err := ports[li].Stats(); err == nil {
					xs.RxDropped += st.RxDropped
					xs.RxInvalidDescs += st.RxInvalidDescs
					xs.TxInvalidDescs += st.TxInvalidDescs
					xs.RxRingFull += st.RxRingFull
					xs.RxFillRingEmptyDescs += st.RxFillRingEmptyDescs
					xs.TxRingEmptyDescs += st.TxRingEmptyDescs
				}
			}
		}
		for _, c := range []struct {
			name string
			n    uint64
		}{{"rx-dropped", xs.RxDropped}, {"rx-invalid", xs.RxInvalidDescs}, {"tx-invalid", xs.TxInvalidDescs},
			{"rx-ring-full", xs.RxRingFull}, {"fill-ring-empty", xs.RxFillRingEmptyDescs}, {"tx-ring-empty", xs.TxRingEmptyDescs}} {
			if c.n > 0 {
				rest = append(rest, fmt.Sprintf("xsk/%s/%s %d", l.name, c.name, c.n))
			}
		}
	}
	return rest
}

// summary is the startup line: ports, their XDP and socket modes, workers.
func (d *daemon) summary() string {
	var b strings.Builder
	for i, l := range d.links {
		if i > 0 {
			b.WriteString(", ")
		}
		role := "workload"
		if l.uplink {
			role = "uplink"
		}
		_, mode, _ := d.progs[i].Attached()
		fmt.Fprintf(&b, "%s (%s, xdp %v, xsk %v", l.name, role, mode, d.ports[0][i].Mode())
		if !d.ports[0][i].Shared() {
			b.WriteString(", copying")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; %d worker(s) on CPU %v", len(d.workers), d.plan.Cores)
	return b.String()
}

// stats sums every worker's published counters.
func (d *daemon) stats() fwd.Stats {
	var s fwd.Stats
	for _, w := range d.workers {
		ws := w.Stats()
		s.Add(&ws)
	}
	return s
}

// printCounters writes the final counters, one "name value" per line,
// non-zero ones only, in a stable order.
func (d *daemon) printCounters() {
	s := d.stats()
	lines := []string{
		fmt.Sprintf("rx %d", s.RxPackets),
		fmt.Sprintf("tx %d", s.TxPackets),
		fmt.Sprintf("forwarded %d", s.Forwarded),
	}
	var rest []string
	// Held fragments are neither forwarded nor dropped when held; each
	// released one has an outcome of its own.
	if s.Held > 0 {
		rest = append(rest, fmt.Sprintf("held/conntrack/fragments %d", s.Held))
	}
	if s.Released > 0 {
		rest = append(rest, fmt.Sprintf("released/conntrack/fragments %d", s.Released))
	}
	for r := fwd.Reason(1); r < fwd.NumReasons; r++ {
		kind := "drop"
		if r.Answered() {
			kind = "answered"
		}
		if n := s.Drops[r]; n > 0 {
			rest = append(rest, fmt.Sprintf("%s/%s/%s %d", kind, r.Stage(), r, n))
		}
	}
	for r := range s.Parse {
		if n := s.Parse[r]; n > 0 {
			rest = append(rest, fmt.Sprintf("parse/%s %d", pkt.Reason(r), n))
		}
	}
	for r := range s.NAT {
		if n := s.NAT[r]; n > 0 {
			rest = append(rest, fmt.Sprintf("nat/%s %d", nat.Reason(r), n))
		}
	}
	for r := range s.Xlat {
		if n := s.Xlat[r]; n > 0 {
			rest = append(rest, fmt.Sprintf("xlat/%s %d", xlat.Reason(r), n))
		}
	}
	icmpNames := [fwd.NumICMP]string{fwd.ICMPSent: "sent", fwd.ICMPRateLimited: "rate-limited",
		fwd.ICMPRefused: "refused", fwd.ICMPNoSource: "no-source"}
	for i := range s.ICMP {
		if n := s.ICMP[i]; n > 0 {
			rest = append(rest, fmt.Sprintf("icmp/%s %d", icmpNames[i], n))
		}
	}
	rest = append(rest, d.kernelLines...)
	sort.Strings(rest)
	fmt.Fprintln(d.log, "gannet: counters:")
	for _, l := range append(lines, rest...) {
		fmt.Fprintf(d.log, "  %s\n", l)
	}
}

// perLinkAddrs lists each link's own addresses (ICMP error sources).
func perLinkAddrs(links []link) ([][]netip.Addr, error) {
	out := make([][]netip.Addr, len(links))
	for i, l := range links {
		addrs, err := linkAddrs(l.index)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.field, err)
		}
		out[i] = addrs
	}
	return out, nil
}
