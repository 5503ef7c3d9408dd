// UMEM: the frame area that every socket of a worker shares. Frames flow from
// here onto fill rings, come back on rx rings, go out on tx rings and return
// on completion rings — always as offsets into this one mapping.

package xsk

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Umem is an mmapped frame area in aligned chunk mode. It is registered with
// the kernel by the first socket created on it; later sockets share it with
// XDP_SHARED_UMEM, so a frame received on one socket can be transmitted on
// another without a copy.
//
// NewSocket, Close and the socket Close methods are safe for concurrent use;
// the ring methods belong to the socket's owner.
type Umem struct {
	cfg UmemConfig
	mem []byte

	mu      sync.Mutex
	closed  bool
	sockets []*Socket                  // open sockets, oldest first; sockets[0] lends its fd to shared binds
	queues  map[queueKey]*fillCompRing // fill and completion rings per bound device queue
	mode    Mode                       // what the registering bind got; shared binds inherit it
	wakeup  bool                       // need_wakeup of the registering bind; shared binds inherit it
}

// queueKey names a device queue. Sockets on the same queue share one fill and
// one completion ring (the kernel's buffer pool); sockets on different queues
// each have their own.
type queueKey struct{ ifindex, queue int }

// fillCompRing is the fill and completion ring pair of one buffer pool,
// mapped from the socket that created it and kept mapped while any socket on
// that queue is open (the kernel's pool is refcounted the same way).
type fillCompRing struct {
	fill prodRing[uint64]
	comp consRing[uint64]
	maps [2][]byte
	refs int // open sockets on the queue
}

// NewUmem maps the frame area. Nothing is registered with the kernel until
// the first NewSocket.
func NewUmem(cfg UmemConfig) (*Umem, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(-1, 0, cfg.NumFrames*cfg.FrameSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("xsk: mmap UMEM of %d frames of %d bytes: %w", cfg.NumFrames, cfg.FrameSize, err)
	}
	return &Umem{cfg: cfg, mem: mem, queues: make(map[queueKey]*fillCompRing)}, nil
}

// Mem returns the whole frame area; frame addr is Mem()[addr:addr+len].
func (u *Umem) Mem() []byte { return u.mem }

// FrameSize returns the chunk size.
func (u *Umem) FrameSize() int { return u.cfg.FrameSize }

// NumFrames returns the number of chunks.
func (u *Umem) NumFrames() int { return u.cfg.NumFrames }

// Headroom returns the registered headroom; a received packet starts at
// chunk + Headroom() + PacketHeadroom.
func (u *Umem) Headroom() int { return u.cfg.Headroom }

// Frames appends the start address of every chunk to dst and returns it:
// the initial content of a worker's FrameStack.
func (u *Umem) Frames(dst []uint64) []uint64 {
	for i := range u.cfg.NumFrames {
		dst = append(dst, uint64(i*u.cfg.FrameSize))
	}
	return dst
}

// Close unmaps the frame area. Every socket on it must be closed first.
func (u *Umem) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return ErrClosed
	}
	if n := len(u.sockets); n > 0 {
		return fmt.Errorf("xsk: Umem.Close: %d sockets still open", n)
	}
	u.closed = true
	if err := unix.Munmap(u.mem); err != nil {
		return fmt.Errorf("xsk: munmap UMEM: %w", err)
	}
	u.mem = nil
	return nil
}
