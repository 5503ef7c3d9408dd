package xlat

import "encoding/binary"

// Fixed-size ones' complement sums for the hot path: the address runs of
// the pseudo-headers (8 or 32 bytes) and the 20-byte IPv4 header, summed
// as big-endian 32-bit words in a 64-bit register. A 32-bit word hi<<16|lo
// is congruent to hi+lo modulo 0xffff, so folding the wide sum gives the
// 16-bit ones' complement sum pkt.Checksum would (tested against it).

// fold folds a sum of 32-bit words to a 16-bit ones' complement sum.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// sum8 sums 8 bytes (an IPv4 source and destination).
func sum8(b []byte) uint16 {
	_ = b[7]
	return fold(uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])))
}

// sum32 sums 32 bytes (an IPv6 source and destination).
func sum32(b []byte) uint16 {
	_ = b[31]
	s := uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
		uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
		uint64(binary.BigEndian.Uint32(b[16:])) + uint64(binary.BigEndian.Uint32(b[20:])) +
		uint64(binary.BigEndian.Uint32(b[24:])) + uint64(binary.BigEndian.Uint32(b[28:]))
	return fold(s)
}

// sum20 sums a 20-byte IPv4 header.
func sum20(b []byte) uint16 {
	_ = b[19]
	s := uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
		uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
		uint64(binary.BigEndian.Uint32(b[16:]))
	return fold(s)
}
