package pkt

import (
	"encoding/binary"
	"net/netip"
)

// Family is the network-layer family of a parsed packet.
type Family uint8

const (
	FamilyNone Family = 0 // not IP (ARP, unknown EtherType) or not parsed
	FamilyIPv4 Family = 4
	FamilyIPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return "none"
}

// Verdict says what Parse made of a frame as a whole. Reason says why.
type Verdict uint8

const (
	// OK: the headers Parse understands are all well formed. The frame may
	// still be something a router does not forward (ARP, an unknown upper
	// layer protocol, a non-first fragment); the fields say what it is.
	OK Verdict = iota
	// Malformed: a header is truncated or inconsistent. Drop it and count
	// Reason; the fields before the bad header are filled, later ones are zero.
	Malformed
	// Unsupported: well formed, but of a kind gannet does not handle
	// (an EtherType other than IPv4/IPv6/ARP, more than two VLAN tags,
	// IPv6 jumbograms).
	Unsupported
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Malformed:
		return "malformed"
	case Unsupported:
		return "unsupported"
	}
	return "verdict?"
}

// Flags are the yes/no facts about a packet.
type Flags uint16

const (
	FlagVLAN            Flags = 1 << iota // at least one 802.1Q/802.1ad tag
	FlagFragment                          // a fragment (IPv4 MF or offset, or an IPv6 fragment header)
	FlagFirstFragment                     // fragment offset is zero (set only with FlagFragment)
	FlagMoreFragments                     // MF bit set
	FlagDontFragment                      // IPv4 DF bit set
	FlagIPv4Options                       // IPv4 header longer than 20 bytes
	FlagIPv6ExtHeaders                    // at least one IPv6 extension header
	FlagIPv6Routing                       // an IPv6 routing header with segments left > 0
	FlagPorts                             // SrcPort/DstPort are valid (TCP/UDP, not a non-first fragment)
	FlagICMPQuery                         // ICMP/ICMPv6 echo request/reply: ICMPID is valid
	FlagICMPError                         // ICMP/ICMPv6 error: a packet is quoted at PayloadOff
	FlagUDPZeroChecksum                   // UDP with checksum field 0 (allowed in IPv4 only)
	FlagTruncated                         // ParseQuoted only: the quote ends before the length its header gives
)

// Has reports whether every flag in m is set.
func (f Flags) Has(m Flags) bool { return f&m == m }

// Summary is what Parse learns about one frame. The caller owns it and
// reuses it for every packet; Parse overwrites all of it. Offsets are from
// the start of the slice given to Parse.
//
// Addresses are fixed-size arrays: an IPv4 address occupies Src[:4]/Dst[:4]
// and the remaining 12 bytes are zero. Src4/Dst4 and Src6/Dst6 give the
// integer keys the lookup tables use.
type Summary struct {
	Verdict Verdict
	Reason  Reason
	Family  Family
	Flags   Flags

	// Proto is the upper-layer protocol: the IPv4 protocol field, or for
	// IPv6 the Next Header after the extension-header chain. For a non-first
	// fragment it is the protocol of the fragmented payload.
	Proto uint8
	TTL   uint8 // IPv4 TTL or IPv6 hop limit
	TOS   uint8 // IPv4 TOS or IPv6 traffic class

	// ICMP and ICMPv6: type and code; ICMPID is the echo identifier when
	// FlagICMPQuery is set.
	ICMPType uint8
	ICMPCode uint8
	ICMPID   uint16

	// TCPFlags is the TCP flags byte (FIN..CWR) when Proto is TCP.
	TCPFlags uint8

	EtherType uint16 // innermost EtherType (after VLAN tags); 0 for ParseIP
	VLAN      uint16 // VLAN ID of the outermost tag when FlagVLAN is set
	ARPOp     uint16 // ARP operation when EtherType is ARP

	L3Off      uint16 // start of the IP (or ARP) header
	L4Off      uint16 // start of the upper-layer header (after IPv4 options / IPv6 extension headers)
	PayloadOff uint16 // start of the upper-layer payload (after the TCP/UDP/ICMP header)
	L3Len      uint16 // IP packet length: IPv4 total length, or 40 + IPv6 payload length
	FragHdrOff uint16 // offset of the IPv6 fragment header, 0 if none

	SrcPort uint16 // TCP/UDP ports when FlagPorts is set
	DstPort uint16

	FragID  uint32 // IPv4 identification (16 bits) or IPv6 fragment identification
	FragOff uint16 // fragment offset in bytes

	Src [16]byte
	Dst [16]byte
}

// End returns the offset just past the IP packet: frames may carry
// link-layer padding beyond it.
func (s *Summary) End() int { return int(s.L3Off) + int(s.L3Len) }

// Src4 returns the IPv4 source as a big-endian integer (the lpm key).
func (s *Summary) Src4() uint32 { return binary.BigEndian.Uint32(s.Src[:4]) }

// Dst4 returns the IPv4 destination as a big-endian integer.
func (s *Summary) Dst4() uint32 { return binary.BigEndian.Uint32(s.Dst[:4]) }

// Src6 returns the IPv6 source as two big-endian halves (the lpm key).
func (s *Summary) Src6() (hi, lo uint64) {
	return binary.BigEndian.Uint64(s.Src[:8]), binary.BigEndian.Uint64(s.Src[8:])
}

// Dst6 returns the IPv6 destination as two big-endian halves.
func (s *Summary) Dst6() (hi, lo uint64) {
	return binary.BigEndian.Uint64(s.Dst[:8]), binary.BigEndian.Uint64(s.Dst[8:])
}

// SrcAddr returns the source as a netip.Addr (control paths and tests only).
func (s *Summary) SrcAddr() netip.Addr { return s.addr(&s.Src) }

// DstAddr returns the destination as a netip.Addr.
func (s *Summary) DstAddr() netip.Addr { return s.addr(&s.Dst) }

func (s *Summary) addr(a *[16]byte) netip.Addr {
	switch {
	case s.Family == FamilyIPv4, s.EtherType == EtherTypeARP:
		return netip.AddrFrom4([4]byte(a[:4]))
	case s.Family == FamilyIPv6:
		return netip.AddrFrom16(*a)
	}
	return netip.Addr{}
}
