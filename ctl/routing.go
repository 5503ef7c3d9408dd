package ctl

// Routing: the daemon's side of BGP. What the node originates — every
// local workload address (a flat-space /32 or /128; a translated space's
// workload as its RFC 6052 address in the IPv6 core, never its IPv4; or
// instead the host's block that holds it, bgp.blocks, a translated
// space's as its RFC 6052 prefix — the tables route each block as
// unreachable, compile),
// floating IPs, translated spaces' exits and the configured
// prefixAdvertisements — is announced and withdrawn as the desired state
// changes. What the speaker learns flows into the published tables one
// route at a time (fwd.Tables.Learn), its next hop resolved over the
// uplinks' connected subnets; every new snapshot gets the learned routes
// before it is published, so a change never drops them. All of it runs on
// the daemon's loop.

import (
	"context"
	"net/netip"
	"reflect"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/bgp"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
)

// routing is the BGP state the loop owns.
type routing struct {
	speaker *bgp.Speaker
	cfg     *config.PlanBGP
	rib     map[netip.Prefix][]netip.Addr // learned best paths: next hops
	// pending are the RIB's prefixes the tables do not hold (no next hop
	// resolves yet, or the configuration routes the prefix): the periodic
	// check retries them. Every other prefix of the RIB is in the tables,
	// so a count tells whether the tables and the RIB agree.
	pending   map[netip.Prefix]bool
	announced map[netip.Prefix]bool
	// reconciled counts the routes the periodic check had to put in or
	// take out: each is a missed or early event.
	reconciled uint64
	checks     uint64 // periodic checks so far
	// hops remembers, during one batch of learned routes, where a single
	// next hop resolved: a peer sends thousands of routes by one next
	// hop, and the ports cannot change within a batch. nil between
	// batches.
	hops map[netip.Addr]resolved
}

type resolved struct {
	hop fwd.LearnedHop
	ok  bool
}

// sweepEvery: every so many periodic checks compare every route of the
// tables with the RIB, even when their counts agree.
const sweepEvery = 300

// startRouting starts the speaker of plan p (nil: no BGP).
func (d *Daemon) startRouting(ctx context.Context) error {
	p := d.plan.BGP
	if p == nil {
		return nil
	}
	r := &routing{cfg: p, rib: map[netip.Prefix][]netip.Addr{}, pending: map[netip.Prefix]bool{}, announced: map[netip.Prefix]bool{}}
	// A restart: the previous gannet left its programs pinned and this
	// one adopted them (a first start, or one after gannet cleanup,
	// adopts none). Its peers may hold our routes as stale (graceful
	// restart); the restart state (RFC 4724) tells them to keep them
	// until our End-of-RIB.
	restarting := false
	for _, pt := range d.ports {
		restarting = restarting || pt.adopted
	}
	if restarting {
		d.log.Info("bgp: announcing this start as a graceful restart (the previous run's programs were adopted)")
	}
	r.speaker = bgp.New(bgp.Options{Logger: d.log, Restarting: restarting, OnRoutes: func(rs []bgp.Route) {
		select {
		case d.ops <- func() { d.learn(rs) }:
		case <-d.quit: // stopping: the routes go with the speaker
		}
	}})
	if err := r.speaker.Start(ctx, p); err != nil {
		return err
	}
	d.routing = r
	d.export()
	return nil
}

// stopRouting stops the speaker as for a restart: peers that negotiated
// graceful restart keep our routes for maxRestartTime (gannet stops to
// be started again: its programs stay pinned, see Daemon.shutdown);
// others see a Cease.
func (d *Daemon) stopRouting() {
	if d.routing != nil {
		d.routing.speaker.StopForRestart()
		d.routing = nil
	}
}

// applyRouting follows a new plan's bgp section and what it originates.
func (d *Daemon) applyRouting() {
	r := d.routing
	if r == nil {
		return
	}
	if d.plan.BGP != nil && !reflect.DeepEqual(r.cfg, d.plan.BGP) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := r.speaker.Apply(ctx, d.plan.BGP); err != nil {
			d.log.Error("bgp: applying the new configuration", "err", err)
		}
		cancel()
		r.cfg = d.plan.BGP
	}
	d.export()
}

// originated is what the node announces now.
func (d *Daemon) originated() map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	if d.cur == nil {
		return out
	}
	t := d.cur.tables
	translated := map[uint16]bool{}
	for _, s := range d.plan.Spaces {
		translated[s.ID] = s.Translated
	}
	for _, ep := range d.plan.Endpoints {
		for _, a := range ep.Addrs {
			switch {
			case d.plan.BGP.InBlock(ep.Space, a):
				// One of the host's blocks carries it (announced below).
			case a.Is6() || ep.Space == 0:
				out[netip.PrefixFrom(a, a.BitLen())] = true
			case translated[ep.Space]:
				if a6, ok := t.CoreAddress(ep.Space, a); ok {
					out[netip.PrefixFrom(a6, 128)] = true
				}
			}
			// An IPv4 address of a space that is neither flat nor
			// translated means nothing outside this host.
		}
	}
	if d.plan.NAT != nil {
		for _, f := range d.plan.NAT.Floating {
			out[netip.PrefixFrom(f.Public, f.Public.BitLen())] = true
		}
	}
	for _, rt := range d.plan.Routes {
		if rt.Translate {
			out[rt.Prefix] = true // a border's exit from a translated space
		}
	}
	for _, a := range d.plan.BGP.Advertisements {
		out[a.Prefix] = true
	}
	for _, b := range d.plan.BGP.Blocks {
		out[b.Route] = true // whether or not a workload uses it yet, as Calico does
	}
	return out
}

// export announces what the node now originates and withdraws what it
// no longer does.
func (d *Daemon) export() {
	r := d.routing
	if r == nil {
		return
	}
	want := d.originated()
	for p := range want {
		if r.announced[p] {
			continue
		}
		if err := r.speaker.Announce(p, netip.Addr{}, d.plan.BGP.CommunitiesFor(p)); err != nil {
			d.log.Warn("bgp: announcing", "prefix", p, "err", err)
			continue
		}
		r.announced[p] = true
	}
	for p := range r.announced {
		if want[p] {
			continue
		}
		if err := r.speaker.Withdraw(p); err != nil {
			d.log.Warn("bgp: withdrawing", "prefix", p, "err", err)
			continue
		}
		delete(r.announced, p)
	}
}

// learn takes a batch of learned best-path changes into the running
// tables.
func (d *Daemon) learn(rs []bgp.Route) {
	r := d.routing
	if r == nil || d.cur == nil {
		return
	}
	r.hops = map[netip.Addr]resolved{}
	defer func() { r.hops = nil }()
	for _, rt := range rs {
		if rt.Withdrawn || len(rt.NextHops) == 0 {
			delete(r.rib, rt.Prefix)
			delete(r.pending, rt.Prefix)
			if err := d.cur.tables.Forget(0, rt.Prefix); err != nil {
				d.log.Warn("bgp: forgetting", "prefix", rt.Prefix, "err", err)
			}
			continue
		}
		r.rib[rt.Prefix] = rt.NextHops
		r.track(rt.Prefix, d.learnInto(d.cur.tables, rt.Prefix, rt.NextHops))
	}
	if len(rs) > 0 {
		d.fastPublish() // the routes changed in place: decisions made under the old ones are stale
	}
}

// track notes whether the RIB's prefix p is in the tables.
func (r *routing) track(p netip.Prefix, installed bool) {
	if installed {
		delete(r.pending, p)
	} else {
		r.pending[p] = true
	}
}

// learnInto puts one learned route into t, leaving by every next hop
// that resolves (an ECMP group when there are several), or takes it out
// when none does; it reports whether t holds the route.
func (d *Daemon) learnInto(t *fwd.Tables, p netip.Prefix, nhs []netip.Addr) bool {
	hop, ok := d.resolve(t, nhs)
	if !ok {
		// Unreachable next hops: the route cannot forward; the packets
		// to it get net unreachable (or a shorter route).
		_ = t.Forget(0, p)
		return false
	}
	if err := t.Learn(0, p, hop); err != nil {
		d.log.Debug("bgp: route not installed", "prefix", p, "err", err)
	}
	return t.Learned(0, p)
}

// resolve finds, for every next hop, the uplink whose connected subnet
// holds it: the route's equal paths, which the data plane hashes flows
// over. A next hop no uplink's subnet holds is left out; false when none
// resolves.
func (d *Daemon) resolve(t *fwd.Tables, nhs []netip.Addr) (fwd.LearnedHop, bool) {
	if r := d.routing; r != nil && r.hops != nil && len(nhs) == 1 && t == d.cur.tables {
		c, seen := r.hops[nhs[0]]
		if !seen {
			c.hop, c.ok = d.resolveOver(t, nhs)
			r.hops[nhs[0]] = c
		}
		return c.hop, c.ok
	}
	return d.resolveOver(t, nhs)
}

// An IPv4 route may have IPv6 next hops (RFC 8950), resolved the same
// way over the uplinks' IPv6 subnets. A link-local next hop is on the
// link of the peer that sent it (its zone, bgp.Route): the uplink whose
// subnet holds that peer's address.
func (d *Daemon) resolveOver(t *fwd.Tables, nhs []netip.Addr) (fwd.LearnedHop, bool) {
	var hop fwd.LearnedHop
	for _, nh := range nhs {
		nh = nh.Unmap()
		on := nh
		if nh.Is6() && nh.IsLinkLocalUnicast() {
			peer, err := netip.ParseAddr(nh.Zone())
			if err != nil {
				continue // no link to find it on
			}
			on, nh = peer, nh.WithZone("")
		}
	ports:
		for _, pt := range d.ports {
			if !pt.uplink || pt.link == nil {
				continue
			}
			for _, pfx := range pt.link.prefixes {
				if pfx.Contains(on) && pfx.Bits() < pfx.Addr().BitLen() {
					if slot, ok := t.PortIndex(pt.name); ok {
						hop.Gateways = append(hop.Gateways, fwd.LearnedGateway{Port: slot, Gateway: nh})
						break ports
					}
				}
			}
		}
	}
	return hop, len(hop.Gateways) > 0
}

// reconcile checks the running tables against the RIB: a route whose
// next hop did not resolve when it was learned (its uplink was missing
// or had no address yet) is put in once it does (the pending ones only:
// a full table is not walked every second), and when the tables' count
// of learned routes disagrees with the RIB's — or every sweepEvery
// checks — every route is compared: one the tables lack is put in, one
// the RIB no longer has is taken out. The periodic check runs it;
// differences are counted and logged, as they mean an event was missed
// or came too early.
func (d *Daemon) reconcile() {
	r := d.routing
	if r == nil || d.cur == nil {
		return
	}
	t := d.cur.tables
	added, removed := 0, 0
	for p := range r.pending {
		nhs := r.rib[p]
		if _, ok := d.resolve(t, nhs); !ok {
			continue // still unresolvable: nothing to do
		}
		if d.learnInto(t, p, nhs) {
			delete(r.pending, p)
			added++
		}
	}
	r.checks++
	if t.LearnedRoutes() != len(r.rib)-len(r.pending) || r.checks%sweepEvery == 0 {
		for p, nhs := range r.rib {
			if t.Learned(0, p) {
				delete(r.pending, p)
				continue
			}
			installed := false
			if _, ok := d.resolve(t, nhs); ok {
				installed = d.learnInto(t, p, nhs)
			}
			if installed {
				added++
			}
			r.track(p, installed)
		}
		var stale []netip.Prefix
		t.LearnedPrefixes(0, func(p netip.Prefix) {
			if _, ok := r.rib[p]; !ok {
				stale = append(stale, p)
			}
		})
		for _, p := range stale {
			if t.Forget(0, p) == nil {
				removed++
			}
		}
	}
	if added+removed > 0 {
		d.fastPublish()
		r.reconciled += uint64(added + removed)
		d.log.Warn("bgp: tables reconciled with the RIB", "added", added, "removed", removed)
	}
}

// relearn puts every learned route into t, a snapshot about to be
// published.
func (d *Daemon) relearn(t *fwd.Tables) {
	r := d.routing
	if r == nil {
		return
	}
	for p, nhs := range r.rib {
		r.track(p, d.learnInto(t, p, nhs))
	}
}

// learnedRoutes lists the BGP routes the tables hold, in the API's shape.
func (d *Daemon) learnedRoutes() []api.Route {
	var out []api.Route
	for p, nhs := range d.routing.rib {
		if d.cur.tables.Learned(0, p) {
			out = append(out, d.learnedRoute(p, nhs))
		}
	}
	return out
}

// learnedFor returns the next hops of p when the tables hold it as a
// learned route of space.
func (d *Daemon) learnedFor(space uint16, p netip.Prefix) ([]netip.Addr, bool) {
	if d.routing == nil || space != 0 || !d.cur.tables.Learned(0, p) {
		return nil, false
	}
	nhs, ok := d.routing.rib[p]
	return nhs, ok
}

// learnedRoute is one learned route in the API's shape: kind bgp, via and
// interface of the first equal path.
func (d *Daemon) learnedRoute(p netip.Prefix, nhs []netip.Addr) api.Route {
	r := api.Route{Space: 0, Prefix: p.String(), Kind: "bgp"}
	if hop, ok := d.resolve(d.cur.tables, nhs); ok {
		g := hop.Gateways[0]
		r.Via = g.Gateway.String()
		for _, pt := range d.ports {
			if pt.slot == g.Port {
				r.Interface, r.Down = pt.name, !pt.up()
			}
		}
	}
	return r
}
