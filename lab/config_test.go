package lab

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/ctl/config"
)

// Every host's generated configuration is one gannet run accepts, for
// both routings, and says what the topology says.
func TestHostConfigValidates(t *testing.T) {
	topo := DataCenter()
	for _, routing := range []Routing{RoutingBGP, RoutingStatic} {
		for _, n := range topo.Nodes {
			if !n.Runs() {
				continue
			}
			t.Run(string(routing)+"/"+n.Name, func(t *testing.T) {
				c, err := topo.HostConfig(n.Name, routing, Paths{Dir: "/run/gannet-lab"})
				if err != nil {
					t.Fatal(err)
				}
				data, err := MarshalConfig(c)
				if err != nil {
					t.Fatal(err)
				}
				got, plan, err := config.ParseConfig(data)
				if err != nil {
					t.Fatalf("ParseConfig(generated %s) = %v\n%s", n.Name, err, data)
				}
				if got.Node.Name != n.Name || len(plan.Endpoints) != len(topo.On(n.Name)) {
					t.Errorf("%s: node %q with %d endpoints, want %q with %d", n.Name, got.Node.Name, len(plan.Endpoints), n.Name, len(topo.On(n.Name)))
				}
				if (routing == RoutingBGP) != (got.BGP != nil) {
					t.Errorf("%s: bgp section %v with routing %s", n.Name, got.BGP != nil, routing)
				}
			})
		}
	}
}

// A tenant's IPv4 address lives in the core at 64:ff9b:1:<space>::/96
// (DESIGN.md section 1, RFC 6052 section 2.2 for a /96 prefix).
func TestCoreAddress(t *testing.T) {
	for _, tc := range []struct {
		space uint16
		v4    string
		want  string
	}{
		{7, "100.64.0.20", "64:ff9b:1:7::6440:14"},
		{8, "100.64.0.10", "64:ff9b:1:8::6440:a"},
		{0x1234, "198.18.0.1", "64:ff9b:1:1234::c612:1"},
	} {
		if got := CoreAddress(tc.space, netip.MustParseAddr(tc.v4)); got.String() != tc.want {
			t.Errorf("CoreAddress(%d, %s) = %s, want %s", tc.space, tc.v4, got, tc.want)
		}
	}
	if got := SpaceExit(7).String(); got != "64:ff9b:1:7::/96" {
		t.Errorf("SpaceExit(7) = %s, want 64:ff9b:1:7::/96", got)
	}
}

// Static routing gives every host a route to what every other host
// originates, IPv4 prefixes included by the other host's IPv6 core
// address (the core is IPv6 only), and nothing for its own workloads.
func TestStaticRoutes(t *testing.T) {
	topo := DataCenter()
	c, err := topo.HostConfig("h1", RoutingStatic, Paths{Dir: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.Routes {
		got = append(got, r.Prefix+" via "+r.Via)
	}
	for _, want := range []string{"198.18.22.10/32 via 2001:db8:200::2", "64:ff9b:1:7::6440:14/128 via 2001:db8:200::2", "64:ff9b:1:7::/96 via 2001:db8:200::3", "203.0.113.0/24 via 2001:db8:200::3", "203.0.113.80/32 via 2001:db8:200::3"} {
		if !slices.Contains(got, want) {
			t.Errorf("h1's static routes lack %q: %v", want, got)
		}
	}
	for _, r := range got {
		if r[:12] == "198.18.21.10" {
			t.Errorf("h1 routes its own workload: %s", r)
		}
	}
}

// The BGP lab peers every host with the reflector over one IPv6 session
// carrying both families, and the reflector's ipv4 channels take IPv6
// next hops (RFC 8950): nothing in the core is IPv4.
func TestBGPCoreIsIPv6Only(t *testing.T) {
	topo := DataCenter()
	for _, n := range topo.Nodes {
		if !n.Runs() {
			continue
		}
		c, err := topo.HostConfig(n.Name, RoutingBGP, Paths{Dir: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.BGP.Peers) != 1 || c.BGP.Peers[0].PeerIP != topo.RRv6.String() || !slices.Equal(c.BGP.Peers[0].Families, []string{"ipv4", "ipv6"}) {
			t.Errorf("%s's peers %+v, want one session to %s with families [ipv4 ipv6]", n.Name, c.BGP.Peers, topo.RRv6)
		}
	}
	bird := topo.BIRDConfig()
	if got, want := strings.Count(bird, "extended next hop on"), len(topo.NodesWith(RoleCompute))+len(topo.NodesWith(RoleBorder)); got != want {
		t.Errorf("bird.conf has %d ipv4 channels with the extended next hop, want %d:\n%s", got, want, bird)
	}
	if regexp.MustCompile(`neighbor \d+\.`).MatchString(bird) {
		t.Errorf("bird.conf has an IPv4 neighbor:\n%s", bird)
	}
}
