package xsk

import (
	"bytes"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

const testHeadroom = 64 // registered headroom, on top of the kernel's 256

// TestVethRxTx receives frames sent by the veth peer, transmits frames out
// to it, and checks where every frame was at each point.
func TestVethRxTx(t *testing.T) {
	n := newTestNS(t)
	v := n.veth()
	xsks := n.redirect(v.xsk)
	pkt := n.packet(v.peer)

	u, err := NewUmem(UmemConfig{NumFrames: 256, FrameSize: 2048, Headroom: testHeadroom, FillSize: 128, CompletionSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s, err := n.socket(u, SocketConfig{Ifindex: v.xsk, RxSize: 128, TxSize: 128})
	if err != nil {
		t.Fatalf("NewSocket: %v", err)
	}
	// veth has no zero-copy support: auto mode must have fallen back.
	if got := s.Mode(); got != ModeCopy {
		t.Errorf("Mode() = %v on veth, want %v", got, ModeCopy)
	}
	if !s.NeedWakeup() {
		t.Errorf("NeedWakeup() = false, want true by default")
	}
	if err := xsks.Put(uint32(0), uint32(s.FD())); err != nil {
		t.Fatalf("XSKMAP put: %v", err)
	}

	stack := NewFrameStack(u.NumFrames())
	stack.PushBatch(u.Frames(nil))
	fill := make([]uint64, 128)
	k := stack.PopBatch(fill)
	if put := s.Fill(fill[:k]); put != k {
		t.Fatalf("Fill(%d frames) = %d, want all on an empty ring of 128", k, put)
	}
	filled := map[uint64]bool{}
	for _, a := range fill[:k] {
		filled[a] = true
	}

	// Receive.
	const nrx = 100
	for i := range nrx {
		pkt.send(testFrame(v.xskMAC, v.peerMAC, uint32(i)))
	}
	got := receive(t, s, nrx, 5*time.Second)
	if len(got) != nrx {
		t.Fatalf("received %d test frames, want %d", len(got), nrx)
	}
	seen := map[uint64]bool{}
	for i, d := range got {
		chunk := d.Chunk(u.FrameSize())
		if !filled[chunk] || seen[chunk] {
			t.Fatalf("frame %d in chunk %#x: not a filled frame, or received twice", i, chunk)
		}
		seen[chunk] = true
		if off := d.Addr - chunk; off != testHeadroom+PacketHeadroom {
			t.Errorf("frame %d at chunk offset %d, want %d (registered headroom + XDP_PACKET_HEADROOM)", i, off, testHeadroom+PacketHeadroom)
		}
		f := u.Mem()[d.Addr : d.Addr+uint64(d.Len)]
		if want := testFrame(v.xskMAC, v.peerMAC, uint32(i)); !bytes.Equal(f, want) {
			t.Errorf("frame %d = %x, want %x", i, f, want)
		}
		stack.Push(chunk)
	}

	// Transmit, from frames that never went near the fill ring.
	const ntx = 100
	tx := make([]Desc, 0, ntx)
	sent := map[uint64]bool{}
	for i := range ntx {
		a, ok := stack.Pop()
		if !ok {
			t.Fatalf("FrameStack empty after %d frames", i)
		}
		// Start the packet 10 bytes in, as after a rewrite that grew the header.
		d := Desc{Addr: a + 10, Len: 64}
		copy(u.Mem()[d.Addr:], testFrame(v.peerMAC, v.xskMAC, uint32(1000+i)))
		tx = append(tx, d)
		sent[a] = true
	}
	if k := s.Transmit(tx); k != ntx {
		t.Fatalf("Transmit(%d) = %d on an empty ring of 128", ntx, k)
	}
	// Copy mode sends 32 frames per sendto: Transmit must have kicked until
	// the kernel took the whole batch.
	if left := s.tx.prod - atomic.LoadUint32(s.tx.consumer); left != 0 {
		t.Errorf("after Transmit in copy mode, %d descriptors still on the tx ring, want 0", left)
	}
	done := complete(t, s, ntx, 5*time.Second)
	if len(done) != ntx {
		t.Fatalf("completed %d frames, want %d", len(done), ntx)
	}
	for _, a := range done {
		if !sent[a] {
			t.Fatalf("completion %#x: not a chunk that was sent, or completed twice", a)
		}
		delete(sent, a)
	}
	stack.PushBatch(done)
	out := pkt.recv(ntx, 5*time.Second)
	if len(out) != ntx {
		t.Fatalf("peer received %d test frames, want %d", len(out), ntx)
	}
	for i, f := range out {
		if want := testFrame(v.peerMAC, v.xskMAC, uint32(1000+i)); !bytes.Equal(f, want) {
			t.Errorf("peer frame %d = %x, want %x", i, f, want)
		}
	}
	if stack.Len()+k-nrx != u.NumFrames() {
		t.Errorf("frames: %d on the stack + %d still on the fill ring, want %d in all", stack.Len(), k-nrx, u.NumFrames())
	}

	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Stats{}, st, cmpIgnoreEmptyTx); diff != "" {
		t.Errorf("Stats() after a clean run (-want +got):\n%s", diff)
	}
	txw, rxw := s.Wakeups()
	t.Logf("wakeups: tx %d, rx %d; stats %+v", txw, rxw, st)
}

// TestVethStats provokes the counters XDP_STATISTICS exports.
func TestVethStats(t *testing.T) {
	n := newTestNS(t)
	v := n.veth()
	xsks := n.redirect(v.xsk)
	pkt := n.packet(v.peer)
	u, err := NewUmem(UmemConfig{NumFrames: 64, FrameSize: 2048, FillSize: 64, CompletionSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s, err := n.socket(u, SocketConfig{Ifindex: v.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("NewSocket: %v", err)
	}
	if err := xsks.Put(uint32(0), uint32(s.FD())); err != nil {
		t.Fatalf("XSKMAP put: %v", err)
	}

	// Nothing on the fill ring: every frame is dropped for want of a buffer.
	const ndrop = 5
	for i := range ndrop {
		pkt.send(testFrame(v.xskMAC, v.peerMAC, uint32(i)))
	}
	st := waitStats(t, s, func(st Stats) bool { return st.RxDropped >= ndrop })
	if st.RxDropped != ndrop || st.RxFillRingEmptyDescs == 0 {
		t.Errorf("after %d frames with an empty fill ring: RxDropped = %d, RxFillRingEmptyDescs = %d, want %d and > 0",
			ndrop, st.RxDropped, st.RxFillRingEmptyDescs, ndrop)
	}

	// A descriptor that runs past its chunk is rejected, not sent.
	bad := []Desc{{Addr: 3 * 2048, Len: 2049}}
	if k := s.Transmit(bad); k != 1 {
		t.Fatalf("Transmit(bad desc) = %d, want 1 (the ring takes it; the kernel rejects it)", k)
	}
	st = waitStats(t, s, func(st Stats) bool { return st.TxInvalidDescs >= 1 })
	if st.TxInvalidDescs != 1 {
		t.Errorf("TxInvalidDescs = %d, want 1", st.TxInvalidDescs)
	}
	// Kernels differ on whether an invalid descriptor's frame comes back on
	// the completion ring (recent ones return it, so it is not lost); when it
	// does, it must be that frame, once.
	c := make([]uint64, 4)
	switch k := s.Complete(c); {
	case k == 0:
		t.Logf("this kernel does not complete invalid tx descriptors")
	case k != 1 || c[0] != 3*2048:
		t.Errorf("Complete after an invalid descriptor = %#x, want none or [0x1800]", c[:k])
	}
}

func waitStats(t *testing.T, s *Socket, ok func(Stats) bool) Stats {
	t.Helper()
	var st Stats
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if st, err = s.Stats(); err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if ok(st) {
			break
		}
	}
	return st
}

// TestVethSharedUmemForward forwards a frame between two veths through two
// sockets sharing one UMEM: the received Desc is transmitted as is, no copy.
func TestVethSharedUmemForward(t *testing.T) {
	n := newTestNS(t)
	a, b := n.veth(), n.veth()
	mapA, mapB := n.redirect(a.xsk), n.redirect(b.xsk)
	inA, outB := n.packet(a.peer), n.packet(b.peer)

	u, err := NewUmem(UmemConfig{NumFrames: 128, FrameSize: 2048, Headroom: testHeadroom, FillSize: 64, CompletionSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	sa, err := n.socket(u, SocketConfig{Ifindex: a.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("NewSocket(first): %v", err)
	}
	sb, err := n.socket(u, SocketConfig{Ifindex: b.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("NewSocket(shared, other device): %v", err)
	}
	if sb.fc == sa.fc {
		t.Errorf("socket on another device shares the first socket's fill ring, want its own")
	}
	if sb.Mode() != sa.Mode() || sb.NeedWakeup() != sa.NeedWakeup() {
		t.Errorf("shared socket: Mode %v need_wakeup %v, want inherited %v %v", sb.Mode(), sb.NeedWakeup(), sa.Mode(), sa.NeedWakeup())
	}
	// A second socket on the same queue shares the pool's fill and completion rings.
	sc, err := n.socket(u, SocketConfig{Ifindex: a.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("NewSocket(shared, same queue): %v", err)
	}
	if sc.fc != sa.fc || sa.fc.refs != 2 {
		t.Errorf("socket on the same queue: shares fill ring %v (refs %d), want true (2)", sc.fc == sa.fc, sa.fc.refs)
	}
	if err := sc.Close(); err != nil {
		t.Fatalf("Close(same-queue socket): %v", err)
	}
	if sa.fc.refs != 1 || sa.fc.fill.desc == nil {
		t.Fatalf("after closing the same-queue socket: refs %d, fill ring mapped %v; want 1, true", sa.fc.refs, sa.fc.fill.desc != nil)
	}

	for m, s := range map[interface{ Put(any, any) error }]*Socket{mapA: sa, mapB: sb} {
		if err := m.Put(uint32(0), uint32(s.FD())); err != nil {
			t.Fatalf("XSKMAP put: %v", err)
		}
	}
	stack := NewFrameStack(u.NumFrames())
	stack.PushBatch(u.Frames(nil))
	fill := make([]uint64, 32)
	sa.Fill(fill[:stack.PopBatch(fill)])

	const nfwd = 20
	for i := range nfwd {
		inA.send(testFrame(a.xskMAC, a.peerMAC, uint32(i)))
	}
	got := receive(t, sa, nfwd, 5*time.Second)
	if len(got) != nfwd {
		t.Fatalf("received %d on the first veth, want %d", len(got), nfwd)
	}
	var want []uint64
	for _, d := range got {
		// Rewrite in place: the L2 header for the second link.
		f := u.Mem()[d.Addr : d.Addr+uint64(d.Len)]
		copy(f[0:6], b.peerMAC[:])
		copy(f[6:12], b.xskMAC[:])
		want = append(want, d.Chunk(u.FrameSize()))
	}
	if k := sb.Transmit(got); k != nfwd {
		t.Fatalf("Transmit on the second socket = %d, want %d", k, nfwd)
	}
	done := complete(t, sb, nfwd, 5*time.Second)
	slices.Sort(want)
	slices.Sort(done)
	if diff := cmp.Diff(want, done); diff != "" {
		t.Errorf("completions on the second socket (-want +got):\n%s", diff)
	}
	out := outB.recv(nfwd, 5*time.Second)
	if len(out) != nfwd {
		t.Fatalf("second peer received %d frames, want %d", len(out), nfwd)
	}
	for i, f := range out {
		if w := testFrame(b.peerMAC, b.xskMAC, uint32(i)); !bytes.Equal(f, w) {
			t.Errorf("forwarded frame %d = %x, want %x", i, f, w)
		}
	}
}

// TestVethModes checks explicit modes and what a shared bind may ask for.
func TestVethModes(t *testing.T) {
	n := newTestNS(t)
	a, b := n.veth(), n.veth()
	newUmem := func() *Umem {
		u, err := NewUmem(UmemConfig{NumFrames: 64, FrameSize: 2048, FillSize: 64, CompletionSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		return u
	}

	if _, err := n.socket(newUmem(), SocketConfig{Ifindex: a.xsk, Mode: ModeZeroCopy, RxSize: 64, TxSize: 64}); err == nil {
		t.Errorf("NewSocket(ModeZeroCopy) on veth succeeded, want an error (veth has no zero-copy)")
	}

	u := newUmem()
	s, err := n.socket(u, SocketConfig{Ifindex: a.xsk, Mode: ModeCopy, NoNeedWakeup: true, RxSize: 64, TxSize: 64,
		BusyPollUsec: 20, BusyPollBudget: 16, PreferBusyPoll: true})
	if err != nil {
		t.Fatalf("NewSocket(ModeCopy, busy poll): %v", err)
	}
	if s.Mode() != ModeCopy || s.NeedWakeup() {
		t.Errorf("Mode() = %v, NeedWakeup() = %v, want copy, false", s.Mode(), s.NeedWakeup())
	}
	// (SO_BUSY_POLL_BUDGET cannot be read back.)
	for opt, want := range map[int]int{unix.SO_BUSY_POLL: 20, unix.SO_PREFER_BUSY_POLL: 1} {
		if got, err := unix.GetsockoptInt(s.FD(), unix.SOL_SOCKET, opt); err != nil || got != want {
			t.Errorf("getsockopt(%d) = %d, %v; want %d", opt, got, err, want)
		}
	}

	// A shared bind inherits the UMEM's mode: asking for another one is a refusal to share.
	_, err = n.socket(u, SocketConfig{Ifindex: b.xsk, Mode: ModeZeroCopy, RxSize: 64, TxSize: 64})
	if !errors.Is(err, ErrSharedUmem) {
		t.Errorf("shared NewSocket(ModeZeroCopy) on a copy UMEM: error %v, want one wrapping ErrSharedUmem", err)
	}
	sb, err := n.socket(u, SocketConfig{Ifindex: b.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("shared NewSocket(auto): %v", err)
	}
	if sb.NeedWakeup() {
		t.Errorf("shared socket NeedWakeup() = true, want false inherited from the first socket")
	}

	if err := u.Close(); err == nil {
		t.Errorf("Umem.Close with open sockets succeeded, want an error")
	}
	for _, s := range []*Socket{s, sb} {
		if err := s.Close(); err != nil {
			t.Errorf("Socket.Close: %v", err)
		}
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Socket.Close = %v, want ErrClosed", err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("Umem.Close after the sockets: %v", err)
	}
	if _, err := u.NewSocket(SocketConfig{Ifindex: a.xsk}); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSocket on a closed Umem = %v, want ErrClosed", err)
	}
}

// cmpIgnoreEmptyTx ignores TxRingEmptyDescs: the kicks of a clean run find
// the tx ring empty now and then, which is no fault.
var cmpIgnoreEmptyTx = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".TxRingEmptyDescs"
}, cmp.Ignore())

// TestVethAllocs checks the data-path methods on a real socket, syscalls
// included, allocate nothing.
func TestVethAllocs(t *testing.T) {
	n := newTestNS(t)
	v := n.veth()
	u, err := NewUmem(UmemConfig{NumFrames: 256, FrameSize: 2048, FillSize: 64, CompletionSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s, err := n.socket(u, SocketConfig{Ifindex: v.xsk, RxSize: 64, TxSize: 64})
	if err != nil {
		t.Fatalf("NewSocket: %v", err)
	}
	stack := NewFrameStack(u.NumFrames())
	stack.PushBatch(u.Frames(nil))
	addrs := make([]uint64, 32)
	s.Fill(addrs[:stack.PopBatch(addrs)])
	descs := make([]Desc, 16)
	allocs := testing.AllocsPerRun(100, func() {
		k := stack.PopBatch(addrs[:16])
		for i, a := range addrs[:k] {
			descs[i] = Desc{Addr: a + PacketHeadroom, Len: 64}
		}
		stack.PushBatch(addrs[s.Transmit(descs[:k]):k])
		stack.PushBatch(addrs[:s.Complete(addrs)])
		s.Receive(descs)
		s.Poll(0)
	})
	if allocs != 0 {
		t.Errorf("Transmit+Complete+Receive+Poll on a veth socket allocate %v times per run, want 0", allocs)
	}
}

// TestVethRebindAfterClose: a queue whose socket was just closed can be
// bound again at once (the kernel releases the queue's buffer pool
// asynchronously; NewSocket waits that out instead of failing with EBUSY).
func TestVethRebindAfterClose(t *testing.T) {
	n := newTestNS(t)
	v := n.veth()
	for i := range 5 {
		u, err := NewUmem(UmemConfig{NumFrames: 256, FrameSize: 2048, FillSize: 128, CompletionSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		s, err := n.socket(u, SocketConfig{Ifindex: v.xsk, RxSize: 128, TxSize: 128})
		if err != nil {
			u.Close()
			t.Fatalf("bind %d right after closing the previous socket: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVethTxBudget: on kernels with XDP_MAX_TX_SKB_BUDGET (6.17+) one
// copy-mode wakeup sends a whole batch, not 32 frames of it.
func TestVethTxBudget(t *testing.T) {
	n := newTestNS(t)
	v := n.veth()
	u, err := NewUmem(UmemConfig{NumFrames: 512, FrameSize: 2048, FillSize: 256, CompletionSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s, err := n.socket(u, SocketConfig{Ifindex: v.xsk, RxSize: 256, TxSize: 256})
	if err != nil {
		t.Fatalf("NewSocket: %v", err)
	}
	if s.txBudget == 32 {
		t.Skip("kernel without XDP_MAX_TX_SKB_BUDGET (Linux 6.17+): 32 frames per wakeup")
	}
	if s.txBudget != 256 {
		t.Fatalf("txBudget = %d, want the tx ring size 256", s.txBudget)
	}
	d := make([]Desc, 200)
	for i := range d {
		a := uint64(i * 2048)
		copy(u.Mem()[a:], testFrame(v.peerMAC, v.xskMAC, uint32(i)))
		d[i] = Desc{Addr: a, Len: 60}
	}
	if got := s.Transmit(d); got != len(d) {
		t.Fatalf("Transmit(%d) = %d", len(d), got)
	}
	done := make([]uint64, 256)
	completed := 0
	for deadline := time.Now().Add(2 * time.Second); completed < len(d) && time.Now().Before(deadline); {
		completed += s.Complete(done)
	}
	if completed != len(d) {
		t.Fatalf("completed %d of %d", completed, len(d))
	}
	if tx, _ := s.Wakeups(); tx != 1 {
		t.Errorf("sending 200 frames took %d wakeups, want 1 with a budget of 256", tx)
	}
}
