// Path MTU across translation: a packet about to be translated flows in
// with the route it will leave by, the translator is given that route's
// port MTU (which follows the interface: the control plane rebuilds the
// tables when netlink reports a new MTU), and a packet that will not fit
// and may not be fragmented is answered by the router itself —
// Fragmentation Needed to an IPv4 sender, Packet Too Big to an IPv6 one
// (RFC 7915 section 6: the translator acts as a router for path MTU
// discovery) — from the router's own address on the ingress port (RFC
// 1812 4.3.2.4, RFC 4443 2.2), never an RFC 6791 pool address, so it is
// sent whether or not a pool is configured.

package fwd

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// coreHop returns the core (space 0 IPv6) route the IPv4 packet of
// translated space sp will take once translated 4->6, or nil when its
// destination has no IPv6 form or no route (To6 and egress then tell
// which).
func (t *Tables) coreHop(sp *space, s *pkt.Summary) *nextHop {
	a6, ok := t.xlat.Dst6(sp.id, [4]byte(s.Dst[:4]))
	if !ok {
		return nil
	}
	i, ok := t.flat.table.Lookup6(binary.BigEndian.Uint64(a6[:8]), binary.BigEndian.Uint64(a6[8:]))
	if !ok {
		return nil
	}
	return &t.nhs[i]
}

// xlatMTU is the next-hop MTU the translator is given for a packet that
// leaves by nh: the port's (of an ECMP group, the lowest live member's).
// A border's translation route leaves by whichever uplink NAT and the
// route in the target space pick, known only after the translation: the
// lowest MTU of the live uplinks, so that what is translated fits any of
// them. 0 (no route, a host route) leaves the translator its default.
func (t *Tables) xlatMTU(nh *nextHop) int {
	if nh == nil {
		return 0
	}
	switch nh.kind {
	case nhGateway, nhConnected, nhECMP, nhEndpoint:
		return t.hopMTU(nh)
	case nhTranslate:
		return t.uplinkMTU
	}
	return 0
}

// xlatTooBig answers a packet the translator found too big for its next
// hop (p.TooBigMTU is the MTU to report). A packet as it arrived is
// answered like any packet too big for its egress port. An IPv4 packet
// NAT rewrote on its way in — a border's traffic from the Internet to a
// workload of a translated space — is answered through nat (natTooBig).
// Anything else could not be addressed to its sender: too-big-rewritten.
func (w *Worker) xlatTooBig(t *Tables, v *view, p *xlat.Packet) {
	switch {
	case !v.rewritten:
		w.tooBig(t, v, p.TooBigMTU)
	case v.s.Family == pkt.FamilyIPv4 && t.nat != nil && !v.translatedIn:
		w.natTooBig(t, v, p.TooBigMTU)
	default:
		w.drop(v.chunk, ReasonTooBigRewritten)
	}
}

// natTooBig sends Fragmentation Needed about the IPv4 packet of v, which
// NAT rewrote: the error is built quoting the packet as it is now, in
// the space NAT put it in, and nat treats it as any ICMP error about a
// tracked flow (RFC 5508 REQ-4/REQ-5): the quote goes back to what the
// sender sent and the outer header is readdressed to it, from the flow's
// public address when the sender's side is source-translated, else from
// the ingress port's address. The error leaves by the ingress port, the
// way the packet came.
func (w *Worker) natTooBig(t *Tables, v *view, mtu int) {
	s := v.s
	pe := &t.ports[v.in]
	w.c.drops[ReasonTooBig]++
	if !pe.has4 {
		w.c.icmp[ICMPNoSource]++
		w.free.Push(v.chunk)
		return
	}
	l3 := v.l3()
	if l3 < v.chunk+pkt.ICMPv4ErrorHeaderLen+pkt.EthernetLen {
		w.c.icmp[ICMPRefused]++
		w.free.Push(v.chunk)
		return
	}
	if !w.icmpAllow(t) {
		w.free.Push(v.chunk)
		return
	}
	start := l3 - pkt.ICMPv4ErrorHeaderLen
	frame := w.mem[start : v.chunk+uint64(w.frameSize)]
	n, err := pkt.BuildICMPv4Error(frame, w.mem[l3:l3+uint64(s.L3Len)], pe.src4,
		pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, pkt.RestMTU4(uint16(mtu)))
	if err != nil || pkt.ParseIP(frame[:n], &w.errSum) != pkt.OK {
		w.c.icmp[ICMPRefused]++
		w.free.Push(v.chunk)
		return
	}
	if res := w.nw.Track(frame, &w.errSum, v.sp.id); res.Action != nat.Forward {
		w.c.icmp[ICMPRefused]++
		w.free.Push(v.chunk)
		return
	}
	w.c.icmp[ICMPSent]++
	w.replyOut(t, v, start, n)
}
