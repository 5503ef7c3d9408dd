package pkt

// Builders for the packets a router sends itself: ICMP errors about a packet
// it cannot forward, and answers for the gateway address on workload ports
// (ARP replies, neighbour advertisements). Each writes into a caller's
// buffer and returns the length written; none allocates.
//
// The ICMP error builders may run in place: when orig starts exactly
// ICMPv4ErrorHeaderLen (or ICMPv6ErrorHeaderLen) bytes into dst, the quoted
// packet is already where it belongs and only the new headers are written
// in front of it, into the frame's headroom. Any other overlap works too:
// every field of orig is read before anything is written.

// BuildError says why a builder wrote nothing. The values are small
// integers so a data path can count them in an array.
type BuildError uint8

const (
	_ BuildError = iota
	ErrBufferTooSmall
	ErrOrigMalformed   // the packet to quote has no readable IP header
	ErrOrigICMPError   // no error about an ICMP error (RFC 1812 4.3.2.7, RFC 4443 2.4 e.1)
	ErrOrigFragment    // no ICMPv4 error about a non-first fragment (RFC 1812 4.3.2.7)
	ErrOrigNotUnicast  // orig's source or destination is not a unique unicast host
	ErrNotARPRequest   // the frame is not an Ethernet/IPv4 ARP request
	ErrNotSolicitation // the frame is not a valid neighbour solicitation (RFC 4861 7.1.1)
	numBuildErrors
)

var buildErrorNames = [numBuildErrors]string{
	ErrBufferTooSmall:  "buffer too small",
	ErrOrigMalformed:   "quoted packet malformed",
	ErrOrigICMPError:   "no ICMP error about an ICMP error",
	ErrOrigFragment:    "no ICMP error about a non-first fragment",
	ErrOrigNotUnicast:  "no ICMP error for a non-unicast source or destination",
	ErrNotARPRequest:   "not an ARP request",
	ErrNotSolicitation: "not a valid neighbour solicitation",
}

func (e BuildError) Error() string {
	if e < numBuildErrors && e != 0 {
		return "pkt: " + buildErrorNames[e]
	}
	return "pkt: build error"
}

const (
	// ICMPv4ErrorHeaderLen is what an ICMPv4 error puts before the quote.
	ICMPv4ErrorHeaderLen = IPv4MinLen + ICMPHeaderLen
	// ICMPv6ErrorHeaderLen is what an ICMPv6 error puts before the quote.
	ICMPv6ErrorHeaderLen = IPv6Len + ICMPHeaderLen
	// ICMPv4ErrorMaxLen caps an ICMPv4 error (RFC 1812 4.3.2.3: quote as
	// much as fits in 576 bytes).
	ICMPv4ErrorMaxLen = 576
	// ICMPv6ErrorMaxLen caps an ICMPv6 error (RFC 4443 2.4 c: as much as
	// fits in the minimum IPv6 MTU).
	ICMPv6ErrorMaxLen = IPv6MinMTU

	// RouterTTL is the TTL / hop limit of packets the router originates.
	RouterTTL = 64
	// tosInternetControl is precedence 6, which RFC 1812 4.3.2.5 asks
	// for ICMP errors.
	tosInternetControl = 0xc0
)

// Rest-of-header values for the ICMP error builders.

// RestMTU4 is the rest field of an ICMPv4 Fragmentation Needed (RFC 1191).
func RestMTU4(mtu uint16) uint32 { return uint32(mtu) }

// RestPointer4 is the rest field of an ICMPv4 Parameter Problem.
func RestPointer4(ptr uint8) uint32 { return uint32(ptr) << 24 }

// BuildICMPv4Error writes into dst an IPv4 packet from src to orig's source
// carrying an ICMP error of the given type and code about orig (an IPv4
// packet from its IP header on). rest is the type-specific field: zero, a
// next-hop MTU (RestMTU4) or a pointer (RestPointer4). The quote is as much
// of orig as fits in 576 bytes. It refuses, as RFC 1812 section 4.3.2.7
// requires, to answer an ICMP error, a non-first fragment, or a packet
// whose source is not a unique unicast host or whose destination is
// broadcast or multicast.
func BuildICMPv4Error(dst, orig []byte, src [4]byte, typ, code uint8, rest uint32) (int, error) {
	var s Summary
	if len(orig) < IPv4MinLen {
		return 0, ErrOrigMalformed
	}
	parseIPv4(orig, 0, &s, true)
	if s.Family != FamilyIPv4 {
		return 0, ErrOrigMalformed
	}
	if s.FragOff != 0 {
		return 0, ErrOrigFragment
	}
	if s.Flags&FlagICMPError != 0 {
		return 0, ErrOrigICMPError
	}
	to := [4]byte(s.Src[:4])
	if !unicast4(to) || s.Dst[0] >= 224 {
		return 0, ErrOrigNotUnicast
	}
	q := min(len(orig), int(s.L3Len), ICMPv4ErrorMaxLen-ICMPv4ErrorHeaderLen)
	n := ICMPv4ErrorHeaderLen + q
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	copy(dst[ICMPv4ErrorHeaderLen:n], orig[:q])

	ip := IPv4(dst[:IPv4MinLen])
	ip.SetVersionIHL(IPv4MinLen)
	ip.SetTOS(tosInternetControl)
	ip.SetTotalLen(uint16(n))
	ip.SetID(0)
	ip.SetFragment(true, false, 0) // DF with ID 0: an atomic datagram (RFC 6864)
	ip.SetTTL(RouterTTL)
	ip.SetProtocol(ProtoICMP)
	ip.SetSrc(src)
	ip.SetDst(to)
	ip.SetChecksum(0)
	ip.SetChecksum(ip.ComputeChecksum())

	ic := ICMP(dst[IPv4MinLen:n])
	ic.SetType(typ)
	ic.SetCode(code)
	ic.SetChecksum(0)
	ic.SetRest(rest)
	ic.SetChecksum(TransportChecksum(0, ic))
	return n, nil
}

// unicast4 reports whether a is a possible unique host source: not
// 0.0.0.0/8 "this network", loopback, multicast, reserved class E or the
// limited broadcast (RFC 1812 section 4.3.2.7 and 5.3.7).
func unicast4(a [4]byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

// BuildICMPv6Error writes into dst an IPv6 packet from src to orig's source
// carrying an ICMPv6 error of the given type and code about orig (an IPv6
// packet from its fixed header on). rest is the type-specific field: zero,
// the MTU of a Packet Too Big, or a Parameter Problem pointer. The quote is
// as much of orig as fits in 1280 bytes. It refuses, as RFC 4443 section
// 2.4 (e) requires, to answer an ICMPv6 error or redirect, a packet from
// the unspecified or a multicast source, or a packet sent to a multicast
// address unless the error is Packet Too Big or a Parameter Problem about
// an unrecognized option (code 2).
func BuildICMPv6Error(dst, orig []byte, src [16]byte, typ, code uint8, rest uint32) (int, error) {
	var s Summary
	if len(orig) < IPv6Len {
		return 0, ErrOrigMalformed
	}
	parseIPv6(orig, 0, &s, true)
	if s.Family != FamilyIPv6 {
		return 0, ErrOrigMalformed
	}
	if s.Flags&FlagICMPError != 0 || (s.Proto == ProtoICMPv6 && s.ICMPType == ICMPv6Redirect) {
		return 0, ErrOrigICMPError
	}
	to := s.Src
	if to == ([16]byte{}) || to[0] == 0xff {
		return 0, ErrOrigNotUnicast
	}
	if s.Dst[0] == 0xff && typ != ICMPv6PacketTooBig &&
		(typ != ICMPv6ParamProblem || code != ICMPv6UnknownOption) {
		return 0, ErrOrigNotUnicast
	}
	q := min(len(orig), int(s.L3Len), ICMPv6ErrorMaxLen-ICMPv6ErrorHeaderLen)
	n := ICMPv6ErrorHeaderLen + q
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	copy(dst[ICMPv6ErrorHeaderLen:n], orig[:q])

	ip := IPv6(dst[:IPv6Len])
	ip.SetVersionTCFlow(0, 0)
	ip.SetPayloadLen(uint16(n - IPv6Len))
	ip.SetNextHeader(ProtoICMPv6)
	ip.SetHopLimit(RouterTTL)
	ip.SetSrc(src)
	ip.SetDst(to)

	ic := ICMP(dst[IPv6Len:n])
	ic.SetType(typ)
	ic.SetCode(code)
	ic.SetChecksum(0)
	ic.SetRest(rest)
	ic.SetChecksum(TransportChecksum(PseudoHeaderSum6(src[:], to[:], ProtoICMPv6, uint32(len(ic))), ic))
	return n, nil
}

// BuildARPReply writes into dst the reply to the Ethernet/IPv4 ARP request
// in frame, answering that frame's target address with mac: the proxy-ARP
// answer for the gateway on a workload port. VLAN tags of the request are
// kept. dst may be frame itself (answered in place).
func BuildARPReply(dst, frame []byte, mac MAC) (int, error) {
	var s Summary
	if Parse(frame, &s) != OK || s.EtherType != EtherTypeARP || s.ARPOp != ARPRequest {
		return 0, ErrNotARPRequest
	}
	l3 := int(s.L3Off)
	n := l3 + ARPLen
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	req := ARP(frame[l3:n])
	asker, askerIP, target := req.SenderMAC(), req.SenderIP(), req.TargetIP()
	copy(dst[:l3], frame[:l3]) // EtherType and VLAN tags
	Ethernet(dst).SetDst(asker)
	Ethernet(dst).SetSrc(mac)
	a := ARP(dst[l3:n])
	a.setEthernetIPv4()
	a.SetOp(ARPReply)
	a.SetSenderMAC(mac)
	a.SetSenderIP(target)
	a.SetTargetMAC(asker)
	a.SetTargetIP(askerIP)
	return n, nil
}

// NeighborAdvertLen is the length of the frame BuildNeighborAdvert writes
// for an untagged solicitation.
const NeighborAdvertLen = EthernetLen + IPv6Len + NDPLen + ndpLLAddrOptLen

// allNodes is ff02::1, where an advertisement answering duplicate address
// detection goes (RFC 4861 section 7.2.4).
var allNodes = [16]byte{0xff, 0x02, 15: 1}

// BuildNeighborAdvert writes into dst the neighbour advertisement that
// answers the solicitation in frame, for its target address, with mac in
// a target link-layer address option: the proxy-ND answer for the gateway
// (fe80::1) on a workload port. router sets the R flag. The solicitation
// must pass RFC 4861 section 7.1.1 validation (hop limit 255, code 0,
// target not multicast, no source link-layer option from the unspecified
// address). dst may be frame itself.
func BuildNeighborAdvert(dst, frame []byte, mac MAC, router bool) (int, error) {
	var s Summary
	if Parse(frame, &s) != OK || s.Family != FamilyIPv6 || s.Proto != ProtoICMPv6 ||
		s.ICMPType != ICMPv6NeighborSol || s.ICMPCode != 0 || s.TTL != 255 ||
		s.Flags&FlagIPv6ExtHeaders != 0 || s.End()-int(s.L4Off) < NDPLen {
		return 0, ErrNotSolicitation
	}
	l3 := int(s.L3Off)
	ns := NDP(frame[s.L4Off:s.End()])
	target := ns.Target()
	if target[0] == 0xff {
		return 0, ErrNotSolicitation
	}
	pseudo := PseudoHeaderSum6(s.Src[:], s.Dst[:], ProtoICMPv6, uint32(len(ns)))
	if !VerifyTransport(pseudo, ns) {
		return 0, ErrNotSolicitation
	}
	_, hasSLLA := ns.LinkLayerAddr(NDPOptSourceLLAddr)
	dad := s.Src == [16]byte{}
	if dad && hasSLLA {
		return 0, ErrNotSolicitation
	}
	n := l3 + IPv6Len + NDPLen + ndpLLAddrOptLen
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	flags := uint32(NDPFlagOverride)
	if router {
		flags |= NDPFlagRouter
	}
	to, toMAC := s.Src, Ethernet(frame).Src()
	if dad {
		to, toMAC = allNodes, MAC{0x33, 0x33, 0, 0, 0, 1}
	} else {
		flags |= NDPFlagSolicit
	}

	copy(dst[:l3], frame[:l3]) // EtherType and VLAN tags
	Ethernet(dst).SetDst(toMAC)
	Ethernet(dst).SetSrc(mac)
	ip := IPv6(dst[l3 : l3+IPv6Len])
	ip.SetVersionTCFlow(0, 0)
	ip.SetPayloadLen(NDPLen + ndpLLAddrOptLen)
	ip.SetNextHeader(ProtoICMPv6)
	ip.SetHopLimit(255)
	ip.SetSrc(target)
	ip.SetDst(to)
	na := NDP(dst[l3+IPv6Len : n])
	ic := ICMP(na)
	ic.SetType(ICMPv6NeighborAdv)
	ic.SetCode(0)
	ic.SetChecksum(0)
	ic.SetRest(flags)
	na.SetTarget(target)
	opt := na[NDPOptionsOff:]
	opt[0], opt[1] = NDPOptTargetLLAddr, 1
	copy(opt[2:8], mac[:])
	ic.SetChecksum(TransportChecksum(PseudoHeaderSum6(target[:], to[:], ProtoICMPv6, uint32(len(na))), na))
	return n, nil
}
