// Package api is the shape of gannet's local API: the JSON the daemon
// (`gannet run`) serves on its unix socket and the CLI verbs read. It holds
// types and the client only; the server lives in ctl. Field names are the
// configuration's YAML names where a resource is the same thing (an
// endpoint is a `workloadEndpoints` entry), and never change once
// released: scripts parse them.
//
// Paths (all under /v1):
//
//	GET    /v1/status
//	GET    /v1/endpoints
//	GET    /v1/endpoints/{name}
//	PUT    /v1/endpoints/{name}       201 created, 200 replaced
//	DELETE /v1/endpoints/{name}       204
//	GET    /v1/routes?space=N
//	GET    /v1/routes/lookup?space=N&addr=A
//	GET    /v1/sessions?addr=A&limit=N
//	GET    /v1/counters
//	GET    /v1/policy/{endpoint}
//	POST   /v1/reload
//	POST   /v1/trace
//	GET    /v1/bgp/peers
//	GET    /v1/bgp/routes?peer=A&prefix=P
//
// Errors are 4xx/5xx with an ErrorBody naming each problem's field.
package api

import "time"

// DefaultSocket is where gannet run serves the API unless api.socket says
// otherwise.
const DefaultSocket = "/run/gannet/gannet.sock"

// FieldError is one problem with a request or a configuration: the field
// it is about (`ipNetworks[0]`, `workloadEndpoints[2].mac`) and what is
// wrong with it.
type FieldError struct {
	Field   string `json:"field" yaml:"field"`
	Message string `json:"message" yaml:"message"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Errors []FieldError `json:"errors" yaml:"errors"`
}

// Status is GET /v1/status.
type Status struct {
	Version       string    `json:"version" yaml:"version"`
	Node          string    `json:"node" yaml:"node"`
	Started       time.Time `json:"started" yaml:"started"`
	UptimeSeconds float64   `json:"uptimeSeconds" yaml:"uptimeSeconds"`
	Config        string    `json:"config" yaml:"config"` // the file reload reads
	Workers       []Worker  `json:"workers" yaml:"workers"`
	Ports         []Port    `json:"ports" yaml:"ports"`
	// Generation counts published table snapshots.
	Generation uint64       `json:"generation" yaml:"generation"`
	LastApply  *ApplyResult `json:"lastApply,omitempty" yaml:"lastApply,omitempty"`
	// BGP is set when the node runs the BGP speaker.
	BGP *BGPStatus `json:"bgp,omitempty" yaml:"bgp,omitempty"`
}

// BGPStatus is the forwarding side of BGP: counts, cheap to read (a
// poll of it costs nothing, whatever the size of the table).
type BGPStatus struct {
	// Routes are the learned routes the forwarding tables hold now: each
	// forwards.
	Routes int `json:"routes" yaml:"routes"`
	// RIB are the learned best paths (prefixes) the daemon knows; more
	// than Routes while some next hops do not resolve.
	RIB int `json:"rib" yaml:"rib"`
	// Reconciled counts routes the periodic check had to put in or take
	// out of the tables (a missed or early event each).
	Reconciled uint64 `json:"reconciled" yaml:"reconciled"`
}

// Worker is one forwarding worker.
type Worker struct {
	Index int `json:"index" yaml:"index"`
	CPU   int `json:"cpu" yaml:"cpu"`
	// LostFrames counts frames detached ports did not give back.
	LostFrames uint64 `json:"lostFrames" yaml:"lostFrames"`
}

// Port is one interface gannet forwards on.
type Port struct {
	Interface string `json:"interface" yaml:"interface"`
	Role      string `json:"role" yaml:"role"`                             // uplink, workload
	Endpoint  string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"` // workload ports
	Ifindex   int    `json:"ifindex" yaml:"ifindex"`                       // 0 while the interface is missing
	// State: up (attached, link up), down (attached, link down),
	// missing (no such interface: waiting for it), error (attaching
	// failed: Error says why; retried).
	State   string `json:"state" yaml:"state"`
	Error   string `json:"error,omitempty" yaml:"error,omitempty"`
	MTU     int    `json:"mtu" yaml:"mtu"`
	XDPMode string `json:"xdpMode,omitempty" yaml:"xdpMode,omitempty"` // native, generic
	XSKMode string `json:"xskMode,omitempty" yaml:"xskMode,omitempty"` // copy, zerocopy
	// Copying: the sockets could not share the worker's UMEM, so every
	// frame is copied once more.
	Copying bool `json:"copying,omitempty" yaml:"copying,omitempty"`
}

// ApplyResult says what one change of desired state did.
type ApplyResult struct {
	// Source is what asked: start, reload, api, link (an interface event).
	Source          string       `json:"source" yaml:"source"`
	Time            time.Time    `json:"time" yaml:"time"`
	DurationSeconds float64      `json:"durationSeconds" yaml:"durationSeconds"`
	OK              bool         `json:"ok" yaml:"ok"`
	Generation      uint64       `json:"generation" yaml:"generation"`
	Errors          []FieldError `json:"errors,omitempty" yaml:"errors,omitempty"`
	Changes         []Change     `json:"changes,omitempty" yaml:"changes,omitempty"`
}

// Change is one thing an apply added, removed or changed.
type Change struct {
	Kind string `json:"kind" yaml:"kind"` // endpoint, port, policy, profile, route, nat, space, translation, node
	Name string `json:"name" yaml:"name"`
	Op   string `json:"op" yaml:"op"` // added, removed, changed
}

// Endpoint is a workload endpoint: a `workloadEndpoints` entry of the
// configuration (the resource PUT takes) plus, when read, where it came
// from and how its interface is.
type Endpoint struct {
	Name         string            `json:"name" yaml:"name"`
	Interface    string            `json:"interface" yaml:"interface"`
	MAC          string            `json:"mac" yaml:"mac"`
	IPNetworks   []string          `json:"ipNetworks" yaml:"ipNetworks"`
	AddressSpace int               `json:"addressSpace,omitempty" yaml:"addressSpace,omitempty"`
	Labels       map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Profiles     []string          `json:"profiles,omitempty" yaml:"profiles,omitempty"`
	MTU          int               `json:"mtu,omitempty" yaml:"mtu,omitempty"`

	// Read only.
	Source string `json:"source,omitempty" yaml:"source,omitempty"` // file, api
	State  string `json:"state,omitempty" yaml:"state,omitempty"`   // as Port.State
}

// Route is one entry of a space's routing table.
type Route struct {
	Space  uint16 `json:"space" yaml:"space"`
	Prefix string `json:"prefix" yaml:"prefix"`
	// Kind: endpoint (a local workload), gateway (via a next hop),
	// connected (the destination is its own next hop), translate (6->4
	// into TranslateSpace and routed again there), unreachable (one of
	// the host's bgp.blocks: its unused addresses are answered
	// Destination Unreachable), bgp (learned).
	Kind           string `json:"kind" yaml:"kind"`
	Via            string `json:"via,omitempty" yaml:"via,omitempty"`
	Interface      string `json:"interface,omitempty" yaml:"interface,omitempty"`
	Endpoint       string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	TranslateSpace uint16 `json:"translateSpace,omitempty" yaml:"translateSpace,omitempty"`
	// Down: the route's port is gone or down (its packets are answered
	// unreachable).
	Down bool `json:"down,omitempty" yaml:"down,omitempty"`
}

// Lookup is GET /v1/routes/lookup: the route a destination takes.
type Lookup struct {
	Space uint16 `json:"space" yaml:"space"`
	Addr  string `json:"addr" yaml:"addr"`
	Found bool   `json:"found" yaml:"found"`
	Route *Route `json:"route,omitempty" yaml:"route,omitempty"`
}

// Tuple is one direction of a flow.
type Tuple struct {
	Space   uint16 `json:"space" yaml:"space"`
	Proto   string `json:"proto" yaml:"proto"`
	Src     string `json:"src" yaml:"src"`
	Dst     string `json:"dst" yaml:"dst"`
	SrcPort uint16 `json:"srcPort,omitempty" yaml:"srcPort,omitempty"`
	DstPort uint16 `json:"dstPort,omitempty" yaml:"dstPort,omitempty"`
}

// Session is one conntrack/NAT session.
type Session struct {
	Original Tuple  `json:"original" yaml:"original"` // as the initiator sent it
	Reply    Tuple  `json:"reply" yaml:"reply"`       // as the answer arrives
	State    string `json:"state" yaml:"state"`
	// ExpiresSeconds is the idle time left before it expires.
	ExpiresSeconds float64 `json:"expiresSeconds" yaml:"expiresSeconds"`
}

// Sessions is GET /v1/sessions.
type Sessions struct {
	Total    int       `json:"total" yaml:"total"` // sessions in the table
	Capacity int       `json:"capacity" yaml:"capacity"`
	Sessions []Session `json:"sessions" yaml:"sessions"` // those that match, at most limit
}

// Counters is GET /v1/counters: every worker's counters summed.
type Counters struct {
	RxPackets uint64 `json:"rxPackets" yaml:"rxPackets"`
	TxPackets uint64 `json:"txPackets" yaml:"txPackets"`
	TxBytes   uint64 `json:"txBytes" yaml:"txBytes"`
	Forwarded uint64 `json:"forwarded" yaml:"forwarded"`
	// ToHost: workloads' packets delivered into the host stack
	// (endpointToHost: accept), also counted in Forwarded.
	ToHost  uint64 `json:"toHost" yaml:"toHost"`
	Dropped uint64 `json:"dropped" yaml:"dropped"`
	// Drops are by pipeline stage and reason; Detail says which
	// library reason (pkt, nat, xlat) a parse/conntrack/xlat drop had.
	Drops []Drop `json:"drops" yaml:"drops"`
	// ICMP: the router's own errors by outcome (sent, rate-limited,
	// refused, no-source).
	ICMP map[string]uint64 `json:"icmp" yaml:"icmp"`
	// PolicyLog: records Log rules asked for, by outcome (queued,
	// rate-limited, ring-full); absent until a Log rule matched.
	PolicyLog map[string]uint64 `json:"policyLog,omitempty" yaml:"policyLog,omitempty"`
	Ports     []PortCounters    `json:"ports" yaml:"ports"`
	// XDP: the XDP programs' decisions by interface and decision.
	XDP []XDPCounters `json:"xdp,omitempty" yaml:"xdp,omitempty"`
	// FastPath: the kernel fast path's flow table by event (installs,
	// refusals, evictions) and "flows" installed; absent when it is off.
	FastPath map[string]uint64 `json:"fastPath,omitempty" yaml:"fastPath,omitempty"`
	// FastPathOff: the interfaces taken off the fast path now because
	// they dropped the frames redirected into them (a veth whose other
	// end has neither GRO nor an XDP program); their flows take the
	// pipeline until a retry finds them taking frames.
	FastPathOff []string `json:"fastPathOff,omitempty" yaml:"fastPathOff,omitempty"`
}

// Drop is one non-zero drop counter.
type Drop struct {
	Stage   string `json:"stage" yaml:"stage"`
	Reason  string `json:"reason" yaml:"reason"`
	Packets uint64 `json:"packets" yaml:"packets"`
}

// PortCounters are one interface's counters, summed over workers.
type PortCounters struct {
	Interface string `json:"interface" yaml:"interface"`
	RxPackets uint64 `json:"rxPackets" yaml:"rxPackets"`
	RxBytes   uint64 `json:"rxBytes" yaml:"rxBytes"`
	TxPackets uint64 `json:"txPackets" yaml:"txPackets"`
	TxBytes   uint64 `json:"txBytes" yaml:"txBytes"`
}

// XDPCounters are one interface's XDP program decisions.
type XDPCounters struct {
	Interface string            `json:"interface" yaml:"interface"`
	Decisions map[string]uint64 `json:"decisions" yaml:"decisions"`
}

// Policy is GET /v1/policy/{endpoint}: the endpoint's compiled programs,
// one line per rule in evaluation order.
type Policy struct {
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	// HostEndpoint is the uplink of a host endpoint (Calico
	// HostEndpoint; its programs are the applyOnForward policies that
	// select it); empty for a workload endpoint.
	HostEndpoint string   `json:"hostEndpoint,omitempty" yaml:"hostEndpoint,omitempty"`
	Ingress      []string `json:"ingress" yaml:"ingress"` // empty: no policy (everything passes)
	Egress       []string `json:"egress" yaml:"egress"`
	// IngressPolicy/EgressPolicy say whether a program applies at all
	// in that direction.
	IngressPolicy bool `json:"ingressPolicy" yaml:"ingressPolicy"`
	EgressPolicy  bool `json:"egressPolicy" yaml:"egressPolicy"`
	// IngressHits/EgressHits count the packets each rule (same order as
	// Ingress/Egress) decided — or, for a Log rule, marked — since its
	// program was compiled: a connection's first packet with conntrack,
	// every packet without. The *DefaultDeny counts are the packets no
	// rule allowed.
	IngressHits        []uint64 `json:"ingressHits" yaml:"ingressHits"`
	EgressHits         []uint64 `json:"egressHits" yaml:"egressHits"`
	IngressDefaultDeny uint64   `json:"ingressDefaultDenyHits" yaml:"ingressDefaultDenyHits"`
	EgressDefaultDeny  uint64   `json:"egressDefaultDenyHits" yaml:"egressDefaultDenyHits"`
}

// RuleHits is the hit count of one rule of one endpoint's program, as
// Daemon.RuleHits lists them for the metrics collector.
type RuleHits struct {
	Endpoint  string `json:"endpoint" yaml:"endpoint"`
	Direction string `json:"direction" yaml:"direction"` // ingress, egress
	// Policy or Profile names the rule's document; both empty for the
	// default deny (Index -1).
	Policy  string `json:"policy,omitempty" yaml:"policy,omitempty"`
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
	Index   int    `json:"index" yaml:"index"`   // the rule's position in its document's direction
	Action  string `json:"action" yaml:"action"` // Allow, Deny, Pass, Log; Deny for the default deny
	Hits    uint64 `json:"hits" yaml:"hits"`
}

// CaptureRequest is POST /v1/capture: the answer is a pcap stream
// (application/vnd.tcpdump.pcap) of the frames that match, until Count
// frames were sent, the client goes away or the interface does; the
// trailers Gannet-Captured and Gannet-Dropped then count the frames sent
// and those lost to a full ring.
type CaptureRequest struct {
	Interface string `json:"interface" yaml:"interface"`
	Direction string `json:"direction,omitempty" yaml:"direction,omitempty"` // rx, tx, both (default)
	Filter    string `json:"filter,omitempty" yaml:"filter,omitempty"`       // package fwd/capfilter's language
	Count     int    `json:"count,omitempty" yaml:"count,omitempty"`         // 0: until stopped
	Snap      int    `json:"snap,omitempty" yaml:"snap,omitempty"`           // bytes kept per frame; 0: whole frames
}

// Capture trailers.
const (
	TrailerCaptured = "Gannet-Captured"
	TrailerDropped  = "Gannet-Dropped"
)

// TraceRequest is POST /v1/trace: a packet to run through the live
// tables without sending it. Either the fields or Frame (a whole
// Ethernet frame, as from a pcap) describe it.
type TraceRequest struct {
	In       string `json:"in" yaml:"in"` // ingress interface
	Src      string `json:"src,omitempty" yaml:"src,omitempty"`
	Dst      string `json:"dst,omitempty" yaml:"dst,omitempty"`
	Proto    string `json:"proto,omitempty" yaml:"proto,omitempty"` // tcp, udp, icmp (either family)
	SrcPort  uint16 `json:"srcPort,omitempty" yaml:"srcPort,omitempty"`
	DstPort  uint16 `json:"dstPort,omitempty" yaml:"dstPort,omitempty"`
	ICMPType uint8  `json:"icmpType,omitempty" yaml:"icmpType,omitempty"`
	ICMPCode uint8  `json:"icmpCode,omitempty" yaml:"icmpCode,omitempty"`
	TCPFlags string `json:"tcpFlags,omitempty" yaml:"tcpFlags,omitempty"` // e.g. "S", "A", "FA"; default S
	TTL      uint8  `json:"ttl,omitempty" yaml:"ttl,omitempty"`
	Length   int    `json:"length,omitempty" yaml:"length,omitempty"` // payload bytes
	DF       bool   `json:"df,omitempty" yaml:"df,omitempty"`
	SrcMAC   string `json:"srcMAC,omitempty" yaml:"srcMAC,omitempty"`
	Frame    []byte `json:"frame,omitempty" yaml:"frame,omitempty"` // base64 in JSON
}

// Trace is the answer: each stage's decision, then the outcome.
type Trace struct {
	Steps   []TraceStep `json:"steps" yaml:"steps"`
	Verdict string      `json:"verdict" yaml:"verdict"` // forward, drop, answer
	Reason  string      `json:"reason,omitempty" yaml:"reason,omitempty"`
	Egress  string      `json:"egress,omitempty" yaml:"egress,omitempty"`
	// Offloaded: the kernel fast path holds a current decision for the
	// flow, and forwards its packets without the pipeline (a step
	// "fast-path" says so, with its counts).
	Offloaded bool `json:"offloaded,omitempty" yaml:"offloaded,omitempty"`
}

// TraceStep is one stage's decision.
type TraceStep struct {
	Stage   string `json:"stage" yaml:"stage"`
	Verdict string `json:"verdict" yaml:"verdict"`
	Detail  string `json:"detail" yaml:"detail"`
}

// Reload is POST /v1/reload's answer: the apply's result (also in
// /v1/status as lastApply). A file with errors answers 422 with the same
// body.
type Reload = ApplyResult

// BGPPeer is one BGP session (GET /v1/bgp/peers).
type BGPPeer struct {
	Address string `json:"address" yaml:"address"`
	AS      uint32 `json:"as" yaml:"as"`
	// State: idle, connect, active, opensent, openconfirm, established.
	State string `json:"state" yaml:"state"`
	// PrefixLimit: the session was ended for exceeding maxPrefixes.
	PrefixLimit   bool        `json:"prefixLimit,omitempty" yaml:"prefixLimit,omitempty"`
	UptimeSeconds float64     `json:"uptimeSeconds" yaml:"uptimeSeconds"`
	Families      []BGPFamily `json:"families" yaml:"families"`
	// ExtendedNextHop, for an IPv6 session carrying ipv4: "negotiated"
	// (IPv4 routes travel with IPv6 next hops, RFC 8950) or "refused"
	// (the peer did not offer the capability).
	ExtendedNextHop string `json:"extendedNextHop,omitempty" yaml:"extendedNextHop,omitempty"`
}

// BGPFamily counts one address family's prefixes on a session.
type BGPFamily struct {
	Family     string `json:"family" yaml:"family"` // ipv4, ipv6
	Received   uint64 `json:"received" yaml:"received"`
	Accepted   uint64 `json:"accepted" yaml:"accepted"`
	Advertised uint64 `json:"advertised" yaml:"advertised"`
}

// BGPRoute is one path (GET /v1/bgp/routes).
type BGPRoute struct {
	Prefix      string   `json:"prefix" yaml:"prefix"`
	NextHop     string   `json:"nextHop" yaml:"nextHop"`
	Peer        string   `json:"peer,omitempty" yaml:"peer,omitempty"` // empty: the node's own
	ASPath      []uint32 `json:"asPath" yaml:"asPath"`
	Communities []string `json:"communities,omitempty" yaml:"communities,omitempty"`
	Best        bool     `json:"best" yaml:"best"`
	Filtered    bool     `json:"filtered,omitempty" yaml:"filtered,omitempty"`
}
