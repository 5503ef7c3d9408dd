// Keys flow in here as word arrays and leave as rule indices: each tree of
// a forest is walked by several keys at once (or a key walks several trees
// at once), each lane's node in a register, then each key scans the leaves
// it reached in order of their tree's best rule and the lowest rule index
// wins.

package acl

// Lane widths. A lane's step is one load that depends on the previous one;
// walking several lanes in one loop, each in its own register, overlaps
// those loads and keeps a step to about ten instructions (no lane array in
// memory, no per-lane key index).
const (
	keyLanes  = 8  // keys walking one tree together in a batch (walk8)
	treeLanes = 4  // trees one key walks together (walk4)
	batchKeys = 32 // keys of one family a batch collects before walking (a multiple of keyLanes)
)

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

// walk8 walks eight keys down one tree from root for at most rounds
// levels (the tree's depth), stopping early once every lane is on a leaf,
// and stores the leaves reached in out.
func walk8(nodes []uint64, root uint64, k *[keyLanes][maxDims]uint32, rounds int, out *[keyLanes]uint64) {
	c0, c1, c2, c3, c4, c5, c6, c7 := root, root, root, root, root, root, root, root
	for range rounds {
		c0 = nodes[step(c0, &k[0])]
		c1 = nodes[step(c1, &k[1])]
		c2 = nodes[step(c2, &k[2])]
		c3 = nodes[step(c3, &k[3])]
		c4 = nodes[step(c4, &k[4])]
		c5 = nodes[step(c5, &k[5])]
		c6 = nodes[step(c6, &k[6])]
		c7 = nodes[step(c7, &k[7])]
		if c0&c1&c2&c3&c4&c5&c6&c7&leafBit != 0 {
			break
		}
	}
	out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = c0, c1, c2, c3, c4, c5, c6, c7
}

// walk1 walks one key down one tree from c for at most rounds levels,
// stopping at the leaf.
func walk1(nodes []uint64, c uint64, k *[maxDims]uint32, rounds int) uint64 {
	for range rounds {
		if c&leafBit != 0 {
			break
		}
		c = nodes[step(c, k)]
	}
	return c
}

// walk2 walks one key down two trees from the nodes in c for at most
// rounds levels, stopping early once both lanes are on a leaf.
func walk2(nodes []uint64, c *[treeLanes]uint64, k *[maxDims]uint32, rounds int) {
	c0, c1 := c[0], c[1]
	for range rounds {
		c0 = nodes[step(c0, k)]
		c1 = nodes[step(c1, k)]
		if c0&c1&leafBit != 0 {
			break
		}
	}
	c[0], c[1] = c0, c1
}

// walk4 walks one key down four trees from the nodes in c for at most
// rounds levels, stopping early once every lane is on a leaf.
func walk4(nodes []uint64, c *[treeLanes]uint64, k *[maxDims]uint32, rounds int) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	for range rounds {
		c0 = nodes[step(c0, k)]
		c1 = nodes[step(c1, k)]
		c2 = nodes[step(c2, k)]
		c3 = nodes[step(c3, k)]
		if c0&c1&c2&c3&leafBit != 0 {
			break
		}
	}
	c[0], c[1], c[2], c[3] = c0, c1, c2, c3
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
// data[off+1] the first entry's rule (noRule if none); an entry is laid
// out as appendEntry4 says. An address matches when k-lo (mod 2^32) <=
// hi-lo. The ports and protocol are checked at once: the key's packed
// fields with their guard bits minus the packed lows keeps a field's
// guard exactly when k >= lo, and the packed spans with guards minus
// those differences keeps it exactly when k-lo <= hi-lo. The checks fold
// into one test so an entry costs one branch.
func leafMatch4(data []uint32, off uint32, k *[maxDims]uint32) uint32 {
	cnt := data[off]
	e := data[off+2 : off+2+cnt*stride4]
	s, d := k[0], k[1]
	pk := pack4(k[2], k[3], k[4]) | guards4
	for ; len(e) >= stride4; e = e[stride4:] {
		diff := pk - (uint64(e[4]) | uint64(e[5])<<32)
		fit := (uint64(e[6]) | uint64(e[7])<<32) - diff&^guards4
		bad := (uint64(e[1]) - uint64(s-e[0])) | (uint64(e[3]) - uint64(d-e[2]))
		if bad>>63|(diff&fit&guards4^guards4) == 0 {
			return e[8]
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
// treeLanes at a time, in order of their best rule, stopping when the next
// group cannot hold an earlier match.
func (f *forest) lookup(k *[maxDims]uint32) int32 {
	if f.scan != nil {
		return f.scanLookup(k)
	}
	best := noRule
	roots := f.roots
	for len(roots) > 0 {
		g := roots[:min(len(roots), treeLanes)]
		roots = roots[len(g):]
		if best < uint32(g[0].minRule) {
			break
		}
		// A group of three repeats its last tree in the spare lane.
		var cur [treeLanes]uint64
		rounds := 0
		for i := range cur {
			t := &g[min(i, len(g)-1)]
			cur[i] = t.root
			rounds = max(rounds, t.depth)
		}
		switch len(g) {
		case 1:
			cur[0] = walk1(f.nodes, cur[0], k, rounds)
		case 2:
			walk2(f.nodes, &cur, k, rounds)
		default:
			walk4(f.nodes, &cur, k, rounds)
		}
		for i := range g {
			best = min(best, f.leaf(cur[i], k, best))
		}
	}
	return int32(best)
}

// lookupN looks up keys[:n] into res. Tree by tree in order of their best
// rule, the keys walk it keyLanes at a time (a block whose keys all
// matched a better rule already skips it), then scan the leaves they
// reached; keys past n are walked as padding and ignored.
func (f *forest) lookupN(keys *[batchKeys][maxDims]uint32, n int, res *[batchKeys]int32) {
	if f.scan != nil {
		for j := range n {
			res[j] = f.lookup(&keys[j])
		}
		return
	}
	var best [batchKeys]uint32
	for j := range n {
		best[j] = noRule
	}
	var leaves [batchKeys]uint64
	for t := range f.roots {
		r := &f.roots[t]
		floor := uint32(r.minRule)
		walked := false
		for j := 0; j < n; j += keyLanes {
			b := (*[keyLanes]uint32)(best[j : j+keyLanes])
			if max(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]) < floor {
				continue
			}
			walk8(f.nodes, r.root, (*[keyLanes][maxDims]uint32)(keys[j:j+keyLanes]), r.depth,
				(*[keyLanes]uint64)(leaves[j:j+keyLanes]))
			for i := j; i < j+keyLanes && i < n; i++ {
				best[i] = min(best[i], f.leaf(leaves[i], &keys[i], best[i]))
			}
			walked = true
		}
		if !walked {
			break // trees are in order of minRule: no later one can win either
		}
	}
	for j := range n {
		res[j] = int32(best[j])
	}
}

// batch collects the keys of one family of a MatchBatch call until a
// walk's worth is ready.
type batch struct {
	f    *forest
	n    int
	keys [batchKeys][maxDims]uint32
	pos  [batchKeys]int
	res  [batchKeys]int32
}

// next returns the key slot for the key at position i of the batch.
func (b *batch) next(i int) *[maxDims]uint32 {
	k := &b.keys[b.n&(batchKeys-1)]
	*k = [maxDims]uint32{}
	b.pos[b.n&(batchKeys-1)] = i
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
