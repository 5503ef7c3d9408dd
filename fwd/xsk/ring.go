// Rings: the four single-producer/single-consumer queues shared with the
// kernel. Fill and tx are produced here and consumed by the kernel; rx and
// completion are produced by the kernel and consumed here. Entries flow
// through desc[index & mask]; indices are free-running uint32s.

package xsk

import "sync/atomic"

// entry is what a ring carries: frame addresses (fill, completion) or
// descriptors (rx, tx).
type entry interface{ uint64 | Desc }

// ringMem names the shared words of one ring. On a socket they point into the
// ring's mmap (see XDP_MMAP_OFFSETS); in tests they point into ordinary memory
// so a test can play the kernel's side.
type ringMem[T entry] struct {
	producer *uint32 // written by the producing side only, with a release store
	consumer *uint32 // written by the consuming side only, with a release store
	flags    *uint32 // written by the kernel only (XDP_RING_NEED_WAKEUP)
	desc     []T     // len is a power of two
}

// prodRing is our end of a ring we produce into (fill, tx).
//
// Protocol (Documentation/networking/af_xdp.rst, libxdp xsk.h): write the
// entries at desc[prod & mask], then publish them with one atomic store of
// producer; the store orders the entry writes before it (Go's sync/atomic is
// sequentially consistent, which is at least release). The kernel frees space
// by storing consumer after it has read the entries; we load consumer
// atomically (acquire) before reusing those slots.
type prodRing[T entry] struct {
	ringMem[T]
	mask uint32
	size uint32
	// prod is our producer index: the next slot to write. Equal to *producer
	// between calls, since each call publishes what it wrote.
	prod uint32
	// limit is the cached consumer + size: slots below it are known free.
	// Refreshed by one atomic load of consumer only when a batch does not fit.
	limit uint32
}

func newProdRing[T entry](m ringMem[T]) prodRing[T] {
	n := uint32(len(m.desc))
	mustPow2(n)
	r := prodRing[T]{ringMem: m, mask: n - 1, size: n}
	r.prod = atomic.LoadUint32(m.producer)
	r.limit = atomic.LoadUint32(m.consumer) + n
	return r
}

// free returns how many slots can be written without looking at the consumer
// again, refreshing the cache when fewer than want are known to be free.
func (r *prodRing[T]) free(want uint32) uint32 {
	if f := r.limit - r.prod; f >= want {
		return f
	}
	r.limit = atomic.LoadUint32(r.consumer) + r.size
	return r.limit - r.prod
}

// produce copies as many of src as fit into the ring and publishes them with
// one store. It returns how many it took.
func (r *prodRing[T]) produce(src []T) int {
	n := min(uint32(len(src)), r.free(uint32(len(src))))
	if n == 0 {
		return 0
	}
	r.put(src[:n])
	r.prod += n
	atomic.StoreUint32(r.producer, r.prod)
	return int(n)
}

// put writes src at the slots starting at prod, in at most two copies (the
// ring wraps at most once per batch since len(src) <= size).
func (r *prodRing[T]) put(src []T) {
	i := r.prod & r.mask
	k := copy(r.desc[i:], src)
	copy(r.desc, src[k:])
}

// needWakeup reports whether the kernel asked to be woken for this ring.
func (r *prodRing[T]) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&flagNeedWakeup != 0
}

// consRing is our end of a ring the kernel produces into (rx, completion).
//
// Protocol: load producer atomically (acquire) to learn how many entries are
// ready, read them, then hand their slots back with one atomic store of
// consumer (release), after which the kernel may overwrite them.
type consRing[T entry] struct {
	ringMem[T]
	mask uint32
	size uint32
	// cons is our consumer index: the next slot to read. Equal to *consumer
	// between calls.
	cons uint32
	// avail is the cached producer: entries below it are known ready.
	// Refreshed by one atomic load of producer only when a batch is not
	// already covered.
	avail uint32
}

func newConsRing[T entry](m ringMem[T]) consRing[T] {
	n := uint32(len(m.desc))
	mustPow2(n)
	r := consRing[T]{ringMem: m, mask: n - 1, size: n}
	r.cons = atomic.LoadUint32(m.consumer)
	r.avail = atomic.LoadUint32(m.producer)
	return r
}

// ready returns how many entries can be read, refreshing the cache when fewer
// than want are known to be ready.
func (r *consRing[T]) ready(want uint32) uint32 {
	if a := r.avail - r.cons; a >= want {
		return a
	}
	r.avail = atomic.LoadUint32(r.producer)
	return r.avail - r.cons
}

// consume copies up to len(dst) ready entries into dst and releases their
// slots with one store. It returns how many it took.
func (r *consRing[T]) consume(dst []T) int {
	n := min(uint32(len(dst)), r.ready(uint32(len(dst))))
	if n == 0 {
		return 0
	}
	r.get(dst[:n])
	r.cons += n
	atomic.StoreUint32(r.consumer, r.cons)
	return int(n)
}

func (r *consRing[T]) get(dst []T) {
	i := r.cons & r.mask
	k := copy(dst, r.desc[i:])
	copy(dst[k:], r.desc)
}

// flagNeedWakeup is XDP_RING_NEED_WAKEUP in a ring's flags word.
const flagNeedWakeup = 1

func mustPow2(n uint32) {
	if n == 0 || n&(n-1) != 0 {
		panic("xsk: ring size is not a power of two")
	}
}
