package bgp

// Delivery: GoBGP raises one best-path event per prefix (a full table is
// a million of them), and the daemon's loop takes learned routes one
// batch per turn. Handing each event over on its own would cost a
// goroutine switch and a loop turn per prefix and, while the loop is
// busy, leave GoBGP's unbounded event queue to grow by a million copied
// paths. Instead the watch goroutine folds each event into the learned
// RIB and puts the changed prefixes in a routeQueue, which never blocks
// it; one goroutine hands the queue to OnRoutes in batches, as fast as
// the consumer takes them. A prefix that changes again before its
// batch leaves is in the queue once, with its latest next hops (a Route
// is the prefix's whole state, not a delta), so the queue holds at most
// one entry per prefix however long the consumer takes.

import (
	"context"
	"net/netip"
	"sync"
)

// deliverBatch is the most routes one OnRoutes call gets: enough to
// make the per-call cost vanish, few enough that the daemon's loop
// (which applies a batch in one turn) stays responsive — a few ms.
const deliverBatch = 4096

// routeQueue holds the route changes OnRoutes has not taken yet, one
// per prefix, in the order the prefixes first changed.
type routeQueue struct {
	mu     sync.Mutex
	at     map[netip.Prefix]int // a queued prefix's index in routes
	routes []Route
	ready  chan struct{} // has a token while routes is not empty
}

func newRouteQueue() *routeQueue {
	return &routeQueue{at: map[netip.Prefix]int{}, ready: make(chan struct{}, 1)}
}

// put queues rs, replacing what is queued for the same prefixes.
func (q *routeQueue) put(rs []Route) {
	if len(rs) == 0 {
		return
	}
	q.mu.Lock()
	for _, rt := range rs {
		if i, ok := q.at[rt.Prefix]; ok {
			q.routes[i] = rt
			continue
		}
		q.at[rt.Prefix] = len(q.routes)
		q.routes = append(q.routes, rt)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take empties the queue and returns what it held.
func (q *routeQueue) take() []Route {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.routes
	q.routes = nil
	if len(rs) > 0 {
		q.at = make(map[netip.Prefix]int, min(len(rs), deliverBatch))
	}
	return rs
}

// deliver hands the queue to onRoutes in batches of at most
// deliverBatch until ctx ends; what is queued then is dropped with the
// speaker.
func deliver(ctx context.Context, q *routeQueue, onRoutes func([]Route)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.ready:
		}
		for rs := q.take(); len(rs) > 0 && ctx.Err() == nil; {
			n := min(len(rs), deliverBatch)
			onRoutes(rs[:n:n])
			rs = rs[n:]
		}
	}
}
