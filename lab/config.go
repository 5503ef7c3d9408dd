package lab

// Configuration: each gannet host's `gannet run` configuration built as
// typed values (ctl/config.Config) from the topology and marshalled to
// YAML, so a field gannet renames breaks this build, not the lab at run
// time. Routing is BGP under the route reflector, or static routes to
// every other node's originated prefixes when BIRD is not installed.

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/xlat"
)

// Routing is how the hosts learn each other's workloads.
type Routing string

const (
	RoutingBGP    Routing = "bgp"    // BIRD 2 reflects gannet's iBGP sessions
	RoutingStatic Routing = "static" // every host is given static routes
)

// Paths are where a host's files live under the lab's state directory.
type Paths struct{ Dir string }

func (p Paths) node(n string) string         { return filepath.Join(p.Dir, n) }
func (p Paths) Config(n string) string       { return filepath.Join(p.node(n), "gannet.yaml") }
func (p Paths) Socket(n string) string       { return filepath.Join(p.node(n), "gannet.sock") }
func (p Paths) Pins() string                 { return filepath.Join(p.Dir, "bpf") }
func (p Paths) PinPath(n string) string      { return filepath.Join(p.Pins(), n) }
func (p Paths) BIRDConfig() string           { return filepath.Join(p.node("core"), "bird.conf") }
func (p Paths) BIRDSocket() string           { return filepath.Join(p.node("core"), "bird.ctl") }
func (p Paths) Log(daemon string) string     { return filepath.Join(p.Dir, "log", daemon+".log") }
func (p Paths) PIDFile(daemon string) string { return filepath.Join(p.Dir, "run", daemon+".pid") }
func (p Paths) State() string                { return filepath.Join(p.Dir, "state.json") }
func (p Paths) Check() string                { return filepath.Join(p.Dir, "check.json") }

// DBPolicy is the policy the lab installs on every host: db accepts only
// web, only on TCP 5432 (stateful: the replies pass); anything else to db
// is denied once the policy selects it.
func (t *Topology) DBPolicy() acl.Policy {
	web, _ := t.Workload("web")
	return acl.Policy{
		Name:     "db-ingress",
		Selector: "app == 'db'",
		Types:    []acl.PolicyType{acl.Ingress},
		Ingress: []acl.PolicyRule{{
			Action:   acl.Allow,
			Protocol: "TCP",
			// By address, not selector: web lives on another host, whose
			// endpoints' labels this host does not know.
			Source:      acl.EntityMatch{Nets: []string{netip.PrefixFrom(web.IPv4, 32).String(), netip.PrefixFrom(web.IPv6, 128).String()}},
			Destination: acl.EntityMatch{Ports: []string{fmt.Sprint(DBPort)}},
		}},
	}
}

// openProfile allows what no policy decides: the workloads talk freely
// unless a policy selects them.
var openProfile = acl.Profile{
	Name:    "open",
	Ingress: []acl.PolicyRule{{Action: acl.Allow}},
	Egress:  []acl.PolicyRule{{Action: acl.Allow}},
}

// HostConfig is node's gannet configuration.
func (t *Topology) HostConfig(node string, routing Routing, paths Paths) (*config.Config, error) {
	n, ok := t.Node(node)
	if !ok || !n.Runs() {
		return nil, fmt.Errorf("lab: %s is not a gannet host", node)
	}
	c := &config.Config{
		Node: config.Node{Name: n.Name, RouterIPv4: n.IPv4.String(), RouterIPv6: n.IPv6.String()},
		Dataplane: config.Dataplane{
			// 16384 frames (64 MiB at 4 KiB) per host. With 4096, h1's
			// last workload port started with an empty fill ring
			// (XDP_STATISTICS rx_fill_ring_empty_descs on its first
			// packets) and starved again during checks: the worker
			// attaches ports one at a time, its fill target (half the
			// frames over the ports) shrinks with each, and frames
			// already on earlier ports' fill rings stay there.
			Cores: []int{0}, Frames: 16384,
			PinPath:   paths.PinPath(n.Name),
			Conntrack: &config.Conntrack{Capacity: 4096},
		},
		Ports: []config.Port{{Interface: t.Uplink}},
		API:   config.API{Socket: paths.Socket(n.Name)},
		Policy: config.Policy{
			Policies: []acl.Policy{t.DBPolicy()},
			Profiles: []acl.Profile{openProfile},
		},
	}
	spaces := map[uint16]bool{}
	for _, w := range t.On(node) {
		nets := []string{netip.PrefixFrom(w.IPv4, 32).String()}
		if w.IPv6.IsValid() {
			nets = append(nets, netip.PrefixFrom(w.IPv6, 128).String())
		}
		c.WorkloadEndpoints = append(c.WorkloadEndpoints, config.WorkloadEndpoint{
			Name: w.Name, Interface: w.HostIf(), MAC: w.MAC, IPNetworks: nets,
			AddressSpace: int(w.Space), Labels: w.Labels, Profiles: []string{openProfile.Name},
		})
		if w.Space != 0 {
			spaces[w.Space] = true
		}
	}
	if n.Role == RoleBorder {
		spaces[t.TenantExitSpace] = true
		t.borderConfig(c)
	}
	if len(spaces) > 0 {
		c.Translation = &xlat.Config{AddressSpaces: map[int]string{}}
		ids := make([]int, 0, len(spaces))
		for s := range spaces {
			ids = append(ids, int(s))
		}
		sort.Ints(ids)
		for _, s := range ids {
			c.AddressSpaces = append(c.AddressSpaces, config.AddressSpace{ID: s, Translated: true})
			c.Translation.AddressSpaces[s] = "" // the default 64:ff9b:1:<ID>::/96
		}
	}
	switch routing {
	case RoutingBGP:
		c.BGP = t.bgpConfig(n)
	case RoutingStatic:
		c.Routes = append(c.Routes, t.staticRoutes(n)...)
	default:
		return nil, fmt.Errorf("lab: routing %q: want bgp or static", routing)
	}
	return c, nil
}

// borderConfig adds the border's side: its port to the Internet (the
// Internet's default route is static: that is the upstream's business),
// the tenant exit, natOutgoing for the non-routable range and the exit
// space, and the floating IPs.
func (t *Topology) borderConfig(c *config.Config) {
	inet, _ := t.Node("inet")
	exit := int(t.TenantExitSpace)
	c.Ports = append(c.Ports, config.Port{Interface: t.ExternalIf})
	c.Routes = append(c.Routes,
		config.Route{Prefix: "0.0.0.0/0", Via: inet.IPv4.String(), Interface: t.ExternalIf},
		config.Route{Prefix: SpaceExit(t.TenantExitSpace).String(), TranslateToSpace: &exit},
	)
	nat := &config.NAT{
		IPPools: []config.IPPool{
			{CIDR: t.NonRoutable.String(), NATOutgoing: true},
			{CIDR: t.Routable.String()},
			{CIDR: t.TenantPool.String(), Space: exit, NATOutgoing: true},
		},
		External: []config.ExternalPool{{CIDR: t.SNATPool.String(), Ports: t.SNATPorts}},
	}
	for _, f := range t.Floating {
		w, _ := t.Workload(f.Workload)
		nat.FloatingIPs = append(nat.FloatingIPs, config.FloatingIP{Public: f.Public.String(), Workload: w.IPv4.String()})
	}
	c.NAT = nat
}

// bgpConfig peers n with the reflector over one IPv6 session carrying
// both families (IPv4 with IPv6 next hops, RFC 8950) and imports the
// lab's ranges only. Graceful restart is off on compute hosts: a crashed
// host's routes should go at once, not linger as stale.
func (t *Topology) bgpConfig(n Node) *config.BGP {
	v4 := []config.BGPFilterRule{
		{CIDR: "198.18.0.0/15", MatchOperator: "In", Action: "Accept"},
		{CIDR: t.Routable.String(), MatchOperator: "In", Action: "Accept"},
	}
	if n.Role != RoleBorder {
		v4 = append(v4, config.BGPFilterRule{CIDR: t.External.String(), MatchOperator: "In", Action: "Accept"})
	}
	restart := ""
	if n.Role == RoleCompute {
		restart = "0s"
	}
	b := &config.BGP{
		ASNumber: int64(t.AS),
		Peers: []config.BGPPeer{
			{PeerIP: t.RRv6.String(), ASNumber: int64(t.AS), HoldTime: "9s", MaxRestartTime: restart, Families: []string{"ipv4", "ipv6"}, Filters: []string{"core"}},
		},
		Filters: []config.BGPFilter{{
			Name:     "core",
			ImportV4: v4,
			ImportV6: []config.BGPFilterRule{
				{CIDR: "2001:db8::/32", MatchOperator: "In", Action: "Accept"},
				{CIDR: "64:ff9b:1::/48", MatchOperator: "In", Action: "Accept"},
			},
		}},
	}
	if n.Role == RoleBorder {
		b.PrefixAdvertisements = []config.BGPPrefixAdvertisement{{CIDR: t.External.String()}}
	}
	return b
}

// staticRoutes route every prefix another gannet node originates to that
// node's core address: IPv6, for IPv4 prefixes too (RFC 8950 style; the
// core has no IPv4).
func (t *Topology) staticRoutes(n Node) []config.Route {
	var out []config.Route
	for _, o := range t.Nodes {
		if !o.Runs() || o.Name == n.Name {
			continue
		}
		for _, pfx := range t.Originated(o.Name) {
			if n.Role == RoleBorder && pfx == t.External.Masked() {
				continue
			}
			out = append(out, config.Route{Prefix: pfx.String(), Via: o.IPv6.String(), Interface: t.Uplink})
		}
	}
	return out
}

// MarshalConfig is c as the YAML file gannet run reads.
func MarshalConfig(c *config.Config) ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("lab: marshalling %s's configuration: %w", c.Node.Name, err)
	}
	return append([]byte("# generated by gannet lab up; lab down removes it\n"), b...), nil
}
