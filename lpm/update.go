// The writer's path: a route insert or delete descends from the root to
// the node whose stride holds the prefix, rebuilds that node (and the
// subtrees whose pushed-down leaves change) in fresh memory, and publishes
// the result with one atomic store.

package lpm

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// family is one address family's trie.
type family struct {
	// root is the plain trie's root, or &directRoot when the family uses
	// its top level (direct.go). Readers load it atomically.
	root unsafe.Pointer // *node
	top  unsafe.Pointer // *top while root is &directRoot; readers load it atomically
	// short holds the routes of topBits bits or fewer while the top level
	// is in use, by shortKey (writer only).
	short  map[uint32]uint32
	bits   int // address length: 32 or 128
	routes int // written under Table.mu
}

// maxDepth bounds the levels of a trie: bases 0, 6, ..., 126 for IPv6.
const maxDepth = 128/stride + 1

// emptyRoot is the shared root of every empty family: one run of "no
// route" leaves. It has no children, so no update ever stores into it.
var emptyRoot = node{lvec: 1, blob: newBlob([]uint32{0}, ribBits{}, nil)}

// trail records a writer's descent: the live nodes from the root down, the
// value each inherits from above, and the slot taken in each.
type trail struct {
	// root is where the walk's first node hangs: the family's root
	// pointer, or a top-level entry (sub), which is nil while its subtrie
	// is empty instead of pointing at emptyRoot.
	root  *unsafe.Pointer
	sub   bool
	n     [maxDepth]*node
	def   [maxDepth]uint32
	slot  [maxDepth]uint
	depth int // index of the last node in n
}

// start points the trail at the trie that holds a prefix of length plen:
// the plain trie (base 0), or in a direct family with plen > topBits the
// subtrie of the key's top-level entry (base topBits). It returns false
// if that subtrie is empty.
func (f *family) start(tr *trail, hi uint64) (base int, ok bool) {
	if !f.isDirect() {
		tr.root, tr.sub = &f.root, false
		tr.n[0], tr.def[0], tr.depth = (*node)(f.root), 0, 0
		return 0, true
	}
	tp, i := (*top)(f.top), topIndex(hi)
	tr.root, tr.sub = &tp.kids[i], true
	tr.n[0], tr.def[0], tr.depth = (*node)(tp.kids[i]), tp.leaf[i], 0
	return topBits, tr.n[0] != nil
}

// descend walks from the trail's first node (at base) toward the node
// whose stride holds a prefix of length plen, stopping early at the first
// missing child. It returns the base bit of the last node reached.
func (f *family) descend(tr *trail, hi, lo uint64, plen, base int) int {
	n := tr.n[0]
	for plen > base+stride {
		s := chunk(hi, lo, base)
		tr.slot[tr.depth] = s
		if n.vec>>s&1 == 0 {
			return base
		}
		bm, vals := n.rib()
		def := slotValue(bm, vals, s, tr.def[tr.depth])
		n = &n.kidSlice()[bits.OnesCount64(n.vec&(1<<s-1))]
		base += stride
		tr.depth++
		tr.n[tr.depth], tr.def[tr.depth] = n, def
	}
	return base
}

// get returns the stored value (nh+1) of exactly the prefix, or 0.
func (f *family) get(hi, lo uint64, plen int) uint32 {
	if f.isDirect() && plen <= topBits {
		return f.getShort(hi, plen)
	}
	var tr trail
	base, ok := f.start(&tr, hi)
	if !ok {
		return 0
	}
	base = f.descend(&tr, hi, lo, plen, base)
	if plen > base+stride {
		return 0
	}
	n := tr.n[tr.depth]
	i := artIndex(plen-base, chunk(hi, lo, base))
	bm, vals := n.rib()
	if !bm.has(i) {
		return 0
	}
	return vals[bm.rank(i)]
}

// insert stores value v (nh+1) for the prefix.
func (f *family) insert(hi, lo uint64, plen int, v uint32) {
	if f.isDirect() && plen <= topBits {
		f.insertShort(hi, plen, v)
		return
	}
	var tr trail
	base, ok := f.start(&tr, hi)
	if !ok {
		// An empty top-level entry: its subtrie starts with this route,
		// inheriting the entry's leaf.
		f.publish(&tr, 0, chain(hi, lo, topBits, plen, v, tr.def[0]))
		f.routes++
		return
	}
	base = f.descend(&tr, hi, lo, plen, base)
	n, def := tr.n[tr.depth], tr.def[tr.depth]
	bm, vals := n.rib()

	if plen > base+stride {
		// The child at slot s is missing: build the chain of new nodes
		// down to the one holding the prefix, each inheriting what slot s
		// inherits now (nothing else lies below it).
		s := tr.slot[tr.depth]
		kid := chain(hi, lo, base+stride, plen, v, slotValue(bm, vals, s, def))
		old := n.kidSlice()
		r := bits.OnesCount64(n.vec & (1<<s - 1))
		kids := make([]node, len(old)+1)
		copy(kids, old[:r])
		kids[r] = kid
		copy(kids[r+1:], old[r:])
		f.publish(&tr, tr.depth, build(n.vec|1<<s, kids, bm, vals, def))
		f.routes++
		return
	}

	i := artIndex(plen-base, chunk(hi, lo, base))
	r := bm.rank(i)
	var nvals []uint32
	nb := bm
	if bm.has(i) {
		if vals[r] == v {
			return
		}
		nvals = append([]uint32(nil), vals...)
		nvals[r] = v
	} else {
		nb.set(i)
		nvals = make([]uint32, len(vals)+1)
		copy(nvals, vals[:r])
		nvals[r] = v
		copy(nvals[r+1:], vals[r:])
		f.routes++
	}
	f.publish(&tr, tr.depth, remake(n, def, def, bm, vals, nb, nvals))
}

// delete removes the prefix and reports whether it was present.
func (f *family) delete(hi, lo uint64, plen int) bool {
	if f.isDirect() && plen <= topBits {
		return f.deleteShort(hi, plen)
	}
	var tr trail
	base, ok := f.start(&tr, hi)
	if !ok {
		return false
	}
	base = f.descend(&tr, hi, lo, plen, base)
	if plen > base+stride {
		return false
	}
	n, def := tr.n[tr.depth], tr.def[tr.depth]
	bm, vals := n.rib()
	i := artIndex(plen-base, chunk(hi, lo, base))
	if !bm.has(i) {
		return false
	}
	f.routes--
	r := bm.rank(i)
	nb := bm
	nb.clear(i)
	if nb.empty() && n.vec == 0 && tr.depth > 0 {
		f.prune(&tr)
		return true
	}
	nvals := make([]uint32, len(vals)-1)
	copy(nvals, vals[:r])
	copy(nvals[r:], vals[r+1:])
	f.publish(&tr, tr.depth, remake(n, def, def, bm, vals, nb, nvals))
	return true
}

// prune removes the last node of the trail, which holds nothing any more,
// and with it every ancestor left holding nothing (the root stays).
func (f *family) prune(tr *trail) {
	d := tr.depth
	for d > 1 {
		p := tr.n[d-1]
		bm, _ := p.rib()
		if !bm.empty() || bits.OnesCount64(p.vec) > 1 {
			break
		}
		d--
	}
	p, s := tr.n[d-1], tr.slot[d-1]
	bm, vals := p.rib()
	old := p.kidSlice()
	r := bits.OnesCount64(p.vec & (1<<s - 1))
	var kids []node
	if len(old) > 1 {
		kids = make([]node, len(old)-1)
		copy(kids, old[:r])
		copy(kids[r:], old[r+1:])
	}
	f.publish(tr, d-1, build(p.vec&^(1<<s), kids, bm, vals, tr.def[d-1]))
}

// publish makes nn the replacement of trail node d with one atomic store:
// of the root pointer, or of the children pointer of node d-1, whose own
// shape (vec, leaves) is unchanged.
func (f *family) publish(tr *trail, d int, nn node) {
	if d == 0 {
		if tr.sub && nn.vec == 0 {
			if bm, _ := nn.rib(); bm.empty() {
				atomic.StorePointer(tr.root, nil)
				return
			}
		}
		if !tr.sub && nn.vec == 0 && nn.lvec == 1 {
			if bm, vals := nn.rib(); bm.empty() && nn.leaf(0) == 0 && len(vals) == 0 {
				atomic.StorePointer(tr.root, unsafe.Pointer(&emptyRoot))
				return
			}
		}
		atomic.StorePointer(tr.root, unsafe.Pointer(newRoot(nn)))
		return
	}
	p, s := tr.n[d-1], tr.slot[d-1]
	old := p.kidSlice()
	kids := make([]node, len(old))
	copy(kids, old)
	kids[bits.OnesCount64(p.vec&(1<<s-1))] = nn
	p.setKids(kids)
}

// chain returns a new chain of nodes from base from down to the node whose
// stride holds the prefix, holding only the route (plen, v) and inheriting
// kd: what a route below an empty slot or entry needs.
func chain(hi, lo uint64, from, plen int, v, kd uint32) node {
	b := from
	for plen > b+stride {
		b += stride
	}
	var nb ribBits
	nb.set(artIndex(plen-b, chunk(hi, lo, b)))
	kid := build(0, nil, nb, []uint32{v}, kd)
	for b -= stride; b >= from; b -= stride {
		kid = build(1<<chunk(hi, lo, b), []node{kid}, ribBits{}, nil, kd)
	}
	return kid
}

// build returns a node with the given children and routes whose leaves are
// pushed down from routes bm/vals and the inherited value def.
func build(vec uint64, kids []node, bm ribBits, vals []uint32, def uint32) node {
	// Paint every slot with the routes in index order: shorter prefixes
	// have smaller indices, so a longer one paints over them.
	var slot [64]uint32
	for s := range slot {
		slot[s] = def
	}
	k := 0
	for w := range bm {
		for m := bm[w]; m != 0; m &= m - 1 {
			i := uint(w*64 + bits.TrailingZeros64(m))
			l := uint(bits.Len(i) - 1)
			first := (i - 1<<l) << (stride - l)
			v := vals[k]
			for s := first; s < first+1<<(stride-l); s++ {
				slot[s&63] = v
			}
			k++
		}
	}
	var leaves [64]uint32
	var lvec uint64
	nl := 0
	for s := uint(0); s < 64; s++ {
		if vec>>s&1 != 0 {
			continue
		}
		if v := slot[s]; nl == 0 || v != leaves[nl-1] {
			lvec |= 1 << s
			leaves[nl] = v
			nl++
		}
	}
	return node{vec: vec, lvec: lvec, kids: kidsPtr(kids), blob: newBlob(leaves[:nl], bm, vals)}
}

// remake rebuilds n after its routes changed from (obm, ovals) under
// inherited value odef to (bm, vals) under def. Children whose inherited
// value changes are rebuilt too; the others are shared.
func remake(n *node, odef, def uint32, obm ribBits, ovals []uint32, bm ribBits, vals []uint32) node {
	old := n.kidSlice()
	var kids []node
	i := 0
	for v := n.vec; v != 0; v &= v - 1 {
		s := uint(bits.TrailingZeros64(v))
		if ov, nv := slotValue(obm, ovals, s, odef), slotValue(bm, vals, s, def); ov != nv {
			if kids == nil {
				kids = make([]node, len(old))
				copy(kids, old)
			}
			kb, kv := old[i].rib()
			kids[i] = remake(&old[i], ov, nv, kb, kv, kb, kv)
		}
		i++
	}
	if kids == nil {
		kids = old
	}
	return build(n.vec, kids, bm, vals, def)
}
