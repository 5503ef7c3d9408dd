package e2e

// BGP as a network, not a pair: gannet hosts under a BIRD 2 route
// reflector, a border with an "Internet" behind it, and gannet peering
// with FRR. Workload routes come from BGP only; traffic checks that the
// routes are followed. Needs the Debian packages bird2 and frr (skips
// naming the missing one).

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// needPackages skips t unless every program is installed; programs maps
// a program (a name on PATH or an absolute path) to its Debian package.
func needPackages(t *testing.T, programs map[string]string) {
	t.Helper()
	for prog, pkg := range programs {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s from the Debian package %s (apt-get install %s)", prog, pkg, pkg)
		}
	}
}

// background runs cmd until the test ends (SIGKILL, then wait); its output
// goes to a log file whose contents the returned function reads, and which
// is printed when the test failed.
func background(t *testing.T, cmd *exec.Cmd, name string) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd, err)
	}
	read := func() string { b, _ := os.ReadFile(path); return string(b) }
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, read())
		}
	})
	return read
}

// waitFor retries f every 100 ms until it returns "" or d passes; it
// returns how long it took, or fails the test with f's last complaint.
func waitFor(t *testing.T, d time.Duration, what string, f func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := f()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v: %s", what, d, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// core is the route reflector's namespace: one Linux bridge every host's
// uplink is plugged into, one IPv6 subnet on it and no IPv4 at all, and
// BIRD 2 reflecting iBGP between the hosts: one IPv6 session per host
// carrying both families, IPv4 routes with IPv6 next hops (RFC 8950).
// The hosts share the subnet, so the next hops the reflector passes on
// unchanged (no next-hop-self) are on a connected subnet of every host's
// uplink.
type core struct {
	ns   *netnstest.NS
	br   string
	sock string // birdc socket
}

const (
	coreAS = 64512
	rrID   = "198.18.200.254" // the reflector's router ID: an identifier, on no link
	rrIPv6 = "2001:db8:200::fe"
)

func newCore(t *testing.T) *core {
	t.Helper()
	c := &core{ns: netnstest.NewNS(t, "rr"), br: netnstest.Name("br")}
	c.ns.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
	c.ns.Run("ip", "link", "add", c.br, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
	c.ns.Run("ip", "link", "set", c.br, "up")
	c.ns.Run("ip", "-6", "addr", "add", rrIPv6+"/64", "dev", c.br, "nodad")
	return c
}

// plug joins host to the core's bridge with the IPv6 address v6 (and no
// IPv4 one) and returns the host's uplink.
func (c *core) plug(t *testing.T, host *netnstest.NS, v6 string) string {
	t.Helper()
	up, port := netnstest.Name("fab"), netnstest.Name("rrp")
	host.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
	netnstest.Veth(t, up, host, port, c.ns)
	c.ns.Run("ip", "link", "set", port, "master", c.br)
	host.Run("ip", "-6", "addr", "add", v6+"/64", "dev", up, "nodad")
	return up
}

// startBIRD runs BIRD 2 as the route reflector of clients (IPv6
// addresses: one session each carrying IPv4 and IPv6 unicast, IPv4 with
// the extended next hop), hold time 9 s. Client i's session is c<i>.
func (c *core) startBIRD(t *testing.T, clients ...string) func() string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`
router id %s;
protocol device {}
template bgp rrclient {
  local as %d;
  rr client;
  rr cluster id %s;
  direct;
  hold time 9;
  connect retry time 2;
  error wait time 1, 5;
}
`, rrID, coreAS, rrID)
	for i, cl := range clients {
		conf += fmt.Sprintf(`
protocol bgp c%[1]d from rrclient {
  neighbor %[2]s as %[3]d;
  ipv4 { extended next hop on; import all; export all; gateway direct; };
  ipv6 { import all; export all; gateway direct; };
}
`, i, cl, coreAS)
	}
	path := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.sock = filepath.Join(dir, "bird.ctl")
	return background(t, c.ns.Command("bird", "-f", "-c", path, "-s", c.sock, "-P", filepath.Join(dir, "bird.pid")), "bird")
}

func (c *core) birdc(args ...string) string {
	out, _ := c.ns.Try(append([]string{"birdc", "-s", c.sock}, args...)...)
	return out
}

// coreHostConfig is a compute host of the core: flat workloads, tenants 7
// and 8 (translated), one IPv6 session with the reflector carrying both
// families (IPv4 with IPv6 next hops). v4 is the router ID and the
// source of the host's ICMPv4 errors, on no link.
// Graceful restart is off (maxRestartTime: 0s): with it the reflector
// would keep a crashed host's routes as stale for up to maxRestartTime
// (default 120 s), which is what a restart wants and a crash does not.
func coreHostConfig(name, v4, v6, uplink, eps string) string {
	return fmt.Sprintf(`
node: {name: %[1]s, routerIPv4: %[2]s, routerIPv6: "%[3]s"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %[4]s}]
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
workloadEndpoints:
%[5]s
translation:
  addressSpaces: {7: , 8: }
bgp:
  asNumber: %[6]d
  peers:
    - {peerIP: "%[7]s", asNumber: %[6]d, holdTime: 9s, maxRestartTime: 0s, families: [ipv4, ipv6], filters: [core]}
  filters:
    - name: core
      importV4: [{cidr: 198.18.0.0/15, matchOperator: In, action: Accept}, {cidr: 203.0.113.0/24, matchOperator: In, action: Accept}]
      importV6: [{cidr: "2001:db8::/32", matchOperator: In, action: Accept}, {cidr: "64:ff9b:1::/48", matchOperator: In, action: Accept}]
`, name, v4, v6, uplink, eps, coreAS, rrIPv6)
}

// TestBGPNetwork: two compute hosts and a border, each running gannet,
// under a BIRD 2 route reflector on one IPv6-only core link (the flat
// space's IPv4 carried by IPv4 routes with IPv6 next hops, RFC 8950), an
// "Internet" host behind the border, and no static route for any
// workload. Flat workloads reach each other over IPv4 and IPv6; tenants 7
// and 8 with the same IPv4 addresses on both hosts reach only their own
// peers; a natOutgoing workload and a tenant-7 workload reach the
// Internet through the border; a floating IP is reached from the
// Internet. Then one compute host's gannet is killed: the reflector
// withdraws its routes and the others answer its workloads' addresses net
// unreachable.
func TestBGPNetwork(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	begin := time.Now()
	c := newCore(t)
	x, y, b := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy"), netnstest.NewNS(t, "gb")

	// Workloads: a flat one on each host; tenants 7 and 8 on both hosts
	// with the same addresses.
	wa := addWorkload(t, x, "wl-a", "02:00:00:00:21:0a", "198.18.21.10", "2001:db8:21::10")
	wb := addWorkload(t, y, "wl-b", "02:00:00:00:22:0b", "198.18.22.10", "2001:db8:22::10")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:21:0a", "100.64.0.10", "")
	t8x := addWorkload(t, x, "t8-x", "02:00:00:08:21:0a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:22:0b", "100.64.0.20", "")
	t8y := addWorkload(t, y, "t8-y", "02:00:00:08:22:0b", "100.64.0.20", "")
	// And one on the border, behind a floating IP.
	wf := addWorkload(t, b, "wl-f", "02:00:00:00:23:0f", "198.18.23.10", "")

	xif := c.plug(t, x, "2001:db8:200::1")
	yif := c.plug(t, y, "2001:db8:200::2")
	bif := c.plug(t, b, "2001:db8:200::3")
	// The Internet: 203.0.113.2 behind the border's second uplink; it
	// routes the border's external pool back to it (static: that is the
	// upstream's business, not a workload route).
	up, inet := addInternet(t, b, "203.0.113.64/28", "203.0.113.80/28")

	c.startBIRD(t, "2001:db8:200::1", "2001:db8:200::2", "2001:db8:200::3")

	dx := startGannet(t, x, coreHostConfig("x", "198.18.200.1", "2001:db8:200::1", xif,
		wa.endpoint(0, "", "")+t7x.endpoint(7, "", "")+t8x.endpoint(8, "", "")))
	dy := startGannet(t, y, coreHostConfig("y", "198.18.200.2", "2001:db8:200::2", yif,
		wb.endpoint(0, "", "")+t7y.endpoint(7, "", "")+t8y.endpoint(8, "", "")))
	// The border: the Internet's default route is static (not a workload
	// route); it announces 203.0.113.0/24 (the Internet as the core sees
	// it), tenant 7's exit 64:ff9b:1:7::/96 and its floating IP, and
	// source-NATs the flat workloads and tenant 7 to its external pool.
	db := startGannet(t, b, fmt.Sprintf(`
node: {name: border, routerIPv4: 198.18.200.3, routerIPv6: "2001:db8:200::3"}
dataplane: {cores: [0], frames: 4096, conntrack: {capacity: 4096}}
ports: [{interface: %[1]s}, {interface: %[2]s}]
addressSpaces: [{id: 7, translated: true}]
workloadEndpoints:
%[5]s
translation:
  addressSpaces: {7: }
routes:
  - {prefix: 0.0.0.0/0, via: 203.0.113.2, interface: %[2]s}
  - {prefix: "64:ff9b:1:7::/96", translateToSpace: 7}
nat:
  ipPools: [{cidr: 198.18.16.0/20, natOutgoing: true}, {cidr: 100.64.0.0/16, space: 7, natOutgoing: true}]
  external: [{cidr: 203.0.113.64/28, ports: 20000-29999}]
  floatingIPs: [{public: 203.0.113.80, workload: 198.18.23.10}]
bgp:
  asNumber: %[3]d
  prefixAdvertisements: [{cidr: 203.0.113.0/24}]
  peers:
    - {peerIP: "%[4]s", asNumber: %[3]d, holdTime: 9s, families: [ipv4, ipv6], filters: [core]}
  filters:
    - name: core
      importV4: [{cidr: 198.18.0.0/15, matchOperator: In, action: Accept}]
      importV6: [{cidr: "2001:db8::/32", matchOperator: In, action: Accept}, {cidr: "64:ff9b:1::/48", matchOperator: In, action: Accept}]
`, bif, up, coreAS, rrIPv6, wf.endpoint(0, "", "")))
	daemons := map[string]*daemon{"x": dx, "y": dy, "border": db}
	started := time.Now()
	t.Logf("lab built and three gannets started in %v", started.Sub(begin).Round(time.Millisecond))

	diag := func() string {
		var sb strings.Builder
		sb.WriteString("birdc show protocols:\n" + c.birdc("show", "protocols"))
		sb.WriteString("birdc show route:\n" + c.birdc("show", "route"))
		for _, n := range []string{"x", "y", "border"} {
			p, _ := daemons[n].cli("bgp", "peers")
			r, _ := daemons[n].cli("bgp", "routes")
			fmt.Fprintf(&sb, "%s: gannet bgp peers:\n%s\n%s: gannet bgp routes:\n%s\n", n, p, n, r)
		}
		return sb.String()
	}

	// Every session up, then the workload routes through the reflector.
	conv := waitFor(t, 30*time.Second, "three sessions established at the reflector", func() string {
		out := c.birdc("show", "protocols")
		if n := strings.Count(out, "Established"); n != 3 {
			return fmt.Sprintf("%d of 3 established:\n%s", n, out)
		}
		return ""
	})
	t.Logf("three sessions established at the reflector %v after the gannets started", conv.Round(time.Millisecond))

	learned := waitFor(t, 20*time.Second, "x learns wl-b's routes through the reflector", func() string {
		if r, _ := dx.cli("bgp", "routes"); !strings.Contains(r, "198.18.22.10/32") || !strings.Contains(r, "2001:db8:22::10/128") || !strings.Contains(r, "64:ff9b:1:7::6440:14/128") {
			return "gannet bgp routes on x:\n" + r
		}
		return ""
	})
	t.Logf("x learned y's workload routes %v after the gannets started", (conv + learned).Round(time.Millisecond))

	// The core is IPv6 only: x forwards the flat space's IPv4 by y's
	// IPv6 address, learned over the one IPv6 session that negotiated
	// the extended next hop.
	if p, _ := dx.cli("bgp", "peers"); !strings.Contains(p, "established (ipv4 over ipv6 next hops)") {
		t.Errorf("x's session does not carry IPv4 over IPv6 next hops:\n%s", p)
	}
	if r, _ := dx.cli("routes"); !regexp.MustCompile(`198\.18\.22\.10/32 .*2001:db8:200::2`).MatchString(r) {
		t.Errorf("x does not route 198.18.22.10/32 via y's IPv6 address:\n%s", r)
	}
	if out := x.Run("ip", "-4", "addr", "show", "dev", xif); strings.Contains(out, "inet ") {
		t.Errorf("x's core uplink has an IPv4 address:\n%s", out)
	}

	// Flat space, IPv4 and IPv6, both ways.
	for _, tc := range []struct {
		from *workload
		dst  string
	}{{wa, wb.v4}, {wa, wb.v6}, {wb, wa.v4}, {wb, wa.v6}} {
		if !tc.from.waitPing(t, tc.dst, 20*time.Second) {
			t.Fatalf("%s cannot reach %s over routes learned through the reflector:\n%s", tc.from.name, tc.dst, diag())
		}
	}
	t.Logf("flat workloads reach each other over IPv4 and IPv6 %v after the gannets started", time.Since(started).Round(time.Millisecond))
	if got := wa.ping(t, wb.v4, 3); got != 3 {
		t.Errorf("wl-a -> wl-b: %d of 3 replies", got)
	}
	// Through one gannet hop each side: the reflector is not on the path
	// as a router (it bridges).
	if out := wa.ns.Run("ping", "-c", "1", wb.v4); !strings.Contains(out, "ttl=62") {
		t.Errorf("reply across two gannet hops, want ttl=62:\n%s", out)
	}
	transfer(t, wa, wb, "198.18.22.10:5001", 1<<20)
	transfer(t, wb, wa, "[2001:db8:21::10]:5002", 1<<20)

	// Tenants: the same IPv4 on both hosts, carried as RFC 6052 /128s
	// over the IPv6 core; each reaches only its own peer.
	serveName(t7y.listen(t, "100.64.0.20:7000"), "tenant 7")
	serveName(t8y.listen(t, "100.64.0.20:7000"), "tenant 8")
	for _, tc := range []struct {
		from *workload
		want string
	}{{t7x, "tenant 7"}, {t8x, "tenant 8"}} {
		if !tc.from.waitPing(t, "100.64.0.20", 10*time.Second) {
			t.Fatalf("%s cannot reach 100.64.0.20 over the core:\n%s", tc.from.name, diag())
		}
		conn, err := tc.from.dial("100.64.0.20:7000", 3*time.Second)
		if err != nil {
			t.Fatalf("%s: dial 100.64.0.20:7000: %v", tc.from.name, err)
		}
		got, _ := io.ReadAll(conn)
		conn.Close()
		if string(got) != tc.want {
			t.Errorf("%s reached %q at 100.64.0.20, want %q", tc.from.name, got, tc.want)
		}
	}
	// The reflector carries the tenants' core addresses and never their
	// IPv4.
	rib := c.birdc("show", "route")
	for _, want := range []string{"64:ff9b:1:7::6440:14/128", "64:ff9b:1:8::6440:a/128", "64:ff9b:1:7::/96", "198.18.21.10/32", "2001:db8:22::10/128", "203.0.113.0/24", "203.0.113.80/32"} {
		if !strings.Contains(rib, want) {
			t.Errorf("the reflector's table lacks %s:\n%s", want, rib)
		}
	}
	if strings.Contains(rib, "100.64.") {
		t.Errorf("a tenant's IPv4 address reached the reflector:\n%s", rib)
	}

	// The Internet, through the border: it sees the border's external
	// pool, never a workload's address.
	serveSource(t, inet, "203.0.113.2:7000")
	pool := netip.MustParsePrefix("203.0.113.64/28")
	for _, from := range []*workload{wa, t7x} {
		if !from.waitPing(t, "203.0.113.2", 10*time.Second) {
			t.Errorf("%s cannot ping 203.0.113.2 through the border:\n%s", from.name, diag())
			continue
		}
		conn, err := from.dial("203.0.113.2:7000", 3*time.Second)
		if err != nil {
			t.Errorf("%s: dial 203.0.113.2:7000 through the border: %v", from.name, err)
			continue
		}
		seen, _ := io.ReadAll(conn)
		conn.Close()
		ap, err := netip.ParseAddrPort(string(seen))
		if err != nil || !pool.Contains(ap.Addr()) || ap.Port() < 20000 || ap.Port() > 29999 {
			t.Errorf("the Internet saw %s's connection from %q, want an address of %v and a port in 20000-29999", from.name, seen, pool)
		} else {
			t.Logf("the Internet saw %s as %v", from.name, ap)
		}
	}
	// A floating IP: the Internet reaches wl-f (on the border) at
	// 203.0.113.80, and wl-f is a flat workload the hosts reach too.
	serveName(wf.listen(t, "198.18.23.10:7001"), "wl-f")
	if out, err := inet.Try("ping", "-c", "3", "-i", "0.2", "-W", "1", "203.0.113.80"); err != nil {
		t.Errorf("the Internet cannot ping wl-f's floating IP 203.0.113.80: %v\n%s", err, out)
	}
	if !wa.waitPing(t, wf.v4, 5*time.Second) {
		t.Errorf("wl-a cannot reach wl-f on the border:\n%s", diag())
	}
	var conn net.Conn
	if err := inet.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", "203.0.113.80:7001", 3*time.Second)
		return err
	}); err != nil {
		t.Errorf("the Internet: dial 203.0.113.80:7001: %v", err)
	} else {
		got, _ := io.ReadAll(conn)
		conn.Close()
		if string(got) != "wl-f" {
			t.Errorf("the Internet reached %q at 203.0.113.80, want wl-f", got)
		}
	}

	// y goes away, twice. First it hangs (SIGSTOP: no keepalive, no
	// forwarding, its kernel still up): the reflector's hold timer ends
	// the sessions and withdraws y's routes, and x answers wl-b's
	// addresses net unreachable — all within the 9 s hold time plus the
	// 1 s a withdrawal may take. Then it comes back and is reached again.
	// Then it crashes (SIGKILL): its kernel closes the sessions, and the
	// same happens at once.
	gone := func(what string, bound time.Duration, stop func()) {
		t.Helper()
		if got := wa.ping(t, wb.v4, 2); got != 2 {
			t.Fatalf("wl-a -> wl-b before y %s: %d of 2", what, got)
		}
		stop()
		stopped := time.Now()
		d := waitFor(t, bound+5*time.Second, "the reflector withdraws y's routes after y "+what, func() string {
			if r := c.birdc("show", "route", "for", wb.v4); strings.Contains(r, "198.18.22.10/32") {
				return r + c.birdc("show", "protocols", "all", "c1")
			}
			return ""
		})
		t.Logf("the reflector dropped y's routes %v after y %s", d.Round(time.Millisecond), what)
		for _, tc := range []struct{ dst, want string }{
			{wb.v4, "Destination Net Unreachable"},
			{wb.v6, "No route"},
		} {
			waitFor(t, 5*time.Second, "x stops sending to "+tc.dst, func() string {
				out, _ := wa.ns.Try("ping", "-c", "1", "-W", "0.5", tc.dst)
				if strings.Contains(out, tc.want) {
					return ""
				}
				return out
			})
			t.Logf("wl-a -> %s answered %q %v after y %s", tc.dst, tc.want, time.Since(stopped).Round(time.Millisecond), what)
		}
		if since := time.Since(stopped); since > bound {
			t.Errorf("x kept sending to y for %v after y %s, want at most %v", since, what, bound)
		}
	}
	gone("hung", 10*time.Second, func() { dy.cmd.Process.Signal(syscall.SIGSTOP) })
	dy.cmd.Process.Signal(syscall.SIGCONT)
	resumed := time.Now()
	for _, dst := range []string{wb.v4, wb.v6} {
		if !wa.waitPing(t, dst, 20*time.Second) {
			t.Fatalf("wl-a cannot reach %s after y resumed:\n%s", dst, diag())
		}
	}
	t.Logf("wl-a reaches wl-b again %v after y resumed", time.Since(resumed).Round(time.Millisecond))
	gone("was killed", time.Second, dy.kill)
	// The border stopped routing to y too.
	waitFor(t, 5*time.Second, "the border forgets y's routes", func() string {
		r, _ := db.cli("bgp", "routes")
		if strings.Contains(r, "198.18.22.10/32") || strings.Contains(r, "64:ff9b:1:7::6440:14/128") {
			return r
		}
		return ""
	})
	// x and the border still reach each other's side: the network goes on.
	if !wa.waitPing(t, "203.0.113.2", 5*time.Second) {
		t.Errorf("wl-a lost the Internet when y crashed:\n%s", diag())
	}
	t.Logf("TestBGPNetwork ran %v", time.Since(begin).Round(time.Millisecond))
}

// frr is FRR (zebra and bgpd) running in one namespace under its own
// path space: sockets in /var/run/frr/<name>/, reached with vtysh -N
// <name>.
type frr struct {
	ns   *netnstest.NS
	name string
}

// startFRR runs zebra and bgpd with bgpdConf in ns; zebra installs what
// bgpd learns into ns's kernel.
func startFRR(t *testing.T, ns *netnstest.NS, bgpdConf string) *frr {
	t.Helper()
	f := &frr{ns: ns, name: ns.Name}
	// The daemons run as the package's user frr (a root that is not in
	// group frrvty is refused); their run directory, which also holds
	// their configuration, is frr's.
	run := filepath.Join("/var/run/frr", f.name)
	if err := os.MkdirAll(run, 0o750); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	zconf, bconf := filepath.Join(run, "zebra.conf"), filepath.Join(run, "bgpd.conf")
	if err := os.WriteFile(zconf, []byte("hostname zebra\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bconf, []byte(bgpdConf), 0o600); err != nil {
		t.Fatal(err)
	}
	netnstest.Run(t, "chown", "-R", "frr:frr", run)
	common := []string{"-N", f.name, "--log", "stdout"}
	background(t, ns.Command(append([]string{"/usr/lib/frr/zebra", "-f", zconf, "-i", filepath.Join(run, "zebra.pid")}, common...)...), "zebra")
	waitFor(t, 10*time.Second, "zebra's socket", func() string {
		if _, err := os.Stat(filepath.Join(run, "zserv.api")); err != nil {
			return err.Error()
		}
		return ""
	})
	background(t, ns.Command(append([]string{"/usr/lib/frr/bgpd", "-f", bconf, "-i", filepath.Join(run, "bgpd.pid")}, common...)...), "bgpd")
	return f
}

// vtysh runs one vtysh command against f's daemons.
func (f *frr) vtysh(cmd string) string {
	out, _ := f.ns.Try("vtysh", "-N", f.name, "-c", cmd)
	return out
}

// TestBGPWithFRR: gannet peers with FRR (eBGP, an IPv4 and an IPv6
// session, both with a TCP MD5 password). Routes flow both ways and
// traffic follows them: FRR's zebra installs gannet's workload /32 and
// /128 into its kernel with gannet's next hops, gannet learns FRR's LAN
// (198.18.32.0/24, 2001:db8:32::/64), and a host on that LAN and the
// workload behind gannet reach each other.
func TestBGPWithFRR(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"/usr/lib/frr/bgpd": "frr", "/usr/lib/frr/zebra": "frr", "vtysh": "frr"})
	g, r := netnstest.NewNS(t, "gg"), netnstest.NewNS(t, "fr")
	wa := addWorkload(t, g, "wl-a", "02:00:00:00:31:0a", "198.18.31.10", "2001:db8:31::10")
	gif, rif := netnstest.Name("fab"), netnstest.Name("frr")
	netnstest.Veth(t, gif, g, rif, r)
	g.Run("ip", "addr", "add", "198.18.210.1/24", "dev", gif)
	g.Run("ip", "-6", "addr", "add", "2001:db8:210::1/64", "dev", gif, "nodad")
	r.Run("ip", "addr", "add", "198.18.210.2/24", "dev", rif)
	r.Run("ip", "-6", "addr", "add", "2001:db8:210::2/64", "dev", rif, "nodad")
	// FRR's frames reach a workload through gannet: finished checksums.
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	// FRR's LAN, with a host on it.
	h := netnstest.NewNS(t, "fh")
	lan, hif := netnstest.Name("lan"), netnstest.Name("eth")
	netnstest.Veth(t, lan, r, hif, h)
	r.Run("ip", "addr", "add", "198.18.32.1/24", "dev", lan)
	r.Run("ip", "-6", "addr", "add", "2001:db8:32::1/64", "dev", lan, "nodad")
	h.Run("ip", "addr", "add", "198.18.32.2/24", "dev", hif)
	h.Run("ip", "-6", "addr", "add", "2001:db8:32::2/64", "dev", hif, "nodad")
	h.Run("ip", "route", "add", "default", "via", "198.18.32.1")
	h.Run("ip", "-6", "route", "add", "default", "via", "2001:db8:32::1")
	h.Run("ethtool", "-K", hif, "tx", "off")

	// FRR's bgpd needs the link-local address of the interface an IPv6
	// session runs on (its second next hop); on a fresh veth that address
	// is tentative for a second or so, and a session that comes up before
	// it is reset by bgpd and flaps. Start FRR once both links have one.
	for _, dev := range []string{rif, lan} {
		waitFor(t, 10*time.Second, "a usable link-local address on "+dev, func() string {
			out := r.Run("ip", "-6", "addr", "show", "dev", dev, "scope", "link")
			if !strings.Contains(out, "inet6 fe80::") || strings.Contains(out, "tentative") {
				return out
			}
			return ""
		})
	}
	const password = "gannet-frr-md5"
	f := startFRR(t, r, fmt.Sprintf(`frr defaults traditional
hostname frr
!
router bgp 64500
 bgp router-id 198.18.210.2
 no bgp ebgp-requires-policy
 neighbor 198.18.210.1 remote-as 64512
 neighbor 198.18.210.1 password %[1]s
 neighbor 198.18.210.1 timers 3 9
 neighbor 198.18.210.1 timers connect 2
 neighbor 2001:db8:210::1 remote-as 64512
 neighbor 2001:db8:210::1 password %[1]s
 neighbor 2001:db8:210::1 timers 3 9
 neighbor 2001:db8:210::1 timers connect 2
 !
 address-family ipv4 unicast
  network 198.18.32.0/24
  neighbor 198.18.210.1 activate
  no neighbor 2001:db8:210::1 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:32::/64
  neighbor 2001:db8:210::1 activate
 exit-address-family
!
`, password))
	d := startGannet(t, g, fmt.Sprintf(`
node: {name: g, routerIPv4: 198.18.210.1, routerIPv6: "2001:db8:210::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers:
    - {peerIP: 198.18.210.2, asNumber: 64500, password: %[3]s, holdTime: 9s, filters: [frr]}
    - {peerIP: "2001:db8:210::2", asNumber: 64500, password: %[3]s, holdTime: 9s, filters: [frr]}
  filters:
    - name: frr
      importV4: [{cidr: 198.18.32.0/24, matchOperator: In, action: Accept}]
      importV6: [{cidr: "2001:db8:32::/48", matchOperator: In, action: Accept}]
`, gif, wa.endpoint(0, "", ""), password))
	started := time.Now()

	diag := func() string {
		p, _ := d.cli("bgp", "peers")
		rs, _ := d.cli("bgp", "routes")
		return "vtysh show bgp summary:\n" + f.vtysh("show bgp summary") +
			"\nvtysh show bgp ipv4/ipv6:\n" + f.vtysh("show bgp ipv4 unicast") + f.vtysh("show bgp ipv6 unicast") +
			"\ngannet bgp peers:\n" + p + "\ngannet bgp routes:\n" + rs + "\ngannet log:\n" + d.output()
	}
	up := waitFor(t, 30*time.Second, "both sessions established", func() string {
		out, _ := d.cli("bgp", "peers")
		if strings.Count(out, "established") != 2 {
			return diag()
		}
		return ""
	})
	t.Logf("both MD5 sessions with FRR established %v after gannet started", up.Round(time.Millisecond))
	t.Logf("vtysh -N %s -c 'show bgp summary':\n%s", f.name, f.vtysh("show bgp summary"))

	// gannet's workload in FRR's kernel, with gannet's next hops.
	waitFor(t, 10*time.Second, "FRR installs gannet's workload routes", func() string {
		v4 := r.Run("ip", "route", "show", "198.18.31.10/32")
		v6 := r.Run("ip", "-6", "route", "show", "2001:db8:31::10/128")
		if !strings.Contains(v4, "via 198.18.210.1") || !strings.Contains(v6, "via 2001:db8:210::1") && !strings.Contains(v6, "via fe80::") {
			return "ip route:\n" + v4 + v6 + "\n" + diag()
		}
		return ""
	})
	t.Logf("FRR's kernel routes to wl-a:\n%s%s", r.Run("ip", "route", "show", "198.18.31.10/32"), r.Run("ip", "-6", "route", "show", "2001:db8:31::10/128"))
	// FRR's LAN in gannet's RIB, and traffic both ways.
	learned := waitFor(t, 10*time.Second, "gannet learns FRR's LAN", func() string {
		if rs, _ := d.cli("bgp", "routes"); !strings.Contains(rs, "198.18.32.0/24") || !strings.Contains(rs, "2001:db8:32::/64") {
			return "gannet bgp routes:\n" + rs
		}
		return ""
	})
	t.Logf("gannet learned FRR's LAN %v after FRR installed gannet's routes", learned.Round(time.Millisecond))
	// A locally originated IPv6 route shows its next hop "::" (not an
	// invalid address) to the operator.
	if rs, _ := d.cli("bgp", "routes"); !regexp.MustCompile(`2001:db8:31::10/128\s+::\s`).MatchString(rs) {
		t.Errorf("gannet bgp routes: want wl-a's /128 with next hop ::\n%s", rs)
	}
	for _, dst := range []string{"198.18.32.2", "2001:db8:32::2"} {
		if !wa.waitPing(t, dst, 10*time.Second) {
			t.Fatalf("wl-a cannot reach %s behind FRR:\n%s", dst, diag())
		}
	}
	for _, dst := range []string{wa.v4, wa.v6} {
		if out, err := h.Try("ping", "-c", "3", "-i", "0.2", "-W", "1", dst); err != nil {
			t.Errorf("the host behind FRR cannot reach %s: %v\n%s\nFRR's kernel routes:\n%s%s\n%s", dst, err, out, r.Run("ip", "route"), r.Run("ip", "-6", "route"), diag())
		}
	}
	t.Logf("routes and traffic both ways %v after gannet started", time.Since(started).Round(time.Millisecond))
	serveName(wa.listen(t, "198.18.31.10:7000"), "wl-a")
	var conn net.Conn
	if err := h.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", "198.18.31.10:7000", 3*time.Second)
		return err
	}); err != nil {
		t.Fatalf("the host behind FRR: dial wl-a: %v", err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "wl-a" {
		t.Errorf("the host behind FRR reached %q, want wl-a", got)
	}
}

// TestBGPPrefixLimit: a BIRD 2 peer sends more prefixes than the peer's
// maxPrefixes allows; gannet ends the session with a Cease NOTIFICATION
// (maximum number of prefixes reached, RFC 4486 subcode 1), BIRD says so,
// gannet bgp peers shows the session as ended by the prefix limit, and
// nothing the peer sent is forwarded to.
func TestBGPPrefixLimit(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	g, r := netnstest.NewNS(t, "gg"), netnstest.NewNS(t, "br")
	wa := addWorkload(t, g, "wl-a", "02:00:00:00:33:0a", "198.18.33.10", "")
	gif, rif := netnstest.Name("fab"), netnstest.Name("bird")
	netnstest.Veth(t, gif, g, rif, r)
	g.Run("ip", "addr", "add", "198.18.211.1/24", "dev", gif)
	r.Run("ip", "addr", "add", "198.18.211.2/24", "dev", rif)
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(`
router id 198.18.211.2;
protocol device {}
protocol static lan { ipv4; route 198.18.34.0/24 blackhole; route 198.18.35.0/24 blackhole; route 198.18.36.0/24 blackhole; }
protocol bgp gannet {
  local 198.18.211.2 as 64500; neighbor 198.18.211.1 as 64512;
  hold time 9; connect retry time 2; error wait time 1, 5;
  ipv4 { import all; export where source = RTS_STATIC; };
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	background(t, r.Command("bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid")), "bird")
	d := startGannet(t, g, fmt.Sprintf(`
node: {name: g, routerIPv4: 198.18.211.1}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers: [{peerIP: 198.18.211.2, asNumber: 64500, holdTime: 9s, maxPrefixes: 2, filters: [lan]}]
  filters:
    - name: lan
      importV4: [{cidr: 198.18.32.0/19, matchOperator: In, action: Accept}]
`, gif, wa.endpoint(0, "", "")))

	var peers string
	took := waitFor(t, 30*time.Second, "gannet ends the session at the prefix limit", func() string {
		peers, _ = d.cli("bgp", "peers")
		if !strings.Contains(peers, "(prefix limit)") {
			return "gannet bgp peers:\n" + peers
		}
		return ""
	})
	t.Logf("gannet ended the session at the prefix limit %v after it started:\n%s", took.Round(time.Millisecond), peers)
	waitFor(t, 10*time.Second, "BIRD hears the Cease", func() string {
		out, _ := r.Try("birdc", "-s", sock, "show", "protocols", "all", "gannet")
		if !strings.Contains(out, "Maximum number of prefixes reached") {
			return "birdc show protocols all gannet:\n" + out
		}
		return ""
	})
	// The session stays down (GoBGP holds a peer that hit its limit down
	// until it is reset), and nothing it sent is forwarded to.
	time.Sleep(3 * time.Second)
	if peers, _ := d.cli("bgp", "peers"); strings.Contains(peers, "established") {
		t.Errorf("the session came back after the prefix limit ended it:\n%s", peers)
	}
	if out, _ := wa.ns.Try("ping", "-c", "1", "-W", "1", "198.18.34.1"); !strings.Contains(out, "Destination Net Unreachable") {
		t.Errorf("ping 198.18.34.1 after the peer was dropped, want net unreachable:\n%s", out)
	}
}
