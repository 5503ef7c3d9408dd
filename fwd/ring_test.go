package fwd

import (
	"sync"
	"testing"
)

// TestSPSC: a producer and a consumer on their own goroutines (run it
// with -race): every record the producer published arrives once, in
// order, intact; what a full ring refused is exactly what is missing.
func TestSPSC(t *testing.T) {
	type rec struct{ a, b uint64 }
	r := newSPSC[rec](64)
	const n = 200000
	var refused []uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; i++ {
			s := r.slot()
			if s == nil {
				refused = append(refused, i)
				continue
			}
			*s = rec{i, ^i}
			r.push()
		}
	}()
	var got []uint64
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		r.pop(func(x *rec) {
			if x.b != ^x.a {
				t.Errorf("record %d torn: %x", x.a, x.b)
			}
			got = append(got, x.a)
		})
	}
	if len(got)+len(refused) != n {
		t.Fatalf("%d received + %d refused, want %d", len(got), len(refused), n)
	}
	gi, ri := 0, 0
	for i := uint64(0); i < n; i++ {
		switch {
		case gi < len(got) && got[gi] == i:
			gi++
		case ri < len(refused) && refused[ri] == i:
			ri++
		default:
			t.Fatalf("record %d neither received in order nor refused", i)
		}
	}
	if len(got) == 0 {
		t.Errorf("nothing received")
	}
}
