// Rings between a worker and the control plane: the worker produces
// records (policy log lines, captured frames) into a bounded ring of its
// own and never waits; a control-plane goroutine consumes them. A full
// ring refuses the record, and the worker counts it.

package fwd

import "sync/atomic"

// spsc is a single-producer, single-consumer ring of preallocated slots.
// The producer (one worker) fills the slot slot returns and publishes it
// with push; the consumer (one control-plane goroutine) reads the
// published slots in order with pop. The atomic store of tail after the
// slot's write, and of head after its read, order the two sides (Go's
// memory model: a Load that observes a Store happens after it).
type spsc[T any] struct {
	slots []T
	mask  uint64
	// Written by the producer only.
	tail  atomic.Uint64
	ptail uint64 // the producer's own copy of tail
	phead uint64 // the producer's last look at head
	_     [40]byte
	// Written by the consumer only.
	head atomic.Uint64
}

// newSPSC returns a ring of n slots (rounded up to a power of two).
func newSPSC[T any](n int) *spsc[T] {
	size := 1
	for size < n {
		size <<= 1
	}
	return &spsc[T]{slots: make([]T, size), mask: uint64(size - 1)}
}

// slot returns the next free slot for the producer to fill, or nil when
// the ring is full. Nothing is published until push.
func (r *spsc[T]) slot() *T {
	if r.ptail-r.phead >= uint64(len(r.slots)) {
		r.phead = r.head.Load()
		if r.ptail-r.phead >= uint64(len(r.slots)) {
			return nil
		}
	}
	return &r.slots[r.ptail&r.mask]
}

// push publishes the slot slot returned last.
func (r *spsc[T]) push() {
	r.ptail++
	r.tail.Store(r.ptail)
}

// pop hands each published slot to fn, oldest first, and frees them; it
// returns how many there were. The consumer only.
func (r *spsc[T]) pop(fn func(*T)) int {
	h, t := r.head.Load(), r.tail.Load()
	for i := h; i != t; i++ {
		fn(&r.slots[i&r.mask])
	}
	r.head.Store(t)
	return int(t - h)
}
