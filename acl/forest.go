// Boxes of one family flow in here and come out as a forest: usually one
// tree, several when rules with wildcards in different fields would make
// one tree replicate them into a cross product (see doc.go). Lookups search
// the trees in order of their best rule and stop when no later tree can win.

package acl

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// forest is the trees of one family, ordered by minRule. Their nodes and
// leaf entries live in two shared arrays, so a lookup can walk every tree
// at once: one lane per tree (and per key in a batch), each step of each
// lane an independent load, which keeps several cache misses in flight
// instead of paying them one tree after another.
type forest struct {
	nd    int
	depth int // deepest leaf of any tree: the rounds of a batch walk
	roots []forestTree
	nodes []uint64 // every tree's nodes; child and leaf offsets are absolute
	data  []uint32 // every tree's leaf entries

	// scan, when set, replaces the trees: a first-match walk over the
	// rules' boxes (a deferred classifier before Optimize).
	scan []scanRule
}

// forestTree is one tree of a forest: where its root is and what it holds.
type forestTree struct {
	root    uint64 // the root node itself (a copy of nodes[rootIndex])
	minRule int32
	depth   int
	nodes   int // nodes in the tree
	entries int // leaf entries in the tree
}

// add moves t's nodes and entries into the shared arrays, relocating
// child indices and leaf offsets.
func (f *forest) add(t *tree) error {
	nb, db := uint64(len(f.nodes)), uint64(len(f.data))
	if int(nb)+len(t.nodes) > maxNodes || int(db)+len(t.data) > maxLeafWs {
		return fmt.Errorf("acl: decision trees exceed %d nodes or %d leaf words", maxNodes, maxLeafWs)
	}
	if len(t.nodes) == 0 {
		return nil
	}
	for _, n := range t.nodes {
		n += nb << 36 // child index, or a leaf's own index
		if n&leafBit != 0 {
			n += db // offset in bits 0-31, checked above not to overflow
		}
		f.nodes = append(f.nodes, n)
	}
	if db == 0 {
		f.data = t.data // the first tree's: no copy (t is not used again)
	} else {
		f.data = append(f.data, t.data...)
	}
	f.roots = append(f.roots, forestTree{root: f.nodes[nb], minRule: t.minRule, depth: t.depth,
		nodes: len(t.nodes), entries: t.entries})
	f.depth = max(f.depth, t.depth)
	return nil
}

// treeBudget bounds one tree's nodes plus leaf entries: generous for real
// rule sets (ClassBench fw1_1k needs about 64 per rule), small enough that
// an adversarial cross product is detected early and partitioned.
func treeBudget(boxes int) int { return 128*boxes + 4096 }

// wholeBudget bounds the first attempt, one tree over every box of a
// family. Sets that fit one tree need about 5 nodes plus entries per rule
// (ClassBench acl1_10k); the sets that need more are the wildcard-heavy
// ones that partitioning serves better, and giving up early keeps their
// build time to the partitions' (acl4_10k fits one tree at about 75 per
// rule, but that tree is 25 MiB and walks no faster than four small ones).
func wholeBudget(boxes int) int { return 16*boxes + 4096 }

// linearMax is the size under which a partition that still blows up is
// stored as one leaf and scanned.
const linearMax = 32

func buildForest(nd, binth int, boxes []box) (forest, error) {
	f := forest{nd: nd}
	if len(boxes) == 0 {
		return f, nil
	}
	t, err := buildTree(nd, binth, wholeBudget(len(boxes)), boxes)
	if err == nil {
		return f, f.add(&t)
	}
	if err != errBudget {
		return f, err
	}
	var trees []tree
	// EffiCuts-style: rules that are narrow in the same fields share a
	// tree, so no tree must cut a wildcard rule into pieces.
	var groups [3][]box
	for i := range boxes {
		g := shapeOf(nd, &boxes[i])
		groups[g] = append(groups[g], boxes[i])
	}
	for _, g := range groups {
		if err := addPart(&trees, nd, binth, g); err != nil {
			return f, err
		}
	}
	// Trees in order of their best rule, so a lookup can stop early.
	slices.SortStableFunc(trees, func(a, b tree) int { return cmp.Compare(a.minRule, b.minRule) })
	for i := range trees {
		if err := f.add(&trees[i]); err != nil {
			return f, err
		}
	}
	return f, nil
}

// addPart builds trees for one partition, halving it by priority while a
// tree stays over budget; a small partition that still blows up becomes a
// single leaf scanned linearly.
func addPart(trees *[]tree, nd, binth int, boxes []box) error {
	if len(boxes) == 0 {
		return nil
	}
	budget := treeBudget(len(boxes))
	if len(boxes) <= linearMax {
		budget = 0
		binth = math.MaxInt32
	}
	t, err := buildTree(nd, binth, budget, boxes)
	switch {
	case err == nil:
		*trees = append(*trees, t)
		return nil
	case err != errBudget:
		return err
	}
	h := len(boxes) / 2
	if err := addPart(trees, nd, binth, boxes[:h]); err != nil {
		return err
	}
	return addPart(trees, nd, binth, boxes[h:])
}

// shapeOf classifies a box by which of source and destination are narrow
// (IPv4: under a /16; IPv6: within one /48): source-narrow (with or without
// a narrow destination), destination-only, or neither. Fewer groups mean
// fewer trees per lookup; on the ClassBench 10k sets these three walk
// about 1.5x faster than EffiCuts' eight (source, destination, port), and
// the extra replication is small because a tree over source-narrow rules
// splits on the source first.
func shapeOf(nd int, b *box) int {
	var src, dst bool
	if nd == dims4 {
		src = b.r[0].hi-b.r[0].lo < 1<<16
		dst = b.r[1].hi-b.r[1].lo < 1<<16
	} else {
		src = b.r[0].lo == b.r[0].hi && b.r[1].hi-b.r[1].lo < 1<<16
		dst = b.r[4].lo == b.r[4].hi && b.r[5].hi-b.r[5].lo < 1<<16
	}
	g := 0
	if src {
		g |= 1
	}
	if dst {
		g |= 2
	}
	if g == 3 {
		// Narrow in both: a source tree splits them as well as its own.
		g = 1
	}
	return g
}
