package xlat

// RFC 4884 multi-part ICMP errors: the length attribute that says where an
// error's "original datagram" field ends and an extension structure (MPLS
// labels, interface information, ...) begins, and how a translated error
// carries it. RFC 7915 4.2 and 5.2 ("ICMP Error Payload"): the
// translation changes the length of the quoted datagram, so the length
// attribute MUST be adjusted; an extension that does not fit the new
// family's error size is left out. The extension itself is copied as an
// opaque string (its own checksum covers only itself).
//
//	| IP | ICMP (length attribute) | original datagram | pad | extension |
//
// The attribute counts the datagram field in 32-bit words in ICMPv4 (the
// second byte of the unused word) and in 64-bit words in ICMPv6 (the first
// byte); with an extension the field is zero padded to that unit and to at
// least 128 bytes (RFC 4884 sections 4.1, 4.5 and 5.1).

import "github.com/gannet-net/gannet/pkt"

// ext4884MinField is the smallest original datagram field an error with
// an extension carries (RFC 4884 section 4.1: "at least 128 octets").
const ext4884MinField = 128

// hasLength4 reports ICMPv4 error types with an RFC 4884 length attribute:
// Destination Unreachable, Time Exceeded and Parameter Problem.
func hasLength4(typ uint8) bool {
	return typ == pkt.ICMPv4DestUnreach || typ == pkt.ICMPv4TimeExceeded || typ == pkt.ICMPv4ParamProblem
}

// hasLength6 reports ICMPv6 error types with an RFC 4884 length attribute:
// Destination Unreachable and Time Exceeded.
func hasLength6(typ uint8) bool {
	return typ == pkt.ICMPv6DestUnreach || typ == pkt.ICMPv6TimeExceeded
}

// quoteLayout plans the quote of a translated ICMP error. fixed is the
// outer IP and ICMP headers, dgram the translated original datagram bytes
// at hand (its header and what follows of it), ext the length of an
// extension to carry (0: none), limit the largest error and unit the
// length attribute's unit (4 or 8). It returns how much of the datagram
// to keep, the zero padding after it, the length attribute, and whether
// the extension goes along. Without an extension the datagram fills what
// the limit allows and the attribute is 0. With one the extension has
// priority over the datagram beyond its first 128 bytes (it is never cut:
// its checksum would no longer hold); when even that does not leave room
// for it, it is left out.
func quoteLayout(fixed, dgram, ext, limit, unit int) (keep, pad, attr int, withExt bool) {
	if ext > 0 {
		field := max((dgram+unit-1)&^(unit-1), ext4884MinField)
		if fixed+field+ext > limit {
			field = (limit - fixed - ext) &^ (unit - 1)
		}
		if field >= ext4884MinField && field/unit <= 0xff {
			keep = min(dgram, field)
			return keep, field - keep, field / unit, true
		}
	}
	return min(dgram, limit-fixed), 0, 0, false
}

// zero clears b (a loop the compiler turns into memclr).
func zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
