package ctl

// Compile: a Plan plus the daemon's ports (each with its slot, and the link
// as the kernel reports it) becomes the data plane's configuration
// (fwd.Config), compiled by fwd.NewTables into the immutable snapshot the
// workers read. Port i of the tables is slot i of every worker; a slot
// with no port is a RoleNone hole, and a port that is not attached (its
// interface missing, or attaching failed) or whose link is down is Down,
// so its routes answer unreachable.

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

// stateful holds what outlives every tables snapshot: the connection table
// (sessions, NAT mappings) and the policy rules' hit counters. The
// translator is stateless and rebuilt with the tables.
type stateful struct {
	nat  *nat.Table
	hits *ruleHits
	// host is where endpointToHost: accept delivers (the dataplane's
	// TAP); nil until a plan asks for it, then kept.
	host *fwd.HostPath
}

// ruleHits are the hit counters of the running tables' programs, by
// endpoint and direction; a compile reuses those whose program it keeps
// (acl.ProgramCache hands back the same program for an unchanged
// policy), so a reload that does not touch an endpoint's policy keeps
// its counts. The loop only.
type ruleHits struct {
	workers int
	byEP    map[string][2]*fwd.RuleHits // [0] ingress, [1] egress
}

// reuse returns the counters of ep's program p in direction dir (0
// ingress, 1 egress): the running ones when they count p, else new.
func (h *ruleHits) reuse(ep string, dir int, p *acl.Program) *fwd.RuleHits {
	if p == nil {
		return nil
	}
	if cur := h.byEP[ep][dir]; cur != nil && cur.Program() == p {
		return cur
	}
	return fwd.NewRuleHits(p, h.workers)
}

// newRuleHits is the empty set of counters for p's workers.
func newRuleHits(p *config.Plan) *ruleHits {
	return &ruleHits{workers: len(p.Cores), byEP: map[string][2]*fwd.RuleHits{}}
}

// newStateful creates the connection table a Plan asks for.
func newStateful(p *config.Plan) (stateful, error) {
	s := stateful{hits: newRuleHits(p)}
	if p.ConntrackCapacity > 0 {
		t, err := nat.New(nat.Config{Capacity: p.ConntrackCapacity})
		if err != nil {
			return s, fmt.Errorf("dataplane.conntrack: %w", err)
		}
		s.nat = t
	}
	return s, nil
}

// natPolicy is the connection table's policy of plan p: its nat section
// (none: conntrack only, no pools, nothing translated), with the router's
// addresses as the source of the ICMP errors that refuse a flow no
// session can be made for (RFC 5508 REQ-8: a full table, no external
// port left) — the address every other error gannet sends comes from,
// and one that exists when there is no external address of the family.
func natPolicy(p *config.Plan) *nat.Policy {
	pol := nat.Policy{}
	if p.NAT != nil {
		pol = *p.NAT
	}
	if p.Router4.IsValid() {
		pol.ErrorSource4 = p.Router4
	}
	if p.Router6.IsValid() {
		pol.ErrorSource6 = p.Router6
	}
	return &pol
}

// compiled is one snapshot with what it was made from, for readers (the
// API lists routes from cfg).
type compiled struct {
	tables *fwd.Tables
	cfg    fwd.Config
	nat    *nat.Prepared
}

// compile builds the tables of plan p over ports (indexed by slot; nil
// entries are holes).
func compile(p *config.Plan, slots []*port, st stateful) (*compiled, error) {
	c := fwd.Config{NAT: st.nat, RPF: p.RPF}
	if p.EndpointToHost {
		c.Host = st.host // nil in a check: compiled as drop
	}
	// The host's own addresses: workloads' packets to them are dropped
	// or delivered after egress policy (endpointToHost). Read at every
	// compile, so an address added to the host is covered from the next
	// change on (and the periodic check).
	host, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	c.HostAddrs = host
	if p.Router4.IsValid() {
		c.RouterAddrs = append(c.RouterAddrs, p.Router4)
	}
	if p.Router6.IsValid() {
		c.RouterAddrs = append(c.RouterAddrs, p.Router6)
	}
	if p.Translation != nil {
		tr, err := xlat.New(*p.Translation)
		if err != nil {
			return nil, fmt.Errorf("translation: %w", err)
		}
		c.Xlat = tr
	}
	var prepared *nat.Prepared
	if st.nat != nil {
		pp, err := st.nat.Prepare(natPolicy(p))
		if err != nil {
			return nil, fmt.Errorf("nat: %w", err)
		}
		prepared = pp
		c.NATPolicy = pp
	}
	heps := map[string]config.PlanHostEndpoint{}
	for _, h := range p.HostEndpoints {
		heps[h.Interface] = h
	}
	hits := map[string][2]*fwd.RuleHits{}
	bySlot := map[string]int{}
	for slot, pt := range slots {
		if pt == nil {
			c.Ports = append(c.Ports, fwd.PortConfig{Role: fwd.RoleNone})
			continue
		}
		role := fwd.RoleWorkload
		if pt.uplink {
			role = fwd.RoleUplink
		}
		pc := fwd.PortConfig{Name: pt.name, Role: role, Down: !pt.up()}
		if l := pt.link; l != nil {
			pc.Ifindex, pc.MAC, pc.MTU, pc.HostAddrs = l.index, l.mac, l.mtu, l.addrs
		}
		if pt.cfgMTU != 0 {
			pc.MTU = pt.cfgMTU
		}
		if h, ok := heps[pt.name]; ok && pt.uplink {
			he := &fwd.HostEndpointConfig{Name: h.Name, Ingress: h.Ingress, Egress: h.Egress}
			he.IngressHits = st.hits.reuse(h.Name, 0, h.Ingress)
			he.EgressHits = st.hits.reuse(h.Name, 1, h.Egress)
			hits[h.Name] = [2]*fwd.RuleHits{he.IngressHits, he.EgressHits}
			pc.HostEndpoint = he
		}
		c.Ports = append(c.Ports, pc)
		bySlot[pt.name] = slot
	}
	for _, s := range p.Spaces {
		if s.ID != 0 {
			c.Spaces = append(c.Spaces, fwd.SpaceConfig{ID: s.ID, Translated: s.Translated})
		}
	}
	for _, ep := range p.Endpoints {
		slot, ok := bySlot[ep.Interface]
		if !ok {
			return nil, fmt.Errorf("endpoint %q: interface %s has no port (bug)", ep.Name, ep.Interface)
		}
		e := fwd.EndpointConfig{Name: ep.Name, Port: slot, MAC: ep.MAC, Addrs: ep.Addrs, Space: ep.Space}
		if p.Policy != nil {
			if ps := p.Policy.Endpoint(ep.Name); ps != nil {
				e.Ingress, e.Egress = ps.Ingress, ps.Egress
				e.IngressHits = st.hits.reuse(ep.Name, 0, ps.Ingress)
				e.EgressHits = st.hits.reuse(ep.Name, 1, ps.Egress)
				hits[ep.Name] = [2]*fwd.RuleHits{e.IngressHits, e.EgressHits}
			}
		}
		c.Endpoints = append(c.Endpoints, e)
	}
	for _, r := range p.Routes {
		if r.Translate {
			c.Routes = append(c.Routes, fwd.RouteConfig{Space: r.Space, Prefix: r.Prefix, Translate: true, TranslateSpace: r.TranslateSpace})
			continue
		}
		slot, ok := bySlot[r.Interface]
		if !ok {
			return nil, fmt.Errorf("route %v: interface %s has no port (bug)", r.Prefix, r.Interface)
		}
		c.Routes = append(c.Routes, fwd.RouteConfig{Space: r.Space, Prefix: r.Prefix, Port: slot, Gateway: r.Via})
	}
	c.Routes = append(c.Routes, blockRoutes(p)...)
	t, err := fwd.NewTables(c)
	if err != nil {
		return nil, err
	}
	// compile's callers publish what it returns; the counters follow.
	st.hits.byEP = hits
	return &compiled{tables: t, cfg: c, nat: prepared}, nil
}

// blockRoutes are the host's blocks (bgp.blocks) as unreachable routes
// in the core (space 0), Calico's blackhole route for a block it owns:
// its workloads' host routes inside are more specific and win, as does a
// more specific route learned for an address another host borrowed; an
// unused address is answered Destination Unreachable here instead of
// following a shorter route (a default from the border) back into the
// fabric. A translated space's block is its RFC 6052 prefix in the core.
// A single-address block that a workload uses is its host route already.
func blockRoutes(p *config.Plan) []fwd.RouteConfig {
	if p.BGP == nil {
		return nil
	}
	var out []fwd.RouteConfig
	for _, b := range p.BGP.Blocks {
		if b.Block.IsSingleIP() && usedBy(p, b.Space, b.Block.Addr()) {
			continue
		}
		out = append(out, fwd.RouteConfig{Space: 0, Prefix: b.Route, Unreachable: true})
	}
	return out
}

// usedBy reports whether a workload of space has address a.
func usedBy(p *config.Plan, space uint16, a netip.Addr) bool {
	for _, ep := range p.Endpoints {
		if ep.Space == space && slices.Contains(ep.Addrs, a) {
			return true
		}
	}
	return false
}

// routes lists c's static routes and its endpoints' host routes (in
// space, when given), in the API's shape.
func (cp *compiled) routes(space *uint16) []api.Route {
	var out []api.Route
	keep := func(s uint16) bool { return space == nil || *space == s }
	port := func(slot int) (string, bool) {
		if slot < 0 || slot >= len(cp.cfg.Ports) {
			return "", false
		}
		return cp.cfg.Ports[slot].Name, cp.cfg.Ports[slot].Down
	}
	for _, r := range cp.cfg.Routes {
		if !keep(r.Space) {
			continue
		}
		ar := api.Route{Space: r.Space, Prefix: r.Prefix.String()}
		switch {
		case r.Unreachable:
			ar.Kind = "unreachable"
		case r.Translate:
			ar.Kind, ar.TranslateSpace = "translate", r.TranslateSpace
		case r.Gateway.IsValid():
			ar.Kind, ar.Via = "gateway", r.Gateway.String()
			ar.Interface, ar.Down = port(r.Port)
		default:
			ar.Kind = "connected"
			ar.Interface, ar.Down = port(r.Port)
		}
		out = append(out, ar)
	}
	for _, e := range cp.cfg.Endpoints {
		for _, a := range e.Addrs {
			sp := e.Space
			if a.Is6() {
				sp = 0
			}
			if !keep(sp) {
				continue
			}
			ar := api.Route{Space: sp, Prefix: netip.PrefixFrom(a, a.BitLen()).String(), Kind: "endpoint", Endpoint: e.Name}
			ar.Interface, ar.Down = port(e.Port)
			out = append(out, ar)
		}
	}
	return out
}
