package fwd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLearn: a learned route forwards at once in the published tables,
// never takes a configured prefix or a local endpoint's address, and once
// forgotten its traffic is answered net unreachable.
func TestLearn(t *testing.T) {
	c := twoWorkloads()
	c.Routes = nil // nothing but what is learned
	h := newHost(t, c, peerNeigh)
	tab := h.tables.Load()
	dst := netip.MustParseAddr("192.0.2.77")
	frame := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: dst, proto: "udp", sport: 1, dport: 2}.frame(t)

	h.send(0, frame)
	if back := h.out(0); len(back) != 1 || h.stats().Drops[ReasonNoRoute] != 1 {
		t.Fatalf("before learning: %d answers, no-route %d", len(back), h.stats().Drops[ReasonNoRoute])
	}
	gw := netip.MustParseAddr("198.51.100.1")
	if err := tab.Learn(0, netip.MustParsePrefix("192.0.2.0/24"), oneHop(2, gw)); err != nil {
		t.Fatalf("Learn: %v", err)
	}
	h.send(0, frame)
	if out := h.out(2); len(out) != 1 {
		t.Fatalf("after learning: %d frames out of the uplink, want 1", len(out))
	}
	// A local endpoint's address and the host's are never learned.
	for _, p := range []string{w2v4.String() + "/32", "127.0.0.0/8"} {
		if err := tab.Learn(0, netip.MustParsePrefix(p), oneHop(2, gw)); !errors.Is(err, ErrConfigured) {
			t.Errorf("Learn(%s) = %v, want ErrConfigured", p, err)
		}
	}
	for _, tc := range []struct {
		p   string
		hop LearnedHop
	}{
		{"192.0.2.0/24", oneHop(0, gw)},                             // a workload port
		{"2001:db8:77::/48", oneHop(2, gw)},                         // an IPv6 prefix by an IPv4 gateway
		{"192.0.2.0/24", oneHop(2, netip.MustParseAddr("ff02::1"))}, // a multicast gateway
		{"192.0.2.1/24", oneHop(2, gw)},                             // not masked
	} {
		if err := tab.Learn(0, netip.MustParsePrefix(tc.p), tc.hop); err == nil {
			t.Errorf("Learn(%s, %+v) accepted", tc.p, tc.hop)
		}
	}
	if err := tab.Forget(0, netip.MustParsePrefix("192.0.2.0/24")); err != nil {
		t.Fatal(err)
	}
	h.send(0, frame)
	if back := h.out(0); len(back) != 1 || h.stats().Drops[ReasonNoRoute] != 2 {
		t.Errorf("after forgetting: %d answers, no-route %d, want net unreachable", len(back), h.stats().Drops[ReasonNoRoute])
	}
	if n := tab.LearnedRoutes(); n != 0 {
		t.Errorf("LearnedRoutes() = %d after Forget", n)
	}
}

// TestLearnWhileForwarding: routes are learned and forgotten while a
// worker forwards on its own thread; a flow that never changes route
// loses nothing (run with -race: the next-hop writes are ordered by the
// lpm store that publishes a route).
func TestLearnWhileForwarding(t *testing.T) {
	c := twoWorkloads()
	h := newHost(t, c, peerNeigh)
	tab := h.tables.Load()
	if err := h.w.Start(); err != nil {
		t.Fatal(err)
	}
	steady := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t)
	var injected, got atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if h.ports[0].Inject(steady) {
				injected.Add(1)
			}
			time.Sleep(10 * time.Microsecond)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			got.Add(uint64(h.ports[1].Drain(nil)))
			h.ports[2].Drain(nil)
			select {
			case <-stop:
				return
			default:
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	for i := range 2000 {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256))
		gw := netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%8)})
		if err := tab.Learn(0, p, oneHop(2, gw)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := tab.Forget(0, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := h.w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got.Add(uint64(h.ports[1].Drain(nil)))
	h.w.Step()
	for h.w.Step() > 0 {
	}
	got.Add(uint64(h.ports[1].Drain(nil)))
	if injected.Load() == 0 || got.Load() != injected.Load() {
		t.Errorf("steady flow: injected %d, delivered %d", injected.Load(), got.Load())
	}
	if n := tab.LearnedRoutes(); n != 1333 {
		t.Errorf("LearnedRoutes() = %d, want 1333", n)
	}
}
