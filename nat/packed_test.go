package nat

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestPackedLayout guards the one-store unpacking of packed results: the
// offsets it relies on, and every field round-tripping.
func TestPackedLayout(t *testing.T) {
	var r Result
	offs := []uintptr{unsafe.Offsetof(r.Action), unsafe.Offsetof(r.State), unsafe.Offsetof(r.Reason),
		unsafe.Offsetof(r.Dir), unsafe.Offsetof(r.Space), unsafe.Offsetof(r.Translated)}
	want := []uintptr{0, 1, 2, 3, 4, 6}
	for i := range offs {
		if offs[i] != want[i] {
			t.Fatalf("Result field %d at offset %d, want %d", i, offs[i], want[i])
		}
	}
	if unsafe.Sizeof(r) != 8 {
		t.Fatalf("Result is %d bytes, want 8", unsafe.Sizeof(r))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		w := Result{Action: Action(rng.IntN(5)), State: State(rng.IntN(4)), Dir: Dir(rng.IntN(2)),
			Space: uint16(rng.Uint32()), Translated: rng.IntN(2) == 0}
		p := pack(w.Action, w.State, int(w.Dir), w.Space, w.Translated)
		if got := p.result(); got != w {
			t.Fatalf("pack(%+v).result() = %+v", w, got)
		}
		w.Reason = Reason(rng.IntN(NumReasons))
		if got := (p | packed(w.Reason)<<16).result(); got != w {
			t.Fatalf("with reason: %+v, want %+v", got, w)
		}
	}
}

// key.equal is ==, word for word.
func TestKeyEqual(t *testing.T) {
	a := key{src: [2]uint64{1, 2}, dst: [2]uint64{3, 4}, m: 5}
	if !a.equal(&a) {
		t.Errorf("%v.equal(itself) = false", a)
	}
	for i := range 5 {
		b := a
		w := []*uint64{&b.src[0], &b.src[1], &b.dst[0], &b.dst[1], &b.m}[i]
		*w ^= 1 << 63
		if a.equal(&b) || b.equal(&a) || (a == b) {
			t.Errorf("keys differing in word %d compare equal", i)
		}
	}
}
