package acl

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrSetWords6 checks set algebra and the word-box decomposition
// against direct membership on random addresses near the edges.
func TestAddrSetWords6(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	for round := range 300 {
		var pos, neg []netip.Prefix
		for range 1 + rnd.IntN(3) {
			pos = append(pos, randPrefix(rnd, true))
		}
		for range rnd.IntN(4) {
			neg = append(neg, randPrefix(rnd, true))
		}
		set := subtract(setOf(pos), setOf(neg))
		boxes := set.words6()
		in := func(a netip.Addr) bool {
			hit := false
			for _, p := range pos {
				hit = hit || p.Contains(a)
			}
			for _, p := range neg {
				hit = hit && !p.Contains(a)
			}
			return hit
		}
		for range 200 {
			var a netip.Addr
			if rnd.IntN(2) == 0 {
				a = pointNear(rnd, pos[rnd.IntN(len(pos))], true)
			} else if len(neg) > 0 {
				a = pointNear(rnd, neg[rnd.IntN(len(neg))], true)
			} else {
				a = pointNear(rnd, randPrefix(rnd, true), true)
			}
			w := words(addrU128(a))
			got := false
			for _, b := range boxes {
				if w[0] >= b[0].lo && w[0] <= b[0].hi && w[1] >= b[1].lo && w[1] <= b[1].hi &&
					w[2] >= b[2].lo && w[2] <= b[2].hi && w[3] >= b[3].lo && w[3] <= b[3].hi {
					if got {
						t.Fatalf("round %d: %v in two boxes of %v", round, a, boxes)
					}
					got = true
				}
			}
			if want := in(a); got != want {
				t.Fatalf("round %d: pos %v neg %v: %v in boxes = %v, want %v (boxes %v)", round, pos, neg, a, got, want, boxes)
			}
		}
	}
}
