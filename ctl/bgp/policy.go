package bgp

// Policy: the config's filters as GoBGP policies. GoBGP has per-peer
// policies only for route-server clients, so every peer's rules live in
// the two global policies (import, export) as statements conditioned on a
// neighbor set holding that peer, each with a one-prefix set for its
// rule; rule order is statement order, so the first matching rule of a
// peer decides. What no rule decides: import rejects (RFC 8212); export
// accepts the node's own (locally originated) routes and rejects the
// learned ones (no transit).

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v4/api"

	"github.com/gannet-net/gannet/ctl/config"
)

const (
	importPolicy = "gannet-import"
	exportPolicy = "gannet-export"
)

// policySet is the GoBGP form of a config's filters.
type policySet struct {
	sets             []*api.DefinedSet
	import_, export_ *api.Policy
}

// Names of the RFC 8950 guard: the IPv6 peers carrying ipv4 that have not
// offered the Extended Next Hop capability on their current session.
const (
	noENHSet  = "gannet-no-extended-nexthop"
	anyIPv4   = "gannet-any-ipv4"
	noENHStmt = "export-no-extended-nexthop"
)

// policyOf compiles cfg's peers' rules; it is deterministic, so two
// compiles compare equal when nothing changed. enh holds the peers whose
// established session negotiated the Extended Next Hop capability
// (RFC 8950): an IPv6 peer carrying ipv4 that is not in it gets none of
// our IPv4 routes, whose next hop is the session's IPv6 address — RFC
// 8950 section 4 lets a speaker send them only to a peer that offered
// the capability. It starts out there (fail closed: GoBGP sends a new
// session's routes before its state event reaches us) and leaves when
// its session comes up with the capability.
func policyOf(cfg *config.PlanBGP, enh map[netip.Addr]bool) policySet {
	ps := policySet{
		// GoBGP runs the global import policy on the node's own paths
		// too (AddPath): those are always in.
		import_: &api.Policy{Name: importPolicy, Statements: []*api.Statement{{
			Name:       "import-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		}}},
		export_: &api.Policy{Name: exportPolicy},
	}
	var noENH []string
	for i := range cfg.Peers {
		if p := &cfg.Peers[i]; needsENH(p) && !enh[p.Addr] {
			noENH = append(noENH, netip.PrefixFrom(p.Addr, 128).String())
		}
	}
	if len(noENH) > 0 {
		ps.sets = append(ps.sets,
			&api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: noENHSet, List: noENH},
			&api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: anyIPv4,
				Prefixes: []*api.Prefix{{IpPrefix: "0.0.0.0/0", MaskLengthMin: 0, MaskLengthMax: 32}}})
		// First: no peer rule can export around it.
		ps.export_.Statements = append(ps.export_.Statements, &api.Statement{
			Name: noENHStmt,
			Conditions: &api.Conditions{
				NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: noENHSet},
				PrefixSet:   &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: anyIPv4},
			},
			Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
		})
	}
	for i := range cfg.Peers {
		p := &cfg.Peers[i]
		nb := "peer-" + setName(p.Addr.String())
		ps.sets = append(ps.sets, &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR,
			Name:        nb,
			List:        []string{netip.PrefixFrom(p.Addr, p.Addr.BitLen()).String()},
		})
		for _, dir := range []struct {
			name  string
			rules [2][]config.PlanBGPRule
			pol   *api.Policy
		}{{"import", p.Import, ps.import_}, {"export", p.Export, ps.export_}} {
			for fam, rules := range dir.rules {
				for j, r := range rules {
					name := fmt.Sprintf("%s-%s-v%d-%d", dir.name, setName(p.Addr.String()), 4+2*fam, j)
					set, match := prefixSet(name, r)
					ps.sets = append(ps.sets, set)
					dir.pol.Statements = append(dir.pol.Statements, &api.Statement{
						Name: name,
						Conditions: &api.Conditions{
							NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: nb},
							PrefixSet:   &api.MatchSet{Type: match, Name: name},
						},
						Actions: &api.Actions{RouteAction: action(r.Accept)},
					})
				}
			}
		}
	}
	ps.import_.Statements = append(ps.import_.Statements, &api.Statement{
		Name:    "import-default-reject",
		Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
	})
	ps.export_.Statements = append(ps.export_.Statements,
		&api.Statement{
			Name:       "export-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		},
		&api.Statement{
			Name:    "export-default-reject",
			Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
		})
	return ps
}

// prefixSet is a rule's one-prefix set and how to match it: In and Equal
// match the set, NotIn and NotEqual its inverse (which, in GoBGP as in
// the rule, never matches a prefix of the other family).
func prefixSet(name string, r config.PlanBGPRule) (*api.DefinedSet, api.MatchSet_Type) {
	lo, hi := r.MinLen, r.MaxLen
	if r.Op == config.MatchEqual || r.Op == config.MatchNotEqual {
		lo, hi = r.Prefix.Bits(), r.Prefix.Bits()
	}
	match := api.MatchSet_TYPE_ANY
	if r.Op == config.MatchNotIn || r.Op == config.MatchNotEqual {
		match = api.MatchSet_TYPE_INVERT
	}
	return &api.DefinedSet{
		DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX,
		Name:        name,
		Prefixes:    []*api.Prefix{{IpPrefix: r.Prefix.String(), MaskLengthMin: uint32(lo), MaskLengthMax: uint32(hi)}},
	}, match
}

func action(accept bool) api.RouteAction {
	if accept {
		return api.RouteAction_ROUTE_ACTION_ACCEPT
	}
	return api.RouteAction_ROUTE_ACTION_REJECT
}

// needsENH reports whether p is an IPv6 peer carrying ipv4 unicast: its
// IPv4 routes have IPv6 next hops (RFC 8950).
func needsENH(p *config.PlanBGPPeer) bool {
	return p.Addr.Is6() && slices.Contains(p.Families, config.IPv4)
}

// setName makes an address usable in a GoBGP set name.
func setName(s string) string { return strings.NewReplacer(".", "_", ":", "_").Replace(s) }

// setPolicies replaces the policies and assigns them globally; with
// reset, every peer's routes are run through them again (soft reset
// both ways, no session restart).
func (s *Speaker) setPolicies(ctx context.Context, cfg *config.PlanBGP, reset bool) error {
	ps := policyOf(cfg, s.enh)
	if err := s.srv.SetPolicies(ctx, &api.SetPoliciesRequest{
		DefinedSets: ps.sets,
		Policies:    []*api.Policy{ps.import_, ps.export_},
	}); err != nil {
		return fmt.Errorf("bgp: policies: %w", err)
	}
	for _, a := range []*api.PolicyAssignment{
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT, Policies: []*api.Policy{{Name: importPolicy}}, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT},
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, Policies: []*api.Policy{{Name: exportPolicy}}, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT},
	} {
		if err := s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("bgp: policy assignment: %w", err)
		}
	}
	if reset && len(cfg.Peers) > 0 {
		if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true, Direction: api.ResetPeerRequest_DIRECTION_BOTH}); err != nil {
			return fmt.Errorf("bgp: re-applying policies: %w", err)
		}
	}
	return nil
}
