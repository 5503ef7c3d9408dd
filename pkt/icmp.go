package pkt

import "encoding/binary"

// ICMP header, for ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) alike: type,
// code, checksum, then a 4-byte field whose meaning depends on the type
// (echo identifier and sequence, next-hop MTU, pointer, unused), then the
// body: echo data, or for an error the quoted offending packet.
//
//	 0                   1                   2                   3
//	+---------------+---------------+-------------------------------+
//	|     Type      |     Code      |          Checksum             |
//	|                  Rest of header (type specific)               |
//	|       Body (quoted packet for errors, data for echo) ...      |
//	+---------------+---------------+-------------------------------+
type ICMP []byte

const (
	ICMPHeaderLen   = 8
	icmpTypeOff     = 0
	icmpCodeOff     = 1
	ICMPChecksumOff = 2
	icmpRestOff     = 4
	icmpIDOff       = 4
	icmpSeqOff      = 6
)

// ICMPv4 types and codes (RFC 792, RFC 1191, RFC 1812).
const (
	ICMPv4EchoReply      = 0
	ICMPv4DestUnreach    = 3
	ICMPv4SourceQuench   = 4
	ICMPv4Redirect       = 5
	ICMPv4EchoRequest    = 8
	ICMPv4RouterAdvert   = 9
	ICMPv4RouterSolicit  = 10
	ICMPv4TimeExceeded   = 11
	ICMPv4ParamProblem   = 12
	ICMPv4Timestamp      = 13
	ICMPv4TimestampReply = 14
	ICMPv4InfoRequest    = 15
	ICMPv4InfoReply      = 16

	ICMPv4NetUnreach      = 0
	ICMPv4HostUnreach     = 1
	ICMPv4ProtoUnreach    = 2
	ICMPv4PortUnreach     = 3
	ICMPv4FragNeeded      = 4
	ICMPv4SourceRouteFail = 5
	ICMPv4NetProhibited   = 9
	ICMPv4HostProhibited  = 10
	ICMPv4AdminProhibited = 13 // communication administratively prohibited

	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

// ICMPv6 types and codes (RFC 4443, RFC 4861).
const (
	ICMPv6DestUnreach   = 1
	ICMPv6PacketTooBig  = 2
	ICMPv6TimeExceeded  = 3
	ICMPv6ParamProblem  = 4
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6RouterSolicit = 133
	ICMPv6RouterAdvert  = 134
	ICMPv6NeighborSol   = 135
	ICMPv6NeighborAdv   = 136
	ICMPv6Redirect      = 137

	ICMPv6NoRoute         = 0
	ICMPv6AdminProhibited = 1
	ICMPv6BeyondScope     = 2
	ICMPv6AddrUnreach     = 3
	ICMPv6PortUnreach     = 4
	ICMPv6SrcPolicyFail   = 5
	ICMPv6RejectRoute     = 6

	ICMPv6HopLimitExceeded   = 0
	ICMPv6ReassemblyExceeded = 1

	ICMPv6ErroneousHeader   = 0
	ICMPv6UnknownNextHeader = 1
	ICMPv6UnknownOption     = 2
)

func (c ICMP) Type() uint8      { return c[icmpTypeOff] }
func (c ICMP) Code() uint8      { return c[icmpCodeOff] }
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[ICMPChecksumOff:]) }

// Rest returns the 4-byte type-specific field as one integer.
func (c ICMP) Rest() uint32 { return binary.BigEndian.Uint32(c[icmpRestOff:]) }

// ID and Seq are the echo identifier and sequence number.
func (c ICMP) ID() uint16  { return binary.BigEndian.Uint16(c[icmpIDOff:]) }
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[icmpSeqOff:]) }

// MTU4 returns the next-hop MTU of an ICMPv4 Fragmentation Needed (RFC 1191:
// the low 16 bits of the rest field).
func (c ICMP) MTU4() uint16 { return binary.BigEndian.Uint16(c[icmpSeqOff:]) }

// MTU6 returns the MTU of an ICMPv6 Packet Too Big.
func (c ICMP) MTU6() uint32 { return c.Rest() }

// Pointer4 returns the pointer of an ICMPv4 Parameter Problem (the high
// byte of the rest field); Pointer6 that of an ICMPv6 one (all 32 bits).
func (c ICMP) Pointer4() uint8  { return c[icmpRestOff] }
func (c ICMP) Pointer6() uint32 { return c.Rest() }

// Body returns what follows the 8-byte header: the quoted packet of an error.
func (c ICMP) Body() []byte { return c[ICMPHeaderLen:] }

func (c ICMP) SetType(t uint8)      { c[icmpTypeOff] = t }
func (c ICMP) SetCode(v uint8)      { c[icmpCodeOff] = v }
func (c ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[ICMPChecksumOff:], v) }
func (c ICMP) SetRest(v uint32)     { binary.BigEndian.PutUint32(c[icmpRestOff:], v) }
func (c ICMP) SetID(id uint16)      { binary.BigEndian.PutUint16(c[icmpIDOff:], id) }
func (c ICMP) SetSeq(s uint16)      { binary.BigEndian.PutUint16(c[icmpSeqOff:], s) }

// IsICMPv4Error reports whether an ICMPv4 type is an error message, one
// that quotes the packet that caused it.
func IsICMPv4Error(t uint8) bool {
	switch t {
	case ICMPv4DestUnreach, ICMPv4SourceQuench, ICMPv4Redirect,
		ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// IsICMPv4Query reports whether an ICMPv4 type carries an identifier that
// NAT maps (RFC 5508 section 3.1: echo, timestamp, information).
func IsICMPv4Query(t uint8) bool {
	switch t {
	case ICMPv4EchoRequest, ICMPv4EchoReply, ICMPv4Timestamp,
		ICMPv4TimestampReply, ICMPv4InfoRequest, ICMPv4InfoReply:
		return true
	}
	return false
}

// IsICMPv6Error reports whether an ICMPv6 type is an error message
// (types 0-127, RFC 4443 section 2.1).
func IsICMPv6Error(t uint8) bool { return t < 128 }

// IsICMPv6Query reports whether an ICMPv6 type is an echo.
func IsICMPv6Query(t uint8) bool {
	return t == ICMPv6EchoRequest || t == ICMPv6EchoReply
}

// NDP (RFC 4861): neighbour solicitation and advertisement bodies follow
// the 4-byte rest field (reserved, or R|S|O flags for an advertisement):
//
//	+---------------+---------------+-------------------------------+
//	|     Type      |     Code      |          Checksum             |
//	|R|S|O|                     Reserved                            |
//	|                       Target Address (128)                    |
//	|   Options (source/target link-layer address, ...) ...         |
//	+---------------+---------------+-------------------------------+
type NDP []byte

const (
	NDPLen          = 24 // header with target, no options
	ndpTargetOff    = 8
	NDPOptionsOff   = 24
	NDPFlagRouter   = 0x80000000
	NDPFlagSolicit  = 0x40000000
	NDPFlagOverride = 0x20000000

	NDPOptSourceLLAddr = 1
	NDPOptTargetLLAddr = 2
	ndpLLAddrOptLen    = 8 // type, length (1 = 8 bytes), 6-byte MAC
)

func (n NDP) Target() [16]byte     { return [16]byte(n[ndpTargetOff : ndpTargetOff+16]) }
func (n NDP) Flags() uint32        { return ICMP(n).Rest() }
func (n NDP) Options() []byte      { return n[NDPOptionsOff:] }
func (n NDP) SetTarget(a [16]byte) { copy(n[ndpTargetOff:], a[:]) }

// LinkLayerAddr returns the MAC in the first option of kind (source or
// target link-layer address). ok is false when there is none or an option
// is malformed (length 0, beyond the packet).
func (n NDP) LinkLayerAddr(kind uint8) (mac MAC, ok bool) {
	opts := n.Options()
	for len(opts) >= 2 {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return MAC{}, false
		}
		if opts[0] == kind && l >= ndpLLAddrOptLen {
			return MAC(opts[2:8]), true
		}
		opts = opts[l:]
	}
	return MAC{}, false
}
