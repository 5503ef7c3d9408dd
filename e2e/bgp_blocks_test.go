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
// 198.18.16.0/20 (blockSize 26) and 2001:db8:40::/122 of pool
// 2001:db8:40::/48 (blockSize 122). gobgpd, its peer, learns the blocks,
// not the single addresses inside them, and the single addresses of the
// workloads outside them (borrowed from another host's block). Endpoints
// added and removed through the API keep it so: one inside a block
// changes nothing, one outside is announced and withdrawn.
func TestBGPBlocks(t *testing.T) {
	require(t, "gobgpd", "gobgp")
	x, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gb")
	in := addWorkload(t, x, "wl-in", "02:00:00:00:21:0a", "198.18.21.10", "2001:db8:40::10")
	out := addWorkload(t, x, "wl-out", "02:00:00:00:21:0b", "198.18.21.100", "2001:db8:40::1:10")
	xif, _ := fabric(t, x, r, true)

	startGobgpd(t, r, "198.18.100.2", "198.18.100.1")

	d := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.100.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s%s
bgp:
  asNumber: 64512
  ipPools:
    - {cidr: 198.18.16.0/20, blockSize: 26}
    - {cidr: "2001:db8:40::/48", blockSize: 122}
  blocks: [198.18.21.0/26, "2001:db8:40::/122"]
  peers:
    - {peerIP: 198.18.100.2, asNumber: 64500, holdTime: 9s, families: [ipv4, ipv6]}
`, xif, in.endpoint(0, "", ""), out.endpoint(0, "", "")))

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
	blocks := []string{"198.18.21.0/26", "2001:db8:40::/122"}
	outside := []string{"198.18.21.100/32", "2001:db8:40::1:10/128"}
	inside := []string{"198.18.21.10/32", "2001:db8:40::10/128"}
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
