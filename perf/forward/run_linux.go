// The run: for each scenario, a fresh generator -> DUT -> sink topology in
// three network namespaces, the scenario's forwarder set up in the DUT
// namespace, the generator started, a warm-up, then several timed runs
// measured at the edges from interface counters and /proc/stat; then the
// namespaces (and everything running in them) are removed.

package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/lab/namespace"
)

// Options configure a benchmark.
type Options struct {
	Gannet         string        // the gannet binary: its pktgen drives every scenario, its run is the gannet DUT
	Duration       time.Duration // one run (default 5 s)
	Warmup         time.Duration // before the first run (default 2 s)
	Runs           int           // default 3
	GenCPU, DUTCPU int           // default 0 and 1
	Packets        PacketSpec    // default DefaultPackets()
	Only           []string      // scenario names to run (default all)
	WorkDir        string        // configs and logs (default a temp dir)
	Log            io.Writer     // progress (default io.Discard)
	Generators     bool          // also compare the generators (pktgen vs dpdk-testpmd txonly)
	// GenMode is the generator's engine: live (default: BPF_PROG_RUN live
	// frames, the fastest) or xsk (AF_XDP: slower, but a smooth Rate).
	GenMode string
	Rate    float64 // offered packets per second; 0: as fast as the generator goes
	// GannetIdle is dataplane.idle of the gannet scenarios: poll (default) or busy.
	GannetIdle string
}

func (o *Options) defaults() {
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if o.Runs == 0 {
		o.Runs = 3
	}
	if o.GenCPU == 0 && o.DUTCPU == 0 {
		o.DUTCPU = 1
	}
	if o.Packets.Flows == 0 {
		o.Packets = DefaultPackets()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.GenMode == "" {
		o.GenMode = "live"
	}
	if o.GannetIdle == "" {
		o.GannetIdle = "poll"
	}
}

// env is one scenario's topology:
//
//	[gen ns] g  <--veth-->  di [dut ns] do  <--veth-->  s [sink ns]
type env struct {
	opts                   *Options
	lab                    *namespace.Scratch
	gen, dut, sink         string // namespaces
	g, di, do, s           string // interfaces
	macG, macDI, macDO, ms string
	// genDst, when set, is the generator's destination MAC instead of
	// macDI: a workload sends to the gateway MAC, not to the DUT port's.
	genDst   string
	dir      string // scratch directory of this scenario
	sinkDrop io.Closer
}

// close removes the topology.
func (e *env) close() error {
	var errs []error
	if e.sinkDrop != nil {
		errs = append(errs, e.sinkDrop.Close())
	}
	return errors.Join(append(errs, e.lab.Close())...)
}

func (e *env) run(ns string, name string, args ...string) error {
	_, err := namespace.Run(ns, name, args...)
	return err
}

func (e *env) runAll(ns string, cmds [][]string) error {
	for _, c := range cmds {
		if err := e.run(ns, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func mac(ns, dev string) (string, error) {
	out, err := namespace.Run(ns, "cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out), err
}

// napiThreads returns the pids of the NAPI kthreads of dev ("napi/<dev>-<id>",
// the name cut to 15 bytes like every task name).
func napiThreads(dev string) ([]int, error) {
	prefix := "napi/" + dev + "-"
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), prefix) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// pinNAPI pins the NAPI kthreads of the DUT ingress to the DUT CPU and the
// sink's to the generator CPU. NAPI instances come and go with XDP
// programs, so it runs again before every measurement.
func (e *env) pinNAPI() error {
	for _, x := range []struct {
		dev string
		cpu int
		rt  bool
	}{{e.di, e.opts.DUTCPU, false}, {e.do, e.opts.DUTCPU, false}, {e.s, e.opts.GenCPU, true}} {
		pids, err := napiThreads(x.dev)
		if err != nil {
			return err
		}
		if x.rt && len(pids) == 0 {
			return fmt.Errorf("no NAPI thread for the sink's %s", x.dev)
		}
		for _, pid := range pids {
			var set unix.CPUSet
			set.Set(x.cpu)
			if err := unix.SchedSetaffinity(pid, &set); err != nil {
				return fmt.Errorf("pin NAPI thread %d of %s: %w", pid, x.dev, err)
			}
			if x.rt {
				if err := e.run("", "chrt", "-f", "-p", "10", strconv.Itoa(pid)); err != nil {
					return err
				}
			} else if err := unix.Setpriority(unix.PRIO_PROCESS, pid, benchNice); err != nil {
				return fmt.Errorf("renice NAPI thread %d of %s: %w", pid, x.dev, err)
			}
		}
	}
	return nil
}

// dutTicks is the CPU time (clock ticks) spent on the DUT's behalf: the
// processes in the DUT namespace and the NAPI kthreads of its interfaces.
// Interrupt and softirq time of the DUT CPU is added by the Reading.
func (e *env) dutTicks() uint64 {
	if e.dut == "" {
		return 0
	}
	var pids []int
	for _, dev := range []string{e.di, e.do} {
		p, _ := napiThreads(dev)
		pids = append(pids, p...)
	}
	if out, err := exec.Command("ip", "netns", "pids", e.dut).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	var t uint64
	for _, pid := range pids {
		t += taskTicks(pid)
	}
	return t
}

// taskTicks returns utime+stime of pid and its threads (/proc/PID/stat
// fields 14 and 15), 0 if it is gone.
func taskTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return ParseTaskTicks(string(b))
}

// build makes the namespaces, links, addresses, routes and neighbours
// every scenario shares. Forwarding stays off in the DUT: scenarios that
// use the kernel's forwarding turn it on.
func build(o *Options, dir string) (*env, error) {
	l, err := namespace.NewScratch()
	if err != nil {
		return nil, err
	}
	e := &env{opts: o, lab: l, dir: dir,
		g: l.Name("g"), di: l.Name("di"), do: l.Name("do"), s: l.Name("s")}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if e.gen, err = l.AddNS("gen"); err != nil {
		return nil, err
	}
	if e.dut, err = l.AddNS("dut"); err != nil {
		return nil, err
	}
	if e.sink, err = l.AddNS("snk"); err != nil {
		return nil, err
	}
	if err := l.Veth(e.gen, e.g, e.dut, e.di, 0); err != nil {
		return nil, err
	}
	if err := l.Veth(e.dut, e.do, e.sink, e.s, 0); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		ns, dev string
		dst     *string
	}{{e.gen, e.g, &e.macG}, {e.dut, e.di, &e.macDI}, {e.dut, e.do, &e.macDO}, {e.sink, e.s, &e.ms}} {
		if *x.dst, err = mac(x.ns, x.dev); err != nil {
			return nil, err
		}
	}
	if err := e.runAll(e.gen, [][]string{
		{"ip", "addr", "add", AddrGen4.String(), "dev", e.g},
		{"ip", "addr", "add", AddrGen6.String(), "dev", e.g, "nodad"},
	}); err != nil {
		return nil, err
	}
	if err := e.runAll(e.dut, [][]string{
		{"ip", "addr", "add", AddrDUTIn4.String(), "dev", e.di},
		{"ip", "addr", "add", AddrDUTIn6.String(), "dev", e.di, "nodad"},
		{"ip", "addr", "add", AddrDUTOut4.String(), "dev", e.do},
		{"ip", "addr", "add", AddrDUTOut6.String(), "dev", e.do, "nodad"},
		{"ip", "neigh", "replace", AddrSink4.Addr().String(), "lladdr", e.ms, "dev", e.do, "nud", "permanent"},
		{"ip", "neigh", "replace", AddrSink6.Addr().String(), "lladdr", e.ms, "dev", e.do, "nud", "permanent"},
		{"ip", "neigh", "replace", AddrGen4.Addr().String(), "lladdr", e.macG, "dev", e.di, "nud", "permanent"},
		{"ip", "neigh", "replace", AddrGen6.Addr().String(), "lladdr", e.macG, "dev", e.di, "nud", "permanent"},
		// Frames the generator sends with XDP need GRO (or an XDP program) on
		// the receiving veth. Its receive work (GRO, an XDP program, the
		// copy into an AF_XDP socket) runs where veth puts it, on the
		// sending CPU, as a NIC's would off the forwarder's core; the
		// kernel's forwarding itself is steered to the DUT CPU by RPS.
		{"ethtool", "-K", e.di, "gro", "on"},
		{"sh", "-c", fmt.Sprintf("echo %x > /sys/class/net/%s/queues/rx-0/rps_cpus", 1<<o.DUTCPU, e.di)},
	}); err != nil {
		return nil, err
	}
	if err := e.runAll(e.sink, [][]string{
		{"ip", "addr", "add", AddrSink4.String(), "dev", e.s},
		{"ip", "addr", "add", AddrSink6.String(), "dev", e.s, "nodad"},
		// The sink drops what it receives as early and quietly as routing
		// allows: forwarding on, everything behind it blackholed.
		{"sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"},
		{"ip", "route", "add", "blackhole", NetBehind4.String()},
		{"ip", "-6", "route", "add", "blackhole", NetBehind6.String()},
		// The sink's receive work runs in a NAPI kthread pinned to the
		// generator CPU at real-time priority (pinNAPI), so neither the
		// DUT pays for it nor does the busy generator starve it; an XDP
		// program drops every frame there, after veth counted it.
	}); err != nil {
		return nil, err
	}
	if e.sinkDrop, err = AttachDrop(e.sink, e.s); err != nil {
		return nil, err
	}
	if err := e.run(e.sink, "sh", "-c", "echo 1 > /sys/class/net/"+e.s+"/threaded"); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// routeBehind routes the sink's networks through the sink (the gateway).
func (e *env) routeBehind() error {
	return e.runAll(e.dut, [][]string{
		{"ip", "route", "add", NetBehind4.String(), "via", AddrSink4.Addr().String(), "dev", e.do},
		{"ip", "-6", "route", "add", NetBehind6.String(), "via", AddrSink6.Addr().String(), "dev", e.do},
	})
}

func (e *env) forwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return e.run(e.dut, "sysctl", "-qw", "net.ipv4.ip_forward="+v, "net.ipv6.conf.all.forwarding="+v)
}

// proc is a long-running command in a namespace, its output in a log file
// of the scenario directory.
type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // set before done closes
}

// background starts name in ns.
func (e *env) background(ns, logName string, name string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(e.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := namespace.Command(context.Background(), ns, name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A process that reads stdin (testpmd) must not see EOF.
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		logf.Close()
		pr.Close()
		pw.Close()
		return nil, err
	}
	pr.Close()
	p := &proc{name: name, log: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		pw.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited returns an error naming the command and the end of its log if
// it is no longer running.
func (p *proc) Exited() error {
	select {
	case <-p.done:
		b, _ := os.ReadFile(p.log)
		return fmt.Errorf("%s exited (%v): %s", p.name, p.err, lastLines(string(b), 4))
	default:
		return nil
	}
}

// Stop interrupts the command (SIGINT, SIGKILL after 3 s) and reports if it
// had exited on its own before.
func (p *proc) Stop() error {
	if err := p.Exited(); err != nil {
		return err
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// read takes one Reading.
func (e *env) read() (Reading, error) {
	r := Reading{At: time.Now(), GenCPU: e.opts.GenCPU, DUTCPU: e.opts.DUTCPU}
	b, err := exec.Command("ip", "-n", e.gen, "-s", "-j", "link", "show", "dev", e.g).Output()
	if err != nil {
		return r, fmt.Errorf("generator counters: %w", err)
	}
	if r.Gen, err = ParseLinkStats(b); err != nil {
		return r, err
	}
	if b, err = exec.Command("ip", "-n", e.sink, "-s", "-j", "link", "show", "dev", e.s).Output(); err != nil {
		return r, fmt.Errorf("sink counters: %w", err)
	}
	if r.Sink, err = ParseLinkStats(b); err != nil {
		return r, err
	}
	r.DUTTicks = e.dutTicks()
	f, err := os.Open("/proc/stat")
	if err != nil {
		return r, err
	}
	defer f.Close()
	r.CPUs, err = ParseProcStat(f)
	return r, err
}

// generate starts gannet pktgen in live-frames mode in the generator
// namespace, pinned to the generator CPU, for d.
func (e *env) generate(d time.Duration) (*proc, error) {
	p := e.opts.Packets
	dst := e.macDI
	if e.genDst != "" {
		dst = e.genDst
	}
	return e.background(e.gen, "pktgen.log", "nice", pinned(e.opts.GenCPU,
		e.opts.Gannet, "pktgen", "--mode", e.opts.GenMode, "--rate", strconv.FormatFloat(e.opts.Rate, 'f', -1, 64),
		"--dev", e.g, "--dst-mac", dst,
		"--src", p.Src.String(), "--src-addrs", fmt.Sprint(p.SrcAddrs), "--sport", fmt.Sprint(p.SrcPort),
		"--dst", p.Dst.String(), "--dport", fmt.Sprint(p.DstPort), "--flows", fmt.Sprint(p.Flows),
		"--size", fmt.Sprint(p.FrameSize), "--cores", fmt.Sprint(e.opts.GenCPU),
		"--duration", d.String(), "--quiet", "--json", filepath.Join(e.dir, "pktgen.json"))...)
}

// benchNice is the nice value of everything measured (generator, DUT
// processes, the DUT's NAPI kthreads): on a machine shared with other work
// they get most of their CPU without starving everyone else as real-time
// priority would.
const benchNice = -10

// pinned returns the arguments of `nice` that run args at benchNice pinned
// to cpu.
func pinned(cpu int, args ...string) []string {
	return append([]string{"-n", strconv.Itoa(benchNice), "taskset", "-c", strconv.Itoa(cpu)}, args...)
}

// measure runs the generator through the warm-up and the runs and returns
// one Sample per run.
func (e *env) measure(ctx context.Context, check func() error) ([]Sample, error) {
	o := e.opts
	// The generator must outlast the runs: each reading (ip -s, /proc in
	// the namespaces) and check takes time, seconds on a loaded machine,
	// and a generator that ended first failed the scenario ("nice
	// exited"). It is stopped (SIGINT) as soon as the runs are done.
	total := o.Warmup + time.Duration(o.Runs)*o.Duration + time.Minute
	gen, err := e.generate(total)
	if err != nil {
		return nil, err
	}
	defer gen.Stop()
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	if err := e.pinNAPI(); err != nil {
		return nil, err
	}
	prev, err := e.read()
	if err != nil {
		return nil, err
	}
	var out []Sample
	for i := range o.Runs {
		if err := sleepCtx(ctx, o.Duration); err != nil {
			return nil, err
		}
		cur, err := e.read()
		if err != nil {
			return nil, err
		}
		if err := gen.Exited(); err != nil {
			return nil, err
		}
		s := SampleOf(prev, cur)
		fmt.Fprintf(o.Log, "    run %d: tx %s rx %s Mpps, loss %.1f%%, DUT CPU %.0f%%, gen CPU %.0f%%\n",
			i+1, Mpps(s.TxPPS), Mpps(s.RxPPS), 100*s.Loss, 100*s.DUTCPU, 100*s.GenCPU)
		if s.TxPPS == 0 {
			return nil, errors.New("the generator sent nothing")
		}
		out = append(out, s)
		prev = cur
		if check != nil {
			if err := check(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Scenario is one row of the benchmark.
type Scenario struct {
	Name   string
	Role   Role
	Detail string
	Needs  []string // executables that must be installed
	// Setup prepares the DUT (and returns what stops it) after the common
	// topology is built.
	Setup func(e *env) (stop func() error, err error)
}

// Run runs the selected scenarios and returns the report. It removes
// every namespace it made before returning, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if ok, why := namespace.Root(); !ok {
		return nil, fmt.Errorf("bench forward %s", why)
	}
	if n := runtime.NumCPU(); o.GenCPU >= n || o.DUTCPU >= n || o.GenCPU == o.DUTCPU {
		return nil, fmt.Errorf("bench forward: generator CPU %d and DUT CPU %d must differ and exist (%d CPUs)", o.GenCPU, o.DUTCPU, n)
	}
	if o.Gannet == "" {
		return nil, errors.New("bench forward: Options.Gannet (the gannet binary) is required")
	}
	if o.GenMode != "live" && o.GenMode != "xsk" {
		return nil, fmt.Errorf("bench forward: generator mode %q: want live or xsk", o.GenMode)
	}
	if o.GannetIdle != "poll" && o.GannetIdle != "busy" {
		return nil, fmt.Errorf("bench forward: gannet idle %q: want poll or busy", o.GannetIdle)
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "gannet-bench-forward-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.WorkDir = d
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	rep := &Report{Started: time.Now().UTC(), Setup: Setup{
		Kernel:    unix.ByteSliceToString(uts.Release[:]),
		CPUs:      runtime.NumCPU(),
		Generator: generatorText(&o),
		Packets:   fmt.Sprintf("IPv4 UDP %dB frames, %d flows (%d sources from %v, ports from %d) to %v:%d", o.Packets.FrameSize, o.Packets.Flows, o.Packets.SrcAddrs, o.Packets.Src, o.Packets.SrcPort, o.Packets.Dst, o.Packets.DstPort),
		Pinning: fmt.Sprintf("generator on CPU %d (taskset). The DUT ingress veth's receive work (GRO; an XDP program; the copy into an AF_XDP socket) runs on the sending CPU %d, as veth does, like a NIC's off the forwarder's core; "+
			"on CPU %d: kernel forwarding (RPS from the ingress veth), userspace DUTs (taskset, testpmd lcore, gannet worker core) and, for xdp-redirect and the gannet *-fast rows, the ingress NAPI in a threaded-NAPI kthread (the XDP program does the DUT's work). "+
			"Generator, DUT processes and DUT kthreads run at nice %d (the machine is shared); the sink's NAPI kthread runs on CPU %d at SCHED_FIFO so the busy generator cannot starve it. "+
			"DUT CPU = CPU time of the DUT namespace's processes and NAPI kthreads plus irq/softirq time of CPU %d; gen CPU = CPU %d busy from /proc/stat, all causes",
			o.GenCPU, o.GenCPU, o.DUTCPU, benchNice, o.GenCPU, o.DUTCPU, o.GenCPU),
		GenCPU:     o.GenCPU,
		DUTCPU:     o.DUTCPU,
		Sink:       "delivered = rx_packets of the sink's veth (ip -s link); the sink blackholes everything",
		Duration:   o.Duration,
		Warmup:     o.Warmup,
		Runs:       o.Runs,
		LoadBefore: LoadAvg(),
	}}
	for _, sc := range Scenarios() {
		if len(o.Only) > 0 && !contains(o.Only, sc.Name) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		row := Row{Name: sc.Name, Role: sc.Role, Detail: sc.Detail}
		fmt.Fprintf(o.Log, "%s: %s\n", sc.Name, sc.Detail)
		for _, need := range sc.Needs {
			if _, err := exec.LookPath(need); err != nil {
				row.Skipped = fmt.Sprintf("%s not installed (make perf-deps)", need)
			}
		}
		if row.Skipped == "" {
			samples, err := runScenario(ctx, &o, sc)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				row.Skipped = "failed: " + err.Error()
			}
			row.Samples = samples
		}
		if row.Skipped != "" {
			fmt.Fprintf(o.Log, "  skipped: %s\n", row.Skipped)
		}
		rep.Rows = append(rep.Rows, row)
	}
	if o.Generators && ctx.Err() == nil {
		rep.Generators = runGenerators(ctx, &o)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.Setup.LoadAfter = LoadAvg()
	rep.Finish()
	return rep, nil
}

func runScenario(ctx context.Context, o *Options, sc Scenario) ([]Sample, error) {
	dir := filepath.Join(o.WorkDir, sc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e, err := build(o, dir)
	if err != nil {
		return nil, err
	}
	defer e.close()
	stop, err := sc.Setup(e)
	if err != nil {
		return nil, err
	}
	var stopErr error
	defer func() {
		if stop != nil {
			stopErr = stop()
		}
	}()
	check := func() error { return nil }
	samples, err := e.measure(ctx, check)
	if err != nil {
		return nil, err
	}
	if stop != nil {
		err, stop = stop(), nil
		if err != nil {
			return nil, err
		}
	}
	return samples, stopErr
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// LoadAvg is the 1, 5 and 15 minute load averages of /proc/loadavg, or
// "?" when unreadable.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ifindex returns dev's index in namespace ns.
func ifindex(ns, dev string) (int, error) {
	var idx int
	err := namespace.Do(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err == nil {
			idx = ifc.Index
		}
		return err
	})
	return idx, err
}

func generatorText(o *Options) string {
	t := "gannet pktgen --mode live (BPF_PROG_RUN live frames, XDP_TX into the generator's veth), one thread"
	if o.GenMode == "xsk" {
		t = "gannet pktgen --mode xsk (AF_XDP, copy mode on veth), one thread"
	}
	if o.Rate > 0 {
		t += fmt.Sprintf(", offered rate limited to %s Mpps", Mpps(o.Rate))
	} else {
		t += ", as fast as it goes (the DUTs run at overload)"
	}
	return t
}
