package nat

// RFC 5508 (and RFC 4787 REQ-12, RFC 5382 REQ-9/10): ICMP queries through
// the NAT, and ICMP errors about tracked flows rewritten so that the quote
// is what the receiver sent. Each expected error is built by gopacket
// around the original packet's bytes, so a byte-equal result proves the
// outer, ICMP, quoted IP and quoted transport checksums.

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket/layers"
)

// RFC 5508 REQ-1: echo through the NAT, identifier mapped independently of
// the external host (REQ-1 a).
func TestICMPQuery(t *testing.T) {
	for _, src := range []string{"198.18.1.1", "2001:db8:1::1"} {
		t.Run(src, func(t *testing.T) {
			remotes := []string{"198.51.100.1", "198.51.100.2"}
			if src[0] == '2' {
				remotes = []string{"2001:db8:2::1", "2001:db8:2::2"}
			}
			h := newHarness(t, Config{}, testPolicy())
			x, id := h.sendOut(out("ping", src, 77, remotes[0], 0))
			x2, id2 := h.sendOut(out("ping", src, 77, remotes[1], 0))
			if x != x2 || id != id2 {
				t.Errorf("identifier mapped to %s/%d and %s/%d, want one", x, id, x2, id2)
			}
			pong := flow{proto: "pong", src: remotes[0], dst: x, sp: id}
			want := pong
			want.dst, want.sp = src, 77
			r := h.expectFwd(pong.frame(t), want.frame(t), StateEstablished)
			if r.Dir != Reply {
				t.Errorf("echo reply dir %v", r.Dir)
			}
		})
	}
}

// ipOf returns the IP packet in an Ethernet frame, without link padding.
func ipOf(frame []byte) []byte {
	var s pkt.Summary
	pkt.Parse(frame, &s)
	return append([]byte(nil), frame[s.L3Off:s.End()]...)
}

func unreach(fam string) (uint8, uint8) {
	if fam == "4" {
		return layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort
	}
	return layers.ICMPv6TypeDestinationUnreachable, layers.ICMPv6CodePortUnreachable
}

// RFC 5508 REQ-3 to REQ-5 and REQ-7, RFC 5382 REQ-9.
func TestICMPErrors(t *testing.T) {
	type addrs struct{ fam, a, b, r, router, inRouter string }
	fams := []addrs{
		{"4", "198.18.9.1", "198.18.9.2", "198.51.100.1", "198.51.100.254", "198.18.0.1"},
		{"6", "2001:db8:1::a", "2001:db8:1::b", "2001:db8:2::1", "2001:db8:2::fe", "2001:db8:1::1"},
	}
	for _, fa := range fams {
		for _, proto := range protos {
			name := proto + "/ipv" + fa.fam
			typ, code := unreach(fa.fam)

			// An external router reports on our outbound packet (REQ-4):
			// the quote goes back to what A sent, the error to A, the
			// router stays visible.
			t.Run(name+"/external router, outbound flow", func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				f := out(proto, fa.a, 6000, fa.r, 53)
				fr := f.frame(t)
				h.send(fr, 0)
				var s pkt.Summary
				pkt.Parse(fr, &s)
				errIn := icmpError(t, fa.router, s.SrcAddr().String(), typ, code, ipOf(fr))
				want := icmpError(t, fa.router, fa.a, typ, code, f.ip(t))
				r := h.expectFwd(errIn, want, StateRelated)
				if r.Dir != Reply {
					t.Errorf("dir %v, want Reply", r.Dir)
				}
			})

			// The internal host reports on the reply it got (REQ-5): the
			// quote becomes what the remote sent, the error comes from
			// the external address.
			t.Run(name+"/internal host, reply packet", func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				f := out(proto, fa.a, 6000, fa.r, 53)
				x, xp := h.sendOut(f)
				rep := f.reply("SA")
				rep.dst, rep.dp = x, xp
				if proto == "ping" {
					rep.sp, rep.dp = xp, 0
				}
				orig := rep.ip(t)
				fr := rep.frame(t)
				h.send(fr, 0)
				errIn := icmpError(t, fa.a, fa.r, typ, code, ipOf(fr))
				want := icmpError(t, x, fa.r, typ, code, orig)
				h.expectFwd(errIn, want, StateRelated)
			})

			// An internal router reports on an inbound packet (REQ-5 c):
			// it is hidden behind the external address too.
			t.Run(name+"/internal router, reply packet", func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				f := out(proto, fa.a, 6000, fa.r, 53)
				x, xp := h.sendOut(f)
				rep := f.reply("SA")
				rep.dst, rep.dp = x, xp
				if proto == "ping" {
					rep.sp, rep.dp = xp, 0
				}
				orig := rep.ip(t)
				fr := rep.frame(t)
				h.send(fr, 0)
				errIn := icmpError(t, fa.inRouter, fa.r, typ, code, ipOf(fr))
				want := icmpError(t, x, fa.r, typ, code, orig)
				h.expectFwd(errIn, want, StateRelated)
			})

			// REQ-7: a hairpinned error goes to the original sender, from
			// the peer's external address, quoting what the sender sent.
			if proto != "ping" {
				t.Run(name+"/hairpin", func(t *testing.T) {
					h := newHarness(t, Config{}, testPolicy())
					xb, xbp := h.sendOut(out(proto, fa.b, 7000, fa.r, 80))
					ab := out(proto, fa.a, 6000, xb, xbp)
					orig := ab.ip(t)
					fr := ab.frame(t)
					h.send(fr, 0)
					var s pkt.Summary
					pkt.Parse(fr, &s)
					errIn := icmpError(t, fa.b, s.SrcAddr().String(), typ, code, ipOf(fr))
					want := icmpError(t, xb, fa.a, typ, code, orig)
					h.expectFwd(errIn, want, StateRelated)
				})
			}

			// REQ-4: nothing tracked, silent drop.
			t.Run(name+"/untracked", func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				f := out(proto, fa.a, 6000, fa.r, 53)
				h.expectDrop(icmpError(t, fa.router, fa.a, typ, code, f.ip(t)), ReasonErrorUntracked)
			})
		}
	}
}

// Floating IPs: an error from the workload about an inbound packet leaves
// from the public address.
func TestICMPErrorFloatingIP(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	in := flow{proto: "udp", src: "198.51.100.1", dst: floatPub4, sp: 5000, dp: 53}
	orig := in.ip(t)
	fr := in.frame(t)
	h.send(fr, 0)
	errIn := icmpError(t, floatWl4, "198.51.100.1", 3, 3, ipOf(fr))
	want := icmpError(t, floatPub4, "198.51.100.1", 3, 3, orig)
	h.expectFwd(errIn, want, StateRelated)
}

// RFC 5508 REQ-3: checksum handling of errors.
func TestICMPErrorChecksums(t *testing.T) {
	setup := func(t *testing.T) (*harness, flow, []byte, string) {
		h := newHarness(t, Config{}, testPolicy())
		f := out("tcp", "198.18.1.1", 6000, "198.51.100.1", 80)
		fr := f.frame(t)
		h.send(fr, 0)
		var s pkt.Summary
		pkt.Parse(fr, &s)
		return h, f, ipOf(fr), s.SrcAddr().String()
	}
	t.Run("bad icmp checksum dropped", func(t *testing.T) {
		h, _, q, x := setup(t)
		e := icmpError(t, "198.51.100.254", x, 3, 3, q)
		e[14+20+2] ^= 0x5a
		h.expectDrop(e, ReasonErrorChecksum)
	})
	t.Run("bad quoted ip checksum dropped", func(t *testing.T) {
		h, _, q, x := setup(t)
		q[10] ^= 0x5a
		h.expectDrop(icmpError(t, "198.51.100.254", x, 3, 3, q), ReasonErrorQuoteInvalid)
	})
	t.Run("bad quoted tcp checksum not verified", func(t *testing.T) {
		// A payload byte changed in flight: the quoted TCP checksum no
		// longer verifies, and the error is translated all the same.
		h, f, q, x := setup(t)
		q[20+20] ^= 0x5a
		orig := f.ip(t)
		orig[20+20] ^= 0x5a
		h.expectFwd(icmpError(t, "198.51.100.254", x, 3, 3, q), icmpError(t, "198.51.100.254", "198.18.1.1", 3, 3, orig), StateRelated)
	})
	t.Run("quote cut after the ports", func(t *testing.T) {
		h, f, q, x := setup(t)
		orig := f.ip(t)
		h.expectFwd(icmpError(t, "198.51.100.254", x, 3, 3, q[:28]), icmpError(t, "198.51.100.254", "198.18.1.1", 3, 3, orig[:28]), StateRelated)
	})
	t.Run("quote with ICMP extensions", func(t *testing.T) {
		// RFC 4884: the quote padded to 128 bytes, then an extension
		// structure. Only the quoted packet's own bytes may change.
		h, f, q, x := setup(t)
		ext := func(quote []byte) []byte {
			b := make([]byte, 128, 136)
			copy(b, quote)
			return append(b, 0x20, 0, 0, 0, 0, 8, 1, 1) // version 2, object header
		}
		h.expectFwd(icmpError(t, "198.51.100.254", x, 3, 3, ext(q)),
			icmpError(t, "198.51.100.254", "198.18.1.1", 3, 3, ext(f.ip(t))), StateRelated)
	})
	t.Run("quoted header with options", func(t *testing.T) {
		h := newHarness(t, Config{}, testPolicy())
		f := out("udp", "198.18.1.1", 6000, "198.51.100.1", 80)
		withOpts := func(ip []byte) []byte {
			// Insert a 4-byte NOP,NOP,NOP,EOL option and fix lengths.
			b := append(append(append([]byte(nil), ip[:20]...), 1, 1, 1, 0), ip[20:]...)
			b[0] = 0x46
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
			binary.BigEndian.PutUint16(b[10:], 0)
			binary.BigEndian.PutUint16(b[10:], pkt.IPv4(b).ComputeChecksum())
			return b
		}
		orig := withOpts(f.ip(t))
		fr := append(append([]byte(nil), f.frame(t)[:14]...), orig...)
		h.send(fr, 0)
		var s pkt.Summary
		pkt.Parse(fr, &s)
		h.expectFwd(icmpError(t, "198.51.100.254", s.SrcAddr().String(), 3, 3, ipOf(fr)),
			icmpError(t, "198.51.100.254", "198.18.1.1", 3, 3, orig), StateRelated)
	})
}

// RFC 4787 REQ-12, RFC 5382 REQ-10, RFC 5508 REQ-6, RFC 7857 section 7.1:
// errors neither end nor refresh the session they are about.
func TestICMPErrorKeepsSession(t *testing.T) {
	tests := []struct {
		proto     string
		timer     time.Duration
		typ, code uint8
	}{
		{"udp", DefaultUDP, 3, 3},
		{"tcp", DefaultTCPTransitory, 3, 1},
		{"ping", DefaultICMPQuery, 11, 0},
		{"tcp", DefaultTCPTransitory, 12, 0},
	}
	for _, tc := range tests {
		t.Run(tc.proto, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			f := out(tc.proto, "198.18.1.1", 6000, "198.51.100.1", 80)
			fr := f.frame(t)
			h.send(fr, 0)
			var s pkt.Summary
			pkt.Parse(fr, &s)
			x := s.SrcAddr().String()
			q := ipOf(fr)
			h.advance(tc.timer - 10*time.Second)
			for i := range 3 {
				r := h.send(icmpError(t, "198.51.100.254", x, tc.typ, tc.code, q), 0)
				if r.State != StateRelated {
					t.Fatalf("error %d: %+v, want Related", i, r)
				}
			}
			if h.state(f) == 0 {
				t.Fatalf("session gone after ICMP errors")
			}
			h.advance(12 * time.Second)
			if h.state(f) != 0 {
				t.Errorf("session alive %v after its last packet: the errors refreshed it", tc.timer+2*time.Second)
			}
		})
	}
}

// RFC 5508 REQ-11: ICMP messages that are neither queries nor errors are
// not tracked.
func TestICMPNonQueryError(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	ipl, _, et := ipLayer("198.18.1.1", "198.51.100.1", layers.IPProtocolICMPv4)
	fr := serialize(t, ethernet(et), ipl, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeRouterAdvertisement, 0)})
	h.expectDrop(fr, ReasonICMPUntracked)
}

// RFC 5508 REQ-7, RFC 7857 section 12: a hairpinned echo through a
// floating IP, from a host behind the shared address.
func TestHairpinICMPQuery(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	ping := out("ping", "198.18.1.1", 77, floatPub4, 0)
	fr := ping.frame(t)
	r := h.send(fr, 0)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	if r.Action != Forward || s.DstAddr().String() != floatWl4 || !ext4.Contains(s.SrcAddr()) {
		t.Fatalf("hairpinned echo %+v went %v -> %v", r, s.SrcAddr(), s.DstAddr())
	}
	pong := flow{proto: "pong", src: floatWl4, dst: s.SrcAddr().String(), sp: s.ICMPID}
	want := flow{proto: "pong", src: floatPub4, dst: "198.18.1.1", sp: 77}
	h.expectFwd(pong.frame(t), want.frame(t), StateEstablished)
}
