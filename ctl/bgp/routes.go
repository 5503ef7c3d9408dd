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
// prefix -> (peer, path ID) -> next hop. Only the watch goroutine
// touches it.
type learnedRIB struct {
	paths map[netip.Prefix]map[pathKey]netip.Addr
}

type pathKey struct {
	peer netip.Addr
	id   uint32
}

func newLearnedRIB() *learnedRIB {
	return &learnedRIB{paths: map[netip.Prefix]map[pathKey]netip.Addr{}}
}

// apply folds one best-path event into the RIB and returns a Route for
// each prefix whose next hops changed, in the order they first appear.
// GoBGP sends either deltas (multipath updates and withdrawals) or, on
// the initial snapshot, the full multipath list of each prefix; both
// read the same here: a withdrawal removes a path, anything else sets
// it. Paths of the node's own (source-less) routes are not learned: one
// that wins a prefix removes the learned ones through the delta.
func (r *learnedRIB) apply(paths []*apiutil.Path) []Route {
	var order []netip.Prefix
	before := map[netip.Prefix][]netip.Addr{}
	for _, p := range paths {
		pfx, ok := nlriPrefix(p.Nlri)
		if !ok || !p.PeerAddress.IsValid() {
			continue
		}
		set := r.paths[pfx]
		if _, seen := before[pfx]; !seen {
			before[pfx] = nextHops(set)
			order = append(order, pfx)
		}
		k := pathKey{peer: p.PeerAddress, id: p.RemoteID}
		if p.Withdrawal || p.IsNexthopInvalid {
			delete(set, k)
			if len(set) == 0 {
				delete(r.paths, pfx)
			}
			continue
		}
		if set == nil {
			set = map[pathKey]netip.Addr{}
			r.paths[pfx] = set
		}
		set[k] = nextHop(p)
	}
	var out []Route
	for _, pfx := range order {
		set := r.paths[pfx]
		nhs := nextHops(set)
		if slices.Equal(nhs, before[pfx]) {
			continue
		}
		rt := Route{Prefix: pfx, NextHops: nhs, Withdrawn: len(nhs) == 0}
		for k, nh := range set {
			if nh == nhs[0] && (!rt.Peer.IsValid() || k.peer.Less(rt.Peer)) {
				rt.Peer = k.peer
			}
		}
		if rt.Withdrawn {
			for _, p := range paths {
				if q, ok := nlriPrefix(p.Nlri); ok && q == pfx && p.PeerAddress.IsValid() {
					rt.Peer = p.PeerAddress
				}
			}
		}
		out = append(out, rt)
	}
	return out
}

func nextHops(set map[pathKey]netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, nh := range set {
		if !slices.Contains(out, nh) {
			out = append(out, nh)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
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
