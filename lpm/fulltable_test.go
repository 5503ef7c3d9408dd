// Full-table benchmarks: the shipped Internet table (perf/lpmbench's
// embedded copy of bart's), with gannet and bart.Fast side by side in one
// process on the same keys. Keys come in two kinds per family: in-prefix (a
// random address inside a random route, what real traffic looks like, and
// deep in the trie) and uniform (random addresses, which leave the table
// after a level or two). 1M keys per set are more paths than the caches
// hold, so every lookup is cache-cold below the top levels.

package lpm_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/gannet-net/gannet/internal/cputime"
	"github.com/gannet-net/gannet/lpm"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

var (
	fullOnce sync.Once
	fullW    *lpmbench.Workload
	fullU6   [][2]uint64
	fullSubs []lpmbench.Subject
	fullErr  error
	sink     uint32
)

// uniform6 draws n IPv6 keys uniformly over the whole address space.
func uniform6(seed uint64, n int) [][2]uint64 {
	r := rand.New(rand.NewPCG(seed, 0x756e6936))
	keys := make([][2]uint64, n)
	for i := range keys {
		keys[i] = [2]uint64{r.Uint64(), r.Uint64()}
	}
	return keys
}

// fullTable builds gannet and bart.Fast from the full table once for all
// the benchmarks of a run.
func fullTable(b *testing.B) (*lpmbench.Workload, [][2]uint64, []lpmbench.Subject) {
	fullOnce.Do(func() {
		ps, err := lpmbench.Default()
		if err != nil {
			fullErr = err
			return
		}
		fullW = lpmbench.NewWorkload(ps, 1, lpmbench.NumKeys)
		fullU6 = uniform6(1, lpmbench.NumKeys)
		fullSubs = lpmbench.Subjects()
		for _, s := range fullSubs {
			s.Build(fullW.Routes)
		}
	})
	if fullErr != nil {
		b.Fatal(fullErr)
	}
	return fullW, fullU6, fullSubs
}

// BenchmarkFullTable runs every lookup kernel on in-prefix and uniform keys
// for both families, gannet then bart.Fast per metric, so a benchstat of
// the pair compares runs that shared the machine's state.
func BenchmarkFullTable(b *testing.B) {
	w, u6, subs := fullTable(b)
	kernels := []struct {
		name string
		run  func(s lpmbench.Subject, n int) uint32
	}{
		{"lookup4-inprefix", func(s lpmbench.Subject, n int) uint32 { return s.Lookup4(w.Keys4, n) }},
		{"lookup4-uniform", func(s lpmbench.Subject, n int) uint32 { return s.Lookup4(w.Uniform4, n) }},
		{"lookup6-inprefix", func(s lpmbench.Subject, n int) uint32 { return s.Lookup6(w.Keys6, n) }},
		{"lookup6-uniform", func(s lpmbench.Subject, n int) uint32 { return s.Lookup6(u6, n) }},
		{"batch4-inprefix", func(s lpmbench.Subject, n int) uint32 { return s.Batch4(w.Keys4, n) }},
		{"batch6-inprefix", func(s lpmbench.Subject, n int) uint32 { return s.Batch6(w.Keys6, n) }},
	}
	for _, k := range kernels {
		for _, s := range subs {
			b.Run(k.name+"/"+s.Name(), func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				sink += k.run(s, b.N) // one op is one key
			})
		}
	}
}

// BenchmarkFullTableUpdate times route updates on the full table without
// readers: a random present route deleted and inserted again with another
// next hop, as a BGP withdraw and re-announce would. One op is one pair
// (two updates).
func BenchmarkFullTableUpdate(b *testing.B) {
	w, _, _ := fullTable(b)
	tbl := lpm.New()
	for _, rt := range w.Routes {
		if err := tbl.Insert(rt.Prefix, rt.NH); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(2, 2))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cputime.Thread()
	for b.Loop() {
		rt := w.Routes[r.IntN(len(w.Routes))]
		if err := tbl.Delete(rt.Prefix); err != nil {
			b.Fatal(err)
		}
		if err := tbl.Insert(rt.Prefix, rt.NH^1); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cputime.Thread() - c0
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	// The machine is shared: the rate per second of this thread's CPU
	// is the table's own, whatever else ran.
	b.ReportMetric(2*float64(b.N)/cpu.Seconds(), "updates/cpu-s")
}
