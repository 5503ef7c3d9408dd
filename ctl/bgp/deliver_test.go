package bgp

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRouteQueue: random changes put while a slow consumer takes
// batches end, once everything is delivered, in the state the changes
// make applied one by one; no batch is larger than deliverBatch and no
// prefix comes twice in one batch.
func TestRouteQueue(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	nh := []netip.Addr{netip.MustParseAddr("198.18.250.1"), netip.MustParseAddr("198.18.251.1")}
	var mu sync.Mutex
	got := map[netip.Prefix][]netip.Addr{}
	delivered, batches := 0, 0
	q := newRouteQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go deliver(ctx, q, func(rs []Route) {
		if len(rs) > deliverBatch {
			t.Errorf("a batch of %d routes, more than %d", len(rs), deliverBatch)
		}
		seen := map[netip.Prefix]bool{}
		mu.Lock()
		for _, rt := range rs {
			if seen[rt.Prefix] {
				t.Errorf("%s twice in one batch", rt.Prefix)
			}
			seen[rt.Prefix] = true
			if rt.Withdrawn {
				delete(got, rt.Prefix)
			} else {
				got[rt.Prefix] = rt.NextHops
			}
		}
		delivered += len(rs)
		batches++
		mu.Unlock()
		time.Sleep(time.Millisecond) // a busy consumer: changes pile up and coalesce
	})
	want := map[netip.Prefix][]netip.Addr{}
	puts := 0
	for range 2000 {
		var rs []Route
		for range 1 + rnd.IntN(50) {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(rnd.IntN(40)), 0}), 24)
			rt := Route{Prefix: p, Withdrawn: rnd.IntN(3) == 0}
			if !rt.Withdrawn {
				rt.NextHops = nh[:1+rnd.IntN(2)]
				want[p] = rt.NextHops
			} else {
				delete(want, p)
			}
			rs = append(rs, rt)
		}
		puts += len(rs)
		q.put(rs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		q.mu.Lock()
		done := len(q.routes) == 0 && len(got) == len(want)
		q.mu.Unlock()
		if done {
			for p, nhs := range want {
				if !slices.Equal(got[p], nhs) {
					done = false
				}
			}
		}
		d, b := delivered, batches
		mu.Unlock()
		if done {
			t.Logf("%d changes put, %d delivered in %d batches", puts, d, b)
			if d >= puts {
				t.Errorf("nothing coalesced: %d changes put, %d delivered", puts, d)
			}
			return
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("not delivered: got %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRouteQueueBatches: a queue longer than deliverBatch leaves in
// order, in full batches and one remainder.
func TestRouteQueueBatches(t *testing.T) {
	q := newRouteQueue()
	var rs []Route
	for i := range 2*deliverBatch + 7 {
		rs = append(rs, Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)})
	}
	q.put(rs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan []Route)
	go deliver(ctx, q, func(b []Route) { ch <- b })
	var got []Route
	var sizes []int
	for len(got) < len(rs) {
		select {
		case b := <-ch:
			got = append(got, b...)
			sizes = append(sizes, len(b))
		case <-time.After(5 * time.Second):
			t.Fatalf("delivered %d of %d", len(got), len(rs))
		}
	}
	if !slices.Equal(sizes, []int{deliverBatch, deliverBatch, 7}) {
		t.Errorf("batches of %v, want %d, %d, 7", sizes, deliverBatch, deliverBatch)
	}
	if !slices.EqualFunc(got, rs, func(a, b Route) bool { return a.Prefix == b.Prefix }) {
		t.Errorf("the order changed")
	}
}
