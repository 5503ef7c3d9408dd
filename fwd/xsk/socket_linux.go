// Sockets: an AF_XDP socket bound to one device queue. Its rx and tx rings
// are its own; its fill and completion rings belong to the queue's buffer
// pool (shared with other sockets on the same queue). This file holds the
// setup syscalls and the few syscalls of the data path (wakeups).

package xsk

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket is an AF_XDP socket. Fill, Receive, Transmit, Complete and Poll
// belong to one owner (a worker) and are not safe for concurrent use; Stats,
// Wakeups, FD and Mode may be called from anywhere.
type Socket struct {
	fd   int
	umem *Umem
	key  queueKey
	fc   *fillCompRing // shared with sockets on the same queue

	rx     consRing[Desc]
	tx     prodRing[Desc]
	rxMap  []byte
	txMap  []byte
	mode   Mode
	chunk  uint64 // ^(FrameSize-1): masks an address to its chunk start
	wakeup bool   // need_wakeup in effect: kick only when a ring's flag asks
	busy   bool   // busy polling: every empty receive and every transmit drives NAPI by a syscall
	// txBudget is how many descriptors one copy-mode wakeup sends
	// (XDP_MAX_TX_SKB_BUDGET; 32 on kernels before 6.17).
	txBudget int

	pollFD [1]unix.PollFd

	txWakeups atomic.Uint64
	rxWakeups atomic.Uint64
	closed    bool // guarded by umem.mu
}

// NewSocket creates and binds a socket on (Ifindex, Queue) using u. The first
// socket registers u; later sockets share it (XDP_SHARED_UMEM, their own
// fill/completion rings when the device or queue differs). If the kernel
// refuses sharing the error wraps ErrSharedUmem and the caller falls back to a
// Umem of its own for that socket (forwarding then copies once).
//
// A shared bind cannot choose its mode or need_wakeup: the kernel gives it
// those of the UMEM's first socket. A shared socket that asks explicitly for
// the other mode gets an error wrapping ErrSharedUmem.
func (u *Umem) NewSocket(cfg SocketConfig) (*Socket, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, ErrClosed
	}
	var s *Socket
	if len(u.sockets) > 0 {
		s, err = u.openShared(cfg)
	} else {
		s, err = u.openFirst(cfg)
	}
	if err != nil {
		return nil, err
	}
	u.sockets = append(u.sockets, s)
	return s, nil
}

// openFirst registers the UMEM on a new socket and binds it, trying zero-copy
// first in ModeAuto. A failed zero-copy bind is retried on a fresh socket so
// nothing of the failed attempt lingers in the kernel.
func (u *Umem) openFirst(cfg SocketConfig) (*Socket, error) {
	var flags uint16
	if !cfg.NoNeedWakeup {
		flags |= unix.XDP_USE_NEED_WAKEUP
	}
	switch cfg.Mode {
	case ModeCopy:
		return u.open(cfg, flags|unix.XDP_COPY, true)
	case ModeZeroCopy:
		return u.open(cfg, flags|unix.XDP_ZEROCOPY, true)
	}
	s, zcErr := u.open(cfg, flags|unix.XDP_ZEROCOPY, true)
	if zcErr == nil {
		return s, nil
	}
	s, err := u.open(cfg, flags|unix.XDP_COPY, true)
	if err != nil {
		return nil, fmt.Errorf("%w (zero-copy bind also failed: %v)", err, zcErr)
	}
	return s, nil
}

// openShared binds a socket to the UMEM registered by u.sockets[0].
func (u *Umem) openShared(cfg SocketConfig) (*Socket, error) {
	if cfg.Mode != ModeAuto && cfg.Mode != u.mode {
		return nil, fmt.Errorf("xsk: socket on ifindex %d queue %d wants %v mode but the UMEM is bound %v: %w",
			cfg.Ifindex, cfg.Queue, cfg.Mode, u.mode, ErrSharedUmem)
	}
	return u.open(cfg, unix.XDP_SHARED_UMEM, false)
}

// open creates one socket and binds it with flags. register says whether this
// socket registers the UMEM (the first one) or shares it.
func (u *Umem) open(cfg SocketConfig, flags uint16, register bool) (_ *Socket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("xsk: socket(AF_XDP): %w", err)
	}
	key := queueKey{cfg.Ifindex, cfg.Queue}
	s := &Socket{fd: fd, umem: u, key: key, chunk: ^uint64(u.cfg.FrameSize - 1)}
	var newFC *fillCompRing
	defer func() {
		if err != nil {
			s.unmap()
			if newFC != nil {
				newFC.unmap()
			}
			unix.Close(fd)
		}
	}()

	if err := setBusyPoll(fd, cfg); err != nil {
		return nil, err
	}
	if register {
		reg := unix.XDPUmemReg{
			Addr:     uint64(uintptr(unsafe.Pointer(&u.mem[0]))),
			Len:      uint64(len(u.mem)),
			Size:     uint32(u.cfg.FrameSize),
			Headroom: uint32(u.cfg.Headroom),
		}
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			// The kernel pins the UMEM and answers ENOBUFS when that
			// exceeds RLIMIT_MEMLOCK and the process lacks CAP_IPC_LOCK.
			hint := ""
			if errors.Is(err, unix.ENOBUFS) {
				hint = " (memlock limit: run with CAP_IPC_LOCK or a memlock limit above the UMEM's size, e.g. systemd LimitMEMLOCK=infinity)"
			}
			return nil, fmt.Errorf("xsk: register UMEM (%d frames of %d, headroom %d): %w%s", u.cfg.NumFrames, u.cfg.FrameSize, u.cfg.Headroom, err, hint)
		}
	}
	fc := u.queues[key]
	if fc == nil {
		// This socket brings the queue's fill and completion rings.
		for _, o := range []struct {
			name      string
			opt, size int
		}{
			{"fill", unix.XDP_UMEM_FILL_RING, u.cfg.FillSize},
			{"completion", unix.XDP_UMEM_COMPLETION_RING, u.cfg.CompletionSize},
		} {
			if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
				return nil, fmt.Errorf("xsk: %s ring of %d entries: %w", o.name, o.size, err)
			}
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_RX_RING, cfg.RxSize); err != nil {
		return nil, fmt.Errorf("xsk: rx ring of %d entries: %w", cfg.RxSize, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_TX_RING, cfg.TxSize); err != nil {
		return nil, fmt.Errorf("xsk: tx ring of %d entries: %w", cfg.TxSize, err)
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return nil, fmt.Errorf("xsk: XDP_MMAP_OFFSETS: %w", err)
	}
	if fc == nil {
		newFC = &fillCompRing{}
		var fm ringMem[uint64]
		if newFC.maps[0], fm, err = mapRing[uint64](fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, u.cfg.FillSize); err != nil {
			return nil, fmt.Errorf("xsk: map fill ring: %w", err)
		}
		newFC.fill = newProdRing(fm)
		var cm ringMem[uint64]
		if newFC.maps[1], cm, err = mapRing[uint64](fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, u.cfg.CompletionSize); err != nil {
			return nil, fmt.Errorf("xsk: map completion ring: %w", err)
		}
		newFC.comp = newConsRing(cm)
		fc = newFC
	}
	var rm, tm ringMem[Desc]
	if s.rxMap, rm, err = mapRing[Desc](fd, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RxSize); err != nil {
		return nil, fmt.Errorf("xsk: map rx ring: %w", err)
	}
	s.rx = newConsRing(rm)
	if s.txMap, tm, err = mapRing[Desc](fd, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TxSize); err != nil {
		return nil, fmt.Errorf("xsk: map tx ring: %w", err)
	}
	s.tx = newProdRing(tm)

	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(cfg.Ifindex), QueueID: uint32(cfg.Queue)}
	if !register {
		sa.SharedUmemFD = uint32(u.sockets[0].fd)
	}
	if err := bindRetry(fd, sa); err != nil {
		err = fmt.Errorf("xsk: bind ifindex %d queue %d (flags %#x): %w", cfg.Ifindex, cfg.Queue, flags, err)
		if !register && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EBUSY) {
			// A missing device or a taken queue is the caller's problem
			// either way; anything else (EOPNOTSUPP for a zero-copy UMEM on
			// a copy-only device, EINVAL on kernels without cross-device
			// sharing) is the kernel declining to share.
			err = fmt.Errorf("%w: %w", err, ErrSharedUmem)
		}
		return nil, err
	}
	opts, err := getsockoptInt(fd, unix.XDP_OPTIONS)
	if err != nil {
		return nil, fmt.Errorf("xsk: XDP_OPTIONS: %w", err)
	}
	s.mode = ModeCopy
	if opts&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	if s.mode == ModeCopy {
		s.txBudget = setTxBudget(fd, cfg.TxSize)
	}
	if register {
		u.mode = s.mode
		u.wakeup = flags&unix.XDP_USE_NEED_WAKEUP != 0
	}
	s.wakeup = u.wakeup
	s.busy = cfg.BusyPollUsec > 0
	fc.refs++
	s.fc = fc
	if newFC != nil {
		u.queues[key] = newFC
		newFC = nil
	}
	return s, nil
}

// xdpMaxTxSkbBudget is XDP_MAX_TX_SKB_BUDGET (Linux 6.17): how many
// descriptors one wakeup may send in copy mode (the kernel's default is 32).
const xdpMaxTxSkbBudget = 9

// setTxBudget raises a copy-mode socket's per-wakeup send budget to the
// whole tx ring where the kernel allows it, so one sendto drains a batch
// instead of 32 frames of it; it returns the budget in effect.
func setTxBudget(fd, txSize int) int {
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, xdpMaxTxSkbBudget, txSize); err != nil {
		return 32 // older kernel (ENOPROTOOPT): the fixed TX_BATCH_SIZE
	}
	return txSize
}

// setBusyPoll applies the busy-poll socket options that cfg asks for.
func setBusyPoll(fd int, cfg SocketConfig) error {
	if cfg.PreferBusyPoll {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
			return fmt.Errorf("xsk: SO_PREFER_BUSY_POLL: %w", err)
		}
	}
	if cfg.BusyPollUsec > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, cfg.BusyPollUsec); err != nil {
			return fmt.Errorf("xsk: SO_BUSY_POLL %d: %w", cfg.BusyPollUsec, err)
		}
	}
	if cfg.BusyPollBudget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, cfg.BusyPollBudget); err != nil {
			return fmt.Errorf("xsk: SO_BUSY_POLL_BUDGET %d: %w", cfg.BusyPollBudget, err)
		}
	}
	return nil
}

// mapRing maps one ring of entries entries at page offset pgoff and points a
// ringMem at its producer, consumer, flags and descriptor array.
func mapRing[T entry](fd int, pgoff int64, off unix.XDPRingOffset, entries int) ([]byte, ringMem[T], error) {
	var zero T
	size := int(off.Desc) + entries*int(unsafe.Sizeof(zero))
	b, err := unix.Mmap(fd, pgoff, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, ringMem[T]{}, err
	}
	return b, ringMem[T]{
		producer: (*uint32)(unsafe.Pointer(&b[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&b[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&b[off.Flags])),
		desc:     unsafe.Slice((*T)(unsafe.Pointer(&b[off.Desc])), entries),
	}, nil
}

func (s *Socket) unmap() {
	for _, m := range []*[]byte{&s.rxMap, &s.txMap} {
		if *m != nil {
			unix.Munmap(*m)
			*m = nil
		}
	}
	s.rx, s.tx = consRing[Desc]{}, prodRing[Desc]{}
}

func (fc *fillCompRing) unmap() {
	for i, m := range fc.maps {
		if m != nil {
			unix.Munmap(m)
			fc.maps[i] = nil
		}
	}
	fc.fill, fc.comp = prodRing[uint64]{}, consRing[uint64]{}
}

// FD returns the socket's file descriptor, for the XSKMAP.
func (s *Socket) FD() int { return s.fd }

// Mode returns the mode the bind actually got (XDP_OPTIONS), never ModeAuto.
func (s *Socket) Mode() Mode { return s.mode }

// NeedWakeup reports whether XDP_USE_NEED_WAKEUP is in effect.
func (s *Socket) NeedWakeup() bool { return s.wakeup }

// Fill puts empty frames (chunk addresses) on the fill ring of the socket's
// queue and returns how many fit. The frames belong to the kernel until they
// come back on an rx ring of a socket on this queue.
func (s *Socket) Fill(addrs []uint64) int {
	return s.fc.fill.produce(addrs)
}

// Receive takes up to len(d) received frames off the rx ring. When there are
// none and the kernel asked for a wakeup on the fill ring (or busy polling is
// on), it wakes the kernel with a non-blocking recvfrom.
func (s *Socket) Receive(d []Desc) int {
	n := s.rx.consume(d)
	if n == 0 && len(d) > 0 && (s.busy || (s.wakeup && s.fc.fill.needWakeup())) {
		s.rxWakeups.Add(1)
		recvfromNonblock(s.fd)
	}
	return n
}

// Transmit puts up to len(d) frames on the tx ring and returns how many fit;
// the rest stay the caller's. It kicks the kernel with a non-blocking sendto
// when the tx ring asks for a wakeup (always without need_wakeup, and always
// when busy polling), including when the ring was full, so it drains.
func (s *Socket) Transmit(d []Desc) int {
	n := s.tx.produce(d)
	if len(d) > 0 && (s.busy || !s.wakeup || s.tx.needWakeup()) {
		s.kickTx()
	}
	return n
}

// maxTxKicks bounds the sendto calls of one Transmit. In copy mode the kernel
// sends at most 32 frames per sendto and says EAGAIN when more are waiting;
// kicking again while it makes progress sends a whole batch per Transmit.
const maxTxKicks = 16

func (s *Socket) kickTx() {
	for range maxTxKicks {
		before := atomic.LoadUint32(s.tx.consumer)
		s.txWakeups.Add(1)
		if sendtoNonblock(s.fd) != unix.EAGAIN || atomic.LoadUint32(s.tx.consumer) == before {
			// Done, or stuck (completion ring full, device busy): the
			// next batch kicks again.
			return
		}
	}
}

// Complete takes up to len(addrs) finished tx frames off the completion ring
// of the socket's queue, now the caller's again. The kernel returns the Addr
// of each transmitted Desc; Complete masks it to its chunk start, ready for a
// FrameStack or the fill ring.
//
// Complete also kicks the kernel when this socket's tx ring still holds
// descriptors the kernel has not taken and the ring asks for a wakeup: a
// Transmit's kicks stop when the kernel makes no progress (its completion
// ring was full), and the worker calls Complete every round, so frames left
// behind leave with the next round even when nothing new is sent.
func (s *Socket) Complete(addrs []uint64) int {
	n := s.fc.comp.consume(addrs)
	for i := range addrs[:n] {
		addrs[i] &= s.chunk
	}
	if s.txOutstanding() && (s.busy || !s.wakeup || s.tx.needWakeup()) {
		s.kickTx()
	}
	return n
}

// txOutstanding reports whether the kernel has not yet taken everything on
// the tx ring. It loads the consumer index only when the cache says so.
func (s *Socket) txOutstanding() bool {
	if s.tx.limit-s.tx.prod == s.tx.size {
		return false
	}
	s.tx.limit = atomic.LoadUint32(s.tx.consumer) + s.tx.size
	return s.tx.limit-s.tx.prod != s.tx.size
}

// Poll waits up to timeout (negative: forever) for the rx ring to have
// frames; it reports whether it does. An interrupted wait reports false.
func (s *Socket) Poll(timeout time.Duration) (bool, error) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	s.pollFD[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	n, err := unix.Poll(s.pollFD[:], ms)
	if err == unix.EINTR {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("xsk: poll: %w", err)
	}
	return n > 0 && s.pollFD[0].Revents&unix.POLLIN != 0, nil
}

// Wakeups returns how many wakeup syscalls Transmit (sendto) and Receive
// (recvfrom) made: with need_wakeup a busy kernel needs few.
func (s *Socket) Wakeups() (tx, rx uint64) {
	return s.txWakeups.Load(), s.rxWakeups.Load()
}

// Stats reads the kernel's XDP_STATISTICS for the socket.
func (s *Socket) Stats() (Stats, error) {
	var st unix.XDPStatistics
	if err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return Stats{}, fmt.Errorf("xsk: XDP_STATISTICS: %w", err)
	}
	return Stats{
		RxDropped:            st.Rx_dropped,
		RxInvalidDescs:       st.Rx_invalid_descs,
		TxInvalidDescs:       st.Tx_invalid_descs,
		RxRingFull:           st.Rx_ring_full,
		RxFillRingEmptyDescs: st.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:     st.Tx_ring_empty_descs,
	}, nil
}

// Close unbinds the socket and unmaps its rings. The queue's fill and
// completion rings stay mapped while another socket on the queue is open.
// Frames the kernel still held for this socket are not returned: a worker
// closes its sockets when it stops, and the UMEM goes with them. A socket
// closed while the UMEM lives on (a port removed from a running worker)
// uses CloseReclaim instead.
func (s *Socket) Close() error {
	_, err := s.close(nil, false)
	return err
}

// CloseReclaim closes the socket like Close and appends to dst every frame
// (chunk address) it still held: received and not yet taken off the rx
// ring, queued on the tx ring and not yet sent, sent and not yet taken off
// the completion ring, and waiting on the fill ring — the last two only
// when this was the queue's last socket, as the queue's rings are shared.
//
// The descriptor is closed first: the kernel unbinds the socket and waits
// for every receive in flight (synchronize_net) before close returns, so
// the rings are read when nothing writes them any more. The mappings are
// still ours until unmap (the kernel's pages stay alive while mapped).
// A frame the kernel took from the fill ring and had not yet put on the
// rx ring when the device went away, or a copy-mode transmit still in
// flight in the stack, is not on any ring: the caller counts what is
// missing.
func (s *Socket) CloseReclaim(dst []uint64) ([]uint64, error) {
	return s.close(dst, true)
}

func (s *Socket) close(dst []uint64, reclaim bool) ([]uint64, error) {
	u := s.umem
	u.mu.Lock()
	defer u.mu.Unlock()
	if s.closed {
		return dst, ErrClosed
	}
	s.closed = true
	u.sockets = slices.DeleteFunc(u.sockets, func(o *Socket) bool { return o == s })
	cerr := unix.Close(s.fd)
	last := s.fc.refs == 1
	if reclaim {
		dst = leftovers(dst, &s.rx, s.chunk)
		dst = unsent(dst, &s.tx, s.chunk)
		if last {
			dst = leftovers(dst, &s.fc.comp, s.chunk)
			dst = unsent(dst, &s.fc.fill, s.chunk)
		}
	}
	s.unmap()
	if s.fc.refs--; s.fc.refs == 0 {
		s.fc.unmap()
		delete(u.queues, s.key)
	}
	s.fc = nil
	if cerr != nil {
		return dst, fmt.Errorf("xsk: close: %w", cerr)
	}
	return dst, nil
}

// leftovers appends the chunks of the entries the kernel produced on a
// ring we consume and we have not taken.
func leftovers[T entry](dst []uint64, r *consRing[T], chunk uint64) []uint64 {
	if r.desc == nil {
		return dst
	}
	for i, end := atomic.LoadUint32(r.consumer), atomic.LoadUint32(r.producer); i != end; i++ {
		dst = append(dst, addrOf(r.desc[i&r.mask])&chunk)
	}
	return dst
}

// unsent appends the chunks of the entries we produced on a ring the
// kernel consumes and it has not taken.
func unsent[T entry](dst []uint64, r *prodRing[T], chunk uint64) []uint64 {
	if r.desc == nil {
		return dst
	}
	for i, end := atomic.LoadUint32(r.consumer), atomic.LoadUint32(r.producer); i != end; i++ {
		dst = append(dst, addrOf(r.desc[i&r.mask])&chunk)
	}
	return dst
}

// addrOf is an entry's frame address.
func addrOf[T entry](e T) uint64 {
	switch v := any(e).(type) {
	case Desc:
		return v.Addr
	case uint64:
		return v
	}
	return 0
}

// The data-path syscalls: raw, so they cannot allocate. Their errors are not
// interesting — EAGAIN/EBUSY/ENOBUFS mean the kernel is busy and will be
// kicked again with the next batch; a dead device shows up in Stats and in
// frames that never complete.

// bindRetry binds, waiting out EBUSY for up to a second: a socket closed on
// the same queue a moment ago (a restarted daemon, the previous run of a
// benchmark) keeps the queue until the kernel's deferred release of its
// buffer pool has run. A queue still busy after that really is taken.
func bindRetry(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Bind(fd, sa)
		if err != unix.EBUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sendtoNonblock(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

func recvfromNonblock(fd int) {
	unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getsockopt reads option opt into p, requiring the kernel to fill all n
// bytes (older kernels return shorter versions of these structs, without the
// need_wakeup flags or the newer counters).
func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	if uintptr(l) != n {
		return fmt.Errorf("kernel returned %d bytes, want %d (kernel too old)", l, n)
	}
	return nil
}

func getsockoptInt(fd, opt int) (uint32, error) {
	var v uint32
	err := getsockopt(fd, opt, unsafe.Pointer(&v), unsafe.Sizeof(v))
	return v, err
}
