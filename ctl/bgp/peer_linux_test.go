package bgp

// Interoperability for real: the Speaker in one network namespace (a
// helper process: GoBGP opens its sockets on goroutines of its own, so
// the whole process must live in the namespace), gobgpd 3 or BIRD 2 in
// another, over a veth pair. Needs root, gobgpd/gobgp and bird/birdc
// (Debian packages gobgpd and bird2); skips naming what is missing.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

const (
	speaker4 = "198.18.250.2"
	peer4    = "198.18.250.1"
	speaker6 = "2001:db8:250::2"
	peer6    = "2001:db8:250::1"
)

// pair is two namespaces joined by a veth: a for the Speaker, b for the
// other router.
type pair struct{ a, b *netnstest.NS }

func newPair(t *testing.T) pair {
	p := pair{a: netnstest.NewNS(t, "bgpa"), b: netnstest.NewNS(t, "bgpb")}
	ia, ib := netnstest.Name("bga"), netnstest.Name("bgb")
	netnstest.Veth(t, ia, p.a, ib, p.b)
	p.a.Run("ip", "addr", "add", speaker4+"/24", "dev", ia)
	p.a.Run("ip", "-6", "addr", "add", speaker6+"/64", "dev", ia, "nodad")
	p.b.Run("ip", "addr", "add", peer4+"/24", "dev", ib)
	p.b.Run("ip", "-6", "addr", "add", peer6+"/64", "dev", ib, "nodad")
	return p
}

// start runs a background command and stops it when the test ends.
func start(t *testing.T, cmd *exec.Cmd, logName string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("%s output:\n%s", logName, out)
		}
	})
}

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v (after %v)", what, err, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// helper drives a Speaker running in another process (see TestMain).
type helper struct {
	t     *testing.T
	in    io.Writer
	mu    sync.Mutex
	cond  *sync.Cond
	route map[netip.Prefix]Route // last event per prefix
	log   []Route
	peers []PeerStatus
	rib   []RIBRoute
	seq   int // answers received
}

func startSpeaker(t *testing.T, ns *netnstest.NS, cfgYAML string) *helper {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gannet.yaml")
	if err := os.WriteFile(cfg, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GANNET_BGP_HELPER="+cfg)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "speaker.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{t: t, in: in, route: map[netip.Prefix]Route{}}
	h.cond = sync.NewCond(&h.mu)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			kind, data, _ := strings.Cut(sc.Text(), " ")
			h.mu.Lock()
			switch kind {
			case "route":
				var r Route
				if err := json.Unmarshal([]byte(data), &r); err == nil {
					h.route[r.Prefix] = r
					h.log = append(h.log, r)
				}
			case "peers":
				h.peers = nil
				json.Unmarshal([]byte(data), &h.peers)
				h.seq++
			case "rib":
				h.rib = nil
				json.Unmarshal([]byte(data), &h.rib)
				h.seq++
			case "ok", "error":
				if kind == "error" {
					t.Errorf("speaker: %s", data)
				}
				h.seq++
			}
			h.cond.Broadcast()
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(errf.Name())
			t.Logf("speaker log:\n%s", b)
		}
	})
	return h
}

// do sends a command and waits for its answer.
func (h *helper) do(cmd string) {
	h.t.Helper()
	h.mu.Lock()
	want := h.seq + 1
	h.mu.Unlock()
	if _, err := fmt.Fprintln(h.in, cmd); err != nil {
		h.t.Fatalf("speaker %q: %v", cmd, err)
	}
	timer := time.AfterFunc(10*time.Second, func() { h.mu.Lock(); h.seq = -1 << 30; h.cond.Broadcast(); h.mu.Unlock() })
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.seq >= 0 && h.seq < want {
		h.cond.Wait()
	}
	if h.seq < 0 {
		h.t.Fatalf("speaker %q: no answer", cmd)
	}
}

func (h *helper) Peers() []PeerStatus {
	h.do("peers")
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peers
}

func (h *helper) RIB(q string) []RIBRoute {
	h.do("rib " + q)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rib
}

func (h *helper) lastRoute(p string) (Route, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.route[netip.MustParsePrefix(p)]
	return r, ok
}

// established waits until the Speaker's sessions with addrs are up.
func (h *helper) established(d time.Duration, addrs ...string) {
	h.t.Helper()
	eventually(h.t, d, "sessions established", func() error {
		ps := h.Peers()
		for _, a := range addrs {
			found := false
			for _, p := range ps {
				if p.Address.String() == a {
					found = true
					if p.State != "established" {
						return fmt.Errorf("peer %s is %s", a, p.State)
					}
				}
			}
			if !found {
				return fmt.Errorf("no peer %s in %+v", a, ps)
			}
		}
		return nil
	})
}

func (h *helper) wantRoute(d time.Duration, prefix string, nextHops ...string) {
	h.t.Helper()
	eventually(h.t, d, "route "+prefix, func() error {
		r, ok := h.lastRoute(prefix)
		if !ok {
			return fmt.Errorf("no route event")
		}
		var got []string
		for _, nh := range r.NextHops {
			got = append(got, nh.String())
		}
		if len(nextHops) == 0 {
			if !r.Withdrawn {
				return fmt.Errorf("last event %+v, want withdrawn", r)
			}
			return nil
		}
		if r.Withdrawn || strings.Join(got, ",") != strings.Join(nextHops, ",") {
			return fmt.Errorf("last event %+v, want next hops %v", r, nextHops)
		}
		return nil
	})
}

const gobgpdAPI = "127.0.0.1:50051"

// startGobgpd runs gobgpd in ns with a TOML config.
func startGobgpd(t *testing.T, ns *netnstest.NS, toml string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, ns.Command("gobgpd", "-f", conf, "--api-hosts", gobgpdAPI, "--pprof-disable", "-p"), "gobgpd.log")
	eventually(t, 10*time.Second, "gobgpd API", func() error {
		_, err := ns.Try("gobgp", "global")
		return err
	})
}

func gobgpdConf(password string, extra string) string {
	return fmt.Sprintf(`
[global.config]
  as = 64500
  router-id = "%[1]s"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%[2]s"
    peer-as = 64512
    auth-password = "%[5]s"
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%[3]s"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
%[4]s`, peer4, speaker4, speaker6, extra, password)
}

func speakerConf(password string, maxPrefixes int) string {
	return fmt.Sprintf(`
node: {routerIPv4: %[1]s}
bgp:
  asNumber: 64512
  communities: [{name: lab, value: "64512:100"}]
  prefixAdvertisements: [{cidr: 198.18.0.0/16, communities: [lab]}]
  peers:
    - {peerIP: %[2]s, asNumber: 64500, password: %[4]q, holdTime: 9s, keepaliveTime: 3s, maxPrefixes: %[5]d, filters: [core]}
    - {peerIP: "%[3]s", asNumber: 64500, holdTime: 9s, keepaliveTime: 3s, filters: [core]}
  filters:
    - name: core
      importV4: [{cidr: 198.18.0.0/15, matchOperator: In, prefixLength: {max: 32}, action: Accept}]
      importV6: [{cidr: "2001:db8::/32", matchOperator: In, action: Accept}]
`, speaker4, peer4, peer6, password, maxPrefixes)
}

// TestGobgpd peers the Speaker with gobgpd over IPv4 (with a TCP MD5
// password) and IPv6: routes flow both ways, the import filter rejects
// what it should, withdrawals are seen, and exceeding maxPrefixes ends
// the session.
func TestGobgpd(t *testing.T) {
	netnstest.Require(t, "gobgpd", "gobgp")
	p := newPair(t)
	startGobgpd(t, p.b, gobgpdConf("s3cret", ""))
	h := startSpeaker(t, p.a, speakerConf("s3cret", 100))
	h.established(30*time.Second, peer4, peer6)

	// Speaker -> gobgpd.
	h.do("announce 198.18.1.0/24")
	h.do("announce 2001:db8:1::/48")
	eventually(t, 10*time.Second, "gobgpd learns the Speaker's routes", func() error {
		out4, _ := p.b.Try("gobgp", "global", "rib", "-a", "ipv4")
		out6, _ := p.b.Try("gobgp", "global", "rib", "-a", "ipv6")
		if !strings.Contains(out4, "198.18.1.0/24") || !strings.Contains(out4, speaker4) || !strings.Contains(out4, "64512:100") {
			return fmt.Errorf("gobgp global rib -a ipv4:\n%s", out4)
		}
		if !strings.Contains(out6, "2001:db8:1::/48") || !strings.Contains(out6, speaker6) {
			return fmt.Errorf("gobgp global rib -a ipv6:\n%s", out6)
		}
		return nil
	})

	// gobgpd -> Speaker, through the import filter.
	p.b.Run("gobgp", "global", "rib", "add", "198.18.10.0/24", "-a", "ipv4")
	p.b.Run("gobgp", "global", "rib", "add", "203.0.113.0/24", "-a", "ipv4")
	p.b.Run("gobgp", "global", "rib", "add", "2001:db8:10::/48", "-a", "ipv6")
	p.b.Run("gobgp", "global", "rib", "add", "2001:db9::/32", "-a", "ipv6")
	h.wantRoute(10*time.Second, "198.18.10.0/24", peer4)
	h.wantRoute(10*time.Second, "2001:db8:10::/48", peer6)
	eventually(t, 10*time.Second, "rejected routes received but filtered", func() error {
		rib := h.RIB(peer4)
		for _, r := range rib {
			if r.Prefix.String() == "203.0.113.0/24" {
				if !r.Filtered {
					return fmt.Errorf("203.0.113.0/24 not filtered: %+v", r)
				}
				return nil
			}
		}
		return fmt.Errorf("adj-rib-in of %s: %+v", peer4, rib)
	})
	for _, pfx := range []string{"203.0.113.0/24", "2001:db9::/32"} {
		if r, ok := h.lastRoute(pfx); ok {
			t.Errorf("rejected %s arrived as %+v", pfx, r)
		}
	}
	for _, r := range h.RIB("") {
		if r.Prefix.String() == "203.0.113.0/24" || r.Prefix.String() == "2001:db9::/32" {
			t.Errorf("rejected route in the best paths: %+v", r)
		}
	}
	// Nothing learned goes back out (no transit), and gobgpd's own routes
	// would be an AS loop anyway: gobgpd sees exactly our two prefixes.
	ps := h.Peers()
	for _, pe := range ps {
		for _, f := range pe.Families {
			if f.Advertised != 1 {
				t.Errorf("peer %s %s advertised %d, want 1 (our own route only): %+v", pe.Address, f.Family, f.Advertised, pe)
			}
		}
		if pe.Since.IsZero() {
			t.Errorf("peer %s: no uptime", pe.Address)
		}
	}

	// Withdrawals both ways.
	p.b.Run("gobgp", "global", "rib", "del", "198.18.10.0/24", "-a", "ipv4")
	h.wantRoute(10*time.Second, "198.18.10.0/24")
	h.do("withdraw 2001:db8:1::/48")
	eventually(t, 10*time.Second, "gobgpd sees the withdrawal", func() error {
		out6, _ := p.b.Try("gobgp", "global", "rib", "-a", "ipv6")
		if strings.Contains(out6, "2001:db8:1::/48") {
			return fmt.Errorf("gobgp global rib -a ipv6:\n%s", out6)
		}
		return nil
	})

	// maxPrefixes: the IPv4 session may carry 2; gobgpd sends a third
	// (the rejected one counts: it was received).
	p.b.Run("gobgp", "global", "rib", "add", "198.18.11.0/24", "-a", "ipv4")
	h.wantRoute(10*time.Second, "198.18.11.0/24", peer4)
	h.do("apply " + strings.ReplaceAll(speakerConf("s3cret", 2), "\n", `\n`))
	h.established(30*time.Second, peer4)
	p.b.Run("gobgp", "global", "rib", "add", "198.18.12.0/24", "-a", "ipv4")
	eventually(t, 10*time.Second, "prefix limit ends the session", func() error {
		for _, pe := range h.Peers() {
			if pe.Address.String() == peer4 {
				if pe.State == "established" || !pe.PrefixLimit {
					return fmt.Errorf("peer %+v", pe)
				}
				return nil
			}
		}
		return fmt.Errorf("no peer %s", peer4)
	})
	out, _ := p.b.Try("gobgp", "neighbor", speaker4)
	if !strings.Contains(strings.ToLower(out), "maximum number of prefixes") && !strings.Contains(out, "BGP state = idle") && !strings.Contains(out, "BGP state = active") {
		t.Logf("gobgp neighbor %s:\n%s", speaker4, out)
	}
	h.wantRoute(10*time.Second, "198.18.11.0/24")
	h.established(time.Second, peer6) // the other session is untouched
}

// TestGobgpdWrongPassword: with different TCP MD5 keys no session comes up.
func TestGobgpdWrongPassword(t *testing.T) {
	netnstest.Require(t, "gobgpd", "gobgp")
	p := newPair(t)
	startGobgpd(t, p.b, gobgpdConf("right", ""))
	h := startSpeaker(t, p.a, speakerConf("wrong", 100))
	h.established(30*time.Second, peer6) // the IPv6 session has no password
	time.Sleep(8 * time.Second)          // several connect retries
	for _, pe := range h.Peers() {
		if pe.Address.String() == peer4 && pe.State == "established" {
			t.Fatalf("session with a wrong password is established: %+v", pe)
		}
	}
	if out, _ := p.b.Try("gobgp", "neighbor"); strings.Contains(out, speaker4) && strings.Contains(out, "Establ") &&
		strings.Contains(strings.SplitN(out[strings.Index(out, speaker4):], "\n", 2)[0], "Establ") {
		t.Fatalf("gobgpd established with a wrong password:\n%s", out)
	}
}

// TestBird peers the Speaker with BIRD 2 over IPv4 and IPv6.
func TestBird(t *testing.T) {
	netnstest.Require(t, "bird", "birdc")
	p := newPair(t)
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
router id %[1]s;
protocol device {}
protocol static s4 { ipv4; route 198.18.20.0/24 blackhole; route 203.0.113.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:20::/48 blackhole; }
protocol bgp gannet4 {
  local %[1]s as 64500; neighbor %[2]s as 64512;
  hold time 9; connect retry time 2;
  ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp gannet6 {
  local %[3]s as 64500; neighbor %[4]s as 64512;
  hold time 9; connect retry time 2;
  ipv6 { import all; export where source = RTS_STATIC; };
}
`, peer4, speaker4, peer6, speaker6)), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, p.b.Command("bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid")), "bird.log")
	h := startSpeaker(t, p.a, speakerConf("", 100))
	h.established(30*time.Second, peer4, peer6)
	h.do("announce 198.18.1.0/24")
	h.do("announce 2001:db8:1::/48")
	eventually(t, 10*time.Second, "BIRD learns the Speaker's routes", func() error {
		out, _ := p.b.Try("birdc", "-s", sock, "show", "route")
		if !strings.Contains(out, "198.18.1.0/24") || !strings.Contains(out, "2001:db8:1::/48") {
			return fmt.Errorf("birdc show route:\n%s", out)
		}
		return nil
	})
	h.wantRoute(10*time.Second, "198.18.20.0/24", peer4)
	h.wantRoute(10*time.Second, "2001:db8:20::/48", peer6)
	if r, ok := h.lastRoute("203.0.113.0/24"); ok {
		t.Errorf("rejected 203.0.113.0/24 arrived as %+v", r)
	}
	h.do("withdraw 198.18.1.0/24")
	eventually(t, 10*time.Second, "BIRD sees the withdrawal", func() error {
		out, _ := p.b.Try("birdc", "-s", sock, "show", "route")
		if strings.Contains(out, "198.18.1.0/24") {
			return fmt.Errorf("birdc show route:\n%s", out)
		}
		return nil
	})
	p.b.Run("birdc", "-s", sock, "disable", "s4")
	h.wantRoute(10*time.Second, "198.18.20.0/24")
}
