// Nodes and the unsafe accessors over their popcount-compressed arrays: every
// pointer arithmetic of the package lives in this file.

package lpm

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// node is one 64-way level of the trie (a 6-bit stride), laid out as in
// poptrie: 32 bytes, two to a cache line, and children stored inline in
// one array so that a level costs one memory access.
//
// A slot whose bit is set in vec holds a child node; the children sit in
// kids in slot order, so child i is at popcount(vec below the slot). Every
// other slot holds a leaf: a next hop pushed down from the longest prefix
// that covers the slot. Runs of equal leaves are stored once: lvec marks
// the slots where a new run starts, so the leaf of slot s is blob word
// popcount(lvec up to and including s) - 1.
//
// vec, lvec and blob never change once a node is reachable by readers. kids
// is the one field the writer stores in place (atomically, readers load it
// atomically): it swaps a whole new children array when a descendant
// changes without changing this node's shape.
type node struct {
	vec  uint64
	lvec uint64
	kids unsafe.Pointer // *node: first of popcount(vec) children
	blob unsafe.Pointer // *uint32: the leaves, then the node's own routes (see rib)
}

// nodeSize is the size of a node in bytes.
const nodeSize = unsafe.Sizeof(node{})

// kid returns child i (0-based in slot order). Readers use it.
func (n *node) kid(i int) *node {
	return (*node)(unsafe.Add(atomic.LoadPointer(&n.kids), uintptr(i)*nodeSize))
}

// leaf returns leaf word j. Readers use it.
func (n *node) leaf(j int) uint32 {
	return *(*uint32)(unsafe.Add(n.blob, uintptr(j)*4))
}

// kidSlice returns the children array. Only the writer uses it; the slice
// aliases live memory and must not be written to.
func (n *node) kidSlice() []node {
	k := atomic.LoadPointer(&n.kids)
	if k == nil {
		return nil
	}
	return unsafe.Slice((*node)(k), bits.OnesCount64(n.vec))
}

// setKids publishes a new children array for a live node.
func (n *node) setKids(kids []node) {
	atomic.StorePointer(&n.kids, kidsPtr(kids))
}

// kidsPtr turns a children slice into the stored pointer.
func kidsPtr(kids []node) unsafe.Pointer {
	if len(kids) == 0 {
		return nil
	}
	return unsafe.Pointer(&kids[0])
}

// The blob is one pointer-free allocation of uint32 words:
//
//	[0, nl)            leaves, nl = popcount(lvec)
//	[nl, nl+4)         rib bitmap: the ART indices 1..127 of the routes
//	                   stored at this node (see art.go), low word first
//	[nl+4, nl+4+np)    their values in index order, np = popcount(bitmap)
//
// Lookups read only the leaves; the rest is the writer's record of the
// routes themselves, kept next to the leaves so that one allocation serves
// both and a node without routes of its own pays 16 bytes for them.

// blobWords returns the blob as a slice of its words (writer only).
func (n *node) blobWords() []uint32 {
	nl := bits.OnesCount64(n.lvec)
	b := unsafe.Slice((*uint32)(n.blob), nl+4)
	bm := ribBits{uint64(b[nl]) | uint64(b[nl+1])<<32, uint64(b[nl+2]) | uint64(b[nl+3])<<32}
	return unsafe.Slice((*uint32)(n.blob), nl+4+bm.count())
}

// rib returns the routes stored at the node: their ART index bitmap and
// their values in index order. The values alias the blob (read only).
func (n *node) rib() (ribBits, []uint32) {
	nl := bits.OnesCount64(n.lvec)
	b := n.blobWords()
	bm := ribBits{uint64(b[nl]) | uint64(b[nl+1])<<32, uint64(b[nl+2]) | uint64(b[nl+3])<<32}
	return bm, b[nl+4:]
}

// newBlob allocates a blob holding leaves, bm and vals.
func newBlob(leaves []uint32, bm ribBits, vals []uint32) unsafe.Pointer {
	nl := len(leaves)
	b := make([]uint32, nl+4+len(vals))
	copy(b, leaves)
	b[nl] = uint32(bm[0])
	b[nl+1] = uint32(bm[0] >> 32)
	b[nl+2] = uint32(bm[1])
	b[nl+3] = uint32(bm[1] >> 32)
	copy(b[nl+4:], vals)
	return unsafe.Pointer(&b[0])
}

// newRoot returns a copy of nn in fresh memory that also holds a copy of
// its blob, right after the node. Roots are the only nodes allocated on
// their own (the others sit in their parent's children array), and the
// root of a top-level subtrie is where most IPv4 lookups of a full table
// end: with the leaves beside the node, the leaf read usually stays on the
// node's page, saving a TLB miss, and for a small blob on its cache line.
func newRoot(nn node) *node {
	if nn.vec != 0 {
		// Lookups through a root with children mostly go on to them.
		r := new(node)
		*r = nn
		return r
	}
	w := nn.blobWords()
	var r *node
	var dst []uint32
	// Sizes fill Go's size classes (64 to 832 bytes); a blob holds at
	// most 64 leaves, 4 bitmap words and 127 routes.
	switch n := len(w); {
	case n <= 8:
		x := new(struct {
			n node
			w [8]uint32
		})
		r, dst = &x.n, x.w[:]
	case n <= 24:
		x := new(struct {
			n node
			w [24]uint32
		})
		r, dst = &x.n, x.w[:]
	case n <= 56:
		x := new(struct {
			n node
			w [56]uint32
		})
		r, dst = &x.n, x.w[:]
	case n <= 88:
		x := new(struct {
			n node
			w [88]uint32
		})
		r, dst = &x.n, x.w[:]
	case n <= 120:
		x := new(struct {
			n node
			w [120]uint32
		})
		r, dst = &x.n, x.w[:]
	default:
		x := new(struct {
			n node
			w [200]uint32
		})
		r, dst = &x.n, x.w[:]
	}
	copy(dst, w)
	*r = nn
	r.blob = unsafe.Pointer(&dst[0])
	return r
}
