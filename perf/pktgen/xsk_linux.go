// AF_XDP engines: a sender that copies stamped frames into its UMEM and
// hands them to the tx ring of one device queue, and a receiver that takes
// frames off the rx ring of one queue (steered there by a tiny XDP
// program), checks their payload headers and gives the frames back to the
// fill ring. One thread owns each; neither allocates per packet.

package pktgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/pkt"
)

const xskBatch = 64

// XSKSender sends on one device queue.
type XSKSender struct {
	frames *Frames
	umem   *xsk.Umem
	sock   *xsk.Socket
	free   *xsk.FrameStack
	seq    []uint32 // next sequence number per flow
}

// NewXSKSender opens an AF_XDP socket on (ifindex, queue) with a UMEM of
// its own.
func NewXSKSender(f *Frames, ifindex, queue int, mode xsk.Mode) (*XSKSender, error) {
	const nframes = 4096
	u, err := xsk.NewUmem(xsk.UmemConfig{NumFrames: nframes, FrameSize: 2048, FillSize: 2048, CompletionSize: 2048})
	if err != nil {
		return nil, err
	}
	// The sender receives nothing: a small rx ring, and no frames on the fill ring.
	s, err := u.NewSocket(xsk.SocketConfig{Ifindex: ifindex, Queue: queue, Mode: mode, RxSize: 64, TxSize: 2048})
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("pktgen: AF_XDP socket on ifindex %d queue %d: %w", ifindex, queue, err)
	}
	free := xsk.NewFrameStack(nframes)
	for i := range nframes {
		free.Push(uint64(i * 2048))
	}
	return &XSKSender{frames: f, umem: u, sock: s, free: free, seq: make([]uint32, f.Flows())}, nil
}

// Mode returns the socket's mode (copy on veth).
func (s *XSKSender) Mode() xsk.Mode { return s.sock.Mode() }

// Close closes the socket and the UMEM.
func (s *XSKSender) Close() error {
	return errors.Join(s.sock.Close(), s.umem.Close())
}

// Send sends on the calling thread (pin it first) until ctx ends or Count
// packets completed, adding completed packets to *sent. Frames are
// stamped with one timestamp per batch.
func (s *XSKSender) Send(ctx context.Context, cfg SendConfig, sent *Counter) error {
	if len(cfg.Flows) == 0 {
		return errors.New("pktgen: no flows to send")
	}
	var (
		descs    [xskBatch]xsk.Desc
		addrs    [xskBatch]uint64
		pending  []xsk.Desc // built but not yet taken by the tx ring
		queued   uint64     // packets built (sequence numbers used)
		done     uint64     // packets completed
		fi       int
		mem      = s.umem.Mem()
		size     = s.frames.Size()
		start    = time.Now()
		deadline time.Time
	)
	pendBuf := make([]xsk.Desc, 0, xskBatch)
	for iter := 0; ; iter++ {
		if iter&63 == 0 {
			if ctx.Err() != nil {
				s.drain(queued-done, sent)
				return nil
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				return nil // the last frames never completed (device gone?)
			}
		}
		if n := s.sock.Complete(addrs[:]); n > 0 {
			s.free.PushBatch(addrs[:n])
			done += uint64(n)
			sent.Add(uint64(n))
		}
		if cfg.Count > 0 && done >= cfg.Count {
			return nil
		}
		if len(pending) > 0 {
			m := s.sock.Transmit(pending)
			pending = pending[m:]
			if len(pending) > 0 {
				continue
			}
		}
		want := xskBatch
		if cfg.Count > 0 {
			if queued >= cfg.Count {
				if deadline.IsZero() {
					deadline = time.Now().Add(time.Second)
				}
				if s.sock.Transmit(nil) == 0 && done < queued {
					time.Sleep(10 * time.Microsecond)
				}
				continue
			}
			want = int(min(uint64(want), cfg.Count-queued))
		}
		if cfg.Rate > 0 {
			budget := int64(cfg.Rate*time.Since(start).Seconds()) - int64(queued)
			if budget <= 0 {
				time.Sleep(20 * time.Microsecond)
				continue
			}
			want = int(min(int64(want), budget))
		}
		k := s.free.PopBatch(addrs[:want])
		if k == 0 {
			s.sock.Transmit(nil) // kick so completions come back
			continue
		}
		ts := Now()
		for i, a := range addrs[:k] {
			flow := cfg.Flows[fi]
			if fi++; fi == len(cfg.Flows) {
				fi = 0
			}
			s.frames.Write(mem[a:a+uint64(size)], flow, s.seq[flow], ts)
			s.seq[flow]++
			descs[i] = xsk.Desc{Addr: a, Len: uint32(size)}
		}
		queued += uint64(k)
		m := s.sock.Transmit(descs[:k])
		if m < k {
			pending = append(pendBuf[:0], descs[m:k]...)
		}
	}
}

// drain counts the completions of up to outstanding frames still in the
// kernel, waiting at most 100 ms, so that the sent count is exact.
func (s *XSKSender) drain(outstanding uint64, sent *Counter) {
	var addrs [xskBatch]uint64
	for end := time.Now().Add(100 * time.Millisecond); outstanding > 0 && time.Now().Before(end); {
		n := s.sock.Complete(addrs[:])
		if n == 0 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		s.free.PushBatch(addrs[:n])
		outstanding -= uint64(min(uint64(n), outstanding))
		sent.Add(uint64(n))
	}
}

// RxProgram steers every frame of an interface to the AF_XDP socket bound
// to its receive queue (XDP_PASS when none is).
type RxProgram struct {
	prog *ebpf.Program
	xsks *ebpf.Map
	link link.Link
}

// AttachRx loads and attaches the steering program to ifindex.
func AttachRx(ifindex int) (*RxProgram, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pktgen_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		return nil, fmt.Errorf("pktgen: XSKMAP: %w", err)
	}
	const xdpPass = 2
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "pktgen_rx", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // rx_queue_index
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R3, xdpPass),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		}})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("pktgen: load rx program: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex})
	if err != nil {
		prog.Close()
		m.Close()
		return nil, fmt.Errorf("pktgen: attach rx program to ifindex %d: %w", ifindex, err)
	}
	return &RxProgram{prog: prog, xsks: m, link: l}, nil
}

// Close detaches and frees the program.
func (p *RxProgram) Close() error {
	return errors.Join(p.link.Close(), p.prog.Close(), p.xsks.Close())
}

// XSKReceiver receives on one device queue.
type XSKReceiver struct {
	umem *xsk.Umem
	sock *xsk.Socket
	// Counters the reporting goroutine reads while Receive runs.
	Packets, Valid Counter
	// Owned by the receiving thread; read them after Receive returns.
	Tracker *Tracker
	Latency Histogram
}

// NewXSKReceiver opens an AF_XDP socket on (ifindex, queue) and registers
// it with p.
func NewXSKReceiver(p *RxProgram, ifindex, queue, flows int, mode xsk.Mode) (*XSKReceiver, error) {
	const nframes = 4096
	u, err := xsk.NewUmem(xsk.UmemConfig{NumFrames: nframes, FrameSize: 2048, FillSize: 4096, CompletionSize: 64})
	if err != nil {
		return nil, err
	}
	s, err := u.NewSocket(xsk.SocketConfig{Ifindex: ifindex, Queue: queue, Mode: mode, RxSize: 4096, TxSize: 64})
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("pktgen: AF_XDP socket on ifindex %d queue %d: %w", ifindex, queue, err)
	}
	addrs := make([]uint64, nframes)
	for i := range addrs {
		addrs[i] = uint64(i * 2048)
	}
	if n := s.Fill(addrs); n != nframes {
		s.Close()
		u.Close()
		return nil, fmt.Errorf("pktgen: fill ring took %d of %d frames", n, nframes)
	}
	if err := p.xsks.Put(uint32(queue), uint32(s.FD())); err != nil {
		s.Close()
		u.Close()
		return nil, fmt.Errorf("pktgen: XSKMAP[%d]: %w", queue, err)
	}
	return &XSKReceiver{umem: u, sock: s, Tracker: NewTracker(flows)}, nil
}

// Close closes the socket and the UMEM.
func (r *XSKReceiver) Close() error {
	return errors.Join(r.sock.Close(), r.umem.Close())
}

// Receive runs on the calling thread until ctx ends, accounting every
// frame that carries a payload header.
func (r *XSKReceiver) Receive(ctx context.Context) error {
	var (
		descs [xskBatch]xsk.Desc
		addrs [xskBatch]uint64
		sum   pkt.Summary
		mem   = r.umem.Mem()
	)
	for {
		n := r.sock.Receive(descs[:])
		if n == 0 {
			if ctx.Err() != nil {
				return nil
			}
			if _, err := r.sock.Poll(100 * time.Millisecond); err != nil {
				return err
			}
			continue
		}
		now := Now()
		valid := 0
		for i, d := range descs[:n] {
			if h, ok := ParseFrame(mem[d.Addr:d.Addr+uint64(d.Len)], &sum); ok {
				r.Tracker.Add(h.Flow, h.Seq)
				r.Latency.Record(now - h.TxNs)
				valid++
			}
			addrs[i] = d.Chunk(2048)
		}
		r.sock.Fill(addrs[:n]) // every frame came from this ring: it fits
		r.Packets.Add(uint64(n))
		r.Valid.Add(uint64(valid))
	}
}
