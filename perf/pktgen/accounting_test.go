package pktgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type counts struct {
	Received, Reordered, Duplicates, Unknown, Expected, Lost uint64
}

func countsOf(t *Tracker) counts {
	return counts{t.Received, t.Reordered, t.Duplicates, t.Unknown, t.Expected(), t.Lost()}
}

func TestTracker(t *testing.T) {
	type pkt struct {
		flow uint16
		seq  uint32
	}
	seqs := func(flow uint16, ss ...uint32) []pkt {
		var out []pkt
		for _, s := range ss {
			out = append(out, pkt{flow, s})
		}
		return out
	}
	tests := []struct {
		name string
		in   []pkt
		want counts
	}{
		{"in order", seqs(0, 0, 1, 2, 3), counts{Received: 4, Expected: 4}},
		{"gap", seqs(0, 0, 1, 4, 5), counts{Received: 4, Expected: 6, Lost: 2}},
		{"first packets lost", seqs(0, 3, 4), counts{Received: 2, Expected: 5, Lost: 3}},
		{"swap", seqs(0, 0, 2, 1, 3), counts{Received: 4, Reordered: 1, Expected: 4}},
		{"duplicate", seqs(0, 0, 1, 1, 2), counts{Received: 4, Duplicates: 1, Expected: 3}},
		{"late duplicate", seqs(0, 0, 2, 1, 1), counts{Received: 4, Reordered: 1, Duplicates: 1, Expected: 3}},
		{"very late", append(seqs(0, 1), append(seqs(0, 100), seqs(0, 0)...)...),
			counts{Received: 3, Reordered: 1, Expected: 101, Lost: 98}},
		{"window edge", append(seqs(0, 64), seqs(0, 0)...), counts{Received: 2, Reordered: 1, Expected: 65, Lost: 63}},
		{"two flows", append(seqs(0, 0, 1, 2), seqs(1, 0, 2)...), counts{Received: 5, Expected: 6, Lost: 1}},
		{"unknown flow", seqs(9, 0, 1), counts{Unknown: 2}},
		{"wrap", seqs(0, 0xfffffffe, 0xffffffff, 0, 1), counts{Received: 4, Expected: 2, Lost: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(2)
			for _, p := range tc.in {
				tr.Add(p.flow, p.seq)
			}
			if diff := cmp.Diff(tc.want, countsOf(tr)); diff != "" {
				t.Errorf("after %v (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// trackerTwin is the slow twin: sets of everything seen per flow.
type trackerTwin struct {
	seen    []map[uint32]bool
	highest []int64
	counts
}

func (w *trackerTwin) add(flow uint16, seq uint32) {
	w.Received++
	switch {
	case w.seen[flow][seq]:
		if int64(seq) < w.highest[flow]-window+1 {
			w.Reordered++ // beyond the window the tracker calls it late
		} else {
			w.Duplicates++
		}
		return
	case int64(seq) < w.highest[flow]:
		w.Reordered++
	}
	w.seen[flow][seq] = true
	w.highest[flow] = max(w.highest[flow], int64(seq))
}

// TestTrackerRandom checks Tracker against the twin on random streams
// with loss, local reordering and duplicates (kept inside the window so
// both must agree exactly).
func TestTrackerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 200 {
		flows := 1 + r.IntN(4)
		var stream [][2]uint32
		for f := range flows {
			n := r.IntN(300)
			for s := range n {
				if r.IntN(10) == 0 {
					continue // lost
				}
				stream = append(stream, [2]uint32{uint32(f), uint32(s)})
				if r.IntN(20) == 0 {
					stream = append(stream, [2]uint32{uint32(f), uint32(s)}) // duplicate
				}
			}
		}
		// Reorder locally: swap neighbours a few places apart.
		for i := range stream {
			if j := i + r.IntN(8); j < len(stream) && r.IntN(4) == 0 {
				stream[i], stream[j] = stream[j], stream[i]
			}
		}
		tr := NewTracker(flows)
		tw := &trackerTwin{seen: make([]map[uint32]bool, flows), highest: slices.Repeat([]int64{-1}, flows)}
		for i := range tw.seen {
			tw.seen[i] = map[uint32]bool{}
		}
		for _, p := range stream {
			tr.Add(uint16(p[0]), p[1])
			tw.add(uint16(p[0]), p[1])
		}
		for f := range flows {
			tw.Expected += uint64(tw.highest[f] + 1)
			tw.Lost += uint64(tw.highest[f]+1) - uint64(len(tw.seen[f]))
		}
		if diff := cmp.Diff(tw.counts, countsOf(tr)); diff != "" {
			t.Fatalf("round %d: tracker differs from twin (-twin +tracker):\n%s", round, diff)
		}
	}
}

func TestTrackerMerge(t *testing.T) {
	a, b := NewTracker(2), NewTracker(2)
	a.Add(0, 0)
	a.Add(0, 2)
	b.Add(1, 0)
	b.Add(1, 0)
	a.Merge(b)
	want := counts{Received: 4, Duplicates: 1, Expected: 4, Lost: 1}
	if diff := cmp.Diff(want, countsOf(a)); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
}

func TestHistogramBuckets(t *testing.T) {
	prevHigh := int64(-1)
	for i := range numBuckets {
		lo, hi := bucketLow(i), bucketHigh(i)
		if int64(lo) != prevHigh+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHigh)
		}
		if bucket(lo) != i || bucket(hi) != i {
			t.Fatalf("bucket(%d) = %d, bucket(%d) = %d, want %d", lo, bucket(lo), hi, bucket(hi), i)
		}
		if lo >= 2*subN && float64(hi-lo+1)/float64(lo) > 1.0/subN+1e-9 {
			t.Fatalf("bucket %d = [%d, %d] wider than 1/%d of its value", i, lo, hi, subN)
		}
		prevHigh = int64(hi)
	}
	if got := bucket(1 << 50); got != numBuckets-1 {
		t.Errorf("bucket(2^50) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

// TestHistogramPercentiles compares with exact percentiles of the sorted
// samples (the slow twin): within one bucket's relative width.
func TestHistogramPercentiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dist := range []struct {
		name string
		gen  func() int64
	}{
		{"uniform small", func() int64 { return r.Int64N(100) }},
		{"uniform", func() int64 { return r.Int64N(1e6) }},
		{"exponential", func() int64 { return int64(r.ExpFloat64() * 50e3) }},
		{"bimodal", func() int64 {
			if r.IntN(10) == 0 {
				return 5e6 + r.Int64N(1e6)
			}
			return 20e3 + r.Int64N(1e3)
		}},
	} {
		t.Run(dist.name, func(t *testing.T) {
			var h Histogram
			var xs []int64
			var sum float64
			for range 20000 {
				v := dist.gen()
				xs = append(xs, v)
				sum += float64(v)
				h.Record(v)
			}
			h.Record(-5)
			slices.Sort(xs)
			if h.Count() != uint64(len(xs)) || h.Negative != 1 {
				t.Fatalf("Count() = %d, Negative = %d, want %d, 1", h.Count(), h.Negative, len(xs))
			}
			if h.Min() != time.Duration(xs[0]) || h.Max() != time.Duration(xs[len(xs)-1]) {
				t.Errorf("Min, Max = %v, %v, want %v, %v", h.Min(), h.Max(), xs[0], xs[len(xs)-1])
			}
			if want := time.Duration(sum / float64(len(xs))); (h.Mean() - want).Abs() > 1 {
				t.Errorf("Mean() = %v, want %v", h.Mean(), want)
			}
			for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
				rank := max(int(float64(len(xs))*p/100+0.999999), 1)
				want := float64(xs[rank-1])
				got := float64(h.Percentile(p))
				if tol := max(want/subN, 1); got < want-tol || got > want+tol {
					t.Errorf("Percentile(%v) = %v, want %v ± %v", p, got, want, tol)
				}
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range int64(1000) {
		v := i * i
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs from the one that saw every sample")
	}
	var empty Histogram
	if empty.Percentile(50) != 0 || empty.Mean() != 0 {
		t.Errorf("empty histogram reports non-zero")
	}
	a.Reset()
	if a != empty {
		t.Errorf("Reset left samples")
	}
}
