// Package fwd owns gannet's data plane: ports (the Port interface and its
// in-memory twin MemPort), workers pinned to cores that own their frames
// and queues, the immutable forwarding Tables, and the per-batch pipeline
// that routes, polices, translates and answers packets. It never parses
// configuration files, never talks to the kernel about routes or
// neighbours (fwd/neigh does), never loads BPF (fwd/bpf does) and never
// allocates, locks, logs or makes an interface call per packet.
//
// # Pipeline
//
// A worker takes up to BatchSize frames from one port, parses them all
// into a caller-owned summary array, and takes each through:
//
//	parse -> port context (the workload port's endpoint and address space;
//	uplinks are in space 0) -> gateway ARP (169.254.1.1) and neighbour
//	solicitations (fe80::1) answered in place with ee:ee:ee:ee:ee:ee ->
//	unicast check -> anti-spoofing (workload ports: the source must be one
//	of the endpoint's addresses) -> TTL / hop limit (Time Exceeded) ->
//	route lookup in the space's table -> (uplinks, into a translated
//	space: the source's route back must leave by this uplink, RFC 3704
//	feasible path) -> translation 6->4 when the route delivers into a
//	translated space -> conntrack (nat.Track) -> policy
//	(egress program of the source endpoint, ingress program of the local
//	destination endpoint; acl.Program.Check with nat's state) -> nat.Commit
//	for a new flow policy admitted (NAT) -> route lookup again when NAT
//	rewrote the packet -> translation 4->6 when a translated space's packet
//	leaves for the core -> neighbour MAC -> MTU -> TTL decrement with an
//	incremental checksum -> the egress port's tx queue.
//
// Every frame ends its batch on exactly one tx queue or back on the free
// stack; a frame that did not leave as a forwarded packet is counted under
// a named Reason (each belongs to a Stage), with the detail of the library
// that refused it (pkt, nat, xlat reasons) in Stats.
//
// # Where policy sees translated traffic
//
// Conntrack and policy always see a packet as the workload sees it: IPv4
// in its own address space for translated spaces. A packet leaving a
// workload of a translated space is tracked and policed as IPv4 (space ID
// in the connection key, so equal addresses of two tenants never meet)
// and translated 4->6 afterwards; a packet arriving from the IPv6 core for
// such a workload is translated 6->4 first and then tracked and policed.
// This is why translation into a space runs before conntrack and
// translation out of one runs after NAT, where DESIGN.md's list has both
// before.
//
// A new flow whose destination nat translates — a floating IP, or an
// inbound packet through an endpoint-independent mapping — is checked
// against the ingress program of the endpoint nat will deliver it to
// (nat.Worker.Destination), with the destination address and port that
// endpoint sees, before nat.Commit: a denied packet makes no session, so
// every later packet of the flow is new and denied again. The egress
// program of a local source sees the packet as it was sent.
//
// Conntrack takes a batch at once: the stages before it run packet by
// packet, nat.TrackBatch tracks the batch's packets together (their
// memory accesses overlap, which matters once the connection table
// outgrows the caches), and the rest runs packet by packet; each packet
// meets the stages in the same order.
//
// # Address spaces and routes
//
// Space 0 is the flat space, and its IPv6 table is also the core table
// translated traffic travels in. Each space has one lpm table (both
// families) whose values index the Tables' next-hop array. Endpoints get
// /32 and /128 routes implicitly; an IPv4 address of a translated space
// also gets its RFC 6052 /128 (as the Translator maps it) in the core
// table, with a next hop that translates 6->4 and delivers. A translated
// space holds only its endpoints' routes: an IPv4 destination that is not
// a local endpoint of the space goes through translation to the core.
// A route in the core may translate into a translated space (a border's
// exit to the IPv4 Internet, where nat source-NATs the flow into the
// external space).
//
// # ICMP from the router
//
// Time Exceeded, Destination Unreachable (no route: code 0 in both
// families; a port down: host / address unreachable; an unreachable
// route, one of the host's blocks with no workload at the address: host
// unreachable / no route, as Linux answers its unreachable routes) and
// Fragmentation Needed / Packet Too Big are built in place
// with pkt's builders and sent back out of the ingress port to the
// sender's MAC, from the ingress port's first host address of the family
// or else Config.RouterAddrs — on the port of a workload of a translated
// space, IPv4 errors come from the gateway address (169.254.1.1), the
// router's address on that link as the tenant sees it — limited per
// worker by a token bucket (Config.ICMPRate per second, refilled from the
// clock read once per round). An error only ever quotes the packet as it
// arrived: the TTL and MTU checks run before NAT (source NAT keeps the
// destination, hence the egress port), and a packet that NAT or
// translation rewrote and that then cannot be forwarded is dropped and
// counted without an error (too-big-rewritten, no-route).
//
// # Path MTU across translation
//
// The translator is given the MTU of the port the translated packet will
// leave by (pmtu.go): 4->6, the core route of the translated destination
// (xlat.Translator.Dst6 finds it before translating); 6->4 into a local
// workload, its port; a border's translation route, the lowest MTU of the
// live uplinks (NAT picks the way out only later). Port MTUs follow the
// interfaces (the control plane rebuilds the tables when netlink reports a
// new one); translation.ipv4MTU/ipv6MTU only lower them. A DF packet that
// will not fit once translated is answered by the router as any packet
// too big for its egress port (Fragmentation Needed with the port's MTU
// less 20, or 28 with a fragment header; Packet Too Big with the IPv4 MTU
// plus 20), never from an RFC 6791 pool address. At a border, an IPv4
// packet that source NAT turned back toward a tenant is too big for the
// core only after NAT: the Fragmentation Needed is built quoting the
// rewritten packet and given to nat, which turns it back for its sender
// as any ICMP error of a tracked flow (natTooBig). With
// translation.clampMSS, SYNs crossing the translator have their MSS
// lowered to the core link's MTU less 60 (mss.go).
//
// # Fragments
//
// IPv4 without DF above the egress MTU is fragmented by the router (RFC
// 791, RFC 1812 section 5.2.6) after NAT, as the last step before the
// TTL decrement: data on 8-byte boundaries, options with the copied flag
// repeated in every fragment (the others only in the first), offsets and
// MF relative to the packet's own when it already was a fragment. A
// packet the translator splits (DF=0 IPv4 above lowestIPv6MTU or the
// egress port's MTU going 4->6, an IPv6 fragment or a small packet above
// the egress port's MTU going 6->4) is given frames to
// split into. Both take their extra frames from the worker's free stack;
// a packet that cannot have every frame it needs is dropped whole
// (fragment-no-frames, xlat-fragments), never sent in part. Fragments
// 6->4 translation made go through conntrack, NAT and policy one by one
// (nat translates later fragments as it did the first), and the packet
// goes on only if all of them do. Fragments are never fragmented again:
// a translator's fragment above the egress MTU is too-big-rewritten. The
// tx ring may still refuse some frames of a packet (tx-full), as a wire
// may lose them.
//
// # Policy without conntrack
//
// With Config.NAT nil there is no conntrack or NAT stage and policy is
// stateless: every packet, in both directions, is evaluated as a new
// one, so return traffic needs rules of its own. A nil acl.Program means
// no policy in that direction (everything passes); a non-nil one follows
// acl's semantics, including the default deny of an endpoint's profiles.
//
// # What the control plane sees of it
//
// Besides the counters: every packet a policy program evaluates adds a
// hit to the rule that decided it (and to the Log rule that marked it),
// in the endpoint's RuleHits, one row per worker (WorkerConfig.Index);
// a packet a Log rule marked leaves a PolicyLog record in the worker's
// bounded ring (Config.PolicyLogRate per second, a token bucket), drained
// by Worker.DrainPolicyLog; and the captures the control plane publishes
// (WorkerConfig.Captures, one load per round, nil when none run) get a
// copy of their port's frames as received and as sent, in a bounded ring
// per worker (Capture.Drain). A full ring or an empty bucket refuses and
// counts; the worker never waits.
//
// # Workers and frames
//
// A Worker owns frame memory (a []byte cut into frames; an xsk.Umem's
// memory for real ports), an xsk.FrameStack of free frames and one Port
// per port of the tables. Each round it takes completions back, tops up
// every fill ring, receives and processes a batch per port, hands the
// batch's tx queues to their ports, and publishes its counters with atomic
// stores; Stats reads them from any goroutine. Tables, the neighbour
// snapshot and the clock are read once per round.
package fwd
