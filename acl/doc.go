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
//     rules. A node is one uint64, a lookup is one compare per level
//     (depth 15-25 on the ClassBench sets) and a scan of at most 8 boxes in
//     the leaf. A leaf drops every rule after the first one that covers its
//     whole region, since those can never be the first match there.
//   - Rule order is priority, so the first match is simply the lowest index
//     found; no priority field is stored or compared in the tree.
//   - When a tree would grow past a budget (about 128 nodes plus entries
//     per rule: rules wildcarded in different fields form a cross product),
//     the rules are split into groups by which of source, destination and
//     destination port are narrow, each group gets its own tree, and groups
//     that still blow up are halved by priority (tiny ones become a linear
//     leaf). Lookups visit the trees in order of their best rule and stop
//     when no remaining tree can hold an earlier match.
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
// # ICMP type and code
//
// Keys carry the ICMP type in SrcPort and the code in DstPort for ICMP and
// ICMPv6 packets (see PacketKey), so type/code matches are port ranges on
// rules restricted to protocol 1 or 58. Packets without ports (other
// protocols, non-first fragments) have ports 0.
package acl
