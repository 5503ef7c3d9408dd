package pkt

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var routerIP4 = [4]byte{198, 18, 255, 1}
var routerIP6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: 1}

func decode(t *testing.T, b []byte, first gopacket.Decoder) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, first, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode %x: %v", b, el.Error())
	}
	return p
}

func TestBuildICMPv4Error(t *testing.T) {
	frame := frameIPv4TCP(t)
	orig := frame[EthernetLen:]
	whole := orig[:IPv4(orig).TotalLen()] // without the Ethernet padding
	tests := []struct {
		name      string
		typ, code uint8
		rest      uint32
		wantRest  []byte
	}{
		{"time exceeded", ICMPv4TimeExceeded, ICMPv4TTLExceeded, 0, []byte{0, 0, 0, 0}},
		{"host unreachable", ICMPv4DestUnreach, ICMPv4HostUnreach, 0, []byte{0, 0, 0, 0}},
		{"admin prohibited", ICMPv4DestUnreach, ICMPv4AdminProhibited, 0, []byte{0, 0, 0, 0}},
		{"frag needed", ICMPv4DestUnreach, ICMPv4FragNeeded, RestMTU4(1400), []byte{0, 0, 0x05, 0x78}},
		{"param problem", ICMPv4ParamProblem, 0, RestPointer4(9), []byte{9, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 600)
			n, err := BuildICMPv4Error(dst, orig, routerIP4, tc.typ, tc.code, tc.rest)
			if err != nil {
				t.Fatalf("BuildICMPv4Error: %v", err)
			}
			p := decode(t, dst[:n], layers.LayerTypeIPv4)
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if !ip.SrcIP.Equal(net.IP(routerIP4[:])) || !ip.DstIP.Equal(ip4A) || ip.Protocol != layers.IPProtocolICMPv4 ||
				int(ip.Length) != n || ip.TTL != RouterTTL {
				t.Errorf("IP header = %+v", ip)
			}
			if ic.TypeCode != layers.CreateICMPv4TypeCode(tc.typ, tc.code) {
				t.Errorf("type/code = %v, want %d/%d", ic.TypeCode, tc.typ, tc.code)
			}
			if !bytes.Equal(dst[IPv4MinLen+4:IPv4MinLen+8], tc.wantRest) {
				t.Errorf("rest = %x, want %x", dst[IPv4MinLen+4:IPv4MinLen+8], tc.wantRest)
			}
			if !bytes.Equal(dst[ICMPv4ErrorHeaderLen:n], whole) {
				t.Errorf("quote = %x, want the whole original %x", dst[ICMPv4ErrorHeaderLen:n], whole)
			}
			var s Summary
			if ParseIP(dst[:n], &s) != OK || !s.Flags.Has(FlagICMPError) {
				t.Fatalf("ParseIP(built) = %v %v flags %b", s.Verdict, s.Reason, s.Flags)
			}
			if Checksum(dst[IPv4MinLen:n], 0) != 0xffff {
				t.Errorf("ICMP checksum does not verify")
			}
			var in Summary
			if ParseQuoted(dst[:n], &s, &in) != OK || in.SrcPort != 40000 || in.DstPort != 443 {
				t.Errorf("ParseQuoted(built) = %+v", in)
			}
		})
	}
}

func TestBuildICMPv4ErrorInPlaceAndTruncated(t *testing.T) {
	big := ip4(layers.IPProtocolUDP)
	raw := serialize(t, big, udp(big), gopacket.Payload(make([]byte, 1400)))
	// In place: the original sits at the quote's position in a larger frame.
	buf := make([]byte, ICMPv4ErrorHeaderLen+len(raw))
	copy(buf[ICMPv4ErrorHeaderLen:], raw)
	n, err := BuildICMPv4Error(buf, buf[ICMPv4ErrorHeaderLen:], routerIP4, ICMPv4TimeExceeded, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != ICMPv4ErrorMaxLen {
		t.Errorf("length %d, want the RFC 1812 cap %d", n, ICMPv4ErrorMaxLen)
	}
	if !bytes.Equal(buf[ICMPv4ErrorHeaderLen:n], raw[:n-ICMPv4ErrorHeaderLen]) {
		t.Errorf("in-place quote differs from the original")
	}
	decode(t, buf[:n], layers.LayerTypeIPv4)
	if Checksum(buf[IPv4MinLen:n], 0) != 0xffff || Checksum(buf[:IPv4MinLen], 0) != 0xffff {
		t.Errorf("checksums do not verify")
	}
}

func TestBuildICMPv4ErrorRefuses(t *testing.T) {
	errPkt := func() []byte {
		i := ip4(layers.IPProtocolICMPv4)
		return serialize(t, i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(make([]byte, 28)))
	}
	frag := func() []byte {
		i := ip4(layers.IPProtocolUDP)
		i.FragOffset = 10
		return serialize(t, i, gopacket.Payload(make([]byte, 8)))
	}
	withSrc := func(src, dst net.IP) []byte {
		i := ip4(layers.IPProtocolUDP)
		i.SrcIP, i.DstIP = src, dst
		return serialize(t, i, udp(i))
	}
	tests := []struct {
		name string
		orig []byte
		want error
	}{
		{"icmp error", errPkt(), ErrOrigICMPError},
		{"non-first fragment", frag(), ErrOrigFragment},
		{"from 0.0.0.0", withSrc(net.IP{0, 0, 0, 0}, ip4B), ErrOrigNotUnicast},
		{"from loopback", withSrc(net.IP{127, 0, 0, 1}, ip4B), ErrOrigNotUnicast},
		{"from multicast", withSrc(net.IP{224, 0, 0, 5}, ip4B), ErrOrigNotUnicast},
		{"to broadcast", withSrc(ip4A, net.IP{255, 255, 255, 255}), ErrOrigNotUnicast},
		{"to multicast", withSrc(ip4A, net.IP{239, 1, 1, 1}), ErrOrigNotUnicast},
		{"truncated header", []byte{0x45, 0, 0}, ErrOrigMalformed},
		{"ipv6 packet", frameIPv6UDP(t)[EthernetLen:], ErrOrigMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := BuildICMPv4Error(make([]byte, 600), tc.orig, routerIP4, ICMPv4DestUnreach, 1, 0)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Errorf("BuildICMPv4Error = %d, %v; want 0, %v", n, err, tc.want)
			}
		})
	}
	if _, err := BuildICMPv4Error(make([]byte, 30), frameIPv4TCP(t)[EthernetLen:], routerIP4, 11, 0, 0); err != ErrBufferTooSmall {
		t.Errorf("short buffer: err = %v, want %v", err, ErrBufferTooSmall)
	}
}

func TestBuildICMPv6Error(t *testing.T) {
	orig := frameIPv6UDP(t)[EthernetLen:]
	tests := []struct {
		name      string
		typ, code uint8
		rest      uint32
	}{
		{"hop limit exceeded", ICMPv6TimeExceeded, ICMPv6HopLimitExceeded, 0},
		{"no route", ICMPv6DestUnreach, ICMPv6NoRoute, 0},
		{"admin prohibited", ICMPv6DestUnreach, ICMPv6AdminProhibited, 0},
		{"packet too big", ICMPv6PacketTooBig, 0, 1280},
		{"param problem", ICMPv6ParamProblem, ICMPv6ErroneousHeader, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 1500)
			n, err := BuildICMPv6Error(dst, orig, routerIP6, tc.typ, tc.code, tc.rest)
			if err != nil {
				t.Fatalf("BuildICMPv6Error: %v", err)
			}
			p := decode(t, dst[:n], layers.LayerTypeIPv6)
			ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			ic := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if !ip.SrcIP.Equal(net.IP(routerIP6[:])) || !ip.DstIP.Equal(ip6A) || ip.HopLimit != RouterTTL ||
				int(ip.Length) != n-IPv6Len {
				t.Errorf("IPv6 header = %+v", ip)
			}
			if ic.TypeCode != layers.CreateICMPv6TypeCode(tc.typ, tc.code) {
				t.Errorf("type/code = %v", ic.TypeCode)
			}
			if got := ICMP(dst[IPv6Len:n]).Rest(); got != tc.rest {
				t.Errorf("rest = %d, want %d", got, tc.rest)
			}
			var s Summary
			if ParseIP(dst[:n], &s) != OK || !s.Flags.Has(FlagICMPError) {
				t.Fatalf("ParseIP(built) = %v %v", s.Verdict, s.Reason)
			}
			pseudo := PseudoHeaderSum6(s.Src[:], s.Dst[:], ProtoICMPv6, uint32(n-IPv6Len))
			if !VerifyTransport(pseudo, dst[IPv6Len:n]) {
				t.Errorf("ICMPv6 checksum does not verify")
			}
			// gopacket agrees on the checksum.
			ic.SetNetworkLayerForChecksum(ip)
			again := serialize(t, ip, ic, gopacket.Payload(ic.Payload))
			if !bytes.Equal(again, dst[:n]) {
				t.Errorf("gopacket re-serialization differs:\n got %x\nwant %x", dst[:n], again)
			}
			if !bytes.Equal(dst[ICMPv6ErrorHeaderLen:n], orig) {
				t.Errorf("quote differs from original")
			}
		})
	}
}

func TestBuildICMPv6ErrorRefuses(t *testing.T) {
	with := func(src, dst net.IP, next layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
		i := ip6(next)
		i.SrcIP, i.DstIP = src, dst
		return serialize(t, append([]gopacket.SerializableLayer{i}, l4...)...)
	}
	icmpErr := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 0)}
	icmpErr.SetNetworkLayerForChecksum(ip6(58))
	redirect := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(137, 0)}
	redirect.SetNetworkLayerForChecksum(ip6(58))
	mcast := net.ParseIP("ff02::1")
	tests := []struct {
		name      string
		orig      []byte
		typ, code uint8
		want      error
	}{
		{"icmpv6 error", with(ip6A, ip6B, 58, icmpErr, gopacket.Payload(make([]byte, 48))), 1, 0, ErrOrigICMPError},
		{"redirect", with(ip6A, ip6B, 58, redirect, gopacket.Payload(make([]byte, 36))), 1, 0, ErrOrigICMPError},
		{"from unspecified", with(net.IPv6unspecified, ip6B, 59), 1, 0, ErrOrigNotUnicast},
		{"from multicast", with(mcast, ip6B, 59), 1, 0, ErrOrigNotUnicast},
		{"to multicast", with(ip6A, mcast, 59), 3, 0, ErrOrigNotUnicast},
		{"to multicast packet too big allowed", with(ip6A, mcast, 59), 2, 0, nil},
		{"to multicast unknown option allowed", with(ip6A, mcast, 59), 4, 2, nil},
		{"truncated", make([]byte, 39), 1, 0, ErrOrigMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildICMPv6Error(make([]byte, 1500), tc.orig, routerIP6, tc.typ, tc.code, 0)
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Errorf("BuildICMPv6Error = %v, want %v", err, tc.want)
			}
		})
	}
}

func arpRequest(t testing.TB, vlan bool) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: macA, SourceProtAddress: ip4A,
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{169, 254, 1, 1}}
	if vlan {
		e := eth(layers.EthernetTypeDot1Q)
		e.DstMAC = net.HardwareAddr(Broadcast[:])
		return serialize(t, e, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeARP}, a)
	}
	e := eth(layers.EthernetTypeARP)
	e.DstMAC = net.HardwareAddr(Broadcast[:])
	return serialize(t, e, a)
}

var gatewayMAC = MAC{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}

func TestBuildARPReply(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		req := arpRequest(t, vlan)
		// In place, as the data path answers.
		n, err := BuildARPReply(req, req, gatewayMAC)
		if err != nil {
			t.Fatalf("vlan=%v: BuildARPReply: %v", vlan, err)
		}
		p := decode(t, req[:n], layers.LayerTypeEthernet)
		e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		a := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		if !bytes.Equal(e.DstMAC, macA) || !bytes.Equal(e.SrcMAC, gatewayMAC[:]) {
			t.Errorf("vlan=%v: ethernet %v -> %v", vlan, e.SrcMAC, e.DstMAC)
		}
		if a.Operation != layers.ARPReply || !bytes.Equal(a.SourceHwAddress, gatewayMAC[:]) ||
			!net.IP(a.SourceProtAddress).Equal(net.IP{169, 254, 1, 1}) ||
			!bytes.Equal(a.DstHwAddress, macA) || !net.IP(a.DstProtAddress).Equal(ip4A) {
			t.Errorf("vlan=%v: reply %+v", vlan, a)
		}
		if vlan && p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q).VLANIdentifier != 7 {
			t.Errorf("VLAN tag not kept")
		}
	}
	if _, err := BuildARPReply(make([]byte, 64), frameIPv4TCP(t), gatewayMAC); err != ErrNotARPRequest {
		t.Errorf("BuildARPReply(tcp frame) err = %v, want %v", err, ErrNotARPRequest)
	}
}

var gatewayIP6 = net.ParseIP("fe80::1")

func solicitation(t testing.TB, src net.IP, hop uint8, withSLLA bool) []byte {
	i := ip6(layers.IPProtocolICMPv6)
	i.SrcIP, i.DstIP, i.HopLimit = src, net.ParseIP("ff02::1:ff00:1"), hop
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	ic.SetNetworkLayerForChecksum(i)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: gatewayIP6}
	if withSLLA {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macA}}
	}
	e := eth(layers.EthernetTypeIPv6)
	e.DstMAC = net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}
	return serialize(t, e, i, ic, ns)
}

func TestBuildNeighborAdvert(t *testing.T) {
	llA := net.ParseIP("fe80::a")
	tests := []struct {
		name      string
		frame     []byte
		wantDst   net.IP
		wantMAC   net.HardwareAddr
		solicited bool
	}{
		{"unicast solicitation", solicitation(t, llA, 255, true), llA, macA, true},
		{"duplicate address detection", solicitation(t, net.IPv6unspecified, 255, false),
			net.ParseIP("ff02::1"), net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 128)
			copy(buf, tc.frame)
			n, err := BuildNeighborAdvert(buf, buf[:len(tc.frame)], gatewayMAC, true)
			if err != nil {
				t.Fatalf("BuildNeighborAdvert: %v", err)
			}
			if n != NeighborAdvertLen {
				t.Errorf("length %d, want %d", n, NeighborAdvertLen)
			}
			p := decode(t, buf[:n], layers.LayerTypeEthernet)
			e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if !bytes.Equal(e.DstMAC, tc.wantMAC) || !bytes.Equal(e.SrcMAC, gatewayMAC[:]) {
				t.Errorf("ethernet %v -> %v", e.SrcMAC, e.DstMAC)
			}
			if !ip.SrcIP.Equal(gatewayIP6) || !ip.DstIP.Equal(tc.wantDst) || ip.HopLimit != 255 {
				t.Errorf("IPv6 %v -> %v hop %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
			}
			if !na.TargetAddress.Equal(gatewayIP6) || !na.Router() || na.Solicited() != tc.solicited || !na.Override() {
				t.Errorf("advert = %+v", na)
			}
			if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress ||
				!bytes.Equal(na.Options[0].Data, gatewayMAC[:]) {
				t.Errorf("options = %+v", na.Options)
			}
			pseudo := PseudoHeaderSum6(ip.SrcIP, ip.DstIP, ProtoICMPv6, uint32(NDPLen+ndpLLAddrOptLen))
			if !VerifyTransport(pseudo, buf[EthernetLen+IPv6Len:n]) {
				t.Errorf("ICMPv6 checksum does not verify")
			}
		})
	}
	bad := []struct {
		name  string
		frame []byte
	}{
		{"hop limit not 255", solicitation(t, llA, 64, true)},
		{"dad with source link-layer option", solicitation(t, net.IPv6unspecified, 255, true)},
		{"not a solicitation", frameIPv6UDP(t)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildNeighborAdvert(make([]byte, 128), tc.frame, gatewayMAC, true); err != ErrNotSolicitation {
				t.Errorf("err = %v, want %v", err, ErrNotSolicitation)
			}
		})
	}
	corrupt := solicitation(t, llA, 255, true)
	corrupt[len(corrupt)-1] ^= 0xff
	if _, err := BuildNeighborAdvert(make([]byte, 128), corrupt, gatewayMAC, true); err != ErrNotSolicitation {
		t.Errorf("bad checksum: err = %v, want %v", err, ErrNotSolicitation)
	}
}
