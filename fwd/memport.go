// The in-memory port: frames flow from a test's Inject through the fill and
// rx rings to the worker, and from the worker through the tx and completion
// rings to the test's Drain, exactly as a copy-mode AF_XDP socket moves
// them, with the four rings in ordinary memory.

package fwd

import (
	"fmt"
	"sync/atomic"

	"github.com/gannet-net/gannet/fwd/xsk"
)

// RxHeadroom is where a received packet starts within its frame: the
// kernel puts XDP_PACKET_HEADROOM (256) bytes in front of it, which is the
// room a 4->6 translation or an ICMP error grows into.
const RxHeadroom = 256

// MemPort is the in-memory twin of an AF_XDP socket in copy mode. The
// worker side is the Port interface; the test side is Inject (the "wire"
// delivering a frame: it takes a frame from the fill ring, copies the bytes
// to chunk+RxHeadroom and puts the descriptor on the rx ring) and Drain
// (the "wire" taking what was sent: it copies each frame out and completes
// it).
//
// Each ring is single-producer single-consumer with atomic indices, like
// the kernel's: the worker may run on its own goroutine while one
// goroutine injects and one drains (Inject and Drain may share one). The
// frame memory is the worker's; MemPort never owns a frame except while it
// sits on one of its rings.
type MemPort struct {
	mem       []byte
	frameSize int

	fill ring[uint64]   // worker produces, Inject consumes
	rx   ring[xsk.Desc] // Inject produces, worker consumes
	tx   ring[xsk.Desc] // worker produces, Drain consumes
	comp ring[uint64]   // Drain produces, worker consumes

	// Written by the injecting goroutine only.
	injected, noFrame atomic.Uint64
	// Written by the draining goroutine only.
	drained atomic.Uint64
}

// NewMemPort returns a port over mem (the worker's frame memory, frames of
// frameSize bytes, a power of two) with rings of ringSize entries (a power
// of two).
func NewMemPort(mem []byte, frameSize, ringSize int) *MemPort {
	if frameSize <= RxHeadroom || frameSize&(frameSize-1) != 0 {
		panic(fmt.Sprintf("fwd: NewMemPort: frame size %d is not a power of two above %d", frameSize, RxHeadroom))
	}
	if ringSize < 1 || ringSize&(ringSize-1) != 0 {
		panic(fmt.Sprintf("fwd: NewMemPort: ring size %d is not a power of two", ringSize))
	}
	p := &MemPort{mem: mem, frameSize: frameSize}
	p.fill.init(ringSize)
	p.rx.init(ringSize)
	p.tx.init(ringSize)
	p.comp.init(ringSize)
	return p
}

// Receive implements Port.
func (p *MemPort) Receive(d []xsk.Desc) int { return p.rx.consume(d) }

// Transmit implements Port.
func (p *MemPort) Transmit(d []xsk.Desc) int { return p.tx.produce(d) }

// Complete implements Port.
func (p *MemPort) Complete(addrs []uint64) int { return p.comp.consume(addrs) }

// Fill implements Port.
func (p *MemPort) Fill(addrs []uint64) int { return p.fill.produce(addrs) }

// Inject delivers one frame to the port as the kernel would: it takes a
// frame from the fill ring, copies frame to its chunk start + RxHeadroom
// and puts it on the rx ring. It returns false, changing nothing, when the
// fill ring is empty, the rx ring is full or the frame does not fit.
func (p *MemPort) Inject(frame []byte) bool {
	if len(frame) > p.frameSize-RxHeadroom || p.rx.free() == 0 {
		return false
	}
	var a [1]uint64
	if p.fill.consume(a[:]) == 0 {
		p.noFrame.Add(1)
		return false
	}
	chunk := a[0] &^ uint64(p.frameSize-1)
	addr := chunk + RxHeadroom
	copy(p.mem[addr:addr+uint64(len(frame))], frame)
	p.rx.produce([]xsk.Desc{{Addr: addr, Len: uint32(len(frame))}})
	p.injected.Add(1)
	return true
}

// Drain takes every frame the worker transmitted so far, in order, calls
// fn with a copy of each (fn may keep it) and completes them. It returns
// how many it drained.
func (p *MemPort) Drain(fn func(frame []byte)) int {
	var d [64]xsk.Desc
	total := 0
	for {
		n := p.tx.consume(d[:])
		if n == 0 {
			return total
		}
		var addrs [64]uint64
		for i, x := range d[:n] {
			if fn != nil {
				fn(append([]byte(nil), p.mem[x.Addr:x.Addr+uint64(x.Len)]...))
			}
			addrs[i] = x.Addr
		}
		// The completion ring is as large as the tx ring, and every frame
		// on it came off the tx ring, so this always fits.
		if p.comp.produce(addrs[:n]) != n {
			panic("fwd: MemPort.Drain: completion ring overflow")
		}
		p.drained.Add(uint64(n))
		total += n
	}
}

// Injected returns how many frames Inject delivered.
func (p *MemPort) Injected() uint64 { return p.injected.Load() }

// NoFrame returns how many Inject calls found the fill ring empty (the
// kernel counts these as rx_fill_ring_empty_descs).
func (p *MemPort) NoFrame() uint64 { return p.noFrame.Load() }

// Drained returns how many frames Drain took.
func (p *MemPort) Drained() uint64 { return p.drained.Load() }

// Frames calls fn with the chunk address of every frame on the port's
// rings. Only meaningful while neither the worker nor Inject/Drain run:
// the frame accounting tests use it to prove no frame is lost or doubled.
func (p *MemPort) Frames(fn func(chunk uint64)) {
	mask := ^uint64(p.frameSize - 1)
	p.fill.each(func(a uint64) { fn(a & mask) })
	p.comp.each(func(a uint64) { fn(a & mask) })
	p.rx.each(func(d xsk.Desc) { fn(d.Addr & mask) })
	p.tx.each(func(d xsk.Desc) { fn(d.Addr & mask) })
}

// CloseReclaim implements Reclaimer: it lists the frames on every ring.
// The port is done with: neither the worker nor Inject or Drain may use
// it any more.
func (p *MemPort) CloseReclaim(dst []uint64) ([]uint64, error) {
	p.Frames(func(chunk uint64) { dst = append(dst, chunk) })
	return dst, nil
}

// ring is a single-producer single-consumer ring with the kernel's
// protocol: each side caches the other side's index and reloads it only
// when the cache says the ring is full (or empty), and publishes its own
// index with one atomic store per batch.
type ring[T any] struct {
	prod atomic.Uint32 // written by the producer
	_    [60]byte
	cons atomic.Uint32 // written by the consumer
	_    [60]byte
	// Producer-private.
	pcons, pprod uint32
	_            [56]byte
	// Consumer-private.
	cprod, ccons uint32
	_            [56]byte
	buf          []T
	mask         uint32
}

func (r *ring[T]) init(n int) {
	r.buf = make([]T, n)
	r.mask = uint32(n - 1)
}

// free returns how many entries the producer may add (producer side).
func (r *ring[T]) free() int {
	n := uint32(len(r.buf)) - (r.pprod - r.pcons)
	if n == 0 {
		r.pcons = r.cons.Load()
		n = uint32(len(r.buf)) - (r.pprod - r.pcons)
	}
	return int(n)
}

func (r *ring[T]) produce(src []T) int {
	n := uint32(len(r.buf)) - (r.pprod - r.pcons)
	if n < uint32(len(src)) {
		r.pcons = r.cons.Load()
		n = uint32(len(r.buf)) - (r.pprod - r.pcons)
	}
	n = min(n, uint32(len(src)))
	for i := range n {
		r.buf[(r.pprod+i)&r.mask] = src[i]
	}
	if n > 0 {
		r.pprod += n
		r.prod.Store(r.pprod)
	}
	return int(n)
}

func (r *ring[T]) consume(dst []T) int {
	n := r.cprod - r.ccons
	if n < uint32(len(dst)) {
		r.cprod = r.prod.Load()
		n = r.cprod - r.ccons
	}
	n = min(n, uint32(len(dst)))
	for i := range n {
		dst[i] = r.buf[(r.ccons+i)&r.mask]
	}
	if n > 0 {
		r.ccons += n
		r.cons.Store(r.ccons)
	}
	return int(n)
}

// each calls fn for every entry between the published indices (quiescent
// rings only).
func (r *ring[T]) each(fn func(T)) {
	for i := r.cons.Load(); i != r.prod.Load(); i++ {
		fn(r.buf[i&r.mask])
	}
}
