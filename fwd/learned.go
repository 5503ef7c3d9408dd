// Learned routes: routes a routing protocol (BGP) learns flow into the
// published tables one by one, while workers read them — no new snapshot
// per update. The space's lpm table takes concurrent readers and one
// writer; a new next hop is written into room the tables reserved at
// NewTables before any route points at it, so a worker that finds the
// route finds its next hop. Configured routes, endpoints and the host's
// own addresses always win over a learned route for the same prefix: a
// peer can never take a local workload's address.
//
// A route with several equal next hops (BGP multipath) is one next hop
// of kind nhECMP: a group of up to MaxECMP plain gateway hops, in the
// same reserved room, deduplicated like single hops. The pipeline picks
// a group's member per flow (pickMember, by flowHash) where it takes the
// gateway: every packet of a flow takes the same member, on every worker
// and in every run, and a member whose port is down is skipped.

package fwd

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gannet-net/gannet/pkt"
)

// learnReserve is the room for next hops learned routes add to a
// snapshot: a network has a handful of gateways (its peers), not
// thousands.
const learnReserve = 1024

// ErrConfigured is returned by Learn for a prefix the configuration (or a
// local endpoint, or the host) already routes.
var ErrConfigured = errors.New("prefix routed by the configuration")

// MaxECMP is the most equal next hops a learned route uses; Learn keeps
// the first MaxECMP in (port, gateway) order of a longer list.
const MaxECMP = 8

// LearnedHop is where a learned route leaves: one of Gateways, the equal
// paths of the route (BGP multipath), picked per flow. A list of (port,
// gateway) pairs rather than one port with several gateways, because
// equal paths usually leave by different uplinks (one per top-of-rack
// router); the order does not matter and repeats count once. One
// gateway is a plain gateway route, as before ECMP.
type LearnedHop struct {
	Gateways []LearnedGateway
}

// LearnedGateway is one path of a learned route: out of port Port (an
// uplink) to Gateway, which the neighbour cache resolves. Gateway is of
// the prefix's family, or IPv6 for an IPv4 prefix (RFC 8950: a BGP route
// learned over an IPv6-only core); a link-local gateway is on Port's
// link.
type LearnedGateway struct {
	Port    int
	Gateway netip.Addr
}

// learnedState is the writer's side of the learned routes; only the one
// goroutine that calls Learn and Forget touches it.
type learnedState struct {
	nnh      int                 // next hops in use; nhs has room beyond
	hops     map[hopKey]uint32   // learned next hops, shared by routes
	groups   map[groupKey]uint32 // learned ECMP groups, shared by routes
	prefixes map[routeKey]bool   // learned prefixes
}

type hopKey struct {
	port int
	gw   netip.Addr
}

// groupKey is a group's members in (port, gateway) order; the rest zero.
type groupKey [MaxECMP]hopKey

func (a hopKey) compare(b hopKey) int {
	if a.port != b.port {
		return a.port - b.port
	}
	return a.gw.Compare(b.gw)
}

type routeKey struct {
	space  uint16
	prefix netip.Prefix
}

// Learn adds or replaces the learned route p in space, leaving by one of
// hop's gateways. It refuses a prefix the configuration routes
// (ErrConfigured), no gateway, a port that is not an uplink, and a
// gateway of the wrong family. One goroutine at a time.
func (t *Tables) Learn(space uint16, p netip.Prefix, hop LearnedHop) error {
	sp := t.spaces[space]
	switch {
	case sp == nil:
		return fmt.Errorf("fwd: Learn %v: no address space %d", p, space)
	case sp.translated:
		return fmt.Errorf("fwd: Learn %v: space %d is translated: its routes live in the core", p, space)
	case !p.IsValid() || p.Masked() != p || p.Addr().Is4In6():
		return fmt.Errorf("fwd: Learn %v: not a masked prefix", p)
	case len(hop.Gateways) == 0:
		return fmt.Errorf("fwd: Learn %v: no gateway", p)
	}
	var keys groupKey
	n := 0
	for _, g := range hop.Gateways {
		switch {
		case g.Port < 0 || g.Port >= len(t.ports) || t.ports[g.Port].role != RoleUplink:
			return fmt.Errorf("fwd: Learn %v: port %d is not an uplink", p, g.Port)
		}
		gw, err := gatewayFor(p, g.Gateway)
		if err != nil {
			return fmt.Errorf("fwd: Learn %v: gateway %w", p, err)
		}
		// Insert in order, once, keeping the first MaxECMP.
		k := hopKey{g.Port, gw}
		at := 0
		for at < n && keys[at].compare(k) < 0 {
			at++
		}
		if at < n && keys[at] == k || at == MaxECMP {
			continue
		}
		copy(keys[at+1:], keys[at:min(n, MaxECMP-1)])
		keys[at] = k
		n = min(n+1, MaxECMP)
	}
	l := &t.learned
	if l.prefixes == nil {
		l.hops, l.groups, l.prefixes = map[hopKey]uint32{}, map[groupKey]uint32{}, map[routeKey]bool{}
	}
	k := routeKey{space, p}
	if !l.prefixes[k] {
		if _, ok := sp.table.Get(p); ok {
			return fmt.Errorf("fwd: Learn %v in space %d: %w", p, space, ErrConfigured)
		}
	}
	nhi, ok := l.groups[keys]
	if n == 1 {
		nhi, ok = l.hops[keys[0]]
	}
	if !ok {
		// The members first, then the group: each is written before
		// anything points at it; the lpm store that publishes the
		// route orders them all.
		need := 0
		for _, hk := range keys[:n] {
			if _, ok := l.hops[hk]; !ok {
				need++
			}
		}
		if n > 1 {
			need++
		}
		if l.nnh+need > len(t.nhs) {
			return fmt.Errorf("fwd: Learn %v: more than %d learned next hops", p, learnReserve)
		}
		var g ecmpGroup
		for i, hk := range keys[:n] {
			hi, ok := l.hops[hk]
			if !ok {
				hi = uint32(l.nnh)
				t.nhs[hi] = nextHop{kind: nhGateway, port: hk.port, gw: hk.gw}
				l.nnh++
				l.hops[hk] = hi
			}
			g.members[i] = hi
		}
		nhi = g.members[0]
		if n > 1 {
			g.n = uint8(n)
			nhi = uint32(l.nnh)
			t.nhs[nhi] = nextHop{kind: nhECMP, group: g}
			l.nnh++
			l.groups[keys] = nhi
		}
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

// LearnedPrefixes calls fn with each learned prefix of space (in no
// order). One goroutine at a time, as Learn.
func (t *Tables) LearnedPrefixes(space uint16, fn func(netip.Prefix)) {
	for k := range t.learned.prefixes {
		if k.space == space {
			fn(k.prefix)
		}
	}
}

// Learned reports whether p is a learned route of space.
func (t *Tables) Learned(space uint16, p netip.Prefix) bool {
	return t.learned.prefixes[routeKey{space, p}]
}

// MatchPrefix returns the prefix of space's table that a's route is: the
// longest one holding a (for the API's lookups and the trace; a probe per
// prefix length, control path only).
func (t *Tables) MatchPrefix(space uint16, a netip.Addr) (netip.Prefix, bool) {
	sp := t.spaces[space]
	if sp == nil || !a.IsValid() {
		return netip.Prefix{}, false
	}
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if _, ok := sp.table.Get(p); ok {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// LearnedRoutes returns how many learned routes the tables hold.
func (t *Tables) LearnedRoutes() int { return len(t.learned.prefixes) }

// RouteCounts calls fn with the routes each address space's table holds
// per family — configured, endpoint, host and learned routes alike — in
// no particular order. Any goroutine may call it.
func (t *Tables) RouteCounts(fn func(space uint16, v4, v6 int)) {
	for id, sp := range t.spaces {
		v4, v6 := sp.table.Routes()
		fn(id, v4, v6)
	}
}

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

// ECMP: a group's member for a flow.

// ecmpGroup is the members of an nhECMP next hop: indices of plain
// gateway hops in Tables.nhs, in (port, gateway) order, n of them
// (2..MaxECMP).
type ecmpGroup struct {
	n       uint8
	members [MaxECMP]uint32
}

// Multipliers of flowHash: the golden ratio's (Fibonacci hashing) for
// the words, murmur3's fmix64 for the finish. Fixed, with no per-worker
// or per-run seed: every worker, every run and every host with the same
// group sends a flow the same way.
const (
	flowMul  = 0x9e3779b97f4a7c15
	flowFin1 = 0xff51afd7ed558ccd
	flowFin2 = 0xc4ceb9fe1a85ec53
)

// flowHash is the ECMP hash of the packet's flow: source and destination
// address, protocol and, when the packet carries them and is not a
// fragment, its TCP/UDP ports. A fragment (the first one too, which has
// the ports) hashes addresses and protocol only, so every fragment of a
// datagram takes one path; an unfragmented packet of the same flow may
// take another (as Linux's L4 multipath hash does): reordering between
// a flow's fragmented and unfragmented packets, never within a
// datagram. gannet's own fragmentation comes after the pick, so a packet
// it fragments stays on its flow's path. Each 64-bit word is mixed in
// with one multiply and a shift (an IPv4 flow two words, IPv6 five),
// then fmix64: four to seven multiplies, no allocation, no branch on the
// data.
func flowHash(s *pkt.Summary) uint64 {
	h := uint64(s.Proto)
	if s.Family == pkt.FamilyIPv4 {
		h = flowWord(h, uint64(s.Src4())<<32|uint64(s.Dst4()))
	} else {
		sh, sl := s.Src6()
		dh, dl := s.Dst6()
		h = flowWord(flowWord(flowWord(flowWord(h, sh), sl), dh), dl)
	}
	if s.Flags&(pkt.FlagPorts|pkt.FlagFragment) == pkt.FlagPorts {
		h = flowWord(h, uint64(s.SrcPort)<<16|uint64(s.DstPort)|1<<32)
	}
	h ^= h >> 33
	h *= flowFin1
	h ^= h >> 33
	h *= flowFin2
	h ^= h >> 33
	return h
}

// flowWord mixes w into h. The shift feeds the product's high bits back
// into the low ones the next multiply spreads upward.
func flowWord(h, w uint64) uint64 {
	h = (h ^ w) * flowMul
	return h ^ h>>32
}

// pickMember returns which member of group g carries a flow of hash h,
// and the member the hash chose first. The first choice is member
// (hi32(h) * n) >> 32 (multiply-shift: h's high half scaled to n, no
// division); when its port is down the flow goes to one of the live
// members by the low half the same way, so a member going down moves
// only its own flows. ok is false when every member's port is down.
func (t *Tables) pickMember(g *ecmpGroup, h uint64) (member, first int, ok bool) {
	n := uint64(g.n)
	first = int((h >> 32 * n) >> 32)
	if !t.ports[t.nhs[g.members[first]].port].down {
		return first, first, true
	}
	live := uint64(0)
	for _, i := range g.members[:n] {
		if !t.ports[t.nhs[i].port].down {
			live++
		}
	}
	if live == 0 {
		return 0, first, false
	}
	k := (uint64(uint32(h)) * live) >> 32
	for j, i := range g.members[:n] {
		if !t.ports[t.nhs[i].port].down {
			if k == 0 {
				return j, first, true
			}
			k--
		}
	}
	return 0, first, false // not reached: k < live
}

// hopDown reports whether nh leaves by a port whose link is gone: for a
// group, when every member's does.
func (t *Tables) hopDown(nh *nextHop) bool {
	if nh.kind != nhECMP {
		return t.ports[nh.port].down
	}
	for _, i := range nh.group.members[:nh.group.n] {
		if !t.ports[t.nhs[i].port].down {
			return false
		}
	}
	return true
}

// hopMTU is the MTU of nh's port: for a group, the lowest of its live
// members' (a packet that fits it fits whichever member the flow takes).
func (t *Tables) hopMTU(nh *nextHop) int {
	if nh.kind != nhECMP {
		return t.ports[nh.port].mtu
	}
	mtu := 65535
	for _, i := range nh.group.members[:nh.group.n] {
		if pe := &t.ports[t.nhs[i].port]; !pe.down {
			mtu = min(mtu, pe.mtu)
		}
	}
	return mtu
}
