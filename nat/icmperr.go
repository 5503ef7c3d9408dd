package nat

// ICMP errors about tracked flows (RFC 5508 section 4, RFC 4787 REQ-12,
// RFC 5382 REQ-9/10): the quoted packet is turned back into what its
// sender sent (or what the far side will recognise), the outer header is
// readdressed to match, and every checksum involved is fixed. An error
// never creates, refreshes or removes a session.

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
)

// trackError handles an ICMP or ICMPv6 error arriving in space.
func (w *Worker) trackError(frame []byte, s *pkt.Summary, space uint16) Result {
	fam := s.Family
	l3, l4, end := int(s.L3Off), int(s.L4Off), s.End()
	msg := frame[l4:end]
	var pseudo uint16
	if fam == pkt.FamilyIPv6 {
		pseudo = pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], pkt.ProtoICMPv6, uint32(len(msg)))
	}
	// RFC 5508 REQ-3: a bad ICMP checksum is dropped silently.
	if !pkt.VerifyTransport(pseudo, msg) {
		return w.drop(ReasonErrorChecksum)
	}
	var in pkt.Summary
	if pkt.ParseQuoted(frame, s, &in) != pkt.OK || in.Family != fam ||
		in.Flags&pkt.FlagICMPError != 0 {
		return w.drop(ReasonErrorQuoteInvalid)
	}
	// REQ-3 a: a quoted IPv4 header that does not verify is dropped. The
	// parser walked past any options to the transport header (REQ-3 b).
	if fam == pkt.FamilyIPv4 && pkt.Checksum(frame[in.L3Off:in.L4Off], 0) != 0xffff {
		return w.drop(ReasonErrorQuoteInvalid)
	}
	if in.Flags&pkt.FlagFragment != 0 && in.Flags&pkt.FlagFirstFragment == 0 {
		return w.drop(ReasonErrorUntracked)
	}
	var qk key
	if keyOf(&in, space, &qk) != ReasonNone {
		return w.drop(ReasonErrorUntracked)
	}
	// The quote went the other way: the error travels in the direction
	// of the quote's reverse.
	k := qk.reverse()
	var h hit
	if !w.t.lookup(&k, k.hash(w.t.s0, w.t.s1), &h) || expired(h.ctl, h.seen, w.now, &w.snap.tm) {
		return w.drop(ReasonErrorUntracked) // REQ-4, REQ-5: no mapping, silent drop
	}
	o := &h.other
	// REQ-4 a / REQ-5 a: revert the quoted IP and transport headers.
	rewriteQuote(frame, &in, &qk, o)

	// REQ-4 c, REQ-7 a: the outer destination becomes the quoted source
	// after translation. REQ-5 c: when the flow's source side is
	// translated, the error's sender is hidden behind the flow's public
	// address like the flow itself; otherwise the reporting router stays
	// visible (REQ-12 a: errors are not filtered by their source).
	var osrc [2]uint64
	osrc = addrWords(&s.Src)
	oldA := sumAddr(osrc, fam) + sumAddr(addrWords(&s.Dst), fam)
	if k.src != o.dst {
		osrc = o.dst
	}
	odst := o.src
	newA := sumAddr(osrc, fam) + sumAddr(odst, fam)
	if fam == pkt.FamilyIPv4 {
		putAddr(frame[l3+v4SrcOff:], osrc, fam)
		putAddr(frame[l3+v4DstOff:], odst, fam)
		patch(frame[l3+v4CsumOff:], oldA, newA)
	} else {
		putAddr(frame[l3+v6SrcOff:], osrc, fam)
		putAddr(frame[l3+v6DstOff:], odst, fam)
	}
	s.Src, s.Dst = wordsAddr(osrc), wordsAddr(odst)
	if fam == pkt.FamilyIPv4 {
		clear(s.Src[4:])
		clear(s.Dst[4:])
	}
	// The ICMP checksum covers the whole rewritten quote (and for ICMPv6
	// the new pseudo-header). It verified above, so summing the message
	// again cannot hide damage; an incremental update would cost the
	// same two passes.
	if fam == pkt.FamilyIPv6 {
		pseudo = pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], pkt.ProtoICMPv6, uint32(len(msg)))
	}
	binary.BigEndian.PutUint16(msg[icmpCsumOff:], 0)
	binary.BigEndian.PutUint16(msg[icmpCsumOff:], pkt.TransportChecksum(pseudo, msg))
	return Result{Action: Forward, State: StateRelated, Dir: Dir(h.dir), Space: o.space(), Translated: true}
}

// rewriteQuote sets the quoted packet, whose key is qk, to the tuple of
// o: o.src -> o.dst, ports o.sport -> o.dport. The quoted IPv4 header
// checksum and the quoted transport checksum, when the quote holds it,
// are patched; the transport checksum is never verified (REQ-3 c).
func rewriteQuote(frame []byte, in *pkt.Summary, qk, o *key) {
	fam := in.Family
	l3, l4, end := int(in.L3Off), int(in.L4Off), in.End()
	if end > len(frame) {
		end = len(frame)
	}
	oldA := sumAddr(qk.src, fam) + sumAddr(qk.dst, fam)
	newA := sumAddr(o.src, fam) + sumAddr(o.dst, fam)
	if fam == pkt.FamilyIPv4 {
		putAddr(frame[l3+v4SrcOff:], o.src, fam)
		putAddr(frame[l3+v4DstOff:], o.dst, fam)
		patch(frame[l3+v4CsumOff:], oldA, newA)
	} else {
		putAddr(frame[l3+v6SrcOff:], o.src, fam)
		putAddr(frame[l3+v6DstOff:], o.dst, fam)
	}
	osp, odp, nsp, ndp := qk.sport(), qk.dport(), o.sport(), o.dport()
	switch in.Proto {
	case pkt.ProtoTCP, pkt.ProtoUDP:
		binary.BigEndian.PutUint16(frame[l4:], nsp)
		binary.BigEndian.PutUint16(frame[l4+2:], ndp)
		oldS, newS := oldA+lePort(osp)+lePort(odp), newA+lePort(nsp)+lePort(ndp)
		if in.Proto == pkt.ProtoTCP {
			if l4+tcpCsumOff+2 <= end {
				patch(frame[l4+tcpCsumOff:], oldS, newS)
			}
		} else {
			patchUDP(frame[l4+udpCsumOff:], oldS, newS)
		}
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		oid, nid := osp, nsp
		if icmpQueryKind(fam, in.ICMPType) == 2 {
			oid, nid = odp, ndp
		}
		binary.BigEndian.PutUint16(frame[l4+icmpIDOff:], nid)
		oldS, newS := lePort(oid), lePort(nid)
		if in.Proto == pkt.ProtoICMPv6 {
			oldS += oldA
			newS += newA
		}
		patch(frame[l4+icmpCsumOff:], oldS, newS)
	}
}
