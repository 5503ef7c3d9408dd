// Address sets flow through here while policy compiles: nets, notNets and
// selector-resolved endpoint addresses become sorted interval lists, are
// intersected and subtracted, and leave as classifier ranges: one uint32
// range per interval for IPv4, a few boxes over the address words for IPv6. Control path only.

package acl

import (
	"math/bits"
	"net/netip"
	"slices"
)

// u128 is an address as an integer; IPv4 uses the low 32 bits.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi || a.hi == b.hi && a.lo < b.lo:
		return -1
	case a == b:
		return 0
	}
	return 1
}

func (a u128) add1() u128 {
	lo, c := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + c, lo}
}

func (a u128) sub1() u128 {
	lo, b := bits.Sub64(a.lo, 1, 0)
	return u128{a.hi - b, lo}
}

// hostMask returns the low k bits set.
func hostMask(k int) u128 {
	switch {
	case k >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case k >= 64:
		return u128{^uint64(0) >> (128 - k), ^uint64(0)}
	case k == 0:
		return u128{}
	}
	return u128{0, ^uint64(0) >> (64 - k)}
}

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }
func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var v u128
	for i := range 8 {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

type ival struct{ lo, hi u128 }

// addrSet is a sorted list of disjoint, non-adjacent intervals of one family.
type addrSet []ival

func fullSet(v4 bool) addrSet {
	if v4 {
		return addrSet{{u128{}, hostMask(32)}}
	}
	return addrSet{{u128{}, hostMask(128)}}
}

// setOf builds the set covered by prefixes (all of one family).
func setOf(ps []netip.Prefix) addrSet {
	var s addrSet
	for _, p := range ps {
		lo := addrU128(p.Masked().Addr())
		width := 128
		if p.Addr().Is4() {
			width = 32
		}
		s = append(s, ival{lo, lo.or(hostMask(width - p.Bits()))})
	}
	slices.SortFunc(s, func(a, b ival) int { return a.lo.cmp(b.lo) })
	var out addrSet
	for _, iv := range s {
		if n := len(out); n > 0 && (out[n-1].hi == hostMask(128) || out[n-1].hi.add1().cmp(iv.lo) >= 0) {
			if iv.hi.cmp(out[n-1].hi) > 0 {
				out[n-1].hi = iv.hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

func intersect(a, b addrSet) addrSet {
	var out addrSet
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := a[i].lo, a[i].hi
		if b[j].lo.cmp(lo) > 0 {
			lo = b[j].lo
		}
		if b[j].hi.cmp(hi) < 0 {
			hi = b[j].hi
		}
		if lo.cmp(hi) <= 0 {
			out = append(out, ival{lo, hi})
		}
		if a[i].hi.cmp(b[j].hi) < 0 {
			i++
		} else {
			j++
		}
	}
	return out
}

func subtract(a, b addrSet) addrSet {
	var out addrSet
	j := 0
	for _, iv := range a {
		lo := iv.lo
		done := false
		for j < len(b) && b[j].hi.cmp(lo) < 0 {
			j++
		}
		for k := j; k < len(b) && b[k].lo.cmp(iv.hi) <= 0; k++ {
			if b[k].lo.cmp(lo) > 0 {
				out = append(out, ival{lo, b[k].lo.sub1()})
			}
			if b[k].hi.cmp(iv.hi) >= 0 {
				done = true
				break
			}
			lo = b[k].hi.add1()
		}
		if !done {
			out = append(out, ival{lo, iv.hi})
		}
	}
	return out
}

// words6 returns an IPv6 set as boxes over the four 32-bit words of the
// address (the classifier's IPv6 dimensions): each interval needs at most
// seven boxes, where prefix decomposition may need 254 prefixes.
func (s addrSet) words6() [][4]rng {
	var out [][4]rng
	for _, iv := range s {
		lo, hi := words(iv.lo), words(iv.hi)
		var cur [4]rng
		out = splitWords(out, &cur, lo, hi, 0, true, true)
	}
	return out
}

func words(v u128) [4]uint32 {
	return [4]uint32{uint32(v.hi >> 32), uint32(v.hi), uint32(v.lo >> 32), uint32(v.lo)}
}

// splitWords appends the boxes covering [lo, hi] from word level on;
// loTight/hiTight say whether the bound still applies at this level (the
// words above equal the bound's).
func splitWords(out [][4]rng, cur *[4]rng, lo, hi [4]uint32, level int, loTight, hiTight bool) [][4]rng {
	if level == 4 {
		return append(out, *cur)
	}
	l, h := uint32(0), ^uint32(0)
	if loTight {
		l = lo[level]
	}
	if hiTight {
		h = hi[level]
	}
	restMin := func(w [4]uint32) bool { // the words after level are all 0
		for i := level + 1; i < 4; i++ {
			if w[i] != 0 {
				return false
			}
		}
		return true
	}
	restMax := func(w [4]uint32) bool {
		for i := level + 1; i < 4; i++ {
			if w[i] != ^uint32(0) {
				return false
			}
		}
		return true
	}
	if !loTight && !hiTight {
		for i := level; i < 4; i++ {
			cur[i] = rng{0, ^uint32(0)}
		}
		return append(out, *cur)
	}
	if l == h {
		cur[level] = rng{l, l}
		return splitWords(out, cur, lo, hi, level+1, loTight, hiTight)
	}
	// The middle words take any value below; the edge words keep their
	// bound unless that bound is the extreme of the rest anyway.
	midLo, midHi := l, h
	if loTight && !restMin(lo) {
		cur[level] = rng{l, l}
		out = splitWords(out, cur, lo, hi, level+1, true, false)
		midLo = l + 1
	}
	if hiTight && !restMax(hi) {
		midHi = h - 1
	}
	if midLo <= midHi && !(hiTight && !restMax(hi) && h == 0) {
		cur[level] = rng{midLo, midHi}
		for i := level + 1; i < 4; i++ {
			cur[i] = rng{0, ^uint32(0)}
		}
		out = append(out, *cur)
	}
	if hiTight && !restMax(hi) {
		cur[level] = rng{h, h}
		out = splitWords(out, cur, lo, hi, level+1, false, true)
	}
	return out
}

// valueRanges subtracts sorted-merged ranges of small integers (ports,
// protocols, ICMP types): the result of all \ minus, as ranges.
func subtractRanges(all []rng, minus []rng) []rng {
	var out []rng
	for _, r := range mergeRanges(all) {
		lo := r.lo
		done := false
		for _, m := range mergeRanges(minus) {
			if m.hi < lo || m.lo > r.hi {
				continue
			}
			if m.lo > lo {
				out = append(out, rng{lo, m.lo - 1})
			}
			if m.hi >= r.hi {
				done = true
				break
			}
			lo = m.hi + 1
		}
		if !done {
			out = append(out, rng{lo, r.hi})
		}
	}
	return out
}

func mergeRanges(rs []rng) []rng {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b rng) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	var out []rng
	for _, r := range rs {
		if n := len(out); n > 0 && uint64(out[n-1].hi)+1 >= uint64(r.lo) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}
