package pkt

import (
	"net/netip"
	"strconv"
)

// Text form of a Summary, for people: `gannet pcap`, test failures, logs on
// control paths. Never called per packet on the data path.

// String returns the one-line text form of s.
func (s *Summary) String() string { return string(s.AppendText(nil)) }

// AppendText appends the one-line text form of s to b, e.g.
//
//	ipv4 198.18.0.1:40000 > 198.19.1.2:443 tcp [S] ttl 64 len 45 ok
func (s *Summary) AppendText(b []byte) []byte {
	if s.Flags&FlagVLAN != 0 {
		b = append(b, "vlan "...)
		b = strconv.AppendUint(b, uint64(s.VLAN), 10)
		b = append(b, ' ')
	}
	switch {
	case s.EtherType == EtherTypeARP && s.Verdict == OK:
		b = append(b, "arp "...)
		switch s.ARPOp {
		case ARPRequest:
			b = append(b, "who-has "...)
			b = s.DstAddr().AppendTo(b)
			b = append(b, " tell "...)
			b = s.SrcAddr().AppendTo(b)
		case ARPReply:
			b = append(b, "reply "...)
			b = s.SrcAddr().AppendTo(b)
			b = append(b, " to "...)
			b = s.DstAddr().AppendTo(b)
		default:
			b = append(b, "op "...)
			b = strconv.AppendUint(b, uint64(s.ARPOp), 10)
		}
	case s.Family != FamilyNone:
		b = append(b, s.Family.String()...)
		b = append(b, ' ')
		b = appendEndpoint(b, s.SrcAddr(), s.SrcPort, s.Flags&FlagPorts != 0)
		b = append(b, " > "...)
		b = appendEndpoint(b, s.DstAddr(), s.DstPort, s.Flags&FlagPorts != 0)
		b = append(b, ' ')
		b = s.appendProto(b)
		if s.Family == FamilyIPv6 {
			b = append(b, " hlim "...)
		} else {
			b = append(b, " ttl "...)
		}
		b = strconv.AppendUint(b, uint64(s.TTL), 10)
		b = append(b, " len "...)
		b = strconv.AppendUint(b, uint64(s.L3Len), 10)
		if s.Flags&FlagFragment != 0 {
			b = append(b, " frag id "...)
			b = strconv.AppendUint(b, uint64(s.FragID), 10)
			b = append(b, " off "...)
			b = strconv.AppendUint(b, uint64(s.FragOff), 10)
			if s.Flags&FlagMoreFragments != 0 {
				b = append(b, " mf"...)
			}
		}
		if s.Flags&FlagDontFragment != 0 {
			b = append(b, " df"...)
		}
	case s.EtherType != 0:
		b = append(b, "ethertype 0x"...)
		b = strconv.AppendUint(b, uint64(s.EtherType), 16)
	default:
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = append(b, s.Verdict.String()...)
	if s.Verdict != OK {
		b = append(b, ' ')
		b = append(b, s.Reason.String()...)
	}
	return b
}

func appendEndpoint(b []byte, a netip.Addr, port uint16, withPort bool) []byte {
	if !withPort {
		return a.AppendTo(b)
	}
	return netip.AddrPortFrom(a, port).AppendTo(b)
}

var tcpFlagNames = [8]byte{'F', 'S', 'R', 'P', '.', 'U', 'E', 'W'}

func (s *Summary) appendProto(b []byte) []byte {
	switch s.Proto {
	case ProtoTCP:
		b = append(b, "tcp"...)
		if s.Flags&FlagPorts != 0 && s.PayloadOff != s.L4Off {
			b = append(b, " ["...)
			for i, c := range tcpFlagNames {
				if s.TCPFlags&(1<<i) != 0 {
					b = append(b, c)
				}
			}
			b = append(b, ']')
		}
		return b
	case ProtoUDP:
		return append(b, "udp"...)
	case ProtoICMP, ProtoICMPv6:
		if s.Proto == ProtoICMP {
			b = append(b, "icmp"...)
		} else {
			b = append(b, "icmpv6"...)
		}
		if s.PayloadOff == s.L4Off { // a non-first fragment: no header here
			return b
		}
		b = append(b, " type "...)
		b = strconv.AppendUint(b, uint64(s.ICMPType), 10)
		b = append(b, " code "...)
		b = strconv.AppendUint(b, uint64(s.ICMPCode), 10)
		if s.Flags&FlagICMPQuery != 0 {
			b = append(b, " id "...)
			b = strconv.AppendUint(b, uint64(s.ICMPID), 10)
		}
		if s.Flags&FlagICMPError != 0 {
			b = append(b, " error"...)
		}
		return b
	}
	b = append(b, "proto "...)
	return strconv.AppendUint(b, uint64(s.Proto), 10)
}
