package pkt

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The views read what gopacket wrote, and what the setters write gopacket
// reads back.

func TestIPv4View(t *testing.T) {
	i := ip4(layers.IPProtocolUDP)
	i.Options = []layers.IPv4Option{
		{OptionType: IPv4OptNOP},
		{OptionType: IPv4OptLSRR, OptionLength: 7, OptionData: []byte{4, 198, 51, 100, 1}},
		{OptionType: IPv4OptRA, OptionLength: 4, OptionData: []byte{0, 0}},
	}
	raw := serialize(t, i, udp(i))
	h := IPv4(raw)
	if h.Version() != 4 || h.HeaderLen() != 32 || h.TOS() != 0x28 || h.ID() != 0x1234 || !h.DF() || h.MF() ||
		h.TTL() != 64 || h.Protocol() != ProtoUDP || h.Src() != [4]byte(ip4A) || h.Dst() != [4]byte(ip4B) {
		t.Errorf("IPv4 view of %x reads wrong fields", raw[:32])
	}
	var kinds []uint8
	for opts := h.Options(); ; {
		opt, rest, ok := NextOption(opts)
		if !ok {
			break
		}
		kinds = append(kinds, opt.Kind)
		opts = rest
	}
	if len(kinds) != 3 || kinds[0] != IPv4OptNOP || kinds[1] != IPv4OptLSRR || kinds[2] != IPv4OptRA {
		t.Errorf("options walk = %v, want NOP, LSRR, RA", kinds)
	}
	if !h.HasSourceRoute() {
		t.Errorf("HasSourceRoute = false with an LSRR option")
	}
	if _, _, ok := NextOption([]byte{IPv4OptRA, 1}); ok {
		t.Errorf("NextOption accepted an option of length 1")
	}
	if _, _, ok := NextOption([]byte{IPv4OptRA, 9, 0}); ok {
		t.Errorf("NextOption accepted an option longer than the list")
	}

	h.SetFragment(false, true, 1480)
	h.SetTTL(3)
	h.SetChecksum(0)
	h.SetChecksum(h.ComputeChecksum())
	p := gopacket.NewPacket(raw, layers.LayerTypeIPv4, gopacket.Default)
	g := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if g.Flags != layers.IPv4MoreFragments || g.FragOffset != 185 || g.TTL != 3 {
		t.Errorf("gopacket reads flags %v offset %d ttl %d after the setters", g.Flags, g.FragOffset, g.TTL)
	}
	if Checksum(raw[:32], 0) != 0xffff {
		t.Errorf("ComputeChecksum over a header with options does not verify")
	}
}

func TestIPv6Views(t *testing.T) {
	raw := serialize(t, ip6(layers.IPProtocolIPv6Fragment),
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP}, gopacket.Payload(make([]byte, 8)))
	h := IPv6(raw)
	if h.Version() != 6 || h.TrafficClass() != 0x28 || h.FlowLabel() != 0x12345 || h.HopLimit() != 63 ||
		h.NextHeader() != ProtoFragment || h.PayloadLen() != 16 {
		t.Errorf("IPv6 view reads wrong fields of %x", raw[:IPv6Len])
	}
	IPv6Fragment(raw[IPv6Len:]).Set(ProtoTCP, 2960, true, 0xcafef00d)
	h.SetVersionTCFlow(0xb8, 0xfffff)
	p := gopacket.NewPacket(raw, layers.LayerTypeIPv6, gopacket.Default)
	g := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	f := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	if g.TrafficClass != 0xb8 || g.FlowLabel != 0xfffff {
		t.Errorf("gopacket reads class %#x flow %#x", g.TrafficClass, g.FlowLabel)
	}
	if f.NextHeader != layers.IPProtocolTCP || f.FragmentOffset != 370 || !f.MoreFragments || f.Identification != 0xcafef00d {
		t.Errorf("gopacket reads fragment header %+v", f)
	}
	fv := IPv6Fragment(raw[IPv6Len:])
	if fv.Offset() != 2960 || !fv.MF() || fv.ID() != 0xcafef00d || fv.NextHeader() != ProtoTCP {
		t.Errorf("fragment view = off %d mf %v id %#x", fv.Offset(), fv.MF(), fv.ID())
	}
	for p, want := range map[uint8]bool{ProtoHopByHop: true, ProtoRouting: true, ProtoFragment: true,
		ProtoDestOpts: true, ProtoAH: true, ProtoESP: false, ProtoTCP: false, ProtoNoNext: false} {
		if IsExtensionHeader(p) != want {
			t.Errorf("IsExtensionHeader(%d) = %v, want %v", p, !want, want)
		}
	}
	if ExtHeaderLen(ProtoAH, 4) != 24 || ExtHeaderLen(ProtoDestOpts, 1) != 16 || ExtHeaderLen(ProtoFragment, 99) != 8 {
		t.Errorf("ExtHeaderLen wrong for AH/destination options/fragment")
	}
}

func TestTransportViews(t *testing.T) {
	i := ip4(layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, ACK: true, PSH: true, FIN: true, Window: 5, Urgent: 6,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	tc.SetNetworkLayerForChecksum(i)
	raw := serialize(t, i, tc)
	v := TCP(raw[IPv4MinLen:])
	if v.SrcPort() != 1 || v.DstPort() != 2 || v.Seq() != 3 || v.Ack() != 4 || v.HeaderLen() != 24 ||
		v.Flags() != TCPFlagACK|TCPFlagPSH|TCPFlagFIN || v.Window() != 5 || v.UrgentPtr() != 6 {
		t.Errorf("TCP view reads wrong fields of %x", v)
	}
	ps := PseudoHeaderSum4(ip4A, ip4B, ProtoTCP, uint16(len(v)))
	if !VerifyTransport(ps, v) {
		t.Errorf("gopacket's TCP checksum does not verify with PseudoHeaderSum4")
	}
	// NAT-style rewrite: port and address change, checksum patched
	// incrementally, still verifies.
	old := v.SrcPort()
	v.SetSrcPort(61000)
	cs := ChecksumUpdate16(v.Checksum(), old, 61000)
	newSrc := []byte{203, 0, 113, 1}
	cs = ChecksumUpdateAddr(cs, ip4A.To4(), newSrc)
	v.SetChecksum(cs)
	if !VerifyTransport(PseudoHeaderSum4(newSrc, ip4B, ProtoTCP, uint16(len(v))), v) {
		t.Errorf("incrementally patched TCP checksum does not verify")
	}

	u := ip6(layers.IPProtocolUDP)
	raw = serialize(t, u, udp(u), gopacket.Payload("abc"))
	uv := UDP(raw[IPv6Len:])
	if uv.SrcPort() != 5353 || uv.DstPort() != 53 || uv.Length() != 11 {
		t.Errorf("UDP view reads wrong fields of %x", uv)
	}
	if !VerifyTransport(PseudoHeaderSum6(ip6A, ip6B, ProtoUDP, 11), uv) {
		t.Errorf("gopacket's UDP checksum does not verify with PseudoHeaderSum6")
	}
}

func TestVLANAndMAC(t *testing.T) {
	raw := serialize(t, eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{Priority: 5, VLANIdentifier: 4000, Type: layers.EthernetTypeIPv6})
	tag := VLANTag(raw[EthernetLen:])
	if tag.ID() != 4000 || tag.Priority() != 5 || tag.EtherType() != EtherTypeIPv6 {
		t.Errorf("VLAN tag view = id %d prio %d type %#x", tag.ID(), tag.Priority(), tag.EtherType())
	}
	if got := (MAC{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}).String(); got != "ee:ee:ee:ee:ee:ee" {
		t.Errorf("MAC.String = %q", got)
	}
	if !Broadcast.IsMulticast() || (MAC{2}).IsMulticast() {
		t.Errorf("IsMulticast wrong")
	}
}
