package ctl

import (
	"net/netip"
	"testing"

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
