package config

// Configuration: the YAML file `gannet run --config` reads, as the operator
// writes it. Values that need checking stay strings here so every error can
// name the field and quote the text it did not like; Validate turns a
// Config into a Plan of typed values (plan.go) or reports every problem it
// found. Nothing in this file touches the system.

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/xlat"
)

// Config is the whole configuration of one gannet node. Its sections are
// shaped after Calico's resources (WorkloadEndpoint, IPPool,
// GlobalNetworkPolicy, Profile) so the control plane can grow them into
// a datastore later without changing what operators write.
type Config struct {
	Node              Node               `yaml:"node"`
	Dataplane         Dataplane          `yaml:"dataplane"`
	Ports             []Port             `yaml:"ports"`
	AddressSpaces     []AddressSpace     `yaml:"addressSpaces"`
	WorkloadEndpoints []WorkloadEndpoint `yaml:"workloadEndpoints"`
	HostEndpoints     []HostEndpoint     `yaml:"hostEndpoints"`
	Routes            []Route            `yaml:"routes"`
	Policy            Policy             `yaml:"policy"`
	NAT               *NAT               `yaml:"nat"`
	// Translation is the translation section (xlat.Config): RFC 6052
	// prefixes of the translated spaces, EAM, RFC 6791 pools, the optional
	// ipv4MTU/ipv6MTU caps (the egress port's MTU rules otherwise) and
	// clampMSS.
	Translation *xlat.Config `yaml:"translation"`
	API         API          `yaml:"api"`
	BGP         *BGP         `yaml:"bgp"`
	Metrics     Metrics      `yaml:"metrics"`
}

// API is the local API's unix socket (HTTP/JSON; never TCP).
type API struct {
	// Socket is its path; default /run/gannet/gannet.sock. Its directory
	// is made 0750, the socket 0660.
	Socket string `yaml:"socket"`
	// Group may use the socket besides root: the socket's group, and the
	// peer credentials the server checks.
	Group string `yaml:"group"`
}

// Node names the host and the addresses it speaks from.
type Node struct {
	Name string `yaml:"name"`
	// RouterIPv4 and RouterIPv6 are the sources of the ICMP errors the
	// router sends (Time Exceeded, Unreachable, Fragmentation Needed), so
	// traceroute shows this address as gannet's hop.
	RouterIPv4 string `yaml:"routerIPv4"`
	RouterIPv6 string `yaml:"routerIPv6"`
}

// Dataplane sizes the workers and their sockets.
type Dataplane struct {
	// Cores lists the CPUs that run a worker each; empty means [0].
	// Worker i opens queue i of every port.
	Cores     []int  `yaml:"cores"`
	Frames    int    `yaml:"frames"`    // UMEM frames per worker; default 8192
	FrameSize int    `yaml:"frameSize"` // 2048 or 4096 (default)
	RingSize  int    `yaml:"ringSize"`  // rx/tx/fill/completion entries; default 2048
	Idle      string `yaml:"idle"`      // poll (default) or busy
	XSKMode   string `yaml:"xskMode"`   // auto (default), copy, zerocopy
	XDPMode   string `yaml:"xdpMode"`   // auto (default), native, generic
	// NoSocket is what the XDP program does with a frame arriving on a
	// queue no worker serves — while gannet starts, restarts or after it
	// crashed: drop (default: fail closed; uplinks still hand the host
	// its own traffic, BGP and SSH) or pass to the kernel.
	NoSocket string `yaml:"noSocket"`
	// PinPath is where the XDP programs' links are pinned (bpffs; mounted
	// there when it is not): they outlive the process, so a stopped or
	// crashed gannet leaves its ports failing closed and the next one
	// takes them over without a gap. Default /sys/fs/bpf/gannet;
	// `gannet cleanup` removes them.
	PinPath string `yaml:"pinPath"`
	// StateDir holds what outlives the process besides the pins: the
	// connection table (sessions, NAT mappings, their ports), in a file
	// mapped shared, one directory per network namespace. Keep it on
	// tmpfs: a restart, an upgrade or a crash keeps every session, and a
	// reboot starts afresh. Default /run/gannet; `gannet cleanup`
	// removes it.
	StateDir string `yaml:"stateDir"`
	// RPF is the reverse-path check of IPv6 from the core that enters a
	// translated space (delivered 6->4 to a local tenant workload, or
	// through a border's translateToSpace route): feasible (default,
	// RFC 3704 section 2.3) accepts a source only when its core route
	// leaves by the uplink the packet came in on — a source with no
	// route, one routed to a local workload, to the host or into a
	// translated space is dropped and counted (anti-spoof/rpf); off
	// trusts every host of the core to source from any tenant's prefix.
	// A core host on the same uplink path as a legitimate sender still
	// passes; untranslated IPv6 is not checked.
	RPF string `yaml:"rpf"`
	// EndpointToHost is what happens to a workload's packet to one of the
	// host's own addresses (Calico's DefaultEndpointToHostAction): drop
	// (default; counted to-host) or accept — after the source check and
	// the endpoint's egress policy, the packet is delivered into the
	// host stack through HostInterface, a TAP device gannet creates and
	// owns; the host answers over its own route to the workload (gannet
	// installs the workload's neighbour entry on its interface). ARP and
	// ND for the gateway are answered by gannet either way.
	EndpointToHost string `yaml:"endpointToHost"`
	// HostInterface names that TAP device; default gannet-host.
	HostInterface string `yaml:"hostInterface"`
	// FastPath is the kernel tier for established flows: on, the XDP
	// program forwards the TCP and UDP flows the pipeline has fully
	// decided (route, policy, NAT, neighbour) without the AF_XDP socket,
	// and the pipeline keeps every decision and the state (see
	// docs/FASTPATH.md). off (default): every packet crosses the socket.
	// Off by default because a frame the kernel redirects into a veth is
	// dropped unless the veth's other end runs NAPI (GRO on, or an XDP
	// program of its own), and veth's GRO is off unless someone turns it
	// on. gannet checks it: a port that takes none of the frames
	// redirected into it is taken off the fast path (egress-off, a log
	// line with the fix) and retried after 2 s, 4 s, ... up to a minute;
	// but the check follows the loss (about four packets, at high rates
	// a few ms of the flow, at each offload and each retry), so it bounds
	// it, never prevents it. And gannet capture does not see an
	// offloaded packet.
	FastPath string `yaml:"fastPath"`
	// FastPathFlows is the fast path's flow table capacity (default
	// 65536, at most 4194304); a flow that finds it full stays on the
	// pipeline.
	FastPathFlows int `yaml:"fastPathFlows"`
	// Busy polling of the sockets (SO_BUSY_POLL microseconds,
	// SO_BUSY_POLL_BUDGET, SO_PREFER_BUSY_POLL); zero values leave it off.
	BusyPollUsec   int        `yaml:"busyPollUsec"`
	BusyPollBudget int        `yaml:"busyPollBudget"`
	PreferBusyPoll bool       `yaml:"preferBusyPoll"`
	Conntrack      *Conntrack `yaml:"conntrack"`
}

// Conntrack enables connection tracking (stateful policy, NAT).
type Conntrack struct {
	Capacity int `yaml:"capacity"` // sessions; default 65536
	// HeldFragments is how many fragments each worker keeps that
	// overtook their datagram's first fragment, until it comes (RFC 4787
	// REQ-14); default 64, 0 drops them instead. A new flow's later
	// fragments that come in the same batch as its first one count as
	// overtaking it (the batch is tracked before the flow is created),
	// so 0 also loses those.
	HeldFragments *int `yaml:"heldFragments"`
}

// Port is an uplink: a NIC or veth toward the fabric or the Internet.
// Workload ports are declared by their endpoints.
type Port struct {
	Interface string `yaml:"interface"`
	Role      string `yaml:"role"` // uplink (default)
	// MTU of the link as gannet enforces it; 0 takes the interface's.
	MTU int `yaml:"mtu"`
}

// AddressSpace declares an IPv4 address space other than the flat space 0.
type AddressSpace struct {
	ID int `yaml:"id"`
	// Translated spaces carry their IPv4 over the IPv6 core by stateless
	// translation (RFC 6052 addresses, RFC 7915); the translation section
	// gives their prefixes.
	Translated bool `yaml:"translated"`
}

// WorkloadEndpoint is one workload interface: the host side of a veth or
// TAP, the workload's MAC and its addresses (Calico WorkloadEndpoint).
type WorkloadEndpoint struct {
	Name         string            `yaml:"name"`
	Interface    string            `yaml:"interface"`
	MAC          string            `yaml:"mac"`
	IPNetworks   []string          `yaml:"ipNetworks"`
	AddressSpace int               `yaml:"addressSpace"`
	Labels       map[string]string `yaml:"labels"`
	Profiles     []string          `yaml:"profiles"`
	MTU          int               `yaml:"mtu"`
}

// HostEndpoint is one of the host's own interfaces as policy sees it
// (Calico HostEndpoint): policies with applyOnForward whose selector
// matches its labels police the traffic gannet forwards in by it
// (ingress) and out by it (egress), statefully; with none, forwarded
// traffic passes. The host's own traffic on the interface (BGP, SSH,
// ARP/ND) is never policed by gannet: the uplink's XDP program hands it
// to the kernel before any policy, so no rule can cut it off.
type HostEndpoint struct {
	Name string `yaml:"name"`
	// InterfaceName is an uplink (ports[].interface).
	InterfaceName string            `yaml:"interfaceName"`
	Labels        map[string]string `yaml:"labels"`
	// ExpectedIPs are the interface's addresses as rule selectors that
	// match the host endpoint see them.
	ExpectedIPs []string `yaml:"expectedIPs"`
}

// Route is a static route in one address space.
type Route struct {
	Space  int    `yaml:"space"`
	Prefix string `yaml:"prefix"`
	// Via is the gateway on Interface; empty means the prefix is
	// directly connected there. It is of the prefix's family, or IPv6
	// (global or link-local) for an IPv4 prefix (RFC 8950: IPv4 carried
	// over an IPv6-only core; the gateway's MAC comes from neighbour
	// discovery).
	Via       string `yaml:"via"`
	Interface string `yaml:"interface"`
	// TranslateToSpace, instead of Interface, makes an IPv6 route of the
	// core (space 0) the border's exit from a translated space: packets
	// to the prefix are translated 6->4 into that space and routed again
	// there (toward the Internet, with natOutgoing).
	TranslateToSpace *int `yaml:"translateToSpace"`
}

// Policy holds the Calico-shaped policies and profiles; the endpoints they
// select are the workloadEndpoints.
type Policy struct {
	Policies []acl.Policy  `yaml:"policies"`
	Profiles []acl.Profile `yaml:"profiles"`
}

// NAT is the border's address translation: natOutgoing pools, external
// pools and floating IPs.
type NAT struct {
	ExternalSpace int            `yaml:"externalSpace"`
	IPPools       []IPPool       `yaml:"ipPools"`
	External      []ExternalPool `yaml:"external"`
	FloatingIPs   []FloatingIP   `yaml:"floatingIPs"`
	// Filtering is endpoint-independent (default) or address-dependent.
	Filtering string      `yaml:"filtering"`
	Timeouts  NATTimeouts `yaml:"timeouts"`
}

// IPPool is a workload address pool (Calico IPPool).
type IPPool struct {
	CIDR        string `yaml:"cidr"`
	Space       int    `yaml:"space"`
	NATOutgoing bool   `yaml:"natOutgoing"`
}

// ExternalPool is a block of public addresses with a port range.
type ExternalPool struct {
	CIDR  string `yaml:"cidr"`
	Ports string `yaml:"ports"` // "1024-65535" (default)
}

// FloatingIP maps a public address 1:1 onto a workload address.
type FloatingIP struct {
	Public   string `yaml:"public"`
	Workload string `yaml:"workload"`
	Space    int    `yaml:"space"`
}

// NATTimeouts are idle timers as Go durations ("5m", "2h4m"); empty
// takes nat's default.
type NATTimeouts struct {
	UDP            string `yaml:"udp"`
	TCPEstablished string `yaml:"tcpEstablished"`
	TCPTransitory  string `yaml:"tcpTransitory"`
	TCPRstHold     string `yaml:"tcpRstHold"`
	ICMPQuery      string `yaml:"icmpQuery"`
}

// ParseConfig reads a configuration strictly (an unknown field is an
// error naming its line) and validates it.
func ParseConfig(data []byte) (*Config, *Plan, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("config: %w", Errors{{Message: err.Error()}})
	}
	p, err := c.Validate()
	if err != nil {
		return nil, nil, err
	}
	return &c, p, nil
}
