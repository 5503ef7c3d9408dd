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
