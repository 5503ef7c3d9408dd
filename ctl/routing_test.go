package ctl

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/ctl/config"
)

// routingDaemon is a daemon with one uplink, gbrup0, and one workload.
func routingDaemon(t *testing.T) *Daemon {
	t.Helper()
	c, _, err := config.ParseConfig([]byte(`
ports: [{interface: gbrup0}]
workloadEndpoints:
  - {name: a, interface: gbra0, mac: "02:00:00:00:00:0a", ipNetworks: [198.18.1.10/32]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return benchDaemon(t, c)
}

// TestReconcile: a learned route whose next hop did not resolve when it
// came (the uplink had no address yet) is put in by the periodic check
// once it does, and one the RIB lost is taken out.
func TestReconcile(t *testing.T) {
	d := routingDaemon(t)
	p := netip.MustParsePrefix("192.0.2.0/24")
	d.routing = &routing{rib: map[netip.Prefix][]netip.Addr{p: {netip.MustParseAddr("198.51.100.1")}}, pending: map[netip.Prefix]bool{}}

	d.reconcile()
	if d.cur.tables.Learned(0, p) {
		t.Fatalf("learned a route whose next hop no uplink holds")
	}
	// The uplink gets its address (a link event the daemon missed).
	d.ports["gbrup0"].link = &linkInfo{prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	d.reconcile()
	if !d.cur.tables.Learned(0, p) || d.routing.reconciled != 1 {
		t.Fatalf("after the uplink got its subnet: learned %v, reconciled %d", d.cur.tables.Learned(0, p), d.routing.reconciled)
	}
	// The API lists it.
	found := false
	for _, r := range d.learnedRoutes() { // what Routes adds, on the loop
		found = found || r.Prefix == "192.0.2.0/24" && r.Kind == "bgp" && r.Via == "198.51.100.1" && r.Interface == "gbrup0"
	}
	if !found {
		t.Errorf("the learned route is not listed: %+v", d.learnedRoutes())
	}
	// A new snapshot keeps it.
	d.republish("test")
	if !d.cur.tables.Learned(0, p) {
		t.Fatalf("a new snapshot dropped the learned route")
	}
	// The RIB loses it (a missed withdrawal): the check takes it out.
	delete(d.routing.rib, p)
	d.reconcile()
	if d.cur.tables.Learned(0, p) || d.routing.reconciled != 2 {
		t.Errorf("after the RIB lost it: learned %v, reconciled %d", d.cur.tables.Learned(0, p), d.routing.reconciled)
	}
}

// TestResolveIPv6NextHop: an IPv4 route learned with an IPv6 next hop
// (RFC 8950) leaves by the uplink whose IPv6 subnet holds the next hop;
// a link-local next hop by the uplink of the peer that sent it (its
// zone); one with no link to find it on is not installed.
func TestResolveIPv6NextHop(t *testing.T) {
	d := routingDaemon(t)
	d.ports["gbrup0"].link = &linkInfo{prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:200::1/64")}}
	for _, tc := range []struct {
		prefix, nh, via string // via "": not installed
	}{
		{"192.0.2.0/24", "2001:db8:200::2", "2001:db8:200::2"},
		{"198.51.100.0/24", "fe80::2%2001:db8:200::254", "fe80::2"},
		{"203.0.113.0/24", "fe80::2", ""},                 // no peer: no link
		{"198.18.64.0/24", "2001:db8:999::2", ""},         // no uplink's subnet
		{"198.18.65.0/24", "fe80::2%2001:db8:999::1", ""}, // a peer on no uplink
	} {
		p, nh := netip.MustParsePrefix(tc.prefix), netip.MustParseAddr(tc.nh)
		d.routing = &routing{rib: map[netip.Prefix][]netip.Addr{p: {nh}}, pending: map[netip.Prefix]bool{}}
		d.relearn(d.cur.tables)
		if got := d.cur.tables.Learned(0, p); got != (tc.via != "") {
			t.Errorf("%v via %v: learned %v, want %v", p, nh, got, tc.via != "")
			continue
		}
		if tc.via == "" {
			continue
		}
		rs := d.learnedRoutes()
		if len(rs) != 1 || rs[0].Via != tc.via || rs[0].Interface != "gbrup0" {
			t.Errorf("%v via %v: listed as %+v, want via %s on gbrup0", p, nh, rs, tc.via)
		}
		_ = d.cur.tables.Forget(0, p)
	}
}

// TestBlocksOriginated: with bgp.blocks the host announces its blocks —
// a translated space's as its RFC 6052 prefix in the core — instead of
// the workload addresses inside them, still announces an address outside
// every block on its own, and routes each block as unreachable in the
// core table (a single-address block a workload uses is its host route).
func TestBlocksOriginated(t *testing.T) {
	c, _, err := config.ParseConfig([]byte(`
node: {routerIPv4: 198.18.0.9, routerIPv6: "2001:db8::9"}
ports: [{interface: gbrup0}]
addressSpaces: [{id: 7, translated: true}]
translation: {addressSpaces: {7: ""}}
workloadEndpoints:
  - {name: a, interface: gbra0, mac: "02:00:00:00:00:0a", ipNetworks: [198.18.1.10/32, "2001:db8:40::a/128"]}
  - {name: b, interface: gbrb0, mac: "02:00:00:00:00:0b", ipNetworks: [198.18.2.10/32]}
  - {name: t, interface: gbrt0, mac: "02:00:00:00:00:0c", ipNetworks: [100.64.1.10/32], addressSpace: 7}
  - {name: u, interface: gbru0, mac: "02:00:00:00:00:0d", ipNetworks: [100.64.9.10/32], addressSpace: 7}
  - {name: s, interface: gbrs0, mac: "02:00:00:00:00:0e", ipNetworks: [198.18.16.7/32]}
bgp:
  asNumber: 65000
  ipPools:
    - {cidr: 198.18.0.0/20, blockSize: 24}
    - {cidr: 198.18.16.0/24, blockSize: 32}
    - {cidr: "2001:db8:40::/48", blockSize: 122}
    - {cidr: 100.64.0.0/16, blockSize: 24, addressSpace: 7}
  blocks: [198.18.1.0/24, "2001:db8:40::/122", 100.64.1.0/24, 198.18.16.7/32, 198.18.16.8/32]
`))
	if err != nil {
		t.Fatal(err)
	}
	d := benchDaemon(t, c)
	var got []string
	for p := range d.originated() {
		got = append(got, p.String())
	}
	slices.Sort(got)
	want := []string{
		"198.18.1.0/24", "198.18.16.7/32", "198.18.16.8/32", "198.18.2.10/32",
		"2001:db8:40::/122", "64:ff9b:1:7::6440:100/120", "64:ff9b:1:7::6440:90a/128",
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("originated (-want +got):\n%s", diff)
	}
	var unreachable []string
	for _, r := range d.cur.routes(nil) {
		if r.Kind == "unreachable" {
			unreachable = append(unreachable, fmt.Sprintf("%d %s", r.Space, r.Prefix))
		}
	}
	wantU := []string{"0 198.18.1.0/24", "0 2001:db8:40::/122", "0 64:ff9b:1:7::6440:100/120", "0 198.18.16.8/32"}
	if diff := cmp.Diff(wantU, unreachable); diff != "" {
		t.Errorf("unreachable routes (-want +got):\n%s", diff)
	}
}
