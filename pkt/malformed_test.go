package pkt

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mutate returns a copy of frame changed by f.
func mutate(frame []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), frame...))
}

// fixIPv4Checksum recomputes the header checksum of the IPv4 header at off,
// so that a test reaches the check after it.
func fixIPv4Checksum(b []byte, off int) []byte {
	h := IPv4(b[off:])
	h.SetChecksum(0)
	h.SetChecksum(h.ComputeChecksum())
	return b
}

func TestParseMalformed(t *testing.T) {
	v4 := frameIPv4TCP(t)
	v6 := frameIPv6UDP(t)
	const l3 = EthernetLen
	v4udp := func() []byte {
		i := ip4(layers.IPProtocolUDP)
		return serialize(t, eth(layers.EthernetTypeIPv4), i, udp(i), gopacket.Payload("abcdefgh"))
	}()
	v4icmp := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4))
	v6icmp := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6))
	fragHdr := func(next layers.IPProtocol, off uint16, mf bool, payload int) []byte {
		i := ip6(layers.IPProtocolIPv6Fragment)
		f := &layers.IPv6Fragment{NextHeader: next, FragmentOffset: off, MoreFragments: mf, Identification: 1}
		return serialize(t, eth(layers.EthernetTypeIPv6), i, f, gopacket.Payload(make([]byte, payload)))
	}
	destOpts := func(next layers.IPProtocol) *layers.IPv6Destination {
		d := &layers.IPv6Destination{}
		d.NextHeader = next
		d.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
		return d
	}

	tests := []struct {
		name    string
		frame   []byte
		verdict Verdict
		reason  Reason
	}{
		{"empty", nil, Malformed, ReasonEthernetTruncated},
		{"short ethernet", v4[:13], Malformed, ReasonEthernetTruncated},
		{"vlan tag cut", mutate(v4[:16], func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[12:], EtherTypeVLAN)
			return b
		}), Malformed, ReasonVLANTruncated},
		{"three vlan tags", mutate(make([]byte, 64), func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[12:], EtherTypeQinQ)
			binary.BigEndian.PutUint16(b[16:], EtherTypeVLAN)
			binary.BigEndian.PutUint16(b[20:], EtherTypeVLAN)
			return b
		}), Unsupported, ReasonVLANTooDeep},
		{"lldp", mutate(v4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[12:], 0x88cc); return b }),
			Unsupported, ReasonEtherTypeUnsupported},
		{"arp truncated", arpRequest(t, false)[:l3+27], Malformed, ReasonARPTruncated},
		{"arp not ethernet/ipv4", mutate(arpRequest(t, false), func(b []byte) []byte { b[l3+4] = 8; return b }),
			Unsupported, ReasonARPFormat},

		{"ipv4 truncated", v4[:l3+19], Malformed, ReasonIPv4Truncated},
		{"ipv4 version", mutate(v4, func(b []byte) []byte { b[l3] = 0x55; return b }), Malformed, ReasonIPv4Version},
		{"ipv4 ihl 4", mutate(v4, func(b []byte) []byte { b[l3] = 0x44; return b }), Malformed, ReasonIPv4IHL},
		{"ipv4 ihl beyond frame", mutate(v4[:l3+24], func(b []byte) []byte { b[l3] = 0x47; return b }),
			Malformed, ReasonIPv4HeaderTruncated},
		{"ipv4 total < ihl", mutate(v4, func(b []byte) []byte { IPv4(b[l3:]).SetTotalLen(19); return b }),
			Malformed, ReasonIPv4TotalLength},
		{"ipv4 total beyond frame", mutate(v4, func(b []byte) []byte { IPv4(b[l3:]).SetTotalLen(1000); return b }),
			Malformed, ReasonIPv4TotalTruncated},
		{"ipv4 bad checksum", mutate(v4, func(b []byte) []byte { b[l3+ipv4TTLOff]--; return b }),
			Malformed, ReasonIPv4Checksum},
		{"ipv4 fragment beyond 64k", mutate(v4, func(b []byte) []byte {
			IPv4(b[l3:]).SetFragment(false, true, 65528)
			return fixIPv4Checksum(b, l3)
		}), Malformed, ReasonIPv4FragmentTooLong},
		{"ipv4 tcp fragment at offset 8", mutate(v4, func(b []byte) []byte {
			IPv4(b[l3:]).SetFragment(false, true, 8)
			return fixIPv4Checksum(b, l3)
		}), Malformed, ReasonIPv4TinyFragment},
		{"ipv4 first fragment without whole tcp header", mutate(v4[:l3+28], func(b []byte) []byte {
			IPv4(b[l3:]).SetTotalLen(28)
			IPv4(b[l3:]).SetFragment(false, true, 0)
			return fixIPv4Checksum(b, l3)
		}), Malformed, ReasonIPv4TinyFragment},

		{"ipv6 truncated", v6[:l3+39], Malformed, ReasonIPv6Truncated},
		{"ipv6 version", mutate(v6, func(b []byte) []byte { b[l3] = 0x45; return b }), Malformed, ReasonIPv6Version},
		{"ipv6 payload beyond frame", mutate(v6, func(b []byte) []byte { IPv6(b[l3:]).SetPayloadLen(500); return b }),
			Malformed, ReasonIPv6PayloadTruncated},
		{"ipv6 jumbogram", mutate(v6, func(b []byte) []byte {
			IPv6(b[l3:]).SetPayloadLen(0)
			IPv6(b[l3:]).SetNextHeader(ProtoHopByHop)
			return b
		}), Unsupported, ReasonIPv6Jumbogram},
		{"ipv6 ext header beyond payload", mutate(v6, func(b []byte) []byte {
			IPv6(b[l3:]).SetNextHeader(ProtoDestOpts)
			b[l3+IPv6Len+1] = 20 // 168 bytes
			return b
		}), Malformed, ReasonIPv6ExtTruncated},
		{"ipv6 hop-by-hop second", serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination),
			destOpts(layers.IPProtocolIPv6HopByHop), destOpts(layers.IPProtocolNoNextHeader)),
			Malformed, ReasonIPv6HopByHopNotFirst},
		{"ipv6 nine extension headers", func() []byte {
			ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination)}
			for range 8 {
				ls = append(ls, destOpts(layers.IPProtocolIPv6Destination))
			}
			ls = append(ls, destOpts(layers.IPProtocolNoNextHeader))
			return serialize(t, ls...)
		}(), Malformed, ReasonIPv6ExtChainTooLong},
		{"ipv6 fragment beyond 64k", fragHdr(layers.IPProtocolUDP, 8190, true, 16), Malformed, ReasonIPv6FragmentTooLong},
		{"ipv6 first fragment without udp header", fragHdr(layers.IPProtocolUDP, 0, true, 0), Malformed, ReasonIPv6FragmentChain},
		{"ipv6 two fragment headers", func() []byte {
			i := ip6(layers.IPProtocolIPv6Fragment)
			f1 := &layers.IPv6Fragment{NextHeader: layers.IPProtocolIPv6Fragment}
			f2 := &layers.IPv6Fragment{NextHeader: layers.IPProtocolNoNextHeader}
			return serialize(t, eth(layers.EthernetTypeIPv6), i, f1, f2)
		}(), Malformed, ReasonIPv6FragmentRepeated},

		{"tcp truncated", mutate(v4[:l3+30], func(b []byte) []byte {
			IPv4(b[l3:]).SetTotalLen(30)
			return fixIPv4Checksum(b, l3)
		}), Malformed, ReasonTCPTruncated},
		{"tcp data offset 4", mutate(v4, func(b []byte) []byte { b[l3+IPv4MinLen+tcpDataOffOff] = 0x40; return b }),
			Malformed, ReasonTCPDataOffset},
		{"tcp data offset beyond packet", mutate(v4, func(b []byte) []byte { b[l3+IPv4MinLen+tcpDataOffOff] = 0xf0; return b }),
			Malformed, ReasonTCPDataOffset},
		{"udp truncated", v6[:l3+IPv6Len+7], Malformed, ReasonIPv6PayloadTruncated},
		{"udp truncated in ip", mutate(v6, func(b []byte) []byte { IPv6(b[l3:]).SetPayloadLen(7); return b }),
			Malformed, ReasonUDPTruncated},
		{"udp length 7", mutate(v4udp, func(b []byte) []byte { UDP(b[l3+IPv4MinLen:]).SetLength(7); return b }),
			Malformed, ReasonUDPLength},
		{"udp length beyond ip payload", mutate(v4udp, func(b []byte) []byte { UDP(b[l3+IPv4MinLen:]).SetLength(200); return b }),
			Malformed, ReasonUDPLength},
		{"icmp truncated", mutate(v4icmp, func(b []byte) []byte {
			IPv4(b[l3:]).SetTotalLen(24)
			return fixIPv4Checksum(b, l3)
		}), Malformed, ReasonICMPTruncated},
		{"icmpv6 truncated", v6icmp, Malformed, ReasonICMPv6Truncated},
	}
	seen := map[Reason]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Summary
			v := Parse(tc.frame, &s)
			if v != tc.verdict || s.Reason != tc.reason {
				t.Errorf("Parse(%x) = %v/%v, want %v/%v", tc.frame, v, s.Reason, tc.verdict, tc.reason)
			}
			checkOffsets(t, tc.frame, &s)
		})
		seen[tc.reason] = true
	}
	for r := ReasonNone + 1; r < reasonCount; r++ {
		if !seen[r] {
			t.Errorf("reason %v has no test", r)
		}
	}
}

// TestFragmentOfAnyLength: RFC 8200 section 4.5 discards a fragment whose
// length "is not a multiple of 8 octets and the M flag of that fragment is
// 1" among the "error conditions [that] may arise when reassembling
// fragmented packets" — the reassembling host's rule. Parse serves a
// router and a translator, which forward fragments as they come (RFC 7915
// 5.1.1 translates every IPv6 fragment), so such fragments parse, in both
// families.
func TestFragmentOfAnyLength(t *testing.T) {
	const l3 = EthernetLen
	v4 := mutate(frameIPv4TCP(t)[:l3+33], func(b []byte) []byte {
		IPv4(b[l3:]).SetTotalLen(33)
		IPv4(b[l3:]).SetFragment(false, true, 16)
		return fixIPv4Checksum(b, l3)
	})
	i := ip6(layers.IPProtocolIPv6Fragment)
	v6 := serialize(t, eth(layers.EthernetTypeIPv6), i,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 1, MoreFragments: true, Identification: 1},
		gopacket.Payload(make([]byte, 13)))
	for _, tc := range []struct {
		name  string
		frame []byte
		data  int
	}{{"ipv4", v4, 13}, {"ipv6", v6, 13}} {
		t.Run(tc.name, func(t *testing.T) {
			var s Summary
			if v := Parse(tc.frame, &s); v != OK {
				t.Fatalf("Parse(%x) = %v/%v, want ok", tc.frame, v, s.Reason)
			}
			if s.Flags&FlagMoreFragments == 0 || int(s.End())-int(s.L4Off) != tc.data {
				t.Errorf("flags %v, data %d bytes; want more fragments and %d", s.Flags, int(s.End())-int(s.L4Off), tc.data)
			}
			checkOffsets(t, tc.frame, &s)
		})
	}
}

// checkOffsets asserts the invariants every summary keeps, whatever the
// input: offsets ordered and inside the frame.
func checkOffsets(t testing.TB, frame []byte, s *Summary) {
	t.Helper()
	if s.Verdict != OK {
		return
	}
	if int(s.L3Off) > len(frame) || s.L4Off < s.L3Off || s.PayloadOff < s.L4Off ||
		int(s.PayloadOff) > len(frame) {
		t.Fatalf("offsets out of order or outside the %d-byte frame: %+v", len(frame), s)
	}
	if s.Family != FamilyNone && s.End() > len(frame) {
		t.Fatalf("End %d beyond the %d-byte frame", s.End(), len(frame))
	}
	if s.FragHdrOff != 0 && (s.FragHdrOff < s.L3Off || int(s.FragHdrOff)+IPv6FragmentLen > s.End()) {
		t.Fatalf("fragment header offset %d outside the packet", s.FragHdrOff)
	}
}
