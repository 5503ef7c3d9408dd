package xlat

// ICMPv4 <-> ICMPv6 type, code, pointer and MTU maps (RFC 7915 sections 4.2
// and 5.2). Each map returns ReasonNone or why the message has no
// counterpart and is dropped.

import "github.com/gannet-net/gannet/pkt"

// icmp46 maps an ICMPv4 type and code to ICMPv6, with the rest-of-header
// field (echo ID/sequence, Parameter Problem pointer). Fragmentation
// Needed's MTU is left to the caller.
func icmp46(typ, code uint8, rest uint32) (uint8, uint8, uint32, Reason) {
	switch typ {
	case pkt.ICMPv4EchoRequest:
		return pkt.ICMPv6EchoRequest, 0, rest, ReasonNone
	case pkt.ICMPv4EchoReply:
		return pkt.ICMPv6EchoReply, 0, rest, ReasonNone
	case pkt.ICMPv4DestUnreach:
		switch code {
		case 0, 1, 5, 6, 7, 8, 11, 12: // net, host, source route failed, unknown net/host, isolated, net/host for TOS
			return pkt.ICMPv6DestUnreach, pkt.ICMPv6NoRoute, 0, ReasonNone
		case pkt.ICMPv4ProtoUnreach: // Parameter Problem, pointer at Next Header
			return pkt.ICMPv6ParamProblem, pkt.ICMPv6UnknownNextHeader, 6, ReasonNone
		case pkt.ICMPv4PortUnreach:
			return pkt.ICMPv6DestUnreach, pkt.ICMPv6PortUnreach, 0, ReasonNone
		case pkt.ICMPv4FragNeeded:
			return pkt.ICMPv6PacketTooBig, 0, 0, ReasonNone
		case 9, 10, 13, 15: // administratively prohibited, precedence cutoff
			return pkt.ICMPv6DestUnreach, pkt.ICMPv6AdminProhibited, 0, ReasonNone
		}
		return 0, 0, 0, ReasonICMPCode // 14 host precedence violation, unknown codes
	case pkt.ICMPv4TimeExceeded:
		if code > 1 {
			return 0, 0, 0, ReasonICMPCode
		}
		return pkt.ICMPv6TimeExceeded, code, 0, ReasonNone
	case pkt.ICMPv4ParamProblem:
		if code != 0 && code != 2 { // 1: missing required option; unknown codes
			return 0, 0, 0, ReasonICMPCode
		}
		ptr, ok := pointer46(uint8(rest >> 24))
		if !ok {
			return 0, 0, 0, ReasonICMPPointer
		}
		return pkt.ICMPv6ParamProblem, pkt.ICMPv6ErroneousHeader, ptr, ReasonNone
	}
	// Information, timestamp, address mask, router advertisement and
	// solicitation, redirect, source quench, alternative host address and
	// unknown types are single-hop or obsolete (RFC 7915 4.2).
	return 0, 0, 0, ReasonICMPType
}

// pointer46 maps an IPv4 Parameter Problem pointer to the IPv6 header
// (RFC 7915 Figure 3).
func pointer46(p uint8) (uint32, bool) {
	switch {
	case p == 0: // version/IHL -> version/traffic class
		return 0, true
	case p == 1: // type of service -> traffic class
		return 1, true
	case p == 2 || p == 3: // total length -> payload length
		return 4, true
	case p == 8: // TTL -> hop limit
		return 7, true
	case p == 9: // protocol -> next header
		return 6, true
	case p >= 12 && p <= 15: // source address
		return 8, true
	case p >= 16 && p <= 19: // destination address
		return 24, true
	}
	return 0, false // identification, flags/offset, checksum, options
}

// icmp64 maps an ICMPv6 type and code to ICMPv4. Packet Too Big's MTU is
// left to the caller.
func icmp64(typ, code uint8, rest uint32) (uint8, uint8, uint32, Reason) {
	switch typ {
	case pkt.ICMPv6EchoRequest:
		return pkt.ICMPv4EchoRequest, 0, rest, ReasonNone
	case pkt.ICMPv6EchoReply:
		return pkt.ICMPv4EchoReply, 0, rest, ReasonNone
	case pkt.ICMPv6DestUnreach:
		switch code {
		case pkt.ICMPv6NoRoute, pkt.ICMPv6BeyondScope, pkt.ICMPv6AddrUnreach:
			return pkt.ICMPv4DestUnreach, pkt.ICMPv4HostUnreach, 0, ReasonNone
		case pkt.ICMPv6AdminProhibited:
			return pkt.ICMPv4DestUnreach, pkt.ICMPv4HostProhibited, 0, ReasonNone
		case pkt.ICMPv6PortUnreach:
			return pkt.ICMPv4DestUnreach, pkt.ICMPv4PortUnreach, 0, ReasonNone
		}
		return 0, 0, 0, ReasonICMPCode
	case pkt.ICMPv6PacketTooBig:
		return pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, 0, ReasonNone
	case pkt.ICMPv6TimeExceeded:
		if code > 1 {
			return 0, 0, 0, ReasonICMPCode
		}
		return pkt.ICMPv4TimeExceeded, code, 0, ReasonNone
	case pkt.ICMPv6ParamProblem:
		switch code {
		case pkt.ICMPv6ErroneousHeader:
			ptr, ok := pointer64(rest)
			if !ok {
				return 0, 0, 0, ReasonICMPPointer
			}
			return pkt.ICMPv4ParamProblem, 0, uint32(ptr) << 24, ReasonNone
		case pkt.ICMPv6UnknownNextHeader:
			return pkt.ICMPv4DestUnreach, pkt.ICMPv4ProtoUnreach, 0, ReasonNone
		}
		return 0, 0, 0, ReasonICMPCode // unrecognized option, unknown codes
	}
	// MLD, neighbour discovery, unknown informational and error types.
	return 0, 0, 0, ReasonICMPType
}

// pointer64 maps an IPv6 Parameter Problem pointer to the IPv4 header
// (RFC 7915 Figure 6).
func pointer64(p uint32) (uint8, bool) {
	switch {
	case p == 0:
		return 0, true
	case p == 1: // traffic class/flow label -> type of service
		return 1, true
	case p == 4 || p == 5: // payload length -> total length
		return 2, true
	case p == 6: // next header -> protocol
		return 9, true
	case p == 7: // hop limit -> TTL
		return 8, true
	case p >= 8 && p <= 23:
		return 12, true
	case p >= 24 && p <= 39:
		return 16, true
	}
	return 0, false // flow label, beyond the fixed header
}

// plateaus are RFC 1191 section 7's likely MTUs, largest first.
var plateaus = [...]uint16{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// plateau returns the greatest plateau below total length n (RFC 7915
// 4.2: for a Fragmentation Needed whose MTU field is zero).
func plateau(n uint16) uint16 {
	for _, p := range plateaus {
		if p < n {
			return p
		}
	}
	return 68
}

// mtu46 is the Packet Too Big MTU for a Fragmentation Needed carrying mtu
// about a packet of totalLen bytes: minimum(advertised+20, IPv6 next hop,
// IPv4 next hop+20) (RFC 7915 4.2), with 8 more when the quoted packet
// travels with a fragment header, and never below the IPv6 minimum. mtu6
// is the IPv6 next hop's (the error's own); the IPv4 next hop's is only
// known as the ipv4MTU cap, when set.
func (t *Translator) mtu46(mtu, totalLen uint16, frag bool, mtu6 int) uint32 {
	m := uint32(mtu)
	if m == 0 {
		m = uint32(plateau(totalLen))
	}
	grow := uint32(pkt.IPv6Len - pkt.IPv4MinLen)
	if frag {
		grow += pkt.IPv6FragmentLen
	}
	v := min(m+grow, uint32(mtu6))
	if t.mtu4 > 0 {
		v = min(v, uint32(t.mtu4)+grow)
	}
	return max(v, pkt.IPv6MinMTU)
}

// mtu64 is the Fragmentation Needed MTU for a Packet Too Big carrying mtu:
// minimum(advertised-20, IPv4 next hop, IPv6 next hop-20) (RFC 7915 5.2).
// mtu4 is the IPv4 next hop's (the error's own); the IPv6 next hop's is
// only known as the ipv6MTU cap, when set.
func (t *Translator) mtu64(mtu uint32, mtu4 int) uint32 {
	const shrink = pkt.IPv6Len - pkt.IPv4MinLen
	m := uint32(minIPv4MTU)
	if mtu > shrink+minIPv4MTU {
		m = mtu - shrink
	}
	m = min(m, uint32(mtu4), 0xffff)
	if t.mtu6 > 0 {
		m = min(m, uint32(t.mtu6)-shrink)
	}
	return m
}
