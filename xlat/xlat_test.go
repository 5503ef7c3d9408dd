package xlat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const headroom = 256

// Test addresses (DESIGN.md section 6): IPv4 hosts in address space 7,
// whose prefix is the default 64:ff9b:1:7::/96, and in space 0 under
// pool6 2001:db8:46::/96.
var (
	v4A     = net.IP{198, 18, 0, 1}
	v4B     = net.IP{198, 19, 1, 2}
	space7  = netip.MustParsePrefix("64:ff9b:1:7::/96")
	space0  = netip.MustParsePrefix("2001:db8:46::/96")
	v6A     = net.ParseIP("64:ff9b:1:7::c612:1")   // 198.18.0.1 in space 7
	v6B     = net.ParseIP("64:ff9b:1:7::c613:102") // 198.19.1.2 in space 7
	v6Alien = net.ParseIP("2001:db8:99::1")        // no IPv4 form
	pool4   = [4]byte{192, 0, 2, 1}
	pool6   = netip.MustParseAddr("2001:db8:ffff::1").As16()
)

func baseConfig() Config {
	return Config{
		Pool6:         space0.String(),
		AddressSpaces: map[int]string{7: ""},
		RFC6791v4:     []string{"192.0.2.1"},
		RFC6791v6:     []string{"2001:db8:ffff::1"},
		IPv4MTU:       1500,
		IPv6MTU:       1500,
	}
}

func newTranslator(t testing.TB, mod func(*Config)) *Translator {
	t.Helper()
	c := baseConfig()
	if mod != nil {
		mod(&c)
	}
	tr, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

// newPacket puts b after headroom bytes in a fresh frame.
func newPacket(b []byte, space uint16) *Packet {
	buf := make([]byte, headroom+len(b)+64)
	copy(buf[headroom:], b)
	return &Packet{Buf: buf, Off: headroom, Len: len(b), Space: space}
}

func (p *Packet) bytes() []byte { return append([]byte(nil), p.Buf[p.Off:p.Off+p.Len]...) }

// withFrags lends k buffers of 2048 bytes.
func (p *Packet) withFrags(k int) *Packet {
	p.Frags = make([][]byte, k)
	for i := range p.Frags {
		p.Frags[i] = make([]byte, 2048)
	}
	return p
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: 0xb8, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: v4A, DstIP: v4B}
}

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, HopLimit: 63,
		NextHeader: next, SrcIP: v6B, DstIP: v6A}
}

func udpOver(n gopacket.NetworkLayer) *layers.UDP {
	u := &layers.UDP{SrcPort: 5353, DstPort: 53}
	u.SetNetworkLayerForChecksum(n)
	return u
}

func tcpOver(n gopacket.NetworkLayer) *layers.TCP {
	c := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 7, Ack: 9, ACK: true, PSH: true, Window: 1000}
	c.SetNetworkLayerForChecksum(n)
	return c
}

func payload(n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// verify checks an IP packet the way a receiver would: it parses, the
// IPv4 header checksum holds (ParseIP checks it), and the transport
// checksum sums to all ones over the pseudo-header (skipped for
// fragments, whose checksum covers the reassembled datagram).
func verify(t *testing.T, b []byte) pkt.Summary {
	t.Helper()
	var s pkt.Summary
	if v := pkt.ParseIP(b, &s); v != pkt.OK {
		t.Fatalf("ParseIP(%x) = %v (%v), want ok", b, v, s.Reason)
	}
	if s.Flags&pkt.FlagFragment != 0 {
		return s
	}
	seg := b[s.L4Off:s.End()]
	var pseudo uint16
	switch {
	case s.Family == pkt.FamilyIPv4 && s.Proto != pkt.ProtoICMP:
		pseudo = pkt.PseudoHeaderSum4(s.Src[:4], s.Dst[:4], s.Proto, uint16(len(seg)))
	case s.Family == pkt.FamilyIPv6:
		pseudo = pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], s.Proto, uint32(len(seg)))
	}
	switch s.Proto {
	case pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMP, pkt.ProtoICMPv6:
		if s.Proto == pkt.ProtoUDP && s.Flags&pkt.FlagUDPZeroChecksum != 0 && s.Family == pkt.FamilyIPv4 {
			return s
		}
		if !pkt.VerifyTransport(pseudo, seg) {
			t.Errorf("transport checksum of %x does not verify", b)
		}
	}
	return s
}

func TestRFC6052Examples(t *testing.T) {
	// RFC 6052 section 2.4, Table 1: 192.0.2.33 under each prefix length.
	v4 := netip.MustParseAddr("192.0.2.33")
	tests := []struct{ prefix, want string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
		{"64:ff9b::/96", "64:ff9b::192.0.2.33"},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			p := netip.MustParsePrefix(tc.prefix)
			pfx := p.Addr().As16()
			var got [16]byte
			embed(&got, &pfx, uint8(p.Bits()), v4.As4())
			if want := netip.MustParseAddr(tc.want); netip.AddrFrom16(got) != want {
				t.Errorf("embed(%s, %s) = %s, want %s", tc.prefix, v4, netip.AddrFrom16(got), want)
			}
			if back := extract(&got, uint8(p.Bits())); back != v4.As4() {
				t.Errorf("extract(%s) = %v, want %s", netip.AddrFrom16(got), back, v4)
			}
			if ref := refEmbed(p, v4); ref != netip.AddrFrom16(got) {
				t.Errorf("refEmbed(%s, %s) = %s, fast path %s", tc.prefix, v4, ref, netip.AddrFrom16(got))
			}
		})
	}
}

func TestEmbedDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		plen := []int{32, 40, 48, 56, 64, 96}[i%6]
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], r.Uint64())
		binary.BigEndian.PutUint64(a[8:], r.Uint64())
		a[uOctet] = 0
		p := netip.PrefixFrom(netip.AddrFrom16(a), plen).Masked()
		var v4 [4]byte
		binary.BigEndian.PutUint32(v4[:], r.Uint32())
		pfx := p.Addr().As16()
		var got [16]byte
		embed(&got, &pfx, uint8(plen), v4)
		want := refEmbed(p, netip.AddrFrom4(v4))
		if netip.AddrFrom16(got) != want {
			t.Fatalf("embed(%s, %v) = %s, want %s", p, v4, netip.AddrFrom16(got), want)
		}
		// Random suffix and u-octet bits must not change the extraction
		// (RFC 6052 2.2: decoders ignore them).
		noisy := got
		if plen < 96 {
			noisy[uOctet] = byte(r.Uint32())
			noisy[15] = byte(r.Uint32()) // suffix, past the IPv4 bits for every length below 96
		}
		if x := extract(&noisy, uint8(plen)); netip.AddrFrom4(x) != refExtract(plen, netip.AddrFrom16(got)) || x != v4 {
			t.Fatalf("extract(%s, /%d) = %v, want %v", netip.AddrFrom16(noisy), plen, x, v4)
		}
		var x prefix6 = makePrefix6(p)
		if !x.match(&got) {
			t.Fatalf("prefix %s does not match %s", p, netip.AddrFrom16(got))
		}
	}
}

// TestTo6Reference translates whole packets and compares every byte with
// the slow twin's gopacket-built translation.
func TestTo6Reference(t *testing.T) {
	tr := newTranslator(t, nil)
	tests := []struct {
		name   string
		packet func(t testing.TB) []byte
	}{
		{"udp", func(t testing.TB) []byte { i := ipv4(17); return serializeLayers(t, i, udpOver(i), payload(36)) }},
		{"tcp", func(t testing.TB) []byte { i := ipv4(6); return serializeLayers(t, i, tcpOver(i), payload(100)) }},
		{"tcp-no-df-ttl-1-tos-0", func(t testing.TB) []byte {
			i := ipv4(6)
			i.Flags, i.TTL, i.TOS = 0, 1, 0
			return serializeLayers(t, i, tcpOver(i), payload(3))
		}},
		{"echo-request", func(t testing.TB) []byte {
			i := ipv4(1)
			return serializeLayers(t, i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 5}, payload(56))
		}},
		{"echo-reply-odd", func(t testing.TB) []byte {
			i := ipv4(1)
			return serializeLayers(t, i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 0xffff, Seq: 0}, payload(33))
		}},
		{"options-ignored", func(t testing.TB) []byte {
			i := ipv4(17)
			i.Options = []layers.IPv4Option{{OptionType: pkt.IPv4OptRA, OptionLength: 4, OptionData: []byte{0, 0}},
				{OptionType: pkt.IPv4OptRR, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}
			return serializeLayers(t, i, udpOver(i), payload(10))
		}},
		{"expired-source-route", func(t testing.TB) []byte {
			i := ipv4(17)
			// LSRR with pointer 8 past its one address: used up.
			i.Options = []layers.IPv4Option{{OptionType: pkt.IPv4OptLSRR, OptionLength: 7, OptionData: []byte{8, 1, 2, 3, 4}}}
			return serializeLayers(t, i, udpOver(i), payload(10))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.packet(t)
			want, err := refTo6(t, space7, in)
			if err != nil {
				t.Fatal(err)
			}
			p := newPacket(in, 7)
			var st Stats
			if v := tr.To6(p, &st); v != Forward {
				t.Fatalf("To6(%x) = %v (%v), want forward", in, v, p.Reason)
			}
			got := p.bytes()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("To6(%x) (-want +got):\n%s", in, diff)
			}
			verify(t, got)
			if st.Verdicts[Forward] != 1 {
				t.Errorf("Stats.Verdicts[forward] = %d, want 1", st.Verdicts[Forward])
			}
		})
	}
}

func TestTo4Reference(t *testing.T) {
	tr := newTranslator(t, nil)
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolIPv6Routing
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	tests := []struct {
		name   string
		packet func(t testing.TB) []byte
	}{
		{"udp", func(t testing.TB) []byte { i := ipv6(17); return serializeLayers(t, i, udpOver(i), payload(36)) }},
		{"tcp", func(t testing.TB) []byte { i := ipv6(6); return serializeLayers(t, i, tcpOver(i), payload(100)) }},
		{"tcp-df-1261", func(t testing.TB) []byte { i := ipv6(6); return serializeLayers(t, i, tcpOver(i), payload(1221)) }},
		{"tcp-no-df-1260", func(t testing.TB) []byte { i := ipv6(6); return serializeLayers(t, i, tcpOver(i), payload(1220)) }},
		{"echo-request", func(t testing.TB) []byte {
			i := ipv6(58)
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			ic.SetNetworkLayerForChecksum(i)
			return serializeLayers(t, i, ic, &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, payload(56))
		}},
		{"echo-reply", func(t testing.TB) []byte {
			i := ipv6(58)
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}
			ic.SetNetworkLayerForChecksum(i)
			return serializeLayers(t, i, ic, &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1}, payload(7))
		}},
		{"ext-headers-dropped", func(t testing.TB) []byte {
			i := ipv6(layers.IPProtocolIPv6HopByHop)
			// Routing type 0 with segments left 0: ignored.
			rh := []byte{17, 0, 0, 0, 0, 0, 0, 0}
			b := serializeLayers(t, i, hbh, dst, gopacket.Payload(rh))
			u := serializeLayers(t, i, udpOver(i), payload(20))[40:]
			b = append(b, u...)
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
			return b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.packet(t)
			p := newPacket(in, 0)
			var st Stats
			if v := tr.To4(p, &st); v != Forward {
				t.Fatalf("To4(%x) = %v (%v), want forward", in, v, p.Reason)
			}
			got := p.bytes()
			want, err := refTo4(t, space7, in, binary.BigEndian.Uint16(got[4:]))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("To4(%x) (-want +got):\n%s", in, diff)
			}
			verify(t, got)
			if p.Space != 7 {
				t.Errorf("To4 space = %d, want 7", p.Space)
			}
		})
	}
}

// TestDifferential runs random TCP/UDP/echo packets through both twins.
func TestDifferential(t *testing.T) {
	tr := newTranslator(t, nil)
	r := rand.New(rand.NewPCG(3, 4))
	n := 400
	if testing.Short() {
		n = 100
	}
	for i := range n {
		a4, b4 := make(net.IP, 4), make(net.IP, 4)
		binary.BigEndian.PutUint32(a4, r.Uint32())
		binary.BigEndian.PutUint32(b4, r.Uint32())
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: uint8(r.IntN(256)), TOS: uint8(r.IntN(256)), Id: uint16(r.Uint32()),
			Flags: layers.IPv4DontFragment, SrcIP: a4, DstIP: b4}
		body := payload(r.IntN(1400))
		var in []byte
		switch i % 3 {
		case 0:
			ip.Protocol = 17
			u := udpOver(ip)
			u.SrcPort, u.DstPort = layers.UDPPort(r.Uint32()), layers.UDPPort(r.Uint32())
			in = serializeLayers(t, ip, u, body)
		case 1:
			ip.Protocol = 6
			c := tcpOver(ip)
			c.Seq, c.Ack = r.Uint32(), r.Uint32()
			in = serializeLayers(t, ip, c, body)
		case 2:
			ip.Protocol = 1
			in = serializeLayers(t, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(8*(r.IntN(2))), 0),
				Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())}, body)
		}
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Forward {
			t.Fatalf("To6(%x) = %v (%v)", in, v, p.Reason)
		}
		got6 := p.bytes()
		want6, err := refTo6(t, space7, in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got6, want6) {
			t.Fatalf("To6(%x) (-want +got):\n%s", in, cmp.Diff(want6, got6))
		}
		q := newPacket(got6, 0)
		if v := tr.To4(q, nil); v != Forward {
			t.Fatalf("To4(%x) = %v (%v)", got6, v, q.Reason)
		}
		got4 := q.bytes()
		want4, err := refTo4(t, space7, got6, binary.BigEndian.Uint16(got4[4:]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got4, want4) {
			t.Fatalf("To4(%x) (-want +got):\n%s", got6, cmp.Diff(want4, got4))
		}
		// Round trip: everything but Identification and DF survives.
		back, orig := append([]byte(nil), got4...), append([]byte(nil), in...)
		for _, b := range [][]byte{back, orig} {
			b[4], b[5], b[6], b[10], b[11] = 0, 0, 0, 0, 0
		}
		if !bytes.Equal(orig, back) {
			t.Fatalf("4->6->4 of %x (-want +got):\n%s", in, cmp.Diff(orig, back))
		}
	}
}
