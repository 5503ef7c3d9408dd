package xsk

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memSocket is a Socket whose four rings live in ordinary memory, with a fake
// kernel on the other end of each: the Socket methods under test are the real
// ones; only the fd is missing (-1, so a wakeup syscall fails harmlessly).
type memSocket struct {
	s          *Socket
	fill, comp *memRing[uint64]
	rx, tx     *memRing[Desc]

	// The fake kernel's hands: frames taken off the fill ring and not yet
	// delivered on rx, and tx descriptors taken and not yet completed.
	held []uint64
	txq  []Desc
}

func newMemSocket(frameSize, ringSize int, start uint32) *memSocket {
	m := &memSocket{
		fill: newMemRing[uint64](ringSize, start),
		comp: newMemRing[uint64](ringSize, start+7),
		rx:   newMemRing[Desc](ringSize, start+13),
		tx:   newMemRing[Desc](ringSize, start+101),
	}
	m.s = &Socket{
		fd:     -1,
		fc:     &fillCompRing{fill: newProdRing(m.fill.mem()), comp: newConsRing(m.comp.mem()), refs: 1},
		rx:     newConsRing(m.rx.mem()),
		tx:     newProdRing(m.tx.mem()),
		mode:   ModeCopy,
		chunk:  ^uint64(frameSize - 1),
		wakeup: true,
	}
	return m
}

// kFill is the kernel taking up to k frames off the fill ring.
func (m *memSocket) kFill(k int) {
	buf := make([]uint64, k)
	m.held = append(m.held, buf[:m.fill.kConsume(buf)]...)
}

// kRx is the kernel delivering up to k held frames on the rx ring, each at
// chunk + headroom + XDP_PACKET_HEADROOM like the kernel; what does not fit
// stays held (the kernel drops the packet, keeps the buffer).
func (m *memSocket) kRx(r *rand.Rand, k, headroom int) {
	k = min(k, len(m.held))
	d := make([]Desc, k)
	for i, a := range m.held[:k] {
		d[i] = Desc{Addr: a + uint64(headroom+PacketHeadroom), Len: uint32(60 + r.IntN(1400))}
	}
	n := m.rx.kProduce(d)
	m.held = m.held[n:]
}

// kTx is the kernel taking up to k descriptors off the tx ring.
func (m *memSocket) kTx(k int) {
	buf := make([]Desc, k)
	m.txq = append(m.txq, buf[:m.tx.kConsume(buf)]...)
}

// kComplete is the kernel completing up to k sent frames: it returns each
// Desc.Addr as given, not its chunk.
func (m *memSocket) kComplete(k int) {
	k = min(k, len(m.txq))
	a := make([]uint64, k)
	for i, d := range m.txq[:k] {
		a[i] = d.Addr
	}
	n := m.comp.kProduce(a)
	m.txq = m.txq[n:]
}

// chunks lists the chunk of every frame the socket's rings and the fake
// kernel hold.
func (m *memSocket) chunks(frameSize int) []uint64 {
	mask := ^uint64(frameSize - 1)
	var out []uint64
	for _, a := range slices.Concat(m.fill.contents(), m.held, m.comp.contents()) {
		out = append(out, a&mask)
	}
	for _, d := range slices.Concat(m.rx.contents(), m.txq, m.tx.contents()) {
		out = append(out, d.Addr&mask)
	}
	return out
}

// TestFrameAccounting plays a worker with two sockets on one shared UMEM (a
// FrameStack, frames in hand) against a fake kernel on each socket, with
// random interleavings of fill, rx, tx, completion, forwarding between the
// sockets and drops; after every step each frame must be in exactly one place.
func TestFrameAccounting(t *testing.T) {
	const (
		frameSize = 2048
		headroom  = 128
	)
	tests := []struct {
		name      string
		numFrames int
		ringSize  int
		start     uint32
		steps     int
	}{
		{"more frames than rings", 96, 16, 0, 20000},
		{"rings larger than frames", 24, 64, 0xffff_ff80, 20000},
		{"tiny rings", 10, 2, 0xffff_fffe, 20000},
	}
	for _, tc := range tests {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) {
				testFrameAccounting(t, seed, tc.numFrames, tc.ringSize, tc.start, tc.steps, frameSize, headroom)
			})
		}
	}
}

func testFrameAccounting(t *testing.T, seed uint64, numFrames, ringSize int, start uint32, steps, frameSize, headroom int) {
	r := rand.New(rand.NewPCG(seed, 42))
	all := make([]uint64, numFrames)
	for i := range all {
		all[i] = uint64(i * frameSize)
	}
	stack := NewFrameStack(numFrames)
	stack.PushBatch(all)
	socks := []*memSocket{newMemSocket(frameSize, ringSize, start), newMemSocket(frameSize, ringSize, start+1000)}
	var hands []Desc // received, not yet sent or dropped
	abuf := make([]uint64, 64)
	dbuf := make([]Desc, 64)

	count := make([]int, numFrames)
	check := func(step int, op string) {
		t.Helper()
		got := slices.Clone(stack.addrs[:stack.Len()])
		for _, d := range hands {
			if off := d.Addr & uint64(frameSize-1); off+uint64(d.Len) > uint64(frameSize) {
				t.Fatalf("step %d (%s): frame %+v runs past its chunk", step, op, d)
			}
			got = append(got, d.Addr&^uint64(frameSize-1))
		}
		for _, m := range socks {
			got = append(got, m.chunks(frameSize)...)
		}
		clear(count)
		bad := len(got) != numFrames
		for _, a := range got {
			i := a / uint64(frameSize)
			if a%uint64(frameSize) != 0 || i >= uint64(numFrames) {
				bad = true
				continue
			}
			if count[i]++; count[i] > 1 {
				bad = true
			}
		}
		if bad {
			slices.Sort(got)
			t.Fatalf("step %d (%s): frames not each in exactly one place (-want +got):\n%s", step, op, cmp.Diff(all, got))
		}
	}

	for step := range steps {
		m := socks[r.IntN(len(socks))]
		k := 1 + r.IntN(len(abuf))
		var op string
		switch r.IntN(9) {
		case 0:
			op = "worker fill"
			n := stack.PopBatch(abuf[:k])
			put := m.s.Fill(abuf[:n])
			stack.PushBatch(abuf[put:n])
		case 1:
			op = "worker receive"
			n := m.s.Receive(dbuf[:k])
			hands = append(hands, dbuf[:n]...)
		case 2:
			op = "worker transmit"
			// Forward what is in hand, some of it rewritten to grow into the headroom.
			k = min(k, len(hands))
			for i := range hands[:k] {
				if g := r.IntN(int(hands[i].Addr&uint64(frameSize-1)) + 1); r.IntN(2) == 0 {
					hands[i].Addr -= uint64(g)
					hands[i].Len += uint32(g)
				}
			}
			n := m.s.Transmit(hands[:k])
			hands = hands[n:]
		case 3:
			op = "worker drop"
			k = min(k, len(hands))
			for _, d := range hands[:k] {
				stack.Push(d.Addr &^ uint64(frameSize-1))
			}
			hands = hands[k:]
		case 4:
			op = "worker complete"
			n := m.s.Complete(abuf[:k])
			for _, a := range abuf[:n] {
				if a%uint64(frameSize) != 0 {
					t.Fatalf("step %d: Complete returned %#x, not a chunk start", step, a)
				}
			}
			stack.PushBatch(abuf[:n])
		case 5:
			op = "kernel takes fill"
			m.kFill(k)
		case 6:
			op = "kernel receives"
			m.kRx(r, k, headroom)
		case 7:
			op = "kernel takes tx"
			m.kTx(k)
		case 8:
			op = "kernel completes"
			m.kComplete(k)
		}
		check(step, op)
	}

	// Drain: everything must come home to the stack.
	for range 1000 {
		for _, m := range socks {
			m.kFill(ringSize)
			m.kRx(r, ringSize, headroom)
			n := m.s.Receive(dbuf)
			hands = append(hands, dbuf[:n]...)
			m.kTx(ringSize)
			m.kComplete(ringSize)
			stack.PushBatch(abuf[:m.s.Complete(abuf)])
		}
		for _, d := range hands {
			stack.Push(d.Addr &^ uint64(frameSize-1))
		}
		hands = hands[:0]
		if stack.Len() == numFrames {
			break
		}
	}
	check(steps, "drain")
	if stack.Len() != numFrames {
		t.Fatalf("after draining, FrameStack.Len() = %d, want %d", stack.Len(), numFrames)
	}
}

// TestWakeups checks when Transmit and Receive make a wakeup syscall.
func TestWakeups(t *testing.T) {
	tests := []struct {
		name                 string
		wakeup, busy         bool
		txFlag, fillFlag     uint32
		tx, rx               int // descriptors offered to Transmit, Receive (rx ring empty)
		wantTxKick, wantRxWk uint64
	}{
		{name: "need_wakeup, kernel busy", wakeup: true, tx: 4, rx: 4},
		{name: "need_wakeup, tx asks", wakeup: true, txFlag: 1, tx: 4, rx: 4, wantTxKick: 1},
		{name: "need_wakeup, fill asks", wakeup: true, fillFlag: 1, tx: 4, rx: 4, wantRxWk: 1},
		{name: "need_wakeup, nothing to send", wakeup: true, txFlag: 1, fillFlag: 1, tx: 0, rx: 0},
		{name: "no need_wakeup always kicks tx", wakeup: false, tx: 4, rx: 4, wantTxKick: 1},
		{name: "no need_wakeup ignores the fill flag", wakeup: false, fillFlag: 1, tx: 0, rx: 4},
		{name: "busy poll drives both", wakeup: true, busy: true, tx: 4, rx: 4, wantTxKick: 1, wantRxWk: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemSocket(2048, 8, 0)
			m.s.wakeup, m.s.busy = tc.wakeup, tc.busy
			m.tx.flags, m.fill.flags = tc.txFlag, tc.fillFlag
			m.s.Transmit(make([]Desc, tc.tx))
			m.s.Receive(make([]Desc, tc.rx))
			tx, rx := m.s.Wakeups()
			if tx != tc.wantTxKick || rx != tc.wantRxWk {
				t.Errorf("Wakeups() = %d, %d, want %d, %d", tx, rx, tc.wantTxKick, tc.wantRxWk)
			}
		})
	}
}

// TestCompleteKicks checks that Complete kicks the kernel for descriptors
// still on the tx ring, and only then.
func TestCompleteKicks(t *testing.T) {
	m := newMemSocket(2048, 8, 0)
	m.s.Transmit(make([]Desc, 4)) // the kernel is busy: no kick
	m.tx.flags = 1                // now it sleeps with 4 descriptors untaken
	m.s.Complete(make([]uint64, 4))
	if tx, _ := m.s.Wakeups(); tx == 0 {
		t.Errorf("Complete with 4 descriptors untaken on a sleeping tx ring made no kick")
	}
	m.tx.kConsume(make([]Desc, 8))
	before, _ := m.s.Wakeups()
	m.s.Complete(make([]uint64, 4))
	m.s.Complete(make([]uint64, 4))
	if tx, _ := m.s.Wakeups(); tx != before {
		t.Errorf("Complete with the tx ring empty made %d kicks, want 0", tx-before)
	}
}

func TestSocketAllocs(t *testing.T) {
	m := newMemSocket(2048, 64, 0)
	m.tx.flags, m.fill.flags = 1, 1 // take the wakeup syscall paths too
	addrs := make([]uint64, 32)
	descs := make([]Desc, 32)
	for i := range addrs {
		addrs[i] = uint64(i * 2048)
		descs[i] = Desc{Addr: addrs[i] + 256, Len: 64}
	}
	tests := []struct {
		name string
		f    func()
	}{
		{"Fill", func() { m.s.Fill(addrs); m.fill.kConsume(addrs) }},
		{"Receive", func() { m.rx.kProduce(descs); m.s.Receive(descs) }},
		{"Receive empty", func() { m.s.Receive(descs) }},
		{"Transmit", func() { m.s.Transmit(descs); m.tx.kConsume(descs) }},
		{"Complete", func() { m.comp.kProduce(addrs); m.s.Complete(addrs) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(100, tc.f); a != 0 {
				t.Errorf("%s allocates %v times per run, want 0", tc.name, a)
			}
		})
	}
}
