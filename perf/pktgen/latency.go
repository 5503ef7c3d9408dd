// Latency: one-way delays (receive time minus the transmit timestamp in
// the payload) go into a histogram of fixed log-linear buckets, as in HDR
// histograms: 32 sub-buckets per power of two, so a reported percentile is
// within 1/32 (about 3%) of the true value, with no allocation per sample.

package pktgen

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits = 5
	subN    = 1 << subBits // sub-buckets per power of two
	// maxExp bounds the largest value: 2^40 ns (about 18 minutes).
	maxExp     = 40
	numBuckets = (maxExp - subBits + 1) * subN // values below 2^40: shifts up to maxExp-subBits-1
)

// Histogram counts durations in nanoseconds.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
	Negative uint64 // samples below zero (clock skew between sender and receiver), not counted
}

// bucket returns the bucket index of v >= 0.
func bucket(v uint64) int {
	if v < 2*subN {
		return int(v)
	}
	if v >= 1<<maxExp {
		v = 1<<maxExp - 1
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)*subN + int(v>>shift) - subN
}

// bucketLow returns the smallest value in bucket i.
func bucketLow(i int) uint64 {
	if i < 2*subN {
		return uint64(i)
	}
	shift := i/subN - 1
	return uint64(i%subN+subN) << shift
}

// bucketHigh returns the largest value in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*subN {
		return uint64(i)
	}
	shift := i/subN - 1
	return bucketLow(i) + 1<<shift - 1
}

// Record adds one sample. It allocates nothing.
func (h *Histogram) Record(ns int64) {
	if ns < 0 {
		h.Negative++
		return
	}
	if h.n == 0 || ns < h.min {
		h.min = ns
	}
	if ns > h.max {
		h.max = ns
	}
	h.n++
	h.sum += float64(ns)
	h.counts[bucket(uint64(ns))]++
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min, Max and Mean describe the samples exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Percentile returns the sample at quantile p (0..100): the midpoint of
// the bucket holding it, clamped to the exact minimum and maximum.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = max(rank, 1)
	var c uint64
	for i := range h.counts {
		c += h.counts[i]
		if c >= rank {
			v := int64(bucketLow(i)+bucketHigh(i)) / 2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		h.Negative += o.Negative
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
	h.Negative += o.Negative
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
