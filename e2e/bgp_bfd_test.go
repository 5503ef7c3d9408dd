package e2e

// BFD (RFC 5880/5881) on a BGP session: a hung gannet is detected by
// BFD's detection time instead of BGP's hold time.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestBGPBFD: gannet (bfd: true, GoBGP's BFD with its defaults: 1 s
// intervals, multiplier 3) peers with BIRD 2 (bfd on, hold time 30 s).
// The BFD session comes up. When BIRD hangs (SIGSTOP), gannet ends the
// session and stops forwarding to BIRD's route by BFD's detection time;
// when gannet hangs, BIRD withdraws gannet's workload route as fast —
// both well before the 30 s hold time would.
func TestBGPBFD(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	x, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gb")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:50:0a", "198.18.50.10", "")
	xif, _ := fabric(t, x, r, true)
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(`
router id 198.18.100.2;
protocol device {}
protocol bfd { interface "*" { interval 300 ms; multiplier 3; }; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol static s4 { ipv4; route 198.18.51.0/24 blackhole; }
protocol bgp gannet {
  local 198.18.100.2 as 64500; neighbor 198.18.100.1 as 64512;
  hold time 30; connect retry time 1; error wait time 1, 5;
  bfd on;
  ipv4 { import all; export where source = RTS_STATIC; };
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bird := r.Command("bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	background(t, bird, "bird")
	birdc := func(args ...string) string {
		out, _ := r.Try(append([]string{"birdc", "-s", sock}, args...)...)
		return out
	}
	d := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.100.1}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers: [{peerIP: 198.18.100.2, asNumber: 64500, holdTime: 30s, maxRestartTime: 0s, bfd: true, filters: [r]}]
  filters:
    - name: r
      importV4: [{cidr: 198.18.51.0/24, matchOperator: Equal, action: Accept}]
`, xif, a.endpoint(0, "", "")))
	learned := func() int {
		st, err := d.client().Status(t.Context())
		if err != nil || st.BGP == nil {
			return -1
		}
		return st.BGP.Routes
	}
	up := func() string {
		if out := birdc("show", "bfd", "sessions"); !strings.Contains(out, "Up") {
			return "birdc show bfd sessions:\n" + out
		}
		if out, _ := r.Try("ip", "route", "show", "198.18.50.10"); !strings.Contains(out, "198.18.100.1") {
			return "r's kernel: " + out
		}
		if n := learned(); n != 1 {
			return fmt.Sprintf("gannet forwards %d learned routes, want BIRD's one", n)
		}
		return ""
	}
	waitFor(t, 60*time.Second, "BGP and BFD up, routes both ways", up)
	t.Logf("birdc show bfd sessions:\n%s", birdc("show", "bfd", "sessions"))

	// BIRD hangs: gannet's BFD ends the session.
	if err := bird.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 20*time.Second, "gannet drops the hung peer's route", func() string {
		if n := learned(); n != 0 {
			return fmt.Sprintf("gannet forwards %d learned routes", n)
		}
		return ""
	})
	out, _ := d.cli("bgp", "peers")
	t.Logf("gannet dropped the hung BIRD's route %v after SIGSTOP (hold time 30 s):\n%s", took.Round(time.Millisecond), out)
	if took > 10*time.Second {
		t.Errorf("gannet dropped the route after %v: not BFD's detection (about 3 s), nearer the hold time", took)
	}
	bird.Process.Signal(syscall.SIGCONT)
	waitFor(t, 60*time.Second, "BGP and BFD up again", up)
	// gannet hangs: no BFD packet, no keepalive, the TCP connection open.
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Signal(syscall.SIGCONT) })
	took = waitFor(t, 20*time.Second, "BIRD withdraws the hung host's route", func() string {
		if out, _ := r.Try("ip", "route", "show", "198.18.50.10"); strings.Contains(out, "198.18.50.10") {
			return "r's kernel still routes to the workload: " + out
		}
		return ""
	})
	t.Logf("BIRD withdrew the hung gannet's route %v after SIGSTOP (hold time 30 s):\n%s", took.Round(time.Millisecond), birdc("show", "protocols", "all", "gannet"))
	if took > 10*time.Second {
		t.Errorf("withdrawn after %v: not BFD's detection (about 3 s), nearer the hold time", took)
	}
}
