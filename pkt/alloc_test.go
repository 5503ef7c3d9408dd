package pkt

import "testing"

// sink keeps results of pure functions alive in the allocation tests.
var sink uint16

// The data path calls these per packet: none may allocate.
func TestZeroAllocs(t *testing.T) {
	v4, v6 := frameIPv4TCP(t), frameIPv6UDP(t)
	arp := arpRequest(t, false)
	ns := solicitation(t, gatewayIP6, 255, true)
	buf := make([]byte, 2048)
	buf2 := make([]byte, 2048)
	var s, in Summary
	icmpErr := make([]byte, 600)
	n, _ := BuildICMPv4Error(icmpErr, v4[EthernetLen:], routerIP4, ICMPv4TimeExceeded, 0, 0)
	icmpErr = icmpErr[:n]
	ParseIP(icmpErr, &s)
	outer := s

	tests := []struct {
		name string
		f    func()
	}{
		{"Parse ipv4 tcp", func() { Parse(v4, &s) }},
		{"Parse ipv6 udp", func() { Parse(v6, &s) }},
		{"ParseIP", func() { ParseIP(v4[EthernetLen:], &s) }},
		{"ParseQuoted", func() { ParseQuoted(icmpErr, &outer, &in) }},
		{"Checksum", func() { Checksum(buf[:1500], 0) }},
		{"ChecksumUpdate16", func() { sink = ChecksumUpdate16(sink, 2, 3) }},
		{"ChecksumUpdate32", func() { sink = ChecksumUpdate32(sink, 2, 3) }},
		{"ChecksumUpdateAddr", func() { ChecksumUpdateAddr(1, buf[:16], buf[16:32]) }},
		{"PseudoHeaderSum4", func() { PseudoHeaderSum4(buf[:4], buf[4:8], ProtoUDP, 100) }},
		{"PseudoHeaderSum6", func() { PseudoHeaderSum6(buf[:16], buf[16:32], ProtoUDP, 100) }},
		{"DecTTL", func() { IPv4(buf2[EthernetLen:]).DecTTL() }},
		{"BuildICMPv4Error", func() { BuildICMPv4Error(buf, v4[EthernetLen:], routerIP4, 11, 0, 0) }},
		{"BuildICMPv6Error", func() { BuildICMPv6Error(buf, v6[EthernetLen:], routerIP6, 3, 0, 0) }},
		{"BuildARPReply", func() { BuildARPReply(buf, arp, gatewayMAC) }},
		{"BuildNeighborAdvert", func() { BuildNeighborAdvert(buf, ns, gatewayMAC, true) }},
	}
	copy(buf2, v4)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tc.name, n)
			}
		})
	}
}
