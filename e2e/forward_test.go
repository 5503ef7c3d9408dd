package e2e

// Scenarios: what an operator checks on a new router. Workloads on one
// gannet host reach each other (ping, traceroute, a bulk TCP transfer),
// spoofed sources are dropped, policy is enforced statefully; two gannet
// hosts forward across a fabric link by static routes; and two tenants
// that reuse the same IPv4 addresses reach their own peers, never each
// other's, across an IPv6-only fabric.

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

const oneHostConfig = `
node:
  name: e2e-one
  routerIPv4: 198.18.0.1
  routerIPv6: 2001:db8::1
dataplane:
  cores: [0]
  frames: 4096
%s
workloadEndpoints:
%s
%s
`

func TestOneHost(t *testing.T) {
	require(t, "traceroute")
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:01:0a", "198.18.1.10", "2001:db8:1::10")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:01:0b", "198.18.1.11", "2001:db8:1::11")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "")+b.endpoint(0, "", ""), ""))

	t.Run("ping", func(t *testing.T) {
		if !a.waitPing(t, b.v4, 5*time.Second) {
			t.Fatalf("wl-a cannot ping wl-b (%s)", b.v4)
		}
		for _, tc := range []struct {
			from *workload
			dst  string
		}{{a, b.v4}, {b, a.v4}, {a, b.v6}, {b, a.v6}} {
			if got := tc.from.ping(t, tc.dst, 5); got != 5 {
				t.Errorf("%s: ping %s: %d of 5 replies", tc.from.name, tc.dst, got)
			}
		}
	})

	t.Run("traceroute", func(t *testing.T) {
		// gannet is a real hop: the first probe's TTL runs out there and
		// the Time Exceeded comes from the router address.
		for _, tc := range []struct{ dst, hop string }{{b.v4, "198.18.0.1"}, {b.v6, "2001:db8::1"}} {
			args := []string{"traceroute", "-n", "-q", "1", "-w", "1", "-m", "4"}
			if strings.Contains(tc.dst, ":") {
				args = append(args, "-6")
			}
			out, err := a.ns.Try(append(args, tc.dst)...)
			if err != nil {
				t.Fatalf("traceroute %s: %v\n%s", tc.dst, err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 3 || !strings.Contains(lines[1], tc.hop) || !strings.Contains(lines[2], tc.dst) {
				t.Errorf("traceroute %s: want hop 1 %s then %s:\n%s", tc.dst, tc.hop, tc.dst, out)
			}
		}
	})

	t.Run("tcp 10MB", func(t *testing.T) { transfer(t, a, b, "198.18.1.11:5001", 10<<20) })

	t.Run("spoofed source", func(t *testing.T) {
		a.ns.Run("ip", "addr", "add", "198.18.1.99/32", "dev", a.dev)
		defer a.ns.Run("ip", "addr", "del", "198.18.1.99/32", "dev", a.dev)
		if got := a.ping(t, b.v4, 3, "-I", "198.18.1.99"); got != 0 {
			t.Errorf("ping from spoofed 198.18.1.99: %d replies, want 0", got)
		}
	})

	out := d.stop()
	// A stopped daemon leaves its ports failing closed (programs pinned,
	// no sockets: nothing forwarded) until gannet cleanup detaches them.
	for _, w := range []*workload{a, b} {
		if link := host.Run("ip", "link", "show", w.hostIf); !strings.Contains(link, "xdp") {
			t.Errorf("no XDP program on %s after stop: the port does not fail closed:\n%s", w.hostIf, link)
		}
	}
	if got := a.ping(t, b.v4, 2); got != 0 {
		t.Errorf("wl-a -> wl-b with gannet stopped: %d replies, want 0 (fail closed)", got)
	}
	host.Run(gannetBin, "cleanup", "--pin-path", d.pins)
	for _, w := range []*workload{a, b} {
		if link := host.Run("ip", "link", "show", w.hostIf); strings.Contains(link, "xdp") {
			t.Errorf("XDP program still attached to %s after gannet cleanup:\n%s", w.hostIf, link)
		}
	}
	if n := counter(out, "drop/anti-spoof/spoofed"); n < 3 {
		t.Errorf("drop/anti-spoof/spoofed = %d after 3 spoofed pings, want at least 3; output:\n%s", n, out)
	}
}

func TestPolicy(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	web := addWorkload(t, host, "web", "02:00:00:00:02:0a", "198.18.2.10", "")
	db := addWorkload(t, host, "db", "02:00:00:00:02:0b", "198.18.2.11", "")
	policy := `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: db-ingress
      selector: app == 'db'
      types: [Ingress]
      ingress:
        - action: Allow
          protocol: TCP
          source: {selector: app == 'web'}
          destination: {ports: ["5432"]}
`
	startGannet(t, host, fmt.Sprintf(oneHostConfig,
		"  conntrack: {capacity: 4096}", web.endpoint(0, "app: web", "open")+db.endpoint(0, "app: db", "open"), policy))
	serveName(db.listen(t, "198.18.2.11:5432"), "db")
	db.listen(t, "198.18.2.11:5433")

	// Allowed: TCP to 5432 from web, and the replies (stateful).
	var c io.ReadCloser
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if c, err = web.dial("198.18.2.11:5432", time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("web -> db:5432 (allowed): %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "db" {
		t.Errorf("web -> db:5432 read %q, want %q", got, "db")
	}
	// Denied: another port, ping, and anything from db toward web is
	// still allowed by default (no policy selects web).
	if c, err := web.dial("198.18.2.11:5433", time.Second); err == nil {
		c.Close()
		t.Errorf("web -> db:5433 connected; policy denies it")
	}
	if n := web.ping(t, db.v4, 3); n != 0 {
		t.Errorf("web pings db: %d replies; policy denies ICMP", n)
	}
	if n := db.ping(t, web.v4, 3); n != 3 {
		t.Errorf("db pings web: %d of 3 replies; no policy selects web", n)
	}
}

// fabric joins two host namespaces by a veth pair; the kernel holds the
// fabric addresses (so ARP, NDP and BGP go to it) and gannet forwards.
func fabric(t *testing.T, x, y *netnstest.NS, v4 bool, linkOpts ...string) (xif, yif string) {
	t.Helper()
	xif, yif = netnstest.Name("fab"), netnstest.Name("fab")
	netnstest.Veth(t, xif, x, yif, y, linkOpts...)
	if v4 {
		x.Run("ip", "addr", "add", "198.18.100.1/30", "dev", xif)
		y.Run("ip", "addr", "add", "198.18.100.2/30", "dev", yif)
	}
	x.Run("ip", "-6", "addr", "add", "2001:db8:100::1/64", "dev", xif, "nodad")
	y.Run("ip", "-6", "addr", "add", "2001:db8:100::2/64", "dev", yif, "nodad")
	return xif, yif
}

// TestTwoHosts runs two workers per host (one per CPU of this machine's
// two), each with its own queue on every port.
func TestTwoHosts(t *testing.T) {
	require(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs for two workers per host")
	}
	queues := []string{"numrxqueues", "2", "numtxqueues", "2"}
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:03:0a", "198.18.3.10", "2001:db8:3::10", queues...)
	b := addWorkload(t, y, "wl-b", "02:00:00:00:04:0b", "198.18.4.10", "2001:db8:4::10", queues...)
	xif, yif := fabric(t, x, y, true, queues...)
	cfg := func(name, router4, router6, uplink, ep, via4, via6, dst4, dst6 string) string {
		return fmt.Sprintf(`
node: {name: %s, routerIPv4: %s, routerIPv6: %s}
dataplane: {cores: [0, 1], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
routes:
  - {prefix: %s, via: %s, interface: %s}
  - {prefix: %s, via: %s, interface: %s}
`, name, router4, router6, uplink, ep, dst4, via4, uplink, dst6, via6, uplink)
	}
	startGannet(t, x, cfg("x", "198.18.100.1", "2001:db8:100::1", xif, a.endpoint(0, "", ""), "198.18.100.2", "2001:db8:100::2", "198.18.4.0/24", "2001:db8:4::/64"))
	startGannet(t, y, cfg("y", "198.18.100.2", "2001:db8:100::2", yif, b.endpoint(0, "", ""), "198.18.100.1", "2001:db8:100::1", "198.18.3.0/24", "2001:db8:3::/64"))

	// The first packets wait for the fabric neighbours to resolve.
	for _, dst := range []string{b.v4, b.v6} {
		if !a.waitPing(t, dst, 10*time.Second) {
			t.Fatalf("wl-a cannot reach %s across the fabric", dst)
		}
		if got := a.ping(t, dst, 5); got != 5 {
			t.Errorf("ping %s across the fabric: %d of 5", dst, got)
		}
	}
	// Several connections, so both workers' queues carry traffic.
	for i := range 4 {
		transfer(t, a, b, fmt.Sprintf("198.18.4.10:%d", 5001+i), 2<<20)
	}
	// Two router hops: TTL 64 leaves wl-a, arrives at wl-b as 62.
	out := a.ns.Run("ping", "-c", "1", b.v4)
	if !strings.Contains(out, "ttl=62") {
		t.Errorf("reply from across two gannet hops, want ttl=62:\n%s", out)
	}
}

func TestTenantsOverIPv6Fabric(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	// Tenants 7 and 8 use the same IPv4 addresses on both hosts.
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:00:0a", "100.64.0.10", "")
	t8x := addWorkload(t, x, "t8-x", "02:00:00:08:00:0a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:00:0b", "100.64.0.20", "")
	t8y := addWorkload(t, y, "t8-y", "02:00:00:08:00:0b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false) // IPv6 only
	cfg := func(name, router6, uplink, eps, via6 string) string {
		return fmt.Sprintf(`
node: {name: %s, routerIPv4: 198.18.0.1, routerIPv6: %s}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
workloadEndpoints:
%s
routes:
  - {prefix: "64:ff9b:1::/48", via: "%s", interface: %s}
translation:
  addressSpaces: {7: , 8: }
`, name, router6, uplink, eps, via6, uplink)
	}
	startGannet(t, x, cfg("x", "2001:db8:100::1", xif, t7x.endpoint(7, "", "")+t8x.endpoint(8, "", ""), "2001:db8:100::2"))
	startGannet(t, y, cfg("y", "2001:db8:100::2", yif, t7y.endpoint(7, "", "")+t8y.endpoint(8, "", ""), "2001:db8:100::1"))

	serveName(t7y.listen(t, "100.64.0.20:7000"), "tenant 7")
	serveName(t8y.listen(t, "100.64.0.20:7000"), "tenant 8")
	for _, tc := range []struct {
		from *workload
		want string
	}{{t7x, "tenant 7"}, {t8x, "tenant 8"}} {
		if !tc.from.waitPing(t, "100.64.0.20", 10*time.Second) {
			t.Fatalf("%s cannot reach 100.64.0.20", tc.from.name)
		}
		c, err := tc.from.dial("100.64.0.20:7000", 3*time.Second)
		if err != nil {
			t.Fatalf("%s: dial 100.64.0.20:7000: %v", tc.from.name, err)
		}
		got, _ := io.ReadAll(c)
		c.Close()
		if string(got) != tc.want {
			t.Errorf("%s reached %q at 100.64.0.20, want %q", tc.from.name, got, tc.want)
		}
	}
}

// TestBadConfigAttachesNothing: a configuration naming an interface that
// does not exist is refused with the field named, and the interfaces it
// does name are left untouched.
func TestBadConfigAttachesNothing(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:05:0a", "198.18.5.10", "")
	dir := t.TempDir()
	// A missing uplink fails the start: nothing may be attached.
	cfg := fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", ""), "") +
		"ports: [{interface: nosuchif0}]\napi: {socket: " + dir + "/gannet.sock}\n"
	path := dir + "/bad.yaml"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := host.Try(gannetBin, "run", "--config", path)
	if err == nil {
		t.Fatalf("gannet run accepted a config naming a missing uplink:\n%s", out)
	}
	if !strings.Contains(out, "ports[0].interface") || !strings.Contains(out, "nosuchif0") {
		t.Errorf("error does not name the field and interface:\n%s", out)
	}
	if link := host.Run("ip", "link", "show", a.hostIf); strings.Contains(link, "xdp") {
		t.Errorf("a refused config attached XDP to %s:\n%s", a.hostIf, link)
	}
	// A missing workload interface is only waited for at run time;
	// --check names it.
	cfg = fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "")+
		"  - {name: ghost, interface: nosuchif0, mac: '02:00:00:00:05:0b', ipNetworks: [198.18.5.11]}\n", "")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = host.Try(gannetBin, "run", "--check", "--config", path)
	if err == nil || !strings.Contains(out, "workloadEndpoints[1].interface") || !strings.Contains(out, "nosuchif0") {
		t.Errorf("gannet run --check = %v, want an error naming workloadEndpoints[1].interface:\n%s", err, out)
	}
}

// TestBorderSNAT: a workload in a natOutgoing pool reaches a host on the
// "Internet" side of an uplink; the host sees the connection come from the
// external pool, and the replies find their way back.
func TestBorderSNAT(t *testing.T) {
	require(t)
	a, inet, _ := borderLab(t, "02:00:00:00:07:0a", "198.18.7.10")

	serveSource(t, inet, "203.0.113.2:7000")
	if !a.waitPing(t, "203.0.113.2", 10*time.Second) {
		t.Fatal("wl-a cannot ping 203.0.113.2 through the border")
	}
	c, err := a.dial("203.0.113.2:7000", 3*time.Second)
	if err != nil {
		t.Fatalf("dial through the border: %v", err)
	}
	seen, _ := io.ReadAll(c)
	c.Close()
	ap, err := netip.ParseAddrPort(string(seen))
	if err != nil {
		t.Fatalf("server saw %q: %v", seen, err)
	}
	if !netip.MustParsePrefix("203.0.113.64/28").Contains(ap.Addr()) || ap.Port() < 20000 || ap.Port() > 29999 {
		t.Errorf("the Internet side saw the connection from %v, want an address of 203.0.113.64/28 and a port in 20000-29999", ap)
	}
}

// borderLab is a border gannet host with one workload (mac, v4) in a
// natOutgoing pool (v4's /24) and an uplink to a host on the "Internet"
// side, 203.0.113.2, which routes the external pool 203.0.113.64/28
// (ports 20000-29999) back to the border.
func borderLab(t *testing.T, mac, v4 string) (a *workload, inet *netnstest.NS, d *daemon) {
	t.Helper()
	border := netnstest.NewNS(t, "gb")
	a = addWorkload(t, border, "wl-a", mac, v4, "")
	up, inet := addInternet(t, border, "203.0.113.64/28")
	pool := netip.PrefixFrom(netip.MustParseAddr(v4), 24).Masked()
	d = startGannet(t, border, fmt.Sprintf(`
node: {name: border, routerIPv4: 203.0.113.1}
dataplane: {cores: [0], conntrack: {capacity: 4096}}
ports: [{interface: %s}]
workloadEndpoints:
%s
routes: [{prefix: 0.0.0.0/0, via: 203.0.113.2, interface: %s}]
nat:
  ipPools: [{cidr: %s, natOutgoing: true}]
  external: [{cidr: 203.0.113.64/28, ports: 20000-29999}]
`, up, a.endpoint(0, "", ""), up, pool))
	return a, inet, d
}
