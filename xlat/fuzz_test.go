package xlat

// Fuzz targets, one per direction, and the zero-allocation proofs and
// benchmarks of the hot path.

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket/layers"
)

// transportOK reports whether an unfragmented packet's TCP/UDP/ICMP
// checksum verifies (true when there is none to verify).
func transportOK(b []byte) bool {
	var s pkt.Summary
	if pkt.ParseIP(b, &s) != pkt.OK || s.Flags&pkt.FlagFragment != 0 {
		return true
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
	case pkt.ProtoUDP:
		if s.Flags&pkt.FlagUDPZeroChecksum != 0 {
			return true
		}
	case pkt.ProtoTCP, pkt.ProtoICMP, pkt.ProtoICMPv6:
	default:
		return true
	}
	return pkt.VerifyTransport(pseudo, seg)
}

// checkOutput is the fuzz invariant: whatever comes out parses as the
// family it should, and checksums that held on the way in hold on the way
// out.
func checkOutput(t *testing.T, tr *Translator, p *Packet, v Verdict, in []byte, outFamily pkt.Family) {
	var s pkt.Summary
	switch v {
	case Forward:
		out := p.Buf[p.Off : p.Off+p.Len]
		if pkt.ParseIP(out, &s) != pkt.OK || s.Family != outFamily {
			t.Fatalf("translation of %x does not parse as %v: %x (%v)", in, outFamily, out, s.Reason)
		}
		if s.Flags&pkt.FlagICMPError == 0 && transportOK(in) && !transportOK(out) {
			t.Fatalf("translation of %x: transport checksum broken in %x", in, out)
		}
		if s.Flags&pkt.FlagICMPError != 0 && !transportOK(out) {
			t.Fatalf("translated ICMP error %x has a bad checksum", out)
		}
	case Fragments:
		for _, f := range p.Frags[:p.NFrags] {
			if pkt.ParseIP(f, &s) != pkt.OK || s.Family != outFamily {
				t.Fatalf("fragment of %x does not parse: %x (%v)", in, f, s.Reason)
			}
		}
	case Reply:
		out := p.Buf[p.Off : p.Off+p.Len]
		if pkt.ParseIP(out, &s) != pkt.OK || s.Flags&pkt.FlagICMPError == 0 || !transportOK(out) {
			t.Fatalf("reply to %x is not a valid ICMP error: %x", in, out)
		}
	case Drop:
		if p.Reason == ReasonNone {
			t.Fatalf("drop of %x without a reason", in)
		}
	}
}

func fuzzSeeds(f *testing.F, six bool) {
	if six {
		i := ipv6(17)
		f.Add(serializeLayers(f, i, udpOver(i), payload(16)))
		i = ipv6(6)
		f.Add(serializeLayers(f, i, tcpOver(i), payload(16)))
		f.Add(icmpv6Error(f, v6Alien, 2, 0, 1400))
		f.Add(insertFragHeader(serializeLayers(f, i, tcpOver(i), payload(16)), true))
		// Hairpinned: to the space-7 form of an EAM'd IPv4 address.
		i = ipv6(17)
		i.DstIP = net.ParseIP("64:ff9b:1:7::c633:6409") // 198.51.100.9
		f.Add(serializeLayers(f, i, udpOver(i), payload(16)))
		// An error with an RFC 4884 extension.
		f.Add(errorWith(f, true, 1, 4, 0, serializeLayers(f, i, udpOver(i), payload(80)), 128, 16, extension(20)))
		return
	}
	f.Add(errorWith(f, false, 3, 3, 0, serializeLayers(f, i4seed(), udpOver(i4seed()), payload(80)), 108, 27, extension(20)))
	i := ipv4(17)
	f.Add(serializeLayers(f, i, udpOver(i), payload(36)))
	i = ipv4(6)
	f.Add(serializeLayers(f, i, tcpOver(i), payload(16)))
	f.Add(icmpv4Error(f, 3, 4, 1400))
	f.Add(serializeLayers(f, ipv4(1), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1}, payload(8)))
}

func i4seed() *layers.IPv4 { return ipv4(17) }

func fuzzTranslator(tb testing.TB) *Translator {
	return newTranslator(tb, func(c *Config) {
		withSelf(c)
		c.IPv4MTU, c.IPv6MTU = 576, 1280
		c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/120", Space: 7}}
	})
}

func FuzzTo6(f *testing.F) {
	fuzzSeeds(f, false)
	tr := fuzzTranslator(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		p := newPacket(in, 7).withFrags(64)
		checkOutput(t, tr, p, tr.To6(p, nil), in, pkt.FamilyIPv6)
	})
}

func FuzzTo4(f *testing.F) {
	fuzzSeeds(f, true)
	tr := fuzzTranslator(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		p := newPacket(in, 0).withFrags(128)
		v := tr.To4(p, nil)
		checkOutput(t, tr, p, v, in, pkt.FamilyIPv4)
		if v == Forward && p.Hairpin {
			out := p.bytes()
			checkOutput(t, tr, p, tr.Hairpin(p, nil), out, pkt.FamilyIPv6)
		}
	})
}

// reset puts in back at headroom for the next run.
func (p *Packet) reset(in []byte) {
	copy(p.Buf[headroom:], in)
	p.Off, p.Len = headroom, len(in)
}

func TestZeroAlloc(t *testing.T) {
	tr := newTranslator(t, func(c *Config) {
		c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/120", Space: 7}}
	})
	i4, i6 := ipv4(17), ipv6(17)
	big4 := ipv4(17)
	big4.Flags = 0
	tests := []struct {
		name string
		in   []byte
		to6  bool
		want Verdict
	}{
		{"to6-udp", serializeLayers(t, i4, udpOver(i4), payload(36)), true, Forward},
		{"to4-udp", serializeLayers(t, i6, udpOver(i6), payload(16)), false, Forward},
		{"to6-icmp-error", icmpv4Error(t, 3, 4, 1400), true, Forward},
		{"to4-icmp-error", icmpv6Error(t, v6Alien, 2, 0, 1400), false, Forward},
		{"to6-fragments", serializeLayers(t, big4, udpOver(big4), payload(3000)), true, Fragments},
		{"to6-drop", serializeLayers(t, ipv4(2), payload(8)), true, Drop},
		{"to6-too-big", serializeLayers(t, i4, udpOver(i4), payload(1472)), true, TooBig},
		{"to4-too-big", serializeLayers(t, i6, udpOver(i6), payload(1452)), false, TooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPacket(tc.in, 7).withFrags(4)
			p.MTU, p.RouterAnswers = 1400, true
			var st Stats
			allocs := testing.AllocsPerRun(100, func() {
				p.reset(tc.in)
				var v Verdict
				if tc.to6 {
					v = tr.To6(p, &st)
				} else {
					v = tr.To4(p, &st)
				}
				if v != tc.want {
					t.Fatalf("verdict %v (%v), want %v", v, p.Reason, tc.want)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocations per packet, want 0", tc.name, allocs)
			}
		})
	}
	a4 := [4]byte{198, 51, 100, 9}
	if n := testing.AllocsPerRun(100, func() { tr.Dst6(7, a4) }); n != 0 {
		t.Errorf("Dst6: %v allocations, want 0", n)
	}
}

// TestDst6 checks the address-only mapping against the destination To6
// writes, for an EAM address, an RFC 6052 address, and refusals.
func TestDst6(t *testing.T) {
	tr := newTranslator(t, func(c *Config) {
		c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/120", Space: 7}}
	})
	for _, dst := range []string{"198.51.100.9", "192.0.2.33", "100.64.0.20"} {
		i := ipv4(17)
		i.DstIP = net.ParseIP(dst).To4()
		in := serializeLayers(t, i, udpOver(i), payload(8))
		p := newPacket(in, 7)
		if v := tr.To6(p, nil); v != Forward {
			t.Fatalf("To6(dst %s) = %v (%v)", dst, v, p.Reason)
		}
		got, ok := tr.Dst6(7, [4]byte(i.DstIP))
		if want := [16]byte(p.bytes()[24:40]); !ok || got != want {
			t.Errorf("Dst6(7, %s) = %x, %v, want %x (To6's destination)", dst, got, ok, want)
		}
	}
	if _, ok := tr.Dst6(9, [4]byte{192, 0, 2, 1}); ok {
		t.Errorf("Dst6 in an unconfigured space = ok, want false")
	}
}

// BenchmarkTo6UDP64 and BenchmarkTo4UDP64 translate a 64-byte UDP packet
// (IPv4: 20+8+36; IPv6: 40+8+16). Each iteration first copies the packet
// back into place (64 bytes), which the figure includes.
func BenchmarkTo6UDP64(b *testing.B) {
	tr := newTranslator(b, nil)
	i := ipv4(17)
	in := serializeLayers(b, i, udpOver(i), payload(36))
	p := newPacket(in, 7)
	var st Stats
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p.reset(in)
		tr.To6(p, &st)
	}
	if st.Verdicts[Forward] == 0 || st.Verdicts[Drop] != 0 {
		b.Fatalf("stats %+v", st.Verdicts)
	}
}

func BenchmarkTo4UDP64(b *testing.B) {
	tr := newTranslator(b, nil)
	i := ipv6(17)
	in := serializeLayers(b, i, udpOver(i), payload(16))
	p := newPacket(in, 7)
	var st Stats
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p.reset(in)
		tr.To4(p, &st)
	}
	if st.Verdicts[Forward] == 0 || st.Verdicts[Drop] != 0 {
		b.Fatalf("stats %+v", st.Verdicts)
	}
}

func BenchmarkTo6ICMPError(b *testing.B) {
	tr := newTranslator(b, nil)
	in := icmpv4Error(b, 3, 4, 1400)
	p := newPacket(in, 7)
	b.ReportAllocs()
	for b.Loop() {
		p.reset(in)
		tr.To6(p, nil)
	}
}

func TestFixedSums(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
			if r.IntN(4) == 0 {
				b[i] = 0xff
			}
		}
		if got, want := sum8(b), pkt.Checksum(b[:8], 0); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("sum8(%x) = %#x, want %#x", b[:8], got, want)
		}
		if got, want := sum20(b), pkt.Checksum(b[:20], 0); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("sum20(%x) = %#x, want %#x", b[:20], got, want)
		}
		if got, want := sum32(b), pkt.Checksum(b, 0); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("sum32(%x) = %#x, want %#x", b, got, want)
		}
	}
}
