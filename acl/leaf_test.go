package acl

import (
	"math/rand/v2"
	"testing"
)

// contains4 is the slow twin of an IPv4 leaf entry's check.
func contains4(bx *box, k *[maxDims]uint32) bool {
	for d := range dims4 {
		if k[d] < bx.r[d].lo || k[d] > bx.r[d].hi {
			return false
		}
	}
	return true
}

// TestLeafMatch4Edges checks the packed port and protocol check against
// the range check at every edge of each field (lo-1, lo, hi, hi+1 and the
// ends of the key's domain), with ranges that touch 0 and the field's top,
// and ranges wider than the key's 16 bits, which the leaf clips or drops.
func TestLeafMatch4Edges(t *testing.T) {
	ranges := []rng{{0, 0}, {0, 65535}, {65535, 65535}, {1, 65534}, {80, 80}, {1024, 65535}, {0, 1023},
		{6, 6}, {0, 255}, {255, 255}, {17, 17}, {0, ^uint32(0)}, {70000, ^uint32(0)}, {65535, 70000}}
	rnd := rand.New(rand.NewPCG(4, 4))
	for range 3000 {
		var bx box
		bx.r[0], bx.r[1] = rng{0, ^uint32(0)}, rng{0, ^uint32(0)}
		for d := 2; d < dims4; d++ {
			bx.r[d] = ranges[rnd.IntN(len(ranges))]
		}
		tr, err := buildTree(dims4, defaultBinth, 0, []box{bx})
		if err != nil {
			t.Fatal(err)
		}
		off := uint32(tr.nodes[0])
		var k [maxDims]uint32
		for range 40 {
			for d := 2; d < dims4; d++ {
				top := uint32(65535)
				if d == 4 {
					top = 255
				}
				r := bx.r[d]
				cand := []uint32{0, top, r.lo, r.hi, r.lo - 1, r.hi + 1}
				k[d] = min(cand[rnd.IntN(len(cand))], top)
			}
			want := noRule
			if contains4(&bx, &k) {
				want = 0
			}
			if got := leafMatch4(tr.data, off, &k); got != want {
				t.Fatalf("leafMatch4(box %v, key %v) = %d, want %d", bx.r[:dims4], k[:dims4], int32(got), int32(want))
			}
		}
	}
}
