// The measurements: each subject is built, sized and timed on the same
// workload in one process, one after the other, and the figures land in one
// table with a gannet/peer ratio.

package lpmbench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gannet-net/gannet/internal/cputime"
)

// HeapBytes returns the live heap after a full collection.
func HeapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BuildSized builds s from the workload's routes and returns the build time
// and the live heap the table added.
func BuildSized(s Subject, w *Workload) (time.Duration, uint64) {
	before := HeapBytes()
	t0 := time.Now()
	s.Build(w.Routes)
	d := time.Since(t0)
	after := HeapBytes()
	runtime.KeepAlive(s)
	if after < before {
		return d, 0
	}
	return d, after - before
}

// Churn is what ChurnWhileLooking measured.
type Churn struct {
	Elapsed time.Duration // wall clock of the updates
	// WriterCPU is the CPU time of the updating thread: on a shared
	// machine the rate it gives is the table's, not the load's.
	WriterCPU time.Duration
	Looked    int64 // lookups the reader completed meanwhile
}

// Updates returns the route updates (a delete or an insert) per
// wall-clock second and per second of the writer's CPU time for pairs
// update pairs.
func (c Churn) Updates(pairs int) (wall, cpu float64) {
	wall = 2 * float64(pairs) / c.Elapsed.Seconds()
	if c.WriterCPU > 0 {
		cpu = 2 * float64(pairs) / c.WriterCPU.Seconds()
	}
	return wall, cpu
}

// ChurnWhileLooking runs pairs update pairs on s (a random route of the
// workload deleted and inserted again with another next hop) while one
// goroutine looks up routed IPv4 keys.
func ChurnWhileLooking(s Subject, w *Workload, pairs int, seed uint64) Churn {
	var stop atomic.Bool
	var looked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nkeys := max(len(w.Keys4), len(w.Keys6))
		chunk := min(1<<12, nkeys)
		var sum uint32
		for off := 0; !stop.Load(); off = (off + chunk) % nkeys {
			if len(w.Keys4) > 0 {
				sum += s.Lookup4(w.Keys4[off:off+chunk], chunk)
			} else {
				sum += s.Lookup6(w.Keys6[off:off+chunk], chunk)
			}
			looked.Add(int64(chunk))
		}
		_ = sum
	}()
	r := rand.New(rand.NewPCG(seed, 0x636875726e))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, c0 := time.Now(), cputime.Thread()
	for range pairs {
		rt := w.Routes[r.IntN(len(w.Routes))]
		s.Churn(rt.Prefix, (rt.NH+1+uint32(r.IntN(NextHops-1)))%NextHops)
	}
	c := Churn{Elapsed: time.Since(t0), WriterCPU: cputime.Thread() - c0}
	stop.Store(true)
	wg.Wait()
	c.Looked = looked.Load()
	return c
}

// Options tune Run.
type Options struct {
	Source   string        // where the prefixes came from, for the header
	Duration time.Duration // per lookup measurement; default 500ms
	Pairs    int           // update pairs per subject; default 20000
	Seed     uint64
	Rounds   int // alternating rounds per lookup metric; default 3
}

// Row is one metric across subjects.
type Row struct {
	Metric string
	Unit   string
	Lower  bool // lower is better
	Values []float64
}

// Report is the result of Run.
type Report struct {
	Source           string
	Routes4, Routes6 int
	Subjects         []string
	Rows             []Row
}

// measure calls f with growing n until one call lasts at least d and
// returns nanoseconds per operation of that call.
func measure(d time.Duration, f func(n int)) float64 {
	n := 1 << 12
	for {
		t0 := time.Now()
		f(n)
		el := time.Since(t0)
		if el >= d {
			return float64(el.Nanoseconds()) / float64(n)
		}
		if el < d/64 {
			n *= 64
		} else {
			n = int(float64(n)*1.1*float64(d)/float64(el)) + 64
		}
	}
}

// Run measures every subject on the prefixes and returns the report. Both
// tables are built first; each lookup metric then alternates between the
// subjects for Rounds rounds and reports the median, so that noise from a
// shared machine hits both alike.
func Run(prefixes []netip.Prefix, opt Options) Report {
	if opt.Duration == 0 {
		opt.Duration = 500 * time.Millisecond
	}
	if opt.Pairs == 0 {
		opt.Pairs = 20000
	}
	if opt.Rounds == 0 {
		opt.Rounds = 3
	}
	w := NewWorkload(prefixes, opt.Seed, NumKeys)
	subs := Subjects()
	rep := Report{Source: opt.Source, Routes4: w.Routes4, Routes6: w.Routes6}
	for _, s := range subs {
		rep.Subjects = append(rep.Subjects, s.Name())
	}
	row := func(metric, unit string, lower bool, vals []float64) {
		rep.Rows = append(rep.Rows, Row{Metric: metric, Unit: unit, Lower: lower, Values: vals})
	}
	var builds, sizes []float64
	for _, s := range subs {
		d, b := BuildSized(s, w)
		builds, sizes = append(builds, float64(d.Microseconds())/1000), append(sizes, float64(b)/(1<<20))
	}
	var sink uint32
	lookup := func(metric, unit string, k func(s Subject, n int) uint32) {
		runs := make([][]float64, len(subs))
		for range opt.Rounds {
			for i, s := range subs {
				runs[i] = append(runs[i], measure(opt.Duration, func(n int) { sink += k(s, n) }))
			}
		}
		var med []float64
		for _, r := range runs {
			sort.Float64s(r)
			med = append(med, r[len(r)/2])
		}
		row(metric, unit, true, med)
	}
	if w.Routes4 > 0 {
		lookup("lookup IPv4, random in routes", "ns/op", func(s Subject, n int) uint32 { return s.Lookup4(w.Keys4, n) })
		lookup("lookup IPv4, uniform random", "ns/op", func(s Subject, n int) uint32 { return s.Lookup4(w.Uniform4, n) })
	}
	if w.Routes6 > 0 {
		lookup("lookup IPv6, random in routes", "ns/op", func(s Subject, n int) uint32 { return s.Lookup6(w.Keys6, n) })
	}
	if w.Routes4 > 0 {
		lookup("Lookup(netip.Addr) IPv4, in routes", "ns/op", func(s Subject, n int) uint32 { return s.Addr4(w.Keys4, n) })
		lookup("batch of 64 IPv4, in routes", "ns/key", func(s Subject, n int) uint32 { return s.Batch4(w.Keys4, n) })
	}
	if w.Routes6 > 0 {
		lookup("batch of 64 IPv6, in routes", "ns/key", func(s Subject, n int) uint32 { return s.Batch6(w.Keys6, n) })
	}
	_ = sink
	row("memory, full table (live heap)", "MiB", true, sizes)
	row("build (insert all routes)", "ms", true, builds)
	var rates, cpuRates, looks []float64
	for _, s := range subs {
		c := ChurnWhileLooking(s, w, opt.Pairs, opt.Seed)
		wall, cpu := c.Updates(opt.Pairs)
		rates, cpuRates = append(rates, wall), append(cpuRates, cpu)
		looks = append(looks, float64(c.Looked)/c.Elapsed.Seconds()/1e6)
	}
	row("route updates with lookups running", "updates/s", false, rates)
	row("  per second of the writer's CPU", "updates/s", false, cpuRates)
	row("  lookups done meanwhile", "Mlookup/s", false, looks)
	return rep
}

// Write prints the report as a table with the ratio of the first subject
// (gannet) over the second, oriented so that above 1 means gannet is better.
func (r Report) Write(out io.Writer) error {
	fmt.Fprintf(out, "prefixes: %d IPv4, %d IPv6 from %s; %d next hops; %s/%s, %d CPUs\n",
		r.Routes4, r.Routes6, r.Source, NextHops, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "metric\tunit\t")
	for _, s := range r.Subjects {
		fmt.Fprintf(tw, "%s\t", s)
	}
	if len(r.Subjects) == 2 {
		fmt.Fprintf(tw, "%s advantage\t", r.Subjects[0])
	}
	fmt.Fprintln(tw)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t", row.Metric, row.Unit)
		for _, v := range row.Values {
			fmt.Fprintf(tw, "%.1f\t", v)
		}
		if len(row.Values) == 2 && row.Values[0] > 0 && row.Values[1] > 0 {
			adv := row.Values[0] / row.Values[1]
			if row.Lower {
				adv = row.Values[1] / row.Values[0]
			}
			fmt.Fprintf(tw, "%.2fx\t", adv)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
