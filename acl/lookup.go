// Keys flow in here as word arrays and leave as rule indices: every tree of
// a forest is walked at once, one lane per tree (and per key in a batch),
// for a fixed number of rounds, then each lane scans the leaf it reached
// and the lowest rule index wins.

package acl

// maxLanes is how many (tree, key) walks advance together. Each round
// issues one independent load per lane, so a lookup that visits several
// trees, or a batch that visits one, keeps up to maxLanes cache misses in
// flight instead of paying them one after another.
const maxLanes = 16

// noRule is -1 as an unsigned rule index: min over uint32 picks the first
// match and leaves noRule when nothing matched.
const noRule = ^uint32(0)

// zeroDim is a key word that is always zero (keys use dims6 = 11 of
// maxDims words). Leaves test it against their data offset, which never
// sends a lane right, so a lane that reached its leaf stays there and the
// walk needs no branch per lane (see leafNode).
const zeroDim = maxDims - 1

// leafNode encodes a leaf at node index self whose entries start at
// data[off]: a node that points back at itself.
func leafNode(self, off uint64) uint64 {
	return leafBit | self<<36 | zeroDim<<32 | off
}

// step is one round of a lane: the child of n that k falls in. An
// internal node goes right when key > threshold; the subtraction of two
// zero-extended words borrows into bit 63 exactly then.
func step(n uint64, k *[maxDims]uint32) uint64 {
	return (n>>36)&(maxNodes-1) + (uint64(uint32(n))-uint64(k[(n>>32)&15]))>>63
}

// walk1 advances lanes that all look up one key by rounds levels.
func walk1(nodes []uint64, cur []uint64, k *[maxDims]uint32, rounds int) {
	for range rounds {
		for i := range cur {
			cur[i] = nodes[step(cur[i], k)]
		}
	}
}

// walkN advances lanes by rounds levels; lane i looks up keys[kix[i]].
func walkN(nodes []uint64, cur []uint64, kix []uint8, keys [][maxDims]uint32, rounds int) {
	kix = kix[:len(cur)]
	for range rounds {
		for i := range cur {
			cur[i] = nodes[step(cur[i], &keys[kix[i]])]
		}
	}
}

// leaf scans the entries of the leaf node n for the first one containing
// k, unless the leaf's best rule cannot beat best.
func (f *forest) leaf(n uint64, k *[maxDims]uint32, best uint32) uint32 {
	off := uint32(n)
	if f.data[off+1] >= best {
		return noRule
	}
	if f.nd == dims4 {
		return leafMatch4(f.data, off, k)
	}
	return leafMatch6(f.data, off, k)
}

// leafMatch4 returns the rule of the first IPv4 entry of the leaf at
// data[off] containing k, or noRule. data[off] is the entry count,
// data[off+1] the first entry's rule (noRule if none); an entry is (lo, hi-lo) per dimension and the rule. A dimension matches
// when k-lo (mod 2^32) <= hi-lo; the five checks are folded into one
// sign bit so an entry costs one branch.
func leafMatch4(data []uint32, off uint32, k *[maxDims]uint32) uint32 {
	const stride = 2*dims4 + 1
	cnt := data[off]
	e := data[off+2 : off+2+cnt*stride]
	s, d, sp, dp, p := k[0], k[1], k[2], k[3], k[4]
	for ; len(e) >= stride; e = e[stride:] {
		bad := (uint64(e[1]) - uint64(s-e[0])) | (uint64(e[3]) - uint64(d-e[2])) |
			(uint64(e[5]) - uint64(sp-e[4])) | (uint64(e[7]) - uint64(dp-e[6])) |
			(uint64(e[9]) - uint64(p-e[8]))
		if bad>>63 == 0 {
			return e[10]
		}
	}
	return noRule
}

// leafMatch6 is leafMatch4 for the 11 dimensions of IPv6.
func leafMatch6(data []uint32, off uint32, k *[maxDims]uint32) uint32 {
	const stride = 2*dims6 + 1
	cnt := data[off]
	e := data[off+2 : off+2+cnt*stride]
	for ; len(e) >= stride; e = e[stride:] {
		var bad uint64
		for d := range dims6 {
			bad |= uint64(e[2*d+1]) - uint64(k[d]-e[2*d])
		}
		if bad>>63 == 0 {
			return e[stride-1]
		}
	}
	return noRule
}

// lookup returns the first rule matching k, or -1: the trees are walked
// maxLanes at a time, in order of their best rule, stopping when the next
// group cannot hold an earlier match.
func (f *forest) lookup(k *[maxDims]uint32) int32 {
	if f.scan != nil {
		return f.scanLookup(k)
	}
	best := noRule
	roots := f.roots
	var cur [maxLanes]uint64
	for len(roots) > 0 {
		g := roots[:min(len(roots), maxLanes)]
		roots = roots[len(g):]
		if best < uint32(g[0].minRule) {
			break
		}
		rounds := 0
		for i := range g {
			cur[i] = g[i].root
			rounds = max(rounds, g[i].depth)
		}
		walk1(f.nodes, cur[:len(g)], k, rounds)
		for i := range g {
			best = min(best, f.leaf(cur[i], k, best))
		}
	}
	return int32(best)
}

// keysPerWalk is how many keys a batch walks together: enough that keys
// times trees fills the lanes, at least one.
func (f *forest) keysPerWalk() int {
	return max(1, maxLanes/max(1, len(f.roots)))
}

// lookupN looks up keys[:n] together (n*len(roots) <= maxLanes) into res.
func (f *forest) lookupN(keys *[maxLanes][maxDims]uint32, n int, res *[maxLanes]int32) {
	if n*len(f.roots) > maxLanes || len(f.roots) == 0 || f.scan != nil {
		for j := range n {
			res[j] = f.lookup(&keys[j])
		}
		return
	}
	var cur [maxLanes]uint64
	var kix [maxLanes]uint8
	lanes := 0
	for j := range n {
		for t := range f.roots {
			cur[lanes], kix[lanes] = f.roots[t].root, uint8(j)
			lanes++
		}
	}
	walkN(f.nodes, cur[:lanes], kix[:lanes], keys[:n], f.depth)
	var best [maxLanes]uint32
	for j := range n {
		best[j] = noRule
	}
	for l := range lanes {
		j := kix[l] & (maxLanes - 1)
		best[j] = min(best[j], f.leaf(cur[l], &keys[j], best[j]))
	}
	for j := range n {
		res[j] = int32(best[j])
	}
}

// batch collects the keys of one family of a MatchBatch call until a
// walk's worth is ready.
type batch struct {
	f    *forest
	per  int // keys per walk
	n    int
	keys [maxLanes][maxDims]uint32
	pos  [maxLanes]int
	res  [maxLanes]int32
}

// next returns the key slot for the key at position i of the batch.
func (b *batch) next(i int) *[maxDims]uint32 {
	k := &b.keys[b.n&(maxLanes-1)]
	*k = [maxDims]uint32{}
	b.pos[b.n&(maxLanes-1)] = i
	b.n++
	return k
}

// flush looks up the collected keys and writes their answers to out.
func (b *batch) flush(out []int32) {
	if b.n == 0 {
		return
	}
	b.f.lookupN(&b.keys, b.n, &b.res)
	for j := range b.n {
		out[b.pos[j]] = b.res[j]
	}
	b.n = 0
}

// scanLookup is the first rule (in order) one of whose boxes holds k.
func (f *forest) scanLookup(k *[maxDims]uint32) int32 {
	nd := f.nd
	for i := range f.scan {
		r := &f.scan[i]
	boxes:
		for j := range r.boxes {
			b := &r.boxes[j]
			for d := range nd {
				if k[d] < b.r[d].lo || k[d] > b.r[d].hi {
					continue boxes
				}
			}
			return r.rule
		}
	}
	return -1
}
