// The receivers: gannet (`gannet run` with BGP; routes counted by its
// API) and BIRD 2 programming the kernel's FIB (routes counted by the
// kernel of its namespace), each behind the same small interface the
// phases use, and what is read of their processes and of the kernel.

package bgpbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/lab/namespace"
	"github.com/gannet-net/gannet/perf/forward"
)

// startGannet runs `gannet run` with the feeder as its two peers, an
// established route to the sink and an import filter that takes every
// route.
func (e *env) startGannet() error {
	sock := filepath.Join(e.dir, "api", "gannet.sock")
	conf := fmt.Sprintf(`
node: {name: bench-bgp, routerIPv4: %[1]s, routerIPv6: "%[2]s"}
dataplane: {cores: [%[3]d], idle: poll}
ports:
  - {interface: %[4]s, role: uplink}
  - {interface: %[5]s, role: uplink}
  - {interface: %[6]s, role: uplink}
routes:
  - {prefix: %[7]s, via: %[8]s, interface: %[5]s}
bgp:
  asNumber: %[9]d
  peers:
    - {peerIP: %[10]s, asNumber: %[11]d, maxPrefixes: 4000000, maxRestartTime: 0s, filters: [all]}
    - {peerIP: "%[12]s", asNumber: %[11]d, maxPrefixes: 4000000, maxRestartTime: 0s, filters: [all]}
  filters:
    - name: all
      importV4: [{cidr: 0.0.0.0/0, matchOperator: In, action: Accept}]
      importV6: [{cidr: "::/0", matchOperator: In, action: Accept}]
api: {socket: %[13]s}
`, gannetFeed4.Addr(), gannetFeed6.Addr(), e.o.DUTCPU, e.di, e.do, e.gu,
		forward.NetBehind4, forward.AddrSink4.Addr(), gannetAS, feedGannet4.Addr(), feederAS, feedGannet6.Addr(), sock)
	path := filepath.Join(e.dir, "gannet.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	args := []string{"run", "--config", path}
	if e.o.Profile {
		args = append(args, "--cpu-profile", filepath.Join(e.dir, "gannet.cpu.pprof"), "--heap-profile", filepath.Join(e.dir, "gannet.heap.pprof"))
	}
	var err error
	if e.gannet, err = e.start(e.gnt, "gannet", e.o.Gannet, args...); err != nil {
		return err
	}
	e.client = api.NewClient(sock)
	return waitUntil(time.Minute, 100*time.Millisecond, e.gannet, func() (bool, error) {
		st, err := e.client.Status(context.Background())
		if err != nil {
			return false, nil
		}
		for _, p := range st.Ports {
			if p.State != "up" {
				return false, nil
			}
		}
		return st.BGP != nil, nil
	})
}

// startBIRD runs BIRD 2 with the feeder as its two peers and a kernel
// protocol per family that exports every route into the kernel's main
// table. The kernel scan is set long: it is BIRD's periodic check of
// the kernel table, not part of installing routes.
func (e *env) startBIRD() error {
	conf := fmt.Sprintf(`
router id %[1]s;
protocol device { scan time 60; }
protocol kernel k4 { ipv4 { import none; export all; }; scan time 3600; }
protocol kernel k6 { ipv6 { import none; export all; }; scan time 3600; }
protocol bgp feed4 {
  local %[1]s as %[2]d;
  neighbor %[3]s as %[4]d;
  connect retry time 1;
  error wait time 1, 5;
  ipv4 { import all; export none; };
}
protocol bgp feed6 {
  local %[5]s as %[2]d;
  neighbor %[6]s as %[4]d;
  connect retry time 1;
  error wait time 1, 5;
  ipv6 { import all; export none; };
}
`, birdFeed4.Addr(), birdAS, feedBird4.Addr(), feederAS, birdFeed6.Addr(), feedBird6.Addr())
	path := filepath.Join(e.dir, "bird.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	e.birdSock = filepath.Join(e.dir, "bird.ctl")
	var err error
	if e.bird, err = e.start(e.brd, "bird", "bird", "-f", "-c", path, "-s", e.birdSock, "-P", filepath.Join(e.dir, "bird.pid")); err != nil {
		return err
	}
	return waitUntil(30*time.Second, 100*time.Millisecond, e.bird, func() (bool, error) {
		_, err := namespace.Run(e.brd, "birdc", "-s", e.birdSock, "show", "status")
		return err == nil, nil
	})
}

// receiver is one side of the comparison.
type receiver interface {
	name() string
	peers() []netip.Addr // the feeder's sessions to it
	proc() *proc
	// established reports whether both sessions are up.
	established() (bool, error)
	// baseline is read before a feed; routes returns how many of the
	// fed routes forward now.
	baseline() error
	routes() (int, error)
	// cpu is the CPU time the receiver's control plane has used so far
	// (cpu_linux.go).
	cpu() (time.Duration, error)
}

// gannetReceiver reads gannet's API: its sessions, and the learned routes
// its tables hold (a count the daemon keeps, whatever the table size).
type gannetReceiver struct{ e *env }

func (g gannetReceiver) name() string { return "gannet" }
func (g gannetReceiver) proc() *proc  { return g.e.gannet }
func (g gannetReceiver) peers() []netip.Addr {
	return []netip.Addr{gannetFeed4.Addr(), gannetFeed6.Addr()}
}
func (g gannetReceiver) baseline() error { return nil }

// converged writes, with --profile, gannet's live heap at its first
// convergence (the table's full size) to WorkDir/gannet.heap.pprof.
func (g gannetReceiver) converged() error {
	if !g.e.o.Profile || g.e.heapDone {
		return nil
	}
	g.e.heapDone = true
	path := filepath.Join(g.e.dir, "gannet.heap.pprof")
	if err := g.e.gannet.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	return waitUntil(time.Minute, 100*time.Millisecond, g.e.gannet, func() (bool, error) {
		_, err := os.Stat(path)
		return err == nil, nil
	})
}

// cpu leaves out the worker, which busy-polls its own core whether
// routes arrive or not.
func (g gannetReceiver) cpu() (time.Duration, error) {
	return threadsCPU(g.e.gannet.cmd.Process.Pid, g.e.o.DUTCPU)
}

func (g gannetReceiver) established() (bool, error) {
	ps, err := g.e.client.BGPPeers(context.Background())
	var reach *api.ReachError
	if errors.As(err, &reach) && reach.Timeout {
		return false, nil // busy: see routes
	}
	if err != nil {
		return false, err
	}
	up := 0
	for _, p := range ps {
		if p.State == "established" {
			up++
		}
	}
	return up == 2, nil
}

// routes reads gannet's count; -1 while its API does not answer in
// time: the daemon's loop is busy with one large batch of routes (a
// session's end withdraws all of its routes at once), which the phase
// waits out within its timeout.
func (g gannetReceiver) routes() (int, error) {
	st, err := g.e.client.Status(context.Background())
	var reach *api.ReachError
	if errors.As(err, &reach) && reach.Timeout {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if st.BGP == nil {
		return 0, errors.New("gannet status has no bgp section")
	}
	return st.BGP.Routes, nil
}

// birdReceiver reads BIRD's sessions from birdc and the routes from the
// kernel of its namespace: /proc/PID/net/fib_triestat's prefixes in the
// main table and rt6_stats's route entries, less what was there before
// the feed.
type birdReceiver struct {
	e          *env
	base4      int
	base6      int
	baseSlab   int64
	fibMemory  int64 // bytes; -1 unknown
	fibNote    string
	slabPeaked bool
}

func (b *birdReceiver) name() string        { return "BIRD + Linux" }
func (b *birdReceiver) proc() *proc         { return b.e.bird }
func (b *birdReceiver) peers() []netip.Addr { return []netip.Addr{birdFeed4.Addr(), birdFeed6.Addr()} }

func (b *birdReceiver) cpu() (time.Duration, error) { return processCPU(b.e.bird.cmd.Process.Pid) }

func (b *birdReceiver) established() (bool, error) {
	out, err := namespace.Run(b.e.brd, "birdc", "-s", b.e.birdSock, "show", "protocols")
	if err != nil {
		return false, err
	}
	up := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "feed4" || f[0] == "feed6") && strings.Contains(line, "Established") {
			up++
		}
	}
	return up == 2, nil
}

func (b *birdReceiver) baseline() error {
	var err error
	if b.base4, b.base6, err = kernelRoutes(b.e.bird.cmd.Process.Pid); err != nil {
		return err
	}
	b.baseSlab, err = slabBytes()
	b.slabPeaked = false
	return err
}

func (b *birdReceiver) routes() (int, error) {
	n4, n6, err := kernelRoutes(b.e.bird.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	n := max(0, n4-b.base4) + max(0, n6-b.base6)
	if !b.slabPeaked && n >= b.wantRoutes() {
		// Converged: the kernel's slab memory grew by the FIB (and by
		// whatever else the machine did meanwhile).
		b.slabPeaked = true
		if s, err := slabBytes(); err == nil {
			b.fibMemory = s - b.baseSlab
			b.fibNote = "growth of the kernel's unreclaimable slab (SUnreclaim) from before the feed to convergence, machine-wide"
		} else {
			b.fibMemory, b.fibNote = -1, err.Error()
		}
	}
	return n, nil
}

func (b *birdReceiver) wantRoutes() int { return b.e.want }

// kernelRoutes returns the route counts of the network namespace pid
// lives in: IPv4 prefixes of the main table (fib_triestat) and IPv6
// route entries (rt6_stats, fib_rt_entries).
func kernelRoutes(pid int) (v4, v6 int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/fib_triestat", pid))
	if err != nil {
		return 0, 0, err
	}
	v4, err = triePrefixes(f)
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/rt6_stats", pid))
	if err != nil {
		return 0, 0, err
	}
	v6, err = rt6Entries(string(b))
	return v4, v6, err
}

// triePrefixes reads the "Prefixes:" count of the Main table of
// /proc/net/fib_triestat.
func triePrefixes(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	inMain := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "Main:":
			inMain = true
		case strings.HasSuffix(line, ":") && !strings.Contains(line, " "):
			inMain = false
		case inMain && strings.HasPrefix(line, "Prefixes:"):
			return strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "Prefixes:")))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("fib_triestat: no Prefixes line in the Main table")
}

// rt6Entries reads fib_rt_entries, the fourth hexadecimal field of
// /proc/net/rt6_stats.
func rt6Entries(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return 0, fmt.Errorf("rt6_stats: %q: want at least 4 fields", s)
	}
	n, err := strconv.ParseInt(f[3], 16, 64)
	return int(n), err
}

// slabBytes is the kernel's unreclaimable slab memory (/proc/meminfo).
func slabBytes() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "SUnreclaim:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("/proc/meminfo: no SUnreclaim")
}

// peakRSS is VmHWM of pid in bytes (0 if unreadable).
func peakRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func version(prog, flag string) string {
	out, _ := exec.Command(prog, flag).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
