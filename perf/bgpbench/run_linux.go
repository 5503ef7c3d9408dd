// The run: one topology in network namespaces, one feeder, the two
// receivers measured one after the other (never at once: they would share
// the CPUs), then gannet once more with a stream of established traffic
// through it.
//
//	[gen] g <--> di [gannet] do <--> s [sink]        the established stream
//	                [gannet] gu <--> fg [feeder] fb <--> bf [bird]
//
// The feeder is gobgpd with the table loaded from an MRT file and four
// sessions (IPv4 and IPv6 to each receiver), administratively down until
// a phase enables its receiver's two. A phase times the sessions coming
// up, then every route forwarding (gannet: the daemon's count of learned
// routes in its tables; BIRD: the kernel's own route counts,
// /proc/PID/net/fib_triestat and rt6_stats), then, after the feeder shuts
// both sessions, every route gone.

package bgpbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/lab/namespace"
	"github.com/gannet-net/gannet/perf/forward"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

// Options configure a run.
type Options struct {
	Gannet string // the gannet binary: `gannet run` is the receiver, `gannet pktgen` the stream
	// Prefixes is the table (default: lpmbench's full Internet table);
	// prefixes in the lab's own ranges and default routes are left out.
	Prefixes []netip.Prefix
	Source   string // names Prefixes in the report
	// Rate is the offered rate of the established stream in packets per
	// second; 0: no traffic phase.
	Rate           float64
	GenCPU, DUTCPU int           // default 0 and 1
	Timeout        time.Duration // longest wait for one convergence or withdrawal (default 10 min)
	Poll           time.Duration // how often the counts are read (default 50 ms)
	WorkDir        string        // configs and logs (default a temporary directory, removed)
	// Profile: gannet writes a CPU profile of its run to
	// WorkDir/gannet.cpu.pprof and its live heap at its first
	// convergence to WorkDir/gannet.heap.pprof.
	Profile bool
	// NoBIRD leaves BIRD + Linux out (gannet alone, e.g. to profile it).
	NoBIRD bool
	// NoSpeaker leaves out the floor: GoBGP embedded as gannet embeds it,
	// with nothing behind it (speaker_linux.go).
	NoSpeaker bool
	// Runs is how many times each receiver is fed, taking turns (default
	// 2); the best run of each is reported.
	Runs int
	// GannetEnv is added to gannet run's environment (KEY=VALUE), e.g.
	// GOGC=200 or GOMEMLIMIT=2GiB to compare garbage-collector policies
	// against the same BIRD in one run; the feeder and BIRD keep theirs.
	GannetEnv []string
	Log       io.Writer // progress (default io.Discard)
}

func (o *Options) defaults() error {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.GenCPU == 0 && o.DUTCPU == 0 {
		o.DUTCPU = 1
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, kv := range o.GannetEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("bench bgp: gannet-env %q: want KEY=VALUE", kv)
		}
	}
	if o.Runs <= 0 {
		o.Runs = 2
	}
	if o.Prefixes == nil {
		ps, err := lpmbench.Default()
		if err != nil {
			return err
		}
		o.Prefixes, o.Source = ps, lpmbench.DefaultSource
	}
	return nil
}

// Addresses of the lab (benchmarking and documentation ranges only).
var (
	feedGannet4  = netip.MustParsePrefix("198.18.10.1/24")
	gannetFeed4  = netip.MustParsePrefix("198.18.10.2/24")
	feedGannet6  = netip.MustParsePrefix("2001:db8:10::1/64")
	gannetFeed6  = netip.MustParsePrefix("2001:db8:10::2/64")
	feedBird4    = netip.MustParsePrefix("198.18.11.1/24")
	birdFeed4    = netip.MustParsePrefix("198.18.11.2/24")
	feedBird6    = netip.MustParsePrefix("2001:db8:11::1/64")
	birdFeed6    = netip.MustParsePrefix("2001:db8:11::2/64")
	feedSpeaker4 = netip.MustParsePrefix("198.18.12.1/24")
	speakerFeed4 = netip.MustParsePrefix("198.18.12.2/24")
	feedSpeaker6 = netip.MustParsePrefix("2001:db8:12::1/64")
	speakerFeed6 = netip.MustParsePrefix("2001:db8:12::2/64")
)

// ASes: the feeder, its routes' origin and the receivers (documentation
// and private ranges).
const (
	feederAS  = 64500
	originAS  = 64501
	gannetAS  = 64512
	birdAS    = 64513
	speakerAS = 64514
)

// Table returns the routes of ps a receiver can install: unique, no
// default route and nothing overlapping the lab's own networks (where the
// lab's routes must win).
func Table(ps []netip.Prefix) []netip.Prefix {
	seen := make(map[netip.Prefix]bool, len(ps))
	var out []netip.Prefix
	for _, p := range forward.FullTable(ps) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// env is the running topology and its processes.
type env struct {
	o                                    *Options
	lab                                  *namespace.Scratch
	dir                                  string
	gen, gnt, sink, feed, brd, spk       string // namespaces
	g, di, do, s, gu, fg, fb, bf, fs, sf string // interfaces
	macDI, macS                          string
	procs                                []*proc
	sinkDrop                             io.Closer
	client                               *api.Client
	gannet, bird, speaker                *proc
	speakerC                             *http.Client
	birdSock                             string
	want                                 int  // routes a receiver installs
	heapDone                             bool // gannet's heap profile is written (with --profile)
	closeOnce                            sync.Once
	closeErr                             error
}

// proc is a background command with its log.
type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
}

func (e *env) start(ns, logName, name string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(e.dir, logName+".log"))
	if err != nil {
		return nil, err
	}
	cmd := namespace.Command(context.Background(), ns, name, args...)
	if logName == "gannet" && len(e.o.GannetEnv) > 0 {
		cmd.Env = append(os.Environ(), e.o.GannetEnv...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{name: logName, log: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	e.procs = append(e.procs, p)
	return p, nil
}

// exited returns an error with the end of the log when p is gone.
func (p *proc) exited() error {
	select {
	case <-p.done:
		b, _ := os.ReadFile(p.log)
		s := strings.TrimSpace(string(b))
		if i := strings.LastIndexByte(s[:max(0, len(s)-600)], '\n'); i >= 0 {
			s = s[i+1:]
		}
		return fmt.Errorf("%s exited (%v): %s", p.name, p.err, s)
	default:
		return nil
	}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// close stops everything and removes the lab, once; a second call waits
// for the first (a cancelled run closes from two goroutines).
func (e *env) close() error {
	e.closeOnce.Do(func() { e.closeErr = e.closeAll() })
	return e.closeErr
}

func (e *env) closeAll() error {
	for _, p := range slices.Backward(e.procs) {
		p.stop()
	}
	var errs []error
	if e.sinkDrop != nil {
		errs = append(errs, e.sinkDrop.Close())
	}
	return errors.Join(append(errs, e.lab.Close())...)
}

func (e *env) run(ns string, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := namespace.Run(ns, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// Run builds the lab, feeds the table to gannet and to BIRD + Linux in
// turn, and returns the report. Everything it made is removed when it
// returns, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if ok, why := namespace.Root(); !ok {
		return nil, fmt.Errorf("bench bgp %s", why)
	}
	if err := Needs(); err != nil {
		return nil, fmt.Errorf("bench bgp: %w", err)
	}
	if o.Gannet == "" {
		return nil, errors.New("bench bgp: Options.Gannet (the gannet binary) is required")
	}
	if n := runtime.NumCPU(); o.GenCPU >= n || o.DUTCPU >= n || o.GenCPU == o.DUTCPU {
		return nil, fmt.Errorf("bench bgp: generator CPU %d and DUT CPU %d must differ and exist (%d CPUs)", o.GenCPU, o.DUTCPU, n)
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "gannet-bench-bgp-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.WorkDir = d
	}
	table := Table(o.Prefixes)
	rep := &Report{Source: o.Source, Started: time.Now().UTC(), LoadBefore: forward.LoadAvg(), CPUs: runtime.NumCPU(), GannetEnv: o.GannetEnv}
	for _, p := range table {
		if p.Addr().Is4() {
			rep.Routes4++
		} else {
			rep.Routes6++
		}
	}
	rep.Feeder = version("gobgpd", "--version")
	rep.BIRD = version("bird", "--version")

	e, err := build(&o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep.Namespaces = e.lab.Namespaces()
	stop := context.AfterFunc(ctx, func() { e.close() })
	defer stop()

	fmt.Fprintf(o.Log, "feeder: loading %d IPv4 + %d IPv6 routes into gobgpd\n", rep.Routes4, rep.Routes6)
	if rep.Inject, err = e.startFeeder(table, rep.Routes4, rep.Routes6); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "feeder: loaded in %v\n", rep.Inject.Round(time.Millisecond))
	if err := e.startGannet(); err != nil {
		return nil, err
	}
	if !o.NoBIRD {
		if err := e.startBIRD(); err != nil {
			return nil, err
		}
	}
	if !o.NoSpeaker {
		if err := e.startSpeaker(); err != nil {
			return nil, err
		}
	}
	want := rep.Routes4 + rep.Routes6
	e.want = want

	// The receivers take turns, Runs times, and the best run of each is
	// reported: the first feed of a process pays for growing its heap
	// and tables, and the feeder's first send may cost more than later
	// ones; taking turns gives both the same.
	gr := gannetReceiver{e}
	br := &birdReceiver{e: e}
	for i := range o.Runs {
		fmt.Fprintf(o.Log, "run %d of %d: gannet\n", i+1, o.Runs)
		res, err := e.phase(ctx, gr, want, nil)
		if err != nil {
			return nil, fmt.Errorf("gannet: %w", err)
		}
		rep.GannetRuns = append(rep.GannetRuns, res)
		if o.NoBIRD {
			continue
		}
		fmt.Fprintf(o.Log, "run %d of %d: BIRD + Linux\n", i+1, o.Runs)
		if res, err = e.phase(ctx, br, want, nil); err != nil {
			return nil, fmt.Errorf("BIRD: %w", err)
		}
		res.FIBMemory, res.FIBNote = br.fibMemory, br.fibNote
		rep.KernelRuns = append(rep.KernelRuns, res)
		if o.NoSpeaker {
			continue
		}
		fmt.Fprintf(o.Log, "run %d of %d: GoBGP alone\n", i+1, o.Runs)
		if res, err = e.phase(ctx, speakerReceiver{e, e.speakerC}, want, nil); err != nil {
			return nil, fmt.Errorf("GoBGP alone: %w", err)
		}
		rep.SpeakerRuns = append(rep.SpeakerRuns, res)
	}
	rep.Gannet = best(rep.GannetRuns)
	rep.Gannet.PeakRSS = peakRSS(e.gannet.cmd.Process.Pid)
	if !o.NoBIRD {
		rep.Kernel = best(rep.KernelRuns)
		rep.Kernel.PeakRSS = peakRSS(e.bird.cmd.Process.Pid)
	}
	if len(rep.SpeakerRuns) > 0 {
		s := best(rep.SpeakerRuns)
		s.PeakRSS = peakRSS(e.speaker.cmd.Process.Pid)
		rep.Speaker = &s
	}

	if o.Rate > 0 {
		fmt.Fprintf(o.Log, "gannet with a stream of %.0f packets/s through it: feeding\n", o.Rate)
		if rep.Traffic, err = e.trafficPhase(ctx, gr, want); err != nil {
			return nil, fmt.Errorf("gannet under traffic: %w", err)
		}
	}
	rep.LoadAfter = forward.LoadAvg()
	return rep, ctx.Err()
}

// best is the run with the shortest convergence (withdrawal and session
// times come from it too).
func best(runs []Result) Result {
	b := runs[0]
	for _, r := range runs[1:] {
		if r.Converged < b.Converged {
			b = r
		}
	}
	return b
}

// Needs reports the first program the benchmark needs that is missing,
// naming its Debian package.
func Needs() error {
	for _, n := range []struct{ prog, pkg string }{{"gobgpd", "gobgpd"}, {"gobgp", "gobgpd"}, {"bird", "bird2"}, {"birdc", "bird2"}, {"ethtool", "ethtool"}} {
		if _, err := exec.LookPath(n.prog); err != nil {
			return fmt.Errorf("needs %s from the Debian package %s", n.prog, n.pkg)
		}
	}
	return nil
}

// build makes the namespaces, links and addresses.
func build(o *Options) (*env, error) {
	l, err := namespace.NewScratch()
	if err != nil {
		return nil, err
	}
	e := &env{o: o, lab: l, dir: o.WorkDir,
		g: l.Name("g"), di: l.Name("di"), do: l.Name("do"), s: l.Name("s"),
		gu: l.Name("gu"), fg: l.Name("fg"), fb: l.Name("fb"), bf: l.Name("bf"), fs: l.Name("fs"), sf: l.Name("sf")}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	for _, x := range []struct {
		base string
		ns   *string
	}{{"gen", &e.gen}, {"gnt", &e.gnt}, {"snk", &e.sink}, {"feed", &e.feed}, {"brd", &e.brd}, {"spk", &e.spk}} {
		if *x.ns, err = l.AddNS(x.base); err != nil {
			return nil, err
		}
	}
	for _, v := range [][4]string{{e.gen, e.g, e.gnt, e.di}, {e.gnt, e.do, e.sink, e.s}, {e.gnt, e.gu, e.feed, e.fg}, {e.feed, e.fb, e.brd, e.bf}, {e.feed, e.fs, e.spk, e.sf}} {
		if err := l.Veth(v[0], v[1], v[2], v[3], 0); err != nil {
			return nil, err
		}
	}
	if e.macDI, err = readMAC(e.gnt, e.di); err != nil {
		return nil, err
	}
	if e.macS, err = readMAC(e.sink, e.s); err != nil {
		return nil, err
	}
	macG, err := readMAC(e.gen, e.g)
	if err != nil {
		return nil, err
	}
	addr := func(p netip.Prefix, dev string) []string {
		if p.Addr().Is6() {
			return []string{"ip", "addr", "add", p.String(), "dev", dev, "nodad"}
		}
		return []string{"ip", "addr", "add", p.String(), "dev", dev}
	}
	if err := e.run(e.gen, addr(forward.AddrGen4, e.g)); err != nil {
		return nil, err
	}
	if err := e.run(e.gnt,
		addr(forward.AddrDUTIn4, e.di), addr(forward.AddrDUTOut4, e.do),
		addr(gannetFeed4, e.gu), addr(gannetFeed6, e.gu),
		[]string{"ip", "neigh", "replace", forward.AddrSink4.Addr().String(), "lladdr", e.macS, "dev", e.do, "nud", "permanent"},
		[]string{"ip", "neigh", "replace", forward.AddrGen4.Addr().String(), "lladdr", macG, "dev", e.di, "nud", "permanent"},
		[]string{"ethtool", "-K", e.di, "gro", "on"},
	); err != nil {
		return nil, err
	}
	if err := e.run(e.sink, addr(forward.AddrSink4, e.s)); err != nil {
		return nil, err
	}
	if e.sinkDrop, err = forward.AttachDrop(e.sink, e.s); err != nil {
		return nil, err
	}
	if err := e.run(e.feed, addr(feedGannet4, e.fg), addr(feedGannet6, e.fg), addr(feedBird4, e.fb), addr(feedBird6, e.fb),
		addr(feedSpeaker4, e.fs), addr(feedSpeaker6, e.fs)); err != nil {
		return nil, err
	}
	if err := e.run(e.spk, addr(speakerFeed4, e.sf), addr(speakerFeed6, e.sf)); err != nil {
		return nil, err
	}
	if err := e.run(e.brd, addr(birdFeed4, e.bf), addr(birdFeed6, e.bf)); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

func readMAC(ns, dev string) (string, error) {
	out, err := namespace.Run(ns, "cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out), err
}

// phase enables the receiver's sessions on the feeder, times them coming
// up and every route forwarding (both from the enable: how soon a
// session comes up is part of how soon routes forward, and a session's
// state is read differently from each receiver), then disables them and
// times every route going. sample, when set, is called at every poll and, forced, at
// each of those moments.
func (e *env) phase(ctx context.Context, r receiver, want int, sample func(force bool)) (Result, error) {
	res := Result{Routes: want}
	if sample == nil {
		sample = func(bool) {}
	}
	if err := r.baseline(); err != nil {
		return res, err
	}
	poll := func(d time.Duration, cond func() (bool, error)) error {
		return waitUntil(d, e.o.Poll, r.proc(), func() (bool, error) {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			sample(false)
			return cond()
		})
	}
	sample(true)
	cpu0, err := r.cpu()
	if err != nil {
		return res, fmt.Errorf("CPU time: %w", err)
	}
	res.enabled = time.Now()
	if err := e.feeder(true, r.peers()...); err != nil {
		return res, err
	}
	if err := poll(2*time.Minute, r.established); err != nil {
		return res, fmt.Errorf("sessions with the feeder: %w", err)
	}
	res.up = time.Now()
	res.Established = res.up.Sub(res.enabled)
	last := 0
	if err := poll(e.o.Timeout, func() (bool, error) {
		n, err := r.routes()
		last = n
		return n >= want, err
	}); err != nil {
		return res, fmt.Errorf("%d of %d routes forwarding: %w", last, want, err)
	}
	res.converged = time.Now()
	res.Converged = res.converged.Sub(res.enabled)
	cpu1, err := r.cpu()
	if err != nil {
		return res, fmt.Errorf("CPU time: %w", err)
	}
	res.ConvergeCPU = cpu1 - cpu0
	if c, ok := r.(interface{ converged() error }); ok {
		if err := c.converged(); err != nil {
			return res, fmt.Errorf("at convergence: %w", err)
		}
	}
	sample(true)
	fmt.Fprintf(e.o.Log, "  %s: sessions up in %v, %d routes forwarding %v after the enable\n", r.name(), res.Established.Round(time.Millisecond), want, res.Converged.Round(time.Millisecond))
	if cpu1, err = r.cpu(); err != nil {
		return res, fmt.Errorf("CPU time: %w", err)
	}
	res.disabled = time.Now()
	if err := e.feeder(false, r.peers()...); err != nil {
		return res, err
	}
	if err := poll(e.o.Timeout, func() (bool, error) {
		n, err := r.routes()
		last = n
		return n == 0, err
	}); err != nil {
		return res, fmt.Errorf("%d routes left after the feeder's shutdown: %w", last, err)
	}
	res.withdrawn = time.Now()
	res.Withdrawn = res.withdrawn.Sub(res.disabled)
	cpu2, err := r.cpu()
	if err != nil {
		return res, fmt.Errorf("CPU time: %w", err)
	}
	res.WithdrawCPU = cpu2 - cpu1
	sample(true)
	fmt.Fprintf(e.o.Log, "  %s: every route gone %v after the feeder shut the sessions\n", r.name(), res.Withdrawn.Round(time.Millisecond))
	fmt.Fprintf(e.o.Log, "  %s: CPU time %v converging, %v withdrawing\n", r.name(), res.ConvergeCPU, res.WithdrawCPU)
	return res, nil
}

// waitUntil calls cond every interval until it is true, it fails, p
// exits, or d passes.
func waitUntil(d, interval time.Duration, p *proc, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(interval)
	}
}
