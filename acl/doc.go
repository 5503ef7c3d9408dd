// Package acl owns gannet's security policy: a policy model with Calico's
// semantics, its compiler, and the compiled first-match packet classifier
// the data path consults per packet. It never touches packets, rings or
// connection state: it reads keys built from pkt.Summary and answers with
// rule indices and verdicts.
//
// # Classifier
//
// Compile turns an ordered []Rule into a Classifier; Match (netip keys),
// MatchPacket (the fixed-size PacketKey), MatchSummary (a parsed packet)
// and MatchBatch return the index of the first matching rule. IPv4 and
// IPv6 rules live in separate trees; an IPv6 address is four 32-bit
// dimensions, so one prefix is a product of word ranges and one uint32
// tree code serves both families.
//
// The algorithm is a HyperSplit decision tree (Qi et al., "Packet
// classification algorithms: from theory to practice", INFOCOM 2009) with
// EffiCuts-style partitioning (Vamanan et al., SIGCOMM 2010) as a fallback:
//
//   - Every node is a binary split of one dimension at one threshold,
//     chosen where the weighted count of elementary segments reaches half
//     (HyperSplit's heuristic), on the dimension that replicates the fewest
//     rules. A node is one uint64, a step is one compare with no branch
//     (depth 10-25 on the ClassBench sets), and a leaf holds at most 8
//     boxes stored as (lo, hi-lo) (IPv4's ports and protocol packed into
//     one 64-bit word, checked by one subtraction per bound for all three)
//     so each is checked with one branch. A
//     leaf drops every rule after the first one that covers its whole
//     region, since those can never be the first match there.
//   - Rule order is priority, so the first match is simply the lowest index
//     found; no priority field is stored or compared in the tree.
//   - When one tree over all rules would grow past about 16 nodes plus
//     entries per rule (rules wildcarded in different fields form a cross
//     product), the rules are split into three groups — narrow source,
//     narrow destination only, neither — each group gets its own tree, and
//     groups that still blow up are halved by priority (tiny ones become a
//     linear leaf).
//   - All trees of a family share two flat arrays. A lookup walks up to
//     four trees at once for one key (MatchPacket), a batch eight keys at
//     once down one tree (MatchBatch): each lane's node sits in its own
//     register, leaves point back at themselves so no lane needs a branch,
//     and the walk stops at the tree's depth or once every lane is on a
//     leaf; the lanes' loads are independent, so their latencies overlap.
//     Leaves are scanned in order of their tree's best rule, skipping any
//     whose first rule cannot beat the match found so far; a batch skips a
//     tree for eight keys that all matched a better rule already, and stops
//     at the first tree none of its keys can use.
//
// Why not the others: HiCuts/HyperCuts cut dimensions into equal pieces,
// which wastes memory on the skewed prefix and port distributions of real
// rule sets; TupleMerge and tuple-space search are built for fast updates,
// which gannet does not need (tables are immutable snapshots rebuilt off
// the data path), and pay a hash probe per tuple on every lookup; DPDK's
// rte_acl multi-bit tries are the fastest in C but need SIMD transition
// code and several tries to keep wildcard-heavy sets from exploding, much
// more machinery than Go can profit from. A binary tree over flat arrays
// keeps the lookup to loads and compares with no allocation and no
// interface calls, and stays small for the acl, fw and ipc ClassBench
// families alike.
//
// Linear is the slow twin: a first-match scan over the Rule fields as
// written, used by the differential tests and as the benchmark baseline.
//
// # Policy
//
// PolicySet holds Calico-shaped Policies (order, selector, types,
// ingress/egress rules), Profiles and Endpoints (labels, addresses,
// profile names). CompilePolicy validates everything first — an invalid
// CIDR, port range, selector, action or reference is an error naming the
// policy (or profile, or endpoint), the rule and the field, and nothing is
// returned — then compiles, per endpoint and direction, a Program. The
// semantics (documented on Program) are Calico's: policies by ascending
// order, unordered ones last, ties by name; first matching rule acts;
// Allow and Deny end evaluation, Log marks and continues, Pass skips to
// the profiles; once any policy selects the endpoint in a direction,
// anything not allowed is denied; profiles apply when no policy does or
// after a Pass, and end in a deny. Types default to Ingress, plus Egress
// when there are egress rules. Rule matches: protocol/notProtocol,
// icmp/notICMP (type, code; needs protocol ICMP or ICMPv6), source and
// destination nets/notNets, selector/notSelector (resolved to the
// addresses of the endpoints they select) and ports/notPorts (numbers and
// "lo:hi"; need TCP, UDP, SCTP or UDPLite). Negations and sets are
// expanded into range boxes, so a rule with several nets or exclusions is
// a few classifier rules with one action. Endpoints with the same policies
// and profiles share one Program.
//
// # Stateful use
//
// Program.Check(state, key) is the data path's entry point. The connection
// table lives in package nat; acl does not import nat and nat does not
// import acl. fwd looks the packet up in nat, maps the answer to a
// ConnState (ConnNew when there is no entry, ConnEstablished for a known
// flow in either direction, ConnRelated for an ICMP error quoting one,
// ConnInvalid when conntrack rejects the packet) and passes it in:
// established and related packets skip policy, invalid ones are dropped,
// new ones are evaluated, and fwd creates the connection entry only for a
// new packet policy accepted.
//
// # ICMP type and code
//
// Keys carry the ICMP type in SrcPort and the code in DstPort for ICMP and
// ICMPv6 packets (see PacketKey), so type/code matches are port ranges on
// rules restricted to protocol 1 or 58. Packets without ports (other
// protocols, non-first fragments) have ports 0.
package acl
