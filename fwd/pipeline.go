// The pipeline: a batch of received frames flows parse -> port context ->
// gateway ARP/NDP -> anti-spoofing -> TTL -> route lookup -> translation
// 6->4 (into a translated space) -> conntrack -> policy -> NAT -> route
// lookup again when NAT rewrote the packet -> translation 4->6 (out of a
// translated space) -> neighbour MAC -> MTU -> TTL decrement -> the tx
// queue of the egress port. Every frame ends the batch on exactly one tx
// queue or back on the free stack, with a Reason counted when it did not
// leave as a forwarded packet.

package fwd

import (
	"encoding/binary"
	"net/netip"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// BatchSize is the most frames a worker takes from one port at a time.
const BatchSize = 64

// view is where a packet is while it moves through the stages: its
// summary's offsets are from base (the frame start at first; the IP
// header once translation has moved it), and the frame may grow back
// toward chunk.
type view struct {
	base, chunk uint64
	s           *pkt.Summary
	in          int       // ingress port
	srcMAC      pkt.MAC   // sender's MAC, saved before anything overwrites it
	rewritten   bool      // NAT or translation changed the packet: no ICMP error can quote it any more
	sp          *space    // the address space the packet is in now
	nh          *nextHop  // route of the packet's current destination, or nil
	ep          *endpoint // the source endpoint (workload ports)
	// translatedIn: the packet was translated 6->4 on its way in.
	translatedIn bool
	// hk is the packet as it came in on an uplink whose host endpoint
	// has an ingress program: what that program checks, before
	// translation and NAT change it (set when hkSet).
	hk    acl.PacketKey
	hkSet bool
	// fc: the packet as the kernel fast path would see it, while it
	// can still be offloaded (fastpath.go; only with an Offload).
	fc fastCapture
}

// l3 returns the absolute address of the IP header.
func (v *view) l3() uint64 { return v.base + uint64(v.s.L3Off) }

// process runs one batch of frames received on port in. With a
// connection table the batch goes through the stages before conntrack
// packet by packet, then through conntrack together (nat.TrackBatch
// overlaps the table's memory accesses across the batch), then packet by
// packet through the rest: every packet still meets the stages in their
// order. A packet the translator split on its way in is taken through
// the whole pipeline at once, as its fragments are the worker's only
// set of extra frames.
func (w *Worker) process(t *Tables, in int, descs []xsk.Desc) {
	sums := w.sums[:len(descs)]
	for i, d := range descs {
		pkt.Parse(w.mem[d.Addr:d.Addr+uint64(d.Len)], &sums[i])
	}
	if t.nat == nil {
		for i := range descs {
			v := &w.views[0]
			if w.ingress(t, in, descs[i], &sums[i], v) {
				w.egress(t, v, nil)
			}
			if w.nfrags > 0 {
				w.releaseFrags()
			}
		}
		w.flushHost(t)
		w.flush()
		return
	}
	// A fragment nat holds is returned with the port it came in on: a
	// released fragment is taken on as if it had just come in there.
	w.nw.SetHoldTag(uint64(in))
	k := 0
	for i := range descs {
		v := &w.views[k]
		if !w.ingress(t, in, descs[i], &sums[i], v) {
			if w.nfrags > 0 {
				w.releaseFrags()
			}
			continue
		}
		if w.nfrags > 0 {
			w.egress(t, v, nil)
			w.releaseFrags()
			continue
		}
		w.tframes[k], w.tsums[k], w.tspaces[k] = w.frame(v), v.s, v.sp.id
		k++
	}
	if k > 0 {
		w.nw.TrackBatch(w.tframes[:k], w.tsums[:k], w.tspaces[:k], w.tres[:k])
	}
	for j := range k {
		w.egress(t, &w.views[j], &w.tres[j])
		if w.nfrags > 0 {
			w.releaseFrags()
		}
	}
	w.sendReleased(t)
	w.flushHost(t)
	w.flush()
}

// ingress takes one frame through the stages before conntrack and fills
// v. It returns false when the packet was dropped or answered.
func (w *Worker) ingress(t *Tables, in int, d xsk.Desc, s *pkt.Summary, v *view) bool {
	chunk := d.Addr &^ uint64(w.frameSize-1)
	if s.Verdict != pkt.OK {
		w.c.parse[s.Reason]++
		if s.Verdict == pkt.Unsupported {
			w.drop(chunk, ReasonUnsupported)
		} else {
			w.drop(chunk, ReasonMalformed)
		}
		return false
	}
	if in >= len(t.ports) {
		w.drop(chunk, ReasonPortUnknown)
		return false
	}
	pe := &t.ports[in]
	if pe.role == RoleNone {
		w.drop(chunk, ReasonPortUnknown)
		return false
	}
	frame := w.mem[d.Addr : d.Addr+uint64(d.Len)]
	*v = view{base: d.Addr, chunk: chunk, s: s, in: in, srcMAC: pkt.Ethernet(frame).Src(), sp: t.flat}
	if pe.role == RoleWorkload {
		if pe.ep == nil {
			w.drop(chunk, ReasonNoEndpoint)
			return false
		}
		v.ep = pe.ep
		v.sp = pe.ep.space
	} else if pe.hep != nil && pe.hep.ingress != nil {
		v.hk.FromSummary(s)
		v.hkSet = true
	}

	// Gateway ARP and NDP (before the source check: a workload asks
	// for the gateway from its link-local address).
	if s.Family == pkt.FamilyNone { // ARP: Parse accepts nothing else as OK
		w.arp(t, pe, v, d)
		return false
	}
	if s.Family == pkt.FamilyIPv6 && s.Proto == pkt.ProtoICMPv6 &&
		s.ICMPType >= pkt.ICMPv6RouterSolicit && s.ICMPType <= pkt.ICMPv6Redirect {
		w.ndp(t, pe, v, d)
		return false
	}
	if pkt.Ethernet(frame).Dst().IsMulticast() || !unicastDst(s) {
		w.drop(chunk, ReasonNotUnicast)
		return false
	}
	if !forUs(t, pe, pkt.Ethernet(frame).Dst()) {
		w.drop(chunk, ReasonNotForUs)
		return false
	}
	if v.ep != nil {
		if r := checkSource(t, v.ep, s); r != ReasonNone {
			w.drop(chunk, r)
			return false
		}
		if v.sp.translated && s.Family == pkt.FamilyIPv6 {
			w.drop(chunk, ReasonFamilyNotRouted)
			return false
		}
	}

	v.nh = lookup(t, v.sp, s)
	if v.nh != nil && v.nh.kind == nhHost {
		w.toHost(t, v)
		return false
	}
	if v.nh != nil && v.nh.kind == nhUnreachable {
		// As Linux answers its unreachable routes: in input routing,
		// before forwarding looks at the TTL.
		w.unreachableRoute(t, v)
		return false
	}
	intoSpace := v.nh != nil && (v.nh.kind == nhTranslate || v.nh.kind == nhEndpoint && v.nh.xlat)
	// From the core into a tenant: the source must be one the core routes
	// back out of this uplink, or any core host could speak as any of the
	// tenant's workloads. Checked before the hop limit, so a spoofed
	// packet is not answered with a Time Exceeded (a reflection).
	if intoSpace && t.rpf && pe.role == RoleUplink {
		if _, ok := feasible(t, in, s); !ok {
			w.drop(chunk, ReasonRPF)
			return false
		}
	}

	// The router is a hop: a packet that cannot take one more is answered.
	if s.TTL <= 1 {
		if s.Family == pkt.FamilyIPv4 {
			w.icmpError(t, v, pkt.ICMPv4TimeExceeded, pkt.ICMPv4TTLExceeded, 0, ReasonTTLExceeded)
		} else {
			w.icmpError(t, v, pkt.ICMPv6TimeExceeded, pkt.ICMPv6HopLimitExceeded, 0, ReasonTTLExceeded)
		}
		return false
	}

	if nh := v.nh; intoSpace {
		if w.off != nil {
			w.fastEligible(t, v) // the key: the IPv6 packet as it arrived
		}
		// 6->4 before conntrack and policy: they see the packet as the
		// workload of the translated space sees it.
		if !w.to4(t, v, nh.space) {
			return false
		}
		if t.clampMSS != 0 {
			w.clampMSS(t, v, pe.mtu) // the core link it came in by
		}
		switch {
		case v.sp != nh.space:
			// Hairpinned back to IPv6 (to4): routed in the core again.
			v.nh = lookup(t, v.sp, s)
		case nh.kind == nhTranslate:
			v.translatedIn = true
			v.nh = lookup(t, v.sp, s)
		default:
			v.translatedIn = true
			v.nh = &t.nhs[nh.deliver]
		}
	}

	// A port whose link is gone keeps its routes: the sender learns at
	// once (host unreachable) instead of timing out into a black hole.
	if nh := v.nh; nh != nil && nh.kind != nhTranslate && t.hopDown(nh) {
		w.portDown(t, v)
		return false
	}

	// The path MTU check quotes the packet as it arrived, so it runs
	// before NAT rewrites it (source NAT keeps the destination, hence
	// the egress port). IPv4 without DF is fragmented on the way out.
	if nh := v.nh; nh != nil && !v.rewritten && nh.kind != nhTranslate && int(s.L3Len) > t.hopMTU(nh) &&
		(s.Family == pkt.FamilyIPv6 || s.Flags&pkt.FlagDontFragment != 0) {
		w.tooBig(t, v, t.hopMTU(nh))
		return false
	}
	if w.off != nil && !v.rewritten {
		// Translated (to4 kept it offerable, or hairpinned back to
		// IPv6, which stays on the pipeline) or not, the key is the
		// packet as it arrived.
		w.fastEligible(t, v)
	}
	return true
}

// egress takes the packet of v through conntrack, policy and NAT (with
// tracked, conntrack's answer when the batch was tracked together) and
// on to its egress port.
func (w *Worker) egress(t *Tables, v *view, tracked *nat.Result) {
	s := v.s
	if w.nfrags == 0 {
		if !w.state(t, v, tracked) {
			return
		}
	} else if !w.stateFragments(t, v) {
		return
	}

	nh := v.nh
	if nh == nil {
		if v.sp.translated && s.Family == pkt.FamilyIPv4 && !v.translatedIn {
			// Not a local endpoint of the space: across the core, by
			// the route to6 found for the translated destination.
			var ok bool
			if nh, ok = w.to6(t, v); !ok {
				return
			}
		}
		if nh == nil {
			w.noRoute(t, v)
			return
		}
	}
	if nh.kind == nhTranslate || nh.kind == nhEndpoint && nh.xlat {
		// Only one 6->4 per packet: a route back into a translated
		// space after NAT or 4->6 would loop.
		w.drop(v.chunk, ReasonRouteLoop)
		return
	}
	w.forward(t, v, nh)
}

// noRoute drops the packet of v for want of a route, answering it with
// Destination Unreachable (network unreachable; IPv6 no route).
func (w *Worker) noRoute(t *Tables, v *view) {
	w.unreachable(t, v, pkt.ICMPv4NetUnreach, pkt.ICMPv6NoRoute, ReasonNoRoute)
}

// unreachableRoute drops the packet of v, whose route forwards nothing
// (RouteConfig.Unreachable), answering it as Linux answers its
// `unreachable` route type (ip_error with EHOSTUNREACH; ip6_pkt_discard
// with ICMPV6_NOROUTE): host unreachable (RFC 792 code 1), no route to
// destination (RFC 4443 3.1 code 0).
func (w *Worker) unreachableRoute(t *Tables, v *view) {
	w.unreachable(t, v, pkt.ICMPv4HostUnreach, pkt.ICMPv6NoRoute, ReasonUnreachableRoute)
}

// portDown drops the packet of v, routed to a port whose link is gone,
// answering it with Destination Unreachable (host unreachable, RFC 1812
// 5.2.7.1; address unreachable, RFC 4443 3.1).
func (w *Worker) portDown(t *Tables, v *view) {
	w.unreachable(t, v, pkt.ICMPv4HostUnreach, pkt.ICMPv6AddrUnreach, ReasonPortDown)
}

// unreachable drops the packet of v for r and answers it with
// Destination Unreachable of code4 or code6, unless NAT or translation
// rewrote it: the error could not be addressed to its sender.
func (w *Worker) unreachable(t *Tables, v *view, code4, code6 uint8, r Reason) {
	switch {
	case v.rewritten:
		w.drop(v.chunk, r)
	case v.s.Family == pkt.FamilyIPv4:
		w.icmpError(t, v, pkt.ICMPv4DestUnreach, code4, 0, r)
	default:
		w.icmpError(t, v, pkt.ICMPv6DestUnreach, code6, 0, r)
	}
}

// routed reports whether egress will find a way out for a new flow that
// NAT does not translate the destination of, once NAT has put it in
// space id: a route there, or 4->6 across the core out of a translated
// space (egress's to6).
func routed(t *Tables, v *view, id uint16) bool {
	sp, nh := v.sp, v.nh
	if id != sp.id {
		if sp = t.spaces[id]; sp == nil {
			return false
		}
		nh = lookup(t, sp, v.s)
	}
	return nh != nil || sp.translated && v.s.Family == pkt.FamilyIPv4 && !v.translatedIn
}

// forUs reports whether a unicast frame is addressed to the router on
// port pe: the gateway MAC on workload ports, the port's own MAC on
// uplinks. A frame for another station (flooded on a shared segment, or
// sent by a workload to a MAC it made up) is not the router's to
// forward: a router only takes frames addressed to it (RFC 1812 5.3.4).
func forUs(t *Tables, pe *portEntry, dst pkt.MAC) bool {
	if pe.role == RoleWorkload {
		return dst == t.gwMAC
	}
	return pe.mac == (pkt.MAC{}) || dst == pe.mac
}

// unicastDst reports whether the packet's destination is one a router
// forwards: not multicast, broadcast, "this network" or IPv6 link-local.
func unicastDst(s *pkt.Summary) bool {
	if s.Family == pkt.FamilyIPv4 {
		return s.Dst[0] != 0 && s.Dst[0] < 224
	}
	return s.Dst[0] != 0xff && !(s.Dst[0] == 0xfe && s.Dst[1]&0xc0 == 0x80)
}

// checkSource is the anti-spoofing check (and refuses IP packets to the
// gateway address itself, which the pipeline does not answer).
func checkSource(t *Tables, ep *endpoint, s *pkt.Summary) Reason {
	if s.Family == pkt.FamilyIPv4 {
		if [4]byte(s.Dst[:4]) == t.gw4 {
			return ReasonToRouter
		}
		src := [4]byte(s.Src[:4])
		for _, a := range ep.addrs4 {
			if a == src {
				return ReasonNone
			}
		}
		return ReasonSpoofed
	}
	if s.Dst == t.gw6 {
		return ReasonToRouter
	}
	for _, a := range ep.addrs6 {
		if a == s.Src {
			return ReasonNone
		}
	}
	return ReasonSpoofed
}

// feasible is the reverse-path check (RFC 3704 section 2.3, feasible
// path) of an IPv6 packet that came in on uplink in and is about to
// enter a translated space: it returns the route of the packet's source
// in the core (space 0 IPv6) table, or nil, and whether that route
// leaves by port in (a gateway or connected route there). A local
// endpoint's address, one of the host's own, a translation route or no
// route is never a feasible path. Of an ECMP group any member is: each
// is an equal path back.
func feasible(t *Tables, in int, s *pkt.Summary) (*nextHop, bool) {
	i, ok := t.flat.table.Lookup6(s.Src6())
	if !ok {
		return nil, false
	}
	nh := &t.nhs[i]
	if nh.kind == nhECMP {
		for _, m := range nh.group.members[:nh.group.n] {
			if t.nhs[m].port == in {
				return nh, true
			}
		}
		return nh, false
	}
	return nh, (nh.kind == nhGateway || nh.kind == nhConnected) && nh.port == in
}

// lookup returns the route of the packet's destination in sp, or nil.
func lookup(t *Tables, sp *space, s *pkt.Summary) *nextHop {
	var i uint32
	var ok bool
	if s.Family == pkt.FamilyIPv4 {
		i, ok = sp.table.Lookup4(s.Dst4())
	} else {
		i, ok = sp.table.Lookup6(s.Dst6())
	}
	if !ok {
		return nil
	}
	return &t.nhs[i]
}

// frame returns the packet's frame from its current base to the end of
// its chunk (room for a translation or an answer to grow into).
func (w *Worker) frame(v *view) []byte {
	return w.mem[v.base : v.chunk+uint64(w.frameSize)]
}

// state runs conntrack (unless tracked already holds its answer), policy
// and NAT. It returns false when the packet was dropped (or answered).
// When NAT rewrote the packet the route is looked up again, in the space
// NAT put it in.
func (w *Worker) state(t *Tables, v *view, tracked *nat.Result) bool {
	s := v.s
	var dst *endpoint
	if v.nh != nil && v.nh.kind == nhEndpoint {
		dst = v.nh.ep
	}
	if t.nat == nil {
		// No connection table: stateless policy, every packet is new.
		if r := w.policy(acl.ConnNew, v.ep, dst, s, nil); r != ReasonNone {
			w.denied(v.chunk, r, v.ep, dst)
			return false
		}
		if r := w.hostPolicy(t, v, acl.ConnNew); r != ReasonNone {
			w.drop(v.chunk, r)
			return false
		}
		return true
	}
	nw := w.nw
	frame := w.frame(v)
	var res nat.Result
	if tracked != nil {
		res = *tracked
	} else {
		res = nw.Track(frame, s, v.sp.id)
	}
	if res.Action == nat.Held {
		// nat copied the fragment; it comes back through Released
		// once its datagram's first fragment has been forwarded.
		w.c.held++
		w.free.Push(v.chunk)
		return false
	}
	if res.Action == nat.Decide || res.Action == nat.Forward {
		var to *dnatTarget
		way := true
		if res.Action == nat.Decide {
			// A new flow's ingress policy is the one of the endpoint
			// NAT will deliver it to, decided before Commit makes a
			// session for it; so is whether it can leave at all.
			if d, dsp, port, tr := nw.Destination(frame, s, v.sp.id); tr {
				w.dnat = dnatTarget{dst: d, port: port}
				to = &w.dnat
				dst = localEndpoint(t, dsp, s.Family, &d)
			} else {
				way = routed(t, v, dsp)
			}
		}
		st := connState(res.State)
		r := w.policy(st, v.ep, dst, s, to)
		if r == ReasonNone {
			r = w.hostPolicy(t, v, st)
		}
		if r != ReasonNone {
			if res.Action == nat.Decide {
				nw.DropHeld(s, v.sp.id) // its later fragments wait for nothing
			}
			w.denied(v.chunk, r, v.ep, dst)
			return false
		}
		if res.Action == nat.Decide {
			if !way {
				// No session (nor mapping, nor port) for a flow egress
				// would drop: answered as egress answers it.
				nw.DropHeld(s, v.sp.id)
				w.noRoute(t, v)
				return false
			}
			res = nw.Commit(frame, s, v.sp.id)
		}
	}
	switch res.Action {
	case nat.Drop:
		w.drop(v.chunk, ReasonConntrack)
		return false
	case nat.DropAndReply:
		w.natReply(t, v, nw.Reply())
		return false
	}
	if res.Action != nat.Forward || res.State != nat.StateEstablished {
		v.fc.ok = false // the kernel repeats only decisions about established flows
	}
	if res.Translated {
		v.rewritten = true
		if res.Space != v.sp.id {
			sp := t.spaces[res.Space]
			if sp == nil {
				w.drop(v.chunk, ReasonNoRoute)
				return false
			}
			v.sp = sp
		}
		v.nh = lookup(t, v.sp, s)
	}
	return true
}

// stateFragments runs state over every fragment of a packet the
// translator split on its way into a translated space: each is an IPv4
// packet of its own to conntrack, NAT and policy (the first carries the
// ports; nat translates the later ones the way it translated the first).
// The packet goes on only if every fragment does; otherwise the one that
// failed was counted and the others' frames are released.
func (w *Worker) stateFragments(t *Tables, v *view) bool {
	pre := *v
	if held := w.c.held; !w.state(t, v, nil) {
		if w.c.held != held {
			w.holdPieces(t, &pre)
		}
		return false
	}
	for i := range w.frags[:w.nfrags] {
		f := &w.frags[i]
		fv := pre
		fv.chunk, fv.base, fv.s = f.chunk, f.l3, &w.fragSum
		if pkt.ParseIP(w.mem[f.l3:f.l3+uint64(f.n)], fv.s) != pkt.OK {
			w.c.parse[fv.s.Reason]++ // the translator wrote it: a bug in xlat
			w.drop(f.chunk, ReasonMalformed)
		} else if w.state(t, &fv, nil) {
			continue
		}
		f.chunk = noFrame // dropped or answered on its own
		w.free.Push(v.chunk)
		return false
	}
	return true
}

// holdPieces gives nat the other pieces of a packet the translator split
// whose first piece nat held: a later fragment of an IPv6 datagram, cut
// into IPv4 fragments that all wait for the datagram's first fragment.
// Each is a fragment of its own to nat, held (or dropped, when the slots
// run out) on its own.
func (w *Worker) holdPieces(t *Tables, pre *view) {
	for i := range w.frags[:w.nfrags] {
		f := &w.frags[i]
		fv := *pre
		fv.chunk, fv.base, fv.s = f.chunk, f.l3, &w.fragSum
		if pkt.ParseIP(w.mem[f.l3:f.l3+uint64(f.n)], fv.s) != pkt.OK {
			w.c.parse[fv.s.Reason]++ // the translator wrote it: a bug in xlat
			w.drop(f.chunk, ReasonMalformed)
		} else if w.state(t, &fv, nil) {
			// Another worker forwarded the datagram's first fragment
			// since nat held this packet's first piece: the piece is
			// translated, but the packet it would leave with is gone.
			w.drop(f.chunk, ReasonConntrack)
		}
		f.chunk = noFrame // held, dropped or answered on its own
	}
}

// sendReleased takes the fragments nat released since the last call
// (Released grows over the round; BeginBatch empties it) through the
// rest of the pipeline.
func (w *Worker) sendReleased(t *Tables) {
	rel := w.nw.Released()
	for i := w.nrel; i < len(rel); i++ {
		w.sendHeld(t, &rel[i])
		if w.nfrags > 0 {
			w.releaseFrags()
		}
	}
	w.nrel = len(rel)
}

// sendHeld copies a fragment nat released into a frame of the worker's
// own and takes it on from where it was held: ingress's checks ran when
// it came in, nat has translated it, and h.Result is conntrack's answer
// (established), so egress goes on with policy, the route in the space
// NAT put it in, 4->6 out of a translated space, the neighbour, MTU and
// TTL.
func (w *Worker) sendHeld(t *Tables, h *nat.HeldFragment) {
	w.c.released++
	chunk, ok := w.free.Pop()
	if !ok {
		w.c.drops[ReasonReleaseFrames]++
		return
	}
	// The summary's offsets are from the frame nat was given (w.frame:
	// from the packet's base), so the copy starts at the new base. A
	// packet held from a translator's frame (fragHeadroom) may be
	// longer than a received one can be.
	n := uint64(len(h.Frame))
	off := min(uint64(RxHeadroom), uint64(w.frameSize)-n)
	base := chunk + off
	copy(w.mem[base:base+n], h.Frame)
	w.relSum = *h.Summary
	// Held under tables that had that port or space.
	if h.Tag >= uint64(len(t.ports)) {
		w.drop(chunk, ReasonPortUnknown)
		return
	}
	in := int(h.Tag)
	sp := t.spaces[h.Space]
	if sp == nil {
		w.drop(chunk, ReasonNoRoute)
		return
	}
	v := &w.views[0]
	*v = view{base: base, chunk: chunk, s: &w.relSum, in: in, sp: sp}
	if w.relSum.L3Off >= pkt.EthernetLen {
		v.srcMAC = pkt.Ethernet(w.mem[base : base+n]).Src()
	}
	home := t.flat
	if pe := &t.ports[in]; pe.role == RoleWorkload && pe.ep != nil {
		v.ep = pe.ep
		home = pe.ep.space
	}
	// The only way into another space than the port's before conntrack
	// is 6->4 (ingress's to4).
	v.translatedIn = sp != home
	v.rewritten = v.translatedIn
	// What state reads before it applies tracked: the route of the
	// destination (for the destination endpoint's policy, and as the
	// route when NAT did not translate it).
	v.nh = lookup(t, sp, &w.relSum)
	res := h.Result
	w.egress(t, v, &res)
}

// connState maps conntrack's answer onto policy's.
func connState(st nat.State) acl.ConnState {
	switch st {
	case nat.StateEstablished:
		return acl.ConnEstablished
	case nat.StateRelated:
		return acl.ConnRelated
	case nat.StateInvalid:
		return acl.ConnInvalid
	}
	return acl.ConnNew
}

// dnatTarget is where NAT will deliver a new flow whose destination it
// translates: the address and (TCP/UDP) port the receiving endpoint sees.
type dnatTarget struct {
	dst  [16]byte
	port uint16
}

// localEndpoint returns the local endpoint that holds dst in space id, or
// nil when the packet would not be delivered to one here.
func localEndpoint(t *Tables, id uint16, fam pkt.Family, dst *[16]byte) *endpoint {
	sp := t.spaces[id]
	if sp == nil {
		return nil
	}
	var i uint32
	var ok bool
	if fam == pkt.FamilyIPv4 {
		i, ok = sp.table.Lookup4(binary.BigEndian.Uint32(dst[:4]))
	} else {
		i, ok = sp.table.Lookup6(binary.BigEndian.Uint64(dst[:8]), binary.BigEndian.Uint64(dst[8:]))
	}
	if !ok || t.nhs[i].kind != nhEndpoint || t.nhs[i].xlat {
		return nil
	}
	return t.nhs[i].ep
}

// policy checks the egress program of the source endpoint and the ingress
// program of the destination endpoint (when they are local and have one).
// Egress sees the packet as its source sent it; with to, ingress sees the
// destination NAT will give it.
func (w *Worker) policy(st acl.ConnState, src, dst *endpoint, s *pkt.Summary, to *dnatTarget) Reason {
	egress := src != nil && src.egress != nil
	ingress := dst != nil && dst.ingress != nil
	if !egress && !ingress {
		return ReasonNone
	}
	if st == acl.ConnNew {
		w.key.FromSummary(s)
	}
	if egress {
		d := src.egress.Check(st, &w.key)
		if st == acl.ConnNew {
			w.observe(src, acl.Egress, d, &w.key)
		}
		if d.Verdict != acl.Accept {
			return ReasonPolicyEgress
		}
	}
	if ingress {
		k := &w.key
		if to != nil && st == acl.ConnNew {
			w.key2 = w.key
			k = &w.key2
			k.Dst = to.dst
			if s.Flags&pkt.FlagPorts != 0 {
				k.DstPort = to.port
			}
		}
		d := dst.ingress.Check(st, k)
		if st == acl.ConnNew {
			w.observe(dst, acl.Ingress, d, k)
		}
		if d.Verdict != acl.Accept {
			return ReasonPolicyIngress
		}
	}
	return ReasonNone
}

// hostPolicy checks the programs of the host endpoints of the uplink the
// packet of v came in on (ingress, with the key ingress saved as the
// packet arrived) and of the uplink its route leaves by (egress, as the
// packet is now: before NAT and 4->6 translation), for forwarded
// traffic (Calico's applyOnForward). Established and related packets
// pass, invalid ones are dropped (acl.Program.Check).
func (w *Worker) hostPolicy(t *Tables, v *view, st acl.ConnState) Reason {
	if in := t.ports[v.in].hep; in != nil && in.ingress != nil {
		d := in.ingress.Check(st, &v.hk)
		if st == acl.ConnNew {
			w.observe(in, acl.Ingress, d, &v.hk)
		}
		if d.Verdict != acl.Accept || !v.hkSet && st == acl.ConnNew {
			return ReasonHostEndpointIngress
		}
	}
	if out := outHost(t, v); out != nil && out.egress != nil {
		if st == acl.ConnNew {
			w.hkey.FromSummary(v.s)
		}
		d := out.egress.Check(st, &w.hkey)
		if st == acl.ConnNew {
			w.observe(out, acl.Egress, d, &w.hkey)
		}
		if d.Verdict != acl.Accept {
			return ReasonHostEndpointEgress
		}
	}
	return ReasonNone
}

// outHost returns the host endpoint of the uplink the packet of v is
// routed out of (of an ECMP group, the flow's member), or nil.
func outHost(t *Tables, v *view) *endpoint {
	nh := v.nh
	if nh == nil {
		return nil
	}
	if nh.kind == nhECMP {
		m, _, ok := t.pickMember(&nh.group, flowHash(v.s))
		if !ok {
			return nil
		}
		nh = &t.nhs[nh.group.members[m]]
	}
	if (nh.kind != nhGateway && nh.kind != nhConnected) || nh.port >= len(t.ports) {
		return nil
	}
	return t.ports[nh.port].hep
}

// denied drops a packet policy denied (r is ReasonPolicyEgress or
// ReasonPolicyIngress) and counts it against the port of the endpoint
// whose program denied it: src's for egress, dst's for ingress.
func (w *Worker) denied(chunk uint64, r Reason, src, dst *endpoint) {
	if r == ReasonHostEndpointIngress || r == ReasonHostEndpointEgress {
		w.drop(chunk, r) // counted against the uplink's drops only
		return
	}
	ep := src
	if r == ReasonPolicyIngress {
		ep = dst
	}
	// The tables may name a slot this worker has not taken yet while a
	// port comes: its drop is counted, its port counter is not.
	if ep != nil && ep.port < len(w.portC) {
		if r == ReasonPolicyIngress {
			w.portC[ep.port].deniedIngress++
		} else {
			w.portC[ep.port].deniedEgress++
		}
	}
	w.drop(chunk, r)
}

// to4 translates the packet 6->4 into space target. On success the view
// describes the IPv4 packet in target; otherwise the frame was dropped or
// answered and to4 returns false.
func (w *Worker) to4(t *Tables, v *view, target *space) bool {
	if t.xlat == nil {
		w.drop(v.chunk, ReasonXlat)
		return false
	}
	p := w.xlatPacket(v, target.id, t.xlatMTU(v.nh))
	if !w.translated(t, v, p, xlatTo4) {
		return false
	}
	if p.Space != target.id {
		w.drop(v.chunk, ReasonXlatSpace)
		return false
	}
	if p.Hairpin {
		// RFC 7757 4.2.2: the IPv4 destination is an IPv6 host's by an
		// EAM, so the packet must not leave as IPv4: it goes back to
		// IPv6 (destination by the EAM, source by RFC 6052) and on
		// through the core's table. To4 never splits a packet it marks.
		// What the sender sent is gone from the frame now: an error the
		// translator would send about the IPv4 form (in the wrong
		// family for the sender) is a drop, and a packet too big for
		// the uplinks cannot be quoted (too-big-rewritten).
		v.rewritten = true
		p.MTU = t.uplinkMTU
		switch w.translate(t, p, xlatHairpin) {
		case xlat.Forward:
		case xlat.Fragments:
			w.takeFragments(v, p)
		case xlat.TooBig:
			w.drop(v.chunk, ReasonTooBigRewritten)
			return false
		default:
			w.xlatDrop(v, p)
			return false
		}
		return w.reparse(v, p, t.flat)
	}
	offerable := v.fc.ok && w.nfrags == 0
	if !w.reparse(v, p, target) {
		return false
	}
	if offerable {
		w.fastXlat64(v, p)
	}
	return true
}

// translated runs the translator over the packet of v in direction dir
// and reports whether it goes on; an answer, a Packet Too Big or a drop
// is dealt with here. Pieces of a split packet become v's (takeFragments).
func (w *Worker) translated(t *Tables, v *view, p *xlat.Packet, dir xlatDir) bool {
	switch w.translate(t, p, dir) {
	case xlat.Forward:
	case xlat.Reply:
		w.xlatReply(t, v, p)
		return false
	case xlat.TooBig:
		w.xlatTooBig(t, v, p)
		return false
	case xlat.Fragments:
		w.takeFragments(v, p)
	default:
		w.xlatDrop(v, p)
		return false
	}
	return true
}

// to6 translates the packet of a translated space 4->6 into the core,
// for the MTU of the core route its translated destination takes, and
// returns that route (nil: none).
func (w *Worker) to6(t *Tables, v *view) (*nextHop, bool) {
	nh := t.coreHop(v.sp, v.s)
	if nh != nil && nh.kind == nhUnreachable {
		// An unused address of one of this host's blocks of the space:
		// answered in IPv4 before translation, as the tenant would be
		// answered from any other host.
		w.unreachableRoute(t, v)
		return nil, false
	}
	mtu := t.xlatMTU(nh)
	if t.clampMSS != 0 {
		w.clampMSS(t, v, mtu)
	}
	p := w.xlatPacket(v, v.sp.id, mtu)
	if !w.translated(t, v, p, xlatTo6) {
		return nil, false
	}
	offerable := v.fc.ok && w.nfrags == 0
	if !w.reparse(v, p, t.flat) {
		return nil, false
	}
	if offerable {
		w.fastXlat46(t, v, p)
	}
	return nh, true
}

// xlatDrop counts a packet the translator dropped.
func (w *Worker) xlatDrop(v *view, p *xlat.Packet) {
	if p.Reason == xlat.ReasonFragBuffers {
		w.drop(v.chunk, ReasonXlatFrags)
	} else {
		w.drop(v.chunk, ReasonXlat)
	}
}

// xlatPacket sets up the worker's translation of the packet of v, in
// space spaceID, for a next hop of mtu (0: the translator's default).
func (w *Worker) xlatPacket(v *view, spaceID uint16, mtu int) *xlat.Packet {
	p := &w.xp
	p.Buf = w.mem[v.chunk : v.chunk+uint64(w.frameSize)]
	p.Off = int(v.l3() - v.chunk)
	p.Len = int(v.s.L3Len)
	p.Space = spaceID
	p.MTU = mtu
	p.RouterAnswers = true // the router sends Fragmentation Needed / Packet Too Big (pmtu.go)
	return p
}

// reparse points the view at the translated packet.
func (w *Worker) reparse(v *view, p *xlat.Packet, sp *space) bool {
	v.base = v.chunk + uint64(p.Off)
	v.rewritten = true
	v.fc.ok = false // translated: only to6 and to4 keep it offerable (fastXlat46, fastXlat64)
	v.sp = sp
	if pkt.ParseIP(w.mem[v.base:v.base+uint64(p.Len)], v.s) != pkt.OK {
		// The translator wrote it: this would be a bug in xlat.
		w.c.parse[v.s.Reason]++
		w.drop(v.chunk, ReasonMalformed)
		return false
	}
	return true
}

// forward sends the packet out of nh's port (of an ECMP group, the port
// of the flow's member): egress MTU (IPv4 without DF is fragmented),
// neighbour MAC, TTL decrement, Ethernet header — for every frame of the
// packet when the translator split it.
func (w *Worker) forward(t *Tables, v *view, nh *nextHop) {
	s := v.s
	if nh.kind == nhECMP {
		// Equal paths: the flow's member, among those whose port is up.
		m, _, ok := t.pickMember(&nh.group, flowHash(s))
		if !ok {
			w.portDown(t, v)
			return
		}
		nh = &t.nhs[nh.group.members[m]]
	}
	if nh.kind == nhUnreachable { // NAT rewrote it into one of the host's unused block addresses
		w.unreachableRoute(t, v)
		return
	}
	if nh.port >= len(w.ports) || w.ports[nh.port] == nil {
		w.drop(v.chunk, ReasonNoPort)
		return
	}
	if nh.kind == nhHost { // NAT or translation rewrote it toward the host
		w.drop(v.chunk, ReasonToHost)
		return
	}
	out := &t.ports[nh.port]
	if out.down {
		w.portDown(t, v)
		return
	}
	split := false
	if int(s.L3Len) > out.mtu {
		if w.nfrags != 0 || s.Family != pkt.FamilyIPv4 || s.Flags&pkt.FlagDontFragment != 0 {
			// Unchanged packets were checked against this port before
			// NAT; this one was rewritten (or is a translator's
			// fragment), so no error could reach its sender.
			w.drop(v.chunk, ReasonTooBigRewritten)
			return
		}
		split = true
	}
	for _, f := range w.frags[:w.nfrags] {
		if int(f.n) > out.mtu {
			w.drop(v.chunk, ReasonTooBigRewritten)
			return
		}
	}
	var dstMAC pkt.MAC
	srcMAC := out.mac
	switch nh.kind {
	case nhEndpoint:
		dstMAC = nh.ep.mac
		srcMAC = t.gwMAC
	case nhGateway, nhConnected:
		if out.role == RoleWorkload {
			srcMAC = t.gwMAC
		}
		addr := nh.gw
		if nh.kind == nhConnected {
			addr = dstAddr(s)
		}
		mac, ok := w.nsnap.Lookup(out.ifindex, addr)
		if !ok {
			w.neighMiss(out.ifindex, addr)
			w.drop(v.chunk, ReasonNoNeighbour)
			return
		}
		dstMAC = mac
	}
	l3 := v.l3()
	if l3 < v.chunk+pkt.EthernetLen {
		w.drop(v.chunk, ReasonNoHeadroom)
		return
	}
	if split && !w.fragment4(v, out.mtu) {
		return
	}
	if v.fc.ok && !split && w.nfrags == 0 {
		w.fastOffer(v, out, dstMAC, srcMAC)
	}
	w.c.fwd++
	w.send(nh.port, l3, int(s.L3Len), s.Family, dstMAC, srcMAC)
	if w.nfrags > 0 {
		for _, f := range w.frags[:w.nfrags] {
			w.send(nh.port, f.l3, int(f.n), s.Family, dstMAC, srcMAC)
		}
		w.c.fragmented++
		w.c.fragments += uint64(w.nfrags) + 1
		w.nfrags = 0
	}
}

// send decrements the TTL or hop limit of the IP packet at l3 (n bytes),
// puts an Ethernet header in front of it and queues it on port.
func (w *Worker) send(port int, l3 uint64, n int, fam pkt.Family, dst, src pkt.MAC) {
	ip := w.mem[l3 : l3+uint64(n)]
	et := uint16(pkt.EtherTypeIPv6)
	if fam == pkt.FamilyIPv4 {
		pkt.IPv4(ip).DecTTL()
		et = pkt.EtherTypeIPv4
	} else {
		ip[7]-- // hop limit: no header checksum in IPv6
	}
	start := l3 - pkt.EthernetLen
	eth := pkt.Ethernet(w.mem[start:l3])
	eth.SetDst(dst)
	eth.SetSrc(src)
	eth.SetEtherType(et)
	w.enqueue(port, xsk.Desc{Addr: start, Len: uint32(pkt.EthernetLen + n)})
}

// dstAddr is the packet's destination as a netip.Addr (no allocation).
func dstAddr(s *pkt.Summary) netip.Addr {
	if s.Family == pkt.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(s.Dst[:4]))
	}
	return netip.AddrFrom16(s.Dst)
}

// neighMiss tells the neighbour cache once per batch and address.
func (w *Worker) neighMiss(ifindex int, addr netip.Addr) {
	if w.neigh == nil || (w.missed && w.lastMissIf == ifindex && w.lastMiss == addr) {
		return
	}
	w.missed, w.lastMissIf, w.lastMiss = true, ifindex, addr
	w.neigh.Miss(ifindex, addr)
}
