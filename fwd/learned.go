// Learned routes: routes a routing protocol (BGP) learns flow into the
// published tables one by one, while workers read them — no new snapshot
// per update. The space's lpm table takes concurrent readers and one
// writer; a new next hop is written into room the tables reserved at
// NewTables before any route points at it, so a worker that finds the
// route finds its next hop. Configured routes, endpoints and the host's
// own addresses always win over a learned route for the same prefix: a
// peer can never take a local workload's address.

package fwd

import (
	"errors"
	"fmt"
	"net/netip"
)

// learnReserve is the room for next hops learned routes add to a
// snapshot: a network has a handful of gateways (its peers), not
// thousands.
const learnReserve = 1024

// ErrConfigured is returned by Learn for a prefix the configuration (or a
// local endpoint, or the host) already routes.
var ErrConfigured = errors.New("prefix routed by the configuration")

// LearnedHop is where a learned route leaves: out of port Port (an
// uplink) to Gateway, which the neighbour cache resolves.
type LearnedHop struct {
	Port    int
	Gateway netip.Addr
}

// learnedState is the writer's side of the learned routes; only the one
// goroutine that calls Learn and Forget touches it.
type learnedState struct {
	nnh      int               // next hops in use; nhs has room beyond
	hops     map[hopKey]uint32 // learned next hops, shared by routes
	prefixes map[routeKey]bool // learned prefixes
}

type hopKey struct {
	port int
	gw   netip.Addr
}

type routeKey struct {
	space  uint16
	prefix netip.Prefix
}

// Learn adds or replaces the learned route p in space. It refuses a
// prefix the configuration routes (ErrConfigured), a port that is not an
// uplink, and a gateway of the wrong family. One goroutine at a time.
func (t *Tables) Learn(space uint16, p netip.Prefix, hop LearnedHop) error {
	sp := t.spaces[space]
	switch {
	case sp == nil:
		return fmt.Errorf("fwd: Learn %v: no address space %d", p, space)
	case sp.translated:
		return fmt.Errorf("fwd: Learn %v: space %d is translated: its routes live in the core", p, space)
	case !p.IsValid() || p.Masked() != p || p.Addr().Is4In6():
		return fmt.Errorf("fwd: Learn %v: not a masked prefix", p)
	case hop.Port < 0 || hop.Port >= len(t.ports) || t.ports[hop.Port].role != RoleUplink:
		return fmt.Errorf("fwd: Learn %v: port %d is not an uplink", p, hop.Port)
	case !hop.Gateway.IsValid() || hop.Gateway.Unmap().Is4() != p.Addr().Is4():
		return fmt.Errorf("fwd: Learn %v: gateway %v is not of the prefix's family", p, hop.Gateway)
	}
	l := &t.learned
	if l.prefixes == nil {
		l.hops, l.prefixes = map[hopKey]uint32{}, map[routeKey]bool{}
	}
	k := routeKey{space, p}
	if !l.prefixes[k] {
		if _, ok := sp.table.Get(p); ok {
			return fmt.Errorf("fwd: Learn %v in space %d: %w", p, space, ErrConfigured)
		}
	}
	hk := hopKey{hop.Port, hop.Gateway.Unmap().WithZone("")}
	nhi, ok := l.hops[hk]
	if !ok {
		if l.nnh >= len(t.nhs) {
			return fmt.Errorf("fwd: Learn %v: more than %d learned next hops", p, learnReserve)
		}
		nhi = uint32(l.nnh)
		// Written before any route points at it; the lpm store that
		// publishes the route orders it.
		t.nhs[nhi] = nextHop{kind: nhGateway, port: hop.Port, gw: hk.gw}
		l.nnh++
		l.hops[hk] = nhi
	}
	if err := sp.table.Insert(p, nhi); err != nil {
		return fmt.Errorf("fwd: Learn %v: %w", p, err)
	}
	l.prefixes[k] = true
	return nil
}

// Forget removes the learned route p from space; forgetting a route that
// was not learned does nothing. One goroutine at a time, as Learn.
func (t *Tables) Forget(space uint16, p netip.Prefix) error {
	k := routeKey{space, p}
	if !t.learned.prefixes[k] {
		return nil
	}
	delete(t.learned.prefixes, k)
	if err := t.spaces[space].table.Delete(p); err != nil {
		return fmt.Errorf("fwd: Forget %v: %w", p, err)
	}
	return nil
}

// LearnedRoutes returns how many learned routes the tables hold.
func (t *Tables) LearnedRoutes() int { return len(t.learned.prefixes) }

// PortIndex returns the index of the port named name.
func (t *Tables) PortIndex(name string) (int, bool) {
	for i := range t.ports {
		if t.ports[i].role != RoleNone && t.ports[i].name == name {
			return i, true
		}
	}
	return 0, false
}

// CoreAddress returns the IPv6 address the translator gives IPv4 address
// a of translated space id in the core (RFC 6052, or an EAM entry): what
// the node announces for a workload of that space.
func (t *Tables) CoreAddress(space uint16, a netip.Addr) (netip.Addr, bool) {
	sp := t.spaces[space]
	if sp == nil || !sp.translated || t.xlat == nil || !a.Is4() {
		return netip.Addr{}, false
	}
	a6, err := map46(t.xlat, space, a)
	return a6, err == nil
}
