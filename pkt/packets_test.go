package pkt

// Test packets built with gopacket, the independent encoder every parser
// test compares against.

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = net.IP{198, 18, 0, 1}
	ip4B = net.IP{198, 19, 1, 2}
	ip6A = net.ParseIP("2001:db8::a")
	ip6B = net.ParseIP("2001:db8:1::b")
)

// serialize encodes layers with lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, TOS: 0x28, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: ip4A, DstIP: ip4B}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0x28, FlowLabel: 0x12345, HopLimit: 63,
		NextHeader: next, SrcIP: ip6A, DstIP: ip6B}
}

func tcp(net gopacket.NetworkLayer) *layers.TCP {
	l := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, SYN: true, Window: 65535}
	l.SetNetworkLayerForChecksum(net)
	return l
}

func udp(net gopacket.NetworkLayer) *layers.UDP {
	l := &layers.UDP{SrcPort: 5353, DstPort: 53}
	l.SetNetworkLayerForChecksum(net)
	return l
}

// frameIPv4TCP is Ethernet/IPv4/TCP SYN with payload.
func frameIPv4TCP(t testing.TB) []byte {
	i := ip4(layers.IPProtocolTCP)
	return serialize(t, eth(layers.EthernetTypeIPv4), i, tcp(i), gopacket.Payload("hello"))
}

// frameIPv6UDP is Ethernet/IPv6/UDP with payload.
func frameIPv6UDP(t testing.TB) []byte {
	i := ip6(layers.IPProtocolUDP)
	return serialize(t, eth(layers.EthernetTypeIPv6), i, udp(i), gopacket.Payload("query"))
}
