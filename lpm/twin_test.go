// The slow twin: a map per prefix length, looked up from the longest length
// down. Obviously right, and what the trie is compared against.

package lpm

import (
	"fmt"
	"math/bits"
	"net/netip"
)

type twin struct {
	m4 [33]map[netip.Prefix]uint32
	m6 [129]map[netip.Prefix]uint32
}

func newTwin() *twin {
	w := &twin{}
	for i := range w.m4 {
		w.m4[i] = map[netip.Prefix]uint32{}
	}
	for i := range w.m6 {
		w.m6[i] = map[netip.Prefix]uint32{}
	}
	return w
}

func (w *twin) maps(a netip.Addr) []map[netip.Prefix]uint32 {
	if a.Is4() {
		return w.m4[:]
	}
	return w.m6[:]
}

func (w *twin) insert(p netip.Prefix, nh uint32) {
	p = p.Masked()
	w.maps(p.Addr())[p.Bits()][p] = nh
}

func (w *twin) delete(p netip.Prefix) bool {
	p = p.Masked()
	m := w.maps(p.Addr())[p.Bits()]
	_, ok := m[p]
	delete(m, p)
	return ok
}

func (w *twin) get(p netip.Prefix) (uint32, bool) {
	p = p.Masked()
	nh, ok := w.maps(p.Addr())[p.Bits()][p]
	return nh, ok
}

func (w *twin) lookup(a netip.Addr) (uint32, bool) {
	ms := w.maps(a)
	for l := len(ms) - 1; l >= 0; l-- {
		if len(ms[l]) == 0 {
			continue
		}
		p, _ := a.Prefix(l)
		if nh, ok := ms[l][p]; ok {
			return nh, true
		}
	}
	return 0, false
}

func (w *twin) count() (n4, n6 int) {
	for _, m := range w.m4 {
		n4 += len(m)
	}
	for _, m := range w.m6 {
		n6 += len(m)
	}
	return n4, n6
}

// checkInvariants walks a family's trie and returns a description of the
// first broken structural rule, or "".
func checkInvariants(f *family) string {
	var rec func(n *node, depth int, isRoot bool) string
	rec = func(n *node, depth int, isRoot bool) string {
		bm, vals := n.rib()
		if len(vals) != bm.count() {
			return "rib values do not match bitmap"
		}
		if bm[0]&1 != 0 {
			return "ART index 0 set"
		}
		if !isRoot && bm.empty() && n.vec == 0 {
			return "empty non-root node"
		}
		if n.vec|n.lvec != n.vec^n.lvec {
			return "slot is both child and leaf-run start"
		}
		if n.vec != ^uint64(0) && n.lvec&(1<<bits.TrailingZeros64(^n.vec)) == 0 {
			return "first leaf slot does not start a run"
		}
		for i, v := range vals {
			if v == 0 {
				return "stored route without value at rank " + string(rune('0'+i%10))
			}
		}
		kids := n.kidSlice()
		for i := range kids {
			if msg := rec(&kids[i], depth+1, false); msg != "" {
				return msg
			}
		}
		return ""
	}
	if !f.isDirect() {
		if f.top != nil || f.short != nil {
			return "plain trie with a top level left over"
		}
		return rec((*node)(f.root), 0, true)
	}
	// The top level: every entry's leaf and length are those of the
	// longest short route covering it, painted here from scratch in
	// order of length; every subtrie holds something.
	tp := (*top)(f.top)
	var want [topSize]uint32
	var wantLen [topSize]uint8
	for l := 0; l <= topBits; l++ {
		for k, v := range f.short {
			if bits.Len32(k)-1 != l {
				continue
			}
			first := (k - 1<<l) << (topBits - l)
			for j := first; j < first+1<<(topBits-l); j++ {
				want[j], wantLen[j] = v, uint8(l+1)
			}
		}
	}
	for j := range tp.leaf {
		if tp.leaf[j] != want[j] || tp.llen[j] != wantLen[j] {
			return fmt.Sprintf("top entry %#x: leaf %d length %d, want %d length %d", j, tp.leaf[j], tp.llen[j], want[j], wantLen[j])
		}
		if k := (*node)(tp.kids[j]); k != nil {
			if msg := rec(k, 0, false); msg != "" {
				return fmt.Sprintf("top entry %#x: %s", j, msg)
			}
		}
	}
	return ""
}
