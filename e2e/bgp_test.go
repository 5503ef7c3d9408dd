package e2e

// BGP between gannet hosts: no static routes for workloads — each host
// announces its workloads and programs what it learns.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// bgpHostConfig is a compute host that peers with the other end of the
// fabric over IPv4 and IPv6 and accepts workload routes from it.
func bgpHostConfig(name, router4, router6, uplink, eps string, as, peerAS int, peer4, peer6 string) string {
	return fmt.Sprintf(`
node: {name: %s, routerIPv4: %s, routerIPv6: %s}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: %d
  peers:
    - {peerIP: %s, asNumber: %d, holdTime: 9s, filters: [fabric]}
    - {peerIP: "%s", asNumber: %d, holdTime: 9s, filters: [fabric]}
  filters:
    - name: fabric
      importV4: [{cidr: 198.18.0.0/16, matchOperator: In, action: Accept}]
      importV6: [{cidr: "2001:db8::/32", matchOperator: In, action: Accept}]
`, name, router4, router6, uplink, eps, as, peer4, peerAS, peer6, peerAS)
}

// tenantBGPConfig is the config of a host of an IPv6-only core with
// translated spaces 7 and 8, one BGP peer and an import filter for the
// spaces' core prefixes; extra is appended (more bgp keys, routes).
func tenantBGPConfig(name, router6, uplink, eps string, as, peerAS int, peer, extra string) string {
	return fmt.Sprintf(`
node: {name: %s, routerIPv4: 198.18.0.1, routerIPv6: %s}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
workloadEndpoints:
%s
translation:
  addressSpaces: {7: , 8: }
  rfc6791v4: [192.0.2.1/32]
bgp:
  asNumber: %d
  routerID: 198.18.0.%d
  peers: [{peerIP: "%s", asNumber: %d, holdTime: 9s, filters: [core]}]
  filters:
    - name: core
      importV6: [{cidr: "64:ff9b:1::/48", matchOperator: In, action: Accept}]
%s`, name, router6, uplink, eps, as, as-64500, peer, peerAS, extra)
}

// TestBGPTwoHosts: two gannet hosts peer over the fabric (eBGP, IPv4 and
// IPv6 sessions); their workloads reach each other with no static route,
// an endpoint added through the API is announced and reached, and once
// deleted it is withdrawn and its address answered net unreachable.
func TestBGPTwoHosts(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:18:0a", "198.18.18.10", "2001:db8:18::10")
	b := addWorkload(t, y, "wl-b", "02:00:00:00:19:0b", "198.18.19.10", "2001:db8:19::10")
	xif, yif := fabric(t, x, y, true)
	dx := startGannet(t, x, bgpHostConfig("x", "198.18.100.1", "2001:db8:100::1", xif, a.endpoint(0, "", ""), 64512, 64513, "198.18.100.2", "2001:db8:100::2"))
	dy := startGannet(t, y, bgpHostConfig("y", "198.18.100.2", "2001:db8:100::2", yif, b.endpoint(0, "", ""), 64513, 64512, "198.18.100.1", "2001:db8:100::1"))

	start := time.Now()
	for _, dst := range []string{b.v4, b.v6} {
		if !a.waitPing(t, dst, 30*time.Second) {
			out, _ := dx.cli("bgp", "peers")
			routes, _ := dx.cli("bgp", "routes")
			t.Fatalf("wl-a cannot reach %s over the routes BGP learned:\n%s\n%s\n%s", dst, out, routes, dx.output())
		}
	}
	t.Logf("workloads reach each other %v after the second gannet started", time.Since(start).Round(time.Millisecond))
	out, err := dx.cli("bgp", "peers")
	if err != nil || strings.Count(out, "established") != 2 {
		t.Errorf("gannet bgp peers = %v:\n%s\nwant two established sessions", err, out)
	}
	t.Logf("gannet bgp peers on x:\n%s", out)
	if out, _ := dx.cli("bgp", "routes"); !strings.Contains(out, "198.18.19.10/32") || !strings.Contains(out, "2001:db8:19::10/128") {
		t.Errorf("gannet bgp routes on x lacks wl-b's addresses:\n%s", out)
	}

	// An endpoint made through the API on y is announced and reached.
	c := addWorkload(t, y, "wl-c", "02:00:00:00:19:0c", "198.18.19.11", "")
	if _, err := dy.client().PutEndpoint(context.Background(), api.Endpoint{Name: "wl-c", Interface: c.hostIf, MAC: c.mac, IPNetworks: []string{c.v4 + "/32"}}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if !a.waitPing(t, c.v4, 10*time.Second) {
		t.Fatalf("wl-a cannot reach the endpoint added on y through the API")
	}
	t.Logf("an API endpoint on y reached from x %v after the PUT", time.Since(start).Round(time.Millisecond))
	// Deleted: withdrawn, and x answers net unreachable.
	if err := dy.client().DeleteEndpoint(context.Background(), "wl-c"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for {
		out, _ := a.ns.Try("ping", "-c", "1", "-W", "1", c.v4)
		if strings.Contains(out, "Destination Net Unreachable") {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("x still routes to the deleted endpoint 5 s later:\n%s", out)
		}
	}
	t.Logf("the deleted endpoint's route was gone from x %v after the DELETE", time.Since(start).Round(time.Millisecond))
}

// TestBGPTenants: two tenants use the same IPv4 addresses on two hosts of
// an IPv6-only core; BGP carries each workload's RFC 6052 address (never
// its IPv4), with no static route, and each tenant reaches only its own
// peer.
func TestBGPTenants(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:00:1a", "100.64.0.10", "")
	t8x := addWorkload(t, x, "t8-x", "02:00:00:08:00:1a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:00:1b", "100.64.0.20", "")
	t8y := addWorkload(t, y, "t8-y", "02:00:00:08:00:1b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false) // IPv6 only
	dx := startGannet(t, x, tenantBGPConfig("x", "2001:db8:100::1", xif, t7x.endpoint(7, "", "")+t8x.endpoint(8, "", ""), 64512, 64513, "2001:db8:100::2", ""))
	startGannet(t, y, tenantBGPConfig("y", "2001:db8:100::2", yif, t7y.endpoint(7, "", "")+t8y.endpoint(8, "", ""), 64513, 64512, "2001:db8:100::1", ""))

	serveName(t7y.listen(t, "100.64.0.20:7000"), "tenant 7")
	serveName(t8y.listen(t, "100.64.0.20:7000"), "tenant 8")
	for _, tc := range []struct {
		from *workload
		want string
	}{{t7x, "tenant 7"}, {t8x, "tenant 8"}} {
		if !tc.from.waitPing(t, "100.64.0.20", 30*time.Second) {
			routes, _ := dx.cli("bgp", "routes")
			t.Fatalf("%s cannot reach 100.64.0.20 over BGP:\n%s", tc.from.name, routes)
		}
		c, err := tc.from.dial("100.64.0.20:7000", 3*time.Second)
		if err != nil {
			t.Fatalf("%s: dial 100.64.0.20:7000: %v", tc.from.name, err)
		}
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		if string(buf[:n]) != tc.want {
			t.Errorf("%s reached %q at 100.64.0.20, want %q", tc.from.name, buf[:n], tc.want)
		}
	}
	// What BGP carries: the workloads' core addresses, no IPv4 at all.
	routes, _ := dx.cli("bgp", "routes")
	for _, want := range []string{"64:ff9b:1:7::6440:14/128", "64:ff9b:1:8::6440:14/128", "64:ff9b:1:7::6440:a/128"} {
		if !strings.Contains(routes, want) {
			t.Errorf("gannet bgp routes on x lacks %s:\n%s", want, routes)
		}
	}
	if strings.Contains(routes, "100.64.") {
		t.Errorf("a tenant's IPv4 address went into BGP:\n%s", routes)
	}
}
