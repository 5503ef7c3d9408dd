package e2e

// Both unicast families over one session (families: [ipv4, ipv6]).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestBGPFamiliesOneSession: gannet and gobgpd peer over one IPv4
// session carrying IPv4 and IPv6 unicast. Both families are negotiated
// and routes of both flow both ways: gobgpd learns the workload's /32
// and /128, gannet's RIB gets gobgpd's IPv4 and IPv6 prefixes. An IPv6
// route over an IPv4 session has an IPv4 next hop (an IPv4-mapped IPv6
// address, RFC 4798 style), which gannet's tables do not take: gannet
// keeps it in its RIB, unresolved (gannet status: bgp routes), and the
// IPv4 route forwards.
func TestBGPFamiliesOneSession(t *testing.T) {
	require(t, "gobgpd", "gobgp")
	x, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gf")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:40:0a", "198.18.40.10", "2001:db8:40::10")
	xif, rif := fabric(t, x, r, true)
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("ip", "addr", "add", "198.18.41.1/32", "dev", "lo")
	r.Run("ip", "route", "add", "198.18.40.0/24", "via", "198.18.100.1")

	startGobgpd(t, r, "198.18.100.2", "198.18.100.1")
	waitFor(t, 10*time.Second, "gobgpd's API", func() string {
		if _, err := r.Try("gobgp", "global", "rib", "add", "198.18.41.0/24", "-a", "ipv4"); err != nil {
			return err.Error()
		}
		return ""
	})
	r.Run("gobgp", "global", "rib", "add", "2001:db8:41::/48", "-a", "ipv6")

	d := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.100.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers:
    - {peerIP: 198.18.100.2, asNumber: 64500, holdTime: 9s, families: [ipv4, ipv6], filters: [r]}
  filters:
    - name: r
      importV4: [{cidr: 198.18.41.0/24, matchOperator: Equal, action: Accept}]
      importV6: [{cidr: "2001:db8:41::/48", matchOperator: Equal, action: Accept}]
`, xif, a.endpoint(0, "", "")))

	var peers string
	waitFor(t, 30*time.Second, "one session with both families, routes both ways", func() string {
		peers, _ = d.cli("bgp", "peers")
		if !strings.Contains(peers, "established") || !strings.Contains(peers, "ipv4 1") || !strings.Contains(peers, "ipv6 1") {
			return "gannet bgp peers:\n" + peers
		}
		out4, _ := r.Try("gobgp", "global", "rib", "-a", "ipv4")
		out6, _ := r.Try("gobgp", "global", "rib", "-a", "ipv6")
		if !strings.Contains(out4, "198.18.40.10/32") || !strings.Contains(out6, "2001:db8:40::10/128") {
			return "gobgpd lacks the workload's routes:\n" + out4 + out6
		}
		return ""
	})
	t.Logf("gannet bgp peers:\n%s", peers)
	out6, _ := r.Try("gobgp", "global", "rib", "-a", "ipv6")
	t.Logf("gobgpd's IPv6 RIB (gannet's /128 with the next hop it gave over the IPv4 session):\n%s", out6)
	routes, _ := d.cli("bgp", "routes")
	if !strings.Contains(routes, "198.18.41.0/24") || !strings.Contains(routes, "2001:db8:41::/48") {
		t.Errorf("gannet bgp routes lacks gobgpd's routes:\n%s", routes)
	}
	t.Logf("gannet bgp routes:\n%s", routes)
	// The IPv4 route forwards; the IPv6 one stays in the RIB only.
	if !a.waitPing(t, "198.18.41.1", 20*time.Second) {
		t.Errorf("the workload does not reach 198.18.41.1 over the learned IPv4 route")
	}
	st, err := d.client().Status(t.Context())
	if err != nil || st.BGP == nil {
		t.Fatalf("status: %v %+v", err, st)
	}
	if st.BGP.RIB != 2 || st.BGP.Routes != 1 {
		t.Errorf("gannet status bgp = %+v, want 2 learned (RIB) of which 1 (IPv4) forwarding", *st.BGP)
	}
}

// startGobgpd runs gobgpd in ns as AS 64500 (router ID routerID), peering
// with gannet at neighbor (AS 64512) over one session carrying IPv4 and
// IPv6 unicast; its API listens on 127.0.0.1:50051 inside ns, where the
// gobgp client finds it.
func startGobgpd(t *testing.T, ns *netnstest.NS, routerID, neighbor string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
[global.config]
  as = 64500
  router-id = "%s"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`, routerID, neighbor)), 0o600); err != nil {
		t.Fatal(err)
	}
	background(t, ns.Command("gobgpd", "-f", conf, "--api-hosts", "127.0.0.1:50051", "--pprof-disable"), "gobgpd")
}
