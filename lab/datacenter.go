package lab

// The data center `gannet lab up` builds: every promise of DESIGN.md
// section 1 on two compute hosts and a border, under one route reflector,
// with the Internet behind the border. Addresses come only from the
// benchmarking and documentation ranges.
//
//	                        core (bridge; BIRD route reflector)
//	            2001:db8:200::/64 (IPv6 only; IPv4 over IPv6 next hops)
//	        ::1 |                ::2 |               ::3 |
//	          h1                   h2              border --- inet 203.0.113.2
//	web   198.18.21.10        db  198.18.22.10          203.0.113.1
//	pub   198.51.100.10       app 198.18.22.20     fip 198.18.23.10
//	t7a/t8a 100.64.0.10       t7b/t8b 100.64.0.20      (floating 203.0.113.80)
//	t7c   100.64.0.30

import "net/netip"

var (
	a4 = netip.MustParseAddr
	p  = netip.MustParsePrefix
)

// DataCenter returns the lab's topology.
func DataCenter() *Topology {
	t := &Topology{
		AS:     64512,
		CoreV6: p("2001:db8:200::/64"),
		RRID:   a4("198.18.200.254"), RRv6: a4("2001:db8:200::fe"),
		Bridge: "br0", Uplink: "fab0",
		External: p("203.0.113.0/24"), ExternalGW: a4("203.0.113.1"), ExternalIf: "ext0",
		NonRoutable: p("198.18.16.0/20"), Routable: p("198.51.100.0/24"),
		TenantPool: p("100.64.0.0/16"), TenantExitSpace: 7,
		SNATPool: p("203.0.113.64/28"), SNATPorts: "20000-29999",
		FloatingPool: p("203.0.113.80/28"),
		Floating:     []Floating{{Public: a4("203.0.113.80"), Workload: "fip"}},
		Spaces:       []uint16{7, 8},
		Nodes: []Node{
			{Name: "core", Role: RoleCore, IPv4: a4("198.18.200.254"), IPv6: a4("2001:db8:200::fe")},
			{Name: "h1", Role: RoleCompute, IPv4: a4("198.18.200.1"), IPv6: a4("2001:db8:200::1")},
			{Name: "h2", Role: RoleCompute, IPv4: a4("198.18.200.2"), IPv6: a4("2001:db8:200::2")},
			{Name: "border", Role: RoleBorder, IPv4: a4("198.18.200.3"), IPv6: a4("2001:db8:200::3")},
			{Name: "inet", Role: RoleInternet, IPv4: a4("203.0.113.2")},
		},
		Workloads: []Workload{
			// h1: a non-routable flat workload (natOutgoing), a routable
			// one, tenants 7 and 8 on the same IPv4, and a second tenant-7
			// workload that reaches its neighbour on the same host.
			{Name: "web", Host: "h1", IPv4: a4("198.18.21.10"), IPv6: a4("2001:db8:21::10"), MAC: "02:00:00:00:01:10", Labels: map[string]string{"app": "web"}},
			{Name: "pub", Host: "h1", IPv4: a4("198.51.100.10"), IPv6: a4("2001:db8:21::20"), MAC: "02:00:00:00:01:20", Labels: map[string]string{"app": "pub"}},
			{Name: "t7a", Host: "h1", Space: 7, IPv4: a4("100.64.0.10"), MAC: "02:00:00:07:01:10", Labels: map[string]string{"tenant": "7"}},
			{Name: "t8a", Host: "h1", Space: 8, IPv4: a4("100.64.0.10"), MAC: "02:00:00:08:01:10", Labels: map[string]string{"tenant": "8"}},
			{Name: "t7c", Host: "h1", Space: 7, IPv4: a4("100.64.0.30"), MAC: "02:00:00:07:01:30", Labels: map[string]string{"tenant": "7"}},
			// h2: db (only web may reach it, on TCP 5432), app, and the
			// tenants' peers.
			{Name: "db", Host: "h2", IPv4: a4("198.18.22.10"), IPv6: a4("2001:db8:22::10"), MAC: "02:00:00:00:02:10", Labels: map[string]string{"app": "db"}},
			{Name: "app", Host: "h2", IPv4: a4("198.18.22.20"), IPv6: a4("2001:db8:22::20"), MAC: "02:00:00:00:02:20", Labels: map[string]string{"app": "app"}},
			{Name: "t7b", Host: "h2", Space: 7, IPv4: a4("100.64.0.20"), MAC: "02:00:00:07:02:20", Labels: map[string]string{"tenant": "7"}},
			{Name: "t8b", Host: "h2", Space: 8, IPv4: a4("100.64.0.20"), MAC: "02:00:00:08:02:20", Labels: map[string]string{"tenant": "8"}},
			// The border: a workload behind a floating IP (gannet maps a
			// floating IP onto a workload of the node that owns the IP).
			{Name: "fip", Host: "border", IPv4: a4("198.18.23.10"), IPv6: a4("2001:db8:23::10"), MAC: "02:00:00:00:03:10", Labels: map[string]string{"app": "fip"}},
		},
	}
	for _, n := range t.Nodes {
		if n.Runs() {
			t.Links = append(t.Links, Link{A: n.Name, AIf: t.Uplink, B: "core", BIf: "p-" + n.Name})
		}
	}
	t.Links = append(t.Links, Link{A: "border", AIf: t.ExternalIf, B: "inet", BIf: Dev})
	return t
}

// Ports the lab's servers listen on (every workload and the Internet).
const (
	HTTPPort = 80   // HTTP: the answer names the server and the source it saw
	DBPort   = 5432 // TCP: the same answer as soon as a connection opens
	EchoPort = 7    // UDP: the same answer to every datagram
)
