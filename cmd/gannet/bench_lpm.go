// gannet bench lpm: gannet's route table and bart.Fast built from the same
// prefix list and measured side by side in one process (perf/lpmbench's
// subjects, workload and report), printed as one table.

package main

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"github.com/gannet-net/gannet/perf/lpmbench"
	"github.com/spf13/cobra"
)

func newBenchLPMCmd() *cobra.Command {
	var (
		prefixes string
		duration time.Duration
		pairs    int
		seed     uint64
		rounds   int
	)
	cmd := &cobra.Command{
		Use:   "lpm",
		Short: "compare gannet's route table with bart.Fast on a prefix list",
		Long: `Builds gannet's lpm table and bart.Fast from the same prefix list (one CIDR a
line, optionally gzipped; default: the full Internet table shipped with
gannet), assigns next hops from 16 values, and reports in one table, per
family: lookups of in-prefix keys (1M random addresses inside random routes of
the family, as real traffic is, and deep in the trie) beside uniform random
keys (which leave the table after a level or two), batch lookups, live heap of
the full table, build time, and route updates per second while a reader keeps
looking up. 1M keys are more paths than the caches hold, so each lookup starts
cache-cold below the top levels. Each lookup metric alternates between the
tables for --rounds rounds and reports the median.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ps []netip.Prefix
			var err error
			source := lpmbench.DefaultSource
			if prefixes == "" {
				ps, err = lpmbench.Default()
			} else {
				ps, err = lpmbench.LoadFile(prefixes)
				source = prefixes
			}
			if err != nil {
				return err
			}
			rep := runBenchLPM(ps, source, duration, pairs, seed, rounds)
			return rep.Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&prefixes, "prefixes", "", "prefix list file, one CIDR a line, optionally gzipped (default: shipped full table)")
	cmd.Flags().DurationVar(&duration, "duration", 500*time.Millisecond, "time per lookup measurement")
	cmd.Flags().IntVar(&pairs, "pairs", 20000, "update pairs (delete+insert) per table")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for keys and updates")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "alternating rounds per lookup metric (median reported)")
	return cmd
}

// runBenchLPM is lpmbench.Run with the in-prefix and uniform workloads of
// both families side by side: lpmbench's workload has no uniform IPv6 keys,
// so they are drawn here, from the same seed.
func runBenchLPM(ps []netip.Prefix, source string, d time.Duration, pairs int, seed uint64, rounds int) lpmbench.Report {
	w := lpmbench.NewWorkload(ps, seed, lpmbench.NumKeys)
	var uniform6 [][2]uint64
	if w.Routes6 > 0 {
		r := rand.New(rand.NewPCG(seed, 0x756e6936))
		uniform6 = make([][2]uint64, lpmbench.NumKeys)
		for i := range uniform6 {
			uniform6[i] = [2]uint64{r.Uint64(), r.Uint64()}
		}
	}
	subs := lpmbench.Subjects()
	rep := lpmbench.Report{Source: source, Routes4: w.Routes4, Routes6: w.Routes6}
	for _, s := range subs {
		rep.Subjects = append(rep.Subjects, s.Name())
	}
	row := func(metric, unit string, lower bool, vals []float64) {
		rep.Rows = append(rep.Rows, lpmbench.Row{Metric: metric, Unit: unit, Lower: lower, Values: vals})
	}
	var builds, sizes []float64
	for _, s := range subs {
		bd, b := lpmbench.BuildSized(s, w)
		builds, sizes = append(builds, float64(bd.Microseconds())/1000), append(sizes, float64(b)/(1<<20))
	}
	var sink uint32
	lookup := func(metric, unit string, k func(s lpmbench.Subject, n int) uint32) {
		runs := make([][]float64, len(subs))
		for range rounds {
			for i, s := range subs {
				runs[i] = append(runs[i], measureNs(d, func(n int) { sink += k(s, n) }))
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
		lookup("lookup IPv4, in-prefix", "ns/op", func(s lpmbench.Subject, n int) uint32 { return s.Lookup4(w.Keys4, n) })
		lookup("lookup IPv4, uniform", "ns/op", func(s lpmbench.Subject, n int) uint32 { return s.Lookup4(w.Uniform4, n) })
	}
	if w.Routes6 > 0 {
		lookup("lookup IPv6, in-prefix", "ns/op", func(s lpmbench.Subject, n int) uint32 { return s.Lookup6(w.Keys6, n) })
		lookup("lookup IPv6, uniform", "ns/op", func(s lpmbench.Subject, n int) uint32 { return s.Lookup6(uniform6, n) })
	}
	if w.Routes4 > 0 {
		lookup("Lookup(netip.Addr) IPv4, in-prefix", "ns/op", func(s lpmbench.Subject, n int) uint32 { return s.Addr4(w.Keys4, n) })
		lookup("batch of 64 IPv4, in-prefix", "ns/key", func(s lpmbench.Subject, n int) uint32 { return s.Batch4(w.Keys4, n) })
	}
	if w.Routes6 > 0 {
		lookup("batch of 64 IPv6, in-prefix", "ns/key", func(s lpmbench.Subject, n int) uint32 { return s.Batch6(w.Keys6, n) })
	}
	_ = sink
	row("memory, full table (live heap)", "MiB", true, sizes)
	row("build (insert all routes)", "ms", true, builds)
	var rates, updates, cpuUpdates, looks []float64
	for _, s := range subs {
		c := lpmbench.ChurnWhileLooking(s, w, pairs, seed)
		wall, cpu := c.Updates(pairs)
		rates = append(rates, float64(pairs)/c.Elapsed.Seconds())
		updates, cpuUpdates = append(updates, wall), append(cpuUpdates, cpu)
		looks = append(looks, float64(c.Looked)/c.Elapsed.Seconds()/1e6)
	}
	row("update pairs with lookups running", "pairs/s", false, rates)
	row("  route updates (delete or insert)", "updates/s", false, updates)
	row("  per second of the writer's CPU", "updates/s", false, cpuUpdates)
	row("  lookups done meanwhile", "Mlookup/s", false, looks)
	return rep
}

// measureNs calls f with growing n until one call lasts at least d and
// returns nanoseconds per operation of that call (as lpmbench does).
func measureNs(d time.Duration, f func(n int)) float64 {
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
