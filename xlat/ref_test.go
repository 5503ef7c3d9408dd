package xlat

// The slow twin: a reference translator built on gopacket's decoders and
// encoders, for the packets both twins handle the common way (whole TCP,
// UDP and ICMP echo packets, with IPv4 options or IPv6 extension headers
// to drop). It shares no code with the fast path: addresses go through
// refEmbed/refExtract (bit by bit) and checksums are computed by
// gopacket from scratch.

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// refEmbed is RFC 6052 section 2.2 read literally: bit i of the IPv4
// address goes to bit plen+i of the IPv6 address, skipping bits 64-71.
func refEmbed(prefix netip.Prefix, v4 netip.Addr) netip.Addr {
	a := new(big.Int).SetBytes(prefix.Masked().Addr().AsSlice())
	v := new(big.Int).SetBytes(v4.AsSlice())
	pos := prefix.Bits()
	for i := range 32 {
		if pos == 64 {
			pos = 72
		}
		a.SetBit(a, 127-pos, v.Bit(31-i))
		pos++
	}
	var out [16]byte
	a.FillBytes(out[:])
	return netip.AddrFrom16(out)
}

// refExtract is the reverse of refEmbed.
func refExtract(plen int, v6 netip.Addr) netip.Addr {
	a := new(big.Int).SetBytes(v6.AsSlice())
	v := new(big.Int)
	pos := plen
	for i := range 32 {
		if pos == 64 {
			pos = 72
		}
		v.SetBit(v, 31-i, a.Bit(127-pos))
		pos++
	}
	var out [4]byte
	v.FillBytes(out[:])
	return netip.AddrFrom4(out)
}

func serializeLayers(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// refTo6 translates a whole IPv4 TCP/UDP/ICMP-echo packet whose two
// addresses live under prefix (an RFC 6052 prefix).
func refTo6(t testing.TB, prefix netip.Prefix, in []byte) ([]byte, error) {
	p := gopacket.NewPacket(in, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		return nil, fmt.Errorf("not IPv4")
	}
	src := refEmbed(prefix, netip.AddrFrom4([4]byte(ip.SrcIP.To4())))
	dst := refEmbed(prefix, netip.AddrFrom4([4]byte(ip.DstIP.To4())))
	ip6 := &layers.IPv6{Version: 6, TrafficClass: ip.TOS, HopLimit: ip.TTL,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	switch l := p.Layers()[1].(type) {
	case *layers.UDP:
		ip6.NextHeader = layers.IPProtocolUDP
		u := *l
		u.SetNetworkLayerForChecksum(ip6)
		return serializeLayers(t, ip6, &u, gopacket.Payload(l.Payload)), nil
	case *layers.TCP:
		ip6.NextHeader = layers.IPProtocolTCP
		c := *l
		c.SetNetworkLayerForChecksum(ip6)
		return serializeLayers(t, ip6, &c, gopacket.Payload(l.Payload)), nil
	case *layers.ICMPv4:
		ip6.NextHeader = layers.IPProtocolICMPv6
		typ := uint8(layers.ICMPv6TypeEchoRequest)
		if l.TypeCode.Type() == layers.ICMPv4TypeEchoReply {
			typ = layers.ICMPv6TypeEchoReply
		}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		ic.SetNetworkLayerForChecksum(ip6)
		echo := &layers.ICMPv6Echo{Identifier: l.Id, SeqNumber: l.Seq}
		return serializeLayers(t, ip6, ic, echo, gopacket.Payload(l.Payload)), nil
	}
	return nil, fmt.Errorf("no reference for %v", p.Layers()[1].LayerType())
}

// refTo4 translates a whole IPv6 TCP/UDP/ICMP-echo packet (extension
// headers dropped) whose addresses live under prefix. id is the
// Identification the fast path chose (RFC 7915 leaves it to a generator).
func refTo4(t testing.TB, prefix netip.Prefix, in []byte, id uint16) ([]byte, error) {
	p := gopacket.NewPacket(in, layers.LayerTypeIPv6, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil {
		return nil, fmt.Errorf("not IPv6")
	}
	src := refExtract(prefix.Bits(), netip.AddrFrom16([16]byte(ip.SrcIP.To16())))
	dst := refExtract(prefix.Bits(), netip.AddrFrom16([16]byte(ip.DstIP.To16())))
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TOS: ip.TrafficClass, TTL: ip.HopLimit, Id: id,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	var ls []gopacket.SerializableLayer
	for _, l := range p.Layers()[1:] {
		switch l := l.(type) {
		case *layers.IPv6HopByHop, *layers.IPv6Destination, *layers.IPv6Routing:
			continue
		case *layers.UDP:
			ip4.Protocol = layers.IPProtocolUDP
			u := *l
			u.SetNetworkLayerForChecksum(ip4)
			ls = []gopacket.SerializableLayer{&u, gopacket.Payload(l.Payload)}
		case *layers.TCP:
			ip4.Protocol = layers.IPProtocolTCP
			c := *l
			c.SetNetworkLayerForChecksum(ip4)
			ls = []gopacket.SerializableLayer{&c, gopacket.Payload(l.Payload)}
		case *layers.ICMPv6:
			ip4.Protocol = layers.IPProtocolICMPv4
			typ := uint8(layers.ICMPv4TypeEchoRequest)
			if l.TypeCode.Type() == layers.ICMPv6TypeEchoReply {
				typ = layers.ICMPv4TypeEchoReply
			}
			echo, _ := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
			if echo == nil {
				return nil, fmt.Errorf("ICMPv6 without echo")
			}
			ls = []gopacket.SerializableLayer{
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: echo.Identifier, Seq: echo.SeqNumber},
				gopacket.Payload(echo.Payload)}
		default:
			continue
		}
		break
	}
	if ls == nil {
		return nil, fmt.Errorf("no reference for %v", p.Layers())
	}
	out := serializeLayers(t, append([]gopacket.SerializableLayer{ip4}, ls...)...)
	if len(out) > dfLimit {
		out[6] |= 0x40
		out[10], out[11] = 0, 0
		c := ^checksumRef(out[:20])
		out[10], out[11] = byte(c>>8), byte(c)
	}
	return out, nil
}

// checksumRef is RFC 1071 in its plainest form.
func checksumRef(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
