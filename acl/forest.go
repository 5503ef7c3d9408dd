// Boxes of one family flow in here and come out as a forest: usually one
// tree, several when rules with wildcards in different fields would make
// one tree replicate them into a cross product (see doc.go). Lookups search
// the trees in order of their best rule and stop when no later tree can win.

package acl

import "math"

// forest is the trees of one family, ordered by minRule.
type forest struct {
	nd    int
	trees []tree
}

// treeBudget bounds one tree's nodes plus leaf entries: generous for real
// rule sets (ClassBench fw1_1k needs about 64 per rule), small enough that
// an adversarial cross product is detected early and partitioned.
func treeBudget(boxes int) int { return 128*boxes + 4096 }

// linearMax is the size under which a partition that still blows up is
// stored as one leaf and scanned.
const linearMax = 32

func buildForest(nd, binth int, boxes []box) (forest, error) {
	f := forest{nd: nd}
	if len(boxes) == 0 {
		return f, nil
	}
	t, err := buildTree(nd, binth, treeBudget(len(boxes)), boxes)
	if err == nil {
		f.trees = []tree{t}
		return f, nil
	}
	if err != errBudget {
		return f, err
	}
	// EffiCuts-style: rules that are narrow in the same fields share a
	// tree, so no tree must cut a wildcard rule into pieces.
	var groups [8][]box
	for i := range boxes {
		g := shapeOf(nd, &boxes[i])
		groups[g] = append(groups[g], boxes[i])
	}
	for _, g := range groups {
		if err := f.addPart(binth, g); err != nil {
			return f, err
		}
	}
	// Trees in order of their best rule, so a lookup can stop early.
	for i := 1; i < len(f.trees); i++ {
		for j := i; j > 0 && f.trees[j].minRule < f.trees[j-1].minRule; j-- {
			f.trees[j], f.trees[j-1] = f.trees[j-1], f.trees[j]
		}
	}
	return f, nil
}

// addPart builds trees for one partition, halving it by priority while a
// tree stays over budget; a small partition that still blows up becomes a
// single leaf scanned linearly.
func (f *forest) addPart(binth int, boxes []box) error {
	if len(boxes) == 0 {
		return nil
	}
	budget := treeBudget(len(boxes))
	if len(boxes) <= linearMax {
		budget = 0
		binth = math.MaxInt32
	}
	t, err := buildTree(f.nd, binth, budget, boxes)
	switch {
	case err == nil:
		f.trees = append(f.trees, t)
		return nil
	case err != errBudget:
		return err
	}
	h := len(boxes) / 2
	if err := f.addPart(binth, boxes[:h]); err != nil {
		return err
	}
	return f.addPart(binth, boxes[h:])
}

// shapeOf classifies a box by which of source, destination and
// destination port are narrow.
func shapeOf(nd int, b *box) int {
	var src, dst bool
	if nd == dims4 {
		src = b.r[0].hi-b.r[0].lo < 1<<16
		dst = b.r[1].hi-b.r[1].lo < 1<<16
	} else {
		src = b.r[0].lo == b.r[0].hi && b.r[1].hi-b.r[1].lo < 1<<16
		dst = b.r[4].lo == b.r[4].hi && b.r[5].hi-b.r[5].lo < 1<<16
	}
	dport := b.r[nd-2].hi-b.r[nd-2].lo < 1024
	g := 0
	if src {
		g |= 1
	}
	if dst {
		g |= 2
	}
	if dport {
		g |= 4
	}
	return g
}

func (f *forest) lookup4(k *[maxDims]uint32) int32 {
	best := int32(-1)
	for i := range f.trees {
		t := &f.trees[i]
		if best >= 0 && t.minRule > best {
			break
		}
		if r := t.lookup4(k); r >= 0 && (best < 0 || r < best) {
			best = r
		}
	}
	return best
}

func (f *forest) lookup6(k *[maxDims]uint32) int32 {
	best := int32(-1)
	for i := range f.trees {
		t := &f.trees[i]
		if best >= 0 && t.minRule > best {
			break
		}
		if r := t.lookup6(k); r >= 0 && (best < 0 || r < best) {
			best = r
		}
	}
	return best
}
