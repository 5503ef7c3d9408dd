// Package xlat owns stateless IPv4<->IPv6 translation (SIIT, RFC 7915) for
// gannet's address spaces: the RFC 6052 address mapping with one prefix per
// address space, RFC 7757 explicit address mappings (EAM), RFC 6791 source
// addresses for ICMP errors from untranslatable hosts, and path MTU handling
// across the two families (fragmenting, Fragmentation Needed, Packet Too
// Big).
//
// Translation works in place on a packet that has headroom in front of it
// (the frame's 256 bytes): the IPv4 header grows into an IPv6 header by
// moving the start of the packet back, and shrinks the other way. When a
// packet has to be split, the fragments go into buffers the caller lends;
// nothing on the per-packet path allocates.
//
// The package never routes, never decrements TTL or hop limit (the
// forwarding stage does that once per hop), never keeps per-flow state and
// never touches a port or a socket. Config (the `translation` section of
// the daemon's configuration) is validated and compiled into an immutable
// Translator that workers share; per-packet outcomes are a Verdict, a named
// Reason and counters in a caller-owned Stats.
package xlat
