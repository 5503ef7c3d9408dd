package pkt

import "encoding/binary"

// IPv6 fixed header (RFC 8200).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	|                      Source Address (128)                     |
//	|                   Destination Address (128)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv6 []byte

const (
	IPv6Len           = 40
	ipv6VerTCFLOff    = 0
	ipv6PayloadLenOff = 4
	ipv6NextHdrOff    = 6
	ipv6HopLimitOff   = 7
	ipv6SrcOff        = 8
	ipv6DstOff        = 24
	IPv6MinMTU        = 1280
)

func (h IPv6) Version() uint8 { return h[0] >> 4 }

// TrafficClass returns the 8-bit traffic class.
func (h IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(h[ipv6VerTCFLOff:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(h[ipv6VerTCFLOff:]) & 0x000fffff
}

func (h IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(h[ipv6PayloadLenOff:]) }
func (h IPv6) NextHeader() uint8  { return h[ipv6NextHdrOff] }
func (h IPv6) HopLimit() uint8    { return h[ipv6HopLimitOff] }
func (h IPv6) Src() [16]byte      { return [16]byte(h[ipv6SrcOff : ipv6SrcOff+16]) }
func (h IPv6) Dst() [16]byte      { return [16]byte(h[ipv6DstOff : ipv6DstOff+16]) }
func (h IPv6) SrcSlice() []byte   { return h[ipv6SrcOff : ipv6SrcOff+16] }
func (h IPv6) DstSlice() []byte   { return h[ipv6DstOff : ipv6DstOff+16] }

// SetVersionTCFlow writes version 6, the traffic class and the flow label.
func (h IPv6) SetVersionTCFlow(tc uint8, flow uint32) {
	binary.BigEndian.PutUint32(h[ipv6VerTCFLOff:], 6<<28|uint32(tc)<<20|flow&0x000fffff)
}

func (h IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(h[ipv6PayloadLenOff:], n) }
func (h IPv6) SetNextHeader(p uint8)  { h[ipv6NextHdrOff] = p }
func (h IPv6) SetHopLimit(v uint8)    { h[ipv6HopLimitOff] = v }
func (h IPv6) SetSrc(a [16]byte)      { copy(h[ipv6SrcOff:], a[:]) }
func (h IPv6) SetDst(a [16]byte)      { copy(h[ipv6DstOff:], a[:]) }

// IsExtensionHeader reports whether Next Header value p is an IPv6
// extension header that Parse walks past (RFC 7045 section 2 list, minus
// ESP, whose contents are encrypted and so end the chain).
func IsExtensionHeader(p uint8) bool {
	switch p {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts,
		ProtoAH, ProtoMobility, ProtoHIP, ProtoShim6:
		return true
	}
	return false
}

// ExtHeaderLen returns the length in bytes of the extension header of type
// proto whose Hdr Ext Len byte (the second) is lenField: 8-octet units not
// counting the first 8 in the RFC 6564 shape, 4-octet units not counting
// the first 2 for AH, and always 8 for the fragment header.
func ExtHeaderLen(proto uint8, lenField uint8) int {
	switch proto {
	case ProtoFragment:
		return IPv6FragmentLen
	case ProtoAH:
		return (int(lenField) + 2) * 4
	}
	return (int(lenField) + 1) * 8
}

// IPv6Fragment is the 8-byte fragment header (RFC 8200 section 4.5).
//
//	+---------------+---------------+-------------------------+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	|                         Identification                        |
//	+---------------+---------------+-------------------------+-+-+
type IPv6Fragment []byte

const (
	IPv6FragmentLen  = 8
	ipv6FragOffOff   = 2
	ipv6FragIDOff    = 4
	ipv6FragMFlag    = 1
	ipv6FragOffShift = 3
)

func (f IPv6Fragment) NextHeader() uint8 { return f[0] }

// Offset returns the fragment offset in bytes.
func (f IPv6Fragment) Offset() uint16 {
	return binary.BigEndian.Uint16(f[ipv6FragOffOff:]) &^ 7
}
func (f IPv6Fragment) MF() bool   { return f[3]&ipv6FragMFlag != 0 }
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[ipv6FragIDOff:]) }

// Set writes the whole fragment header.
func (f IPv6Fragment) Set(next uint8, offBytes uint16, mf bool, id uint32) {
	f[0], f[1] = next, 0
	v := offBytes &^ 7
	if mf {
		v |= ipv6FragMFlag
	}
	binary.BigEndian.PutUint16(f[ipv6FragOffOff:], v)
	binary.BigEndian.PutUint32(f[ipv6FragIDOff:], id)
}

// IPv6Routing is the routing header's fixed part (RFC 8200 section 4.4).
type IPv6Routing []byte

func (r IPv6Routing) NextHeader() uint8   { return r[0] }
func (r IPv6Routing) RoutingType() uint8  { return r[2] }
func (r IPv6Routing) SegmentsLeft() uint8 { return r[3] }
