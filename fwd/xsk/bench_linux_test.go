package xsk

import (
	"testing"
	"time"
)

// BenchmarkSocketCycle moves one batch of frames around all four rings of a
// Socket in memory (fill → kernel → rx → tx → kernel → completion), with the
// fake kernel's work included: the per-frame cost of the ring protocol.
func BenchmarkSocketCycle(b *testing.B) {
	const batch = 64
	m := newMemSocket(2048, 2048, 0)
	addrs := make([]uint64, batch)
	descs := make([]Desc, batch)
	kaddrs := make([]uint64, batch)
	kdescs := make([]Desc, batch)
	for i := range addrs {
		addrs[i] = uint64(i * 2048)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.s.Fill(addrs)
		k := m.fill.kConsume(kaddrs)
		for i, a := range kaddrs[:k] {
			kdescs[i] = Desc{Addr: a + PacketHeadroom, Len: 64}
		}
		m.rx.kProduce(kdescs[:k])
		n := m.s.Receive(descs)
		m.s.Transmit(descs[:n])
		k = m.tx.kConsume(kdescs)
		for i, d := range kdescs[:k] {
			kaddrs[i] = d.Addr
		}
		m.comp.kProduce(kaddrs[:k])
		m.s.Complete(addrs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/frame")
}

// BenchmarkVethTx transmits batches of 64 prebuilt 64-byte frames on a veth
// (copy mode) and takes back their completions: the tx rate of one socket.
func BenchmarkVethTx(b *testing.B) {
	n := newTestNS(b)
	v := n.veth()
	u, err := NewUmem(UmemConfig{NumFrames: 4096, FrameSize: 2048})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	s, err := n.socket(u, SocketConfig{Ifindex: v.xsk})
	if err != nil {
		b.Fatalf("NewSocket: %v", err)
	}
	stack := NewFrameStack(u.NumFrames())
	for _, a := range u.Frames(nil) {
		copy(u.Mem()[a+PacketHeadroom:], testFrame(v.peerMAC, v.xskMAC, uint32(a/2048)))
		stack.Push(a)
	}
	const batch = 64
	addrs := make([]uint64, batch)
	descs := make([]Desc, batch)
	done := make([]uint64, 256)
	sent := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		stack.PushBatch(done[:s.Complete(done)])
		k := stack.PopBatch(addrs)
		for i, a := range addrs[:k] {
			descs[i] = Desc{Addr: a + PacketHeadroom, Len: 64}
		}
		t := s.Transmit(descs[:k])
		stack.PushBatch(addrs[t:k])
		sent += t
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "pkt/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(max(sent, 1)), "ns/pkt")
	tx, _ := s.Wakeups()
	b.ReportMetric(float64(tx)/float64(b.N), "kicks/op")
}
