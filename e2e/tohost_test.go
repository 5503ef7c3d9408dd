package e2e

// The host as a destination and a border of policy: endpointToHost:
// accept lets a workload reach a service of the host's own only from its
// own address and when its egress policy allows it (issue 15 item 1), and
// a host endpoint on an uplink decides which core sources may reach the
// workloads behind it, while the host's own control traffic on that
// uplink (SSH, BGP, ping) is never cut off (issue 15 item 5).

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// dialRead connects from ns (from src when given) to addr and returns
// what the server said before closing.
func dialRead(ns *netnstest.NS, src, addr string, timeout time.Duration) (string, error) {
	var out string
	err := ns.Do(func() error {
		dl := net.Dialer{Timeout: timeout}
		if src != "" {
			dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err := dl.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	})
	return out, err
}

// listenUDP receives datagrams on addr in ns until the test ends.
func listenUDP(t *testing.T, ns *netnstest.NS, addr string) <-chan string {
	t.Helper()
	var ln net.PacketConn
	if err := ns.Do(func() (err error) {
		ln, err = net.ListenPacket("udp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := ln.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- fmt.Sprintf("%s from %v", buf[:n], from)
		}
	}()
	return got
}

// sendUDP sends count datagrams from src (an address of w's interface) to
// dst.
func (w *workload) sendUDP(t *testing.T, src, dst string, count int) {
	t.Helper()
	if err := w.ns.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
		if err != nil {
			return err
		}
		defer c.Close()
		for range count {
			c.Write([]byte("from " + src))
		}
		return nil
	}); err != nil {
		t.Fatalf("sending from %s: %v", src, err)
	}
}

// received drains got for within and returns what came.
func received(got <-chan string, within time.Duration) []string {
	var out []string
	deadline := time.After(within)
	for {
		select {
		case m := <-got:
			out = append(out, m)
		case <-deadline:
			return out
		}
	}
}

// TestEndpointToHostAccept: with endpointToHost: accept, a workload
// reaches a TCP and a UDP service on the host's own address through
// gannet's host interface, answered by the host over its route; a port
// its egress policy does not allow and a forged source never reach the
// host and are counted (policy-egress, spoofed); a reload to drop shuts
// the path again (to-host). On a build without endpointToHost the file is
// refused.
func TestEndpointToHostAccept(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:17:0a", "198.18.17.10", "")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:17:0b", "198.18.17.11", "")
	calicoHost(host, a, b)
	// Strict reverse-path filtering for the whole host, as many hosts
	// have it: gannet's host interface takes the workloads' sources all
	// the same (it has an address and filters loosely).
	host.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
	hostAddr := "198.18.99.1"
	host.Run("ip", "link", "set", "lo", "up")
	host.Run("ip", "addr", "add", hostAddr+"/32", "dev", "lo")
	tap := netnstest.Name("gh")
	policy := fmt.Sprintf(`
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: a-egress
      selector: app == 'a'
      types: [Egress]
      egress:
        - action: Allow
          protocol: TCP
          destination: {nets: [%[1]s/32], ports: ["8080"]}
        - action: Allow
          protocol: UDP
          destination: {nets: [%[1]s/32], ports: ["9999"]}
        - action: Allow
          destination: {nets: [%[2]s/32]}
`, hostAddr, b.v4)
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "  conntrack: {capacity: 4096}\n  endpointToHost: accept\n  hostInterface: "+tap,
		a.endpoint(0, "app: a", "open")+b.endpoint(0, "app: b", "open"), policy))
	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatal("wl-a cannot reach its allowed peer")
	}
	if out, err := host.Try("ip", "-d", "link", "show", tap); err != nil || !strings.Contains(out, "tun type tap") {
		t.Fatalf("host interface %s: %v\n%s", tap, err, out)
	}
	serveSource(t, host, hostAddr+":8080")
	serveSource(t, host, hostAddr+":2222")
	udp := listenUDP(t, host, hostAddr+":9999")

	// Allowed: TCP answered by the host, which saw the workload's own
	// address (no NAT on the way in).
	got, err := dialRead(a.ns, "", hostAddr+":8080", 3*time.Second)
	if err != nil || !strings.HasPrefix(got, a.v4+":") {
		counters, _ := d.cli("counters")
		neigh, _ := host.Try("ip", "neigh", "show")
		link, _ := host.Try("ip", "-s", "link", "show", tap)
		nst, _ := host.Try("nstat", "-az")
		link += nst
		t.Fatalf("wl-a -> host %s:8080 = %q, %v; want answered, seen from %s\n%s\n%s\n%s", hostAddr, got, err, a.v4, counters, neigh, link)
	}
	a.sendUDP(t, a.v4, hostAddr+":9999", 3)
	if msgs := received(udp, time.Second); len(msgs) != 3 {
		t.Errorf("host received %d of wl-a's 3 allowed datagrams: %v", len(msgs), msgs)
	}
	// Denied by its egress policy: never reaches the host.
	if got, err := dialRead(a.ns, "", hostAddr+":2222", time.Second); err == nil {
		t.Errorf("wl-a reached host port 2222, which its egress policy denies: %q", got)
	}
	// Forged source: dropped before policy, never delivered.
	forged := "203.0.113.9"
	a.ns.Run("ip", "addr", "add", forged+"/32", "dev", a.dev)
	a.sendUDP(t, forged, hostAddr+":9999", 5)
	if msgs := received(udp, time.Second); len(msgs) != 0 {
		t.Errorf("the host received forged datagrams: %v", msgs)
	}
	// wl-b has no egress policy of its own (profile open): it may.
	if got, err := dialRead(b.ns, "", hostAddr+":2222", 3*time.Second); err != nil || !strings.HasPrefix(got, b.v4+":") {
		t.Errorf("wl-b -> host %s:2222 = %q, %v; want answered", hostAddr, got, err)
	}
	// The neighbour entry the host answers with is gannet's.
	if out, _ := host.Try("ip", "neigh", "show", a.v4, "dev", a.hostIf); !strings.Contains(out, a.mac) || !strings.Contains(out, "PERMANENT") {
		t.Errorf("host neighbour of %s on %s: %q, want %s PERMANENT", a.v4, a.hostIf, out, a.mac)
	}

	// Reload to drop: the path closes, live.
	good, _ := os.ReadFile(d.config)
	if err := os.WriteFile(d.config, []byte(strings.Replace(string(good), "endpointToHost: accept", "endpointToHost: drop", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := d.cli("reload"); err != nil {
		t.Fatalf("gannet reload: %v\n%s", err, out)
	}
	if got, err := dialRead(b.ns, "", hostAddr+":2222", time.Second); err == nil {
		t.Errorf("wl-b reached the host after the reload to drop: %q", got)
	}
	// A bad value is refused naming the field, and changes nothing.
	if err := os.WriteFile(d.config, []byte(strings.Replace(string(good), "endpointToHost: accept", "endpointToHost: allow", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := d.cli("reload"); err == nil || !strings.Contains(out, "dataplane.endpointToHost") {
		t.Errorf("reload of endpointToHost: allow = %v\n%s\nwant an error naming dataplane.endpointToHost", err, out)
	}
	if got, err := dialRead(b.ns, "", hostAddr+":2222", time.Second); err == nil {
		t.Errorf("wl-b reached the host after a refused reload (still drop): %q", got)
	}
	// And back to accept.
	if err := os.WriteFile(d.config, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := d.cli("reload"); err != nil {
		t.Fatalf("gannet reload: %v\n%s", err, out)
	}
	if got, err := dialRead(b.ns, "", hostAddr+":2222", 3*time.Second); err != nil || !strings.HasPrefix(got, b.v4+":") {
		t.Errorf("wl-b -> host after the reload back to accept = %q, %v; want answered", got, err)
	}

	out := d.stop()
	for _, c := range []struct {
		name string
		min  int64
	}{
		{"delivered/port/to-host", 4},    // a's TCP handshake and datagrams, b's connection
		{"drop/policy/policy-egress", 1}, // a's SYN to 2222 (and its retries)
		{"drop/anti-spoof/spoofed", 5},   // the forged datagrams
		{"drop/port/to-host", 1},         // b's SYN after the reload
	} {
		if n := counter(out, c.name); n < c.min {
			t.Errorf("%s = %d, want at least %d\n%s", c.name, n, c.min, out)
		}
	}
	if _, err := host.Try("ip", "link", "show", tap); err == nil {
		t.Errorf("host interface %s outlived gannet", tap)
	}
}

// TestHostEndpointOnUplink: a host endpoint on the uplink admits forwarded
// connections from one core source only (applyOnForward, ingress): a
// second core address is refused on its way to a workload (counted
// host-endpoint-ingress) while the admitted one gets through, replies to
// the workload's own connection to the refused address pass (stateful),
// and the host's own SSH and BGP ports and ping on the uplink stay open to
// the refused address (gannet never polices the host's own traffic: the
// uplink's XDP program hands it to the kernel first).
func TestHostEndpointOnUplink(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:18:0a", "198.18.18.10", "")
	up, core := addInternet(t, host, "198.18.18.0/24")
	admitted, refused := "203.0.113.2", "203.0.113.3"
	core.Run("ip", "addr", "add", refused+"/24", "dev", coreDev(t, core))
	d := startGannet(t, host, fmt.Sprintf(`
node: {name: core-edge, routerIPv4: 203.0.113.1}
dataplane: {cores: [0], conntrack: {capacity: 4096}}
ports: [{interface: %[1]s}]
workloadEndpoints:
%[2]s
routes: [{prefix: 0.0.0.0/0, via: 203.0.113.2, interface: %[1]s}]
hostEndpoints:
  - name: core
    interfaceName: %[1]s
    labels: {role: core}
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: core-forward
      selector: role == 'core'
      applyOnForward: true
      types: [Ingress]
      ingress:
        - action: Allow
          source: {nets: [%[3]s/32]}
`, up, a.endpoint(0, "app: web", "open"), admitted))
	if !a.waitPing(t, admitted, 5*time.Second) {
		t.Fatal("wl-a cannot reach the core")
	}
	ln := a.listen(t, a.v4+":80")
	serveName(ln, "wl-a")
	for _, port := range []string{"22", "179"} {
		serveSource(t, host, "203.0.113.1:"+port)
	}
	serveSource(t, core, refused+":8080")

	if got, err := dialRead(core, admitted, a.v4+":80", 3*time.Second); err != nil || got != "wl-a" {
		t.Errorf("admitted core source %s -> wl-a:80 = %q, %v; want answered", admitted, got, err)
	}
	if got, err := dialRead(core, refused, a.v4+":80", time.Second); err == nil {
		t.Errorf("refused core source %s reached wl-a:80: %q", refused, got)
	}
	// The workload's own connection to the refused address: its replies
	// come in by the uplink and pass as established.
	if got, err := dialRead(a.ns, "", refused+":8080", 3*time.Second); err != nil || !strings.HasPrefix(got, a.v4+":") {
		t.Errorf("wl-a -> %s:8080 = %q, %v; want answered (replies are established)", refused, got, err)
	}
	// Failsafe: the host's own SSH and BGP ports, and ping, from the
	// refused source.
	for _, port := range []string{"22", "179"} {
		if got, err := dialRead(core, refused, "203.0.113.1:"+port, 3*time.Second); err != nil || !strings.HasPrefix(got, refused+":") {
			t.Errorf("%s -> host 203.0.113.1:%s = %q, %v; want answered (failsafe)", refused, port, got, err)
		}
	}
	if out, err := core.Try("ping", "-c", "2", "-i", "0.2", "-W", "1", "-I", refused, "203.0.113.1"); err != nil {
		t.Errorf("ping host from %s: %v\n%s", refused, err, out)
	}
	// gannet policy shows the host endpoint's program and its hits: the
	// admitted source's connection allowed, the refused one denied.
	if out, err := d.cli("policy", "core", "-o", "json"); err != nil {
		t.Errorf("gannet policy core: %v\n%s", err, out)
	} else {
		var p api.Policy
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("gannet policy core: %v\n%s", err, out)
		}
		if p.HostEndpoint != up || !p.IngressPolicy || len(p.IngressHits) != 1 || p.IngressHits[0] < 1 || p.IngressDefaultDeny < 1 {
			t.Errorf("gannet policy core = %+v; want the uplink %s, one ingress rule with hits and default-deny hits", p, up)
		}
	}
	if out, err := d.cli("policy", "core"); err != nil || !strings.Contains(out, "host endpoint of uplink "+up) {
		t.Errorf("gannet policy core: %v\n%s", err, out)
	}
	out := d.stop()
	if n := counter(out, "drop/policy/host-endpoint-ingress"); n < 1 {
		t.Errorf("host-endpoint-ingress drops = %d, want at least 1\n%s", n, out)
	}
}

// coreDev returns the name of the one veth in ns (addInternet's far end).
func coreDev(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	out := ns.Run("ip", "-o", "link", "show", "type", "veth")
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("no veth in %s: %q", ns.Name, out)
	}
	return strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
}

// TestHostEndpointBGPFailsafe: host x's uplink has a host endpoint whose
// applyOnForward ingress policy denies every forwarded flow from the
// core. The host's own BGP sessions with y (IPv4 and IPv6, embedded
// GoBGP) still come up and carry y's routes, and SSH to x's fabric
// address still answers (the failsafe: gannet never polices the host's own
// traffic); x's workload reaches y's over the learned routes (its replies
// are established), while y's workload cannot open anything toward x's
// (host-endpoint-ingress).
func TestHostEndpointBGPFailsafe(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:1a:0a", "198.18.26.10", "")
	b := addWorkload(t, y, "wl-b", "02:00:00:00:1b:0b", "198.18.27.10", "")
	xif, yif := fabric(t, x, y, true)
	cx := bgpHostConfig("x", "198.18.100.1", "2001:db8:100::1", xif, a.endpoint(0, "app: a", "open"), 64512, 64513, "198.18.100.2", "2001:db8:100::2")
	cx = strings.Replace(cx, "dataplane: {cores: [0], frames: 4096}", "dataplane: {cores: [0], frames: 4096, conntrack: {capacity: 4096}}", 1)
	cx += fmt.Sprintf(`
hostEndpoints:
  - {name: fabric, interfaceName: %s, labels: {role: core}}
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: nothing-in-from-the-core
      selector: role == 'core'
      applyOnForward: true
      types: [Ingress]
      ingress: [{action: Deny}]
`, xif)
	dx := startGannet(t, x, cx)
	startGannet(t, y, bgpHostConfig("y", "198.18.100.2", "2001:db8:100::2", yif, b.endpoint(0, "", ""), 64513, 64512, "198.18.100.1", "2001:db8:100::1"))
	serveSource(t, x, "198.18.100.1:22")

	if !a.waitPing(t, b.v4, 30*time.Second) {
		out, _ := dx.cli("bgp", "peers")
		t.Fatalf("wl-a cannot reach wl-b over BGP routes with the host endpoint in place:\n%s\n%s", out, dx.output())
	}
	// Both sessions (the IPv6 one may come up a little after the IPv4
	// routes have been used).
	var peers string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if peers, _ = dx.cli("bgp", "peers"); strings.Count(peers, "established") == 2 {
			break
		}
	}
	if strings.Count(peers, "established") != 2 {
		t.Errorf("gannet bgp peers on x:\n%s\nwant both sessions established through the denying host endpoint", peers)
	}
	if got, err := dialRead(y, "", "198.18.100.1:22", 3*time.Second); err != nil || !strings.HasPrefix(got, "198.18.100.2:") {
		t.Errorf("y -> x:22 = %q, %v; want answered (failsafe)", got, err)
	}
	if n := b.ping(t, a.v4, 3); n != 0 {
		t.Errorf("wl-b reached wl-a through a host endpoint that denies every forwarded flow (%d replies)", n)
	}
	out := dx.stop()
	if n := counter(out, "drop/policy/host-endpoint-ingress"); n < 3 {
		t.Errorf("host-endpoint-ingress drops on x = %d, want at least 3\n%s", n, out)
	}
}
