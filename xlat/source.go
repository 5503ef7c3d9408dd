package xlat

// Where the ICMP errors that leave the translator come from. Two kinds:
//
//   - errors the translator originates itself (Fragmentation Needed, Packet
//     Too Big, Parameter Problem for a routing header, Destination
//     Unreachable for a refused packet): the translator is the node that
//     reports, so the source is its own address, like any router's
//     (RFC 1812 section 4.3.2.4, RFC 4443 section 2.2);
//   - translated errors whose real source, a router in the other family,
//     has no address in this family: an address of the RFC 6791 pool, and
//     without a pool the translator's own address (RFC 6791 section 4,
//     RFC 7915 sections 4.2 and 5.1).

// ownSrc4 is the source of an ICMPv4 error the translator originates:
// translatorIPv4, else (a configuration without it, as before the field
// existed) an RFC 6791 pool address picked by the packet's destination.
func (t *Translator) ownSrc4(key *[16]byte) ([4]byte, bool) {
	if t.hasSelf4 {
		return t.self4, true
	}
	return t.pick4(key)
}

// ownSrc6 is ownSrc4 for ICMPv6 errors.
func (t *Translator) ownSrc6(key [4]byte) ([16]byte, bool) {
	if t.hasSelf6 {
		return t.self6, true
	}
	return t.pick6(key)
}

// relaySrc4 is the IPv4 source of a translated ICMPv6 error whose IPv6
// source (key) has no IPv4 form: the RFC 6791 pool, else translatorIPv4.
func (t *Translator) relaySrc4(key *[16]byte) ([4]byte, bool) {
	if a, ok := t.pick4(key); ok {
		return a, true
	}
	return t.self4, t.hasSelf4
}

// relaySrc6 is relaySrc4 for translated ICMPv4 errors.
func (t *Translator) relaySrc6(key [4]byte) ([16]byte, bool) {
	if a, ok := t.pick6(key); ok {
		return a, true
	}
	return t.self6, t.hasSelf6
}
