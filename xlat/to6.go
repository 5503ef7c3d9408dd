package xlat

// IPv4 -> IPv6 (RFC 7915 section 4). The IPv4 header is replaced in place
// by an IPv6 header that ends where the IPv4 header ended, so the payload
// never moves; the packet start moves back into the headroom. Every check
// that can drop or answer the packet runs before the first byte is
// written, so a dropped packet is left as it came.

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
)

// protoIGMP is single-hop and has no IPv6 counterpart.
const protoIGMP = 2

// ipv6FragLen is the IPv6 header plus a fragment header.
const ipv6FragLen = pkt.IPv6Len + pkt.IPv6FragmentLen

// To6 translates the IPv4 packet p describes, in address space p.Space,
// into IPv6.
func (t *Translator) To6(p *Packet, st *Stats) Verdict {
	b := p.start(t.mtu6)
	if b == nil {
		p.ParseReason = pkt.ReasonIPv4Truncated
		return p.drop(st, ReasonMalformed)
	}
	s := &p.s
	if pkt.ParseIP(b, s) != pkt.OK {
		return p.parseFail(st)
	}
	if s.Family != pkt.FamilyIPv4 {
		return p.drop(st, ReasonFamily)
	}
	sp := t.space(p.Space)
	if sp == nil {
		return p.drop(st, ReasonNoSpace)
	}
	if s.Flags&pkt.FlagIPv4Options != 0 && unexpiredSourceRoute(pkt.IPv4(b).Options()) {
		// RFC 7915 4.1: discard, and Destination Unreachable / Source
		// Route Failed to the sender.
		return t.reply4(p, st, ReasonSourceRoute, pkt.ICMPv4DestUnreach, pkt.ICMPv4SourceRouteFail, 0)
	}
	frag := s.Flags&pkt.FlagFragment != 0
	switch s.Proto {
	case pkt.ProtoICMP:
		if frag {
			return p.drop(st, ReasonICMPFragmented)
		}
		if s.Flags&pkt.FlagICMPError != 0 {
			return t.icmpError46(p, st, sp)
		}
		if s.ICMPType != pkt.ICMPv4EchoRequest && s.ICMPType != pkt.ICMPv4EchoReply {
			return p.drop(st, ReasonICMPType)
		}
	case protoIGMP:
		return p.drop(st, ReasonIGMP)
	case 0, 43, 44, 60, 135, 139, 140, 253, 254, pkt.ProtoICMPv6:
		// RFC 7915 4.1 copies the protocol into Next Header, but these
		// numbers name IPv6 headers (Hop-by-Hop, Routing, Fragment,
		// Destination Options, Mobility, HIP, Shim6, experimental;
		// RFC 8200 4, IANA's IPv6 Extension Header Types) or ICMPv6:
		// copied, the IPv4 payload would be read as that header, and a
		// payload shaped as one could carry any upper layer — a TCP
		// segment that policy, which saw protocol 0, never judged. No
		// IPv4 packet means them, so none is translated (found by
		// FuzzTo6: the output did not parse).
		return p.drop(st, ReasonIPv6Proto)
	case pkt.ProtoUDP:
		if s.Flags&pkt.FlagUDPZeroChecksum != 0 && (frag || !t.amend) {
			// RFC 7915 4.5: a checksum a fragment cannot give (or the
			// operator chose not to compute) means a drop "and a system
			// management event"; 4.4 names the error that makes it
			// visible to the sender: Destination Unreachable, Code 13
			// (Communication Administratively Prohibited).
			why := ReasonUDPZeroChecksum
			if frag {
				why = ReasonUDPZeroChecksumFrag
			}
			return t.reply4(p, st, why, pkt.ICMPv4DestUnreach, pkt.ICMPv4AdminProhibited, 0)
		}
	}

	var src6, dst6 [16]byte
	if r := t.map46x(sp, [4]byte(s.Src[:4]), &src6, !p.hairpinning); r != ReasonNone {
		return p.drop(st, r)
	}
	if r := t.map46(sp, [4]byte(s.Dst[:4]), &dst6); r != ReasonNone {
		if r == ReasonSrcUntranslatable {
			r = ReasonDstUntranslatable
		}
		return p.drop(st, r)
	}

	n, ihl := int(s.L3Len), int(s.L4Off)
	hdr := pkt.IPv6Len
	if frag {
		hdr = ipv6FragLen
	}
	size := n - ihl + hdr
	split := false
	if s.Flags&pkt.FlagDontFragment != 0 {
		if size > p.mtu {
			// The sender does path MTU discovery: tell it the IPv4 size
			// that fits the IPv6 next hop, the header growth taken off
			// (RFC 7915 section 6, RFC 1191) — or let the router that
			// runs the translator tell it, from its own address.
			mtu := p.mtu - (hdr - pkt.IPv4MinLen)
			if p.RouterAnswers {
				return p.tooBig(st, mtu)
			}
			return t.reply4(p, st, ReasonTooBig, pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, pkt.RestMTU4(uint16(mtu)))
		}
	} else if size > min(t.lowest, p.mtu) {
		// DF=0: the sender lets routers fragment, and nothing promises
		// more than the lowest IPv6 MTU on the path (RFC 7915 4 and 6).
		hdr = ipv6FragLen
		size = n - ihl + hdr
		split = true
		if !t.fragBuffersFit6(p, n-ihl) {
			return p.drop(st, ReasonFragBuffers)
		}
	}
	newOff := p.Off + ihl - hdr
	if newOff < 0 {
		return p.drop(st, ReasonNoHeadroom)
	}

	// Nothing below drops. Save the IPv4 fields the new header overwrites.
	oldSum := sum8(b[12:20]) // IPv4 source and destination
	tos, ttl, proto := s.TOS, s.TTL, s.Proto
	if proto == pkt.ProtoICMP {
		proto = pkt.ProtoICMPv6
	}
	fragOff, mf, id := s.FragOff, s.Flags&pkt.FlagMoreFragments != 0, s.FragID

	h := p.Buf[newOff : newOff+hdr]
	ip := pkt.IPv6(h)
	ip.SetVersionTCFlow(tos, 0)
	ip.SetPayloadLen(uint16(size - pkt.IPv6Len))
	ip.SetHopLimit(ttl)
	ip.SetSrc(src6)
	ip.SetDst(dst6)
	if hdr == ipv6FragLen {
		ip.SetNextHeader(pkt.ProtoFragment)
		pkt.IPv6Fragment(h[pkt.IPv6Len:]).Set(proto, fragOff, mf, id&0xffff)
	} else {
		ip.SetNextHeader(proto)
	}

	// The transport checksum: a non-first fragment has no header, and the
	// first fragment's checksum covers the whole datagram, whose
	// pseudo-header length and protocol are the same in both families, so
	// only the address sums change (RFC 7915 4.5).
	if fragOff == 0 {
		seg := b[ihl:n]
		newSum := sum32(h[8:40])
		switch s.Proto {
		case pkt.ProtoTCP:
			c := pkt.TCP(seg)
			c.SetChecksum(pkt.ChecksumUpdateSum(c.Checksum(), oldSum, newSum))
		case pkt.ProtoUDP:
			u := pkt.UDP(seg)
			if u.Checksum() == 0 { // whole packet, amendUDPZeroChecksum on
				u.SetChecksum(pkt.UDPChecksum(pkt.PseudoHeaderSum6(src6[:], dst6[:], pkt.ProtoUDP, uint32(len(seg))), seg))
			} else {
				u.SetChecksum(pkt.UDPChecksumAfterUpdate(pkt.ChecksumUpdateSum(u.Checksum(), oldSum, newSum)))
			}
		case pkt.ProtoICMP:
			echo46(seg, pkt.PseudoHeaderSum6(src6[:], dst6[:], pkt.ProtoICMPv6, uint32(len(seg))))
		}
	}
	p.Off, p.Len = newOff, size
	if split {
		return t.fragment6(p, st)
	}
	return st.count(p, Forward)
}

// echo46 turns an ICMPv4 echo (request or reply) into an ICMPv6 one: new
// type, and the checksum now covers the IPv6 pseudo-header.
func echo46(seg []byte, pseudo uint16) {
	c := pkt.ICMP(seg)
	old := binary.BigEndian.Uint16(seg)
	typ := uint8(pkt.ICMPv6EchoRequest)
	if c.Type() == pkt.ICMPv4EchoReply {
		typ = pkt.ICMPv6EchoReply
	}
	c.SetType(typ)
	cs := pkt.ChecksumUpdate16(c.Checksum(), old, binary.BigEndian.Uint16(seg))
	c.SetChecksum(pkt.ChecksumUpdateSum(cs, 0, pseudo))
}

// unexpiredSourceRoute reports a loose or strict source route option whose
// pointer has not passed its last address (RFC 791: the route is used up
// when the pointer exceeds the length).
func unexpiredSourceRoute(opts []byte) bool {
	for {
		o, rest, ok := pkt.NextOption(opts)
		if !ok {
			return false
		}
		if (o.Kind == pkt.IPv4OptLSRR || o.Kind == pkt.IPv4OptSSRR) && len(o.Data) >= 1 &&
			int(o.Data[0]) <= len(o.Data)+2 {
			return true
		}
		opts = rest
	}
}

// reply4 answers the IPv4 packet with an ICMPv4 error built in place in
// the headroom, from the translator's own address (ownSrc4). Without one
// the packet is dropped with why.
func (t *Translator) reply4(p *Packet, st *Stats, why Reason, typ, code uint8, rest uint32) Verdict {
	s := &p.s
	var key [16]byte
	copy(key[:], s.Dst[:4])
	src, ok := t.ownSrc4(&key)
	if !ok {
		return p.drop(st, why)
	}
	at := p.Off - pkt.ICMPv4ErrorHeaderLen
	if at < 0 {
		return p.drop(st, ReasonNoHeadroom)
	}
	n, err := pkt.BuildICMPv4Error(p.Buf[at:], p.Buf[p.Off:p.Off+int(s.L3Len)], src, typ, code, rest)
	if err != nil {
		return p.drop(st, ReasonReplyRefused)
	}
	p.Off, p.Len, p.Reason = at, n, why
	return st.count(p, Reply)
}

// icmpError46 translates an ICMPv4 error and the packet it quotes (RFC
// 7915 4.3). Layout before and after; the quoted payload stays put:
//
//	| IPv4 | ICMP | inner IPv4 | rest of the quote |
//	| IPv6 |ICMPv6| inner IPv6 (+frag) | rest of the quote |
func (t *Translator) icmpError46(p *Packet, st *Stats, sp *space) Verdict {
	s, in := &p.s, &p.in
	b := p.Buf[p.Off : p.Off+int(s.L3Len)]
	icmpOff := int(s.L4Off)
	if !pkt.VerifyTransport(0, b[icmpOff:]) {
		return p.drop(st, ReasonICMPChecksum)
	}
	ic := pkt.ICMP(b[icmpOff:])
	typ6, code6, rest6, r := icmp46(ic.Type(), ic.Code(), ic.Rest())
	if r != ReasonNone {
		return p.drop(st, r)
	}
	// RFC 4884: a non-zero length (in 32-bit words) ends the original
	// datagram field; an extension structure follows it. One that points
	// past the message is not RFC 4884's: the whole rest is the quote.
	end, extLen := len(b), 0
	lenAttr := 0
	if hasLength4(ic.Type()) {
		if l := int(b[icmpOff+5]); l != 0 && icmpOff+pkt.ICMPHeaderLen+4*l <= len(b) {
			lenAttr, end = l, icmpOff+pkt.ICMPHeaderLen+4*l
			if hasLength6(typ6) {
				extLen = len(b) - end
			}
		}
	}
	s.L3Len = uint16(end)
	if pkt.ParseQuoted(b, s, in) != pkt.OK || in.Family != pkt.FamilyIPv4 {
		return p.drop(st, ReasonICMPInner)
	}
	if in.Flags&pkt.FlagICMPError != 0 {
		return p.drop(st, ReasonICMPNestedError)
	}
	innerEcho := false
	if in.Proto == pkt.ProtoICMP && in.FragOff == 0 {
		if in.ICMPType != pkt.ICMPv4EchoRequest && in.ICMPType != pkt.ICMPv4EchoReply {
			return p.drop(st, ReasonICMPInner)
		}
		innerEcho = true
	}
	var isrc, idst, src6, dst6 [16]byte
	if t.map46(sp, [4]byte(in.Src[:4]), &isrc) != ReasonNone || t.map46x(sp, [4]byte(in.Dst[:4]), &idst, !p.hairpinning) != ReasonNone {
		return p.drop(st, ReasonICMPInner)
	}
	if r := t.map46(sp, [4]byte(s.Dst[:4]), &dst6); r != ReasonNone {
		if r == ReasonSrcUntranslatable {
			r = ReasonDstUntranslatable
		}
		return p.drop(st, r)
	}
	selfAnswer := p.hairpinning && [4]byte(s.Src[:4]) == [4]byte(in.Dst[:4])
	if t.map46x(sp, [4]byte(s.Src[:4]), &src6, !selfAnswer) != ReasonNone {
		// An IPv4 router with no IPv6 form (RFC 6791).
		var ok bool
		if src6, ok = t.relaySrc6([4]byte(s.Src[:4])); !ok {
			return p.drop(st, ReasonNoRFC6791)
		}
	}
	innerFrag := in.Flags&pkt.FlagFragment != 0
	innerHdr := pkt.IPv6Len
	if innerFrag {
		innerHdr = ipv6FragLen
	}
	if typ6 == pkt.ICMPv6PacketTooBig {
		rest6 = t.mtu46(ic.MTU4(), in.L3Len, innerFrag, p.mtu)
	}
	innerL4 := int(in.L4Off)
	if lenAttr != 0 { // the field may end in padding: the datagram is what its header declares
		end = max(min(end, int(in.L3Off)+int(in.L3Len)), innerL4)
	}
	newOff := p.Off + innerL4 - innerHdr - pkt.ICMPHeaderLen - pkt.IPv6Len
	if newOff < 0 {
		return p.drop(st, ReasonNoHeadroom)
	}
	// As much of the datagram as fits 1280 bytes (RFC 4443 2.4 (c)),
	// and an extension after it if there is room, in the frame too.
	const fixed = pkt.IPv6Len + pkt.ICMPHeaderLen
	keep, pad, attr, withExt := quoteLayout(fixed, innerHdr+end-innerL4, extLen, pkt.ICMPv6ErrorMaxLen, 8)
	if withExt && newOff+fixed+keep+pad+extLen > len(p.Buf) {
		keep, pad, attr, withExt = quoteLayout(fixed, innerHdr+end-innerL4, 0, pkt.ICMPv6ErrorMaxLen, 8)
	}
	size := fixed + keep + pad
	if withExt {
		size += extLen
	}

	// Nothing below drops. The quoted transport header keeps its place;
	// fix its checksum for the new addresses where the quote holds it.
	innerIHL := innerL4 - int(in.L3Off)
	innerPayload := int(in.L3Len) - innerIHL // as the quoted header declares
	if in.FragOff == 0 {
		oldSum := pkt.Checksum(b[in.L3Off+12:in.L3Off+20], 0)
		newSum := pkt.ChecksumCombine(pkt.Checksum(isrc[:], 0), pkt.Checksum(idst[:], 0))
		q := b[innerL4:end]
		switch {
		case in.Proto == pkt.ProtoTCP && len(q) >= pkt.TCPChecksumOff+2:
			c := pkt.TCP(q)
			c.SetChecksum(pkt.ChecksumUpdateSum(c.Checksum(), oldSum, newSum))
		case in.Proto == pkt.ProtoUDP && len(q) >= pkt.UDPLen:
			if u := pkt.UDP(q); u.Checksum() != 0 {
				u.SetChecksum(pkt.UDPChecksumAfterUpdate(pkt.ChecksumUpdateSum(u.Checksum(), oldSum, newSum)))
			}
		case innerEcho:
			echo46(q, pkt.PseudoHeaderSum6(isrc[:], idst[:], pkt.ProtoICMPv6, uint32(innerPayload)))
		}
	}
	innerProto := in.Proto
	if innerProto == pkt.ProtoICMP {
		innerProto = pkt.ProtoICMPv6
	}
	tos, ttl := s.TOS, s.TTL

	out := p.Buf[newOff : newOff+size]
	ih := pkt.IPv6(out[pkt.IPv6Len+pkt.ICMPHeaderLen:])
	ih.SetVersionTCFlow(in.TOS, 0)
	ih.SetPayloadLen(uint16(innerPayload + innerHdr - pkt.IPv6Len))
	ih.SetHopLimit(in.TTL)
	ih.SetSrc(isrc)
	ih.SetDst(idst)
	if innerFrag {
		ih.SetNextHeader(pkt.ProtoFragment)
		pkt.IPv6Fragment(ih[pkt.IPv6Len:]).Set(innerProto, in.FragOff, in.Flags&pkt.FlagMoreFragments != 0, in.FragID&0xffff)
	} else {
		ih.SetNextHeader(innerProto)
	}

	if withExt { // the extension moves to its new place, then the padding before it is cleared
		at := fixed + keep + pad
		copy(out[at:], p.Buf[p.Off+len(b)-extLen:p.Off+len(b)])
		zero(out[fixed+keep : at])
		rest6 |= uint32(attr) << 24
	}
	oc := pkt.ICMP(out[pkt.IPv6Len:])
	oc.SetType(typ6)
	oc.SetCode(code6)
	oc.SetRest(rest6)
	oc.SetChecksum(0)

	ip := pkt.IPv6(out)
	ip.SetVersionTCFlow(tos, 0)
	ip.SetPayloadLen(uint16(size - pkt.IPv6Len))
	ip.SetNextHeader(pkt.ProtoICMPv6)
	ip.SetHopLimit(ttl)
	ip.SetSrc(src6)
	ip.SetDst(dst6)
	oc.SetChecksum(pkt.TransportChecksum(pkt.PseudoHeaderSum6(src6[:], dst6[:], pkt.ProtoICMPv6, uint32(size-pkt.IPv6Len)), out[pkt.IPv6Len:]))

	p.Off, p.Len = newOff, size
	return st.count(p, Forward)
}
