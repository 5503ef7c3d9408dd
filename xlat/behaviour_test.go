package xlat

// RFC 7915 behaviours one at a time: fragments, path MTU, options and
// extension headers that stop translation, drops and their reasons.

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// split4 cuts a whole IPv4 packet into fragments carrying at most chunk
// payload bytes (a multiple of 8), as an IPv4 router would.
func split4(t *testing.T, whole []byte, chunk int) [][]byte {
	ihl := int(whole[0]&15) * 4
	body := whole[ihl:]
	var out [][]byte
	for off := 0; off < len(body); off += chunk {
		piece := body[off:min(off+chunk, len(body))]
		f := append(append([]byte(nil), whole[:ihl]...), piece...)
		h := pkt.IPv4(f)
		h.SetTotalLen(uint16(len(f)))
		h.SetFragment(false, off+len(piece) < len(body), uint16(off))
		h.SetChecksum(0)
		h.SetChecksum(h.ComputeChecksum())
		out = append(out, f)
	}
	return out
}

// reassemble6 joins IPv6 fragments (fixed header + fragment header each)
// back into the unfragmented packet, checking the fragment headers agree.
func reassemble6(t *testing.T, frags [][]byte) []byte {
	t.Helper()
	var hdr []byte
	body := map[int][]byte{}
	size, id := 0, uint32(0)
	for i, f := range frags {
		if f[6] != pkt.ProtoFragment {
			t.Fatalf("fragment %d: next header %d, want 44", i, f[6])
		}
		fh := pkt.IPv6Fragment(f[40:48])
		if i == 0 {
			hdr, id = append([]byte(nil), f[:40]...), fh.ID()
			hdr[6] = fh.NextHeader()
		} else if fh.ID() != id {
			t.Fatalf("fragment %d: ID %#x, want %#x", i, fh.ID(), id)
		}
		if !fh.MF() {
			size = int(fh.Offset()) + len(f) - 48
		} else if (len(f)-48)%8 != 0 {
			t.Fatalf("fragment %d: %d bytes with M set", i, len(f)-48)
		}
		body[int(fh.Offset())] = f[48:]
	}
	out := make([]byte, 40+size)
	copy(out, hdr)
	binary.BigEndian.PutUint16(out[4:], uint16(size))
	for off, b := range body {
		copy(out[40+off:], b)
	}
	return out
}

// reassemble4 joins IPv4 fragments.
func reassemble4(t *testing.T, frags [][]byte) []byte {
	t.Helper()
	size := 0
	body := map[int][]byte{}
	for i, f := range frags {
		verify(t, f)
		h := pkt.IPv4(f)
		if h.DF() {
			t.Errorf("fragment %d has DF set", i)
		}
		if h.ID() != pkt.IPv4(frags[0]).ID() {
			t.Errorf("fragment %d: ID %#x, want %#x", i, h.ID(), pkt.IPv4(frags[0]).ID())
		}
		if !h.MF() {
			size = int(h.FragOffset()) + len(f) - 20
		}
		body[int(h.FragOffset())] = f[20:]
	}
	out := make([]byte, 20+size)
	copy(out, frags[0][:20])
	for off, b := range body {
		copy(out[20+off:], b)
	}
	h := pkt.IPv4(out)
	h.SetTotalLen(uint16(len(out)))
	h.SetFragment(false, false, 0)
	h.SetChecksum(0)
	h.SetChecksum(h.ComputeChecksum())
	return out
}

func TestTo6Fragments(t *testing.T) {
	tr := newTranslator(t, func(c *Config) { c.LowestIPv6MTU = 1280 })
	i := ipv4(17)
	i.Flags = 0
	whole := serializeLayers(t, i, udpOver(i), payload(3000))
	want, _ := refTo6(t, space7, whole)

	t.Run("ipv4-fragments", func(t *testing.T) {
		// Fragments of 1200 bytes fit: each gets a fragment header with
		// the IPv4 ID in the low 16 bits, the offset and M copied.
		var frags [][]byte
		for k, f := range split4(t, whole, 1200) {
			p := newPacket(f, 7)
			if v := tr.To6(p, nil); v != Forward {
				t.Fatalf("To6(fragment %d) = %v (%v), want forward", k, v, p.Reason)
			}
			g := p.bytes()
			fh := pkt.IPv6Fragment(g[40:48])
			if fh.ID() != 0x1234 || int(fh.Offset()) != 1200*k || fh.MF() != (k < 2) || fh.NextHeader() != 17 {
				t.Errorf("fragment %d header = id %#x off %d mf %v next %d, want id 0x1234 off %d mf %v next 17",
					k, fh.ID(), fh.Offset(), fh.MF(), fh.NextHeader(), 1200*k, k < 2)
			}
			frags = append(frags, g)
		}
		if diff := cmp.Diff(want, reassemble6(t, frags)); diff != "" {
			t.Errorf("reassembled translation (-want +got):\n%s", diff)
		}
	})
	t.Run("df0-too-big", func(t *testing.T) {
		// DF=0 and bigger than the lowest IPv6 MTU: the translator
		// fragments.
		p := newPacket(whole, 7).withFrags(4)
		if v := tr.To6(p, nil); v != Fragments {
			t.Fatalf("To6 = %v (%v), want fragments", v, p.Reason)
		}
		if p.NFrags != 3 {
			t.Fatalf("NFrags = %d, want 3", p.NFrags)
		}
		for k, f := range p.Frags[:p.NFrags] {
			if len(f) > 1280 {
				t.Errorf("fragment %d is %d bytes, over the lowest IPv6 MTU 1280", k, len(f))
			}
			if id := pkt.IPv6Fragment(f[40:]).ID(); id != 0x1234 {
				t.Errorf("fragment %d ID %#x, want 0x1234", k, id)
			}
		}
		if diff := cmp.Diff(want, reassemble6(t, p.Frags[:p.NFrags])); diff != "" {
			t.Errorf("reassembled fragments (-want +got):\n%s", diff)
		}
	})
	t.Run("df0-too-few-buffers", func(t *testing.T) {
		p := newPacket(whole, 7).withFrags(2)
		if v := tr.To6(p, nil); v != Drop || p.Reason != ReasonFragBuffers {
			t.Fatalf("To6 = %v (%v), want drop (fragment-buffers)", v, p.Reason)
		}
		if !bytes.Equal(p.Buf[headroom:headroom+len(whole)], whole) {
			t.Errorf("dropped packet was modified")
		}
	})
	t.Run("df1-too-big", func(t *testing.T) {
		// RFC 7915 section 6 / RFC 1191: DF=1 and bigger than the IPv6
		// next hop: the sender is told the IPv4 size that fits (the next
		// hop's MTU less the 20 bytes the header grows by). A router
		// calling To6 with RouterAnswers sends that Fragmentation Needed
		// from an address of its own: the translator writes nothing,
		// pool or not.
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(1300))
		for _, tc := range []struct {
			name     string
			cap, mtu int
			want     int
		}{
			{"cap", 1280, 0, 1260},
			{"next-hop", 0, 1300, 1280},
			{"next-hop-under-cap", 1400, 1300, 1280},
			{"cap-under-next-hop", 1290, 1500, 1270},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tr := newTranslator(t, func(c *Config) { c.IPv6MTU = tc.cap })
				p := newPacket(in, 7)
				p.MTU, p.RouterAnswers = tc.mtu, true
				var st Stats
				if v := tr.To6(p, &st); v != TooBig || p.Reason != ReasonTooBig || p.TooBigMTU != tc.want {
					t.Fatalf("To6 = %v (%v, mtu %d), want too-big (too-big, mtu %d)", v, p.Reason, p.TooBigMTU, tc.want)
				}
				if !bytes.Equal(p.Buf[headroom:headroom+len(in)], in) || p.Off != headroom {
					t.Errorf("a packet answered TooBig was modified")
				}
				if st.Verdict(TooBig) != 1 || st.Reasons[ReasonTooBig] != 1 {
					t.Errorf("stats = %v verdicts, %d too-big reasons, want 1 TooBig", st.Verdicts, st.Reasons[ReasonTooBig])
				}
			})
		}
		// The IPv6 packet is 20 bytes longer: a next hop of exactly
		// that takes it.
		p := newPacket(in, 7)
		p.MTU = len(in) + 20
		if v := tr.To6(p, nil); v != Forward || p.Len != p.MTU {
			t.Fatalf("To6 with next hop MTU %d = %v (%v) of %d bytes, want forward", p.MTU, v, p.Reason, p.Len)
		}
	})
	t.Run("df0-next-hop-mtu", func(t *testing.T) {
		// RFC 7915 section 4: DF=0 packets are fragmented to fit; with a
		// next hop below the lowest IPv6 MTU setting, to fit the next
		// hop (a link configured lower than it should be still works).
		tr := newTranslator(t, func(c *Config) { c.LowestIPv6MTU = 1500 })
		p := newPacket(whole, 7).withFrags(4)
		p.MTU = 1400
		if v := tr.To6(p, nil); v != Fragments {
			t.Fatalf("To6 = %v (%v), want fragments", v, p.Reason)
		}
		for k, f := range p.Frags[:p.NFrags] {
			if len(f) > 1400 {
				t.Errorf("fragment %d is %d bytes, over the next hop's MTU 1400", k, len(f))
			}
		}
		if diff := cmp.Diff(want, reassemble6(t, p.Frags[:p.NFrags])); diff != "" {
			t.Errorf("reassembled fragments (-want +got):\n%s", diff)
		}
	})
}

// checkICMPv4Error checks an ICMPv4 error from the RFC 6791 pool address
// to orig's source quoting orig.
func checkICMPv4Error(t *testing.T, got, orig []byte, typ, code uint8, rest uint32) {
	t.Helper()
	s := verify(t, got)
	ic := pkt.ICMP(got[s.L4Off:])
	if s.Proto != pkt.ProtoICMP || ic.Type() != typ || ic.Code() != code || ic.Rest() != rest {
		t.Errorf("error = proto %d type %d code %d rest %#x, want 1/%d/%d/%#x", s.Proto, ic.Type(), ic.Code(), ic.Rest(), typ, code, rest)
	}
	if s.Src4() != binary.BigEndian.Uint32(pool4[:]) || !bytes.Equal(s.Dst[:4], orig[12:16]) {
		t.Errorf("error %v -> %v, want 192.0.2.1 -> %v", s.SrcAddr(), s.DstAddr(), net.IP(orig[12:16]))
	}
	if q := ic.Body(); !bytes.Equal(q, orig[:len(q)]) {
		t.Errorf("quote %x is not the start of %x", q, orig)
	}
}

func checkICMPv6Error(t *testing.T, got, orig []byte, typ, code uint8, rest uint32) {
	t.Helper()
	s := verify(t, got)
	ic := pkt.ICMP(got[s.L4Off:])
	if s.Proto != pkt.ProtoICMPv6 || ic.Type() != typ || ic.Code() != code || ic.Rest() != rest {
		t.Errorf("error = proto %d type %d code %d rest %#x, want 58/%d/%d/%#x", s.Proto, ic.Type(), ic.Code(), ic.Rest(), typ, code, rest)
	}
	if s.Src != pool6 || !bytes.Equal(s.Dst[:], orig[8:24]) {
		t.Errorf("error %v -> %v, want 2001:db8:ffff::1 -> %v", s.SrcAddr(), s.DstAddr(), net.IP(orig[8:24]))
	}
	if q := ic.Body(); !bytes.Equal(q, orig[:len(q)]) {
		t.Errorf("quote %x is not the start of %x", q, orig)
	}
}

func TestTo6Drops(t *testing.T) {
	udp := func(t testing.TB, mod func(*layers.IPv4)) []byte {
		i := ipv4(17)
		if mod != nil {
			mod(i)
		}
		return serializeLayers(t, i, udpOver(i), payload(20))
	}
	zeroUDP := func(t testing.TB, frag bool) []byte {
		i := ipv4(17)
		if frag {
			i.Flags = layers.IPv4MoreFragments
		}
		b := serializeLayers(t, i, udpOver(i), payload(24))
		b[26], b[27] = 0, 0
		return b
	}
	off := false
	tests := []struct {
		name   string
		mod    func(*Config)
		space  uint16
		packet func(t testing.TB) []byte
		want   Reason
	}{
		{"igmp", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(2), gopacket.Payload{0x11, 0, 0xee, 0xff, 0, 0, 0, 0})
		}, ReasonIGMP},
		// RFC 7915 4.1 copies the protocol, but protocol 0 would make
		// the payload a Hop-by-Hop header (RFC 8200 4.3): a payload
		// shaped as one (next header TCP) would smuggle a TCP segment.
		{"ipv6-header-protocol-hop-by-hop", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(0), gopacket.Payload{6, 0, 1, 4, 0, 0, 0, 0}, payload(20))
		}, ReasonIPv6Proto},
		{"ipv6-header-protocol-routing", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(43), payload(24))
		}, ReasonIPv6Proto},
		{"ipv6-header-protocol-fragment", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(44), payload(24))
		}, ReasonIPv6Proto},
		{"ipv6-header-protocol-dstopts", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(60), payload(24))
		}, ReasonIPv6Proto},
		{"ipv6-header-protocol-icmpv6", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(58), payload(24))
		}, ReasonIPv6Proto},
		{"icmp-timestamp", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(1), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(13, 0)}, payload(12))
		}, ReasonICMPType},
		{"icmp-redirect", nil, 7, func(t testing.TB) []byte {
			return serializeLayers(t, ipv4(1), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(5, 1)}, payload(28))
		}, ReasonICMPType},
		{"icmp-fragment", nil, 7, func(t testing.TB) []byte {
			i := ipv4(1)
			i.Flags = layers.IPv4MoreFragments
			return serializeLayers(t, i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload(24))
		}, ReasonICMPFragmented},
		{"udp-zero-checksum-fragment-no-source", func(c *Config) { c.RFC6791v4 = nil }, 7,
			func(t testing.TB) []byte { return zeroUDP(t, true) }, ReasonUDPZeroChecksumFrag},
		{"udp-zero-checksum-amend-off-no-source", func(c *Config) { c.AmendUDPZeroChecksum, c.RFC6791v4 = &off, nil }, 7,
			func(t testing.TB) []byte { return zeroUDP(t, false) }, ReasonUDPZeroChecksum},
		{"no-space", nil, 9, func(t testing.TB) []byte { return udp(t, nil) }, ReasonNoSpace},
		{"wkp-private-src", func(c *Config) { c.Pool6 = "64:ff9b::/96" }, 0,
			func(t testing.TB) []byte { return udp(t, func(i *layers.IPv4) { i.DstIP = net.IP{9, 9, 9, 9} }) }, ReasonNonGlobalWKP},
		{"wkp-private-dst", func(c *Config) { c.Pool6 = "64:ff9b::/96" }, 0,
			func(t testing.TB) []byte { return udp(t, func(i *layers.IPv4) { i.SrcIP = net.IP{9, 9, 9, 9} }) }, ReasonNonGlobalWKP},
		{"eam-only-space-src", func(c *Config) {
			c.Pool6 = ""
			c.EAM = []EAMEntry{{IPv4: "198.19.1.0/24", IPv6: "2001:db8:100::/120"}}
		}, 0, func(t testing.TB) []byte { return udp(t, nil) }, ReasonSrcUntranslatable},
		{"eam-only-space-dst", func(c *Config) {
			c.Pool6 = ""
			c.EAM = []EAMEntry{{IPv4: "198.18.0.0/24", IPv6: "2001:db8:100::/120"}}
		}, 0, func(t testing.TB) []byte { return udp(t, nil) }, ReasonDstUntranslatable},
		{"ipv6-given", nil, 7, func(t testing.TB) []byte { i := ipv6(17); return serializeLayers(t, i, udpOver(i)) }, ReasonFamily},
		{"bad-header-checksum", nil, 7, func(t testing.TB) []byte { b := udp(t, nil); b[10] ^= 1; return b }, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranslator(t, tc.mod)
			in := tc.packet(t)
			p := newPacket(in, tc.space)
			var st Stats
			if v := tr.To6(p, &st); v != Drop || p.Reason != tc.want {
				t.Fatalf("To6(%x) = %v (%v), want drop (%v)", in, v, p.Reason, tc.want)
			}
			if !bytes.Equal(p.Buf[headroom:headroom+len(in)], in) {
				t.Errorf("dropped packet was modified")
			}
			if st.Reasons[tc.want] != 1 || st.Verdicts[Drop] != 1 {
				t.Errorf("Stats = %d drops, %d %v; want 1 and 1", st.Verdicts[Drop], st.Reasons[tc.want], tc.want)
			}
		})
	}
	t.Run("malformed-reason", func(t *testing.T) {
		b := udp(t, nil)
		b[10] ^= 1
		p := newPacket(b, 7)
		var st Stats
		newTranslator(t, nil).To6(p, &st)
		if p.ParseReason != pkt.ReasonIPv4Checksum || st.Parse[pkt.ReasonIPv4Checksum] != 1 {
			t.Errorf("ParseReason = %v (counted %d), want ipv4-checksum once", p.ParseReason, st.Parse[pkt.ReasonIPv4Checksum])
		}
	})
	t.Run("no-headroom", func(t *testing.T) {
		in := udp(t, nil)
		p := &Packet{Buf: append([]byte(nil), in...), Len: len(in), Space: 7}
		if v := newTranslator(t, nil).To6(p, nil); v != Drop || p.Reason != ReasonNoHeadroom {
			t.Fatalf("To6 = %v (%v), want drop (no-headroom)", v, p.Reason)
		}
		if !bytes.Equal(p.Buf, in) {
			t.Errorf("dropped packet was modified")
		}
	})
}

func TestTo6Special(t *testing.T) {
	t.Run("source-route", func(t *testing.T) {
		// RFC 7915 4.1: an unexpired source route is not translated;
		// Destination Unreachable / Source Route Failed goes back.
		i := ipv4(17)
		i.Options = []layers.IPv4Option{{OptionType: pkt.IPv4OptSSRR, OptionLength: 7, OptionData: []byte{4, 1, 2, 3, 4}}}
		in := serializeLayers(t, i, udpOver(i), payload(10))
		p := newPacket(in, 7)
		if v := newTranslator(t, nil).To6(p, nil); v != Reply || p.Reason != ReasonSourceRoute {
			t.Fatalf("To6 = %v (%v), want reply (source-route)", v, p.Reason)
		}
		checkICMPv4Error(t, p.bytes(), in, 3, 5, 0)
	})
	t.Run("source-route-no-pool", func(t *testing.T) {
		i := ipv4(17)
		i.Options = []layers.IPv4Option{{OptionType: pkt.IPv4OptLSRR, OptionLength: 7, OptionData: []byte{4, 1, 2, 3, 4}}}
		in := serializeLayers(t, i, udpOver(i), payload(10))
		p := newPacket(in, 7)
		tr := newTranslator(t, func(c *Config) { c.RFC6791v4 = nil })
		if v := tr.To6(p, nil); v != Drop || p.Reason != ReasonSourceRoute {
			t.Fatalf("To6 = %v (%v), want drop (source-route)", v, p.Reason)
		}
	})
	t.Run("udp-zero-checksum-amended", func(t *testing.T) {
		// RFC 7915 4.5: a whole IPv4 UDP datagram without checksum gets
		// one computed.
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(25))
		want, _ := refTo6(t, space7, in)
		in[26], in[27] = 0, 0
		p := newPacket(in, 7)
		if v := newTranslator(t, nil).To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v), want forward", v, p.Reason)
		}
		if diff := cmp.Diff(want, p.bytes()); diff != "" {
			t.Errorf("To6 (-want +got):\n%s", diff)
		}
	})
	t.Run("eam", func(t *testing.T) {
		// RFC 7757: the EAM wins over the space's RFC 6052 prefix.
		tr := newTranslator(t, func(c *Config) {
			c.EAM = []EAMEntry{{IPv4: "198.19.1.0/24", IPv6: "2001:db8:100::/120", Space: 7}}
		})
		i := ipv4(17)
		in := serializeLayers(t, i, udpOver(i), payload(10))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Forward {
			t.Fatalf("To6 = %v (%v), want forward", v, p.Reason)
		}
		s := verify(t, p.bytes())
		if got, want := s.DstAddr().String(), "2001:db8:100::2"; got != want {
			t.Errorf("destination %s, want %s (EAM)", got, want)
		}
		if got, want := s.SrcAddr().String(), "64:ff9b:1:7::c612:1"; got != want {
			t.Errorf("source %s, want %s (RFC 6052)", got, want)
		}
		q := newPacket(p.bytes(), 0)
		if v := tr.To4(q, nil); v != Forward || q.Space != 7 {
			t.Fatalf("To4 = %v (%v) space %d, want forward in space 7", v, q.Reason, q.Space)
		}
		if got := q.bytes(); !bytes.Equal(got[12:20], in[12:20]) {
			t.Errorf("To4 addresses %v -> %v, want %v -> %v", net.IP(got[12:16]), net.IP(got[16:20]), v4A, v4B)
		}
	})
}

func TestTo4Fragments(t *testing.T) {
	i := ipv6(17)
	whole := serializeLayers(t, i, udpOver(i), payload(3000))
	want, _ := refTo4(t, space7, whole, 0)
	binary.BigEndian.PutUint16(want[4:], 0xbeef) // the fragment ID's low bits
	want[6] = 0                                  // DF clear for fragments
	pkt.IPv4(want).SetChecksum(0)
	pkt.IPv4(want).SetChecksum(pkt.IPv4(want).ComputeChecksum())
	// IPv6 fragments of whole, as the source would send them.
	var frags6 [][]byte
	body := whole[40:]
	for off := 0; off < len(body); off += 1232 {
		piece := body[off:min(off+1232, len(body))]
		f := append(append(append([]byte(nil), whole[:40]...), make([]byte, 8)...), piece...)
		f[6] = pkt.ProtoFragment
		binary.BigEndian.PutUint16(f[4:], uint16(8+len(piece)))
		pkt.IPv6Fragment(f[40:]).Set(17, uint16(off), off+len(piece) < len(body), 0x1234beef)
		frags6 = append(frags6, f)
	}
	t.Run("fragment-header", func(t *testing.T) {
		tr := newTranslator(t, nil)
		var frags4 [][]byte
		for k, f := range frags6 {
			p := newPacket(f, 0)
			if v := tr.To4(p, nil); v != Forward {
				t.Fatalf("To4(fragment %d) = %v (%v)", k, v, p.Reason)
			}
			frags4 = append(frags4, p.bytes())
		}
		if diff := cmp.Diff(want, reassemble4(t, frags4)); diff != "" {
			t.Errorf("reassembled (-want +got):\n%s", diff)
		}
	})
	t.Run("fragment-header-refragmented", func(t *testing.T) {
		// IPv4 MTU 576: every 1280-byte IPv6 fragment is cut again.
		tr := newTranslator(t, func(c *Config) { c.IPv4MTU = 576 })
		var frags4 [][]byte
		for k, f := range frags6 {
			p := newPacket(f, 0).withFrags(4)
			v := tr.To4(p, nil)
			out := p.Frags[:p.NFrags]
			switch {
			case v == Forward && len(p.bytes()) <= 576: // the last, short piece
				out = [][]byte{p.bytes()}
			case v != Fragments:
				t.Fatalf("To4(fragment %d) = %v (%v), want fragments", k, v, p.Reason)
			}
			for _, g := range out {
				if len(g) > 576 {
					t.Errorf("fragment of %d bytes over the IPv4 MTU 576", len(g))
				}
				frags4 = append(frags4, g)
			}
		}
		if diff := cmp.Diff(want, reassemble4(t, frags4)); diff != "" {
			t.Errorf("reassembled (-want +got):\n%s", diff)
		}
	})
	t.Run("small-mtu-df0", func(t *testing.T) {
		// 1000 bytes leave with DF=0 (<= 1260) and the IPv4 MTU is 576:
		// the translator fragments.
		tr := newTranslator(t, func(c *Config) { c.IPv4MTU = 576 })
		i := ipv6(17)
		in := serializeLayers(t, i, udpOver(i), payload(1000-48+20))
		p := newPacket(in, 0).withFrags(3)
		if v := tr.To4(p, nil); v != Fragments || p.NFrags != 2 {
			t.Fatalf("To4 = %v (%v) with %d fragments, want 2 fragments", v, p.Reason, p.NFrags)
		}
		got := reassemble4(t, p.Frags[:p.NFrags])
		want, _ := refTo4(t, space7, in, pkt.IPv4(got).ID())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reassembled (-want +got):\n%s", diff)
		}
	})
	t.Run("too-big", func(t *testing.T) {
		// RFC 7915 5.1: no fragment header, over 1260 and the IPv4 MTU:
		// Packet Too Big with the IPv4 MTU + 20, never below 1280. With
		// RouterAnswers the caller (the router) sends it; nothing is
		// written.
		i := ipv6(17)
		in := serializeLayers(t, i, udpOver(i), payload(1400))
		for _, tc := range []struct {
			name     string
			cap, mtu int
			want     int
		}{
			{"cap", 1280, 0, 1300},
			{"next-hop", 0, 1400, 1420},
			{"cap-under-next-hop", 1300, 1400, 1320},
			{"small-next-hop", 0, 1000, 1280},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tr := newTranslator(t, func(c *Config) { c.IPv4MTU = tc.cap })
				p := newPacket(in, 0)
				p.MTU, p.RouterAnswers = tc.mtu, true
				if v := tr.To4(p, nil); v != TooBig || p.Reason != ReasonTooBig || p.TooBigMTU != tc.want {
					t.Fatalf("To4 = %v (%v, mtu %d), want too-big (too-big, mtu %d)", v, p.Reason, p.TooBigMTU, tc.want)
				}
				if !bytes.Equal(p.Buf[headroom:headroom+len(in)], in) || p.Off != headroom {
					t.Errorf("a packet answered TooBig was modified")
				}
			})
		}
	})
	t.Run("next-hop-fragments", func(t *testing.T) {
		// RFC 7915 5.1.1: an IPv6 fragment leaves as IPv4 fragments that
		// fit the next hop the caller names.
		tr := newTranslator(t, nil)
		i := ipv6(17)
		in := insertFragHeader(serializeLayers(t, i, udpOver(i), payload(1300)), false)
		p := newPacket(in, 0).withFrags(4)
		p.MTU = 700
		if v := tr.To4(p, nil); v != Fragments {
			t.Fatalf("To4 = %v (%v), want fragments", v, p.Reason)
		}
		for k, f := range p.Frags[:p.NFrags] {
			if len(f) > 700 {
				t.Errorf("fragment %d is %d bytes, over the next hop's MTU 700", k, len(f))
			}
		}
	})
}

func TestTo4Special(t *testing.T) {
	udp := func(t testing.TB, mod func(*layers.IPv6)) []byte {
		i := ipv6(17)
		if mod != nil {
			mod(i)
		}
		return serializeLayers(t, i, udpOver(i), payload(20))
	}
	icmp6 := func(typ uint8, frag bool) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			i := ipv6(58)
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
			ic.SetNetworkLayerForChecksum(i)
			b := serializeLayers(t, i, ic, payload(20))
			if frag {
				b = insertFragHeader(b, true)
			}
			return b
		}
	}
	tests := []struct {
		name   string
		packet func(t testing.TB) []byte
		want   Reason
	}{
		{"neighbour-solicitation", icmp6(135, false), ReasonICMPType},
		{"mld-query", icmp6(130, false), ReasonICMPType},
		{"unknown-informational", icmp6(200, false), ReasonICMPType},
		{"icmpv6-fragment", icmp6(128, true), ReasonICMPFragmented},
		{"tcp-fragment-at-offset-8", func(t testing.TB) []byte {
			// RFC 1858 in IPv4 (pkt: ipv4-tiny-fragment): not made by
			// translation either. Found by FuzzTo4.
			i := ipv6(6)
			b := insertFragHeader(serializeLayers(t, i, tcpOver(i), payload(20)), true)
			pkt.IPv6Fragment(b[40:]).Set(6, 8, true, 7)
			return b
		}, ReasonMalformed},
		{"dst-untranslatable", func(t testing.TB) []byte { return udp(t, func(i *layers.IPv6) { i.DstIP = v6Alien }) }, ReasonDstUntranslatable},
		{"src-untranslatable", func(t testing.TB) []byte { return udp(t, func(i *layers.IPv6) { i.SrcIP = v6Alien }) }, ReasonSrcUntranslatable},
		{"src-other-space", func(t testing.TB) []byte {
			return udp(t, func(i *layers.IPv6) { i.SrcIP = net.ParseIP("2001:db8:46::c612:1") })
		}, ReasonSrcUntranslatable},
		{"ipv4-given", func(t testing.TB) []byte { i := ipv4(17); return serializeLayers(t, i, udpOver(i)) }, ReasonFamily},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.packet(t)
			p := newPacket(in, 0)
			if v := newTranslator(t, nil).To4(p, nil); v != Drop || p.Reason != tc.want {
				t.Fatalf("To4(%x) = %v (%v), want drop (%v)", in, v, p.Reason, tc.want)
			}
			if !bytes.Equal(p.Buf[headroom:headroom+len(in)], in) {
				t.Errorf("dropped packet was modified")
			}
		})
	}
	t.Run("segments-left", func(t *testing.T) {
		// RFC 7915 5.1: a routing header with segments left is not
		// translated; Parameter Problem points at Segments Left.
		i := ipv6(layers.IPProtocolIPv6Routing)
		rh := []byte{17, 2, 0, 1, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}
		u := serializeLayers(t, i, udpOver(i), payload(8))[40:]
		in := serializeLayers(t, i, gopacket.Payload(append(rh, u...)))
		p := newPacket(in, 0)
		if v := newTranslator(t, nil).To4(p, nil); v != Reply || p.Reason != ReasonSegmentsLeft {
			t.Fatalf("To4 = %v (%v), want reply (segments-left)", v, p.Reason)
		}
		checkICMPv6Error(t, p.bytes(), in, 4, 0, 43)
	})
	t.Run("udp-zero-checksum", func(t *testing.T) {
		// Invalid in IPv6, "no checksum" in IPv4: passed on as zero.
		in := udp(t, nil)
		in[46], in[47] = 0, 0
		p := newPacket(in, 0)
		if v := newTranslator(t, nil).To4(p, nil); v != Forward {
			t.Fatalf("To4 = %v (%v), want forward", v, p.Reason)
		}
		if got := p.bytes(); got[26] != 0 || got[27] != 0 {
			t.Errorf("UDP checksum %x, want 0", got[26:28])
		}
	})
	t.Run("identification", func(t *testing.T) {
		// RFC 7915 5.1: without a fragment header the ID comes from a
		// generator: consecutive packets differ.
		tr := newTranslator(t, nil)
		in := udp(t, nil)
		p := newPacket(in, 0)
		tr.To4(p, nil)
		id1 := pkt.IPv4(p.bytes()).ID()
		copy(p.Buf[headroom:], in)
		p.Off, p.Len = headroom, len(in)
		tr.To4(p, nil)
		if id2 := pkt.IPv4(p.bytes()).ID(); id1 == id2 {
			t.Errorf("two packets got the same Identification %#x", id1)
		}
	})
}

// insertFragHeader puts an 8-byte fragment header (offset 0, ID 7) after
// the fixed header of an IPv6 packet.
func insertFragHeader(b []byte, mf bool) []byte {
	out := append(append(append([]byte(nil), b[:40]...), make([]byte, 8)...), b[40:]...)
	pkt.IPv6Fragment(out[40:]).Set(b[6], 0, mf, 7)
	out[6] = pkt.ProtoFragment
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

// TestHopMTU: after To6 the packet reports the next hop's MTU the translation held the
// packet to — the caller's, capped by ipv6MTU, or the default without either — and the
// translator its lowestIPv6MTU (a caller repeating the translation elsewhere, fwd's
// kernel fast path, holds its packets to the same limits).
func TestHopMTU(t *testing.T) {
	ip := ipv4(layers.IPProtocolUDP)
	b := serializeLayers(t, ip, udpOver(ip), payload(10))
	for _, tc := range []struct {
		name             string
		ipv6MTU, lowest  int
		mtu              int
		wantHop, wantLow int
	}{
		{"caller's", 0, 0, 1400, 1400, 1280},
		{"capped by ipv6MTU", 1300, 1400, 1500, 1300, 1400},
		{"ipv6MTU without the caller's", 1300, 0, 0, 1300, 1280},
		{"default", 0, 0, 0, DefaultMTU, 1280},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranslator(t, func(c *Config) { c.IPv6MTU, c.LowestIPv6MTU = tc.ipv6MTU, tc.lowest })
			p := newPacket(b, 7)
			p.MTU = tc.mtu
			if v := tr.To6(p, &Stats{}); v != Forward {
				t.Fatalf("To6 = %v (%v), want Forward", v, p.Reason)
			}
			if p.HopMTU() != tc.wantHop || tr.LowestIPv6MTU() != tc.wantLow {
				t.Errorf("HopMTU() = %d, LowestIPv6MTU() = %d, want %d and %d", p.HopMTU(), tr.LowestIPv6MTU(), tc.wantHop, tc.wantLow)
			}
		})
	}
}
