package pkt

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func addr4(ip net.IP) (a [16]byte) { copy(a[:], ip.To4()); return a }
func addr6(ip net.IP) (a [16]byte) { copy(a[:], ip.To16()); return a }

func TestParseWellFormed(t *testing.T) {
	v4icmp := ip4(layers.IPProtocolICMPv4)
	v6icmp := ip6(layers.IPProtocolICMPv6)
	icmp6echo := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	icmp6echo.SetNetworkLayerForChecksum(v6icmp)
	vlanIP := ip4(layers.IPProtocolUDP)

	tests := []struct {
		name  string
		frame []byte
		want  Summary
	}{
		{
			name:  "ipv4 tcp",
			frame: frameIPv4TCP(t),
			want: Summary{Family: FamilyIPv4, Flags: FlagPorts | FlagDontFragment, Proto: ProtoTCP,
				TTL: 64, TOS: 0x28, TCPFlags: TCPFlagSYN, EtherType: EtherTypeIPv4,
				L3Off: 14, L4Off: 34, PayloadOff: 54, L3Len: 45, SrcPort: 40000, DstPort: 443,
				FragID: 0x1234, Src: addr4(ip4A), Dst: addr4(ip4B)},
		},
		{
			name:  "ipv6 udp",
			frame: frameIPv6UDP(t),
			want: Summary{Family: FamilyIPv6, Flags: FlagPorts, Proto: ProtoUDP, TTL: 63, TOS: 0x28,
				EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54, PayloadOff: 62, L3Len: 53,
				SrcPort: 5353, DstPort: 53, Src: addr6(ip6A), Dst: addr6(ip6B)},
		},
		{
			name: "ipv4 icmp echo",
			frame: serialize(t, eth(layers.EthernetTypeIPv4), v4icmp,
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 1}),
			want: Summary{Family: FamilyIPv4, Flags: FlagICMPQuery | FlagDontFragment, Proto: ProtoICMP,
				TTL: 64, TOS: 0x28, ICMPType: 8, ICMPID: 77, EtherType: EtherTypeIPv4,
				L3Off: 14, L4Off: 34, PayloadOff: 42, L3Len: 28, FragID: 0x1234,
				Src: addr4(ip4A), Dst: addr4(ip4B)},
		},
		{
			name: "ipv6 icmpv6 echo",
			frame: serialize(t, eth(layers.EthernetTypeIPv6), v6icmp, icmp6echo,
				&layers.ICMPv6Echo{Identifier: 9, SeqNumber: 2}),
			want: Summary{Family: FamilyIPv6, Flags: FlagICMPQuery, Proto: ProtoICMPv6, TTL: 63, TOS: 0x28,
				ICMPType: 128, ICMPID: 9, EtherType: EtherTypeIPv6, L3Off: 14, L4Off: 54,
				PayloadOff: 62, L3Len: 48, Src: addr6(ip6A), Dst: addr6(ip6B)},
		},
		{
			name: "vlan ipv4 udp",
			frame: serialize(t, eth(layers.EthernetTypeDot1Q),
				&layers.Dot1Q{VLANIdentifier: 100, Priority: 5, Type: layers.EthernetTypeIPv4},
				vlanIP, udp(vlanIP)),
			want: Summary{Family: FamilyIPv4, Flags: FlagVLAN | FlagPorts | FlagDontFragment,
				Proto: ProtoUDP, TTL: 64, TOS: 0x28, EtherType: EtherTypeIPv4, VLAN: 100,
				L3Off: 18, L4Off: 38, PayloadOff: 46, L3Len: 28, SrcPort: 5353, DstPort: 53,
				FragID: 0x1234, Src: addr4(ip4A), Dst: addr4(ip4B)},
		},
		{
			name: "arp request",
			frame: serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
				Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ip4A,
				DstHwAddress: make([]byte, 6), DstProtAddress: ip4B}),
			want: Summary{EtherType: EtherTypeARP, ARPOp: ARPRequest, L3Off: 14, L4Off: 42,
				PayloadOff: 42, L3Len: 28, Src: addr4(ip4A), Dst: addr4(ip4B)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Summary
			Parse(tc.frame, &got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%x) mismatch (-want +got):\n%s", tc.frame, diff)
			}
		})
	}
}

func TestParseIPv6ExtensionChain(t *testing.T) {
	i := ip6(layers.IPProtocolIPv6HopByHop)
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolUDP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	u := udp(i)
	frame := serialize(t, eth(layers.EthernetTypeIPv6), i, hbh, dst, u, gopacket.Payload("x"))
	var s Summary
	if v := Parse(frame, &s); v != OK {
		t.Fatalf("Parse = %v (%v), want ok", v, s.Reason)
	}
	if s.Proto != ProtoUDP || s.L4Off != 14+40+8+8 || s.SrcPort != 5353 || !s.Flags.Has(FlagIPv6ExtHeaders) {
		t.Errorf("Parse(%x) = %+v, want UDP at %d after two extension headers", frame, s, 14+40+16)
	}
}

func TestParseFragments(t *testing.T) {
	first := ip4(layers.IPProtocolUDP)
	first.Flags = layers.IPv4MoreFragments
	u := udp(first)
	// Length of the whole datagram is larger than this fragment carries.
	f1 := serialize(t, eth(layers.EthernetTypeIPv4), first, u, gopacket.Payload(make([]byte, 16)))
	var s Summary
	if v := Parse(f1, &s); v != OK {
		t.Fatalf("Parse(first fragment) = %v (%v)", v, s.Reason)
	}
	if !s.Flags.Has(FlagFragment|FlagFirstFragment|FlagMoreFragments|FlagPorts) || s.FragOff != 0 {
		t.Errorf("first fragment flags = %b off %d", s.Flags, s.FragOff)
	}

	second := ip4(layers.IPProtocolUDP)
	second.FragOffset = 3 // 24 bytes
	f2 := serialize(t, eth(layers.EthernetTypeIPv4), second, gopacket.Payload(make([]byte, 10)))
	if v := Parse(f2, &s); v != OK {
		t.Fatalf("Parse(second fragment) = %v (%v)", v, s.Reason)
	}
	if !s.Flags.Has(FlagFragment) || s.Flags.Has(FlagFirstFragment) || s.Flags.Has(FlagPorts) ||
		s.FragOff != 24 || s.PayloadOff != s.L4Off {
		t.Errorf("non-first fragment = %+v", s)
	}

	v6 := ip6(layers.IPProtocolIPv6Fragment)
	fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 2, MoreFragments: true, Identification: 0xdeadbeef}
	f3 := serialize(t, eth(layers.EthernetTypeIPv6), v6, fh, gopacket.Payload(make([]byte, 16)))
	if v := Parse(f3, &s); v != OK {
		t.Fatalf("Parse(ipv6 fragment) = %v (%v)", v, s.Reason)
	}
	if s.FragID != 0xdeadbeef || s.FragOff != 16 || s.Proto != ProtoUDP || s.FragHdrOff != 54 ||
		!s.Flags.Has(FlagFragment|FlagMoreFragments) || s.Flags.Has(FlagFirstFragment) {
		t.Errorf("ipv6 fragment = %+v", s)
	}
}
