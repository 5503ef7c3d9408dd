package pkt

import (
	"encoding/binary"
	"math/bits"
)

// Parsing: one pass over the headers of a frame, filling a caller-owned
// Summary. Every read is bounds-checked against the frame and the lengths the
// headers declare; nothing is allocated. The order of checks follows the
// order of the headers, and the first problem found sets the verdict.

// MaxIPv6ExtHeaders bounds the extension-header walk. RFC 8200 allows any
// number; real traffic carries at most a few, and an unbounded walk is a
// denial-of-service lever.
const MaxIPv6ExtHeaders = 8

// Parse reads the Ethernet frame and fills s. It returns s.Verdict.
func Parse(frame []byte, s *Summary) Verdict {
	*s = Summary{}
	if len(frame) < EthernetLen {
		return s.fail(Malformed, ReasonEthernetTruncated)
	}
	et := binary.BigEndian.Uint16(frame[ethTypeOff:])
	off := EthernetLen
	if et == EtherTypeVLAN || et == EtherTypeQinQ {
		s.Flags |= FlagVLAN
		for tags := 0; et == EtherTypeVLAN || et == EtherTypeQinQ; tags++ {
			if tags == maxVLANTags {
				return s.fail(Unsupported, ReasonVLANTooDeep)
			}
			if len(frame) < off+VLANTagLen {
				return s.fail(Malformed, ReasonVLANTruncated)
			}
			if tags == 0 {
				s.VLAN = VLANTag(frame[off:]).ID()
			}
			et = binary.BigEndian.Uint16(frame[off+vlanTypeOff:])
			off += VLANTagLen
		}
	}
	s.EtherType = et
	s.L3Off = uint16(off)
	switch et {
	case EtherTypeIPv4:
		return parseIPv4(frame, off, s, false)
	case EtherTypeIPv6:
		return parseIPv6(frame, off, s, false)
	case EtherTypeARP:
		return parseARP(frame, off, s)
	}
	return s.fail(Unsupported, ReasonEtherTypeUnsupported)
}

// ParseIP reads a bare IP packet (no link-layer header: a TUN device, a
// raw-IP capture), choosing IPv4 or IPv6 by the version nibble.
func ParseIP(packet []byte, s *Summary) Verdict {
	*s = Summary{}
	if len(packet) == 0 {
		return s.fail(Malformed, ReasonIPv4Truncated)
	}
	if packet[0]>>4 == 6 {
		return parseIPv6(packet, 0, s, false)
	}
	return parseIPv4(packet, 0, s, false)
}

// ParseQuoted parses the packet quoted in the ICMP or ICMPv6 error that
// outer describes (outer.Flags has FlagICMPError) into inner. Offsets in
// inner are from the start of frame, the slice outer was parsed from.
//
// A quote is usually cut short (RFC 792 asks for only the IP header and 8
// bytes, RFC 1812 and RFC 4443 for as much as fits), so ParseQuoted is
// lenient where Parse is strict: the quoted length may exceed what is
// there (FlagTruncated), the IPv4 header checksum is not verified, and a
// TCP header needs only its first 8 bytes (the ports).
func ParseQuoted(frame []byte, outer *Summary, inner *Summary) Verdict {
	*inner = Summary{}
	end := outer.End()
	if end > len(frame) || outer.Flags&FlagICMPError == 0 {
		return inner.fail(Malformed, ReasonICMPTruncated)
	}
	off := int(outer.PayloadOff)
	inner.L3Off = uint16(off)
	if outer.Family == FamilyIPv6 {
		return parseIPv6(frame[:end], off, inner, true)
	}
	return parseIPv4(frame[:end], off, inner, true)
}

func (s *Summary) fail(v Verdict, r Reason) Verdict {
	s.Verdict, s.Reason = v, r
	return v
}

func parseARP(b []byte, off int, s *Summary) Verdict {
	if len(b) < off+ARPLen {
		return s.fail(Malformed, ReasonARPTruncated)
	}
	a := ARP(b[off : off+ARPLen])
	if !a.IsEthernetIPv4() {
		return s.fail(Unsupported, ReasonARPFormat)
	}
	s.ARPOp = a.Op()
	copy(s.Src[:4], b[off+arpSPAOff:off+arpSPAOff+4])
	copy(s.Dst[:4], b[off+arpTPAOff:off+arpTPAOff+4])
	s.L3Len = ARPLen
	s.L4Off, s.PayloadOff = uint16(off+ARPLen), uint16(off+ARPLen)
	return OK
}

func parseIPv4(b []byte, off int, s *Summary, quoted bool) Verdict {
	h := b[off:]
	if len(h) < IPv4MinLen {
		return s.fail(Malformed, ReasonIPv4Truncated)
	}
	if h[ipv4VerIHLOff]>>4 != 4 {
		return s.fail(Malformed, ReasonIPv4Version)
	}
	ihl := int(h[ipv4VerIHLOff]&0x0f) * 4
	if ihl < IPv4MinLen {
		return s.fail(Malformed, ReasonIPv4IHL)
	}
	if ihl > len(h) {
		return s.fail(Malformed, ReasonIPv4HeaderTruncated)
	}
	total := int(binary.BigEndian.Uint16(h[ipv4TotalLenOff:]))
	if total < ihl {
		return s.fail(Malformed, ReasonIPv4TotalLength)
	}
	end := off + total
	if total > len(h) {
		if !quoted {
			return s.fail(Malformed, ReasonIPv4TotalTruncated)
		}
		s.Flags |= FlagTruncated
		end = len(b)
	}
	if !quoted && !ipv4HeaderValid(h[:ihl]) {
		return s.fail(Malformed, ReasonIPv4Checksum)
	}
	s.Family = FamilyIPv4
	s.L3Off = uint16(off)
	s.L3Len = uint16(total)
	s.TOS = h[ipv4TOSOff]
	s.TTL = h[ipv4TTLOff]
	s.Proto = h[ipv4ProtoOff]
	s.FragID = uint32(binary.BigEndian.Uint16(h[ipv4IDOff:]))
	copy(s.Src[:4], h[ipv4SrcOff:ipv4SrcOff+4])
	copy(s.Dst[:4], h[ipv4DstOff:ipv4DstOff+4])
	if ihl > IPv4MinLen {
		s.Flags |= FlagIPv4Options
	}
	l4 := off + ihl
	s.L4Off, s.PayloadOff = uint16(l4), uint16(l4)

	ff := binary.BigEndian.Uint16(h[ipv4FlagsFragOff:])
	if ff&ipv4FlagDF != 0 {
		s.Flags |= FlagDontFragment
	}
	if ff&(ipv4FlagMF|ipv4FragOffMask) != 0 {
		fo := (ff & ipv4FragOffMask) * 8
		s.FragOff = fo
		s.Flags |= FlagFragment
		if ff&ipv4FlagMF != 0 {
			s.Flags |= FlagMoreFragments
		}
		if int(fo)+total-ihl > IPv4MaxPacketSize {
			return s.fail(Malformed, ReasonIPv4FragmentTooLong)
		}
		if fo != 0 {
			// RFC 1858: a TCP fragment at offset 8 can overwrite the
			// flags of the first; nothing legitimate does this.
			if fo == 8 && s.Proto == ProtoTCP {
				return s.fail(Malformed, ReasonIPv4TinyFragment)
			}
			return OK // no upper-layer header in a non-first fragment
		}
		s.Flags |= FlagFirstFragment
	}
	// A fragment with more to come whose data is not a multiple of 8
	// octets passes: it can never be reassembled, but discarding it is
	// the reassembling host's rule (RFC 8200 4.5 lists it among "error
	// conditions [that] may arise when reassembling fragmented packets"),
	// not a router's or a translator's, which forward fragments as they
	// are (RFC 7915 4.1 and 5.1.1 translate every fragment).
	return parseL4(b[:end], l4, s, quoted)
}

// ipv4HeaderValid verifies the header checksum. The 20-byte case, nearly
// every packet, is three little-endian loads added with carry: a valid
// header sums to all ones, which reads the same in either byte order.
func ipv4HeaderValid(h []byte) bool {
	if len(h) == IPv4MinLen {
		acc, c := bits.Add64(binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16]), 0)
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(h[16:20])), c)
		acc, c = bits.Add64(acc, 0, c)
		return fold64(acc+c) == 0xffff
	}
	return Checksum(h, 0) == 0xffff
}

func parseIPv6(b []byte, off int, s *Summary, quoted bool) Verdict {
	h := b[off:]
	if len(h) < IPv6Len {
		return s.fail(Malformed, ReasonIPv6Truncated)
	}
	if h[ipv6VerTCFLOff]>>4 != 6 {
		return s.fail(Malformed, ReasonIPv6Version)
	}
	plen := int(binary.BigEndian.Uint16(h[ipv6PayloadLenOff:]))
	nh := h[ipv6NextHdrOff]
	if plen == 0 && nh == ProtoHopByHop {
		return s.fail(Unsupported, ReasonIPv6Jumbogram)
	}
	total := IPv6Len + plen
	end := off + total
	if total > len(h) {
		if !quoted {
			return s.fail(Malformed, ReasonIPv6PayloadTruncated)
		}
		s.Flags |= FlagTruncated
		end = len(b)
	}
	s.Family = FamilyIPv6
	s.L3Off = uint16(off)
	s.L3Len = uint16(total)
	s.TOS = uint8(binary.BigEndian.Uint16(h[ipv6VerTCFLOff:]) >> 4)
	s.TTL = h[ipv6HopLimitOff]
	s.Src = [16]byte(h[ipv6SrcOff : ipv6SrcOff+16])
	s.Dst = [16]byte(h[ipv6DstOff : ipv6DstOff+16])

	cur := off + IPv6Len
	for n := 0; IsExtensionHeader(nh); n++ {
		if n == MaxIPv6ExtHeaders {
			return s.fail(Malformed, ReasonIPv6ExtChainTooLong)
		}
		if nh == ProtoHopByHop && n != 0 {
			return s.fail(Malformed, ReasonIPv6HopByHopNotFirst)
		}
		if cur+2 > end {
			return s.firstFragmentCut(ReasonIPv6ExtTruncated)
		}
		l := ExtHeaderLen(nh, b[cur+1])
		if cur+l > end {
			return s.firstFragmentCut(ReasonIPv6ExtTruncated)
		}
		s.Flags |= FlagIPv6ExtHeaders
		switch nh {
		case ProtoFragment:
			if s.FragHdrOff != 0 {
				return s.fail(Malformed, ReasonIPv6FragmentRepeated)
			}
			f := IPv6Fragment(b[cur : cur+IPv6FragmentLen])
			s.FragHdrOff = uint16(cur)
			s.FragID = f.ID()
			s.FragOff = f.Offset()
			frag := end - (cur + IPv6FragmentLen) // fragment payload length
			if s.FragOff != 0 || f.MF() {
				s.Flags |= FlagFragment
				if f.MF() {
					s.Flags |= FlagMoreFragments // any length: see parseIPv4
				}
				if int(s.FragOff)+frag > IPv4MaxPacketSize {
					return s.fail(Malformed, ReasonIPv6FragmentTooLong)
				}
			}
			if s.FragOff != 0 {
				s.Proto = f.NextHeader()
				s.L4Off = uint16(cur + IPv6FragmentLen)
				s.PayloadOff = s.L4Off
				return OK
			}
			if s.Flags&FlagFragment != 0 {
				s.Flags |= FlagFirstFragment
			}
		case ProtoRouting:
			if IPv6Routing(b[cur:]).SegmentsLeft() != 0 {
				s.Flags |= FlagIPv6Routing
			}
		}
		nh = b[cur]
		cur += l
	}
	s.Proto = nh
	s.L4Off, s.PayloadOff = uint16(cur), uint16(cur)
	return parseL4(b[:end], cur, s, quoted)
}

// firstFragmentCut reports a header cut short. In a first fragment that is
// an RFC 7112 violation (the whole header chain must be in the first
// fragment) or an RFC 1858 tiny fragment, and gets that reason instead.
func (s *Summary) firstFragmentCut(r Reason) Verdict {
	if s.Flags&FlagFirstFragment != 0 && s.Flags&FlagTruncated == 0 {
		if s.Family == FamilyIPv6 {
			r = ReasonIPv6FragmentChain
		} else {
			r = ReasonIPv4TinyFragment
		}
	}
	return s.fail(Malformed, r)
}

// parseL4 reads the upper-layer header at off; b ends where the IP packet
// (or the available quote) ends.
func parseL4(b []byte, off int, s *Summary, quoted bool) Verdict {
	seg := b[off:]
	switch s.Proto {
	case ProtoTCP:
		if len(seg) < TCPMinLen && !(quoted && len(seg) >= 8) {
			return s.firstFragmentCut(ReasonTCPTruncated)
		}
		s.SrcPort = binary.BigEndian.Uint16(seg[tcpSrcPortOff:])
		s.DstPort = binary.BigEndian.Uint16(seg[tcpDstPortOff:])
		s.Flags |= FlagPorts
		if len(seg) < TCPMinLen {
			return OK // a quote cut after the ports and sequence number
		}
		s.TCPFlags = seg[tcpFlagsOff]
		doff := int(seg[tcpDataOffOff]>>4) * 4
		if doff < TCPMinLen || (doff > len(seg) && !quoted) {
			return s.fail(Malformed, ReasonTCPDataOffset)
		}
		s.PayloadOff = uint16(off + min(doff, len(seg)))
	case ProtoUDP:
		if len(seg) < UDPLen {
			return s.firstFragmentCut(ReasonUDPTruncated)
		}
		s.SrcPort = binary.BigEndian.Uint16(seg[udpSrcPortOff:])
		s.DstPort = binary.BigEndian.Uint16(seg[udpDstPortOff:])
		s.Flags |= FlagPorts
		// The UDP length covers the whole datagram, which a first
		// fragment or a quote does not hold.
		ulen := int(binary.BigEndian.Uint16(seg[udpLengthOff:]))
		if ulen < UDPLen || (ulen > len(seg) && !quoted && s.Flags&FlagFragment == 0) {
			return s.fail(Malformed, ReasonUDPLength)
		}
		if binary.BigEndian.Uint16(seg[UDPChecksumOff:]) == 0 {
			s.Flags |= FlagUDPZeroChecksum
		}
		s.PayloadOff = uint16(off + UDPLen)
	case ProtoICMP:
		if s.Family != FamilyIPv4 {
			return OK
		}
		if len(seg) < ICMPHeaderLen {
			return s.firstFragmentCut(ReasonICMPTruncated)
		}
		s.ICMPType, s.ICMPCode = seg[icmpTypeOff], seg[icmpCodeOff]
		if IsICMPv4Query(s.ICMPType) {
			s.Flags |= FlagICMPQuery
			s.ICMPID = binary.BigEndian.Uint16(seg[icmpIDOff:])
		} else if IsICMPv4Error(s.ICMPType) {
			s.Flags |= FlagICMPError
		}
		s.PayloadOff = uint16(off + ICMPHeaderLen)
	case ProtoICMPv6:
		if s.Family != FamilyIPv6 {
			return OK
		}
		if len(seg) < ICMPHeaderLen {
			return s.firstFragmentCut(ReasonICMPv6Truncated)
		}
		s.ICMPType, s.ICMPCode = seg[icmpTypeOff], seg[icmpCodeOff]
		if IsICMPv6Query(s.ICMPType) {
			s.Flags |= FlagICMPQuery
			s.ICMPID = binary.BigEndian.Uint16(seg[icmpIDOff:])
		} else if IsICMPv6Error(s.ICMPType) {
			s.Flags |= FlagICMPError
		}
		s.PayloadOff = uint16(off + ICMPHeaderLen)
	}
	return OK
}
