package fwd

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// trafficMix returns frames for random traffic through twoWorkloads:
// forwarded, answered, dropped and malformed, on the port each arrives on.
func trafficMix(t testing.TB) (frames [][]byte, ports []int) {
	add := func(port int, f []byte) { frames, ports = append(frames, f), append(ports, port) }
	up := netip.MustParseAddr("203.0.113.9")
	for i := range 4 {
		add(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: uint16(i), dport: 9, payload: make([]byte, 100*i)}.frame(t))
		add(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: w2v6, proto: "echo", id: uint16(i)}.frame(t))
		add(1, spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: up, proto: "syn", sport: 5, dport: 80}.frame(t))
		add(2, spec{srcMAC: macPeer, dstMAC: macUp, src: up, dst: w1v4, proto: "udp", sport: 53, dport: 3}.frame(t))
	}
	add(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: up, proto: "udp", sport: 7, dport: 9, payload: make([]byte, 1400)}.frame(t))                     // two fragments
	add(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, ttl: 1, proto: "udp"}.frame(t))                                                            // Time Exceeded
	add(1, spec{srcMAC: macW2, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp"}.frame(t))                                                                    // spoofed
	add(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp"}.frame(t)[:20])                                                               // malformed
	add(2, spec{srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("2001:db8:77::9"), dst: netip.MustParseAddr("2001:db8:5::1"), proto: "udp"}.frame(t)) // back out of the uplink
	add(0, serialize(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macW1, SourceProtAddress: w1v4.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: DefaultGateway4.AsSlice()}))
	return frames, ports
}

// checkFrames proves every frame of h's worker is in exactly one place:
// the free stack or one of its ports' rings (the worker must be idle).
func checkFrames(t *testing.T, h *host) {
	t.Helper()
	w := h.w
	seen := make(map[uint64]string, w.numFrames)
	note := func(a uint64, where string) {
		if a%uint64(w.frameSize) != 0 || a >= uint64(len(w.mem)) {
			t.Fatalf("frame %#x (%s) is not a chunk start in the worker's memory", a, where)
		}
		if prev, dup := seen[a]; dup {
			t.Fatalf("frame %#x is both in %s and in %s", a, prev, where)
		}
		seen[a] = where
	}
	free := make([]uint64, w.free.Len())
	n := w.free.PopBatch(free)
	w.free.PushBatch(free[:n])
	for _, a := range free[:n] {
		note(a, "free stack")
	}
	for i, p := range h.ports {
		p.Frames(func(a uint64) { note(a, "port "+h.w.tables.Load().ports[i].name) })
	}
	if len(seen) != w.numFrames {
		t.Fatalf("%d frames accounted for, want %d", len(seen), w.numFrames)
	}
}

// checkConservation proves every received frame, and every held
// fragment nat released, got exactly one outcome (held is one).
func checkConservation(t *testing.T, st Stats) {
	t.Helper()
	outcomes := st.Forwarded + st.Held
	for r, n := range st.Drops {
		if Reason(r) != ReasonTxFull {
			outcomes += n
		}
	}
	if outcomes != st.RxPackets+st.Released {
		t.Errorf("received %d frames and %d released fragments but counted %d outcomes (forwarded %d, held %d, drops %v)",
			st.RxPackets, st.Released, outcomes, st.Forwarded, st.Held, nonZero(st))
	}
}

func TestFrameAccountingRandom(t *testing.T) {
	for seed := range uint64(3) {
		t.Run("", func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			h := newHost(t, twoWorkloads(), peerNeigh)
			frames, ports := trafficMix(t)
			injected := 0
			for range 3000 {
				switch r.IntN(4) {
				case 0, 1:
					for range r.IntN(80) {
						i := r.IntN(len(frames))
						if h.ports[ports[i]].Inject(frames[i]) {
							injected++
						}
					}
				case 2:
					// Drain only some ports: the others' tx rings fill
					// up and refuse frames.
					for i, p := range h.ports {
						if r.IntN(3) > 0 || i == int(seed) {
							continue
						}
						p.Drain(nil)
					}
				case 3:
					h.w.Step()
				}
				checkFrames(t, h)
			}
			for h.w.Step() > 0 {
			}
			checkFrames(t, h)
			st := h.stats()
			if st.RxPackets != uint64(injected) {
				t.Errorf("RxPackets = %d, injected %d", st.RxPackets, injected)
			}
			checkConservation(t, st)
			if st.Fragmented == 0 {
				t.Errorf("nothing fragmented: the test did not exercise one frame in, several out")
			}
			if st.Drops[ReasonTxFull] == 0 {
				t.Errorf("no tx-full drops: the test did not exercise a full tx ring")
			}
		})
	}
}

// TestWorkerConcurrent runs the worker on its own pinned thread while
// one goroutine injects and another drains, then stops it and counts.
func TestWorkerConcurrent(t *testing.T) {
	h := newHost(t, twoWorkloads(), peerNeigh)
	h.w.cfg.Pin, h.w.cfg.CPU = true, 0
	if err := h.w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	frames, ports := trafficMix(t)
	var injected, drained atomic.Uint64
	stopWire := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 1))
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			i := r.IntN(len(frames))
			if h.ports[ports[i]].Inject(frames[i]) {
				injected.Add(1)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			for _, p := range h.ports {
				drained.Add(uint64(p.Drain(nil)))
			}
			select {
			case <-stopWire:
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	// Stats are readable while the worker runs.
	for range 10 {
		_ = h.w.Stats()
		time.Sleep(20 * time.Millisecond)
	}
	// Let the injector finish and the worker catch up, then stop.
	time.Sleep(350 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.w.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	close(stopWire)
	wg.Wait()
	for _, p := range h.ports {
		p.Drain(nil)
	}
	h.w.Step()
	checkFrames(t, h)
	st := h.stats()
	if st.RxPackets != injected.Load() || injected.Load() == 0 {
		t.Errorf("RxPackets = %d, injected %d", st.RxPackets, injected.Load())
	}
	checkConservation(t, st)
	t.Logf("injected %d, forwarded %d, tx %d, drops %v", injected.Load(), st.Forwarded, st.TxPackets, nonZero(st))
}
