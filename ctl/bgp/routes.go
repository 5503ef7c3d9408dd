package bgp

// Routes: what flows in and out. Announce and Withdraw put the node's own
// routes into GoBGP's RIB (the export policy sends them to every peer
// unless a rule rejects them). GoBGP's best-path events (multipath on)
// come as deltas of paths; learnedRIB folds them into the set of equal
// next hops per prefix and hands out a Route per changed prefix.

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/gannet-net/gannet/ctl/config"
)

// Route is a change of the learned best paths of one prefix.
type Route struct {
	Prefix netip.Prefix
	// NextHops are the equal-cost next hops (multipath), sorted; empty
	// when Withdrawn. An IPv4 prefix may have IPv6 next hops (RFC 8950).
	// A link-local next hop (sent without a global one) has as its zone
	// the address of the peer that sent it: it is on the link by which
	// that peer is reached.
	NextHops []netip.Addr
	// Withdrawn: no learned path is left (or the node's own route won).
	Withdrawn bool
	// Peer sent the path of NextHops[0] (the last one's when Withdrawn).
	Peer netip.Addr
}

// Announce originates prefix with nextHop (invalid: the session's own
// address toward each peer) and communities. Announcing a prefix again
// replaces its attributes.
func (s *Speaker) Announce(prefix netip.Prefix, nextHop netip.Addr, communities []config.Community) error {
	if !prefix.IsValid() || prefix.Addr().Is4In6() || prefix.Masked() != prefix {
		return fmt.Errorf("bgp: announce %s: not a masked prefix", prefix)
	}
	if nextHop.IsValid() && nextHop.Is4() != prefix.Addr().Is4() {
		return fmt.Errorf("bgp: announce %s: next hop %s is of the other family", prefix, nextHop)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := announcement{nextHop: nextHop, communities: slices.Clone(communities)}
	s.local[prefix] = a
	if s.srv == nil {
		return nil
	}
	return s.addPath(prefix, a)
}

// Withdraw stops originating prefix.
func (s *Speaker) Withdraw(prefix netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.local[prefix]
	if !ok {
		return nil
	}
	delete(s.local, prefix)
	if s.srv == nil {
		return nil
	}
	p, err := localPath(prefix, a)
	if err != nil {
		return err
	}
	if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: withdraw %s: %w", prefix, err)
	}
	return nil
}

func (s *Speaker) addPath(prefix netip.Prefix, a announcement) error {
	p, err := localPath(prefix, a)
	if err != nil {
		return err
	}
	if _, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: announce %s: %w", prefix, err)
	}
	return nil
}

// localPath is a locally originated path: GoBGP wants its Family and a
// next hop (unspecified: replaced by the session's local address).
func localPath(prefix netip.Prefix, a announcement) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("bgp: %s: %w", prefix, err)
	}
	nh := a.nextHop
	fam := bgp.RF_IPv4_UC
	if prefix.Addr().Is6() {
		fam = bgp.RF_IPv6_UC
		if !nh.IsValid() {
			nh = netip.IPv6Unspecified()
		}
	} else if !nh.IsValid() {
		nh = netip.IPv4Unspecified()
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if fam == bgp.RF_IPv4_UC {
		attr, err := bgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, attr)
	} else {
		attr, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, attr)
	}
	var std []uint32
	var large []*bgp.LargeCommunity
	for _, c := range a.communities {
		if c.Large {
			large = append(large, bgp.NewLargeCommunity(c.Value[0], c.Value[1], c.Value[2]))
		} else {
			std = append(std, c.Value[0])
		}
	}
	if len(std) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(std))
	}
	if len(large) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(large))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}, nil
}

// learnedRIB is the multipath set of every prefix with learned paths:
// prefix -> the (peer, path ID, next hop) of each path, usually one. A
// slice rather than a map per prefix: a full table is a million
// prefixes, and a map each costs several times the one path it holds.
// Only the watch goroutine touches it.
type learnedRIB struct {
	paths map[netip.Prefix][]learnedPath
	// before is apply's scratch: a prefix's next hops before the event.
	before []netip.Addr
}

type learnedPath struct {
	key     pathKey
	nextHop netip.Addr
}

type pathKey struct {
	peer netip.Addr
	id   uint32
}

func newLearnedRIB() *learnedRIB {
	return &learnedRIB{paths: map[netip.Prefix][]learnedPath{}}
}

// apply folds one best-path event into the RIB and returns a Route for
// each prefix whose next hops changed, in the order they first appear.
// GoBGP sends either deltas (multipath updates and withdrawals) or, on
// the initial snapshot, the full multipath list of each prefix; both
// read the same here: a withdrawal removes a path, anything else sets
// it. Paths of the node's own (source-less) routes are not learned: one
// that wins a prefix removes the learned ones through the delta.
//
// An event's paths come in runs by prefix (a delta is one prefix's); a
// run is folded and compared with the prefix's next hops before it, so
// an event costs no allocation beyond the Routes it returns. A prefix
// that comes back after another's run gets a second Route: the last
// one is its state.
func (r *learnedRIB) apply(paths []*apiutil.Path) []Route {
	var out []Route
	var run netip.Prefix // the prefix of the current run; invalid: none
	var last netip.Addr  // the last peer in the run, for a withdrawal
	for _, p := range paths {
		pfx, ok := nlriPrefix(p.Nlri)
		if !ok || !p.PeerAddress.IsValid() {
			continue
		}
		if pfx != run {
			if run.IsValid() {
				out = r.changed(out, run, last)
			}
			run = pfx
			r.before = appendNextHops(r.before[:0], r.paths[pfx])
		}
		last = p.PeerAddress
		r.set(pfx, pathKey{peer: p.PeerAddress, id: p.RemoteID}, nextHop(p), p.Withdrawal || p.IsNexthopInvalid)
	}
	if run.IsValid() {
		out = r.changed(out, run, last)
	}
	return out
}

// set stores (or, gone, removes) the path k of prefix pfx.
func (r *learnedRIB) set(pfx netip.Prefix, k pathKey, nh netip.Addr, gone bool) {
	set := r.paths[pfx]
	i := slices.IndexFunc(set, func(lp learnedPath) bool { return lp.key == k })
	switch {
	case gone && i < 0:
	case gone && len(set) == 1:
		delete(r.paths, pfx)
	case gone:
		set[i] = set[len(set)-1]
		r.paths[pfx] = set[:len(set)-1]
	case i >= 0:
		set[i].nextHop = nh
	default:
		r.paths[pfx] = append(set, learnedPath{key: k, nextHop: nh})
	}
}

// changed appends pfx's Route to out if its next hops differ from
// r.before; last is the peer of the run's last path (a withdrawn
// prefix's Peer).
func (r *learnedRIB) changed(out []Route, pfx netip.Prefix, last netip.Addr) []Route {
	set := r.paths[pfx]
	nhs := appendNextHops(nil, set)
	if slices.Equal(nhs, r.before) {
		return out
	}
	rt := Route{Prefix: pfx, NextHops: nhs, Withdrawn: len(nhs) == 0}
	if rt.Withdrawn {
		rt.Peer = last
		return append(out, rt)
	}
	for _, lp := range set {
		if lp.nextHop == nhs[0] && (!rt.Peer.IsValid() || lp.key.peer.Less(rt.Peer)) {
			rt.Peer = lp.key.peer
		}
	}
	return append(out, rt)
}

// appendNextHops appends the distinct next hops of set to out, sorted.
func appendNextHops(out []netip.Addr, set []learnedPath) []netip.Addr {
	n := len(out)
	for _, lp := range set {
		if !slices.Contains(out[n:], lp.nextHop) {
			out = append(out, lp.nextHop)
		}
	}
	slices.SortFunc(out[n:], netip.Addr.Compare)
	return out
}

func nlriPrefix(n bgp.NLRI) (netip.Prefix, bool) {
	if p, ok := n.(*bgp.IPAddrPrefix); ok {
		return p.Prefix, true
	}
	return netip.Prefix{}, false
}

// nextHop is a path's next hop: NEXT_HOP for IPv4 over IPv4, else the
// MP_REACH next hop (an IPv4 prefix's too, RFC 8950) — for IPv6 the
// global one, the link-local only when no global is given, and then
// zoned with the address of the peer that sent it (the link it is on).
func nextHop(p *apiutil.Path) netip.Addr {
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			return a.Value
		case *bgp.PathAttributeMpReachNLRI:
			if a.Nexthop.IsValid() && !a.Nexthop.IsUnspecified() || !a.LinkLocalNexthop.IsValid() {
				// A locally originated route's next hop is "::".
				return a.Nexthop
			}
			if !p.PeerAddress.IsValid() {
				return a.LinkLocalNexthop
			}
			return a.LinkLocalNexthop.WithZone(p.PeerAddress.WithZone("").String())
		}
	}
	return netip.Addr{}
}
