package fwd

// The real port: one AF_XDP socket on one queue of one interface, seen by a
// worker as a Port. Frames normally stay in the worker's UMEM from the
// device's rx to another device's tx (the socket shares the UMEM, so
// forwarding moves a descriptor, not bytes). When the kernel refuses to let
// the socket share the UMEM, the port gets a small UMEM of its own and
// copies each frame once: into a worker frame on receive, out of one on
// transmit. The worker cannot tell the two apart except by the Copies
// counter.

import (
	"errors"
	"fmt"

	"github.com/gannet-net/gannet/fwd/xsk"
)

// XSKPort is a Port over an AF_XDP socket. Like every Port it belongs to one
// worker; Stats and Mode may be called from anywhere.
type XSKPort struct {
	sock *xsk.Socket

	// Copy fallback, nil/zero when the socket shares the worker's UMEM.
	own       *xsk.Umem
	ownFree   *xsk.FrameStack // own frames free for transmit copies
	stash     *xsk.FrameStack // worker frames given by Fill, awaiting a received copy
	done      []uint64        // worker frames whose transmit copy is made; Complete returns them
	workerMem []byte
	frameSize uint64
	copies    uint64 // written by the owner only
	descs     [batchMax]xsk.Desc
	addrs     [batchMax]uint64
}

// batchMax bounds the batches the port moves per call in copy mode.
const batchMax = 64

// XSKPortConfig says where the port's socket binds.
type XSKPortConfig struct {
	Socket xsk.SocketConfig
	// NoShare makes the port use a UMEM of its own even where the kernel
	// would share the worker's: the copy path, for tests and for devices
	// known to misbehave with shared UMEM.
	NoShare bool
}

// NewXSKPort opens the port's socket on the worker's UMEM, falling back to a
// UMEM of its own (one copy per frame) when the kernel refuses to share.
func NewXSKPort(umem *xsk.Umem, cfg XSKPortConfig) (*XSKPort, error) {
	if !cfg.NoShare {
		s, err := umem.NewSocket(cfg.Socket)
		if err == nil {
			return &XSKPort{sock: s}, nil
		}
		if !errors.Is(err, xsk.ErrSharedUmem) {
			return nil, err
		}
	}
	ring := cfg.Socket.RxSize
	if ring == 0 {
		ring = xsk.DefaultRingSize
	}
	// Half the own frames sit on the fill ring, half wait for transmit.
	own, err := xsk.NewUmem(xsk.UmemConfig{NumFrames: 2 * ring, FrameSize: umem.FrameSize(),
		FillSize: ring, CompletionSize: ring})
	if err != nil {
		return nil, fmt.Errorf("fwd: own UMEM for ifindex %d queue %d: %w", cfg.Socket.Ifindex, cfg.Socket.Queue, err)
	}
	s, err := own.NewSocket(cfg.Socket)
	if err != nil {
		own.Close()
		return nil, err
	}
	p := &XSKPort{
		sock: s, own: own,
		ownFree:   xsk.NewFrameStack(2 * ring),
		stash:     xsk.NewFrameStack(ring),
		done:      make([]uint64, 0, ring),
		workerMem: umem.Mem(),
		frameSize: uint64(umem.FrameSize()),
	}
	frames := own.Frames(nil)
	if n := s.Fill(frames[:ring]); n != ring {
		p.Close()
		return nil, fmt.Errorf("fwd: fill ring took %d of %d frames", n, ring)
	}
	p.ownFree.PushBatch(frames[ring:])
	return p, nil
}

// FD is the socket, for the XDP program's XSKMAP and for poll.
func (p *XSKPort) FD() int { return p.sock.FD() }

// Mode is the socket's bind mode (copy or zero-copy).
func (p *XSKPort) Mode() xsk.Mode { return p.sock.Mode() }

// Shared reports whether the port shares the worker's UMEM.
func (p *XSKPort) Shared() bool { return p.own == nil }

// Stats returns the kernel's XDP_STATISTICS for the socket.
func (p *XSKPort) Stats() (xsk.Stats, error) { return p.sock.Stats() }

// Fill gives the port empty worker frames for reception.
func (p *XSKPort) Fill(addrs []uint64) int {
	if p.own == nil {
		return p.sock.Fill(addrs)
	}
	n := min(len(addrs), p.stash.Cap()-p.stash.Len())
	p.stash.PushBatch(addrs[:n])
	return n
}

// Receive takes received frames; in copy mode each is copied into a worker
// frame from the stash at the same offset in its chunk, and the port's own
// frame goes straight back to the fill ring.
func (p *XSKPort) Receive(d []xsk.Desc) int {
	if p.own == nil {
		return p.sock.Receive(d)
	}
	want := min(len(d), p.stash.Len(), batchMax)
	n := p.sock.Receive(p.descs[:want])
	mask := p.frameSize - 1
	ownMem := p.own.Mem()
	for i := range n {
		src := p.descs[i]
		w, _ := p.stash.Pop()
		off := src.Addr & mask
		copy(p.workerMem[w+off:w+off+uint64(src.Len)], ownMem[src.Addr:src.Addr+uint64(src.Len)])
		d[i] = xsk.Desc{Addr: w + off, Len: src.Len}
		p.addrs[i] = src.Addr &^ mask
	}
	if n > 0 {
		p.copies += uint64(n)
		// The fill ring has room: every frame on it came from there.
		p.sock.Fill(p.addrs[:n])
	}
	return n
}

// Transmit hands frames to the socket; in copy mode each is copied into a
// free frame of the port's own UMEM and the worker's frame is finished at
// once (Complete returns it).
func (p *XSKPort) Transmit(d []xsk.Desc) int {
	if p.own == nil {
		return p.sock.Transmit(d)
	}
	p.reclaim()
	k := min(len(d), p.ownFree.Len(), cap(p.done)-len(p.done), batchMax)
	mask := p.frameSize - 1
	ownMem := p.own.Mem()
	for i := range k {
		src := d[i]
		o, _ := p.ownFree.Pop()
		off := src.Addr & mask
		copy(ownMem[o+off:o+off+uint64(src.Len)], p.workerMem[src.Addr:src.Addr+uint64(src.Len)])
		p.descs[i] = xsk.Desc{Addr: o + off, Len: src.Len}
	}
	n := p.sock.Transmit(p.descs[:k])
	for i := n; i < k; i++ { // not taken: the own frames are free again
		p.ownFree.Push(p.descs[i].Addr &^ mask)
	}
	for i := range n {
		p.done = append(p.done, d[i].Addr&^mask)
	}
	p.copies += uint64(n)
	return n
}

// Complete returns frames the port has finished sending (chunk addresses).
// The socket's Complete also kicks the kernel while frames wait on the tx
// ring: in copy mode the kernel sends at most 32 frames per wakeup.
func (p *XSKPort) Complete(addrs []uint64) int {
	if p.own == nil {
		return p.sock.Complete(addrs)
	}
	p.reclaim()
	n := copy(addrs, p.done)
	p.done = p.done[:copy(p.done, p.done[n:])]
	return n
}

// reclaim moves the port's own sent frames back to its free stack.
func (p *XSKPort) reclaim() {
	for {
		n := p.sock.Complete(p.addrs[:])
		for i := range n {
			p.ownFree.Push(p.addrs[i] &^ (p.frameSize - 1))
		}
		if n < len(p.addrs) {
			return
		}
	}
}

// Copies returns how many frames the copy fallback has copied (0 when the
// UMEM is shared). Owner only.
func (p *XSKPort) Copies() uint64 { return p.copies }

// Close closes the socket (and the port's own UMEM). Frames the port held
// belong to the worker's UMEM, which the worker's owner closes.
func (p *XSKPort) Close() error {
	err := p.sock.Close()
	if p.own != nil {
		err = errors.Join(err, p.own.Close())
	}
	return err
}

// CloseReclaim implements Reclaimer: it closes the port like Close and
// appends the worker frames it still held — on the socket's rings when
// the UMEM is shared, in the copy path's stash and done list otherwise
// (the socket's rings then hold the port's own frames, which go with its
// UMEM).
func (p *XSKPort) CloseReclaim(dst []uint64) ([]uint64, error) {
	if p.own == nil {
		return p.sock.CloseReclaim(dst)
	}
	for {
		a, ok := p.stash.Pop()
		if !ok {
			break
		}
		dst = append(dst, a)
	}
	dst = append(dst, p.done...)
	p.done = p.done[:0]
	return dst, p.Close()
}
