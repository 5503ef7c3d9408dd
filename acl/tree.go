// Boxes flow into the builder and come out as a flat decision tree: an
// array of 64-bit nodes (binary splits on one dimension at a threshold) and
// an array of leaf entries (the few boxes left in a leaf, in priority order,
// checked one by one). Lookups walk the nodes with one compare per level.

package acl

import (
	"errors"
	"fmt"
	"slices"
)

// Node encoding (uint64):
//
//	internal: bits 0-31 threshold, 32-35 dimension, 36-62 index of the left
//	          child (the right child follows it); go right when key > threshold.
//	leaf:     bit 63 set, bits 0-31 offset of its entries in data, bits
//	          32-35 zeroDim, bits 36-62 its own index: a lane that reached a
//	          leaf stays on it (see leafNode and step in lookup.go).
//
// A leaf's entries are a count and the first entry's rule, then the
// entries (leafStride words each): (lo, hi-lo) pairs and the rule index,
// IPv4's ports and protocol packed (appendEntry4), so a range check is one
// subtraction and one compare (see leafMatch4).
const (
	leafBit   = uint64(1) << 63
	maxNodes  = 1 << 27
	maxLeafWs = 1<<32 - 1
)

// defaultBinth is the most boxes a leaf holds before the builder splits
// it further. Smaller leaves mean deeper trees and more replication;
// 8 keeps the leaf scan within two or three cache lines for IPv4.
const defaultBinth = 8

// tree is one decision tree as the builder makes it; buildForest moves
// its nodes and leaf entries into the forest's shared arrays.
type tree struct {
	nd      int
	minRule int32 // lowest rule index in the tree: lookups skip trees that cannot win
	nodes   []uint64
	data    []uint32
	entries int // leaf entries
	depth   int
}

// builder grows one tree (HyperSplit-style, see doc.go).
type builder struct {
	nd     int
	binth  int
	budget int // nodes plus leaf entries allowed before giving up with errBudget
	boxes  []box
	t      tree
	pts    []uint32 // scratch: segment starts
	diff   []int32  // scratch: weight deltas per segment
}

var errBudget = errors.New("acl: decision tree over budget")

// buildTree builds one tree over boxes (in priority order). budget <= 0
// means no budget.
func buildTree(nd, binth, budget int, boxes []box) (tree, error) {
	b := &builder{nd: nd, binth: binth, budget: budget, boxes: boxes, t: tree{nd: nd}}
	if len(boxes) == 0 {
		return b.t, nil
	}
	b.t.minRule = boxes[0].rule
	var region [dims6]rng
	for d := range nd {
		region[d] = rng{0, ^uint32(0)}
	}
	ids := make([]int32, len(boxes))
	for i := range ids {
		ids[i] = int32(i)
	}
	b.t.nodes = append(b.t.nodes, 0)
	if err := b.build(0, &region, ids, 0); err != nil {
		return tree{}, err
	}
	return b.t, nil
}

func (b *builder) covers(i int32, region *[dims6]rng) bool {
	r := &b.boxes[i].r
	for d := range b.nd {
		if r[d].lo > region[d].lo || r[d].hi < region[d].hi {
			return false
		}
	}
	return true
}

func (b *builder) build(at int, region *[dims6]rng, ids []int32, depth int) error {
	b.t.depth = max(b.t.depth, depth)
	// Boxes after the first one covering the whole region can never be
	// the first match inside it.
	for i, id := range ids {
		if b.covers(id, region) {
			ids = ids[:i+1]
			break
		}
	}
	if len(ids) <= b.binth {
		return b.leaf(at, ids)
	}
	bestDim, bestThr, bestCost, bestMax := -1, uint32(0), 0, 0
	for d := range b.nd {
		thr, ok := b.threshold(d, region[d], ids)
		if !ok {
			continue
		}
		nl, nr := 0, 0
		for _, id := range ids {
			r := b.boxes[id].r[d]
			if r.lo <= thr {
				nl++
			}
			if r.hi > thr {
				nr++
			}
		}
		cost, mx := nl+nr, max(nl, nr)
		if bestDim < 0 || cost < bestCost || cost == bestCost && mx < bestMax {
			bestDim, bestThr, bestCost, bestMax = d, thr, cost, mx
		}
	}
	if bestDim < 0 {
		// Every box spans the region in every dimension, so the first
		// one covers it and the loop above cut the list to one box.
		return b.leaf(at, ids)
	}
	left := make([]int32, 0, len(ids))
	right := make([]int32, 0, len(ids))
	for _, id := range ids {
		r := b.boxes[id].r[bestDim]
		if r.lo <= bestThr {
			left = append(left, id)
		}
		if r.hi > bestThr {
			right = append(right, id)
		}
	}
	c := len(b.t.nodes)
	if b.budget > 0 && c+len(b.t.data)/leafStride(b.nd) > b.budget {
		return errBudget
	}
	if c+2 > maxNodes {
		return fmt.Errorf("acl: decision tree exceeds %d nodes", maxNodes)
	}
	b.t.nodes = append(b.t.nodes, 0, 0)
	b.t.nodes[at] = uint64(c)<<36 | uint64(bestDim)<<32 | uint64(bestThr)
	saved := region[bestDim]
	region[bestDim].hi = bestThr
	if err := b.build(c, region, left, depth+1); err != nil {
		return err
	}
	region[bestDim] = rng{bestThr + 1, saved.hi}
	err := b.build(c+1, region, right, depth+1)
	region[bestDim] = saved
	return err
}

// threshold picks the split point of dimension d inside reg: the region is
// cut into elementary segments at every box edge, each segment weighs the
// number of boxes overlapping it, and the split falls where the cumulative
// weight reaches half (HyperSplit's weighted segment heuristic). ok is
// false when the boxes do not cut the region in this dimension.
func (b *builder) threshold(d int, reg rng, ids []int32) (uint32, bool) {
	pts := append(b.pts[:0], reg.lo)
	for _, id := range ids {
		r := b.boxes[id].r[d]
		if r.lo > reg.lo {
			pts = append(pts, r.lo)
		}
		if r.hi < reg.hi {
			pts = append(pts, r.hi+1)
		}
	}
	slices.Sort(pts)
	pts = slices.Compact(pts)
	b.pts = pts
	m := len(pts)
	if m < 2 {
		return 0, false
	}
	diff := b.diff[:0]
	for range m + 1 {
		diff = append(diff, 0)
	}
	b.diff = diff
	for _, id := range ids {
		r := b.boxes[id].r[d]
		lo, hi := max(r.lo, reg.lo), min(r.hi, reg.hi)
		s, _ := slices.BinarySearch(pts, lo)
		e := m // one past the last segment the box overlaps
		if hi < reg.hi {
			e, _ = slices.BinarySearch(pts, hi+1)
		}
		diff[s]++
		diff[e]--
	}
	var total int64
	var w int32
	for i := range m {
		w += diff[i]
		total += int64(w)
	}
	var cum int64
	w = 0
	for j := range m - 1 {
		w += diff[j]
		cum += int64(w)
		if 2*cum >= total {
			return pts[j+1] - 1, true
		}
	}
	return pts[m-1] - 1, true
}

func (b *builder) leaf(at int, ids []int32) error {
	stride := leafStride(b.nd)
	if b.nd == dims4 {
		// Port and protocol ranges past 16 bits only hold values no key
		// has: clipped, or dropped when nothing of them is left.
		kept := ids[:0:0]
		for _, id := range ids {
			bx := &b.boxes[id]
			if bx.r[2].lo <= 0xffff && bx.r[3].lo <= 0xffff && bx.r[4].lo <= 0xffff {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	off := len(b.t.data)
	if off+2+len(ids)*stride > maxLeafWs {
		return fmt.Errorf("acl: decision tree leaves exceed %d words", maxLeafWs)
	}
	first := noRule
	if len(ids) > 0 {
		first = uint32(b.boxes[ids[0]].rule)
	}
	b.t.data = slices.Grow(b.t.data, 2+len(ids)*stride)
	b.t.data = append(b.t.data, uint32(len(ids)), first)
	for _, id := range ids {
		bx := &b.boxes[id]
		if b.nd == dims4 {
			b.t.data = appendEntry4(b.t.data, bx)
			continue
		}
		for d := range b.nd {
			b.t.data = append(b.t.data, bx.r[d].lo, bx.r[d].hi-bx.r[d].lo)
		}
		b.t.data = append(b.t.data, uint32(bx.rule))
	}
	b.t.entries += len(ids)
	b.t.nodes[at] = leafNode(uint64(at), uint64(off))
	return nil
}

// leafStride is the words of one leaf entry: for IPv6 (lo, hi-lo) per
// dimension and the rule; for IPv4 the addresses so, then the ports and
// protocol packed into two 64-bit words (see appendEntry4) and the rule.
func leafStride(nd int) int {
	if nd == dims4 {
		return stride4
	}
	return 2*nd + 1
}

// IPv4 leaf entries check source port, destination port and protocol in
// one 64-bit subtraction each for lo and for hi-lo: each field has a
// 21-bit slot, 16 bits of value and a guard bit above them that a key
// sets and a borrow clears (SWAR, as in bit-parallel string matching).
const (
	stride4   = 9
	slotDport = 21
	slotSport = 42
	guards4   = 1<<16 | 1<<(slotDport+16) | 1<<(slotSport+16)
)

// pack4 places sport, dport and protocol into their slots.
func pack4(sp, dp, p uint32) uint64 {
	return uint64(sp)<<slotSport | uint64(dp)<<slotDport | uint64(p)
}

// appendEntry4 appends an IPv4 entry: src lo, src hi-lo, dst lo, dst
// hi-lo, the packed lows (low word, high word), the packed spans with the
// guard bits (low, high), the rule. The caller dropped boxes whose port or
// protocol range starts past 16 bits; ends past it are clipped.
func appendEntry4(data []uint32, bx *box) []uint32 {
	var lo, span [3]uint32
	for i := range 3 {
		r := bx.r[2+i]
		lo[i], span[i] = r.lo, min(r.hi, 0xffff)-r.lo
	}
	l := pack4(lo[0], lo[1], lo[2])
	s := pack4(span[0], span[1], span[2]) | guards4
	return append(data, bx.r[0].lo, bx.r[0].hi-bx.r[0].lo, bx.r[1].lo, bx.r[1].hi-bx.r[1].lo,
		uint32(l), uint32(l>>32), uint32(s), uint32(s>>32), uint32(bx.rule))
}
