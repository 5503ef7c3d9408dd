package xlat

// IPv6 -> IPv4 (RFC 7915 section 5). The IPv6 header and the extension
// headers the translation consumes are replaced in place by a 20-byte
// IPv4 header that ends where they ended; the packet start moves forward.
// As in To6, every drop or answer is decided before anything is written.

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
)

// dfLimit: a translated packet up to this size leaves with DF=0 so that an
// IPv4 router may fragment it; larger ones with DF=1 and path MTU
// discovery (RFC 7915 section 5.1: the IPv6 minimum MTU minus the 20 bytes
// the header shrinks by).
const dfLimit = pkt.IPv6MinMTU - (pkt.IPv6Len - pkt.IPv4MinLen)

// chain is what walk6 learns from an IPv6 header chain.
type chain struct {
	proto   uint8 // the IPv4 protocol: first header that is not HBH/DestOpts/Routing/Fragment
	l4      int   // offset of that header from the start of the IPv6 packet
	frag    int   // offset of the fragment header, -1 if none
	segLeft int   // offset of a non-zero Segments Left, -1 if none
}

// walk6 walks the extension headers that RFC 7915 5.1 consumes: hop-by-hop
// and destination options and routing headers are ignored, the fragment
// header is translated. Any header after the fragment header would be cut
// off the first fragment only, shifting the offsets of the others, so such
// packets are untranslatable. b is the IPv6 packet, already bounds-checked
// by pkt's parse up to the first non-extension header.
func walk6(b []byte) (chain, Reason) {
	c := chain{frag: -1, segLeft: -1}
	nh, cur := b[6], pkt.IPv6Len
	for i := 0; i <= pkt.MaxIPv6ExtHeaders; i++ {
		switch nh {
		case pkt.ProtoHopByHop, pkt.ProtoDestOpts, pkt.ProtoRouting:
			if c.frag >= 0 {
				return c, ReasonFragmentExt
			}
			if cur+2 > len(b) {
				return c, ReasonICMPInner
			}
			l := pkt.ExtHeaderLen(nh, b[cur+1])
			if cur+l > len(b) {
				return c, ReasonICMPInner
			}
			if nh == pkt.ProtoRouting && b[cur+3] != 0 && c.segLeft < 0 {
				c.segLeft = cur + 3
			}
			nh = b[cur]
			cur += l
			continue
		case pkt.ProtoFragment:
			if c.frag >= 0 || cur+pkt.IPv6FragmentLen > len(b) {
				return c, ReasonICMPInner
			}
			c.frag = cur
			nh = b[cur]
			cur += pkt.IPv6FragmentLen
			continue
		}
		break
	}
	c.proto, c.l4 = nh, cur
	if nh == pkt.ProtoICMPv6 {
		c.proto = pkt.ProtoICMP
	}
	return c, ReasonNone
}

// To4 translates the IPv6 packet p describes into IPv4 and sets p.Space
// to the address space its destination belongs to.
func (t *Translator) To4(p *Packet, st *Stats) Verdict {
	b := p.start(t.mtu4)
	if b == nil {
		p.ParseReason = pkt.ReasonIPv6Truncated
		return p.drop(st, ReasonMalformed)
	}
	s := &p.s
	if pkt.ParseIP(b, s) != pkt.OK {
		return p.parseFail(st)
	}
	if s.Family != pkt.FamilyIPv6 {
		return p.drop(st, ReasonFamily)
	}
	n := int(s.L3Len)
	b = b[:n]
	c, r := walk6(b)
	if r == ReasonFragmentExt {
		return t.refuse6(p, st, r)
	}
	if r != ReasonNone {
		if r == ReasonICMPInner { // cannot happen after ParseIP; be safe
			r = ReasonMalformed
		}
		return p.drop(st, r)
	}
	if c.segLeft >= 0 {
		// RFC 7915 5.1: not translated; Parameter Problem pointing at
		// Segments Left.
		return t.reply6(p, st, ReasonSegmentsLeft, pkt.ICMPv6ParamProblem, pkt.ICMPv6ErroneousHeader, uint32(c.segLeft))
	}
	frag := c.frag >= 0
	var fh pkt.IPv6Fragment
	if frag {
		fh = pkt.IPv6Fragment(b[c.frag:])
		if fh.Offset() != 0 && c.l4 != int(s.L4Off) {
			// pkt stops at a non-first fragment; walk6 went on only if
			// the fragmentable part starts with an extension header.
			return t.refuse6(p, st, ReasonFragmentExt)
		}
		if fh.Offset() == 8 && c.proto == pkt.ProtoTCP {
			// In IPv4 this is RFC 1858's tiny-fragment attack (a TCP
			// fragment at offset 8 rewrites the flags of the first),
			// which pkt, like IPv4 filters, refuses: do not make one.
			p.ParseReason = pkt.ReasonIPv4TinyFragment
			return p.drop(st, ReasonMalformed)
		}
	}
	icmp := c.proto == pkt.ProtoICMP
	if icmp {
		if s.Flags&pkt.FlagFragment != 0 {
			return p.drop(st, ReasonICMPFragmented)
		}
		if s.Flags&pkt.FlagICMPError != 0 {
			return t.icmpError64(p, st, &c)
		}
		if s.ICMPType != pkt.ICMPv6EchoRequest && s.ICMPType != pkt.ICMPv6EchoReply {
			return p.drop(st, ReasonICMPType)
		}
	}

	sp, dst4, r := t.map64dst(&s.Dst, p.Space)
	if r != ReasonNone {
		return p.drop(st, r)
	}
	src4, r := t.map64src(sp, &s.Src)
	if r != ReasonNone {
		return p.drop(st, r)
	}
	hairpin := t.hairpin64(sp.id, &s.Dst, dst4)

	size := n - c.l4 + pkt.IPv4MinLen
	split, df := false, false
	if hairpin {
		// Not for the IPv4 next hop: Hairpin applies the IPv6 one.
		df = !frag && size > dfLimit
	} else if frag {
		// RFC 7915 5.1.1: DF clear; IPv4 routers (and we) may fragment.
		if size > p.mtu {
			if !t.fragBuffersFit4(p, n-c.l4) {
				return p.drop(st, ReasonFragBuffers)
			}
			split = true
		}
	} else {
		df = size > dfLimit
		if size > p.mtu {
			if df {
				// RFC 7915 5.1: Packet Too Big with the IPv4 MTU plus
				// the 20 bytes the header shrinks by, never below the
				// IPv6 minimum — or the router that runs the translator
				// sends it, from its own address.
				mtu := max(p.mtu+pkt.IPv6Len-pkt.IPv4MinLen, pkt.IPv6MinMTU)
				if p.RouterAnswers {
					return p.tooBig(st, mtu)
				}
				return t.reply6(p, st, ReasonTooBig, pkt.ICMPv6PacketTooBig, 0, uint32(mtu))
			}
			if !t.fragBuffersFit4(p, n-c.l4) {
				return p.drop(st, ReasonFragBuffers)
			}
			split = true
		}
	}

	// Nothing below drops.
	p.Space = sp.id
	oldSum := sum32(b[8:40]) // IPv6 source and destination
	newOff := p.Off + c.l4 - pkt.IPv4MinLen
	var id uint16
	var fragOff uint16
	mf := false
	if frag {
		id, fragOff, mf = uint16(fh.ID()), fh.Offset(), fh.MF()
	} else {
		id = p.nextID()
	}
	tos, ttl := s.TOS, s.TTL

	if fragOff == 0 {
		seg := b[c.l4:]
		newSum := fold(uint64(binary.BigEndian.Uint32(src4[:])) + uint64(binary.BigEndian.Uint32(dst4[:])))
		switch c.proto {
		case pkt.ProtoTCP:
			if c.l4 == int(s.L4Off) {
				tc := pkt.TCP(seg)
				tc.SetChecksum(pkt.ChecksumUpdateSum(tc.Checksum(), oldSum, newSum))
			}
		case pkt.ProtoUDP:
			// A zero UDP checksum is invalid in IPv6 but means "none"
			// in IPv4: it passes unchanged.
			if u := pkt.UDP(seg); c.l4 == int(s.L4Off) && u.Checksum() != 0 {
				u.SetChecksum(pkt.UDPChecksumAfterUpdate(pkt.ChecksumUpdateSum(u.Checksum(), oldSum, newSum)))
			}
		case pkt.ProtoICMP:
			echo64(seg, pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], pkt.ProtoICMPv6, uint32(len(seg))))
		}
	}

	h := pkt.IPv4(p.Buf[newOff : newOff+pkt.IPv4MinLen])
	writeIPv4(h, tos, uint16(size), id, df, mf, fragOff, ttl, c.proto, src4, dst4)
	p.Off, p.Len, p.Hairpin = newOff, size, hairpin
	if split {
		return t.fragment4(p, st)
	}
	return st.count(p, Forward)
}

// writeIPv4 writes a 20-byte IPv4 header with its checksum.
func writeIPv4(h pkt.IPv4, tos uint8, total, id uint16, df, mf bool, fragOff uint16, ttl, proto uint8, src, dst [4]byte) {
	h.SetVersionIHL(pkt.IPv4MinLen)
	h.SetTOS(tos)
	h.SetTotalLen(total)
	h.SetID(id)
	h.SetFragment(df, mf, fragOff)
	h.SetTTL(ttl)
	h.SetProtocol(proto)
	h.SetSrc(src)
	h.SetDst(dst)
	h.SetChecksum(0)
	h.SetChecksum(^sum20(h))
}

// echo64 turns an ICMPv6 echo into an ICMPv4 one: new type, and the
// pseudo-header pseudo leaves the checksum.
func echo64(seg []byte, pseudo uint16) {
	c := pkt.ICMP(seg)
	old := binary.BigEndian.Uint16(seg)
	typ := uint8(pkt.ICMPv4EchoRequest)
	if c.Type() == pkt.ICMPv6EchoReply {
		typ = pkt.ICMPv4EchoReply
	}
	c.SetType(typ)
	cs := pkt.ChecksumUpdate16(c.Checksum(), old, binary.BigEndian.Uint16(seg))
	c.SetChecksum(pkt.ChecksumUpdateSum(cs, pseudo, 0))
}

// reply6 answers the IPv6 packet with an ICMPv6 error built in place in
// the headroom, from the translator's own address (ownSrc6).
func (t *Translator) reply6(p *Packet, st *Stats, why Reason, typ, code uint8, rest uint32) Verdict {
	s := &p.s
	var key [4]byte
	copy(key[:], s.Dst[12:16])
	src, ok := t.ownSrc6(key)
	if !ok {
		return p.drop(st, why)
	}
	at := p.Off - pkt.ICMPv6ErrorHeaderLen
	if at < 0 {
		return p.drop(st, ReasonNoHeadroom)
	}
	n, err := pkt.BuildICMPv6Error(p.Buf[at:], p.Buf[p.Off:p.Off+int(s.L3Len)], src, typ, code, rest)
	if err != nil {
		return p.drop(st, ReasonReplyRefused)
	}
	p.Off, p.Len, p.Reason = at, n, why
	return st.count(p, Reply)
}

// refuse6 discards an IPv6 packet the translator will not translate and
// tells its source (RFC 7915 5.4): "If the IPv6 packet is discarded, then
// the translator SHOULD send back an ICMPv6 error message to the original
// sender of the packet, unless the discarded packet is itself an ICMPv6
// message. The ICMPv6 message MUST have Type 1 (Destination Unreachable)
// and Code 1 (Communication with destination administratively
// prohibited)". pkt refuses to answer an ICMPv6 error.
func (t *Translator) refuse6(p *Packet, st *Stats, why Reason) Verdict {
	return t.reply6(p, st, why, pkt.ICMPv6DestUnreach, pkt.ICMPv6AdminProhibited, 0)
}

// icmpError64 translates an ICMPv6 error and the packet it quotes (RFC
// 7915 5.3):
//
//	| IPv6 (+ext) |ICMPv6| inner IPv6 (+ext) | rest of the quote |
//	| IPv4 | ICMP | inner IPv4 | rest of the quote |
func (t *Translator) icmpError64(p *Packet, st *Stats, c *chain) Verdict {
	s, in := &p.s, &p.in
	b := p.Buf[p.Off : p.Off+int(s.L3Len)]
	icmpOff := c.l4
	pseudo := pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], pkt.ProtoICMPv6, uint32(len(b)-icmpOff))
	if !pkt.VerifyTransport(pseudo, b[icmpOff:]) {
		return p.drop(st, ReasonICMPChecksum)
	}
	ic := pkt.ICMP(b[icmpOff:])
	typ4, code4, rest4, r := icmp64(ic.Type(), ic.Code(), ic.Rest())
	if r != ReasonNone {
		return p.drop(st, r)
	}
	// RFC 4884 length, in 64-bit words, for Destination Unreachable and
	// Time Exceeded: the extension after the field is carried over
	// (rfc4884.go); Destination Unreachable becomes 3 and Time Exceeded
	// 11, which have the attribute too.
	end, extLen := len(b), 0
	lenAttr := 0
	if hasLength6(ic.Type()) {
		if l := int(b[icmpOff+4]); l != 0 && icmpOff+pkt.ICMPHeaderLen+8*l <= len(b) {
			lenAttr, end = l, icmpOff+pkt.ICMPHeaderLen+8*l
			if hasLength4(typ4) {
				extLen = len(b) - end
			}
		}
	}
	s.L3Len = uint16(end)
	if pkt.ParseQuoted(b, s, in) != pkt.OK || in.Family != pkt.FamilyIPv6 {
		return p.drop(st, ReasonICMPInner)
	}
	if in.Flags&pkt.FlagICMPError != 0 {
		return p.drop(st, ReasonICMPNestedError)
	}
	innerOff := int(in.L3Off)
	ic6, r := walk6(b[innerOff:end])
	if r != ReasonNone {
		return p.drop(st, ReasonICMPInner)
	}
	innerFrag := ic6.frag >= 0
	var ifh pkt.IPv6Fragment
	if innerFrag {
		ifh = pkt.IPv6Fragment(b[innerOff+ic6.frag:])
	}
	innerEcho := false
	if ic6.proto == pkt.ProtoICMP && (!innerFrag || ifh.Offset() == 0) {
		if in.ICMPType != pkt.ICMPv6EchoRequest && in.ICMPType != pkt.ICMPv6EchoReply {
			return p.drop(st, ReasonICMPInner)
		}
		innerEcho = true
	}

	sp, dst4, r := t.map64dst(&s.Dst, p.Space)
	if r != ReasonNone {
		return p.drop(st, r)
	}
	isrc, r1 := t.map64src(sp, &in.Src)
	idst, r2 := t.map64src(sp, &in.Dst)
	if r1 != ReasonNone || r2 != ReasonNone {
		return p.drop(st, ReasonICMPInner)
	}
	src4, r := t.map64src(sp, &s.Src)
	if r != ReasonNone {
		// An IPv6 router with no IPv4 form (RFC 6791).
		var ok bool
		if src4, ok = t.relaySrc4(&s.Src); !ok {
			return p.drop(st, ReasonNoRFC6791)
		}
	}
	if typ4 == pkt.ICMPv4DestUnreach && code4 == pkt.ICMPv4FragNeeded {
		rest4 = t.mtu64(ic.MTU6(), p.mtu)
	}

	innerL4 := innerOff + ic6.l4
	if lenAttr != 0 { // the field may end in padding: the datagram is what its header declares
		end = max(min(end, innerOff+int(in.L3Len)), innerL4)
	}
	newOff := p.Off + innerL4 - pkt.IPv4MinLen - pkt.ICMPv4ErrorHeaderLen
	// As much of the datagram as fits 576 bytes (RFC 1812 4.3.2.3, and
	// the IPv4 next hop if smaller: an error is never fragmented), and an
	// extension after it if there is room, in the frame too.
	const fixed = pkt.ICMPv4ErrorHeaderLen
	limit := min(pkt.ICMPv4ErrorMaxLen, p.mtu)
	dgram := pkt.IPv4MinLen + end - innerL4
	keep, pad, attr, withExt := quoteLayout(fixed, dgram, extLen, limit, 4)
	if withExt && newOff+fixed+keep+pad+extLen > len(p.Buf) {
		keep, pad, attr, withExt = quoteLayout(fixed, dgram, 0, limit, 4)
	}
	size := fixed + keep + pad
	if withExt {
		size += extLen
	}

	// Nothing below drops.
	p.Space = sp.id
	innerTotal := int(in.L3Len) - ic6.l4 + pkt.IPv4MinLen // as the quoted header declares
	innerFragOff := uint16(0)
	if innerFrag {
		innerFragOff = ifh.Offset()
	}
	if innerFragOff == 0 {
		oldSum := pkt.Checksum(b[innerOff+8:innerOff+40], 0)
		newSum := pkt.ChecksumCombine(pkt.Checksum(isrc[:], 0), pkt.Checksum(idst[:], 0))
		q := b[innerL4:end]
		switch {
		case ic6.proto == pkt.ProtoTCP && len(q) >= pkt.TCPChecksumOff+2:
			tc := pkt.TCP(q)
			tc.SetChecksum(pkt.ChecksumUpdateSum(tc.Checksum(), oldSum, newSum))
		case ic6.proto == pkt.ProtoUDP && len(q) >= pkt.UDPLen:
			if u := pkt.UDP(q); u.Checksum() != 0 {
				u.SetChecksum(pkt.UDPChecksumAfterUpdate(pkt.ChecksumUpdateSum(u.Checksum(), oldSum, newSum)))
			}
		case innerEcho:
			echo64(q, pkt.PseudoHeaderSum6(in.Src[:], in.Dst[:], pkt.ProtoICMPv6, uint32(innerTotal-pkt.IPv4MinLen)))
		}
	}
	var iid uint16
	imf, idf := false, false
	if innerFrag {
		iid, imf = uint16(ifh.ID()), ifh.MF()
	} else {
		idf = innerTotal > dfLimit
	}
	tos, ttl, itos, ittl := s.TOS, s.TTL, in.TOS, in.TTL

	out := p.Buf[newOff : newOff+size]
	writeIPv4(pkt.IPv4(out[pkt.ICMPv4ErrorHeaderLen:]), itos, uint16(innerTotal), iid, idf, imf, innerFragOff, ittl, ic6.proto, isrc, idst)
	if withExt { // the extension moves to its new place, then the padding before it is cleared
		at := fixed + keep + pad
		copy(out[at:], p.Buf[p.Off+len(b)-extLen:p.Off+len(b)])
		zero(out[fixed+keep : at])
		rest4 |= uint32(attr) << 16
	}
	oc := pkt.ICMP(out[pkt.IPv4MinLen:])
	oc.SetType(typ4)
	oc.SetCode(code4)
	oc.SetRest(rest4)
	oc.SetChecksum(0)
	oc.SetChecksum(pkt.TransportChecksum(0, oc))
	writeIPv4(pkt.IPv4(out), tos, uint16(size), p.nextID(), size > dfLimit, false, 0, ttl, pkt.ProtoICMP, src4, dst4)
	p.Off, p.Len = newOff, size
	p.Hairpin = t.hairpin64(sp.id, &in.Src, isrc)
	return st.count(p, Forward)
}
