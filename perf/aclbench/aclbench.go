// Package aclbench measures acl's classifier against a linear scan on a
// ClassBench rule set: compile time, table memory, lookups per second and
// agreement of every answer. `gannet bench acl` prints its table and the
// acl benchmarks share its setup; it never changes what acl matches.
package aclbench

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/acl/classbench"
)

// PerRule is how many headers Generate makes per rule when no trace is given.
const PerRule = 10

// Config says what to measure.
type Config struct {
	Rules   []acl.Rule
	Headers []classbench.Header
	// MinTime is how long each lookup loop runs at least (default 1 s).
	MinTime time.Duration
}

// Result is one run's figures.
type Result struct {
	Rules, Headers int
	Compile        time.Duration
	Stats          acl.Stats
	HeapBytes      uint64  // live heap growth caused by Compile (after GC)
	Gannet         float64 // lookups per second, MatchPacket
	GannetBatch    float64 // lookups per second, MatchBatch in batches of 64
	Linear         float64 // lookups per second, linear scan
	Agree          int     // headers on which gannet and linear agree
	Indices        []int   // gannet's answer per header (-1: no match)
}

// Load reads a rule file and, if trace is not empty, a trace; otherwise it
// generates PerRule headers per rule with a fixed seed.
func Load(rulesPath, tracePath string) ([]acl.Rule, []classbench.Header, error) {
	f, err := os.Open(rulesPath)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rules, err := classbench.Parse(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rulesPath, err)
	}
	if tracePath == "" {
		return rules, classbench.Generate(rules, PerRule, rand.New(rand.NewPCG(1, 2))), nil
	}
	t, err := os.Open(tracePath)
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	hs, err := classbench.ParseTrace(t)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tracePath, err)
	}
	return rules, hs, nil
}

// Run compiles the rules, checks every header against the linear scan and
// measures lookups per second of both.
func Run(cfg Config) (*Result, error) {
	if cfg.MinTime <= 0 {
		cfg.MinTime = time.Second
	}
	if len(cfg.Headers) == 0 {
		return nil, fmt.Errorf("aclbench: no headers")
	}
	r := &Result{Rules: len(cfg.Rules), Headers: len(cfg.Headers)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	c, err := acl.Compile(cfg.Rules)
	r.Compile = time.Since(t0)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		r.HeapBytes = after.HeapAlloc - before.HeapAlloc
	}
	r.Stats = c.Stats()
	lin, err := acl.NewLinear(cfg.Rules)
	if err != nil {
		return nil, err
	}

	keys := make([]acl.PacketKey, len(cfg.Headers))
	nkeys := make([]acl.Key, len(cfg.Headers))
	for i, h := range cfg.Headers {
		keys[i] = h.PacketKey()
		nkeys[i] = h.Key()
	}
	r.Indices = make([]int, len(keys))
	for i := range keys {
		r.Indices[i], _ = c.MatchPacket(&keys[i])
		if want, _ := lin.Match(&nkeys[i]); want == r.Indices[i] {
			r.Agree++
		}
	}
	r.Gannet = rate(cfg.MinTime, len(keys), func(i int) { c.MatchPacket(&keys[i]) })
	var out [64]int32
	r.GannetBatch = rate(cfg.MinTime, (len(keys)+63)/64, func(i int) {
		c.MatchBatch(keys[i*64:min(len(keys), i*64+64)], out[:])
	}) * 64
	r.Linear = rate(cfg.MinTime, len(keys), func(i int) { lin.Match(&nkeys[i]) })
	runtime.KeepAlive(c)
	return r, nil
}

// rate runs f over 0..n-1 repeatedly for at least d and returns calls per second.
func rate(d time.Duration, n int, f func(int)) float64 {
	calls := 0
	t0 := time.Now()
	for {
		for i := range n {
			f(i)
			calls++
			if calls&1023 == 0 && time.Since(t0) >= d {
				return float64(calls) / time.Since(t0).Seconds()
			}
		}
		if time.Since(t0) >= d {
			return float64(calls) / time.Since(t0).Seconds()
		}
	}
}

// Print writes the result as a table.
func (r *Result) Print(w io.Writer, name string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s: %d rules, %d headers; decision trees: %d, nodes %d, leaf entries %d, depth %d\n",
		name, r.Rules, r.Headers, r.Stats.Trees, r.Stats.Nodes, r.Stats.LeafEntries, r.Stats.Depth)
	fmt.Fprintf(bw, "%-14s %10s %12s %14s %10s %9s\n", "classifier", "compile", "memory", "lookups/s", "ns/lookup", "speedup")
	fmt.Fprintf(bw, "%-14s %10s %12s %14s %10.1f %8.0fx\n", "gannet", r.Compile.Round(time.Microsecond),
		fmt.Sprintf("%.2f MiB", float64(r.Stats.Bytes)/(1<<20)), si(r.Gannet), 1e9/r.Gannet, r.Gannet/r.Linear)
	fmt.Fprintf(bw, "%-14s %10s %12s %14s %10.1f %8.0fx\n", "gannet batch", "", "", si(r.GannetBatch), 1e9/r.GannetBatch, r.GannetBatch/r.Linear)
	fmt.Fprintf(bw, "%-14s %10s %12s %14s %10.1f %8.0fx\n", "linear", "-", "-", si(r.Linear), 1e9/r.Linear, 1.0)
	fmt.Fprintf(bw, "compile heap growth %.2f MiB; answers equal to the linear scan: %d of %d\n",
		float64(r.HeapBytes)/(1<<20), r.Agree, r.Headers)
	return bw.Flush()
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// WriteIndices writes one 0-based rule index per line (-1: no match).
func WriteIndices(w io.Writer, idx []int) error {
	bw := bufio.NewWriter(w)
	for _, i := range idx {
		fmt.Fprintln(bw, i)
	}
	return bw.Flush()
}
