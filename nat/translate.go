package nat

// In-place translation: a packet of direction d takes its new tuple from
// the key of the opposite direction, reversed. Checksums are patched by
// RFC 1624 deltas. Sums are taken over little-endian 16-bit words, as the
// keys hold addresses, and applied to the checksum field read the same
// way: the ones' complement sum does not care about byte order (RFC 1071
// section 2(B)), so no byte is swapped on the way.

import (
	"encoding/binary"
	"math/bits"

	"github.com/gannet-net/gannet/pkt"
)

// fold folds a sum of 16-bit words to 16 bits (ones' complement).
func fold(x uint64) uint16 {
	x = x>>32 + x&0xffffffff
	x = x>>16 + x&0xffff
	x = x>>16 + x&0xffff
	x = x>>16 + x&0xffff
	return uint16(x)
}

// sumAddr returns the sum of an address's little-endian words.
func sumAddr(w [2]uint64, fam pkt.Family) uint64 {
	if fam == pkt.FamilyIPv4 {
		a := w[0] & 0xffffffff
		return a&0xffff + a>>16
	}
	return w[0]&0xffff + w[0]>>16&0xffff + w[0]>>32&0xffff + w[0]>>48 +
		w[1]&0xffff + w[1]>>16&0xffff + w[1]>>32&0xffff + w[1]>>48
}

// lePort is a big-endian port value as the little-endian word the frame
// holds.
func lePort(p uint16) uint64 { return uint64(bits.ReverseBytes16(p)) }

// patch applies a checksum delta to the field at b[0:2].
func patch(b []byte, oldSum, newSum uint64) {
	cs := binary.LittleEndian.Uint16(b)
	binary.LittleEndian.PutUint16(b, pkt.ChecksumUpdateSum(cs, fold(oldSum), fold(newSum)))
}

// patchUDP is patch for a UDP checksum: zero means none (IPv4) and stays
// zero; a computed zero is sent as all ones.
func patchUDP(b []byte, oldSum, newSum uint64) {
	cs := binary.LittleEndian.Uint16(b)
	if cs == 0 {
		return
	}
	cs = pkt.ChecksumUpdateSum(cs, fold(oldSum), fold(newSum))
	binary.LittleEndian.PutUint16(b, pkt.UDPChecksumAfterUpdate(cs))
}

func putAddr(b []byte, w [2]uint64, fam pkt.Family) {
	if fam == pkt.FamilyIPv4 {
		binary.LittleEndian.PutUint32(b, uint32(w[0]))
		return
	}
	binary.LittleEndian.PutUint64(b, w[0])
	binary.LittleEndian.PutUint64(b[8:], w[1])
}

// Address offsets in the IP headers.
const (
	v4SrcOff, v4DstOff, v4CsumOff = 12, 16, 10
	v6SrcOff, v6DstOff            = 8, 24
	tcpCsumOff, udpCsumOff        = 16, 6
	icmpCsumOff, icmpIDOff        = 2, 4
)

// translate rewrites the packet whose key is k to the reverse of o, the
// key of the other direction, and updates the summary to match. It
// reports whether anything changed. Only the fields that change are
// written: source NAT touches the source, its replies the destination.
func translate(frame []byte, s *pkt.Summary, k, o *key) bool {
	nsrc, ndst := o.dst, o.src
	nsp, ndp := o.dport(), o.sport()
	osp, odp := k.sport(), k.dport()
	srcChanged, dstChanged := nsrc != k.src, ndst != k.dst
	if !srcChanged && !dstChanged && nsp == osp && ndp == odp {
		return false
	}
	fam := s.Family
	l3, l4 := int(s.L3Off), int(s.L4Off)
	oldA := sumAddr(k.src, fam) + sumAddr(k.dst, fam)
	newA := sumAddr(nsrc, fam) + sumAddr(ndst, fam)
	if fam == pkt.FamilyIPv4 {
		// An IPv4 summary keeps bytes 4-15 of its addresses zero.
		if srcChanged {
			binary.LittleEndian.PutUint32(frame[l3+v4SrcOff:], uint32(nsrc[0]))
			binary.LittleEndian.PutUint32(s.Src[:4], uint32(nsrc[0]))
		}
		if dstChanged {
			binary.LittleEndian.PutUint32(frame[l3+v4DstOff:], uint32(ndst[0]))
			binary.LittleEndian.PutUint32(s.Dst[:4], uint32(ndst[0]))
		}
		patch(frame[l3+v4CsumOff:], oldA, newA)
	} else {
		if srcChanged {
			putAddr(frame[l3+v6SrcOff:], nsrc, fam)
			putAddr(s.Src[:], nsrc, fam)
		}
		if dstChanged {
			putAddr(frame[l3+v6DstOff:], ndst, fam)
			putAddr(s.Dst[:], ndst, fam)
		}
	}
	switch s.Proto {
	case pkt.ProtoTCP, pkt.ProtoUDP:
		p := frame[l4 : l4+8]
		binary.BigEndian.PutUint16(p[0:], nsp)
		binary.BigEndian.PutUint16(p[2:], ndp)
		s.SrcPort, s.DstPort = nsp, ndp
		oldS, newS := oldA+lePort(osp)+lePort(odp), newA+lePort(nsp)+lePort(ndp)
		if s.Proto == pkt.ProtoTCP {
			patch(frame[l4+tcpCsumOff:], oldS, newS)
		} else {
			patchUDP(p[udpCsumOff:], oldS, newS)
		}
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		oid, nid := osp, nsp
		if icmpQueryKind(fam, s.ICMPType) == 2 {
			oid, nid = odp, ndp
		}
		binary.BigEndian.PutUint16(frame[l4+icmpIDOff:], nid)
		oldS, newS := lePort(oid), lePort(nid)
		if s.Proto == pkt.ProtoICMPv6 { // ICMPv6 covers a pseudo-header
			oldS += oldA
			newS += newA
		}
		patch(frame[l4+icmpCsumOff:], oldS, newS)
		s.ICMPID = nid
	}
	return true
}

// delta is the RFC 1624 checksum delta of covered words whose sum goes
// from oldSum to newSum: ~m + m' in ones' complement. Adding it to a
// complemented checksum field (patchDelta) is the same update as
// ChecksumUpdateSum(cs, fold(oldSum), fold(newSum)).
func delta(oldSum, newSum uint64) uint16 {
	return fold(uint64(^fold(oldSum)) + uint64(fold(newSum)))
}

// xlPair returns the checksum deltas a session stores: in the low 32 bits
// those of translating a packet of k0 to the reverse of k1, as translate
// does it, in the high 32 those of translating a packet of k1 to the
// reverse of k0. Each half has the IPv4 header delta (the addresses) in
// its high 16 bits and the transport delta in the low 16 — addresses and
// ports for TCP and UDP, the identifier for ICMP queries (plus the
// addresses for ICMPv6, whose checksum covers a pseudo-header), zero for
// protocols translate leaves the transport of. Translating back undoes
// translating forth, so each delta of the reply direction is the ones'
// complement negation of the original's (xlDeltas in the tests computes
// each direction on its own).
func xlPair(k0, k1 *key) uint64 {
	fam, proto := pkt.Family(k0.m>>40), uint8(k0.m>>32)
	a0 := sumAddr(k0.src, fam) + sumAddr(k0.dst, fam)
	a1 := sumAddr(k1.src, fam) + sumAddr(k1.dst, fam)
	p0 := lePort(k0.sport()) + lePort(k0.dport())
	p1 := lePort(k1.sport()) + lePort(k1.dport())
	var fwd, back uint32
	switch proto {
	case pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMPv6:
		d := delta(a0+p0, a1+p1)
		fwd, back = uint32(d), uint32(negDelta(d, a0+p0, a1+p1))
	case pkt.ProtoICMP:
		d := delta(p0, p1)
		fwd, back = uint32(d), uint32(negDelta(d, p0, p1))
	}
	if fam == pkt.FamilyIPv4 {
		d := delta(a0, a1)
		fwd |= uint32(d) << 16
		back |= uint32(negDelta(d, a0, a1)) << 16
	}
	return uint64(fwd) | uint64(back)<<32
}

// negDelta returns delta(newSum, oldSum) given d = delta(oldSum, newSum):
// ^d, but the ones' complement zero stays 0xffff, the form delta gives
// it; from an all-zero sum, the one case where that rule fails
// (TestNegDelta tries every pair of folded sums), it is computed.
func negDelta(d uint16, oldSum, newSum uint64) uint16 {
	switch {
	case oldSum == 0:
		return delta(newSum, oldSum)
	case d == 0xffff:
		return d
	}
	return ^d
}

// patchDelta applies delta d to the checksum field at b.
func patchDelta(b *[2]byte, d uint16) {
	cs := uint32(^binary.LittleEndian.Uint16(b[:])) + uint32(d)
	cs = cs>>16 + cs&0xffff
	binary.LittleEndian.PutUint16(b[:], ^uint16(cs))
}

// translateFast is translate for a packet of key k whose session holds
// the deltas xl (xlPair's half for k): the checksums are patched by adding
// them, no sum is taken. It writes the same bytes as translate. Headers
// are taken as fixed-size arrays, one bounds check each, so that every
// field access after it is a plain move.
func translateFast(frame []byte, s *pkt.Summary, k, o *key, xl uint32) bool {
	// Word by word: the keys were written a word at a time (by probe),
	// and a 16-byte array copy would read across two of those stores,
	// which the processor cannot forward.
	ns0, ns1, nd0, nd1 := o.dst[0], o.dst[1], o.src[0], o.src[1]
	srcChanged := (ns0^k.src[0])|(ns1^k.src[1]) != 0
	dstChanged := (nd0^k.dst[0])|(nd1^k.dst[1]) != 0
	// The new ports are the other direction's, swapped: o.m holds
	// sport<<16|dport, so its low word rotated is dport<<16|sport.
	ports := bits.RotateLeft32(uint32(o.m), 16)
	if !srcChanged && !dstChanged && ports == uint32(k.m) {
		return false
	}
	if s.Family == pkt.FamilyIPv4 {
		ip := (*[20]byte)(frame[s.L3Off:])
		if srcChanged {
			binary.LittleEndian.PutUint32(ip[v4SrcOff:], uint32(ns0))
			binary.LittleEndian.PutUint32(s.Src[:4], uint32(ns0))
		}
		if dstChanged {
			binary.LittleEndian.PutUint32(ip[v4DstOff:], uint32(nd0))
			binary.LittleEndian.PutUint32(s.Dst[:4], uint32(nd0))
		}
		patchDelta((*[2]byte)(ip[v4CsumOff:]), uint16(xl>>16))
	} else {
		ip := (*[40]byte)(frame[s.L3Off:])
		if srcChanged {
			binary.LittleEndian.PutUint64(ip[v6SrcOff:], ns0)
			binary.LittleEndian.PutUint64(ip[v6SrcOff+8:], ns1)
			binary.LittleEndian.PutUint64(s.Src[:8], ns0)
			binary.LittleEndian.PutUint64(s.Src[8:], ns1)
		}
		if dstChanged {
			binary.LittleEndian.PutUint64(ip[v6DstOff:], nd0)
			binary.LittleEndian.PutUint64(ip[v6DstOff+8:], nd1)
			binary.LittleEndian.PutUint64(s.Dst[:8], nd0)
			binary.LittleEndian.PutUint64(s.Dst[8:], nd1)
		}
	}
	nsp, ndp := uint16(ports>>16), uint16(ports)
	switch s.Proto {
	case pkt.ProtoTCP:
		p := (*[20]byte)(frame[s.L4Off:])
		binary.BigEndian.PutUint32(p[:4], ports)
		s.SrcPort, s.DstPort = nsp, ndp
		patchDelta((*[2]byte)(p[tcpCsumOff:]), uint16(xl))
	case pkt.ProtoUDP:
		p := (*[8]byte)(frame[s.L4Off:])
		binary.BigEndian.PutUint32(p[:4], ports)
		s.SrcPort, s.DstPort = nsp, ndp
		cs := (*[2]byte)(p[udpCsumOff:])
		if cs[0]|cs[1] != 0 { // zero: no checksum (IPv4)
			patchDelta(cs, uint16(xl))
			if cs[0]|cs[1] == 0 {
				cs[0], cs[1] = 0xff, 0xff
			}
		}
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		p := (*[8]byte)(frame[s.L4Off:])
		nid := nsp
		if icmpQueryKind(s.Family, s.ICMPType) == 2 {
			nid = ndp
		}
		binary.BigEndian.PutUint16(p[icmpIDOff:], nid)
		patchDelta((*[2]byte)(p[icmpCsumOff:]), uint16(xl))
		s.ICMPID = nid
	}
	return true
}
