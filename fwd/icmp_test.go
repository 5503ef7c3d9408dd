package fwd

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// icmpErr is the ICMP error the router should send about orig (a bare IP
// packet) from src to orig's source, as gopacket encodes it.
func icmpErr(t *testing.T, dstMAC net.HardwareAddr, src, to netip.Addr, typ, code uint8, rest uint32, orig []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: gwMAC, DstMAC: dstMAC}
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		q := orig[:min(len(orig), 576-28)]
		return serialize(t, eth,
			&layers.IPv4{Version: 4, TOS: 0xc0, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolICMPv4,
				SrcIP: src.AsSlice(), DstIP: to.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: uint16(rest >> 16), Seq: uint16(rest)},
			gopacket.Payload(q))
	}
	eth.EthernetType = layers.EthernetTypeIPv6
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: to.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(ip)
	body := binary.BigEndian.AppendUint32(nil, rest)
	body = append(body, orig[:min(len(orig), 1280-48)]...)
	return serialize(t, eth, ip, ic, gopacket.Payload(body))
}

func TestRouterICMP(t *testing.T) {
	big := make([]byte, 1400)
	noRoute := twoWorkloads()
	noRoute.Routes = nil
	smallW2 := twoWorkloads()
	smallW2.Ports[1].MTU = 1280
	hostAddr := twoWorkloads()
	hostAddr.Ports[0].HostAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.77")}

	tests := []struct {
		name      string
		cfg       Config
		p         spec
		from      netip.Addr
		typ, code uint8
		rest      uint32
		reason    Reason
	}{
		{"ipv4 ttl 1", twoWorkloads(), spec{src: w1v4, dst: w2v4, ttl: 1, proto: "udp", sport: 33434, dport: 33435},
			rtr4, layers.ICMPv4TypeTimeExceeded, layers.ICMPv4CodeTTLExceeded, 0, ReasonTTLExceeded},
		{"ipv4 ttl 1 from the port's host address", hostAddr, spec{src: w1v4, dst: w2v4, ttl: 1, proto: "udp"},
			netip.MustParseAddr("192.0.2.77"), layers.ICMPv4TypeTimeExceeded, 0, 0, ReasonTTLExceeded},
		{"ipv6 hop limit 1", twoWorkloads(), spec{src: w1v6, dst: w2v6, ttl: 1, proto: "echo", id: 1},
			rtr6, layers.ICMPv6TypeTimeExceeded, layers.ICMPv6CodeHopLimitExceeded, 0, ReasonTTLExceeded},
		{"ipv4 no route", noRoute, spec{src: w1v4, dst: netip.MustParseAddr("203.0.113.5"), proto: "syn", sport: 1, dport: 80},
			rtr4, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeNet, 0, ReasonNoRoute},
		{"ipv6 no route", noRoute, spec{src: w1v6, dst: netip.MustParseAddr("2001:db8:9::5"), proto: "udp"},
			rtr6, layers.ICMPv6TypeDestinationUnreachable, layers.ICMPv6CodeNoRouteToDst, 0, ReasonNoRoute},
		{"ipv4 DF above MTU", smallW2, spec{src: w1v4, dst: w2v4, df: true, proto: "udp", payload: big},
			rtr4, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded, 1280, ReasonTooBig},
		{"ipv6 above MTU", smallW2, spec{src: w1v6, dst: w2v6, proto: "udp", payload: big},
			rtr6, layers.ICMPv6TypePacketTooBig, 0, 1280, ReasonTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.cfg, peerNeigh)
			tc.p.srcMAC, tc.p.dstMAC = macW1, gwMAC
			h.send(0, tc.p.frame(t))
			want := icmpErr(t, macW1, tc.from, tc.p.src, tc.typ, tc.code, tc.rest, tc.p.packet(t))
			expectFrames(t, "w1", h.out(0), want)
			expectFrames(t, "w2", h.out(1))
			st := h.stats()
			if st.Drops[tc.reason] != 1 || st.ICMP[ICMPSent] != 1 {
				t.Errorf("drops %v, ICMP %v; want %v once and one ICMP sent", nonZero(st), st.ICMP, tc.reason)
			}
			// The error is counted by its kind too (gannet_icmp_sent_total{type}).
			var kinds [NumICMPTypes]uint64
			kinds[map[Reason]int{ReasonTTLExceeded: ICMPTimeExceeded, ReasonNoRoute: ICMPUnreachable, ReasonTooBig: ICMPTooBig}[tc.reason]] = 1
			if st.ICMPTypes != kinds {
				t.Errorf("ICMP kinds %v, want %v", st.ICMPTypes, kinds)
			}
		})
	}
}

func TestICMPRateLimit(t *testing.T) {
	c := twoWorkloads()
	c.ICMPRate = 2
	h := newHost(t, c, peerNeigh)
	expired := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, ttl: 1, proto: "udp"}.frame(t)
	for range 5 {
		h.send(0, expired)
	}
	if got := len(h.out(0)); got != 2 {
		t.Errorf("%d Time Exceeded sent from a full bucket of 2, want 2", got)
	}
	h.advance(500 * time.Millisecond)
	for range 3 {
		h.send(0, expired)
	}
	if got := len(h.out(0)); got != 1 {
		t.Errorf("%d sent after half a second at 2/s, want 1", got)
	}
	st := h.stats()
	if st.ICMP[ICMPSent] != 3 || st.ICMP[ICMPRateLimited] != 5 || st.Drops[ReasonTTLExceeded] != 8 {
		t.Errorf("ICMP %v, ttl drops %d; want 3 sent, 5 limited, 8 drops", st.ICMP, st.Drops[ReasonTTLExceeded])
	}
}

func TestNoICMPAboutICMPErrors(t *testing.T) {
	// A Time Exceeded whose own TTL runs out is dropped without an answer.
	h := newHost(t, twoWorkloads(), peerNeigh)
	inner := spec{src: w1v4, dst: netip.MustParseAddr("203.0.113.5"), proto: "udp"}.packet(t)
	f := serialize(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: w1v4.AsSlice(), DstIP: w2v4.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, 0)}, gopacket.Payload(inner))
	h.send(0, f)
	expectFrames(t, "w1", h.out(0))
	if st := h.stats(); st.ICMP[ICMPRefused] != 1 || st.Drops[ReasonTTLExceeded] != 1 {
		t.Errorf("ICMP %v drops %v, want one refused ttl-exceeded", st.ICMP, nonZero(st))
	}
}
