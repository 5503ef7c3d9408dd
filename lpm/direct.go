// The direct-indexed top level of a large family (poptrie's direct
// pointing): the first topBits bits of a key index an array whose entry is
// either the root of a subtrie at base topBits or, where no route is
// longer than topBits, the entry's leaf. Routes of topBits bits or fewer
// live beside it, in a writer-only map, and are painted into the leaves.

package lpm

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// topBits is the number of leading address bits the top level resolves
// in one array access. 18 bits put an IPv4 /19-/24 (nine routes in ten of
// a full table) and an IPv6 /48 one and five nodes below the array,
// instead of four and eight nodes below a 6-bit root, for 3.25 MiB per
// family; a /16 top would save 2.4 MiB and cost a level on every /24.
const topBits = 18

// topSize is the number of top-level entries.
const topSize = 1 << topBits

// directMin is the route count at which a family switches to the top
// level, and directMin/2 the count below which it switches back: a
// tenant's table of a few hundred routes stays a few KiB, a full table
// pays the fixed 3.25 MiB for two fewer levels on every lookup and an
// update path that never copies a 64-child array above /18. Tests lower
// it to exercise both forms and the switches.
var directMin = 8192

// directRoot is the root of a family whose top level is in use: readers
// that load it go to family.top instead. It is never walked.
var directRoot node

// top is a family's top level. kids and leaf are what readers load;
// llen is the writer's.
type top struct {
	// kids[i] is the root of the subtrie (at base topBits) of entry i,
	// or nil where no route is longer than topBits. Stored atomically.
	kids [topSize]unsafe.Pointer
	// leaf[i] is the value (nh+1, 0 for none) of the longest route of
	// topBits bits or fewer covering entry i: the entry's answer when kids[i]
	// is nil, and what its subtrie inherits otherwise. Stored atomically,
	// always before the kids[i] that was built on it.
	leaf [topSize]uint32
	// llen[i] is the length+1 of the route leaf[i] came from, 0 for none.
	llen [topSize]uint8
}

// shortKey indexes a route of plen <= topBits bits whose top-level bits
// are idx: the ART index of the prefix over the top level.
func shortKey(idx uint32, plen int) uint32 {
	return 1<<plen | idx>>(topBits-plen)
}

// topIndex returns the top-level entry of a left-aligned key.
func topIndex(hi uint64) uint32 { return uint32(hi >> (64 - topBits)) }

// lookup returns the leaf of the key (nh+1, or 0): the reader's path for
// both forms of a family. A reader that sees directRoot while the writer
// switches back to the plain trie finds top nil and loads the root again,
// which the writer stored first.
func (f *family) lookup(hi, lo uint64) uint32 {
	for {
		r := (*node)(atomic.LoadPointer(&f.root))
		if r != &directRoot {
			return walk(r, hi, lo)
		}
		if tp := (*top)(atomic.LoadPointer(&f.top)); tp != nil {
			i := hi >> (64 - topBits)
			if n := (*node)(atomic.LoadPointer(&tp.kids[i])); n != nil {
				return walk(n, hi<<topBits|lo>>(64-topBits), lo<<topBits)
			}
			return atomic.LoadUint32(&tp.leaf[i])
		}
	}
}

// isDirect reports whether the family uses its top level (writer only).
func (f *family) isDirect() bool { return f.root == unsafe.Pointer(&directRoot) }

// getShort returns the stored value of a route of plen <= topBits, or 0.
func (f *family) getShort(hi uint64, plen int) uint32 {
	return f.short[shortKey(topIndex(hi), plen)]
}

// insertShort stores value v for a route of plen <= topBits and paints it
// into every entry it covers that no longer short route covers.
func (f *family) insertShort(hi uint64, plen int, v uint32) {
	idx, k := topIndex(hi), shortKey(topIndex(hi), plen)
	old, had := f.short[k]
	if had && old == v {
		return
	}
	if !had {
		f.routes++
	}
	f.short[k] = v
	tp := (*top)(f.top)
	l := uint8(plen + 1)
	for j := idx; j < idx+1<<(topBits-plen); j++ {
		if tp.llen[j] <= l {
			tp.set(j, v, l)
		}
	}
}

// deleteShort removes a route of plen <= topBits and reports whether it
// was present. The entries it was the longest route of fall back to the
// next shorter stored route covering it, which is the same for all of them.
func (f *family) deleteShort(hi uint64, plen int) bool {
	idx, k := topIndex(hi), shortKey(topIndex(hi), plen)
	if _, had := f.short[k]; !had {
		return false
	}
	delete(f.short, k)
	f.routes--
	var rv uint32
	var rl uint8
	for l := plen - 1; l >= 0; l-- {
		if v, ok := f.short[shortKey(idx, l)]; ok {
			rv, rl = v, uint8(l+1)
			break
		}
	}
	tp := (*top)(f.top)
	l := uint8(plen + 1)
	for j := idx; j < idx+1<<(topBits-plen); j++ {
		if tp.llen[j] == l {
			tp.set(j, rv, rl)
		}
	}
	return true
}

// set gives entry j the short-route value v of length-plus-one l. A
// subtrie whose inherited value changes is rebuilt (only its nodes whose
// pushed-down leaves change) and published after the new leaf.
func (tp *top) set(j uint32, v uint32, l uint8) {
	tp.llen[j] = l
	old := tp.leaf[j]
	if old == v {
		return
	}
	atomic.StoreUint32(&tp.leaf[j], v)
	if n := (*node)(tp.kids[j]); n != nil {
		bm, vals := n.rib()
		atomic.StorePointer(&tp.kids[j], unsafe.Pointer(newRoot(remake(n, old, v, bm, vals, bm, vals))))
	}
}

// adapt switches the family between the plain trie and the top level when
// its route count crosses directMin (up) or directMin/2 (down). A switch
// builds the other form in fresh memory from the routes and publishes it
// with one store, so readers see one form or the other, whole.
func (f *family) adapt() {
	switch {
	case !f.isDirect() && f.routes >= directMin:
		nf := family{bits: f.bits, root: unsafe.Pointer(&directRoot), top: unsafe.Pointer(new(top)), short: map[uint32]uint32{}}
		f.each(nf.insert)
		f.short = nf.short
		atomic.StorePointer(&f.top, nf.top)
		atomic.StorePointer(&f.root, unsafe.Pointer(&directRoot))
	case f.isDirect() && f.routes < directMin/2:
		nf := family{bits: f.bits, root: unsafe.Pointer(&emptyRoot)}
		f.each(nf.insert)
		atomic.StorePointer(&f.root, nf.root)
		atomic.StorePointer(&f.top, nil)
		f.short = nil
	}
}

// each calls fn with every route of the family (writer only).
func (f *family) each(fn func(hi, lo uint64, plen int, v uint32)) {
	if !f.isDirect() {
		eachRoute((*node)(f.root), 0, 0, 0, fn)
		return
	}
	for k, v := range f.short {
		l := bits.Len32(k) - 1
		hi, _ := putBits(0, 0, 0, l, uint64(k-1<<l))
		fn(hi, 0, l, v)
	}
	tp := (*top)(f.top)
	for j := range tp.kids {
		if n := (*node)(tp.kids[j]); n != nil {
			eachRoute(n, topBits, uint64(j)<<(64-topBits), 0, fn)
		}
	}
}

// eachRoute calls fn with every route stored in the subtrie at n, whose
// base is b and whose path so far is the key (hi, lo).
func eachRoute(n *node, b int, hi, lo uint64, fn func(hi, lo uint64, plen int, v uint32)) {
	bm, vals := n.rib()
	k := 0
	for w := range bm {
		for m := bm[w]; m != 0; m &= m - 1 {
			i := uint(w*64 + bits.TrailingZeros64(m))
			l := bits.Len(i) - 1
			h, lw := putBits(hi, lo, b, l, uint64(i)-1<<l)
			fn(h, lw, b+l, vals[k])
			k++
		}
	}
	kids := n.kidSlice()
	j := 0
	for v := n.vec; v != 0; v &= v - 1 {
		h, lw := putBits(hi, lo, b, stride, uint64(bits.TrailingZeros64(v)))
		eachRoute(&kids[j], b+stride, h, lw, fn)
		j++
	}
}

// putBits returns the 128-bit key (hi, lo) with the w-bit value c placed
// at bits pos..pos+w-1, counted from the left.
func putBits(hi, lo uint64, pos, w int, c uint64) (uint64, uint64) {
	if w == 0 {
		return hi, lo
	}
	end := pos + w
	switch {
	case end <= 64:
		return hi | c<<(64-end), lo
	case pos >= 64:
		return hi, lo | c<<(128-end)
	default:
		return hi | c>>(end-64), lo | c<<(128-end)
	}
}
