package xlat

// ICMP errors in both directions: the type/code/pointer/MTU maps of RFC
// 7915 4.2 and 5.2, and the quoted packet translated with its checksums.

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var routerV4 = net.IP{198, 18, 9, 9}

// icmpv4Error is an ICMPv4 error from an IPv4 router toward v4A about a
// UDP packet v4A sent to v4B (which came from IPv6 and was translated).
func icmpv4Error(t testing.TB, typ, code uint8, rest uint32) []byte {
	inner := ipv4(17)
	quoted := serializeLayers(t, inner, udpOver(inner), payload(40))
	outer := ipv4(1)
	outer.SrcIP, outer.DstIP = routerV4, v4A
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	b := serializeLayers(t, outer, ic, gopacket.Payload(quoted))
	binary.BigEndian.PutUint32(b[24:], rest)
	pkt.ICMP(b[20:]).SetChecksum(0)
	pkt.ICMP(b[20:]).SetChecksum(pkt.TransportChecksum(0, b[20:]))
	return b
}

// icmpv6Error is an ICMPv6 error from router toward v6B about a UDP packet
// v6B sent to v6A.
func icmpv6Error(t testing.TB, router net.IP, typ, code uint8, rest uint32) []byte {
	inner := ipv6(17)
	quoted := serializeLayers(t, inner, udpOver(inner), payload(40))
	outer := ipv6(58)
	outer.SrcIP, outer.DstIP = router, v6B
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(outer)
	b := serializeLayers(t, outer, ic, gopacket.Payload(append(make([]byte, 4), quoted...)))
	// gopacket's ICMPv6 has no rest field: the first 4 payload bytes are
	// it. Set it and fix the checksum.
	binary.BigEndian.PutUint32(b[44:], rest)
	pkt.ICMP(b[40:]).SetChecksum(0)
	pkt.ICMP(b[40:]).SetChecksum(pkt.TransportChecksum(pkt.PseudoHeaderSum6(b[8:24], b[24:40], 58, uint32(len(b)-40)), b[40:]))
	return b
}

func TestICMPError46(t *testing.T) {
	tests := []struct {
		name              string
		typ, code         uint8
		rest              uint32
		wantTyp, wantCode uint8
		wantRest          uint32
		drop              Reason
	}{
		{"net-unreachable", 3, 0, 0, 1, 0, 0, 0},
		{"host-unreachable", 3, 1, 0, 1, 0, 0, 0},
		{"protocol-unreachable", 3, 2, 0, 4, 1, 6, 0},
		{"port-unreachable", 3, 3, 0, 1, 4, 0, 0},
		{"frag-needed", 3, 4, 1400, 2, 0, 1420, 0},
		{"frag-needed-plateau", 3, 4, 0, 2, 0, 1280, 0}, // quote of 88 bytes: plateau 68, raised to 1280
		{"frag-needed-big", 3, 4, 9000, 2, 0, 1500, 0},  // IPv6 next hop caps it
		{"source-route-failed", 3, 5, 0, 1, 0, 0, 0},
		{"dst-net-unknown", 3, 6, 0, 1, 0, 0, 0},
		{"dst-host-unknown", 3, 7, 0, 1, 0, 0, 0},
		{"host-isolated", 3, 8, 0, 1, 0, 0, 0},
		{"net-prohibited", 3, 9, 0, 1, 1, 0, 0},
		{"host-prohibited", 3, 10, 0, 1, 1, 0, 0},
		{"net-tos", 3, 11, 0, 1, 0, 0, 0},
		{"host-tos", 3, 12, 0, 1, 0, 0, 0},
		{"admin-prohibited", 3, 13, 0, 1, 1, 0, 0},
		{"precedence-violation", 3, 14, 0, 0, 0, 0, ReasonICMPCode},
		{"precedence-cutoff", 3, 15, 0, 1, 1, 0, 0},
		{"unknown-unreach-code", 3, 16, 0, 0, 0, 0, ReasonICMPCode},
		{"ttl-exceeded", 11, 0, 0, 3, 0, 0, 0},
		{"reassembly-exceeded", 11, 1, 0, 3, 1, 0, 0},
		{"param-problem-version", 12, 0, 0 << 24, 4, 0, 0, 0},
		{"param-problem-tos", 12, 0, 1 << 24, 4, 0, 1, 0},
		{"param-problem-length", 12, 0, 2 << 24, 4, 0, 4, 0},
		{"param-problem-length-lo", 12, 2, 3 << 24, 4, 0, 4, 0},
		{"param-problem-id", 12, 0, 4 << 24, 0, 0, 0, ReasonICMPPointer},
		{"param-problem-flags", 12, 0, 6 << 24, 0, 0, 0, ReasonICMPPointer},
		{"param-problem-ttl", 12, 0, 8 << 24, 4, 0, 7, 0},
		{"param-problem-protocol", 12, 0, 9 << 24, 4, 0, 6, 0},
		{"param-problem-checksum", 12, 0, 10 << 24, 0, 0, 0, ReasonICMPPointer},
		{"param-problem-src", 12, 0, 13 << 24, 4, 0, 8, 0},
		{"param-problem-dst", 12, 0, 19 << 24, 4, 0, 24, 0},
		{"param-problem-options", 12, 0, 20 << 24, 0, 0, 0, ReasonICMPPointer},
		{"param-problem-missing-option", 12, 1, 0, 0, 0, 0, ReasonICMPCode},
		{"source-quench", 4, 0, 0, 0, 0, 0, ReasonICMPType},
		{"redirect", 5, 0, 0, 0, 0, 0, ReasonICMPType},
		{"alternative-host", 6, 0, 0, 0, 0, 0, ReasonICMPType},
	}
	tr := newTranslator(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := icmpv4Error(t, tc.typ, tc.code, tc.rest)
			p := newPacket(in, 7)
			v := tr.To6(p, nil)
			if tc.drop != ReasonNone {
				if v != Drop || p.Reason != tc.drop {
					t.Fatalf("To6 = %v (%v), want drop (%v)", v, p.Reason, tc.drop)
				}
				return
			}
			if v != Forward {
				t.Fatalf("To6 = %v (%v), want forward", v, p.Reason)
			}
			got := p.bytes()
			s := verify(t, got)
			ic := pkt.ICMP(got[s.L4Off:])
			if ic.Type() != tc.wantTyp || ic.Code() != tc.wantCode || ic.Rest() != tc.wantRest {
				t.Errorf("ICMPv6 %d/%d rest %d, want %d/%d rest %d", ic.Type(), ic.Code(), ic.Rest(), tc.wantTyp, tc.wantCode, tc.wantRest)
			}
			if s.SrcAddr().String() != "64:ff9b:1:7::c612:909" || s.DstAddr().String() != "64:ff9b:1:7::c612:1" {
				t.Errorf("outer %v -> %v, want 64:ff9b:1:7::c612:909 -> 64:ff9b:1:7::c612:1", s.SrcAddr(), s.DstAddr())
			}
			// The quoted packet is the translation of the original,
			// byte for byte (its UDP checksum updated incrementally).
			inner := in[28:]
			want, _ := refTo6(t, space7, inner)
			if q := ic.Body(); string(q) != string(want) {
				t.Errorf("quoted packet\n%x\nwant\n%x", q, want)
			}
		})
	}
}

func TestICMPError64(t *testing.T) {
	tests := []struct {
		name              string
		typ, code         uint8
		rest              uint32
		wantTyp, wantCode uint8
		wantRest          uint32
		drop              Reason
	}{
		{"no-route", 1, 0, 0, 3, 1, 0, 0},
		{"admin-prohibited", 1, 1, 0, 3, 10, 0, 0},
		{"beyond-scope", 1, 2, 0, 3, 1, 0, 0},
		{"address-unreachable", 1, 3, 0, 3, 1, 0, 0},
		{"port-unreachable", 1, 4, 0, 3, 3, 0, 0},
		{"source-policy", 1, 5, 0, 0, 0, 0, ReasonICMPCode},
		{"packet-too-big", 2, 0, 1280, 3, 4, 1260, 0},
		{"packet-too-big-9000", 2, 0, 9000, 3, 4, 1480, 0}, // IPv6 next hop 1500 - 20
		{"hop-limit", 3, 0, 0, 11, 0, 0, 0},
		{"reassembly", 3, 1, 0, 11, 1, 0, 0},
		{"param-version", 4, 0, 0, 12, 0, 0 << 24, 0},
		{"param-tc", 4, 0, 1, 12, 0, 1 << 24, 0},
		{"param-flow", 4, 0, 2, 0, 0, 0, ReasonICMPPointer},
		{"param-length", 4, 0, 5, 12, 0, 2 << 24, 0},
		{"param-next-header", 4, 0, 6, 12, 0, 9 << 24, 0},
		{"param-hop-limit", 4, 0, 7, 12, 0, 8 << 24, 0},
		{"param-src", 4, 0, 23, 12, 0, 12 << 24, 0},
		{"param-dst", 4, 0, 24, 12, 0, 16 << 24, 0},
		{"param-beyond", 4, 0, 40, 0, 0, 0, ReasonICMPPointer},
		{"param-next-header-unknown", 4, 1, 6, 3, 2, 0, 0},
		{"param-option", 4, 2, 42, 0, 0, 0, ReasonICMPCode},
		{"unknown-error", 5, 0, 0, 0, 0, 0, ReasonICMPType},
	}
	tr := newTranslator(t, nil)
	for _, tc := range tests {
		for _, router := range []struct {
			name string
			ip   net.IP
			want string
		}{{"mapped", net.ParseIP("64:ff9b:1:7::c612:909"), "198.18.9.9"}, {"rfc6791", v6Alien, "192.0.2.1"}} {
			t.Run(tc.name+"/"+router.name, func(t *testing.T) {
				in := icmpv6Error(t, router.ip, tc.typ, tc.code, tc.rest)
				p := newPacket(in, 0)
				v := tr.To4(p, nil)
				if tc.drop != ReasonNone {
					if v != Drop || p.Reason != tc.drop {
						t.Fatalf("To4 = %v (%v), want drop (%v)", v, p.Reason, tc.drop)
					}
					return
				}
				if v != Forward {
					t.Fatalf("To4 = %v (%v), want forward", v, p.Reason)
				}
				got := p.bytes()
				s := verify(t, got)
				ic := pkt.ICMP(got[s.L4Off:])
				if ic.Type() != tc.wantTyp || ic.Code() != tc.wantCode || ic.Rest() != tc.wantRest {
					t.Errorf("ICMPv4 %d/%d rest %#x, want %d/%d rest %#x", ic.Type(), ic.Code(), ic.Rest(), tc.wantTyp, tc.wantCode, tc.wantRest)
				}
				if s.SrcAddr().String() != router.want || s.DstAddr().String() != "198.19.1.2" {
					t.Errorf("outer %v -> %v, want %s -> 198.19.1.2", s.SrcAddr(), s.DstAddr(), router.want)
				}
				inner := in[48:]
				ip := pkt.IPv4(ic.Body())
				want, _ := refTo4(t, space7, inner, ip.ID())
				if q := ic.Body(); string(q) != string(want) {
					t.Errorf("quoted packet\n%x\nwant\n%x", q, want)
				}
			})
		}
	}
}

func TestICMPErrorNested(t *testing.T) {
	// An error about an error is not translated (RFC 7915 4.3, 5.3).
	inner := icmpv4Error(t, 3, 1, 0)
	outer := ipv4(1)
	outer.SrcIP, outer.DstIP = routerV4, v4A
	b := serializeLayers(t, outer, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(11, 0)}, gopacket.Payload(inner))
	p := newPacket(b, 7)
	if v := newTranslator(t, nil).To6(p, nil); v != Drop || p.Reason != ReasonICMPNestedError {
		t.Fatalf("To6 = %v (%v), want drop (icmp-nested-error)", v, p.Reason)
	}
	bad := icmpv4Error(t, 3, 1, 0)
	bad[30] ^= 0xff
	p = newPacket(bad, 7)
	if v := newTranslator(t, nil).To6(p, nil); v != Drop || p.Reason != ReasonICMPChecksum {
		t.Fatalf("To6(bad checksum) = %v (%v), want drop (icmp-checksum)", v, p.Reason)
	}
}

// untranslatableRouterError translates a Time Exceeded from router
// 203.0.113.5 in a space that maps only 198.18.0.0/16 and 198.19.0.0/16
// (EAM): the router has no IPv6 form. mod adjusts the configuration.
func untranslatableRouterError(t *testing.T, mod func(*Config)) pkt.Summary {
	t.Helper()
	tr := newTranslator(t, func(c *Config) {
		c.Pool6, c.AddressSpaces = "", nil
		c.EAM = []EAMEntry{{IPv4: "198.18.0.0/16", IPv6: "2001:db8:18::/112"}, {IPv4: "198.19.0.0/16", IPv6: "2001:db8:19::/112"}}
		if mod != nil {
			mod(c)
		}
	})
	in := icmpv4Error(t, 11, 0, 0)
	copy(in[12:16], []byte{203, 0, 113, 5})
	pkt.IPv4(in).SetChecksum(0)
	pkt.IPv4(in).SetChecksum(pkt.IPv4(in).ComputeChecksum())
	p := newPacket(in, 0)
	if v := tr.To6(p, nil); v != Forward {
		t.Fatalf("To6 = %v (%v), want forward", v, p.Reason)
	}
	return verify(t, p.bytes())
}

func TestICMPError46Pool(t *testing.T) {
	t.Run("rfc6791v6", func(t *testing.T) {
		// Space 0 maps only 198.18.0.0/16 and 198.19.0.0/16 (EAM): the
		// router 203.0.113.5 has no IPv6 form and gets the pool address.
		s := untranslatableRouterError(t, nil)
		if s.Src != pool6 || s.DstAddr().String() != "2001:db8:18::1" {
			t.Errorf("outer %v -> %v, want 2001:db8:ffff::1 -> 2001:db8:18::1", s.SrcAddr(), s.DstAddr())
		}
	})
	t.Run("truncated-to-1280", func(t *testing.T) {
		// RFC 4443 2.4(c): the translated error fits the minimum MTU.
		inner := ipv4(17)
		quoted := serializeLayers(t, inner, udpOver(inner), payload(1400))
		outer := ipv4(1)
		outer.SrcIP, outer.DstIP = routerV4, v4A
		in := serializeLayers(t, outer, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(quoted))
		p := newPacket(in, 7)
		if v := newTranslator(t, nil).To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v), want forward", v, p.Reason)
		}
		if p.Len != 1280 {
			t.Errorf("translated error is %d bytes, want 1280", p.Len)
		}
		verify(t, p.bytes())
	})
}
