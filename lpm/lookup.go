// The data path: a key (an IPv4 address as a big-endian uint32, an IPv6
// address as two big-endian uint64 halves, as pkt.Summary gives them) takes
// one top-level entry for its first 18 bits when the family has one, then
// walks one node per 6 bits to a leaf holding nh+1, or 0 for "no route".

package lpm

import (
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// BatchSize is the largest batch LookupBatch4 and LookupBatch6 take: one
// worker batch of frames.
const BatchSize = 64

// Lookup returns the next hop of the longest prefix containing a. It does
// not allocate and never blocks.
func (t *Table) Lookup(a netip.Addr) (nh uint32, ok bool) {
	if a.Is4() {
		b := a.As4()
		return t.Lookup4(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	}
	if !a.IsValid() {
		return 0, false
	}
	return t.Lookup6(key6(a.As16()))
}

// Lookup4 looks up an IPv4 address given as a big-endian integer
// (pkt.Summary.Dst4).
func (t *Table) Lookup4(a uint32) (nh uint32, ok bool) {
	v := t.v4.lookup(uint64(a)<<32, 0)
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

// Lookup6 looks up an IPv6 address given as its big-endian halves
// (pkt.Summary.Dst6).
func (t *Table) Lookup6(hi, lo uint64) (nh uint32, ok bool) {
	v := t.v6.lookup(hi, lo)
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

// walk descends from n along the left-aligned key and returns the leaf
// (nh+1, or 0).
func walk(n *node, hi, lo uint64) uint32 {
	for {
		bit := uint64(1) << (hi >> (64 - stride))
		if n.vec&bit == 0 {
			return n.leaf(bits.OnesCount64(n.lvec&(bit<<1-1)) - 1)
		}
		n = n.kid(bits.OnesCount64(n.vec & (bit - 1)))
		hi = hi<<stride | lo>>(64-stride)
		lo <<= stride
	}
}

// LookupBatch4 looks up len(keys) IPv4 keys (at most BatchSize) against one
// snapshot of the table, writing next hops to nhs[i] and returning a mask
// with bit i set where keys[i] matched; nhs[i] is meaningless where the bit
// is clear. The walks advance in lockstep so that their memory accesses
// overlap. It panics if len(keys) > BatchSize or len(nhs) < len(keys).
func (t *Table) LookupBatch4(keys []uint32, nhs []uint32) (found uint64) {
	if len(keys) > BatchSize || len(nhs) < len(keys) {
		panic("lpm: LookupBatch4: more than BatchSize keys or nhs shorter than keys")
	}
	var his [BatchSize]uint64
	for i, a := range keys {
		his[i] = uint64(a) << 32
	}
	return t.v4.lookupBatch(his[:len(keys)], nil, nhs)
}

// LookupBatch6 is LookupBatch4 for IPv6 keys given as halves his[i], los[i].
// It panics if the slices differ in length, exceed BatchSize, or nhs is
// shorter.
func (t *Table) LookupBatch6(his, los []uint64, nhs []uint32) (found uint64) {
	if len(his) > BatchSize || len(los) != len(his) || len(nhs) < len(his) {
		panic("lpm: LookupBatch6: more than BatchSize keys, his and los differ, or nhs shorter than keys")
	}
	var h, l [BatchSize]uint64
	copy(h[:], his)
	copy(l[:], los)
	return t.v6.lookupBatch(h[:len(his)], l[:len(his)], nhs)
}

// lookupBatch walks a batch against one snapshot of the family's form: the
// plain trie from its root, or the top level. los may be nil (IPv4). As in
// family.lookup, a reader that sees directRoot and then no top level (the
// writer switching back) loads the root again.
func (f *family) lookupBatch(his, los []uint64, nhs []uint32) (found uint64) {
	for {
		r := (*node)(atomic.LoadPointer(&f.root))
		if r != &directRoot {
			return walkBatch(r, nil, his, los, nhs)
		}
		if tp := (*top)(atomic.LoadPointer(&f.top)); tp != nil {
			return walkBatch(nil, tp, his, los, nhs)
		}
	}
}

// stop is where a walk that ended in a top-level leaf waits: it has no
// children, so the rounds leave it alone. It is never read.
var stop node

// walkBatch runs the walks of a batch in groups of lanes, advancing every
// walk of a group one level per round so that their node loads overlap. A
// finished walk stays put: its slot has no child, so further rounds leave
// it alone and no per-lane bookkeeping is needed. With a top level (tp not
// nil, root unused) each walk starts at its entry's subtrie, or finishes
// at once with the entry's leaf. los may be nil (IPv4).
func walkBatch(root *node, tp *top, his, los []uint64, nhs []uint32) (found uint64) {
	const lanes = 8
	for base := 0; base < len(his); base += lanes {
		end := min(base+lanes, len(his))
		var cur [lanes]*node
		var hi, lo [lanes]uint64
		var done [lanes]uint32
		copy(hi[:], his[base:end])
		if los != nil {
			copy(lo[:], los[base:end])
		}
		for j := range cur {
			if tp == nil {
				cur[j] = root
				continue
			}
			i := hi[j] >> (64 - topBits)
			if n := (*node)(atomic.LoadPointer(&tp.kids[i])); n != nil {
				cur[j] = n
				hi[j] = hi[j]<<topBits | lo[j]>>(64-topBits)
				lo[j] <<= topBits
			} else {
				cur[j], done[j] = &stop, atomic.LoadUint32(&tp.leaf[i])
			}
		}
		for moved := true; moved; {
			moved = false
			for j := range cur {
				n := cur[j]
				bit := uint64(1) << (hi[j] >> (64 - stride))
				if n.vec&bit != 0 {
					cur[j] = n.kid(bits.OnesCount64(n.vec & (bit - 1)))
					hi[j] = hi[j]<<stride | lo[j]>>(64-stride)
					lo[j] <<= stride
					moved = true
				}
			}
		}
		for j := range end - base {
			n, v := cur[j], done[j]
			if n != &stop {
				bit := uint64(1) << (hi[j] >> (64 - stride))
				v = n.leaf(bits.OnesCount64(n.lvec&(bit<<1-1)) - 1)
			}
			nhs[base+j] = v - 1
			if v != 0 {
				found |= 1 << (base + j)
			}
		}
	}
	return found
}
