// Routes inside one node: a prefix that ends within a node's 6-bit stride
// maps to an index of Knuth's allotment routing table (ART), and the leaf
// of every slot is the longest of the stored prefixes above it.

package lpm

import "math/bits"

// stride is the number of address bits a node consumes.
const stride = 6

// ribBits is a set of ART indices 1..127. A prefix of local length l
// (0..6 bits past the node's base) over the slot-chunk c has index
// 1<<l | c>>(6-l): index 1 covers the whole node, 64+s exactly slot s.
// Word 0 holds indices 0..63, word 1 indices 64..127.
type ribBits [2]uint64

// artIndex returns the ART index of a prefix of local length l (0..6) whose
// first bits are the top l bits of the 6-bit chunk c.
func artIndex(l int, c uint) uint {
	return 1<<l | c>>(stride-l)
}

func (b ribBits) has(i uint) bool { return b[i>>6]>>(i&63)&1 != 0 }

func (b *ribBits) set(i uint) { b[i>>6] |= 1 << (i & 63) }

func (b *ribBits) clear(i uint) { b[i>>6] &^= 1 << (i & 63) }

func (b ribBits) count() int { return bits.OnesCount64(b[0]) + bits.OnesCount64(b[1]) }

func (b ribBits) empty() bool { return b[0]|b[1] == 0 }

// rank returns how many indices below i are set: the position of i's value.
func (b ribBits) rank(i uint) int {
	if i < 64 {
		return bits.OnesCount64(b[0] & (1<<i - 1))
	}
	return bits.OnesCount64(b[0]) + bits.OnesCount64(b[1]&(1<<(i-64)-1))
}

// ancestors[s] is the set of ART indices 1..63 covering slot s: the
// prefixes of local length 0..5 on the path to it (index 64+s, length 6,
// is tested separately in word 1).
var ancestors = func() (a [64]uint64) {
	for s := range 64 {
		for i := (64 + s) >> 1; i > 0; i >>= 1 {
			a[s] |= 1 << i
		}
	}
	return a
}()

// slotValue returns the leaf of slot s: the value of the longest stored
// prefix covering it, or def (what the parent pushed down) if none does.
func slotValue(bm ribBits, vals []uint32, s uint, def uint32) uint32 {
	if bm[1]>>s&1 != 0 {
		return vals[bits.OnesCount64(bm[0])+bits.OnesCount64(bm[1]&(1<<s-1))]
	}
	if m := bm[0] & ancestors[s]; m != 0 {
		i := uint(63 - bits.LeadingZeros64(m))
		return vals[bits.OnesCount64(bm[0]&(1<<i-1))]
	}
	return def
}

// chunk returns the 6 bits of a left-aligned 128-bit key (hi, lo) that
// start at bit base. IPv4 keys sit in the top 32 bits of hi, so bits past
// the address read as zero.
func chunk(hi, lo uint64, base int) uint {
	if base < 64 {
		return uint((hi<<base | lo>>(64-base)) >> (64 - stride))
	}
	return uint((lo << (base - 64)) >> (64 - stride))
}
