// Parsed packets flow in here and leave as PacketKey, the fixed-size key
// the data path classifies: addresses as arrays, ports, protocol, family.

package acl

import "github.com/gannet-net/gannet/pkt"

// PacketKey is the data path's classification key. Addresses use pkt's
// layout: IPv4 in the first 4 bytes of the arrays, the rest zero.
//
// Ports carry the TCP/UDP/SCTP/UDP-Lite ports when the packet has them.
// For ICMP (IPv4 protocol 1) and ICMPv6 (protocol 58) packets that are not
// non-first fragments, SrcPort carries the ICMP type and DstPort the code;
// this is how rules match ICMP type and code without two more dimensions
// (the technique iptables' and DPDK users' port-field reuse follow). All
// other packets, including non-first fragments, have both ports 0, so a
// rule that constrains ports to a range without 0 does not match them.
type PacketKey struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	Family           pkt.Family
}

// FromSummary fills k from a parsed packet.
func (k *PacketKey) FromSummary(s *pkt.Summary) {
	k.Src, k.Dst = s.Src, s.Dst
	k.Proto, k.Family = s.Proto, s.Family
	k.SrcPort, k.DstPort = 0, 0
	switch {
	case s.Flags&pkt.FlagPorts != 0:
		k.SrcPort, k.DstPort = s.SrcPort, s.DstPort
	case s.Flags&pkt.FlagFragment != 0 && s.Flags&pkt.FlagFirstFragment == 0:
		// A non-first fragment has no transport header.
	case s.Family == pkt.FamilyIPv4 && s.Proto == pkt.ProtoICMP,
		s.Family == pkt.FamilyIPv6 && s.Proto == pkt.ProtoICMPv6:
		k.SrcPort, k.DstPort = uint16(s.ICMPType), uint16(s.ICMPCode)
	}
}

// KeyOf converts a Key to a PacketKey (control paths and tests). A key
// mixing families yields a PacketKey of FamilyNone, which matches nothing.
func KeyOf(k *Key) PacketKey {
	p := PacketKey{SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto}
	switch {
	case k.Src.Is4() && k.Dst.Is4():
		s, d := k.Src.As4(), k.Dst.As4()
		copy(p.Src[:], s[:])
		copy(p.Dst[:], d[:])
		p.Family = pkt.FamilyIPv4
	case k.Src.Is6() && k.Dst.Is6():
		p.Src, p.Dst = k.Src.As16(), k.Dst.As16()
		p.Family = pkt.FamilyIPv6
	}
	return p
}
