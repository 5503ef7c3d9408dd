package lab

// Up and Down: the lab built in named namespaces from its topology, and
// removed again — daemons, XDP programs (gannet cleanup on each host's
// pins), namespaces with their links, the bpffs and every file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/lab/namespace"
)

// DefaultDir is where a lab keeps its state unless told otherwise.
const DefaultDir = "/run/gannet-lab"

// Lab is a lab on this machine: its topology, its state directory and
// the gannet binary its daemons run.
type Lab struct {
	Topo    *Topology
	Paths   Paths
	Routing Routing
	// Bin is the gannet binary the hosts and servers run.
	Bin string
	// Log receives one line per step, for a person watching.
	Log io.Writer
}

// State is what `up` leaves in state.json: how the lab was built and how
// long it took.
type State struct {
	Routing   Routing       `json:"routing"`
	Built     time.Time     `json:"built"`
	Converged time.Duration `json:"converged"` // from the start of up to every route learned
	Topology  *Topology     `json:"topology"`
}

// New returns the data-center lab under dir.
func New(dir, bin string, log io.Writer) *Lab {
	if log == nil {
		log = io.Discard
	}
	return &Lab{Topo: DataCenter().WithPrefix(NamespacePrefix(dir)), Paths: Paths{Dir: dir}, Bin: bin, Log: log}
}

// Preflight says what the machine lacks to run the lab.
func Preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("gannet lab needs root: it creates network namespaces, veth pairs and XDP programs (try sudo)")
	}
	for _, tool := range []string{"ip", "ethtool", "sysctl", "ping", "traceroute"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("gannet lab needs %s on PATH (Debian: iproute2, ethtool, procps, iputils-ping, traceroute)", tool)
		}
	}
	return nil
}

// BIRDInstalled reports whether BIRD 2 is on PATH.
func BIRDInstalled() bool {
	_, err1 := exec.LookPath("bird")
	_, err2 := exec.LookPath("birdc")
	return err1 == nil && err2 == nil
}

// ReadState reads state.json; an error means the lab is not up.
func (l *Lab) ReadState() (*State, error) {
	b, err := os.ReadFile(l.Paths.State())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no lab under %s: run gannet lab up", l.Paths.Dir)
		}
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Paths.State(), err)
	}
	return &s, nil
}

// Problems lists what is missing from a lab that should be up: a
// namespace or a daemon.
func (l *Lab) Problems() []string {
	var out []string
	for _, ns := range l.Topo.Namespaces() {
		if !namespace.Exists(ns) {
			out = append(out, "namespace "+ns+" is missing")
		}
	}
	want := l.daemonNames()
	for _, d := range want {
		if _, ok := l.Paths.ours(d); !ok {
			out = append(out, "daemon "+d+" is not running")
		}
	}
	return out
}

func (l *Lab) daemonNames() []string {
	var out []string
	if l.Routing == RoutingBGP {
		out = append(out, "bird")
	}
	for _, n := range l.Topo.Nodes {
		if n.Runs() {
			out = append(out, "gannet-"+n.Name)
		}
	}
	for _, n := range l.Topo.NodesWith(RoleInternet) {
		out = append(out, "serve-"+n.Name)
	}
	for _, w := range l.Topo.Workloads {
		out = append(out, "serve-"+w.Name)
	}
	return out
}

func (l *Lab) logf(format string, args ...any) { fmt.Fprintf(l.Log, format+"\n", args...) }

// Up builds the lab, or does nothing when it is up and whole. A lab that
// is partly there (a crash, a killed daemon) is removed and built again.
func (l *Lab) Up(ctx context.Context) (*State, error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	if s, err := l.ReadState(); err == nil {
		l.Routing = s.Routing
		if len(l.Problems()) == 0 {
			l.logf("the lab under %s is up already (built %s)", l.Paths.Dir, s.Built.Format(time.RFC3339))
			return s, nil
		}
		l.logf("the lab under %s is incomplete (%s): rebuilding it", l.Paths.Dir, strings.Join(l.Problems(), "; "))
	}
	if err := l.Down(); err != nil {
		return nil, fmt.Errorf("clearing what an earlier lab left: %w", err)
	}
	if l.Routing == "" {
		l.Routing = RoutingStatic
		if BIRDInstalled() {
			l.Routing = RoutingBGP
		}
	}
	begin := time.Now()
	s, err := l.build(ctx, begin)
	if err != nil {
		// Leave nothing half built behind; the error says what failed.
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return s, nil
}

func (l *Lab) build(ctx context.Context, begin time.Time) (*State, error) {
	t, p := l.Topo, l.Paths
	for _, d := range []string{p.Dir, filepath.Join(p.Dir, "run"), filepath.Join(p.Dir, "log"), p.Pins()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Namespaces, in parallel: each is a few ip/sysctl calls.
	if err := parallel(t.Namespaces(), namespace.Add); err != nil {
		return nil, err
	}
	l.logf("%d namespaces (%s*)", len(t.Namespaces()), nsName(t.NSPrefix, ""))
	if err := l.plumb(); err != nil {
		return nil, err
	}
	l.logf("core, uplinks, the Internet and %d workloads plugged in", len(t.Workloads))

	// The hosts' XDP programs are pinned on a bpffs of the lab's own, so
	// down removes them with gannet cleanup and unmounts it.
	if !mounted(p.Pins()) {
		if err := syscall.Mount("bpf", p.Pins(), "bpf", 0, "mode=0700"); err != nil {
			return nil, fmt.Errorf("mounting a bpffs on %s: %w", p.Pins(), err)
		}
	}
	var hosts []Node
	for _, n := range t.Nodes {
		if !n.Runs() {
			continue
		}
		hosts = append(hosts, n)
		c, err := t.HostConfig(n.Name, l.Routing, p)
		if err != nil {
			return nil, err
		}
		data, err := MarshalConfig(c)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(p.node(n.Name), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p.Config(n.Name), data, 0o600); err != nil {
			return nil, err
		}
	}
	if l.Routing == RoutingBGP {
		if err := os.MkdirAll(p.node("core"), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p.BIRDConfig(), []byte(t.BIRDConfig()), 0o600); err != nil {
			return nil, err
		}
		core, _ := t.Node("core")
		if _, err := p.start(daemon{name: "bird", ns: core.Namespace(), argv: []string{"bird", "-f", "-c", p.BIRDConfig(), "-s", p.BIRDSocket(), "-P", filepath.Join(p.Dir, "run", "bird.ownpid")}}, false, 0); err != nil {
			return nil, err
		}
		l.logf("BIRD 2 route reflector in %s (birdc -s %s)", core.Namespace(), p.BIRDSocket())
	}
	var names []string
	for _, n := range hosts {
		names = append(names, n.Name)
	}
	if err := parallel(names, func(name string) error {
		n, _ := t.Node(name)
		_, err := p.start(daemon{name: "gannet-" + n.Name, ns: n.Namespace(), argv: []string{l.Bin, "run", "--config", p.Config(n.Name)}}, true, 30*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	l.logf("gannet run forwarding on %s", strings.Join(names, ", "))
	var servers []string
	for _, n := range t.NodesWith(RoleInternet) {
		servers = append(servers, n.Name)
	}
	for _, w := range t.Workloads {
		servers = append(servers, w.Name)
	}
	if err := parallel(servers, func(name string) error {
		ns, _ := t.Namespace(name)
		_, err := p.start(daemon{name: "serve-" + name, ns: ns, argv: []string{l.Bin, "lab", "serve", "--name", name, "--dir", p.Dir}}, false, 0)
		return err
	}); err != nil {
		return nil, err
	}
	l.logf("servers answering in %d namespaces (http/%d, tcp/%d, udp/%d)", len(servers), HTTPPort, DBPort, EchoPort)
	if err := l.converge(ctx, 45*time.Second); err != nil {
		return nil, err
	}
	l.warm()
	s := &State{Routing: l.Routing, Built: begin, Converged: time.Since(begin), Topology: t}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.State(), append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	l.logf("every host has every route (%s) %v after up started", l.Routing, s.Converged.Round(time.Millisecond))
	return s, nil
}

// plumb makes the links and addresses: the core's bridge with every
// host's uplink on it, the border's link to the Internet, and each
// workload's veth pair configured as Calico configures a workload.
func (l *Lab) plumb() error {
	t := l.Topo
	core, _ := t.Node("core")
	cns := core.Namespace()
	if err := namespace.Script(cns,
		[]string{"ip", "link", "add", t.Bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"},
		[]string{"ip", "link", "set", t.Bridge, "up"},
		[]string{"ip", "-6", "addr", "add", netip.PrefixFrom(t.RRv6, t.CoreV6.Bits()).String(), "dev", t.Bridge, "nodad"},
	); err != nil {
		return err
	}
	inet, _ := t.Node("inet")
	for _, ln := range t.Links {
		a, _ := t.Node(ln.A)
		b, _ := t.Node(ln.B)
		if err := namespace.Veth(a.Namespace(), ln.AIf, b.Namespace(), ln.BIf); err != nil {
			return err
		}
		switch {
		case b.Role == RoleCore:
			if err := namespace.Script(a.Namespace(),
				[]string{"ip", "-6", "addr", "add", netip.PrefixFrom(a.IPv6, t.CoreV6.Bits()).String(), "dev", ln.AIf, "nodad"},
			); err != nil {
				return err
			}
			if _, err := namespace.Run(cns, "ip", "link", "set", ln.BIf, "master", t.Bridge); err != nil {
				return err
			}
		case b.Role == RoleInternet:
			// The Internet routes the border's public ranges to it —
			// the SNAT pool, the floating IPs and the routable range —
			// and, as an attacker would, the non-routable range too:
			// the border, not the Internet's routing, must keep it
			// out (the nonroutable-inbound cells).
			cmds := [][]string{
				{"ip", "addr", "add", netip.PrefixFrom(inet.IPv4, t.External.Bits()).String(), "dev", ln.BIf},
				// Its frames reach workloads through gannet: finished
				// checksums, not partial ones.
				{"ethtool", "-K", ln.BIf, "tx", "off"},
			}
			for _, pfx := range t.InternetRoutes() {
				cmds = append(cmds, []string{"ip", "route", "add", pfx.String(), "via", t.ExternalGW.String()})
			}
			if err := namespace.Script(b.Namespace(), cmds...); err != nil {
				return err
			}
			if _, err := namespace.Run(a.Namespace(), "ip", "addr", "add", netip.PrefixFrom(t.ExternalGW, t.External.Bits()).String(), "dev", ln.AIf); err != nil {
				return err
			}
		}
	}
	var names []string
	for _, w := range t.Workloads {
		names = append(names, w.Name)
	}
	return parallel(names, func(name string) error {
		w, _ := t.Workload(name)
		h, _ := t.Node(w.Host)
		if err := namespace.Veth(w.Namespace(), Dev, h.Namespace(), w.HostIf()); err != nil {
			return err
		}
		// The host side has no address: gannet is the workload's only
		// neighbour. Checksum offload is off on the workload side: a
		// frame leaving a veth with a partial checksum would reach the
		// far workload unfinished once gannet, not the kernel,
		// forwards it.
		cmds := [][]string{
			{"ethtool", "-K", Dev, "tx", "off"},
			{"ip", "link", "set", Dev, "address", w.MAC},
			{"ip", "addr", "add", netip.PrefixFrom(w.IPv4, 32).String(), "dev", Dev},
			{"ip", "route", "add", "169.254.1.1", "dev", Dev, "scope", "link"},
			{"ip", "route", "add", "default", "via", "169.254.1.1", "dev", Dev},
		}
		if w.IPv6.IsValid() {
			cmds = append(cmds,
				[]string{"ip", "-6", "addr", "add", netip.PrefixFrom(w.IPv6, 128).String(), "dev", Dev, "nodad"},
				[]string{"ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", Dev})
		}
		return namespace.Script(w.Namespace(), cmds...)
	})
}

// converge waits until every gannet host routes to every prefix the
// others originate (learned through the reflector, or configured).
func (l *Lab) converge(ctx context.Context, within time.Duration) error {
	t := l.Topo
	deadline := time.Now().Add(within)
	for _, n := range t.Nodes {
		if !n.Runs() {
			continue
		}
		var want []netip.Prefix
		for _, o := range t.Nodes {
			if o.Runs() && o.Name != n.Name {
				for _, pfx := range t.Originated(o.Name) {
					if n.Role == RoleBorder && pfx == t.External.Masked() {
						continue
					}
					want = append(want, pfx)
				}
			}
		}
		c := api.NewClient(l.Paths.Socket(n.Name))
		for {
			missing, err := l.missingRoutes(ctx, c, want)
			if err == nil && len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					return fmt.Errorf("%s: %w", n.Name, err)
				}
				return fmt.Errorf("%s has no route to %v within %v (see %s)", n.Name, missing, within, l.Paths.Log("gannet-"+n.Name))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// warm resolves the core's neighbours on every host (each pings the
// others' IPv6 core addresses, which the IPv4 routes use as next hops
// too; the border also pings the Internet): gannet drops
// a packet whose next hop is not resolved yet, and the first packets of a
// fresh lab would otherwise be lost to it.
func (l *Lab) warm() {
	t := l.Topo
	var jobs []string
	for _, n := range t.Nodes {
		if !n.Runs() {
			continue
		}
		for _, o := range t.Nodes {
			if o.Name == n.Name || o.Role == RoleCore || (o.Role == RoleInternet && n.Role != RoleBorder) {
				continue
			}
			if o.Role == RoleInternet {
				jobs = append(jobs, n.Namespace()+" "+o.IPv4.String())
				continue
			}
			jobs = append(jobs, n.Namespace()+" "+o.IPv6.String())
		}
	}
	parallel(jobs, func(job string) error {
		ns, addr, _ := strings.Cut(job, " ")
		_, err := namespace.Run(ns, "ping", "-c", "1", "-W", "1", addr)
		return err
	})
}

// missingRoutes asks a host's API for each prefix's longest match.
func (l *Lab) missingRoutes(ctx context.Context, c *api.Client, want []netip.Prefix) ([]netip.Prefix, error) {
	var missing []netip.Prefix
	if l.Routing == RoutingBGP {
		routes, err := c.BGPRoutes(ctx, "", "")
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, r := range routes {
			if r.Best && !r.Filtered {
				have[r.Prefix] = true
			}
		}
		for _, p := range want {
			if !have[p.String()] {
				missing = append(missing, p)
			}
		}
		return missing, nil
	}
	for _, p := range want {
		if _, err := c.Lookup(ctx, 0, p.Addr().String()); err != nil {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// Down removes the lab: daemons (servers, then gannet, then BIRD), the
// XDP programs gannet left pinned, the namespaces with every link in
// them, the bpffs and the state directory. Whatever is already gone is
// skipped, so Down is safe to repeat and cleans up after a crashed up.
func (l *Lab) Down() error {
	p := l.Paths
	if _, err := os.Stat(p.Dir); errors.Is(err, os.ErrNotExist) {
		// No state here, but the lab's names are derived from this
		// directory: namespaces that carry them are this lab's own
		// leftovers (its state directory removed by hand, or a crash
		// mid-up). Delete kills what still runs in them; their links,
		// and the XDP programs on those links, go with them.
		var errs []error
		for _, ns := range l.Topo.Namespaces() {
			if namespace.Exists(ns) {
				if err := namespace.Delete(ns); err != nil {
					errs = append(errs, fmt.Errorf("removing leftover namespace %s: %w", ns, err))
				}
			}
		}
		return errors.Join(errs...)
	}
	var errs []error
	names := p.daemons()
	order := func(prefix string) []string {
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, group := range [][]string{order("serve-"), order("gannet-"), order("bird")} {
		if err := parallel(group, func(n string) error { return p.stop(n, 10*time.Second) }); err != nil {
			errs = append(errs, err)
		}
	}
	// gannet leaves its XDP programs pinned, failing closed, on purpose;
	// the lab is not coming back, so detach them.
	if mounted(p.Pins()) {
		for _, n := range l.Topo.Nodes {
			if !n.Runs() || !namespace.Exists(n.Namespace()) {
				continue
			}
			if out, err := namespace.Run(n.Namespace(), l.Bin, "cleanup", "--pin-path", p.PinPath(n.Name)); err != nil {
				errs = append(errs, fmt.Errorf("gannet cleanup in %s: %w: %s", n.Namespace(), err, out))
			}
		}
	}
	if err := parallel(l.Topo.Namespaces(), namespace.Delete); err != nil {
		errs = append(errs, err)
	}
	if mounted(p.Pins()) {
		if err := syscall.Unmount(p.Pins(), syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p.Pins(), err))
		}
	}
	if len(errs) == 0 {
		// Every file the lab made lives under its directory.
		if err := os.RemoveAll(p.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mounted reports whether dir is a mount point.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	abs, _ := filepath.Abs(dir)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == abs {
			return true
		}
	}
	return false
}

// parallel runs f on every item at once and joins the errors.
func parallel(items []string, f func(string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(items))
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(it)
		}()
	}
	wg.Wait()
	return errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}
