// ICMP from the router: a packet the router cannot forward (TTL
// exhausted, no route, larger than the egress MTU) flows in, and the
// error quoting it is built in place in the same frame — the new headers
// grow into the headroom in front of the quoted packet — and leaves by
// the port the packet came in on, to the sender's MAC. Errors from the
// translator and from nat take the same way out. A token bucket per
// worker, refilled from the clock read once per batch, limits them.

package fwd

import (
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// icmpBurst is the bucket's depth: one second's worth of errors.
const icmpBurst = int64(1e9)

// refill adds the time since the last batch to the bucket.
func (w *Worker) refill() {
	w.icmpTokens += w.nowNs - w.icmpLast
	w.icmpLast = w.nowNs
	if w.icmpTokens > icmpBurst {
		w.icmpTokens = icmpBurst
	}
}

// icmpAllow takes one error's worth of tokens.
func (w *Worker) icmpAllow(t *Tables) bool {
	if t.icmpRate < 0 {
		return false
	}
	cost := icmpBurst / int64(t.icmpRate)
	if w.icmpTokens < cost {
		w.c.icmp[ICMPRateLimited]++
		return false
	}
	w.icmpTokens -= cost
	return true
}

// icmpError drops the packet for reason r and, when the bucket and the
// RFC 1812 / RFC 4443 rules allow, answers it with an ICMP error of the
// packet's family from the ingress port's address.
func (w *Worker) icmpError(t *Tables, v *view, typ, code uint8, rest uint32, r Reason) {
	s := v.s
	pe := &t.ports[v.in]
	w.c.drops[r]++
	v4 := s.Family == pkt.FamilyIPv4
	if v4 && !pe.has4 || !v4 && !pe.has6 {
		w.c.icmp[ICMPNoSource]++
		w.free.Push(v.chunk)
		return
	}
	hdr := uint64(pkt.ICMPv6ErrorHeaderLen)
	if v4 {
		hdr = pkt.ICMPv4ErrorHeaderLen
	}
	l3 := v.l3()
	if l3 < v.chunk+hdr+pkt.EthernetLen || !w.icmpAllow(t) {
		if l3 < v.chunk+hdr+pkt.EthernetLen {
			w.c.icmp[ICMPRefused]++
		}
		w.free.Push(v.chunk)
		return
	}
	start := l3 - hdr
	dst := w.mem[start : v.chunk+uint64(w.frameSize)]
	orig := w.mem[l3 : l3+uint64(s.L3Len)]
	var n int
	var err error
	if v4 {
		n, err = pkt.BuildICMPv4Error(dst, orig, pe.src4, typ, code, rest)
	} else {
		n, err = pkt.BuildICMPv6Error(dst, orig, pe.src6, typ, code, rest)
	}
	if err != nil {
		w.c.icmp[ICMPRefused]++
		w.free.Push(v.chunk)
		return
	}
	w.c.icmp[ICMPSent]++
	w.c.icmpTypes[icmpKind(r)]++
	w.replyOut(t, v, start, n)
}

// icmpKind is the kind of error icmpError answers a drop for reason r
// with.
func icmpKind(r Reason) int {
	switch r {
	case ReasonTTLExceeded:
		return ICMPTimeExceeded
	case ReasonTooBig:
		return ICMPTooBig
	}
	return ICMPUnreachable
}

// tooBig answers a packet larger than the egress MTU that may not be
// fragmented: Fragmentation Needed for IPv4 with DF, Packet Too Big for
// IPv6 (IPv4 without DF is fragmented instead, frag.go).
func (w *Worker) tooBig(t *Tables, v *view, mtu int) {
	if v.s.Family == pkt.FamilyIPv6 {
		w.icmpError(t, v, pkt.ICMPv6PacketTooBig, 0, uint32(mtu), ReasonTooBig)
	} else {
		w.icmpError(t, v, pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, pkt.RestMTU4(uint16(mtu)), ReasonTooBig)
	}
}

// xlatReply sends the translator's ICMP error (in the frame, at p.Off)
// back out of the ingress port.
func (w *Worker) xlatReply(t *Tables, v *view, p *xlat.Packet) {
	w.c.drops[ReasonXlatReply]++
	start := v.chunk + uint64(p.Off)
	if start < v.chunk+pkt.EthernetLen || !w.icmpAllow(t) {
		w.free.Push(v.chunk)
		return
	}
	w.c.icmp[ICMPSent]++
	w.c.icmpTypes[ICMPTranslator]++
	w.replyOut(t, v, start, p.Len)
}

// natReply sends nat's answer to a refused packet — an "administratively
// prohibited" ICMP error or a TCP RST for a translated flow whose state is
// gone (nat limits both itself) — back out of the ingress port, copied
// into the frame. A packet translated 6->4 on its way in came from the
// IPv6 core: nat's IPv4 answer would reach its sender in the wrong
// family, so it is not sent.
func (w *Worker) natReply(t *Tables, v *view, reply []byte) {
	w.c.drops[ReasonConntrackReply]++
	if v.translatedIn {
		w.free.Push(v.chunk)
		return
	}
	start := v.chunk + RxHeadroom
	if start+uint64(len(reply)) > v.chunk+uint64(w.frameSize) {
		w.free.Push(v.chunk)
		return
	}
	copy(w.mem[start:], reply)
	w.replyOut(t, v, start, len(reply))
}

// replyOut puts an Ethernet header in front of the IP packet at l3 (n
// bytes) addressed to the sender of the frame, and queues it on the
// ingress port.
func (w *Worker) replyOut(t *Tables, v *view, l3 uint64, n int) {
	pe := &t.ports[v.in]
	src := pe.mac
	if pe.role == RoleWorkload {
		src = t.gwMAC
	}
	start := l3 - pkt.EthernetLen
	eth := pkt.Ethernet(w.mem[start:l3])
	eth.SetDst(v.srcMAC)
	eth.SetSrc(src)
	if w.mem[l3]>>4 == 6 {
		eth.SetEtherType(pkt.EtherTypeIPv6)
	} else {
		eth.SetEtherType(pkt.EtherTypeIPv4)
	}
	w.enqueue(v.in, xsk.Desc{Addr: start, Len: uint32(pkt.EthernetLen + n)})
}
