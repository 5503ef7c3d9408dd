// Cache: the kernel's neighbour table flows in through netlink (one dump, then the
// RTNLGRP_NEIGH notifications), is applied to a private working table by the cache
// goroutine, and flows out to the data path as immutable Snapshots published behind an
// atomic pointer. Misses flow the other way: from the data path into the miss slots, from
// there to the kernel as resolution requests.

package neigh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Timing of the cache goroutine.
const (
	// coalesce is how long the goroutine keeps applying notifications before it publishes:
	// a burst (a link flap, a dump) becomes one Snapshot instead of one per entry.
	coalesce = 2 * time.Millisecond
	// missPoll is how often the miss slots are drained.
	missPoll = 2 * time.Millisecond
	// reask is how long a key the kernel was asked to resolve is not asked again: the
	// kernel's own retransmission timers (1 s, 3 probes by default) run in between.
	reask = time.Second
	// maxAsksPerPoll bounds the netlink requests one drain sends, so a scan of many
	// unresolvable addresses cannot turn into a request storm.
	maxAsksPerPoll = 32
	// resubscribeDelay is the pause before re-subscribing after the notification socket
	// failed (for example ENOBUFS when the kernel outran the reader).
	resubscribeDelay = 100 * time.Millisecond
)

// usableStates are the NUD states whose MAC address may be used to send (the kernel itself
// sends on STALE, DELAY and PROBE entries while it re-verifies them).
const usableStates = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT

// Cache mirrors the kernel's neighbour table for a set of links and resolves misses.
//
// Resolution: a miss makes the cache goroutine send RTM_NEWNEIGH with NTF_USE for the
// address (NLM_F_CREATE, no state, no MAC). The kernel creates the entry if needed and runs
// neigh_event_send on it, exactly as when its own stack wants to send to the address: it
// sends ARP requests or neighbour solicitations with its own timers and state machine, and
// the answer arrives as an ordinary notification. NTF_USE is chosen over writing entries
// (gannet would have to speak ARP/NDP itself) and over NTF_MANAGED (kernel 5.16+), which
// keeps every entry it creates resolved forever and would turn each missed address into a
// permanent probe target.
//
// Limitation: gannet's traffic does not pass through the kernel, so the kernel never sees
// it use an entry; a REACHABLE entry ages to STALE and stays usable (as the brief of the
// data path wants) without being re-verified until the kernel itself sends to it or a
// miss is reported again.
type Cache struct {
	links map[int]bool // immutable after New
	ns    netns.NsHandle
	h     *netlink.Handle // used by Start, then only by the goroutine

	snap   atomic.Pointer[Snapshot]
	misses missRing

	mu      sync.Mutex // guards the lifecycle fields below
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}

	// Owned by the cache goroutine (and by Start before it starts the goroutine).
	table map[key][6]byte
	asked map[key]time.Time
}

// New returns a Cache for the links ifindexes in the network namespace of the calling
// thread (where netlink requests and notifications will go). The links must exist.
func New(ifindexes []int) (*Cache, error) {
	if len(ifindexes) == 0 {
		return nil, errors.New("neigh: New: no links")
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("neigh: current network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("neigh: netlink handle: %w", err)
	}
	c := &Cache{links: make(map[int]bool), ns: ns, h: h, table: make(map[key][6]byte), asked: make(map[key]time.Time)}
	for i, ifindex := range ifindexes {
		if _, err := h.LinkByIndex(ifindex); err != nil {
			h.Close()
			ns.Close()
			return nil, fmt.Errorf("neigh: New: ifindexes[%d] = %d: %w", i, ifindex, err)
		}
		c.links[ifindex] = true
	}
	c.snap.Store(NewSnapshot(nil))
	return c, nil
}

// Snapshot returns the current table. Load it once per batch.
func (c *Cache) Snapshot() *Snapshot { return c.snap.Load() }

// Miss reports that the data path found no usable neighbour for addr on link ifindex. It is
// lock-free, never blocks and never allocates; reports may be lost (the next packet
// reports again). Addresses on links outside the Cache's set are ignored.
func (c *Cache) Miss(ifindex int, addr netip.Addr) { c.misses.put(ifindex, addr) }

// Start subscribes to neighbour notifications, dumps the table of the Cache's links,
// publishes the first Snapshot and starts the goroutine that keeps it current and resolves
// misses until ctx ends or Close is called. When Start returns nil the first Snapshot is
// published.
func (c *Cache) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("neigh: Start: cache closed")
	}
	if c.started {
		return errors.New("neigh: Start: already started")
	}
	sub, err := c.subscribe()
	if err != nil {
		return err
	}
	c.started = true
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.run(ctx, sub)
	return nil
}

// Close stops the goroutine and releases the netlink sockets. The last Snapshot stays
// readable. Closing twice is not an error.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	if started {
		close(c.stop)
	}
	c.mu.Unlock()
	if started {
		<-c.done
	}
	c.h.Close()
	return c.ns.Close()
}

// subscription is one notification socket: updates arrive on ch until it is closed
// (by the library, after an error or after done is closed).
type subscription struct {
	ch   chan netlink.NeighUpdate
	done chan struct{}
}

func (s subscription) cancel() {
	close(s.done)
	for range s.ch { // let the library's reader finish and close ch
	}
}

// subscribe opens a notification socket, then dumps the table into a fresh working table
// and publishes it. Notifications that raced with the dump are applied after it in order;
// the last one for each key is the kernel's current state, so the table converges.
func (c *Cache) subscribe() (subscription, error) {
	s := subscription{ch: make(chan netlink.NeighUpdate, 1024), done: make(chan struct{})}
	ns := c.ns
	err := netlink.NeighSubscribeWithOptions(s.ch, s.done, netlink.NeighSubscribeOptions{
		Namespace:         &ns,
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		return subscription{}, fmt.Errorf("neigh: subscribing to neighbour notifications: %w", err)
	}
	table := make(map[key][6]byte)
	for ifindex := range c.links {
		for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
			var list []netlink.Neigh
			for try := 0; ; try++ {
				list, err = c.h.NeighList(ifindex, family)
				if !errors.Is(err, netlink.ErrDumpInterrupted) || try == 3 {
					break
				}
			}
			if err != nil {
				s.cancel()
				return subscription{}, fmt.Errorf("neigh: dumping neighbours of ifindex %d: %w", ifindex, err)
			}
			for i := range list {
				applyTo(table, c.links, unix.RTM_NEWNEIGH, &list[i])
			}
		}
	}
	c.table = table
	c.publish()
	return s, nil
}

func (c *Cache) publish() {
	c.snap.Store(&Snapshot{m: maps.Clone(c.table)})
}

// applyTo applies one notification to table and reports whether it changed it. Entries
// outside links, of other families (bridge FDB), proxy entries, entries without an
// Ethernet MAC and entries in states other than usableStates are absent from the table.
func applyTo(table map[key][6]byte, links map[int]bool, typ uint16, n *netlink.Neigh) bool {
	if !links[n.LinkIndex] || (n.Family != unix.AF_INET && n.Family != unix.AF_INET6) {
		return false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return false
	}
	if n.Family == unix.AF_INET {
		addr = addr.Unmap()
	}
	k := makeKey(n.LinkIndex, addr)
	old, had := table[k]
	usable := typ == unix.RTM_NEWNEIGH && n.State&usableStates != 0 && n.Flags&netlink.NTF_PROXY == 0 && len(n.HardwareAddr) == 6
	if !usable {
		delete(table, k)
		return had
	}
	mac := [6]byte(n.HardwareAddr)
	table[k] = mac
	return !had || old != mac
}

// run is the cache goroutine.
func (c *Cache) run(ctx context.Context, sub subscription) {
	defer close(c.done)
	defer func() {
		if sub.ch != nil {
			sub.cancel()
		}
	}()
	poll := time.NewTicker(missPoll)
	defer poll.Stop()
	var flush <-chan time.Time // non-nil while changes wait to be published
	var retry <-chan time.Time // non-nil while re-subscribing after a failure
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		case u, ok := <-sub.ch:
			if !ok {
				// The socket failed (the library closed ch): updates may be lost, so
				// start over with a fresh subscription and dump.
				sub.ch = nil
				retry = time.After(resubscribeDelay)
				continue
			}
			if applyTo(c.table, c.links, u.Type, &u.Neigh) && flush == nil {
				flush = time.After(coalesce)
			}
		case <-flush:
			flush = nil
			c.publish()
		case <-retry:
			retry = nil
			s, err := c.subscribe()
			if err != nil {
				retry = time.After(resubscribeDelay)
				continue
			}
			sub, flush = s, nil
		case now := <-poll.C:
			c.resolveMisses(now)
		}
	}
}

// resolveMisses drains the miss slots and asks the kernel to resolve each reported address
// that is on one of the links, not usable yet, and not asked for within reask.
func (c *Cache) resolveMisses(now time.Time) {
	asks := 0
	c.misses.drain(func(ifindex int, addr netip.Addr) {
		k := makeKey(ifindex, addr)
		if !c.links[ifindex] || asks == maxAsksPerPoll {
			return
		}
		if _, ok := c.table[k]; ok {
			return // resolved meanwhile; the next Snapshot has it
		}
		if t, ok := c.asked[k]; ok && now.Sub(t) < reask {
			return
		}
		c.asked[k] = now
		asks++
		// Errors are not fatal: the address may be unreachable on the link (no source
		// address, link down); the next miss after reask asks again.
		_ = c.h.NeighSet(&netlink.Neigh{LinkIndex: ifindex, IP: net.IP(addr.AsSlice()), Flags: netlink.NTF_USE})
	})
	if len(c.asked) > 4*missSlots {
		for k, t := range c.asked {
			if now.Sub(t) >= reask {
				delete(c.asked, k)
			}
		}
	}
}
