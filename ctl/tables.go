package ctl

// Tables: a Plan plus what the kernel said about its interfaces becomes the
// data plane's configuration (fwd.Config), compiled by fwd.NewTables into
// the immutable snapshot workers read. Port i of the tables is port i of
// every worker: uplinks first, then one port per workload endpoint, in
// config order.

import (
	"fmt"
	"net/netip"

	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

// stateful holds what outlives one tables snapshot: the connection table
// (sessions, NAT mappings) and the translator.
type stateful struct {
	nat  *nat.Table
	xlat *xlat.Translator
}

// newStateful creates the connection table and translator a Plan asks for.
func newStateful(p *Plan) (stateful, error) {
	var s stateful
	if p.ConntrackCapacity > 0 {
		t, err := nat.New(nat.Config{Capacity: p.ConntrackCapacity})
		if err != nil {
			return s, fmt.Errorf("dataplane.conntrack: %w", err)
		}
		pol := p.NAT
		if pol == nil {
			pol = &nat.Policy{} // conntrack only: no pools, nothing translated
		}
		if err := t.SetPolicy(pol); err != nil {
			return s, fmt.Errorf("nat: %w", err)
		}
		s.nat = t
	}
	if p.Translation != nil {
		tr, err := xlat.New(*p.Translation)
		if err != nil {
			return s, fmt.Errorf("translation: %w", err)
		}
		s.xlat = tr
	}
	return s, nil
}

// fwdConfig maps a Plan onto fwd.Config. links come from resolveLinks (same
// order as the ports); linkAddrs holds each port's host addresses.
func fwdConfig(p *Plan, links []link, linkAddrs [][]netip.Addr, st stateful) fwd.Config {
	c := fwd.Config{NAT: st.nat, Xlat: st.xlat}
	if p.Router4.IsValid() {
		c.RouterAddrs = append(c.RouterAddrs, p.Router4)
	}
	if p.Router6.IsValid() {
		c.RouterAddrs = append(c.RouterAddrs, p.Router6)
	}
	byName := map[string]int{}
	for i, l := range links {
		role := fwd.RoleWorkload
		if l.uplink {
			role = fwd.RoleUplink
		}
		c.Ports = append(c.Ports, fwd.PortConfig{
			Name: l.name, Ifindex: l.index, Role: role, MAC: l.mac, MTU: l.mtu, HostAddrs: linkAddrs[i],
		})
		byName[l.name] = i
	}
	for _, s := range p.Spaces {
		if s.ID != 0 {
			c.Spaces = append(c.Spaces, fwd.SpaceConfig{ID: s.ID, Translated: s.Translated})
		}
	}
	for _, ep := range p.Endpoints {
		e := fwd.EndpointConfig{Name: ep.Name, Port: byName[ep.Interface], MAC: ep.MAC, Addrs: ep.Addrs, Space: ep.Space}
		if p.Policy != nil {
			if ps := p.Policy.Endpoint(ep.Name); ps != nil {
				e.Ingress, e.Egress = ps.Ingress, ps.Egress
			}
		}
		c.Endpoints = append(c.Endpoints, e)
	}
	for _, r := range p.Routes {
		if r.Translate {
			c.Routes = append(c.Routes, fwd.RouteConfig{Space: r.Space, Prefix: r.Prefix, Translate: true, TranslateSpace: r.TranslateSpace})
			continue
		}
		c.Routes = append(c.Routes, fwd.RouteConfig{Space: r.Space, Prefix: r.Prefix, Port: byName[r.Interface], Gateway: r.Via})
	}
	return c
}
