package ctl

// The daemon: one goroutine owns every change. The configuration file
// (at start and on reload), API writes and the kernel's link events all
// arrive as operations on one channel; the loop applies each in turn —
// validate the whole desired state, attach the ports it adds, compile one
// snapshot and publish it with one store, detach the ports it removes —
// and answers reads with copies. Nothing else changes the daemon's state,
// so there is no lock around it (GoBGP's mgmtOperation model).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/nat"
)

// Options configure a Daemon.
type Options struct {
	// ConfigPath is the file Start reads and every reload re-reads.
	ConfigPath string
	Version    string
	Log        *slog.Logger
	// Counters receives the final counters when the daemon stops (one
	// "name value" line each); nil: none.
	Counters io.Writer
	// Notify tells a service manager about readiness (sd_notify); nil:
	// NotifyFromEnv.
	Notify Notifier
	// Resync is how often ports waiting for their interface are retried
	// and attached ones checked, besides link events; default 1s.
	Resync time.Duration
	// PinPath, when set, replaces dataplane.pinPath (gannet run
	// --pin-path).
	PinPath string
	// StateDir, when set, replaces dataplane.stateDir (gannet run
	// --state-dir).
	StateDir string
}

// Daemon is one running gannet: its data plane, the desired state it
// applies, and the API's view of it. Every exported method is safe for
// concurrent use: each is an operation the loop runs.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	ops     chan func()
	started time.Time
	status  string // the last STATUS= sent to the service manager

	// Owned by the loop.
	file    *config.Config                     // the file as last applied
	apiEPs  map[string]config.WorkloadEndpoint // endpoints made through the API
	merged  *config.Config                     // file + API endpoints: what runs
	progs   *acl.ProgramCache                  // the policy programs of the last compile, reused by the next
	opt     *optimizer                         // builds the trees of programs published as scans
	plan    *config.Plan
	ports   map[string]*port // by interface name
	slots   []*port          // by slot; nil: free
	dp      *dataplane
	cur     *compiled
	gen     uint64
	last    *api.ApplyResult
	tables  fwdTablesPtr
	stopped bool
	routing *routing // BGP; nil without a bgp section
	metrics metricsState
	// captures run (observe.go); the workers see them through dp.caps.
	captures []*captureSession
	quit     chan struct{} // closed when the loop ends: senders stop waiting
}

// port is one interface gannet forwards on, from the moment the desired
// state names it until it no longer does; it keeps its slot all along.
type port struct {
	name     string
	uplink   bool
	endpoint string // workload ports
	cfgMTU   int
	slot     int

	link    *linkInfo // nil: no such interface (yet)
	err     error     // the last attach failure
	prog    *bpf.Program
	socks   []*fwd.XSKPort
	xdpMode string
	xskMode string
	copying bool
	adopted bool // took over the program a previous gannet left pinned
	ifindex int  // the interface attached to (the fast path's egress device)
}

// attached reports whether the port's program and sockets are in place.
func (p *port) attached() bool { return p.prog != nil }

// up: attached and its link up — the data plane may send to it.
func (p *port) up() bool { return p.attached() && p.link != nil && p.link.up }

func (p *port) state() string {
	switch {
	case p.link == nil:
		return "missing"
	case !p.attached():
		return "error"
	case !p.link.up:
		return "down"
	}
	return "up"
}

// New checks the configuration file and returns a daemon ready to Run.
func New(opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Resync <= 0 {
		opts.Resync = time.Second
	}
	if opts.Notify == nil {
		opts.Notify = NotifyFromEnv()
	}
	d := &Daemon{opts: opts, log: opts.Log, ops: make(chan func()), quit: make(chan struct{}), ports: map[string]*port{}, apiEPs: map[string]config.WorkloadEndpoint{}, progs: acl.NewProgramCache(), opt: newOptimizer(opts.Log)}
	h, err := d.newMetricsHandler()
	if err != nil {
		return nil, err
	}
	d.metrics.handler = h
	return d, nil
}

// readConfig reads and parses the configuration file.
func (d *Daemon) readConfig() (*config.Config, error) {
	data, err := os.ReadFile(d.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	c, _, err := config.ParseConfig(data)
	return c, err
}

// Run starts the data plane from the configuration file, serves the API,
// follows link events and applies changes until ctx ends; then it detaches
// every port and stops. A start that fails leaves nothing attached.
func (d *Daemon) Run(ctx context.Context, ready func()) error {
	d.started = time.Now()
	c, err := d.readConfig()
	if err != nil {
		return fmt.Errorf("%s: %w", d.opts.ConfigPath, err)
	}
	plan, err := c.Validate()
	if err != nil {
		return fmt.Errorf("%s: %w", d.opts.ConfigPath, err)
	}
	// The socket first: a socket another gannet serves means another
	// gannet runs here, and it must not be disturbed by this one
	// attaching to its interfaces.
	srv, err := d.listenAPI(plan.APISocket, plan.APIGroup)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := d.start(c); err != nil {
		d.shutdown()
		return err
	}
	if err := d.startRouting(ctx); err != nil {
		d.shutdown()
		return fmt.Errorf("bgp: %w", err)
	}
	srv.serve()

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Policy log records: drained until the loop ends, once more after.
	logCtx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func(workers []*fwd.Worker) {
		defer close(logDone)
		d.runPolicyLog(logCtx, workers)
	}(slices.Clone(d.dp.workers))
	defer func() { stopLog(); <-logDone }()
	onErr := func(err error) {
		if lctx.Err() == nil {
			d.log.Warn("link events", "err", err)
		}
	}
	if err := followLinks(lctx, d.onLink, onErr); err != nil {
		d.log.Warn("not following link events; relying on the periodic check", "err", err)
	}
	d.log.Info("forwarding", "summary", d.summary())
	var all bool
	if d.status, all = d.serviceStatus(); !all {
		// Ready all the same: the ports are retried (resync) and may
		// appear later, and the API is up to say so; a start that
		// waited for them could wait for ever.
		d.log.Warn("not every port is attached", "status", d.status)
	}
	d.opts.Notify.Notify("READY=1\nSTATUS=" + d.status)
	if ready != nil {
		ready()
	}
	d.loop(ctx)
	close(d.quit)
	d.opts.Notify.Notify("STOPPING=1")
	d.log.Info("stopping")
	counters := d.countersText()
	err = d.shutdown()
	if d.opts.Counters != nil {
		io.WriteString(d.opts.Counters, counters)
	}
	if err != nil {
		return err
	}
	d.log.Info("stopped")
	return nil
}

// loop runs operations and the periodic check until ctx ends.
func (d *Daemon) loop(ctx context.Context) {
	tick := time.NewTicker(d.opts.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case op := <-d.ops:
			op()
		case <-tick.C:
			d.resync("check")
		}
	}
}

// do runs fn on the loop and waits for it.
func (d *Daemon) do(fn func()) {
	done := make(chan struct{})
	select {
	case d.ops <- func() { fn(); close(done) }:
		<-done
	case <-d.quit:
		// Stopping: nothing is applied any more (readers get nothing).
	}
}

// start brings up the data plane for the first configuration. Uplinks
// must exist: a missing uplink is an error naming its field. Workload
// interfaces may be missing; they are attached when they appear.
func (d *Daemon) start(c *config.Config) error {
	plan, err := c.Validate()
	if err != nil {
		return fmt.Errorf("%s: %w", d.opts.ConfigPath, err)
	}
	if d.opts.PinPath != "" {
		plan.PinPath = d.opts.PinPath
	}
	if d.opts.StateDir != "" {
		plan.StateDir = d.opts.StateDir
	}
	var uplinks []int
	var errs []error
	for i, u := range plan.Uplinks {
		li, err := lookupLink(u.Interface)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("ports[%d].interface: %w", i, err))
		case li == nil:
			errs = append(errs, fmt.Errorf("ports[%d].interface: interface %q does not exist", i, u.Interface))
		case u.MTU > li.mtu:
			errs = append(errs, fmt.Errorf("ports[%d].mtu: %d exceeds interface %s's MTU %d", i, u.MTU, u.Interface, li.mtu))
		default:
			uplinks = append(uplinks, li.index)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	dp, err := startDataplane(plan, &d.tables, uplinks, d.log)
	if err != nil {
		return err
	}
	d.dp = dp
	d.logRestore(dp.restore)
	res := d.apply("start", c, d.apiEPs)
	if !res.OK {
		return fmt.Errorf("config: %w", config.Errors(res.Errors))
	}
	for _, pt := range d.sortedPorts() {
		if pt.uplink && !pt.attached() {
			return fmt.Errorf("uplink %s: %v", pt.name, pt.err)
		}
	}
	return nil
}

// logRestore says in one line what the connection table's state file
// held: sessions adopted from the last gannet, or why it starts empty.
func (d *Daemon) logRestore(r *nat.Restore) {
	switch {
	case r == nil:
	case r.Adopted:
		d.log.Info("connection table adopted", "file", r.Path, "sessions", r.Sessions, "mappings", r.Mappings,
			"dropped", r.Dropped, "problem", r.Problem, "age", r.Age.Round(time.Second), "took", r.Took.Round(time.Microsecond))
	case r.Why == "no state file":
		d.log.Info("connection table starts empty", "file", r.Path, "why", r.Why)
	default:
		d.log.Warn("connection table starts empty", "file", r.Path, "why", r.Why)
	}
}

// shutdown detaches every port and stops the data plane.
func (d *Daemon) shutdown() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	d.stopMetrics()
	d.stopRouting()
	closePorts := func() error {
		// The workers have stopped: their ports are closed directly.
		var errs []error
		for _, pt := range d.ports {
			if pt.prog == nil {
				continue
			}
			for _, s := range pt.socks {
				if err := s.Close(); err != nil {
					errs = append(errs, err)
				}
			}
			// The pinned program stays: the port fails closed until the
			// next gannet adopts it (or gannet cleanup removes it).
			if err := pt.prog.Release(); err != nil {
				errs = append(errs, err)
			}
			pt.prog, pt.socks = nil, nil
		}
		return errors.Join(errs...)
	}
	if d.dp == nil {
		return closePorts()
	}
	return d.dp.stop(closePorts)
}

// apply makes (file, apiEPs) the running state, or changes nothing and
// says why. The loop only.
func (d *Daemon) apply(source string, file *config.Config, apiEPs map[string]config.WorkloadEndpoint) *api.ApplyResult {
	t0 := time.Now()
	res := &api.ApplyResult{Source: source, Time: t0}
	defer func() {
		res.DurationSeconds = time.Since(t0).Seconds()
		d.metrics.apply.Observe(source, time.Since(t0), res.OK)
		res.Generation = d.gen
		// A rejected API write is its caller's answer, not the
		// daemon's state; every other outcome is the last apply.
		if res.OK || source != "api" {
			d.last = res
		}
		if res.OK {
			if len(res.Changes) > 0 {
				d.log.Info("applied", "source", source, "generation", d.gen, "changes", changeSummary(res.Changes), "duration", time.Since(t0).Round(time.Microsecond))
			}
		} else {
			d.log.Error("rejected", "source", source, "errors", config.Errors(res.Errors).Error())
		}
	}()
	merged, conflicts := mergeEndpoints(file, apiEPs)
	plan, err := merged.ValidateWith(d.progs)
	var fe config.Errors
	if err != nil && !errors.As(err, &fe) {
		fe = config.Errors{{Message: err.Error()}}
	}
	fe = append(conflicts, fe...)
	if len(fe) == 0 && d.plan != nil {
		fe = restartOnly(d.plan, plan)
	}
	if len(fe) > 0 {
		res.Errors = fe
		return res
	}
	// The metrics address first: one that cannot be bound changes
	// nothing.
	msrv, mchanged, err := d.bindMetrics(plan.MetricsListen)
	if err != nil {
		res.Errors = config.Errors{err.(api.FieldError)}
		return res
	}

	// Ports: every interface the plan names.
	want := map[string]*port{}
	for _, u := range plan.Uplinks {
		want[u.Interface] = &port{name: u.Interface, uplink: true, cfgMTU: u.MTU}
	}
	for _, ep := range plan.Endpoints {
		want[ep.Interface] = &port{name: ep.Interface, endpoint: ep.Name, cfgMTU: ep.MTU}
	}
	var added, removed []*port
	for name, w := range want {
		if cur, ok := d.ports[name]; ok && cur.uplink == w.uplink {
			cur.endpoint, cur.cfgMTU = w.endpoint, w.cfgMTU
			continue
		}
		if cur, ok := d.ports[name]; ok {
			removed = append(removed, cur) // changed role: a new port
		}
		added = append(added, w)
	}
	for name, cur := range d.ports {
		if _, ok := want[name]; !ok {
			removed = append(removed, cur)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].name < added[j].name })
	// New ports take free slots (never one a port being removed still
	// holds) and are attached before the tables route to them.
	slots := slices.Clone(d.slots)
	for _, pt := range added {
		pt.slot = freeSlot(slots)
		if pt.slot >= len(slots) {
			slots = append(slots, nil)
		}
		slots[pt.slot] = pt
		d.tryAttach(pt)
	}
	next := slices.Clone(slots)
	for _, pt := range removed {
		if next[pt.slot] == pt {
			next[pt.slot] = nil
		}
	}
	if err := d.dp.openHost(plan); err != nil {
		for _, pt := range added {
			d.dp.detach(pt)
		}
		if msrv != nil {
			msrv.Close()
		}
		res.Errors = config.Errors{api.FieldError{Field: "dataplane.hostInterface", Message: err.Error()}}
		return res
	}
	cp, err := compile(plan, next, d.dp.st)
	if err != nil {
		for _, pt := range added {
			d.dp.detach(pt)
		}
		if msrv != nil {
			msrv.Close()
		}
		res.Errors = config.Errors{{Message: err.Error()}}
		return res
	}
	d.publish(cp)
	if mchanged {
		d.switchMetrics(msrv, plan.MetricsListen)
	}
	for _, pt := range removed {
		d.endCapturesOf(pt.name)
		if err := d.dp.detach(pt); err != nil {
			d.log.Warn("detaching", "iface", pt.name, "err", err)
		}
		delete(d.ports, pt.name)
	}
	for _, pt := range added {
		d.ports[pt.name] = pt
	}
	for i := range next {
		if next[i] == nil {
			continue
		}
		if _, ok := d.ports[next[i].name]; !ok {
			next[i] = nil
		}
	}
	d.slots = trimSlots(next)
	res.Changes = diffConfigs(d.merged, merged, added, removed)
	d.file, d.apiEPs, d.merged, d.plan = file, apiEPs, merged, plan
	d.hostNeighbours()
	d.applyRouting()
	// The first apply (start) builds its programs whole; every later one
	// publishes the programs it builds as scans and optimizes them after.
	d.opt.add(d.progs.TakePending())
	d.progs.SetDefer(true)
	res.OK = true
	return res
}

// publish makes cp the running snapshot: one store for the workers.
func (d *Daemon) publish(cp *compiled) {
	d.relearn(cp.tables) // before the store: a change never drops a learned route
	d.tables.Store(cp.tables)
	if cp.nat != nil {
		d.dp.st.nat.SetPrepared(cp.nat)
	}
	d.cur = cp
	d.gen++
	d.fastPublish() // after the store and the NAT policy: the kernel drops the decisions made before
}

// fastPublish makes every decision the kernel fast path holds stale, after
// a publish or a change of learned routes in place.
func (d *Daemon) fastPublish() {
	if d.dp == nil || d.dp.off == nil {
		return
	}
	if err := d.dp.off.Publish(); err != nil {
		d.log.Error("fast path: bumping the generation", "err", err)
	}
}

// republish compiles the running plan again after a port changed state.
func (d *Daemon) republish(why string) {
	cp, err := compile(d.plan, d.slots, d.dp.st)
	if err != nil {
		d.log.Error("recompiling", "why", why, "err", err)
		return
	}
	d.publish(cp)
	d.hostNeighbours()
}

// tryAttach resolves pt's interface and attaches to it; a missing
// interface or a failure leaves the port down (its routes answer
// unreachable) until a link event or the periodic check tries again.
func (d *Daemon) tryAttach(pt *port) {
	li, err := lookupLink(pt.name)
	pt.link, pt.err = li, err
	if err != nil || li == nil {
		return
	}
	if pt.cfgMTU > li.mtu {
		pt.err = fmt.Errorf("mtu %d exceeds interface %s's MTU %d", pt.cfgMTU, pt.name, li.mtu)
		return
	}
	if err := d.dp.attach(pt, li); err != nil {
		pt.err = err
		d.log.Warn("attach failed", "iface", pt.name, "endpoint", pt.endpoint, "err", err)
		return
	}
	d.log.Info("attached", "iface", pt.name, "endpoint", pt.endpoint, "ifindex", li.index, "xdp", pt.xdpMode, "xsk", pt.xskMode, "up", li.up, "adopted", pt.adopted)
}

// onLink is a link event from the kernel; it runs on the loop.
func (d *Daemon) onLink(ev linkEvent) {
	select {
	case d.ops <- func() { d.linkChanged(ev) }:
	case <-time.After(time.Second):
		// The loop is busy for long: the periodic check will catch up.
	}
}

// linkChanged follows one interface: gone (detach, routes answer
// unreachable), back (attach again), up/down, MTU.
func (d *Daemon) linkChanged(ev linkEvent) {
	pt, ok := d.ports[ev.name]
	if !ok {
		// Renamed away? A port whose ifindex it was loses its link.
		for _, p := range d.ports {
			if p.link != nil && p.link.index == ev.index && p.name != ev.name {
				d.follow(p)
			}
		}
		return
	}
	d.follow(pt)
	d.notifyStatus()
}

// serviceStatus is the service manager's one-line status: how many ports
// forward, and which do not yet; all says every port forwards.
func (d *Daemon) serviceStatus() (status string, all bool) {
	var up, total int
	var not []string
	for _, pt := range d.sortedPorts() {
		total++
		if pt.up() {
			up++
		} else {
			not = append(not, pt.name+" "+pt.state())
		}
	}
	if up == total {
		return fmt.Sprintf("forwarding on every port (%d)", total), true
	}
	return fmt.Sprintf("forwarding on %d of %d ports; not forwarding: %s", up, total, strings.Join(not, ", ")), false
}

// notifyStatus tells the service manager the port status when it has
// changed (systemctl status shows it).
func (d *Daemon) notifyStatus() {
	if st, _ := d.serviceStatus(); st != d.status {
		d.status = st
		d.opts.Notify.Notify("STATUS=" + st)
	}
}

// follow brings pt in line with what the kernel has now.
func (d *Daemon) follow(pt *port) {
	li, err := lookupLink(pt.name)
	if err != nil {
		d.log.Warn("link lookup", "iface", pt.name, "err", err)
		return
	}
	switch {
	case li == nil || (pt.link != nil && li.index != pt.link.index):
		// Gone, or replaced by another interface of the same name:
		// first the tables (senders get unreachable), then the sockets.
		if pt.attached() || pt.link != nil {
			old := pt.link
			pt.link = nil
			d.republish("link gone")
			if err := d.dp.detach(pt); err != nil {
				d.log.Warn("detaching", "iface", pt.name, "err", err)
			}
			if old != nil {
				d.log.Info("interface gone", "iface", pt.name, "endpoint", pt.endpoint, "ifindex", old.index)
			}
		}
		if li != nil {
			d.tryAttach(pt)
			d.republish("link back")
		}
	case !pt.attached():
		d.tryAttach(pt)
		if pt.attached() {
			d.republish("link back")
		}
	case li.up != pt.link.up || li.mtu != pt.link.mtu || !slices.Equal(li.addrs, pt.link.addrs):
		d.log.Info("link changed", "iface", pt.name, "up", li.up, "mtu", li.mtu)
		pt.link = li
		d.republish("link changed")
	}
}

// resync checks every port against the kernel: the safety net under
// link events (a missed event, a failed attach to retry).
func (d *Daemon) resync(string) {
	for _, pt := range d.sortedPorts() {
		d.follow(pt)
	}
	d.notifyStatus()
	d.reconcile()
	// The host's addresses: uplinks' XDP programs hand traffic to them to
	// the kernel, and the tables drop workloads' packets to them.
	host, err := hostAddrs()
	if err != nil || d.cur == nil || slices.Equal(host, d.cur.cfg.HostAddrs) {
		return
	}
	d.log.Info("host addresses changed", "addrs", len(host))
	for _, pt := range d.ports {
		if pt.prog != nil {
			if err := pt.prog.SetHostAddrs(host); err != nil {
				d.log.Warn("updating host addresses", "iface", pt.name, "err", err)
			}
		}
	}
	d.republish("host addresses")
}

func (d *Daemon) sortedPorts() []*port {
	out := slices.Collect(maps.Values(d.ports))
	sort.Slice(out, func(i, j int) bool { return out[i].slot < out[j].slot })
	return out
}

// freeSlot returns the lowest free slot (len(slots) when none is).
func freeSlot(slots []*port) int {
	for i, p := range slots {
		if p == nil {
			return i
		}
	}
	return len(slots)
}

func trimSlots(s []*port) []*port {
	for len(s) > 0 && s[len(s)-1] == nil {
		s = s[:len(s)-1]
	}
	return s
}

// mergeEndpoints is the file with the API's endpoints appended (by name);
// a name in both is an error on the file's entry.
func mergeEndpoints(file *config.Config, apiEPs map[string]config.WorkloadEndpoint) (*config.Config, config.Errors) {
	m := *file
	m.WorkloadEndpoints = slices.Clone(file.WorkloadEndpoints)
	var errs config.Errors
	for i, ep := range file.WorkloadEndpoints {
		if _, dup := apiEPs[ep.Name]; dup {
			errs = append(errs, api.FieldError{Field: fmt.Sprintf("workloadEndpoints[%d].name", i),
				Message: fmt.Sprintf("%q is also an endpoint made through the API: delete one of them", ep.Name)})
		}
	}
	inFile := map[string]bool{}
	for _, ep := range file.WorkloadEndpoints {
		inFile[ep.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(apiEPs)) {
		if !inFile[name] { // a clash is reported once, above
			m.WorkloadEndpoints = append(m.WorkloadEndpoints, apiEPs[name])
		}
	}
	return &m, errs
}

// restartOnly reports changes the running data plane cannot take: they
// need a restart of gannet.
func restartOnly(old, new *config.Plan) config.Errors {
	var errs config.Errors
	need := func(field string) {
		errs = append(errs, api.FieldError{Field: field, Message: "cannot change while gannet runs: restart it"})
	}
	if !slices.Equal(old.Cores, new.Cores) {
		need("dataplane.cores")
	}
	if old.Frames != new.Frames || old.FrameSize != new.FrameSize || old.RingSize != new.RingSize {
		need("dataplane (frames, frameSize, ringSize)")
	}
	if old.BusyPoll != new.BusyPoll || old.XSKMode != new.XSKMode || old.XDPMode != new.XDPMode || old.NoSocketDrop != new.NoSocketDrop ||
		old.BusyPollUsec != new.BusyPollUsec || old.BusyPollBudget != new.BusyPollBudget || old.PreferBusyPoll != new.PreferBusyPoll {
		need("dataplane (idle, xskMode, xdpMode, noSocket, busy polling)")
	}
	if old.PinPath != new.PinPath {
		need("dataplane.pinPath")
	}
	if old.FastPathFlows != new.FastPathFlows {
		need("dataplane (fastPath, fastPathFlows)")
	}
	if old.StateDir != new.StateDir {
		need("dataplane.stateDir")
	}
	if old.HostInterface != new.HostInterface {
		need("dataplane.hostInterface")
	}
	if old.ConntrackCapacity != new.ConntrackCapacity || old.HeldFragments != new.HeldFragments {
		need("dataplane.conntrack")
	}
	if !reflect.DeepEqual(old.Uplinks, new.Uplinks) {
		need("ports")
	}
	if old.APISocket != new.APISocket || old.APIGroup != new.APIGroup {
		need("api")
	}
	if (old.BGP == nil) != (new.BGP == nil) {
		need("bgp (adding or removing the section)")
	}
	return errs
}

// diffConfigs lists what changed from old (nil at start) to new.
func diffConfigs(old, new *config.Config, added, removed []*port) []api.Change {
	var ch []api.Change
	if old == nil {
		old = &config.Config{}
	}
	epOld := map[string]config.WorkloadEndpoint{}
	for _, e := range old.WorkloadEndpoints {
		epOld[e.Name] = e
	}
	epNew := map[string]bool{}
	for _, e := range new.WorkloadEndpoints {
		epNew[e.Name] = true
		o, ok := epOld[e.Name]
		switch {
		case !ok:
			ch = append(ch, api.Change{Kind: "endpoint", Name: e.Name, Op: "added"})
		case !reflect.DeepEqual(o, e):
			ch = append(ch, api.Change{Kind: "endpoint", Name: e.Name, Op: "changed"})
		}
	}
	for _, e := range old.WorkloadEndpoints {
		if !epNew[e.Name] {
			ch = append(ch, api.Change{Kind: "endpoint", Name: e.Name, Op: "removed"})
		}
	}
	named := func(kind string, o, n map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(n)) {
			if ov, ok := o[k]; !ok {
				ch = append(ch, api.Change{Kind: kind, Name: k, Op: "added"})
			} else if !reflect.DeepEqual(ov, n[k]) {
				ch = append(ch, api.Change{Kind: kind, Name: k, Op: "changed"})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(o)) {
			if _, ok := n[k]; !ok {
				ch = append(ch, api.Change{Kind: kind, Name: k, Op: "removed"})
			}
		}
	}
	policies := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, p := range c.Policy.Policies {
			m[p.Name] = p
		}
		return m
	}
	profiles := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, p := range c.Policy.Profiles {
			m[p.Name] = p
		}
		return m
	}
	routes := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, r := range c.Routes {
			m[fmt.Sprintf("%d/%s", r.Space, r.Prefix)] = r
		}
		return m
	}
	spaces := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, s := range c.AddressSpaces {
			m[fmt.Sprint(s.ID)] = s
		}
		return m
	}
	named("policy", policies(old), policies(new))
	named("profile", profiles(old), profiles(new))
	named("route", routes(old), routes(new))
	named("space", spaces(old), spaces(new))
	if !reflect.DeepEqual(old.NAT, new.NAT) {
		ch = append(ch, api.Change{Kind: "nat", Name: "nat", Op: opOf(old.NAT == nil, new.NAT == nil)})
	}
	if !reflect.DeepEqual(old.Translation, new.Translation) {
		ch = append(ch, api.Change{Kind: "translation", Name: "translation", Op: opOf(old.Translation == nil, new.Translation == nil)})
	}
	if old.Metrics != new.Metrics {
		ch = append(ch, api.Change{Kind: "metrics", Name: "metrics", Op: opOf(old.Metrics.Listen == "", new.Metrics.Listen == "")})
	}
	if old.Node != new.Node && len(old.WorkloadEndpoints)+len(old.Ports) > 0 {
		ch = append(ch, api.Change{Kind: "node", Name: "node", Op: "changed"})
	}
	for _, p := range added {
		if p.uplink {
			ch = append(ch, api.Change{Kind: "port", Name: p.name, Op: "added"})
		}
	}
	for _, p := range removed {
		if p.uplink {
			ch = append(ch, api.Change{Kind: "port", Name: p.name, Op: "removed"})
		}
	}
	return ch
}

func opOf(wasNil, isNil bool) string {
	switch {
	case wasNil:
		return "added"
	case isNil:
		return "removed"
	}
	return "changed"
}

func changeSummary(ch []api.Change) string {
	parts := make([]string, len(ch))
	for i, c := range ch {
		parts[i] = c.Kind + " " + c.Name + " " + c.Op
	}
	return strings.Join(parts, ", ")
}

// summary is the startup line: ports, their XDP and socket modes, workers.
func (d *Daemon) summary() string {
	var b strings.Builder
	for i, pt := range d.sortedPorts() {
		if i > 0 {
			b.WriteString(", ")
		}
		role := "workload"
		if pt.uplink {
			role = "uplink"
		}
		fmt.Fprintf(&b, "%s (%s, %s", pt.name, role, pt.state())
		if pt.attached() {
			fmt.Fprintf(&b, ", xdp %s, xsk %s", pt.xdpMode, pt.xskMode)
			if pt.copying {
				b.WriteString(", copying")
			}
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; %d worker(s) on CPU %v", len(d.dp.workers), d.plan.Cores)
	return b.String()
}

// Check validates c and resolves every interface it names, as a start
// would before attaching anything, and compiles its tables; it changes
// nothing. A missing workload interface is reported too: at run time it
// would only wait for the interface to appear.
func Check(c *config.Config) error {
	plan, err := c.Validate()
	if err != nil {
		return err
	}
	var errs []error
	var slots []*port
	check := func(field, name string, mtu int, uplink bool, ep string) {
		li, err := lookupLink(name)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		case li == nil:
			errs = append(errs, fmt.Errorf("%s: interface %q does not exist", field, name))
		case mtu > li.mtu:
			errs = append(errs, fmt.Errorf("%s: mtu %d exceeds interface %s's MTU %d", field, mtu, name, li.mtu))
		case li.queues < len(plan.Cores):
			errs = append(errs, fmt.Errorf("%s: interface %q has %d receive queues; %d workers need one each", field, name, li.queues, len(plan.Cores)))
		}
		slots = append(slots, &port{name: name, uplink: uplink, endpoint: ep, cfgMTU: mtu, slot: len(slots), link: li})
	}
	for i, u := range plan.Uplinks {
		check(fmt.Sprintf("ports[%d].interface", i), u.Interface, u.MTU, true, "")
	}
	for i, ep := range plan.Endpoints {
		check(fmt.Sprintf("workloadEndpoints[%d].interface", i), ep.Interface, ep.MTU, false, ep.Name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	st, err := newStateful(plan)
	if err != nil {
		return err
	}
	_, err = compile(plan, slots, st)
	return err
}
