package xlat

// One test per class of difference found by comparing gannet with a widely
// used SIIT implementation's conformance packets (issue 16): each states
// the RFC text it follows.

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The translator's own addresses in these tests.
var (
	self4 = netip.MustParseAddr("198.51.100.1")
	self6 = netip.MustParseAddr("2001:db8:1c0:2:1::")
)

func withSelf(c *Config) {
	c.TranslatorIPv4, c.TranslatorIPv6 = self4.String(), self6.String()
}

// extension is an RFC 4884 extension structure of n bytes (n >= 8, a
// multiple of 4): version 2 header with its checksum, one object.
func extension(n int) []byte {
	e := make([]byte, n)
	e[0] = 0x20
	binary.BigEndian.PutUint16(e[4:], uint16(n-4)) // object length
	e[6], e[7] = 2, 0x0c                           // class 2 (interface information), c-type
	for i := 8; i < n; i++ {
		e[i] = byte(i)
	}
	binary.BigEndian.PutUint16(e[2:], ^pkt.Checksum(e, 0))
	return e
}

// errorWith builds an ICMP error (v4: from routerV4 to v4A; v6: from a
// mapped router to v6B) whose original datagram field is quoted padded
// with zeros to field bytes, with length attribute attr, then ext.
func errorWith(t testing.TB, six bool, typ, code uint8, rest uint32, quoted []byte, field, attr int, ext []byte) []byte {
	t.Helper()
	body := make([]byte, pkt.ICMPHeaderLen+max(field, len(quoted)))
	body[0], body[1] = typ, code
	binary.BigEndian.PutUint32(body[4:], rest)
	copy(body[pkt.ICMPHeaderLen:], quoted)
	body = append(body, ext...)
	if six {
		body[4] = byte(attr)
		outer := ipv6(58)
		outer.SrcIP, outer.DstIP = net.ParseIP("64:ff9b:1:7::c612:909"), v6B
		b := serializeLayers(t, outer, gopacket.Payload(body))
		pkt.ICMP(b[40:]).SetChecksum(pkt.TransportChecksum(pkt.PseudoHeaderSum6(b[8:24], b[24:40], 58, uint32(len(b)-40)), b[40:]))
		return b
	}
	body[5] = byte(attr)
	outer := ipv4(1)
	outer.SrcIP, outer.DstIP = routerV4, v4A
	b := serializeLayers(t, outer, gopacket.Payload(body))
	pkt.ICMP(b[20:]).SetChecksum(pkt.TransportChecksum(0, b[20:]))
	return b
}

// TestICMPErrorSize: a translated error carries as much of the invoking
// packet as fits the minimum of the new family. RFC 1812 4.3.2.3: the
// ICMP datagram "SHOULD contain as much of the original datagram as
// possible without the length of the ICMP datagram exceeding 576 bytes";
// RFC 4443 2.4 (c): "as much of the IPv6 offending (invoking) packet ... as
// possible without making the error message packet exceed the minimum IPv6
// MTU".
func TestICMPErrorSize(t *testing.T) {
	tests := []struct {
		name string
		six  bool // an ICMPv6 error to translate to IPv4
		mtu4 int
		body int // UDP payload of the quoted packet
		want int
	}{
		{"icmpv6-700-to-576", true, 1500, 604, 576},
		{"icmpv6-1280-to-576", true, 1500, 1184, 576},
		{"icmpv6-small-whole", true, 1500, 304, 360},
		{"icmpv6-ipv4-mtu-below-576", true, 400, 604, 400},
		{"icmpv4-1500-to-1280", false, 1500, 1444, 1280},
		{"icmpv4-1280-to-1280", false, 1500, 1224, 1280},
		{"icmpv4-small-whole", false, 1500, 344, 440},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranslator(t, func(c *Config) { c.IPv4MTU = tc.mtu4 })
			var in, inner, want []byte
			if tc.six {
				i := ipv6(17)
				inner = serializeLayers(t, i, udpOver(i), payload(tc.body))
				in = errorWith(t, true, 1, 4, 0, inner, 0, 0, nil)
			} else {
				i := ipv4(17)
				inner = serializeLayers(t, i, udpOver(i), payload(tc.body))
				in = errorWith(t, false, 3, 3, 0, inner, 0, 0, nil)
			}
			p := newPacket(in, 7)
			var v Verdict
			if tc.six {
				v = tr.To4(p, nil)
			} else {
				v = tr.To6(p, nil)
			}
			if v != Forward || p.Len != tc.want {
				t.Fatalf("translated error = %v (%v), %d bytes; want forward, %d", v, p.Reason, p.Len, tc.want)
			}
			got := p.bytes()
			s := verify(t, got)
			q := pkt.ICMP(got[s.L4Off:]).Body()
			if tc.six {
				want, _ = refTo4(t, space7, inner, pkt.IPv4(q).ID())
			} else {
				want, _ = refTo6(t, space7, inner)
			}
			if !bytes.Equal(q, want[:len(q)]) {
				t.Errorf("quote\n%x\nis not the start of the translated packet\n%x", q, want)
			}
		})
	}
}

// TestICMPExtensions: errors with RFC 4884 extensions. RFC 7915 4.2 "ICMP
// Error Payload": "If the received ICMPv4 packet contains an ICMPv4
// Extension [RFC4884], the translation of the ICMPv4 packet will cause the
// ICMPv6 packet to change length. When this occurs, the ICMPv6 Extension
// length attribute MUST be adjusted accordingly (e.g., longer due to the
// translation from IPv4 to IPv6). If the ICMPv4 Extension exceeds the
// maximum size of an ICMPv6 message on the outgoing interface, the ICMPv4
// extension SHOULD be simply truncated." RFC 7915 5.2 likewise, "shorter
// due to the translation from IPv6 to IPv4". RFC 4884 4.1: with an
// extension the original datagram field is zero padded to the length
// unit and holds at least 128 octets. An extension is never cut in the
// middle (its checksum would fail): the datagram beyond 128 bytes gives
// way first, then the extension is left out whole.
func TestICMPExtensions(t *testing.T) {
	tests := []struct {
		name      string
		six       bool // ICMPv6 error to translate
		typ, code uint8
		rest      uint32
		body      int // quoted UDP payload
		field     int // original datagram field, bytes
		ext       int
		wantTyp   uint8
		wantLen   int // translated error, bytes
		wantAttr  int
		wantKeep  int // translated datagram bytes kept
		wantExt   bool
	}{
		// 40+8+104 = 152 bytes (19 words of 8) become 20+8+104 = 132 (33 of 4).
		{"64-length-adjusted", true, 1, 4, 0, 104, 152, 20, 3, 28 + 132 + 20, 33, 132, true},
		// A 48-byte quote (invalid, under 128) is padded to 128 on the way.
		{"64-padded-to-128", true, 1, 4, 0, 0, 48, 40, 3, 28 + 128 + 40, 32, 28, true},
		// 576 = 28 + 508 + 40: the datagram gives way to the extension.
		{"64-datagram-cut-for-extension", true, 3, 0, 0, 1144, 1192, 40, 11, 576, 127, 508, true},
		// 28 + 128 + 420 = 576 still fits.
		{"64-extension-fits", true, 1, 4, 0, 80, 128, 420, 3, 576, 32, 108, true},
		// 28 + 128 + 424 > 576: the extension is left out, not cut.
		{"64-extension-left-out", true, 1, 4, 0, 80, 128, 424, 3, 28 + 108, 0, 108, false},
		// 20+8+104 = 132 bytes (33 words of 4) become 152 (19 of 8).
		{"46-length-adjusted", false, 3, 3, 0, 104, 132, 20, 1, 48 + 152 + 20, 19, 152, true},
		// 126 bytes + 2 padding: 146 bytes padded to 152.
		{"46-unit-change", false, 3, 3, 0, 98, 128, 20, 1, 48 + 152 + 20, 19, 146, true},
		// 48 + 592 + 640 = 1280: the datagram cut for the extension.
		{"46-datagram-cut-for-extension", false, 11, 0, 0, 548, 576, 640, 3, 1280, 74, 592, true},
		// Packet Too Big has no length attribute: the extension stays behind.
		{"46-packet-too-big-has-no-attribute", false, 3, 4, 1400, 104, 132, 20, 2, 48 + 152, 0, 152, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranslator(t, nil)
			var inner, in []byte
			unit := 4
			if tc.six {
				i := ipv6(17)
				inner = serializeLayers(t, i, udpOver(i), payload(tc.body))
				unit = 8
			} else {
				i := ipv4(17)
				inner = serializeLayers(t, i, udpOver(i), payload(tc.body))
			}
			ext := extension(tc.ext)
			in = errorWith(t, tc.six, tc.typ, tc.code, tc.rest, inner, tc.field, tc.field/unit, ext)
			p := newPacket(in, 7)
			p.Buf = append(p.Buf, make([]byte, 256)...) // a frame's tailroom: the quote may grow
			var v Verdict
			if tc.six {
				v = tr.To4(p, nil)
			} else {
				v = tr.To6(p, nil)
			}
			if v != Forward {
				t.Fatalf("translated error = %v (%v), want forward", v, p.Reason)
			}
			got := p.bytes()
			s := verify(t, got) // the ICMP checksum covers the moved extension
			ic := pkt.ICMP(got[s.L4Off:])
			attr := int(got[s.L4Off+5])
			if !tc.six {
				attr = int(got[s.L4Off+4])
			}
			if len(got) != tc.wantLen || ic.Type() != tc.wantTyp || attr != tc.wantAttr {
				t.Fatalf("translated error: %d bytes, type %d, length attribute %d; want %d, %d, %d",
					len(got), ic.Type(), attr, tc.wantLen, tc.wantTyp, tc.wantAttr)
			}
			var want []byte
			if tc.six {
				want, _ = refTo4(t, space7, inner, pkt.IPv4(ic.Body()).ID())
			} else {
				want, _ = refTo6(t, space7, inner)
			}
			body := ic.Body()
			if !bytes.Equal(body[:tc.wantKeep], want[:tc.wantKeep]) {
				t.Errorf("quote %x\nis not the start of the translated packet %x", body[:tc.wantKeep], want)
			}
			if !tc.wantExt {
				if len(body) != tc.wantKeep {
					t.Errorf("%d bytes after the quote, want none", len(body)-tc.wantKeep)
				}
				return
			}
			field := attr * (12 - unit) // the unit of the other family: 8 -> 4, 4 -> 8
			if !bytes.Equal(body[tc.wantKeep:field], make([]byte, field-tc.wantKeep)) {
				t.Errorf("padding %x, want zeros", body[tc.wantKeep:field])
			}
			if !bytes.Equal(body[field:], ext) {
				t.Errorf("extension %x, want %x", body[field:], ext)
			}
			if pkt.Checksum(body[field:], 0) != 0xffff {
				t.Errorf("extension checksum does not hold")
			}
		})
	}
	t.Run("no-tailroom", func(t *testing.T) {
		// The frame cannot take the padding the IPv4 quote needs: the
		// extension is left out rather than the error dropped.
		i := ipv6(17)
		in := errorWith(t, true, 1, 4, 0, serializeLayers(t, i, udpOver(i), payload(0)), 48, 6, extension(40))
		p := newPacket(in, 7)
		p.Buf = p.Buf[:headroom+len(in)]
		if v := newTranslator(t, nil).To4(p, nil); v != Forward || p.Len != 28+28 {
			t.Fatalf("To4 = %v (%v), %d bytes; want forward, 56", v, p.Reason, p.Len)
		}
		got := p.bytes()
		if s := verify(t, got); got[s.L4Off+5] != 0 {
			t.Errorf("length attribute %d without an extension, want 0", got[s.L4Off+5])
		}
	})
	t.Run("zero-alloc", func(t *testing.T) {
		tr := newTranslator(t, nil)
		i := ipv6(17)
		in := errorWith(t, true, 1, 4, 0, serializeLayers(t, i, udpOver(i), payload(104)), 152, 19, extension(20))
		p := newPacket(in, 7)
		allocs := testing.AllocsPerRun(100, func() {
			p.reset(in)
			if v := tr.To4(p, nil); v != Forward {
				t.Fatalf("To4 = %v (%v)", v, p.Reason)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per packet, want 0", allocs)
		}
	})
}

// TestTranslatorOwnErrors: the errors the translator originates come from
// the translator. RFC 7915 1.4: "the translator MUST behave as a router,
// i.e., the translator MUST send a Packet Too Big error message or
// fragment the packet when the packet size exceeds the MTU of the next-hop
// interface"; a router's ICMP errors carry its own address (RFC 1812
// 4.3.2.4, RFC 4443 2.2), not an RFC 6791 one, which stands for a host
// behind an untranslatable address.
func TestTranslatorOwnErrors(t *testing.T) {
	tr := newTranslator(t, func(c *Config) { withSelf(c); c.IPv6MTU = 1280 })
	t.Run("fragmentation-needed", func(t *testing.T) {
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(1300))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Reply || p.Reason != ReasonTooBig {
			t.Fatalf("To6 = %v (%v), want reply (too-big)", v, p.Reason)
		}
		s := verify(t, p.bytes())
		if s.SrcAddr() != self4 || pkt.ICMP(p.bytes()[s.L4Off:]).Rest() != 1260 {
			t.Errorf("Fragmentation Needed from %v, MTU %d; want from %v, MTU 1260", s.SrcAddr(), pkt.ICMP(p.bytes()[s.L4Off:]).Rest(), self4)
		}
	})
	t.Run("source-route-failed", func(t *testing.T) {
		i := ipv4(17)
		i.Options = []layers.IPv4Option{{OptionType: pkt.IPv4OptSSRR, OptionLength: 7, OptionData: []byte{4, 1, 2, 3, 4}}}
		in := serializeLayers(t, i, udpOver(i), payload(8))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Reply {
			t.Fatalf("To6 = %v (%v), want reply", v, p.Reason)
		}
		if s := verify(t, p.bytes()); s.SrcAddr() != self4 {
			t.Errorf("Source Route Failed from %v, want %v", s.SrcAddr(), self4)
		}
	})
	t.Run("pool-stands-in-without-address", func(t *testing.T) {
		// A configuration without translatorIPv4 keeps answering from the
		// RFC 6791 pool, as before the field existed.
		tr := newTranslator(t, func(c *Config) { c.IPv6MTU = 1280 })
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(1300))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Reply {
			t.Fatalf("To6 = %v (%v), want reply", v, p.Reason)
		}
		checkICMPv4Error(t, p.bytes(), in, 3, 4, 1260)
	})
}

// TestUntranslatableErrorSource: RFC 6791 section 4 gives an ICMPv6 error
// whose IPv6 source has no IPv4 form an address of the translator's pool,
// and RFC 7915 5.1 asks that the error still be translated ("the
// translator SHOULD NOT drop such ICMPv6 error messages"): with no pool
// configured, the translator's own IPv4 address stands in (RFC 6791 4: the
// translator's IPv4 interface address). Likewise for ICMPv4 errors from an
// IPv4 source without an IPv6 form and the IPv6 pool.
func TestUntranslatableErrorSource(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		want   netip.Addr
		reason Reason
	}{
		{"pool", func(c *Config) { withSelf(c) }, netip.AddrFrom4(pool4), ReasonNone},
		{"no-pool-translator-address", func(c *Config) { withSelf(c); c.RFC6791v4 = nil }, self4, ReasonNone},
		{"neither", func(c *Config) { c.RFC6791v4 = nil }, netip.Addr{}, ReasonNoRFC6791},
	}
	for _, tc := range tests {
		t.Run("icmpv6/"+tc.name, func(t *testing.T) {
			in := icmpv6Error(t, v6Alien, 1, 4, 0)
			p := newPacket(in, 0)
			v := newTranslator(t, tc.mod).To4(p, nil)
			if tc.reason != ReasonNone {
				if v != Drop || p.Reason != tc.reason {
					t.Fatalf("To4 = %v (%v), want drop (%v)", v, p.Reason, tc.reason)
				}
				return
			}
			if v != Forward {
				t.Fatalf("To4 = %v (%v), want forward", v, p.Reason)
			}
			if s := verify(t, p.bytes()); s.SrcAddr() != tc.want {
				t.Errorf("translated error from %v, want %v", s.SrcAddr(), tc.want)
			}
		})
	}
	t.Run("icmpv4/no-pool-translator-address", func(t *testing.T) {
		s := untranslatableRouterError(t, func(c *Config) { withSelf(c); c.RFC6791v6 = nil })
		if s.SrcAddr() != self6 {
			t.Errorf("translated error from %v, want %v", s.SrcAddr(), self6)
		}
	})
}

// TestPacketTooBig64: an IPv6 packet that will not fit the IPv4 next hop
// after translation is answered, not dropped. RFC 7915 1.4: "the
// translator MUST send a Packet Too Big error message or fragment the
// packet when the packet size exceeds the MTU of the next-hop interface";
// 5.1 sets DF on a translated packet over 1260 bytes, so such a packet is
// not fragmented, and the Packet Too Big carries the IPv6 size that fits:
// the IPv4 MTU plus the 20 bytes the header grows by (RFC 7915 6).
func TestPacketTooBig64(t *testing.T) {
	tr := newTranslator(t, func(c *Config) {
		withSelf(c)
		c.RFC6791v4, c.RFC6791v6, c.IPv4MTU = nil, nil, 1400
	})
	i := ipv6(6)
	in := serializeLayers(t, i, tcpOver(i), payload(1361)) // 1421 bytes, 1401 in IPv4
	p := newPacket(in, 0)
	if v := tr.To4(p, nil); v != Reply || p.Reason != ReasonTooBig {
		t.Fatalf("To4 = %v (%v), want reply (too-big)", v, p.Reason)
	}
	got := p.bytes()
	s := verify(t, got)
	ic := pkt.ICMP(got[s.L4Off:])
	if s.SrcAddr() != self6 || ic.Type() != pkt.ICMPv6PacketTooBig || ic.MTU6() != 1420 || len(got) != 1280 {
		t.Errorf("reply from %v type %d MTU %d, %d bytes; want Packet Too Big from %v, MTU 1420, 1280 bytes",
			s.SrcAddr(), ic.Type(), ic.MTU6(), len(got), self6)
	}
	if !bytes.Equal(ic.Body(), in[:len(ic.Body())]) {
		t.Errorf("Packet Too Big does not quote the packet")
	}
}

// TestFragmentsOfAnyLength: RFC 7915 5.1.1 translates every IPv6
// fragment ("Flags: The IPv4 More Fragments (MF) flag is copied from the M
// flag in the IPv6 Fragment Header"), including one RFC 8200 4.5 would
// discard at reassembly because its length "is not a multiple of 8 octets
// and the M flag of that fragment is 1": that is "when reassembling
// fragmented packets", the destination's business, not the translator's.
// The same holds the other way (RFC 7915 4.1).
func TestFragmentsOfAnyLength(t *testing.T) {
	tr := newTranslator(t, nil)
	t.Run("ipv6", func(t *testing.T) {
		i := ipv6(6)
		in := insertFragHeader(serializeLayers(t, i, tcpOver(i), payload(1219)), true) // 1239 bytes of data
		pkt.IPv6Fragment(in[40:]).Set(6, 640, true, 0x01020308)
		p := newPacket(in, 0)
		if v := tr.To4(p, nil); v != Forward {
			t.Fatalf("To4 = %v (%v/%v), want forward", v, p.Reason, p.ParseReason)
		}
		got := p.bytes()
		h := pkt.IPv4(got)
		if len(got) != 20+1239 || !h.MF() || h.FragOffset() != 640 || h.ID() != 0x0308 || !bytes.Equal(got[20:], in[48:]) {
			t.Errorf("IPv4 fragment %d bytes, MF %v, offset %d, ID %#x; want 1259, true, 640, 0x308, same data", len(got), h.MF(), h.FragOffset(), h.ID())
		}
		verify(t, got)
	})
	t.Run("ipv4", func(t *testing.T) {
		i := ipv4(6)
		i.Flags, i.FragOffset = layers.IPv4MoreFragments, 80
		in := serializeLayers(t, i, payload(1039))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v/%v), want forward", v, p.Reason, p.ParseReason)
		}
		got := p.bytes()
		f := pkt.IPv6Fragment(got[40:])
		if len(got) != 48+1039 || !f.MF() || f.Offset() != 640 || !bytes.Equal(got[48:], in[20:]) {
			t.Errorf("IPv6 fragment %d bytes, M %v, offset %d; want 1087, true, 640, same data", len(got), f.MF(), f.Offset())
		}
		verify(t, got)
	})
}

// TestZeroChecksumUDPRefused: RFC 7915 4.5: for a zero UDP checksum the
// translator may drop "the packet and [generate] a system management
// event", and a stateless translator receiving a fragment "SHOULD drop the
// packet and generate a system management event"; 4.4: "If the IPv4
// packet is discarded, then the translator SHOULD be able to send back an
// ICMPv4 error message to the original sender of the packet ... The ICMPv4
// message, if sent, has a Type of 3 (Destination Unreachable) and a Code
// of 13 (Communication Administratively Prohibited)". It comes from the
// translator.
func TestZeroChecksumUDPRefused(t *testing.T) {
	off := false
	tests := []struct {
		name  string
		amend bool
		frag  bool
		want  Reason
	}{
		{"whole-amend-off", false, false, ReasonUDPZeroChecksum},
		{"first-fragment", true, true, ReasonUDPZeroChecksumFrag},
		{"first-fragment-amend-off", false, true, ReasonUDPZeroChecksumFrag},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranslator(t, func(c *Config) {
				withSelf(c)
				if !tc.amend {
					c.AmendUDPZeroChecksum = &off
				}
			})
			i := ipv4(17)
			if tc.frag {
				i.Flags = layers.IPv4MoreFragments
			}
			in := serializeLayers(t, i, udpOver(i), payload(24))
			in[26], in[27] = 0, 0
			p := newPacket(in, 7)
			var st Stats
			if v := tr.To6(p, &st); v != Reply || p.Reason != tc.want || st.Reasons[tc.want] != 1 {
				t.Fatalf("To6 = %v (%v), want reply (%v) counted once", v, p.Reason, tc.want)
			}
			got := p.bytes()
			s := verify(t, got)
			ic := pkt.ICMP(got[s.L4Off:])
			if s.SrcAddr() != self4 || ic.Type() != 3 || ic.Code() != 13 || !bytes.Equal(ic.Body(), in) {
				t.Errorf("reply from %v %d/%d; want Destination Unreachable 3/13 from %v quoting the datagram", s.SrcAddr(), ic.Type(), ic.Code(), self4)
			}
		})
	}
	t.Run("amended", func(t *testing.T) {
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(24))
		in[26], in[27] = 0, 0
		p := newPacket(in, 7)
		if v := newTranslator(t, withSelf).To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v), want forward (checksum computed)", v, p.Reason)
		}
		verify(t, p.bytes())
	})
}

// TestExtensionHeaderAfterFragmentRefused: RFC 7915 5.1 drops an IPv6
// fragment whose fragmentable part starts with an extension header, and
// 5.4: "If the IPv6 packet is discarded, then the translator SHOULD send
// back an ICMPv6 error message to the original sender of the packet,
// unless the discarded packet is itself an ICMPv6 message. The ICMPv6
// message MUST have Type 1 (Destination Unreachable) and Code 1
// (Communication with destination administratively prohibited)".
func TestExtensionHeaderAfterFragmentRefused(t *testing.T) {
	i := ipv6(17)
	b := insertFragHeader(serializeLayers(t, i, udpOver(i), payload(20)), false)
	b[40] = pkt.ProtoDestOpts
	b = append(b[:48], append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, b[48:]...)...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	p := newPacket(b, 0)
	if v := newTranslator(t, withSelf).To4(p, nil); v != Reply || p.Reason != ReasonFragmentExt {
		t.Fatalf("To4 = %v (%v), want reply (fragment-ext-header)", v, p.Reason)
	}
	got := p.bytes()
	s := verify(t, got)
	if ic := pkt.ICMP(got[s.L4Off:]); s.SrcAddr() != self6 || ic.Type() != 1 || ic.Code() != 1 {
		t.Errorf("reply from %v %d/%d, want 1/1 from %v", s.SrcAddr(), ic.Type(), ic.Code(), self6)
	}
}

// refEAM46 is RFC 7757 3.2 read bit by bit: the IPv4 suffix (the bits after
// the EAM's IPv4 prefix) follows the IPv6 prefix; any further IPv6 bits
// are zero.
func refEAM46(v4p, v6p netip.Prefix, a netip.Addr) netip.Addr {
	x := new(big.Int).SetBytes(v6p.Masked().Addr().AsSlice())
	v := new(big.Int).SetBytes(a.AsSlice())
	for i := v4p.Bits(); i < 32; i++ {
		x.SetBit(x, 127-(v6p.Bits()+i-v4p.Bits()), v.Bit(31-i))
	}
	var out [16]byte
	x.FillBytes(out[:])
	return netip.AddrFrom16(out)
}

// TestEAMSuffixLengths: RFC 7757 3.2 maps the suffix of an address, the
// bits after the EAM's prefix, onto the other prefix. An IPv6 prefix with
// more suffix bits than its IPv4 prefix holds every IPv4 suffix (the
// further bits stay zero and are ignored on the way back) and is accepted;
// one with fewer is refused at configuration time (TestConfigErrors).
// Random EAMs against the bit-by-bit twin refEAM46.
func TestEAMSuffixLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 16))
	for n := range 400 {
		v4len := 8 + r.IntN(25)                   // /8 .. /32
		v6len := 32 + r.IntN(128-32-(32-v4len)+1) // at least as many suffix bits
		v4p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(r.Uint32())}), v4len).Masked()
		var a6 [16]byte
		binary.BigEndian.PutUint64(a6[:8], 0x20010db800000000|r.Uint64()>>32)
		binary.BigEndian.PutUint64(a6[8:], r.Uint64())
		v6p := netip.PrefixFrom(netip.AddrFrom16(a6), v6len).Masked()
		tr, err := New(Config{EAM: []EAMEntry{{IPv4: v4p.String(), IPv6: v6p.String()}}})
		if err != nil {
			t.Fatalf("New(EAM %s %s) = %v", v4p, v6p, err)
		}
		v4 := v4p.Addr().As4()
		binary.BigEndian.PutUint32(v4[:], binary.BigEndian.Uint32(v4[:])|r.Uint32()>>v4len)
		if v4len == 32 {
			v4 = v4p.Addr().As4()
		}
		var got [16]byte
		sp := tr.space(0)
		if tr.map46(sp, v4, &got) != ReasonNone {
			t.Fatalf("map46(%v) under EAM %s %s failed", v4, v4p, v6p)
		}
		want := refEAM46(v4p, v6p, netip.AddrFrom4(v4))
		if netip.AddrFrom16(got) != want {
			t.Fatalf("#%d EAM %s -> %s: %v became %s, want %s", n, v4p, v6p, netip.AddrFrom4(v4), netip.AddrFrom16(got), want)
		}
		// Back, with noise in the IPv6 bits past the IPv4 suffix.
		noisy := got
		if extra := 128 - v6len - (32 - v4len); extra > 0 {
			orShifted(&noisy, r.Uint64()&(1<<min(extra, 63)-1), 0)
		}
		if back, r := tr.map64src(sp, &noisy); r != ReasonNone || back != v4 {
			t.Fatalf("EAM %s -> %s: %s went back to %v (%v), want %v", v4p, v6p, netip.AddrFrom16(noisy), back, r, v4)
		}
	}
	t.Run("packets", func(t *testing.T) {
		// 198.51.100.0/24 <-> 2001:db8:1c6:3364::/72: 8 IPv4 suffix bits
		// after 72 IPv6 prefix bits.
		tr := newTranslator(t, func(c *Config) {
			c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:1c6:3364::/72", Space: 7}}
		})
		i := ipv4(17)
		i.DstIP = net.IP{198, 51, 100, 2}
		in := serializeLayers(t, i, udpOver(i), payload(8))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v)", v, p.Reason)
		}
		s := verify(t, p.bytes())
		if want := netip.MustParseAddr("2001:db8:1c6:3364:2::"); s.DstAddr() != want {
			t.Errorf("destination %v, want %v", s.DstAddr(), want)
		}
	})
}

// TestEAMHairpinning: RFC 7757 4.2.2 (intrinsic hairpinning): an IPv6
// host writing to the RFC 6052 form of an IPv4 address that an EAM gives
// to another IPv6 host must reach it; the IPv4 packet is translated back,
// never sent out as IPv4, with the destination by its EAM and the source
// by RFC 6052. Example of RFC 7757 appendix B, here A = 2001:db8:3::8 and
// B = 2001:db8:3::9 under the EAM 198.51.100.0/24 <-> 2001:db8:3::/120,
// with pool6 2001:db8:100::/40.
func TestEAMHairpinning(t *testing.T) {
	pool := netip.MustParsePrefix("2001:db8:100::/40")
	tr := newTranslator(t, func(c *Config) {
		c.Pool6, c.AddressSpaces = pool.String(), nil
		c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:3::/120"}}
	})
	a, b := netip.MustParseAddr("2001:db8:3::8"), netip.MustParseAddr("2001:db8:3::9")
	bVia6052 := refEmbed(pool, netip.MustParseAddr("198.51.100.9"))
	aVia6052 := refEmbed(pool, netip.MustParseAddr("198.51.100.8"))
	run := func(t *testing.T, in []byte) []byte {
		t.Helper()
		p := newPacket(in, 0)
		var st Stats
		if v := tr.To4(p, &st); v != Forward || !p.Hairpin {
			t.Fatalf("To4 = %v (%v), hairpin %v; want forward, hairpin", v, p.Reason, p.Hairpin)
		}
		if v := tr.Hairpin(p, &st); v != Forward {
			t.Fatalf("Hairpin = %v (%v), want forward", v, p.Reason)
		}
		return p.bytes()
	}
	t.Run("udp", func(t *testing.T) {
		i := ipv6(17)
		i.SrcIP, i.DstIP = net.IP(a.AsSlice()), net.IP(bVia6052.AsSlice())
		in := serializeLayers(t, i, udpOver(i), payload(4))
		got := run(t, in)
		s := verify(t, got)
		if s.SrcAddr() != aVia6052 || s.DstAddr() != b || s.TTL != 63 || !bytes.Equal(got[48:], in[48:]) {
			t.Errorf("hairpinned %v -> %v hop limit %d, want %v -> %v, 63, same payload", s.SrcAddr(), s.DstAddr(), s.TTL, aVia6052, b)
		}
	})
	t.Run("error-from-the-host", func(t *testing.T) {
		// B answers A's hairpinned packet with Port Unreachable: the error
		// hairpins back to A, in the addresses A used.
		i := ipv6(17)
		i.SrcIP, i.DstIP = net.IP(aVia6052.AsSlice()), net.IP(b.AsSlice())
		quoted := serializeLayers(t, i, udpOver(i), payload(4))
		outer := ipv6(58)
		outer.SrcIP, outer.DstIP = net.IP(b.AsSlice()), net.IP(aVia6052.AsSlice())
		in := serializeLayers(t, outer, gopacket.Payload(append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, quoted...)))
		pkt.ICMP(in[40:]).SetChecksum(pkt.TransportChecksum(pkt.PseudoHeaderSum6(in[8:24], in[24:40], 58, uint32(len(in)-40)), in[40:]))
		got := run(t, in)
		s := verify(t, got)
		var q pkt.Summary
		pkt.ParseIP(got[48:], &q)
		if s.SrcAddr() != bVia6052 || s.DstAddr() != a || q.SrcAddr() != a || q.DstAddr() != bVia6052 {
			t.Errorf("hairpinned error %v -> %v quoting %v -> %v; want %v -> %v quoting %v -> %v",
				s.SrcAddr(), s.DstAddr(), q.SrcAddr(), q.DstAddr(), bVia6052, a, a, bVia6052)
		}
	})
	t.Run("not-hairpinned", func(t *testing.T) {
		i := ipv6(17)
		i.SrcIP, i.DstIP = net.IP(a.AsSlice()), net.IP(refEmbed(pool, netip.MustParseAddr("203.0.113.9")).AsSlice())
		p := newPacket(serializeLayers(t, i, udpOver(i), payload(4)), 0)
		if v := tr.To4(p, nil); v != Forward || p.Hairpin {
			t.Fatalf("To4 = %v (%v), hairpin %v; want forward to IPv4", v, p.Reason, p.Hairpin)
		}
	})
	t.Run("zero-alloc", func(t *testing.T) {
		i := ipv6(17)
		i.SrcIP, i.DstIP = net.IP(a.AsSlice()), net.IP(bVia6052.AsSlice())
		in := serializeLayers(t, i, udpOver(i), payload(4))
		p := newPacket(in, 0)
		allocs := testing.AllocsPerRun(100, func() {
			p.reset(in)
			tr.To4(p, nil)
			if v := tr.Hairpin(p, nil); v != Forward {
				t.Fatalf("Hairpin = %v (%v)", v, p.Reason)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per packet, want 0", allocs)
		}
	})
}
