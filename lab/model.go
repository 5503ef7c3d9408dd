package lab

// The model: a lab is a Topology of typed values — nodes (the core, the
// gannet hosts, the Internet), the links between them and the workloads
// plugged into the hosts — from which everything else is derived: the
// namespaces and links `up` makes, each host's gannet configuration
// (config.go), BIRD's configuration, the check's expectations and the
// diagram. Nothing here touches the system.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"sort"
)

// Prefix is the start of every namespace the lab makes (`ip netns` shows
// them as gl-NAME for the lab under DefaultDir).
const Prefix = "gl-"

// NamespacePrefix is the start of the namespace names of the lab whose
// state lives under dir: Prefix for DefaultDir, so an operator's lab is
// gl-web, gl-h1, ...; for any other directory Prefix followed by six hex
// digits of the SHA-256 of dir's absolute path and a dash (gl-1a2b3c-web),
// so labs under different directories — an operator's and a test's, or
// two tests' — never share a namespace, and status, exec and down find
// the lab's namespaces from --dir alone, even when its state is gone.
// Namespace names are file names under /run/netns, not interface names:
// the 15-byte limit of interface names does not apply to them, and the
// lab's interface names do not carry the prefix.
func NamespacePrefix(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = filepath.Clean(dir)
	}
	if abs == DefaultDir {
		return Prefix
	}
	sum := sha256.Sum256([]byte(abs))
	return Prefix + hex.EncodeToString(sum[:3]) + "-"
}

// WithPrefix names t's namespaces prefix+NAME and returns t.
func (t *Topology) WithPrefix(prefix string) *Topology {
	t.NSPrefix = prefix
	for i := range t.Nodes {
		t.Nodes[i].prefix = prefix
	}
	for i := range t.Workloads {
		t.Workloads[i].prefix = prefix
	}
	return t
}

// Role is what a node does in the lab.
type Role string

const (
	// RoleCore is the fabric: one bridge every host's uplink plugs into,
	// and the BGP route reflector when BIRD is installed.
	RoleCore Role = "core"
	// RoleCompute runs gannet with workloads plugged into it.
	RoleCompute Role = "compute"
	// RoleBorder runs gannet between the core and the Internet: natOutgoing
	// SNAT, floating IPs, the exit of a translated space.
	RoleBorder Role = "border"
	// RoleInternet is the outside world: a server behind the border.
	RoleInternet Role = "internet"
)

// Node is a namespace of the lab that is not a workload.
type Node struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// IPv6 is a gannet host's address on the core (which is IPv6 only)
	// and IPv4 its router address, on no link: its BGP router ID and the
	// source of its ICMPv4 errors, which traceroute shows as its hop. For
	// the Internet, IPv4 is its own address.
	IPv4 netip.Addr `json:"ipv4"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	// prefix starts the node's namespace name (Topology.WithPrefix; empty
	// means Prefix).
	prefix string
}

// Namespace is the node's network namespace.
func (n Node) Namespace() string { return nsName(n.prefix, n.Name) }

// nsName is the namespace of a node or workload called name.
func nsName(prefix, name string) string {
	if prefix == "" {
		prefix = Prefix
	}
	return prefix + name
}

// Runs reports whether the node runs gannet.
func (n Node) Runs() bool { return n.Role == RoleCompute || n.Role == RoleBorder }

// Link is a veth pair between two nodes' namespaces.
type Link struct {
	A, AIf string // node and interface at one end
	B, BIf string // and at the other
}

// Workload is a namespace plugged into a gannet host by a veth pair, set
// up as Calico sets up a workload: its addresses as a /32 and a /128, the
// gateway 169.254.1.1 / fe80::1 answered by gannet.
type Workload struct {
	Name string `json:"name"`
	Host string `json:"host"`
	// Space is the workload's IPv4 address space: 0 is the flat space,
	// others are translated over the IPv6 core.
	Space  uint16            `json:"space"`
	IPv4   netip.Addr        `json:"ipv4"`
	IPv6   netip.Addr        `json:"ipv6,omitzero"`
	MAC    string            `json:"mac"`
	Labels map[string]string `json:"labels,omitempty"`
	prefix string            // as Node's
}

// Namespace is the workload's network namespace.
func (w Workload) Namespace() string { return nsName(w.prefix, w.Name) }

// HostIf is the host side of the workload's veth pair, the interface
// gannet serves it on.
func (w Workload) HostIf() string { return "gw-" + w.Name }

// Dev is the workload's side of its veth pair.
const Dev = "eth0"

// Floating is a floating IP: Public, on the border, maps 1:1 onto a flat
// workload's IPv4 address.
type Floating struct {
	Public   netip.Addr `json:"public"`
	Workload string     `json:"workload"`
}

// Topology is a whole lab.
type Topology struct {
	// NSPrefix starts every namespace name of the lab (WithPrefix,
	// NamespacePrefix; empty means Prefix).
	NSPrefix string `json:"nsPrefix,omitempty"`
	// AS is the one autonomous system of the core (iBGP under a route
	// reflector).
	AS uint32
	// CoreV6 is the core link's subnet, the only one: the core is IPv6
	// only. The flat space's IPv4 crosses it as IPv4 routes with IPv6 next
	// hops (RFC 8950), everything translated as IPv6. RRv6 is the core
	// node's (the reflector's) address on it and RRID the reflector's BGP
	// router ID, on no link.
	CoreV6 netip.Prefix
	RRID   netip.Addr
	RRv6   netip.Addr
	Bridge string // the core's bridge
	Uplink string // every host's interface to the core

	// External is the link between the border (ExternalGW, on interface
	// ExternalIf) and the Internet.
	External   netip.Prefix
	ExternalGW netip.Addr
	ExternalIf string

	// NonRoutable workloads reach the Internet through SNAT to SNATPool
	// (ports SNATPorts); Routable ones are reached from it and keep their
	// address. TenantPool in TenantExitSpace reaches the Internet through
	// the border too; other spaces have no exit.
	NonRoutable, Routable netip.Prefix
	TenantPool            netip.Prefix
	TenantExitSpace       uint16
	SNATPool              netip.Prefix
	SNATPorts             string
	// FloatingPool holds the floating IPs (the Internet routes it to the
	// border).
	FloatingPool netip.Prefix
	Floating     []Floating

	Nodes     []Node
	Links     []Link
	Workloads []Workload
	// Spaces are the translated address spaces every compute host serves.
	Spaces []uint16
}

// Node returns the node named name.
func (t *Topology) Node(name string) (Node, bool) {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Workload returns the workload named name.
func (t *Topology) Workload(name string) (Workload, bool) {
	for _, w := range t.Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// NodesWith returns the nodes of role r in topology order.
func (t *Topology) NodesWith(r Role) []Node {
	var out []Node
	for _, n := range t.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// On returns the workloads of host in topology order.
func (t *Topology) On(host string) []Workload {
	var out []Workload
	for _, w := range t.Workloads {
		if w.Host == host {
			out = append(out, w)
		}
	}
	return out
}

// Namespaces lists every namespace of the lab: nodes, then workloads.
func (t *Topology) Namespaces() []string {
	var out []string
	for _, n := range t.Nodes {
		out = append(out, n.Namespace())
	}
	for _, w := range t.Workloads {
		out = append(out, w.Namespace())
	}
	return out
}

// Namespace returns the namespace of a node or workload by name.
func (t *Topology) Namespace(name string) (string, bool) {
	if n, ok := t.Node(name); ok {
		return n.Namespace(), true
	}
	if w, ok := t.Workload(name); ok {
		return w.Namespace(), true
	}
	return "", false
}

// CoreAddress is where the IPv4 address a of translated space lives in
// the IPv6 core: 64:ff9b:1:<space>::a (RFC 6052 /96 embedding under the
// RFC 8215 local-use prefix, DESIGN.md section 1).
func CoreAddress(space uint16, a netip.Addr) netip.Addr {
	b := [16]byte{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01, byte(space >> 8), byte(space)}
	v4 := a.As4()
	copy(b[12:], v4[:])
	return netip.AddrFrom16(b)
}

// SpaceExit is the core prefix through which translated space s leaves
// for the Internet at the border.
func SpaceExit(s uint16) netip.Prefix {
	return netip.PrefixFrom(CoreAddress(s, netip.IPv4Unspecified()), 96)
}

// Originated is what a gannet node puts into the core: its workloads'
// flat /32 and /128 and translated spaces' core /128; a border adds its
// floating IPs, the tenant exit and the Internet's subnet.
func (t *Topology) Originated(node string) []netip.Prefix {
	var out []netip.Prefix
	for _, w := range t.On(node) {
		if w.Space == 0 {
			out = append(out, netip.PrefixFrom(w.IPv4, 32))
		} else {
			out = append(out, netip.PrefixFrom(CoreAddress(w.Space, w.IPv4), 128))
		}
		if w.IPv6.IsValid() {
			out = append(out, netip.PrefixFrom(w.IPv6, 128))
		}
	}
	if n, _ := t.Node(node); n.Role == RoleBorder {
		out = append(out, t.External.Masked())
		for _, f := range t.Floating {
			out = append(out, netip.PrefixFrom(f.Public, 32))
		}
		out = append(out, SpaceExit(t.TenantExitSpace))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
