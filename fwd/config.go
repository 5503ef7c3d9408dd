// Configuration: the plain Go values the control plane (ctl, from the YAML
// of `gannet run`) hands to NewTables. Nothing here is read by the data
// path; NewTables validates it and compiles it into a Tables snapshot.

package fwd

import (
	"net/netip"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

// Role is what a port connects to.
type Role uint8

const (
	// RoleUplink: the fabric or the Internet. Next hops are found through
	// the neighbour table; ARP and NDP are the kernel's.
	RoleUplink Role = iota
	// RoleWorkload: one workload endpoint (a veth or TAP). gannet answers
	// ARP and NDP for the gateway address itself and checks sources.
	RoleWorkload
	// RoleNone: an empty slot. Ports keep their index for their whole
	// life while others come and go, so the tables have holes; a frame
	// from one is port-unknown and nothing may route to one.
	RoleNone
)

func (r Role) String() string {
	switch r {
	case RoleWorkload:
		return "workload"
	case RoleNone:
		return "none"
	}
	return "uplink"
}

// Default gateway identity on workload ports (Calico's).
var (
	DefaultGatewayMAC = [6]byte{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	DefaultGateway4   = netip.MustParseAddr("169.254.1.1")
	DefaultGateway6   = netip.MustParseAddr("fe80::1")
)

// DefaultICMPRate is the router's ICMP error budget per worker and second
// when Config.ICMPRate is zero.
const DefaultICMPRate = 100

// Config is everything NewTables compiles. Index fields (PortConfig
// position, EndpointConfig.Port, RouteConfig.Port) refer to Ports by
// position: port i of the tables is port i of every Worker.
type Config struct {
	Ports     []PortConfig
	Spaces    []SpaceConfig // space 0 (flat, not translated) exists without being listed
	Endpoints []EndpointConfig
	Routes    []RouteConfig

	// RouterAddrs are the source addresses of the router's ICMP errors
	// when the ingress port has no host address of the packet's family:
	// at most one IPv4 and one IPv6 address.
	RouterAddrs []netip.Addr

	// HostAddrs are the host's own addresses (every interface's, in the
	// namespace gannet runs in). A packet from a workload to one of them,
	// or to loopback, is dropped as to-host after its source check
	// (endpointToHost: drop) unless Host is set: workloads never reach
	// the host stack unchecked. Uplinks hand such packets to the kernel
	// in the XDP program and never see them here.
	HostAddrs []netip.Addr

	// Host is endpointToHost: accept — where a workload's packet to one
	// of HostAddrs (flat space) goes once it passed the source check and
	// the endpoint's egress program: into the host stack through an
	// interface gannet owns (a TAP, hosttap_linux.go). nil drops them
	// (to-host). The host's replies go straight to the workload over
	// its route in the kernel, never through gannet.
	Host *HostPath

	// Gateway identity on workload ports; zero values take the defaults
	// (ee:ee:ee:ee:ee:ee, 169.254.1.1, fe80::1).
	GatewayMAC         [6]byte
	Gateway4, Gateway6 netip.Addr

	// ICMPRate is the number of ICMP errors each worker may send per
	// second (burst: one second's worth); zero means DefaultICMPRate,
	// negative means none.
	ICMPRate int

	// PolicyLogRate is how many policy log records (packets a Log rule
	// marked) each worker may queue per second (burst: one second's
	// worth); zero means DefaultPolicyLogRate, negative means none.
	PolicyLogRate int

	// NAT is the connection table (shared by all workers). nil: no
	// conntrack or NAT stage; policy is then stateless (every packet,
	// both directions, is evaluated as new).
	NAT *nat.Table
	// NATPolicy is NAT's policy compiled for NAT (nat.Table.Prepare), so
	// that it is published with the rest of the tables in one store; nil
	// takes the policy last set on the table (nat.Table.SetPolicy).
	NATPolicy *nat.Prepared
	// Xlat translates translated address spaces; required when any space
	// is translated.
	Xlat *xlat.Translator

	// RPF is the reverse-path check of packets that come in from the
	// core and enter a translated space (dataplane.rpf). The zero value
	// checks.
	RPF RPFMode
}

// RPFMode is how an uplink's packets that enter a translated space — 6->4
// into a local tenant workload, or a border's translation route — have
// their source checked against the core (space 0 IPv6) table.
type RPFMode uint8

const (
	// RPFFeasible (the default) is RFC 3704 section 2.3's feasible-path
	// check: the source's route in the core must leave by the uplink the
	// packet came in on (a gateway or connected route on that port). A
	// source whose route is a local endpoint, one of the host's own
	// addresses or a translation route, or that has no route at all, is
	// dropped (rpf) and never answered. Several equal routes (ECMP) will
	// each be a feasible path; the core table has one next hop per
	// prefix today.
	RPFFeasible RPFMode = iota
	// RPFOff trusts the core: any source from any uplink enters.
	RPFOff
)

func (m RPFMode) String() string {
	switch m {
	case RPFFeasible:
		return "feasible"
	case RPFOff:
		return "off"
	}
	return "rpf?"
}

// PortConfig describes one port. Its index is its position in
// Config.Ports.
type PortConfig struct {
	Name    string // interface name, for counters and errors
	Ifindex int    // the kernel's index: neighbour lookups on uplinks use it
	Role    Role
	MAC     [6]byte // the port's own MAC: source of frames sent on an uplink
	MTU     int     // largest IP packet sent out of the port; zero means 1500
	// HostAddrs are the host's addresses on this port: the source of
	// ICMP errors about packets that came in here (first of each family),
	// before Config.RouterAddrs.
	HostAddrs []netip.Addr
	// Down: the port's link is gone or down. Its routes and endpoint
	// stay, and packets routed to it are answered Destination
	// Unreachable (host / address unreachable) instead of vanishing.
	Down bool
	// HostEndpoint is the uplink's host endpoint (Calico HostEndpoint):
	// its programs police traffic forwarded through the uplink
	// (applyOnForward), statefully. nil: none; only uplinks have one.
	HostEndpoint *HostEndpointConfig
}

// HostEndpointConfig is the forwarding policy of one uplink, compiled
// from the policies with applyOnForward that select its host endpoint.
type HostEndpointConfig struct {
	Name string
	// Ingress checks new flows that come in on the uplink and are
	// forwarded (to a workload, another uplink, or into a translated
	// space), as the packet arrived — before 6->4 translation and NAT.
	// Egress checks new flows routed out of the uplink, before NAT
	// (Calico checks forwarded traffic before it source-NATs). nil: no
	// policy selects the endpoint in that direction, and forwarded
	// traffic passes as in Calico. Established and related packets
	// pass (conntrack); without a connection table every packet is new.
	Ingress, Egress         *acl.Program
	IngressHits, EgressHits *RuleHits
}

// SpaceConfig declares an address space (a VRF). Space 0 is the flat
// space; its IPv6 table is the core table that translated traffic is
// routed in.
type SpaceConfig struct {
	ID uint16
	// Translated: an IPv4-only space carried over the IPv6 core by
	// stateless translation (Config.Xlat must know the space).
	Translated bool
}

// EndpointConfig is a workload endpoint on a workload port.
type EndpointConfig struct {
	Name  string
	Port  int     // index into Config.Ports; a workload port holds one endpoint
	MAC   [6]byte // the workload's MAC: destination of frames delivered to it
	Addrs []netip.Addr
	Space uint16
	// Ingress and Egress are the endpoint's compiled programs (from
	// acl.CompilePolicy). nil means no policy at all in that direction:
	// everything passes. A non-nil Program follows acl's semantics,
	// including the default deny of profiles.
	Ingress, Egress *acl.Program
	// IngressHits and EgressHits count the hits of the programs' rules
	// (NewRuleHits of the same program); nil: the tables make counters
	// of their own. Giving the previous tables' counters carries the
	// counts over a change that kept the program.
	IngressHits, EgressHits *RuleHits
}

// RouteConfig is a static route in a space. The next hop is either a port
// (with a gateway address, or none for a directly connected prefix whose
// destinations are their own neighbours), or, in space 0's IPv6 table
// only, a translation into a translated space (the border's exit: the
// packet is translated 6->4 and routed again in that space).
type RouteConfig struct {
	Space  uint16
	Prefix netip.Prefix

	Port    int
	Gateway netip.Addr // invalid (zero) for a directly connected prefix

	Translate      bool   // instead of Port/Gateway
	TranslateSpace uint16 // the translated space to deliver into

	// Unreachable, instead of Port/Gateway/Translate: the route forwards
	// nothing. A packet it matches is dropped (ReasonUnreachableRoute)
	// and answered as Linux answers its `unreachable` route type: ICMP
	// host unreachable (code 1), ICMPv6 no route to destination (code
	// 0). It is how a host owns a block of addresses (bgp.blocks): its
	// workloads' host routes inside the block are more specific and win,
	// and an unused address is answered here instead of following a
	// shorter route (a default learned from the border) back into the
	// fabric, which would loop it.
	Unreachable bool
}
