// Counters: every per-packet outcome flows into a per-worker array indexed
// by a named Reason (each Reason belongs to a pipeline Stage). The worker
// writes plain fields while it processes a batch and publishes them with
// atomic stores once per batch; the control plane reads and sums them at
// any time without stopping anything.

package fwd

import (
	"sync/atomic"

	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// Stage is a step of the pipeline, for grouping drop reasons.
type Stage uint8

const (
	StageParse     Stage = iota // pkt.Parse
	StagePort                   // port context: endpoint, address space, what may be forwarded at all
	StageGateway                // ARP and NDP for the gateway address on workload ports
	StageAntiSpoof              // source address check on workload ports; reverse path of translated sources on uplinks
	StageXlat                   // 4->6 and 6->4 translation
	StageConntrack              // nat.Track / nat.Commit
	StagePolicy                 // acl programs of the source and destination endpoints
	StageRoute                  // route lookup
	StageNeighbour              // neighbour MAC of an uplink next hop
	StageForward                // TTL / hop limit, MTU
	StageTx                     // the egress port's tx ring
	NumStages
)

var stageNames = [NumStages]string{"parse", "port", "gateway", "anti-spoof", "xlat", "conntrack", "policy", "route", "neighbour", "forward", "tx"}

// String returns the stage's metric label.
func (s Stage) String() string {
	if s < NumStages {
		return stageNames[s]
	}
	return "stage?"
}

// Reason is why a frame did not leave as a forwarded packet. Each is a
// counter label; see Reason.Stage for the stage it belongs to.
type Reason uint8

const (
	ReasonNone Reason = iota

	ReasonMalformed   // pkt.Parse said Malformed (Stats.Parse has the pkt reason)
	ReasonUnsupported // pkt.Parse said Unsupported (Stats.Parse has the pkt reason)

	ReasonPortUnknown     // frame from a port the tables do not know
	ReasonNoEndpoint      // frame from a workload port with no endpoint
	ReasonNotUnicast      // broadcast/multicast Ethernet or IP destination, or an IPv6 link-local destination
	ReasonNotForUs        // unicast Ethernet destination other than the router's (the gateway MAC on workload ports, the port's MAC on uplinks)
	ReasonFamilyNotRouted // IPv6 from a workload of a translated (IPv4-only) space
	ReasonToRouter        // an IP packet for the gateway address itself (not answered)
	ReasonToHost          // a workload's packet to one of the host's own addresses or loopback (endpointToHost: drop), or one from an uplink or a NAT rewrite
	ReasonHostWrite       // endpointToHost: accept, and the host interface refused the frame (its queue full, or gone)

	ReasonARPAnswered // ARP request for the gateway: answered in place (not a drop: the frame went back out)
	ReasonNDPAnswered // neighbour solicitation for the gateway: answered in place (not a drop)
	ReasonARPIgnored  // ARP other than a request for the gateway on a workload port, or any ARP on an uplink
	ReasonNDPIgnored  // neighbour discovery other than a solicitation for the gateway
	ReasonNDPRefused  // a solicitation for the gateway that fails RFC 4861 validation

	ReasonSpoofed // source address not one of the endpoint's
	ReasonRPF     // from an uplink into a translated space, and the source's core route does not leave by that uplink (RFC 3704 feasible path; never answered)

	ReasonXlat      // translation dropped the packet (Stats.Xlat has the xlat reason)
	ReasonXlatReply // translation answered with an ICMP error, sent back out of the ingress port
	ReasonXlatSpace // 6->4 translation delivered into another address space than the route's
	ReasonXlatFrags // translation had to split the packet and the free stack could not lend a frame for every piece: nothing was sent
	ReasonRouteLoop // the packet would be translated back and forth

	ReasonConntrack      // nat dropped the packet (Stats.NAT has the nat reason)
	ReasonConntrackReply // nat dropped the packet and its ICMP error went back out
	ReasonReleaseFrames  // nat released a held fragment and the free stack had no frame to send it in

	ReasonPolicyEgress        // denied by the source endpoint's egress program
	ReasonPolicyIngress       // denied by the destination endpoint's ingress program
	ReasonHostEndpointIngress // denied by the ingress program of the host endpoint of the uplink it came in on (applyOnForward)
	ReasonHostEndpointEgress  // denied by the egress program of the host endpoint of the uplink it would leave by (applyOnForward)

	ReasonNoRoute          // no route to the destination (ICMP Destination Unreachable when allowed)
	ReasonPortDown         // routed to a port whose link is gone or down (ICMP host/address unreachable when allowed)
	ReasonUnreachableRoute // the route is an unreachable one (an unused address of one of the host's blocks: ICMP host unreachable / no route when allowed)
	ReasonNoPort           // the route names a port this worker has no queue on
	ReasonNoHeadroom       // no room in front of the packet for the Ethernet header

	ReasonNoNeighbour // the uplink next hop's MAC is not (yet) known; the cache was told

	ReasonTTLExceeded     // TTL / hop limit would reach 0 (ICMP Time Exceeded when allowed)
	ReasonTooBig          // larger than the egress MTU with DF set, or IPv6 (Fragmentation Needed / Packet Too Big when allowed)
	ReasonFragFrames      // IPv4 without DF larger than the egress MTU, and the free stack could not supply a frame for every fragment (or more than 64 were needed): nothing was sent
	ReasonFragOptions     // IPv4 without DF larger than the egress MTU whose options cannot be walked to find those every fragment repeats
	ReasonTooBigRewritten // larger than the egress MTU after NAT or translation rewrote it: no error can be addressed

	ReasonTxFull // the egress port's tx ring was full

	NumReasons
)

var reasonInfo = [NumReasons]struct {
	name  string
	stage Stage
}{
	ReasonNone:                {"none", StageParse},
	ReasonMalformed:           {"malformed", StageParse},
	ReasonUnsupported:         {"unsupported", StageParse},
	ReasonPortUnknown:         {"port-unknown", StagePort},
	ReasonNoEndpoint:          {"no-endpoint", StagePort},
	ReasonNotUnicast:          {"not-unicast", StagePort},
	ReasonNotForUs:            {"not-for-router", StagePort},
	ReasonToHost:              {"to-host", StagePort},
	ReasonHostWrite:           {"host-write", StageTx},
	ReasonFamilyNotRouted:     {"family-not-routed", StagePort},
	ReasonToRouter:            {"to-router", StagePort},
	ReasonARPAnswered:         {"arp-answered", StageGateway},
	ReasonNDPAnswered:         {"ndp-answered", StageGateway},
	ReasonARPIgnored:          {"arp-ignored", StageGateway},
	ReasonNDPIgnored:          {"ndp-ignored", StageGateway},
	ReasonNDPRefused:          {"ndp-refused", StageGateway},
	ReasonSpoofed:             {"spoofed", StageAntiSpoof},
	ReasonRPF:                 {"rpf", StageAntiSpoof},
	ReasonXlat:                {"xlat", StageXlat},
	ReasonXlatReply:           {"xlat-reply", StageXlat},
	ReasonXlatSpace:           {"xlat-space", StageXlat},
	ReasonXlatFrags:           {"xlat-fragments", StageXlat},
	ReasonRouteLoop:           {"route-loop", StageXlat},
	ReasonConntrack:           {"conntrack", StageConntrack},
	ReasonConntrackReply:      {"conntrack-reply", StageConntrack},
	ReasonReleaseFrames:       {"fragment-release-no-frame", StageConntrack},
	ReasonPolicyEgress:        {"policy-egress", StagePolicy},
	ReasonPolicyIngress:       {"policy-ingress", StagePolicy},
	ReasonHostEndpointIngress: {"host-endpoint-ingress", StagePolicy},
	ReasonHostEndpointEgress:  {"host-endpoint-egress", StagePolicy},
	ReasonNoRoute:             {"no-route", StageRoute},
	ReasonPortDown:            {"port-down", StageRoute},
	ReasonUnreachableRoute:    {"unreachable-route", StageRoute},
	ReasonNoPort:              {"no-port", StageRoute},
	ReasonNoHeadroom:          {"no-headroom", StageRoute},
	ReasonNoNeighbour:         {"no-neighbour", StageNeighbour},
	ReasonTTLExceeded:         {"ttl-exceeded", StageForward},
	ReasonTooBig:              {"too-big", StageForward},
	ReasonFragFrames:          {"fragment-no-frames", StageForward},
	ReasonFragOptions:         {"fragment-bad-options", StageForward},
	ReasonTooBigRewritten:     {"too-big-rewritten", StageForward},
	ReasonTxFull:              {"tx-full", StageTx},
}

// String returns the reason's metric label.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonInfo[r].name
	}
	return "reason?"
}

// Stage returns the pipeline stage the reason belongs to.
func (r Reason) Stage() Stage {
	if r < NumReasons {
		return reasonInfo[r].stage
	}
	return NumStages
}

// Answered reports whether frames counted under r left as a reply rather
// than being dropped (ARP and NDP answers).
func (r Reason) Answered() bool { return r == ReasonARPAnswered || r == ReasonNDPAnswered }

// ICMP outcomes of the router's own errors.
const (
	ICMPSent        = iota // built and queued on the ingress port
	ICMPRateLimited        // the worker's token bucket was empty
	ICMPRefused            // pkt refused to build it (error about an error, non-first fragment, multicast source...)
	ICMPNoSource           // no router or port address of the family to send it from
	NumICMP
)

// Kinds of the ICMP errors the router sent (counted with ICMPSent).
const (
	ICMPTimeExceeded = iota // TTL or hop limit exhausted (traceroute's answer)
	ICMPUnreachable         // destination unreachable: no route, port down
	ICMPTooBig              // IPv4 fragmentation needed or IPv6 packet too big (PMTU discovery)
	ICMPTranslator          // an error the translator answered with (RFC 7915)
	NumICMPTypes
)

var icmpTypeNames = [NumICMPTypes]string{"time-exceeded", "unreachable", "too-big", "translator"}

// ICMPTypeName returns the metric label of ICMP error kind i.
func ICMPTypeName(i int) string {
	if i >= 0 && i < NumICMPTypes {
		return icmpTypeNames[i]
	}
	return "type?"
}

// Stats is a copy of one worker's counters (or a sum of several). All
// counts only grow.
type Stats struct {
	Batches   uint64
	RxPackets uint64
	TxPackets uint64 // frames handed to ports: forwarded packets plus replies
	Forwarded uint64 // packets routed out of a port (not replies)
	TxBytes   uint64
	// Fragmented counts forwarded packets that left as several frames:
	// IPv4 the router fragmented for the egress MTU, or packets the
	// translator split. Fragments counts the frames they left as.
	Fragmented, Fragments uint64
	// Held counts fragments nat kept because they overtook their
	// datagram's first fragment (not drops: their frames were freed and
	// nat holds a copy); Released counts the copies nat gave back, each
	// then taken through the rest of the pipeline to one outcome of its
	// own (forwarded or a drop). What nat never gives back it counts
	// itself (NAT fragment-hold-timeout). So every received frame and
	// every released copy has exactly one outcome: RxPackets + Released
	// = Forwarded + Dropped() + Held (a packet split on its way in
	// aside: each of its pieces is held on its own).
	Held, Released uint64
	// ToHost counts packets delivered to the host stack
	// (endpointToHost: accept); they count as Forwarded too.
	ToHost uint64
	// MSSClamped counts TCP SYNs whose MSS option the router lowered as
	// they crossed the translator (translation.clampMSS; not drops).
	MSSClamped uint64

	Drops [NumReasons]uint64     // by fwd reason (ARPAnswered/NDPAnswered count replies, not drops)
	Parse [pkt.NumReasons]uint64 // Malformed/Unsupported by pkt reason
	NAT   [nat.NumReasons]uint64 // Conntrack/ConntrackReply by nat reason
	Xlat  [xlat.NumReasons]uint64
	ICMP  [NumICMP]uint64
	// ICMPTypes splits ICMP[ICMPSent] by kind of error.
	ICMPTypes [NumICMPTypes]uint64
	// PolicyLog counts the records Log rules asked for, by outcome.
	PolicyLog [NumLogOutcomes]uint64

	// NATCreated counts sessions this worker created.
	NATCreated uint64
}

// StageDrops returns the drops of stage s (replies excluded).
func (s *Stats) StageDrops(st Stage) uint64 {
	var n uint64
	for r := Reason(1); r < NumReasons; r++ {
		if r.Stage() == st && !r.Answered() {
			n += s.Drops[r]
		}
	}
	return n
}

// Dropped returns all drops (replies excluded).
func (s *Stats) Dropped() uint64 {
	var n uint64
	for st := range NumStages {
		n += s.StageDrops(st)
	}
	return n
}

// Add adds o into s (to sum workers).
func (s *Stats) Add(o *Stats) {
	s.Batches += o.Batches
	s.RxPackets += o.RxPackets
	s.TxPackets += o.TxPackets
	s.Forwarded += o.Forwarded
	s.TxBytes += o.TxBytes
	s.Fragmented += o.Fragmented
	s.Fragments += o.Fragments
	s.Held += o.Held
	s.Released += o.Released
	s.MSSClamped += o.MSSClamped
	s.ToHost += o.ToHost
	s.NATCreated += o.NATCreated
	for i := range s.Drops {
		s.Drops[i] += o.Drops[i]
	}
	for i := range s.Parse {
		s.Parse[i] += o.Parse[i]
	}
	for i := range s.NAT {
		s.NAT[i] += o.NAT[i]
	}
	for i := range s.Xlat {
		s.Xlat[i] += o.Xlat[i]
	}
	for i := range s.ICMP {
		s.ICMP[i] += o.ICMP[i]
	}
	for i := range s.ICMPTypes {
		s.ICMPTypes[i] += o.ICMPTypes[i]
	}
	for i := range s.PolicyLog {
		s.PolicyLog[i] += o.PolicyLog[i]
	}
}

// counters is the worker's private, plain copy, and its published twin.
// Only the nat counters are not here: the nat.Worker keeps its own atomics.
type counters struct {
	batches, rx, tx, fwd, txBytes uint64
	fragmented, fragments         uint64
	held, released                uint64
	mssClamped                    uint64
	toHost                        uint64
	drops                         [NumReasons]uint64
	parse                         [pkt.NumReasons]uint64
	xlat                          xlat.Stats
	icmp                          [NumICMP]uint64
	icmpTypes                     [NumICMPTypes]uint64
	policyLog                     [NumLogOutcomes]uint64
}

type published struct {
	batches, rx, tx, fwd, txBytes atomic.Uint64
	fragmented, fragments         atomic.Uint64
	held, released                atomic.Uint64
	mssClamped                    atomic.Uint64
	toHost                        atomic.Uint64
	drops                         [NumReasons]atomic.Uint64
	parse                         [pkt.NumReasons]atomic.Uint64
	xlat                          [xlat.NumReasons]atomic.Uint64
	icmp                          [NumICMP]atomic.Uint64
	icmpTypes                     [NumICMPTypes]atomic.Uint64
	policyLog                     [NumLogOutcomes]atomic.Uint64
}

func store(dst *atomic.Uint64, v uint64) {
	// A plain load of our own published value is cheap; skipping
	// unchanged stores keeps the cache lines the collector reads clean.
	if dst.Load() != v {
		dst.Store(v)
	}
}

// publish copies c into p with atomic stores (the owner, once per batch).
func (p *published) publish(c *counters) {
	store(&p.batches, c.batches)
	store(&p.rx, c.rx)
	store(&p.tx, c.tx)
	store(&p.fwd, c.fwd)
	store(&p.txBytes, c.txBytes)
	store(&p.fragmented, c.fragmented)
	store(&p.fragments, c.fragments)
	store(&p.held, c.held)
	store(&p.released, c.released)
	store(&p.mssClamped, c.mssClamped)
	store(&p.toHost, c.toHost)
	for i := range c.drops {
		store(&p.drops[i], c.drops[i])
	}
	for i := range c.parse {
		store(&p.parse[i], c.parse[i])
	}
	for i := range c.xlat.Reasons {
		store(&p.xlat[i], c.xlat.Reasons[i])
	}
	for i := range c.icmp {
		store(&p.icmp[i], c.icmp[i])
	}
	for i := range c.icmpTypes {
		store(&p.icmpTypes[i], c.icmpTypes[i])
	}
	for i := range c.policyLog {
		store(&p.policyLog[i], c.policyLog[i])
	}
}

// read fills s from p (any goroutine).
func (p *published) read(s *Stats) {
	s.Batches = p.batches.Load()
	s.RxPackets = p.rx.Load()
	s.TxPackets = p.tx.Load()
	s.Forwarded = p.fwd.Load()
	s.TxBytes = p.txBytes.Load()
	s.Fragmented = p.fragmented.Load()
	s.Fragments = p.fragments.Load()
	s.Held = p.held.Load()
	s.Released = p.released.Load()
	s.MSSClamped = p.mssClamped.Load()
	s.ToHost = p.toHost.Load()
	for i := range s.Drops {
		s.Drops[i] = p.drops[i].Load()
	}
	for i := range s.Parse {
		s.Parse[i] = p.parse[i].Load()
	}
	for i := range s.Xlat {
		s.Xlat[i] = p.xlat[i].Load()
	}
	for i := range s.ICMP {
		s.ICMP[i] = p.icmp[i].Load()
	}
	for i := range s.ICMPTypes {
		s.ICMPTypes[i] = p.icmpTypes[i].Load()
	}
	for i := range s.PolicyLog {
		s.PolicyLog[i] = p.policyLog[i].Load()
	}
}
