package nat

import (
	"fmt"
	"testing"

	"github.com/gannet-net/gannet/pkt"
)

func BenchmarkMicro(b *testing.B) {
	bt := newBenchTable(b, 1<<10)
	w := bt.h.tab.NewWorker()
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	n := 1 << 10
	b.Run("gen", func(b *testing.B) {
		for i := range b.N {
			bt.gen.gen((i*7919)&(n-1), frame, &s)
		}
	})
	b.Run("gen+key+hash", func(b *testing.B) {
		var sink uint64
		for i := range b.N {
			bt.gen.gen((i*7919)&(n-1), frame, &s)
			var k key
			keyOf(&s, 0, &k)
			sink += k.hash(w.t.s0, w.t.s1)
		}
		_ = sink
	})
	b.Run("gen+lookup", func(b *testing.B) {
		for i := range b.N {
			bt.gen.gen((i*7919)&(n-1), frame, &s)
			var k key
			keyOf(&s, 0, &k)
			var ht hit
			if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &ht) {
				b.Fatal("miss")
			}
		}
	})
	b.Run("gen+lookup+translate", func(b *testing.B) {
		for i := range b.N {
			bt.gen.gen((i*7919)&(n-1), frame, &s)
			var k key
			keyOf(&s, 0, &k)
			var ht hit
			if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &ht) {
				b.Fatal("miss")
			}
			translate(frame, &s, &k, &ht.other)
		}
	})
	b.Run("track", func(b *testing.B) {
		for i := range b.N {
			if i&63 == 0 {
				w.BeginBatch()
			}
			bt.gen.gen((i*7919)&(n-1), frame, &s)
			w.Track(frame, &s, 0)
		}
	})
}

func BenchmarkMicroTranslate(b *testing.B) {
	bt := newBenchTable(b, 1<<10)
	w := bt.h.tab.NewWorker()
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	bt.gen.gen(5, frame, &s)
	var k key
	keyOf(&s, 0, &k)
	var ht hit
	if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &ht) {
		b.Fatal("miss")
	}
	// k -> reverse(o) and back: t1 is the translated key, whose "other" is reverse(k).
	t1 := ht.other.reverse()
	back := k.reverse()
	b.ResetTimer()
	for range b.N / 2 {
		translate(frame, &s, &k, &ht.other)
		translate(frame, &s, &t1, &back)
	}
}

func BenchmarkMicroTranslateFast(b *testing.B) {
	bt := newBenchTable(b, 1<<10)
	w := bt.h.tab.NewWorker()
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	bt.gen.gen(5, frame, &s)
	var k key
	keyOf(&s, 0, &k)
	var ht hit
	if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &ht) {
		b.Fatal("miss")
	}
	t1 := ht.other.reverse()
	back := k.reverse()
	x1, x2 := xlDeltas(&k, &ht.other), xlDeltas(&t1, &back)
	b.ResetTimer()
	for range b.N / 2 {
		translateFast(frame, &s, &k, &ht.other, x1)
		translateFast(frame, &s, &t1, &back, x2)
	}
}

func BenchmarkMicroBatchFill(b *testing.B) {
	bt := newBenchTable(b, 1<<10)
	w := bt.h.tab.NewWorker()
	n := 1 << 10
	const batch = 64
	frames := make([][]byte, batch)
	sums := make([]pkt.Summary, batch)
	for i := range frames {
		frames[i] = make([]byte, len(bt.gen.tmpl))
	}
	b.Run("fill", func(b *testing.B) {
		for i := 0; i < b.N; i += batch {
			w.BeginBatch()
			m := min(batch, b.N-i)
			for j := range m {
				bt.gen.gen(((i+j)*7919)&(n-1), frames[j], &sums[j])
			}
		}
	})
	b.Run("fill+track", func(b *testing.B) {
		for i := 0; i < b.N; i += batch {
			w.BeginBatch()
			m := min(batch, b.N-i)
			for j := range m {
				bt.gen.gen(((i+j)*7919)&(n-1), frames[j], &sums[j])
			}
			for j := range m {
				if r := w.Track(frames[j], &sums[j], 0); r.State != StateEstablished {
					b.Fatal(r)
				}
			}
		}
	})
}

func BenchmarkMicroNoCopy(b *testing.B) {
	bt := newBenchTable(b, 1<<10)
	w := bt.h.tab.NewWorker()
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	n := 1 << 10
	copy(frame, bt.gen.tmpl)
	b.Run("lookup+translate", func(b *testing.B) {
		for i := range b.N {
			j := (i * 7919) & (n - 1)
			s = bt.gen.sum
			a := [4]byte{198, 18, byte(j >> 12), byte(j >> 4)}
			copy(s.Src[:4], a[:])
			s.SrcPort = uint16(10000 + j&15)
			var k key
			keyOf(&s, 0, &k)
			var ht hit
			if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &ht) {
				b.Fatal("miss")
			}
			translateFast(frame, &s, &k, &ht.other, ht.xl)
		}
	})
	b.Run("track", func(b *testing.B) {
		for i := range b.N {
			if i&63 == 0 {
				w.BeginBatch()
			}
			j := (i * 7919) & (n - 1)
			s = bt.gen.sum
			a := [4]byte{198, 18, byte(j >> 12), byte(j >> 4)}
			copy(s.Src[:4], a[:])
			s.SrcPort = uint16(10000 + j&15)
			if r := w.Track(frame, &s, 0); r.State != StateEstablished {
				b.Fatal(r)
			}
		}
	})
}

func BenchmarkMicroSmall(b *testing.B) {
	for _, n := range []int{64, 1024} {
		bt := newBenchTable(b, n)
		w := bt.h.tab.NewWorker()
		frame := make([]byte, len(bt.gen.tmpl))
		var s pkt.Summary
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := range b.N {
				if i&63 == 0 {
					w.BeginBatch()
				}
				bt.gen.gen((i*7919)&(n-1), frame, &s)
				if r := w.Track(frame, &s, 0); r.State != StateEstablished {
					b.Fatal(r)
				}
			}
		})
		b.Run(fmt.Sprint(n, "gen"), func(b *testing.B) {
			for i := range b.N {
				bt.gen.gen((i*7919)&(n-1), frame, &s)
			}
		})
	}
}
