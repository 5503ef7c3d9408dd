package bgp

// Status: copies of the speaker's state for the API and the CLI — the
// sessions with their counters, and the RIB (best paths, or what one peer
// sent).

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/gannet-net/gannet/ctl/config"
)

// PeerStatus is one session as `gannet bgp peers` shows it.
type PeerStatus struct {
	Address netip.Addr `json:"address"`
	AS      uint32     `json:"as"`
	// State is idle, connect, active, opensent, openconfirm or established.
	State string `json:"state"`
	// PrefixLimit is set when the session was ended for exceeding
	// maxPrefixes; it stays down until the config changes.
	PrefixLimit bool `json:"prefixLimit,omitempty"`
	// Since is when the session was established (zero unless it is).
	Since time.Time `json:"since,omitzero"`
	// Families are the counters per family.
	Families []FamilyStatus `json:"families"`
	// ExtendedNextHop is, for an IPv6 session carrying ipv4, whether the
	// peer offered the Extended Next Hop capability for IPv4 unicast
	// with IPv6 next hops (RFC 8950) in its OPEN: "negotiated", or
	// "refused" (the peer takes no IPv4 route with an IPv6 next hop:
	// enable it there, e.g. BIRD's `extended next hop on`, FRR's
	// `capability extended-nexthop`); empty for other sessions and
	// before the OPEN.
	ExtendedNextHop string `json:"extendedNextHop,omitempty"`
}

// FamilyStatus counts one family's prefixes of a session.
type FamilyStatus struct {
	Family     string `json:"family"` // ipv4, ipv6
	Received   uint64 `json:"received"`
	Accepted   uint64 `json:"accepted"`
	Advertised uint64 `json:"advertised"`
}

// Uptime is how long the session has been established.
func (p PeerStatus) Uptime(now time.Time) time.Duration {
	if p.Since.IsZero() {
		return 0
	}
	return now.Sub(p.Since)
}

// Peers lists the sessions, by address.
func (s *Speaker) Peers(ctx context.Context) ([]PeerStatus, error) {
	srv := s.server()
	if srv == nil {
		return nil, ErrNotRunning
	}
	var out []PeerStatus
	err := srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		ps := PeerStatus{}
		if p.Conf != nil {
			ps.Address, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			ps.AS = p.Conf.PeerAsn
		}
		if st := p.State; st != nil {
			ps.State = strings.ToLower(strings.TrimPrefix(st.SessionState.String(), "SESSION_STATE_"))
			ps.PrefixLimit = st.AdminState == api.PeerState_ADMIN_STATE_PFX_CT
			if st.SessionState == api.PeerState_SESSION_STATE_ESTABLISHED && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
				ps.Since = p.Timers.State.Uptime.AsTime()
			}
		}
		for _, af := range p.AfiSafis {
			if af.Config == nil || af.Config.Family == nil {
				continue
			}
			fs := FamilyStatus{Family: "ipv4"}
			if af.Config.Family.Afi == api.Family_AFI_IP6 {
				fs.Family = "ipv6"
			}
			if af.State != nil {
				fs.Received, fs.Accepted, fs.Advertised = af.State.Received, af.State.Accepted, af.State.Advertised
			}
			ps.Families = append(ps.Families, fs)
		}
		if ps.Address.Is6() && slices.ContainsFunc(ps.Families, func(f FamilyStatus) bool { return f.Family == "ipv4" }) && p.State != nil && len(p.State.RemoteCap) > 0 {
			ps.ExtendedNextHop = "refused"
			if caps, err := apiutil.UnmarshalCapabilities(p.State.RemoteCap); err == nil && slices.ContainsFunc(caps, offersIPv4OverIPv6) {
				ps.ExtendedNextHop = "negotiated"
			}
		}
		out = append(out, ps)
	})
	if err != nil {
		return nil, fmt.Errorf("bgp: peers: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, nil
}

// RouteQuery selects routes: Peer (invalid: the best paths of the RIB;
// else what that peer sent, filtered ones included) and Prefix (invalid:
// all; else that exact prefix).
type RouteQuery struct {
	Peer   netip.Addr
	Prefix netip.Prefix
}

// RIBRoute is one path as `gannet bgp routes` shows it.
type RIBRoute struct {
	Prefix  netip.Prefix `json:"prefix"`
	NextHop netip.Addr   `json:"nextHop"`
	// Peer sent it; invalid for the node's own routes.
	Peer   netip.Addr `json:"peer,omitzero"`
	ASPath []uint32   `json:"asPath"`
	// Communities as "AS:value" or "global:local1:local2".
	Communities []string `json:"communities,omitempty"`
	// Best: selected (one of the multipath set); Filtered: rejected by
	// the import policy (adj-rib-in only).
	Best     bool      `json:"best"`
	Filtered bool      `json:"filtered,omitempty"`
	Age      time.Time `json:"age"`
}

// Routes lists routes by prefix.
func (s *Speaker) Routes(ctx context.Context, q RouteQuery) ([]RIBRoute, error) {
	srv := s.server()
	if srv == nil {
		return nil, ErrNotRunning
	}
	var out []RIBRoute
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if q.Prefix.IsValid() && q.Prefix.Addr().Is4() != (fam == bgp.RF_IPv4_UC) {
			continue
		}
		req := apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}
		if q.Peer.IsValid() {
			req.TableType, req.Name, req.EnableFiltered = api.TableType_TABLE_TYPE_ADJ_IN, q.Peer.String(), true
		}
		if q.Prefix.IsValid() {
			req.Prefixes = []*apiutil.LookupPrefix{{Prefix: q.Prefix.String()}}
		}
		err := srv.ListPath(req, func(_ bgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				pfx, ok := nlriPrefix(p.Nlri)
				if !ok || (!q.Peer.IsValid() && !p.Best) {
					continue
				}
				r := RIBRoute{Prefix: pfx, NextHop: nextHop(p), Peer: p.PeerAddress, Best: p.Best, Filtered: p.Filtered, Age: time.Unix(p.Age, 0)}
				for _, a := range p.Attrs {
					switch a := a.(type) {
					case *bgp.PathAttributeAsPath:
						for _, seg := range a.Value {
							r.ASPath = append(r.ASPath, seg.GetAS()...)
						}
					case *bgp.PathAttributeCommunities:
						for _, c := range a.Value {
							r.Communities = append(r.Communities, config.Community{Value: [3]uint32{c}}.String())
						}
					case *bgp.PathAttributeLargeCommunities:
						for _, c := range a.Values {
							r.Communities = append(r.Communities, config.Community{Large: true, Value: [3]uint32{c.ASN, c.LocalData1, c.LocalData2}}.String())
						}
					}
				}
				out = append(out, r)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("bgp: routes: %w", err)
		}
	}
	slices.SortStableFunc(out, func(a, b RIBRoute) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out, nil
}

func (s *Speaker) server() *server.BgpServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

func stateName(st bgp.FSMState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "BGP_FSM_"))
}
