package fwd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestGatewayARP(t *testing.T) {
	req := func(target netip.Addr, op uint16) []byte {
		return serialize(t,
			&layers.Ethernet{SrcMAC: macW1, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: op, SourceHwAddress: macW1, SourceProtAddress: w1v4.AsSlice(),
				DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
	}
	reply := serialize(t,
		&layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW1, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: gwMAC, SourceProtAddress: DefaultGateway4.AsSlice(),
			DstHwAddress: macW1, DstProtAddress: w1v4.AsSlice()})[:42]

	tests := []struct {
		name   string
		port   int
		frame  []byte
		want   [][]byte
		reason Reason
	}{
		{"request for the gateway", 0, req(DefaultGateway4, layers.ARPRequest), [][]byte{reply}, ReasonARPAnswered},
		{"request for another address", 0, req(w2v4, layers.ARPRequest), nil, ReasonARPIgnored},
		{"reply", 0, req(DefaultGateway4, layers.ARPReply), nil, ReasonARPIgnored},
		{"request on an uplink", 2, req(DefaultGateway4, layers.ARPRequest), nil, ReasonARPIgnored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, twoWorkloads(), peerNeigh)
			h.send(tc.port, tc.frame)
			expectFrames(t, "ingress port", h.out(tc.port), tc.want...)
			if got := h.stats().Drops[tc.reason]; got != 1 {
				t.Errorf("Drops[%v] = %d, want 1 (all: %v)", tc.reason, got, nonZero(h.stats()))
			}
		})
	}
}

func TestGatewayNDP(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1:1")
	ns := func(target netip.Addr, hop uint8) []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolICMPv6, SrcIP: ll.AsSlice(),
			DstIP: net.ParseIP("ff02::1:ff00:1")}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
		ic.SetNetworkLayerForChecksum(ip)
		return serialize(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6},
			ip, ic, &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macW1}}})
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: DefaultGateway6.AsSlice(), DstIP: ll.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	na := serialize(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW1, EthernetType: layers.EthernetTypeIPv6}, ip, ic,
		&layers.ICMPv6NeighborAdvertisement{Flags: 0xe0, TargetAddress: DefaultGateway6.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: gwMAC}}})

	tests := []struct {
		name   string
		port   int
		frame  []byte
		want   [][]byte
		reason Reason
	}{
		{"solicitation for the gateway", 0, ns(DefaultGateway6, 255), [][]byte{na}, ReasonNDPAnswered},
		{"solicitation for another address", 0, ns(w2v6, 255), nil, ReasonNDPIgnored},
		{"hop limit not 255", 0, ns(DefaultGateway6, 64), nil, ReasonNDPRefused},
		{"solicitation on an uplink", 2, ns(DefaultGateway6, 255), nil, ReasonNDPIgnored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, twoWorkloads(), peerNeigh)
			h.send(tc.port, tc.frame)
			expectFrames(t, "ingress port", h.out(tc.port), tc.want...)
			if got := h.stats().Drops[tc.reason]; got != 1 {
				t.Errorf("Drops[%v] = %d, want 1 (all: %v)", tc.reason, got, nonZero(h.stats()))
			}
		})
	}
}

func TestForwardingRefusals(t *testing.T) {
	tests := []struct {
		name   string
		port   int
		p      spec
		reason Reason
	}{
		{"spoofed ipv4 source", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: netip.MustParseAddr("198.18.0.99"), dst: w2v4, proto: "udp"}, ReasonSpoofed},
		{"spoofed ipv6 source", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: netip.MustParseAddr("2001:db8::99"), dst: w2v6, proto: "udp"}, ReasonSpoofed},
		{"other workload's source", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w2v4, dst: w2v4, proto: "udp"}, ReasonSpoofed},
		{"multicast destination", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("224.0.0.5"), proto: "udp"}, ReasonNotUnicast},
		{"broadcast frame", 0, spec{srcMAC: macW1, dstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src: w1v4, dst: w2v4, proto: "udp"}, ReasonNotUnicast},
		{"link-local destination", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: netip.MustParseAddr("fe80::2"), proto: "udp"}, ReasonNotUnicast},
		{"to the gateway", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: DefaultGateway4, proto: "echo"}, ReasonToRouter},
		{"unresolved neighbour", 0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("203.0.113.1"), proto: "udp"}, ReasonNoNeighbour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var nb = peerNeigh
			if tc.reason == ReasonNoNeighbour {
				nb = nil
			}
			h := newHost(t, twoWorkloads(), nb)
			h.send(tc.port, tc.p.frame(t))
			for i := range h.ports {
				expectFrames(t, h.w.tables.Load().ports[i].name, h.out(i))
			}
			st := h.stats()
			if st.Drops[tc.reason] != 1 || st.Dropped() != 1 {
				t.Errorf("drops = %v, want only %v", nonZero(st), tc.reason)
			}
			if tc.reason == ReasonNoNeighbour && h.neigh.Misses() != 1 {
				t.Errorf("neighbour misses = %d, want 1", h.neigh.Misses())
			}
		})
	}
}
