package e2e

// RFC 8950: IPv4 routes with IPv6 next hops over one IPv6 session, on a
// link that has no IPv4 address at all.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// enhHostConfig is the gannet host of the extended next hop tests: one
// IPv6 eBGP session to 2001:db8:100::2 (AS 64500) on uplink carrying
// both families, importing the IPv4 prefix peerNet.
func enhHostConfig(uplink string, w *workload, peerNet string) string {
	return fmt.Sprintf(`
node: {name: g, routerIPv4: 198.18.100.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers:
    - {peerIP: "2001:db8:100::2", asNumber: 64500, holdTime: 9s, families: [ipv4, ipv6], filters: [peer]}
  filters:
    - name: peer
      importV4: [{cidr: %s, matchOperator: In, action: Accept}]
`, uplink, w.endpoint(0, "", ""), peerNet)
}

// startBIRDPeer runs BIRD 2 in ns as the eBGP peer (AS 64500,
// 2001:db8:100::2) of gannet at 2001:db8:100::1, one IPv6 session with
// an ipv4 channel of the settings ipv4 and an ipv6 channel that takes
// everything and sends nothing; extra is more of bird.conf. It returns
// birdc on BIRD's socket.
func startBIRDPeer(t *testing.T, ns *netnstest.NS, routerID, extra, ipv4 string) func(args ...string) string {
	t.Helper()
	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
router id %s;
protocol device {}%s
protocol bgp gannet {
  local 2001:db8:100::2 as 64500;
  neighbor 2001:db8:100::1 as 64512;
  hold time 9;
  connect retry time 2;
  error wait time 1, 5;
  ipv4 { %s };
  ipv6 { import all; export none; };
}
`, routerID, extra, ipv4)), 0o600); err != nil {
		t.Fatal(err)
	}
	background(t, ns.Command("bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid")), "bird")
	return func(args ...string) string {
		out, _ := ns.Try(append([]string{"birdc", "-s", sock}, args...)...)
		return out
	}
}

// TestBGPExtendedNextHopBIRD: gannet and BIRD 2 peer over IPv6 only
// (eBGP, families [ipv4, ipv6] on gannet's side, `extended next hop on`
// in BIRD's ipv4 channel). Both negotiate the Extended Next Hop
// capability; BIRD learns the workload's /32 with gannet's IPv6 address
// as next hop and installs it in its kernel (an IPv4 route via inet6);
// gannet learns BIRD's IPv4 prefix with BIRD's IPv6 address as next hop,
// forwards the workload's IPv4 packets to the MAC neighbour discovery
// found for it, and the replies come back the same way: traffic follows
// the routes on a link with no IPv4 address.
func TestBGPExtendedNextHopBIRD(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	g, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gr")
	a := addWorkload(t, g, "wl-a", "02:00:00:00:50:0a", "198.18.50.10", "2001:db8:50::10")
	gif, rif := fabric(t, g, r, false) // 2001:db8:100::1 and ::2, no IPv4
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	r.Run("ip", "addr", "add", "198.18.51.1/32", "dev", "lo")
	r.Run("ip", "link", "set", "lo", "up")

	birdc := startBIRDPeer(t, r, "198.18.51.1", `
protocol direct { ipv4; interface "lo"; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }`,
		"extended next hop on; import all; export where net = 198.18.51.1/32;")

	d := startGannet(t, g, enhHostConfig(gif, a, "198.18.51.0/24"))

	diag := func() string {
		p, _ := d.cli("bgp", "peers")
		rt, _ := d.cli("bgp", "routes")
		k, _ := r.Try("ip", "route")
		return "gannet bgp peers:\n" + p + "\ngannet bgp routes:\n" + rt + "\nbirdc show protocols all gannet:\n" + birdc("show", "protocols", "all", "gannet") +
			"\nbirdc show route:\n" + birdc("show", "route") + "\nBIRD's kernel:\n" + k
	}
	waitFor(t, 30*time.Second, "the IPv6 session with the extended next hop negotiated, routes both ways", func() string {
		peers, _ := d.cli("bgp", "peers")
		if !strings.Contains(peers, "established (ipv4 over ipv6 next hops)") {
			return "gannet bgp peers:\n" + peers
		}
		if rt := birdc("show", "route", "for", a.v4, "all"); !strings.Contains(rt, "198.18.50.10/32") {
			return "BIRD lacks the workload's route:\n" + rt
		}
		if rt, _ := d.cli("bgp", "routes"); !strings.Contains(rt, "198.18.51.1/32") {
			return "gannet lacks BIRD's route:\n" + rt
		}
		return ""
	})
	t.Logf("%s", diag())

	// BIRD's side: the workload's /32 with gannet's IPv6 address as next
	// hop (RFC 8950), in its kernel as an IPv4 route via inet6.
	if rt := birdc("show", "route", "for", a.v4, "all"); !strings.Contains(rt, "2001:db8:100::1") {
		t.Errorf("BIRD's route to %s is not via gannet's IPv6 address:\n%s", a.v4, rt)
	}
	// gannet offered the capability: BIRD lists it among the neighbour's.
	caps := birdc("show", "protocols", "all", "gannet")
	_, neighbour, _ := strings.Cut(caps, "Neighbor capabilities")
	neighbour, _, _ = strings.Cut(neighbour, "Session:")
	if !regexp.MustCompile(`Extended next hop\s+IPv6 nexthop: ipv4`).MatchString(neighbour) {
		t.Errorf("BIRD does not list gannet's extended next hop capability:\n%s", caps)
	}
	waitFor(t, 10*time.Second, "BIRD's kernel routes the workload via inet6", func() string {
		out, _ := r.Try("ip", "route", "show", a.v4)
		if !strings.Contains(out, "via inet6 2001:db8:100::1") {
			return out
		}
		return ""
	})
	// gannet's side: BIRD's prefix forwarded by its IPv6 next hop.
	routes, _ := d.cli("routes")
	t.Logf("gannet routes:\n%s", routes)
	if !strings.Contains(routes, "198.18.51.1/32") || !strings.Contains(routes, "2001:db8:100::2") {
		t.Errorf("gannet's tables lack 198.18.51.1/32 via 2001:db8:100::2:\n%s", routes)
	}
	// Traffic follows the routes: ping and a TCP transfer to BIRD's
	// loopback, across a link that has no IPv4 address.
	if !a.waitPing(t, "198.18.51.1", 20*time.Second) {
		t.Fatalf("the workload cannot reach 198.18.51.1 over the IPv6 next hop:\n%s", diag())
	}
	if got := a.ping(t, "198.18.51.1", 3); got != 3 {
		t.Errorf("ping 198.18.51.1: %d of 3 replies", got)
	}
	if out, err := g.Try("ip", "-4", "addr", "show", "dev", gif); err != nil || strings.Contains(out, "inet ") {
		t.Errorf("the uplink has an IPv4 address (%v):\n%s", err, out)
	}
	tr, _ := d.cli("trace", "--in", a.hostIf, "--src", a.v4, "--dst", "198.18.51.1", "--proto", "icmp")
	t.Logf("gannet trace:\n%s", tr)
	if !strings.Contains(tr, "RFC 8950") {
		t.Errorf("the trace does not say the IPv4 packet goes to an IPv6 neighbour:\n%s", tr)
	}
}

// TestBGPExtendedNextHopFRR: the same with FRR (`neighbor X capability
// extended-nexthop`): one IPv6 eBGP session, no IPv4 on the link. zebra
// installs the workload's /32 via gannet's IPv6 address, gannet forwards
// FRR's IPv4 loopback by FRR's IPv6 next hop, and ping follows.
func TestBGPExtendedNextHopFRR(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"/usr/lib/frr/bgpd": "frr", "/usr/lib/frr/zebra": "frr", "vtysh": "frr"})
	g, r := netnstest.NewNS(t, "gg"), netnstest.NewNS(t, "fr")
	a := addWorkload(t, g, "wl-a", "02:00:00:00:52:0a", "198.18.52.10", "2001:db8:52::10")
	gif, rif := fabric(t, g, r, false) // 2001:db8:100::1 and ::2, no IPv4
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	r.Run("ip", "link", "set", "lo", "up")
	r.Run("ip", "addr", "add", "198.18.53.1/32", "dev", "lo")
	// bgpd wants the link's link-local address usable before the session
	// (see TestBGPWithFRR).
	waitFor(t, 10*time.Second, "a usable link-local address on "+rif, func() string {
		out := r.Run("ip", "-6", "addr", "show", "dev", rif, "scope", "link")
		if !strings.Contains(out, "inet6 fe80::") || strings.Contains(out, "tentative") {
			return out
		}
		return ""
	})
	f := startFRR(t, r, `frr defaults traditional
hostname frr
!
router bgp 64500
 bgp router-id 198.18.53.1
 no bgp ebgp-requires-policy
 neighbor 2001:db8:100::1 remote-as 64512
 neighbor 2001:db8:100::1 capability extended-nexthop
 neighbor 2001:db8:100::1 timers 3 9
 neighbor 2001:db8:100::1 timers connect 2
 !
 address-family ipv4 unicast
  network 198.18.53.1/32
  neighbor 2001:db8:100::1 activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8:100::1 activate
 exit-address-family
!
`)
	d := startGannet(t, g, enhHostConfig(gif, a, "198.18.53.0/24"))
	diag := func() string {
		p, _ := d.cli("bgp", "peers")
		rt, _ := d.cli("routes")
		k, _ := r.Try("ip", "route")
		return "gannet bgp peers:\n" + p + "\ngannet routes:\n" + rt + "\nFRR:\n" + f.vtysh("show bgp neighbors 2001:db8:100::1") + f.vtysh("show ip route") + "\nFRR's kernel:\n" + k
	}
	waitFor(t, 40*time.Second, "the IPv6 session with the extended next hop negotiated, routes both ways", func() string {
		peers, _ := d.cli("bgp", "peers")
		if !strings.Contains(peers, "established (ipv4 over ipv6 next hops)") {
			return "gannet bgp peers:\n" + peers
		}
		if out, _ := r.Try("ip", "route", "show", a.v4); !strings.Contains(out, "via inet6") {
			return "FRR's kernel has no IPv4 route via inet6 to the workload:\n" + out
		}
		if rt, _ := d.cli("routes"); !strings.Contains(rt, "198.18.53.1/32") {
			return "gannet does not forward FRR's route:\n" + rt
		}
		return ""
	})
	if nb := f.vtysh("show bgp neighbors 2001:db8:100::1"); !regexp.MustCompile(`(?i)extended nexthop: advertised and received`).MatchString(nb) {
		t.Errorf("FRR does not show the extended next hop negotiated:\n%s", nb)
	}
	if !a.waitPing(t, "198.18.53.1", 20*time.Second) {
		t.Fatalf("the workload cannot reach FRR's 198.18.53.1 over the IPv6 next hop:\n%s", diag())
	}
	if got := a.ping(t, "198.18.53.1", 3); got != 3 {
		t.Errorf("ping 198.18.53.1: %d of 3 replies", got)
	}
	t.Logf("%s", diag())
}

// TestBGPExtendedNextHopRefused: BIRD's ipv4 channel without `extended
// next hop on` over the same IPv6 session: the session comes up, and
// gannet says the peer refused the capability — in gannet bgp peers and
// as a warning in its log — so an operator sees why IPv4 does not flow.
func TestBGPExtendedNextHopRefused(t *testing.T) {
	require(t)
	needPackages(t, map[string]string{"bird": "bird2", "birdc": "bird2"})
	g, r := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gr")
	a := addWorkload(t, g, "wl-a", "02:00:00:00:54:0a", "198.18.54.10", "2001:db8:54::10")
	gif, _ := fabric(t, g, r, false)
	birdc := startBIRDPeer(t, r, "198.18.55.1", "", "import all; export none;")
	d := startGannet(t, g, enhHostConfig(gif, a, "198.18.55.0/24"))
	waitFor(t, 30*time.Second, "the session up, the extended next hop refused", func() string {
		peers, _ := d.cli("bgp", "peers", "-o", "json")
		if !strings.Contains(peers, `"state": "established"`) || !strings.Contains(peers, `"extendedNextHop": "refused"`) {
			return "gannet bgp peers -o json:\n" + peers
		}
		return ""
	})
	waitFor(t, 5*time.Second, "the warning in gannet's log", func() string {
		if !strings.Contains(d.output(), "did not offer the extended next hop") {
			return "no warning in:\n" + d.output()
		}
		return ""
	})
	// RFC 8950 section 4: no IPv4 route with an IPv6 next hop goes to a
	// peer that did not offer the capability. gannet counts none
	// advertised, and BIRD's ipv4 channel saw no update at all (a sent
	// route would count as received even if BIRD then ignored it).
	time.Sleep(2 * time.Second) // past the first UPDATEs after the OPEN
	var ps []struct {
		Families []struct {
			Family     string `json:"family"`
			Advertised uint64 `json:"advertised"`
		} `json:"families"`
	}
	out, err := d.cli("bgp", "peers", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 1 {
		t.Fatalf("gannet bgp peers -o json: %v\n%s", err, out)
	}
	for _, f := range ps[0].Families {
		if f.Family == "ipv4" && f.Advertised != 0 {
			t.Errorf("gannet advertised %d IPv4 routes to a peer without the extended next hop", f.Advertised)
		}
	}
	proto := birdc("show", "protocols", "all")
	if m := regexp.MustCompile(`(?s)Channel ipv4.*?Import updates:\s+(\d+)`).FindStringSubmatch(proto); m == nil || m[1] != "0" {
		t.Errorf("BIRD's ipv4 channel received IPv4 updates from gannet:\n%s", proto)
	}
	peers, _ := d.cli("bgp", "peers")
	t.Logf("gannet bgp peers:\n%s\nBIRD's routes:\n%s", peers, birdc("show", "route", "all"))
}
