package pkt

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Sums here are 16-bit ones' complement sums, folded but not complemented;
// a checksum field holds the complement of the sum. The full sum adds
// 64-bit little-endian words with carry (ADC on amd64) and swaps bytes once
// at the end, which RFC 1071 section 2(B) allows because the ones'
// complement sum is independent of byte order.

// Checksum returns the ones' complement sum of b, treated as big-endian
// 16-bit words (a trailing odd byte padded with zero), added to initial.
func Checksum(b []byte, initial uint16) uint16 {
	var acc, carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		// Big-endian, the odd byte is the high half of a zero-padded word;
		// in the little-endian sum it is the low half.
		acc, carry = bits.Add64(acc, uint64(b[0]), carry)
	}
	acc, carry = bits.Add64(acc, 0, carry)
	acc += carry
	return addFold(bits.ReverseBytes16(fold64(acc)), initial)
}

// fold64 folds a 64-bit ones' complement sum to 16 bits.
func fold64(v uint64) uint16 {
	v = (v >> 32) + (v & 0xffffffff)
	v = (v >> 32) + (v & 0xffffffff)
	return fold32(uint32(v))
}

// fold32 folds a 32-bit ones' complement sum to 16 bits.
func fold32(v uint32) uint16 {
	v = (v >> 16) + (v & 0xffff)
	v = (v >> 16) + (v & 0xffff)
	return uint16(v)
}

// addFold adds two 16-bit ones' complement sums.
func addFold(a, b uint16) uint16 { return fold32(uint32(a) + uint32(b)) }

// ChecksumCombine adds two ones' complement sums, e.g. a pseudo-header sum
// and the sum of a segment computed separately.
func ChecksumCombine(a, b uint16) uint16 { return addFold(a, b) }

// ChecksumUpdate16 returns checksum field cs after a 16-bit word of the
// covered data changed from old to new (RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m')).
func ChecksumUpdate16(cs, old, new uint16) uint16 {
	return ^fold32(uint32(^cs) + uint32(^old) + uint32(new))
}

// ChecksumUpdate32 is ChecksumUpdate16 for an aligned 32-bit change.
func ChecksumUpdate32(cs uint16, old, new uint32) uint16 {
	s := uint32(^cs) +
		uint32(^uint16(old>>16)) + uint32(^uint16(old)) +
		(new >> 16) + (new & 0xffff)
	return ^fold32(s)
}

// ChecksumUpdateAddr returns checksum field cs after the covered bytes old
// were replaced by new (same even length and 16-bit alignment: a 4-byte
// IPv4 or 16-byte IPv6 address, or any other run of whole words).
func ChecksumUpdateAddr(cs uint16, old, new []byte) uint16 {
	return ChecksumUpdateSum(cs, Checksum(old, 0), Checksum(new, 0))
}

// ChecksumUpdateSum returns checksum field cs after data whose ones'
// complement sum was oldSum was replaced by data whose sum is newSum. It is
// the general form of the other updates: translation uses it to swap a
// whole pseudo-header.
func ChecksumUpdateSum(cs, oldSum, newSum uint16) uint16 {
	return ^fold32(uint32(^cs) + uint32(^oldSum) + uint32(newSum))
}

// ChecksumDelta returns the RFC 1624 delta ~m + m' of covered words whose
// ones' complement sum goes from oldSum to newSum (unfolded sums of 16-bit
// words): added to a complemented checksum field it is the update
// ChecksumUpdateSum makes, and deltas add up, so one precomputed delta
// can stand for several updates (the kernel fast path applies it).
func ChecksumDelta(oldSum, newSum uint64) uint16 {
	return fold64(uint64(^fold64(oldSum)) + uint64(fold64(newSum)))
}

// PseudoHeaderSum4 returns the sum of the IPv4 pseudo-header (RFC 793,
// RFC 768): source, destination, zero, protocol, upper-layer length.
func PseudoHeaderSum4(src, dst []byte, proto uint8, length uint16) uint16 {
	s := uint32(binary.BigEndian.Uint16(src[0:])) + uint32(binary.BigEndian.Uint16(src[2:])) +
		uint32(binary.BigEndian.Uint16(dst[0:])) + uint32(binary.BigEndian.Uint16(dst[2:])) +
		uint32(proto) + uint32(length)
	return fold32(s)
}

// PseudoHeaderSum6 returns the sum of the IPv6 pseudo-header (RFC 8200
// section 8.1): source, destination, upper-layer length, next header.
func PseudoHeaderSum6(src, dst []byte, proto uint8, length uint32) uint16 {
	s := Checksum(src[:16], 0)
	s = Checksum(dst[:16], s)
	return addFold(s, fold32(uint32(proto)+length>>16+length&0xffff))
}

// TransportChecksum returns the checksum field for the upper-layer segment
// seg (checksum field zeroed) under the pseudo-header sum pseudo. ICMPv4
// has no pseudo-header: pass 0.
func TransportChecksum(pseudo uint16, seg []byte) uint16 {
	return ^Checksum(seg, pseudo)
}

// UDPChecksum is TransportChecksum for UDP: a computed zero is sent as
// 0xffff, because a zero field means "no checksum" (RFC 768).
func UDPChecksum(pseudo uint16, seg []byte) uint16 {
	if c := TransportChecksum(pseudo, seg); c != 0 {
		return c
	}
	return 0xffff
}

// VerifyTransport reports whether seg, checksum field included, sums to
// all ones under the pseudo-header sum pseudo. For UDP the caller first
// handles a zero field: allowed in IPv4 (no checksum), invalid in IPv6
// (RFC 8200 section 8.1).
func VerifyTransport(pseudo uint16, seg []byte) bool {
	return Checksum(seg, pseudo) == 0xffff
}

// UDPChecksumAfterUpdate fixes up an incrementally updated UDP checksum:
// the update must not produce the "no checksum" value zero.
func UDPChecksumAfterUpdate(cs uint16) uint16 {
	if cs == 0 {
		return 0xffff
	}
	return cs
}
