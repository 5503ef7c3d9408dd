package e2e

// Calico-style block aggregation in BGP export (bgp.ipPools, bgp.blocks).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestBGPBlocks: gannet owns the block 198.18.21.0/26 of pool
// 198.18.16.0/20 (blockSize 26), 2001:db8:40::/122 of pool
// 2001:db8:40::/48 (blockSize 122) and, in translated space 7, the block
// 100.64.1.0/26 of pool 100.64.0.0/16 (blockSize 26), whose core form is
// 64:ff9b:1:7::100.64.1.0/122 (96+26). gobgpd, its peer, learns the
// blocks, not the single addresses inside them, and the single addresses
// of the workloads outside them (borrowed from another host's block).
// Endpoints added and removed through the API keep it so: one inside a
// block changes nothing, one outside is announced and withdrawn.
func TestBGPBlocks(t *testing.T) {
	require(t, "gobgpd", "gobgp")
	x, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gb")
	in := addWorkload(t, x, "wl-in", "02:00:00:00:21:0a", "198.18.21.10", "2001:db8:40::10")
	out := addWorkload(t, x, "wl-out", "02:00:00:00:21:0b", "198.18.21.100", "2001:db8:40::1:10")
	tin := addWorkload(t, x, "t7-in", "02:00:00:07:21:0a", "100.64.1.10", "")
	tout := addWorkload(t, x, "t7-out", "02:00:00:07:21:0b", "100.64.2.10", "")
	xif, _ := fabric(t, x, r, true)

	startGobgpd(t, r, "198.18.100.2", "198.18.100.1")

	d := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.100.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
addressSpaces: [{id: 7, translated: true}]
translation: {addressSpaces: {7: }}
workloadEndpoints:
%s%s%s%s
bgp:
  asNumber: 64512
  ipPools:
    - {cidr: 198.18.16.0/20, blockSize: 26}
    - {cidr: "2001:db8:40::/48", blockSize: 122}
    - {cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}
  blocks: [198.18.21.0/26, "2001:db8:40::/122", 100.64.1.0/26]
  peers:
    - {peerIP: 198.18.100.2, asNumber: 64500, holdTime: 9s, families: [ipv4, ipv6]}
`, xif, in.endpoint(0, "", ""), out.endpoint(0, "", ""), tin.endpoint(7, "", ""), tout.endpoint(7, "", "")))

	// rib is gobgpd's table of both families.
	rib := func() string {
		o4, _ := r.Try("gobgp", "global", "rib", "-a", "ipv4")
		o6, _ := r.Try("gobgp", "global", "rib", "-a", "ipv6")
		return o4 + o6
	}
	// has reports which of prefixes gobgpd has.
	check := func(want, not []string) string {
		got := rib()
		for _, p := range want {
			if !strings.Contains(got, p+" ") {
				return "gobgpd lacks " + p + ":\n" + got
			}
		}
		for _, p := range not {
			if strings.Contains(got, p+" ") {
				return "gobgpd has " + p + ":\n" + got
			}
		}
		return ""
	}
	blocks := []string{"198.18.21.0/26", "2001:db8:40::/122", "64:ff9b:1:7::6440:100/122"}
	outside := []string{"198.18.21.100/32", "2001:db8:40::1:10/128", "64:ff9b:1:7::6440:20a/128"}
	inside := []string{"198.18.21.10/32", "2001:db8:40::10/128", "64:ff9b:1:7::6440:10a/128", "100.64.1.10/32", "100.64.2.10/32", "100.64.1.0/26"}
	waitFor(t, 30*time.Second, "the blocks and the addresses outside them at gobgpd", func() string {
		return check(append(blocks, outside...), nil)
	})
	if msg := check(nil, inside); msg != "" {
		t.Errorf("a single address inside a block is announced: %s", msg)
	}
	t.Logf("gobgpd's RIB:\n%s", rib())

	// Through the API: one endpoint inside the block, one outside it.
	c := addWorkload(t, x, "wl-c", "02:00:00:00:21:0c", "198.18.21.20", "")
	e := addWorkload(t, x, "wl-e", "02:00:00:00:21:0e", "198.18.22.30", "")
	ctx := context.Background()
	for _, w := range []*workload{c, e} {
		if _, err := d.client().PutEndpoint(ctx, api.Endpoint{Name: w.name, Interface: w.hostIf, MAC: w.mac, IPNetworks: []string{w.v4 + "/32"}}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	waitFor(t, 5*time.Second, "the API endpoint outside the block announced", func() string {
		return check([]string{"198.18.22.30/32"}, nil)
	})
	t.Logf("an API endpoint outside the blocks announced %v after the PUT", time.Since(start).Round(time.Millisecond))
	// The one inside went with it (both PUTs were applied before): it
	// must not be there, and the block stays.
	if msg := check(blocks, []string{"198.18.21.20/32"}); msg != "" {
		t.Errorf("after the PUTs: %s", msg)
	}
	for _, w := range []*workload{c, e} {
		if err := d.client().DeleteEndpoint(ctx, w.name); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	waitFor(t, 5*time.Second, "the API endpoint outside the block withdrawn, the blocks kept", func() string {
		return check(append(blocks, outside...), []string{"198.18.22.30/32", "198.18.21.20/32"})
	})
	t.Logf("withdrawn %v after the DELETE", time.Since(start).Round(time.Millisecond))
}

// TestBGPBlocksForward: traffic follows a block. Host x owns the blocks
// of its workload's addresses; host y learns the blocks (not the /32 and
// /128) from x's gannet and its workload reaches x's over them, both
// families, with no static route.
func TestBGPBlocksForward(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:21:1a", "198.18.21.10", "2001:db8:40::10")
	b := addWorkload(t, y, "wl-b", "02:00:00:00:19:1b", "198.18.19.10", "2001:db8:19::10")
	xif, yif := fabric(t, x, y, true)
	blocks := `  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}, {cidr: "2001:db8:40::/48", blockSize: 122}]
  blocks: [198.18.21.0/26, "2001:db8:40::/122"]
`
	dx := startGannet(t, x, bgpHostConfig("x", "198.18.100.1", "2001:db8:100::1", xif, a.endpoint(0, "", ""), 64512, 64513, "198.18.100.2", "2001:db8:100::2")+blocks)
	dy := startGannet(t, y, bgpHostConfig("y", "198.18.100.2", "2001:db8:100::2", yif, b.endpoint(0, "", ""), 64513, 64512, "198.18.100.1", "2001:db8:100::1"))
	for _, dst := range []string{a.v4, a.v6} {
		if !b.waitPing(t, dst, 30*time.Second) {
			routes, _ := dy.cli("bgp", "routes")
			t.Fatalf("wl-b cannot reach %s over x's block:\n%s\n%s", dst, routes, dx.output())
		}
	}
	routes, _ := dy.cli("bgp", "routes")
	if !strings.Contains(routes, "198.18.21.0/26") || !strings.Contains(routes, "2001:db8:40::/122") ||
		strings.Contains(routes, "198.18.21.10/32") || strings.Contains(routes, "2001:db8:40::10/128") {
		t.Errorf("y's gannet bgp routes: want x's blocks, not its workload's single addresses:\n%s", routes)
	}
	t.Logf("gannet bgp routes on y:\n%s", routes)
}

// TestBGPBlocksUnreachable: host x owns the blocks 198.18.21.0/26 and
// 2001:db8:40::/122 and has a default route back into the fabric (to y,
// as a border's default would be). y learns x's blocks. A packet from y's
// workload to an unused address of x's block goes to x, which — without
// its route for the whole block — would send it back to y by its
// default, and y back to x, until the TTL ran out (Time Exceeded). x
// routes the block as unreachable (Calico's block blackhole), so the
// sender gets Destination Unreachable from x at once: host unreachable
// (ICMP type 3 code 1) and no route (ICMPv6 type 1 code 0), counted as
// unreachable-route. A workload of x inside the block still answers, and
// an address of x's block that y's workload borrowed (announced by y as
// a /32 and /128) is reached from x: the more specific learned route wins
// over the block, as over Calico's blackhole.
func TestBGPBlocksUnreachable(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:21:2a", "198.18.21.10", "2001:db8:40::10")
	b := addWorkload(t, y, "wl-b", "02:00:00:00:19:2b", "198.18.19.10", "2001:db8:19::10")
	borrowed := addWorkload(t, y, "wl-bb", "02:00:00:00:21:2c", "198.18.21.40", "2001:db8:40::28")
	xif, yif := fabric(t, x, y, true)
	blocks := `  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}, {cidr: "2001:db8:40::/48", blockSize: 122}]
  blocks: [198.18.21.0/26, "2001:db8:40::/122"]
routes:
  - {prefix: 0.0.0.0/0, via: 198.18.100.2, interface: ` + xif + `}
  - {prefix: "::/0", via: "2001:db8:100::2", interface: ` + xif + `}
`
	dx := startGannet(t, x, bgpHostConfig("x", "198.18.100.1", "2001:db8:100::1", xif, a.endpoint(0, "", ""), 64512, 64513, "198.18.100.2", "2001:db8:100::2")+blocks)
	dy := startGannet(t, y, bgpHostConfig("y", "198.18.100.2", "2001:db8:100::2", yif, b.endpoint(0, "", "")+borrowed.endpoint(0, "", ""), 64513, 64512, "198.18.100.1", "2001:db8:100::1"))
	for _, dst := range []string{a.v4, a.v6} {
		if !b.waitPing(t, dst, 30*time.Second) {
			routes, _ := dy.cli("bgp", "routes")
			t.Fatalf("wl-b cannot reach %s over x's block:\n%s\n%s", dst, routes, dx.output())
		}
	}
	// The borrowed address: x learned y's /32 and /128 inside its block.
	for _, dst := range []string{borrowed.v4, borrowed.v6} {
		if !a.waitPing(t, dst, 30*time.Second) {
			routes, _ := dx.cli("bgp", "routes")
			t.Errorf("wl-a cannot reach %s, borrowed from its host's block by y: the block won over y's more specific route\n%s", dst, routes)
		}
	}
	for _, tc := range []struct {
		dst, want string
	}{
		{"198.18.21.33", "Destination Host Unreachable"},
		{"2001:db8:40::33", "Destination unreachable: No route"},
	} {
		out, _ := b.ns.Try("ping", "-c", "1", "-W", "3", tc.dst)
		t.Logf("wl-b: ping %s:\n%s", tc.dst, out)
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "From 198.18.100.1") && !strings.Contains(out, "From 2001:db8:100::1") {
			counters, _ := dx.cli("counters")
			t.Errorf("wl-b: ping %s (unused address of x's block) = %q, want %q from x\nx's counters:\n%s", tc.dst, out, tc.want, counters)
		}
	}
	if n := dropCount(t, dx, "unreachable-route"); n < 2 {
		counters, _ := dx.cli("counters")
		t.Errorf("x counted %d unreachable-route drops, want at least 2:\n%s", n, counters)
	}
	if n := dropCount(t, dy, "ttl-exceeded") + dropCount(t, dx, "ttl-exceeded"); n != 0 {
		t.Errorf("%d packets looped until their TTL ran out", n)
	}
	routes, _ := dx.cli("routes")
	t.Logf("x's routes:\n%s", routes)
	if !strings.Contains(routes, "198.18.21.0/26") || !strings.Contains(routes, "unreachable") {
		t.Errorf("gannet routes on x does not list its block as unreachable:\n%s", routes)
	}
}

// TestBGPBlocksTranslated: blocks of a translated space over an IPv6-only
// core. Host x owns tenant 7's block 100.64.1.0/26, announced as
// 64:ff9b:1:7::100.64.1.0/122 and routed unreachable there; tenant 8's
// workload with the same address is of no pool and announced as its /128.
// x has a default route back into the core (to y). y learns the /122 (not
// the /128 inside it) and its tenant-7 workload reaches x's over it; to
// an unused address of the block it gets host unreachable at once (x's
// ICMPv6 no route, translated by y, RFC 7915 section 5.2), not a loop;
// tenant 8 still reaches its own workload. (x's error comes from its
// core address; y routes the fabric's subnet, so the error passes y's
// reverse-path check, and y's translator gives it its RFC 6791 source.)
func TestBGPBlocksTranslated(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:21:3a", "100.64.1.10", "")
	t8x := addWorkload(t, x, "t8-x", "02:00:00:08:21:3a", "100.64.1.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:00:3b", "100.64.0.20", "")
	t8y := addWorkload(t, y, "t8-y", "02:00:00:08:00:3b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false) // IPv6 only
	dx := startGannet(t, x, tenantBGPConfig("x", "2001:db8:100::1", xif, t7x.endpoint(7, "", "")+t8x.endpoint(8, "", ""), 64512, 64513, "2001:db8:100::2", `  ipPools:
    - {cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}
  blocks: [100.64.1.0/26]
routes:
  - {prefix: "::/0", via: "2001:db8:100::2", interface: `+xif+`}
`))
	// y routes the fabric's subnet: x's errors come from x's address on
	// it, and enter a tenant only from a source the core routes back out
	// of the uplink they came in by (dataplane.rpf); their source has no
	// IPv4 form, so y's translator gives them its RFC 6791 address.
	dy := startGannet(t, y, tenantBGPConfig("y", "2001:db8:100::2", yif, t7y.endpoint(7, "", "")+t8y.endpoint(8, "", ""), 64513, 64512, "2001:db8:100::1",
		`routes: [{prefix: "2001:db8:100::/64", interface: `+yif+`}]
`))

	for _, w := range []*workload{t7y, t8y} {
		if !w.waitPing(t, "100.64.1.10", 30*time.Second) {
			routes, _ := dy.cli("bgp", "routes")
			t.Fatalf("%s cannot reach 100.64.1.10 over BGP:\n%s\n%s", w.name, routes, dx.output())
		}
	}
	routes, _ := dy.cli("bgp", "routes")
	t.Logf("gannet bgp routes on y:\n%s", routes)
	if !strings.Contains(routes, "64:ff9b:1:7::6440:100/122") || !strings.Contains(routes, "64:ff9b:1:8::6440:10a/128") ||
		strings.Contains(routes, "64:ff9b:1:7::6440:10a/128") || strings.Contains(routes, "100.64.") {
		t.Errorf("y's bgp routes: want tenant 7's block as 64:ff9b:1:7::6440:100/122 and tenant 8's workload as its /128, no /128 inside the block, no IPv4:\n%s", routes)
	}
	out, _ := t7y.ns.Try("ping", "-c", "1", "-W", "3", "100.64.1.33")
	t.Logf("t7-y: ping 100.64.1.33:\n%s", out)
	if !strings.Contains(out, "Destination Host Unreachable") {
		counters, _ := dx.cli("counters")
		ycounters, _ := dy.cli("counters", "-o", "yaml")
		t.Errorf("t7-y: ping 100.64.1.33 (unused address of x's tenant-7 block) = %q, want Destination Host Unreachable\nx's counters:\n%s\ny's counters:\n%s", out, counters, ycounters)
	}
	if n := dropCount(t, dx, "unreachable-route"); n < 1 {
		t.Errorf("x counted %d unreachable-route drops, want at least 1", n)
	}
	if n := dropCount(t, dy, "ttl-exceeded") + dropCount(t, dx, "ttl-exceeded"); n != 0 {
		t.Errorf("%d packets looped until their hop limit ran out", n)
	}
}

// dropCount is d's count of drops for reason.
func dropCount(t *testing.T, d *daemon, reason string) uint64 {
	t.Helper()
	cs, err := d.client().Counters(context.Background())
	if err != nil {
		t.Fatalf("counters: %v", err)
	}
	var n uint64
	for _, dr := range cs.Drops {
		if dr.Reason == reason {
			n += dr.Packets
		}
	}
	return n
}
