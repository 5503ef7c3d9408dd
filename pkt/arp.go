package pkt

import "encoding/binary"

// ARP packet for Ethernet/IPv4 (RFC 826), the only kind gannet answers.
//
//	 0      2      4    5    6      8        14       18       24       28
//	+------+------+----+----+------+--------+--------+--------+--------+
//	| htype| ptype|hlen|plen|  op  | sha    | spa    | tha    | tpa    |
//	+------+------+----+----+------+--------+--------+--------+--------+
type ARP []byte

const (
	ARPLen        = 28
	arpHTypeOff   = 0
	arpPTypeOff   = 2
	arpHLenOff    = 4
	arpPLenOff    = 5
	arpOpOff      = 6
	arpSHAOff     = 8
	arpSPAOff     = 14
	arpTHAOff     = 18
	arpTPAOff     = 24
	ARPHTypeEther = 1
	ARPRequest    = 1
	ARPReply      = 2
)

// IsEthernetIPv4 reports whether the fixed fields describe Ethernet/IPv4.
func (a ARP) IsEthernetIPv4() bool {
	return binary.BigEndian.Uint16(a[arpHTypeOff:]) == ARPHTypeEther &&
		binary.BigEndian.Uint16(a[arpPTypeOff:]) == EtherTypeIPv4 &&
		a[arpHLenOff] == 6 && a[arpPLenOff] == 4
}

func (a ARP) Op() uint16             { return binary.BigEndian.Uint16(a[arpOpOff:]) }
func (a ARP) SenderMAC() MAC         { return MAC(a[arpSHAOff : arpSHAOff+6]) }
func (a ARP) SenderIP() [4]byte      { return [4]byte(a[arpSPAOff : arpSPAOff+4]) }
func (a ARP) TargetMAC() MAC         { return MAC(a[arpTHAOff : arpTHAOff+6]) }
func (a ARP) TargetIP() [4]byte      { return [4]byte(a[arpTPAOff : arpTPAOff+4]) }
func (a ARP) SetOp(op uint16)        { binary.BigEndian.PutUint16(a[arpOpOff:], op) }
func (a ARP) SetSenderMAC(m MAC)     { copy(a[arpSHAOff:], m[:]) }
func (a ARP) SetSenderIP(ip [4]byte) { copy(a[arpSPAOff:], ip[:]) }
func (a ARP) SetTargetMAC(m MAC)     { copy(a[arpTHAOff:], m[:]) }
func (a ARP) SetTargetIP(ip [4]byte) { copy(a[arpTPAOff:], ip[:]) }
func (a ARP) setEthernetIPv4() {
	binary.BigEndian.PutUint16(a[arpHTypeOff:], ARPHTypeEther)
	binary.BigEndian.PutUint16(a[arpPTypeOff:], EtherTypeIPv4)
	a[arpHLenOff], a[arpPLenOff] = 6, 4
}
