// Policy documents flow in here as Go values (or YAML, field names as in
// Calico): policies, profiles and the endpoints they apply to. policy_compile.go
// turns them into classifiers.

package acl

import "net/netip"

// Action is what a matching policy rule does.
type Action string

const (
	Allow Action = "Allow" // accept the packet; evaluation ends
	Deny  Action = "Deny"  // drop the packet; evaluation ends
	Log   Action = "Log"   // mark the packet for logging and continue with the next rule
	Pass  Action = "Pass"  // skip the remaining policies and go to the endpoint's profiles
)

// PolicyType is a direction a policy applies to.
type PolicyType string

const (
	Ingress PolicyType = "Ingress" // traffic to the endpoint
	Egress  PolicyType = "Egress"  // traffic from the endpoint
)

// Policy is a Calico (Global)NetworkPolicy.
type Policy struct {
	Name string `yaml:"name"`
	// Order: lower orders are evaluated first; a policy without an order
	// comes after every policy with one. Ties go by name.
	Order *float64 `yaml:"order,omitempty"`
	// Selector picks the endpoints the policy applies to ("" = all()).
	Selector string `yaml:"selector"`
	// Types defaults as in Calico: Ingress, plus Egress when the policy
	// has egress rules.
	Types   []PolicyType `yaml:"types,omitempty"`
	Ingress []PolicyRule `yaml:"ingress,omitempty"`
	Egress  []PolicyRule `yaml:"egress,omitempty"`
	// ApplyOnForward (Calico's): the policy also applies to traffic
	// forwarded through the host endpoints it selects — ingress to what
	// comes in by the host endpoint's interface, egress to what leaves by
	// it. Workload endpoints it selects are policed either way.
	ApplyOnForward bool `yaml:"applyOnForward,omitempty"`
}

// Profile holds rules that apply to endpoints naming it, after policies
// (when no policy applies to the endpoint, or a policy rule passed).
type Profile struct {
	Name    string       `yaml:"name"`
	Ingress []PolicyRule `yaml:"ingress,omitempty"`
	Egress  []PolicyRule `yaml:"egress,omitempty"`
}

// PolicyRule is one rule of a policy or profile. Every field given must
// match; not* fields match when the value is not the one given.
type PolicyRule struct {
	Action Action `yaml:"action"`
	// IPVersion limits the rule to 4 or 6 (0: both).
	IPVersion int `yaml:"ipVersion,omitempty"`
	// Protocol: "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite" or a
	// number 0-255.
	Protocol    string      `yaml:"protocol,omitempty"`
	NotProtocol string      `yaml:"notProtocol,omitempty"`
	ICMP        *ICMPMatch  `yaml:"icmp,omitempty"`
	NotICMP     *ICMPMatch  `yaml:"notICMP,omitempty"`
	Source      EntityMatch `yaml:"source,omitempty"`
	Destination EntityMatch `yaml:"destination,omitempty"`
}

// ICMPMatch matches an ICMP or ICMPv6 type and, optionally, code. It
// needs the rule's protocol to be ICMP or ICMPv6.
type ICMPMatch struct {
	Type *int `yaml:"type,omitempty"` // 0-254
	Code *int `yaml:"code,omitempty"` // 0-255; needs Type
}

// EntityMatch matches one end of a connection.
type EntityMatch struct {
	Nets    []string `yaml:"nets,omitempty"`
	NotNets []string `yaml:"notNets,omitempty"`
	// Selector matches the addresses of the endpoints it selects.
	Selector    string `yaml:"selector,omitempty"`
	NotSelector string `yaml:"notSelector,omitempty"`
	// Ports are numbers or "lo:hi" ranges; they need protocol TCP, UDP,
	// SCTP or UDPLite.
	Ports    []string `yaml:"ports,omitempty"`
	NotPorts []string `yaml:"notPorts,omitempty"`
}

// Endpoint is a workload interface policy applies to.
type Endpoint struct {
	Name     string            `yaml:"name"`
	Labels   map[string]string `yaml:"labels,omitempty"`
	Addrs    []netip.Addr      `yaml:"addrs,omitempty"`
	Profiles []string          `yaml:"profiles,omitempty"`
}

// PolicySet is everything CompilePolicy needs.
type PolicySet struct {
	Policies  []Policy   `yaml:"policies,omitempty"`
	Profiles  []Profile  `yaml:"profiles,omitempty"`
	Endpoints []Endpoint `yaml:"endpoints,omitempty"`
}
