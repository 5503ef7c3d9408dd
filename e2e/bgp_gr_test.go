package e2e

// Graceful restart (RFC 4724) between gannet and BIRD 2: gannet restarts
// as a restarting speaker, and is a helper when BIRD restarts.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// grRouter is BIRD 2 in namespace r with graceful restart on: it learns
// x's workload routes into r's kernel and announces 198.18.32.0/24, whose
// 198.18.32.1 r holds on its loopback.
type grRouter struct {
	ns         *netnstest.NS
	conf, sock string
	pidFile    string
	mu         sync.Mutex
	cmd        *exec.Cmd
}

func newGRRouter(t *testing.T, r *netnstest.NS, peer string) *grRouter {
	t.Helper()
	dir := t.TempDir()
	g := &grRouter{ns: r, conf: filepath.Join(dir, "bird.conf"), sock: filepath.Join(dir, "bird.ctl"), pidFile: filepath.Join(dir, "bird.pid")}
	if err := os.WriteFile(g.conf, []byte(fmt.Sprintf(`
router id 198.18.100.2;
protocol device {}
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol static s4 { ipv4; route 198.18.32.0/24 blackhole; }
protocol bgp gannet {
  local 198.18.100.2 as 64500; neighbor %s as 64512;
  hold time 9; connect retry time 1; error wait time 1, 5;
  graceful restart on;
  ipv4 { import all; export where source = RTS_STATIC; };
}
`, peer)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.kill() })
	return g
}

// start runs bird in the foreground (-f); recover adds -R, the
// graceful-restart recovery after `birdc graceful restart`.
func (g *grRouter) start(t *testing.T, recover bool) {
	t.Helper()
	args := []string{"bird", "-f", "-c", g.conf, "-s", g.sock, "-P", g.pidFile}
	if recover {
		args = append(args, "-R")
	}
	cmd := g.ns.Command(args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting bird: %v", err)
	}
	g.mu.Lock()
	g.cmd = cmd
	g.mu.Unlock()
	waitFor(t, 10*time.Second, "birdc answers", func() string {
		if _, err := g.ns.Try("birdc", "-s", g.sock, "show", "status"); err != nil {
			return err.Error()
		}
		return ""
	})
}

func (g *grRouter) birdc(args ...string) string {
	out, _ := g.ns.Try(append([]string{"birdc", "-s", g.sock}, args...)...)
	return out
}

// gracefulStop asks BIRD to stop in graceful-restart mode and waits
// until it has exited.
func (g *grRouter) gracefulStop(t *testing.T) {
	t.Helper()
	g.birdc("graceful restart")
	g.mu.Lock()
	cmd := g.cmd
	g.cmd = nil
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("bird did not stop within 10s of birdc graceful restart")
	}
}

func (g *grRouter) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd != nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
		g.cmd = nil
	}
}

// watchRoute polls r's kernel for dst's route every 50 ms until stop is
// called, which returns how many polls found it missing out of how many.
func watchRoute(r *netnstest.NS, dst string) (stop func() (missing, polls int)) {
	var miss, n atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			out, _ := r.Try("ip", "route", "show", dst)
			n.Add(1)
			if !strings.Contains(out, dst) {
				miss.Add(1)
			}
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() (int, int) {
		close(quit)
		<-done
		return int(miss.Load()), int(n.Load())
	}
}

// pingsFrom pings dst once from ns (from source src, if set) and reports
// whether it answered.
func pingsFrom(ns *netnstest.NS, src, dst string) bool {
	args := []string{"ping", "-c", "1", "-W", "1"}
	if src != "" {
		args = append(args, "-I", src)
	}
	out, err := ns.Try(append(args, dst)...)
	return err == nil && strings.Contains(out, "1 received")
}

// TestBGPGracefulRestart: gannet (x) and BIRD (r) peer with graceful
// restart. When gannet stops (SIGTERM) or is killed (-9) and starts
// again, it comes back as a restarting speaker (its pinned programs
// adopted): BIRD keeps x's workload route in r's kernel all along, and
// the workload is reached again once gannet runs. When BIRD restarts
// gracefully, gannet is the helper: it keeps BIRD's route and the
// workload keeps reaching r meanwhile. Control: with graceful restart
// off (maxRestartTime 0s) a stop withdraws the route at once.
func TestBGPGracefulRestart(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	x, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gr")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:30:0a", "198.18.30.10", "")
	xif, rif := fabric(t, x, r, true)
	// Frames gannet forwards must leave r with their checksums finished.
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("ip", "addr", "add", "198.18.32.1/32", "dev", "lo")
	const wl, wlRoute, svc = "198.18.30.10", "198.18.30.10", "198.18.32.1"

	bird := newGRRouter(t, r, "198.18.100.1")
	bird.start(t, false)
	cfg := func(restart string) string {
		return fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.100.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers:
    - {peerIP: 198.18.100.2, asNumber: 64500, holdTime: 9s, maxRestartTime: %s, filters: [r]}
  filters:
    - name: r
      importV4: [{cidr: 198.18.32.0/24, matchOperator: In, action: Accept}]
`, xif, a.endpoint(0, "", ""), restart)
	}
	dx := startGannet(t, x, cfg("60s"))
	established := func() string {
		if out, _ := dx.cli("bgp", "peers"); !strings.Contains(out, "established") {
			return "gannet bgp peers:\n" + out
		}
		if out := bird.birdc("show", "protocols", "gannet"); !strings.Contains(out, "Established") {
			return "birdc show protocols:\n" + out
		}
		return ""
	}
	routesBothWays := func() string {
		if msg := established(); msg != "" {
			return msg
		}
		if out, _ := r.Try("ip", "route", "show", wlRoute); !strings.Contains(out, "198.18.100.1") {
			return "r's kernel has no route to the workload: " + out
		}
		if !pingsFrom(a.ns, "", svc) {
			return "the workload does not reach " + svc
		}
		if !pingsFrom(r, svc, wl) {
			return "r does not reach the workload from " + svc
		}
		return ""
	}
	waitFor(t, 60*time.Second, "routes both ways", routesBothWays)
	out, _ := dx.cli("bgp", "peers")
	t.Logf("gannet bgp peers:\n%s", out)

	// gannet restarts: stopped with SIGTERM, then killed with -9.
	for _, how := range []string{"SIGTERM", "kill -9"} {
		stop := watchRoute(r, wlRoute)
		down := time.Now()
		if how == "SIGTERM" {
			dx.stop()
		} else {
			dx.kill()
		}
		// While gannet is down BIRD keeps the route (stale).
		waitFor(t, 10*time.Second, "BIRD holds the route as stale", func() string {
			out := bird.birdc("show", "route", wlRoute+"/32", "all")
			if !strings.Contains(out, wlRoute) {
				return "birdc show route: " + out
			}
			if p := bird.birdc("show", "protocols", "gannet"); strings.Contains(p, "Established") {
				return "session still up: " + p
			}
			return ""
		})
		flows := pingsFrom(r, svc, wl)
		t.Logf("%s: gannet down; r reaches the workload through the pinned XDP programs meanwhile: %v", how, flows)
		dx.start()
		if !strings.Contains(dx.output(), "graceful restart") {
			t.Errorf("%s: gannet did not announce its start as a graceful restart:\n%s", how, dx.output())
		}
		waitFor(t, 60*time.Second, how+": routes both ways after the restart", routesBothWays)
		missing, polls := stop()
		t.Logf("%s: back %v after the stop; r's kernel missed the workload's route in %d of %d polls",
			how, time.Since(down).Round(time.Millisecond), missing, polls)
		if missing > 0 {
			t.Errorf("%s: r's kernel lost the route to the workload during gannet's restart (%d of %d polls)", how, missing, polls)
		}
		waitFor(t, 10*time.Second, how+": r reaches the workload after the restart", func() string {
			if !pingsFrom(r, svc, wl) {
				return "no answer"
			}
			return ""
		})
	}

	// BIRD restarts gracefully: gannet keeps its route and forwards.
	before, _ := dx.client().Status(t.Context())
	bird.gracefulStop(t)
	reached := 0
	for range 5 {
		if pingsFrom(a.ns, "", svc) {
			reached++
		}
	}
	st, err := dx.client().Status(t.Context())
	if err != nil || st.BGP == nil || st.BGP.Routes != 1 || before.BGP == nil || before.BGP.Routes != 1 {
		t.Errorf("BIRD down: gannet's learned routes %+v (before %+v), err %v; want BIRD's route kept", st.BGP, before.BGP, err)
	}
	if reached < 4 {
		t.Errorf("BIRD down: the workload reached %s %d times of 5; want it kept forwarding", svc, reached)
	}
	t.Logf("BIRD down: gannet keeps its route; the workload reached %s %d of 5 times", svc, reached)
	bird.start(t, true)
	waitFor(t, 60*time.Second, "routes both ways after BIRD's restart", routesBothWays)

	// Control: without graceful restart the same stop withdraws at once.
	dx.stop()
	if err := os.WriteFile(dx.config, []byte(cfg("0s")+fmt.Sprintf("\napi:\n  socket: %s\n", dx.socket)), 0o644); err != nil {
		t.Fatal(err)
	}
	dx.start()
	waitFor(t, 60*time.Second, "routes both ways, graceful restart off", routesBothWays)
	dx.stop()
	waitFor(t, 10*time.Second, "graceful restart off: the stop withdraws the route", func() string {
		if out, _ := r.Try("ip", "route", "show", wlRoute); strings.Contains(out, wlRoute) {
			return "r's kernel still routes to the workload: " + out
		}
		return ""
	})
}
