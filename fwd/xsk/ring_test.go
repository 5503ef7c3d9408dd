package xsk

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memRing is a ring in ordinary memory. Its k* methods are the kernel's end,
// written plainly from the protocol in Documentation/networking/af_xdp.rst
// (load the other index, move entries, store own index) without caching, so
// they are an independent twin of prodRing and consRing.
type memRing[T entry] struct {
	prod, cons, flags uint32
	desc              []T
}

func newMemRing[T entry](n int, start uint32) *memRing[T] {
	return &memRing[T]{prod: start, cons: start, desc: make([]T, n)}
}

func (m *memRing[T]) mem() ringMem[T] {
	return ringMem[T]{producer: &m.prod, consumer: &m.cons, flags: &m.flags, desc: m.desc}
}

// kProduce is the kernel producing onto a ring we consume (rx, completion).
func (m *memRing[T]) kProduce(src []T) int {
	size := uint32(len(m.desc))
	prod := atomic.LoadUint32(&m.prod) // own index: only the kernel writes it
	cons := atomic.LoadUint32(&m.cons)
	n := min(uint32(len(src)), size-(prod-cons))
	for i := range n {
		m.desc[(prod+i)%size] = src[i]
	}
	atomic.StoreUint32(&m.prod, prod+n)
	return int(n)
}

// kConsume is the kernel consuming from a ring we produce (fill, tx).
func (m *memRing[T]) kConsume(dst []T) int {
	size := uint32(len(m.desc))
	cons := atomic.LoadUint32(&m.cons)
	prod := atomic.LoadUint32(&m.prod)
	n := min(uint32(len(dst)), prod-cons)
	for i := range n {
		dst[i] = m.desc[(cons+i)%size]
	}
	atomic.StoreUint32(&m.cons, cons+n)
	return int(n)
}

// contents returns the entries between consumer and producer (quiescent rings only).
func (m *memRing[T]) contents() []T {
	var out []T
	for i := m.cons; i != m.prod; i++ {
		out = append(out, m.desc[i%uint32(len(m.desc))])
	}
	return out
}

func seq(from, n uint64) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = from + uint64(i)
	}
	return s
}

// TestProdRing drives our producer end against the kernel twin.
func TestProdRing(t *testing.T) {
	type step struct {
		produce  int // entries we offer (numbered on from the last)
		wantPut  int
		kConsume int // then the kernel takes this many
	}
	tests := []struct {
		name  string
		size  int
		start uint32
		steps []step
	}{
		{"fits", 8, 0, []step{{produce: 5, wantPut: 5}}},
		{"full", 8, 0, []step{{produce: 12, wantPut: 8}, {produce: 1, wantPut: 0}}},
		{"frees after consume", 8, 0, []step{
			{produce: 8, wantPut: 8, kConsume: 3},
			{produce: 5, wantPut: 3, kConsume: 8},
			{produce: 8, wantPut: 8},
		}},
		{"wraps the array", 8, 0, []step{
			{produce: 6, wantPut: 6, kConsume: 6},
			{produce: 7, wantPut: 7, kConsume: 7},
		}},
		{"wraps uint32 indices", 4, 0xffff_fffe, []step{
			{produce: 3, wantPut: 3, kConsume: 2},
			{produce: 3, wantPut: 3, kConsume: 4},
			{produce: 4, wantPut: 4, kConsume: 4},
		}},
		{"empty batch", 4, 0, []step{{produce: 0, wantPut: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemRing[uint64](tc.size, tc.start)
			r := newProdRing(m.mem())
			next := uint64(100)
			var want, got []uint64 // what we put, what the kernel saw, in order
			for i, st := range tc.steps {
				src := seq(next, uint64(st.produce))
				n := r.produce(src)
				if n != st.wantPut {
					t.Fatalf("step %d: produce(%d entries) = %d, want %d", i, st.produce, n, st.wantPut)
				}
				want = append(want, src[:n]...)
				next += uint64(n)
				dst := make([]uint64, st.kConsume)
				got = append(got, dst[:m.kConsume(dst)]...)
			}
			got = append(got, m.contents()...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entries through the ring (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConsRing drives our consumer end against the kernel twin.
func TestConsRing(t *testing.T) {
	type step struct {
		kProduce int // the kernel offers this many
		wantK    int
		consume  int // then we take up to this many
		wantGot  int
	}
	tests := []struct {
		name  string
		size  int
		start uint32
		steps []step
	}{
		{"empty", 8, 0, []step{{consume: 4, wantGot: 0}}},
		{"partial", 8, 0, []step{{kProduce: 3, wantK: 3, consume: 8, wantGot: 3}}},
		{"kernel full", 4, 0, []step{{kProduce: 6, wantK: 4, consume: 2, wantGot: 2}, {kProduce: 6, wantK: 2, consume: 8, wantGot: 4}}},
		{"sees new entries after a partial batch", 8, 0, []step{
			{kProduce: 2, wantK: 2, consume: 1, wantGot: 1},
			{kProduce: 3, wantK: 3, consume: 8, wantGot: 4},
		}},
		{"wraps uint32 indices", 4, 0xffff_fffd, []step{
			{kProduce: 4, wantK: 4, consume: 3, wantGot: 3},
			{kProduce: 3, wantK: 3, consume: 4, wantGot: 4},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemRing[Desc](tc.size, tc.start)
			r := newConsRing(m.mem())
			next := uint64(0)
			var want, got []Desc
			for i, st := range tc.steps {
				src := make([]Desc, st.kProduce)
				for j := range src {
					src[j] = Desc{Addr: next + uint64(j)*4096, Len: uint32(next) + uint32(j), Options: 7}
				}
				k := m.kProduce(src)
				if k != st.wantK {
					t.Fatalf("step %d: kernel produced %d, want %d", i, k, st.wantK)
				}
				want = append(want, src[:k]...)
				next += uint64(k)
				dst := make([]Desc, st.consume)
				n := r.consume(dst)
				if n != st.wantGot {
					t.Fatalf("step %d: consume(%d) = %d, want %d", i, st.consume, n, st.wantGot)
				}
				got = append(got, dst[:n]...)
			}
			got = append(got, m.contents()...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entries through the ring (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRingConcurrent runs the kernel's end in another goroutine, so the race
// detector checks that entries are published and released in the right order
// relative to the atomic index stores.
func TestRingConcurrent(t *testing.T) {
	total := 200_000
	if testing.Short() || raceEnabled {
		total = 30_000
	}
	// Our producer → kernel consumer (the tx direction) and kernel producer →
	// our consumer (the rx direction) at once.
	tx := newMemRing[Desc](64, 0xffff_ff00)
	rx := newMemRing[Desc](32, 0)
	ours, theirs := newProdRing(tx.mem()), newConsRing(rx.mem())

	var wg sync.WaitGroup
	var kerr atomic.Value
	wg.Add(1)
	go func() { // the kernel: echo what it consumes from tx onto rx
		defer wg.Done()
		r := rand.New(rand.NewPCG(3, 4))
		buf := make([]Desc, 64)
		var pend []Desc
		want := uint64(0)
		for want < uint64(total) || len(pend) > 0 {
			if len(pend) < 64 {
				n := tx.kConsume(buf[:1+r.IntN(len(buf))])
				for _, d := range buf[:n] {
					if d.Addr != want || d.Len != uint32(want) {
						kerr.Store(d)
						return
					}
					want++
				}
				pend = append(pend, buf[:n]...)
			}
			k := rx.kProduce(pend[:min(len(pend), 1+r.IntN(16))])
			pend = pend[k:]
			if k == 0 {
				runtime.Gosched()
			}
		}
	}()

	r := rand.New(rand.NewPCG(5, 6))
	out := make([]Desc, 64)
	in := make([]Desc, 64)
	sent, got := 0, 0
	for got < total {
		if d := kerr.Load(); d != nil {
			t.Fatalf("kernel saw %+v out of order", d)
		}
		b := min(total-sent, 1+r.IntN(len(out)))
		for i := range b {
			out[i] = Desc{Addr: uint64(sent + i), Len: uint32(sent + i)}
		}
		sent += ours.produce(out[:b])
		n := theirs.consume(in[:1+r.IntN(len(in))])
		for _, d := range in[:n] {
			if d.Addr != uint64(got) || d.Len != uint32(got) {
				t.Fatalf("received %+v, want Addr %d", d, got)
			}
			got++
		}
		if n == 0 {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if d := kerr.Load(); d != nil {
		t.Fatalf("kernel saw %+v out of order", d)
	}
}

func TestRingAllocs(t *testing.T) {
	m := newMemRing[Desc](64, 0)
	p := newProdRing(m.mem())
	c := newConsRing(m.mem()) // our consumer on the same ring stands in for the kernel
	batch := make([]Desc, 32)
	allocs := testing.AllocsPerRun(100, func() {
		p.produce(batch)
		c.consume(batch)
	})
	if allocs != 0 {
		t.Errorf("ring produce+consume allocate %v times per run, want 0", allocs)
	}
}

// BenchmarkRing measures one batch through a ring in memory: produce then
// consume, for both entry types, in ns per entry.
func BenchmarkRing(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run("desc/batch="+strconv.Itoa(batch), func(b *testing.B) {
			m := newMemRing[Desc](2048, 0)
			p, c := newProdRing(m.mem()), newConsRing(m.mem())
			buf := make([]Desc, batch)
			b.ReportAllocs()
			for b.Loop() {
				p.produce(buf)
				c.consume(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/desc")
		})
		b.Run("addr/batch="+strconv.Itoa(batch), func(b *testing.B) {
			m := newMemRing[uint64](2048, 0)
			p, c := newProdRing(m.mem()), newConsRing(m.mem())
			buf := make([]uint64, batch)
			b.ReportAllocs()
			for b.Loop() {
				p.produce(buf)
				c.consume(buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/desc")
		})
	}
}
