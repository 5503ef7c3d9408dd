package pkt

import "encoding/binary"

// Ethernet II header.
//
//	 0                   1                   2                   3
//	+-------------------------------------------------------------+
//	|            destination MAC            |  source MAC ...     |
//	|  ... source MAC                       |      EtherType      |
//	+-------------------------------------------------------------+
type Ethernet []byte

const (
	EthernetLen   = 14
	ethDstOff     = 0
	ethSrcOff     = 6
	ethTypeOff    = 12
	VLANTagLen    = 4
	vlanTCIOff    = 0 // within the tag that follows the outer EtherType
	vlanTypeOff   = 2
	maxVLANTags   = 2
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ = 0x88a8 // 802.1ad service tag
	EtherTypeIPv6 = 0x86dd
)

// MAC is a 48-bit Ethernet address.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether the group bit is set (includes broadcast).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[v>>4]
		b[i*3+1] = hex[v&15]
	}
	return string(b[:])
}

func (e Ethernet) Dst() MAC          { return MAC(e[ethDstOff : ethDstOff+6]) }
func (e Ethernet) Src() MAC          { return MAC(e[ethSrcOff : ethSrcOff+6]) }
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[ethTypeOff:]) }
func (e Ethernet) SetDst(m MAC)      { copy(e[ethDstOff:], m[:]) }
func (e Ethernet) SetSrc(m MAC)      { copy(e[ethSrcOff:], m[:]) }
func (e Ethernet) SetEtherType(t uint16) {
	binary.BigEndian.PutUint16(e[ethTypeOff:], t)
}

// VLANTag is one 802.1Q tag as it follows an EtherType of 0x8100 or 0x88a8:
// the tag control information, then the next EtherType.
type VLANTag []byte

// TCI returns the tag control information (PCP, DEI, VID).
func (v VLANTag) TCI() uint16 { return binary.BigEndian.Uint16(v[vlanTCIOff:]) }

// ID returns the 12-bit VLAN identifier.
func (v VLANTag) ID() uint16 { return v.TCI() & 0x0fff }

// Priority returns the 3-bit priority code point.
func (v VLANTag) Priority() uint8 { return uint8(v.TCI() >> 13) }

// EtherType returns the EtherType that follows the tag.
func (v VLANTag) EtherType() uint16 { return binary.BigEndian.Uint16(v[vlanTypeOff:]) }
