package pkt

import (
	"bytes"
	"flag"
	"testing"

	"github.com/gannet-net/gannet/internal/fuzzcorpus"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

// seedFrames are well-formed frames of every shape Parse knows, built with
// gopacket; the fuzzers mutate them.
func seedFrames(t testing.TB) map[string][]byte {
	v4frag := ip4(layers.IPProtocolUDP)
	v4frag.Flags, v4frag.FragOffset = layers.IPv4MoreFragments, 4
	v4opts := ip4(layers.IPProtocolUDP)
	v4opts.Options = []layers.IPv4Option{{OptionType: IPv4OptRA, OptionLength: 4, OptionData: []byte{0, 0}}}
	v6frag := ip6(layers.IPProtocolIPv6Fragment)
	v6echo := ip6(layers.IPProtocolICMPv6)
	echo6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	echo6.SetNetworkLayerForChecksum(v6echo)
	icmp4err := make([]byte, 600)
	n, _ := BuildICMPv4Error(icmp4err, frameIPv4TCP(t)[EthernetLen:], routerIP4, ICMPv4DestUnreach, 1, 0)
	icmp6err := make([]byte, 1300)
	m, _ := BuildICMPv6Error(icmp6err, frameIPv6UDP(t)[EthernetLen:], routerIP6, ICMPv6TimeExceeded, 0, 0)
	withEth := func(et layers.EthernetType, ip []byte) []byte {
		return serialize(t, eth(et), gopacket.Payload(ip))
	}
	return map[string][]byte{
		"ipv4-tcp":       frameIPv4TCP(t),
		"ipv6-udp":       frameIPv6UDP(t),
		"ipv4-options":   serialize(t, eth(layers.EthernetTypeIPv4), v4opts, udp(v4opts)),
		"ipv4-fragment":  serialize(t, eth(layers.EthernetTypeIPv4), v4frag, gopacket.Payload(make([]byte, 16))),
		"ipv6-fragment":  serialize(t, eth(layers.EthernetTypeIPv6), v6frag, &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, MoreFragments: true, Identification: 7}, gopacket.Payload(make([]byte, 16))),
		"ipv6-echo":      serialize(t, eth(layers.EthernetTypeIPv6), v6echo, echo6, &layers.ICMPv6Echo{Identifier: 1}),
		"icmpv4-error":   withEth(layers.EthernetTypeIPv4, icmp4err[:n]),
		"icmpv6-error":   withEth(layers.EthernetTypeIPv6, icmp6err[:m]),
		"arp-request":    arpRequest(t, false),
		"arp-vlan":       arpRequest(t, true),
		"ndp-solicit":    solicitation(t, gatewayIP6, 255, true),
		"ndp-dad":        solicitation(t, []byte(make([]byte, 16)), 255, false),
		"truncated-ipv4": frameIPv4TCP(t)[:30],
	}
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, f := range seedFrames(t) {
		must(t, fuzzcorpus.Write("FuzzParse", name, f))
		if len(f) > EthernetLen {
			must(t, fuzzcorpus.Write("FuzzBuildICMPv4Error", name, f[EthernetLen:], uint8(ICMPv4TimeExceeded), uint8(0), uint32(0)))
			must(t, fuzzcorpus.Write("FuzzBuildICMPv6Error", name, f[EthernetLen:], uint8(ICMPv6PacketTooBig), uint8(0), uint32(1280)))
		}
		must(t, fuzzcorpus.Write("FuzzBuildARPReply", name, f))
		must(t, fuzzcorpus.Write("FuzzBuildNeighborAdvert", name, f))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzParse: no input panics Parse, ParseIP or ParseQuoted; every offset
// stays inside the frame; what Parse reports agrees with the header views.
func FuzzParse(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var s, again, in Summary
		for _, parse := range []func([]byte, *Summary) Verdict{Parse, ParseIP} {
			v := parse(frame, &s)
			if v != s.Verdict || (v == OK) != (s.Reason == ReasonNone) {
				t.Fatalf("verdict %v with reason %v", v, s.Reason)
			}
			parse(frame, &again)
			if again != s {
				t.Fatalf("parse is not deterministic: %+v then %+v", s, again)
			}
			checkOffsets(t, frame, &s)
			if v != OK {
				continue
			}
			switch s.Family {
			case FamilyIPv4:
				h := IPv4(frame[s.L3Off:])
				if h.Src() != [4]byte(s.Src[:4]) || h.TTL() != s.TTL || h.Protocol() != s.Proto ||
					Checksum(h[:h.HeaderLen()], 0) != 0xffff {
					t.Fatalf("summary %+v disagrees with the IPv4 header %x", s, h[:h.HeaderLen()])
				}
			case FamilyIPv6:
				h := IPv6(frame[s.L3Off:])
				if h.Src() != s.Src || h.HopLimit() != s.TTL {
					t.Fatalf("summary %+v disagrees with the IPv6 header", s)
				}
			}
			if s.Flags&FlagPorts != 0 && (int(s.L4Off)+4 > s.End() ||
				TCP(frame[s.L4Off:]).SrcPort() != s.SrcPort) {
				t.Fatalf("ports %d/%d not at L4Off %d", s.SrcPort, s.DstPort, s.L4Off)
			}
			if s.Flags&FlagICMPError != 0 {
				if ParseQuoted(frame, &s, &in) == OK {
					if int(in.L3Off) < int(s.PayloadOff) || int(in.PayloadOff) > s.End() {
						t.Fatalf("quoted packet %+v outside its error %+v", in, s)
					}
				}
			}
		}
	})
}

// checkICMPError verifies a built error: it parses as an ICMP error from
// src, its checksums hold, and it quotes a prefix of orig.
func checkICMPError(t *testing.T, out, orig []byte, hdr, max int) {
	var s Summary
	if ParseIP(out, &s) != OK {
		t.Fatalf("built error does not parse: %v", s.Reason)
	}
	if len(out) > max || s.End() != len(out) {
		t.Fatalf("built error is %d bytes (End %d), cap %d", len(out), s.End(), max)
	}
	if !bytes.Equal(out[hdr:], orig[:len(out)-hdr]) {
		t.Fatalf("quote is not a prefix of the original")
	}
}

func FuzzBuildICMPv4Error(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr[EthernetLen:], uint8(ICMPv4DestUnreach), uint8(ICMPv4FragNeeded), RestMTU4(1400))
	}
	f.Fuzz(func(t *testing.T, orig []byte, typ, code uint8, rest uint32) {
		out := make([]byte, 1024)
		n, err := BuildICMPv4Error(out, orig, routerIP4, typ, code, rest)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with length %d", err, n)
			}
			return
		}
		checkICMPError(t, out[:n], orig, ICMPv4ErrorHeaderLen, ICMPv4ErrorMaxLen)
		if Checksum(out[IPv4MinLen:n], 0) != 0xffff || ICMP(out[IPv4MinLen:]).Rest() != rest {
			t.Fatalf("ICMP header wrong: %x", out[IPv4MinLen:ICMPv4ErrorHeaderLen])
		}
	})
}

func FuzzBuildICMPv6Error(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr[EthernetLen:], uint8(ICMPv6DestUnreach), uint8(ICMPv6NoRoute), uint32(0))
	}
	f.Fuzz(func(t *testing.T, orig []byte, typ, code uint8, rest uint32) {
		out := make([]byte, 2048)
		n, err := BuildICMPv6Error(out, orig, routerIP6, typ, code, rest)
		if err != nil {
			return
		}
		checkICMPError(t, out[:n], orig, ICMPv6ErrorHeaderLen, ICMPv6ErrorMaxLen)
		to := IPv6(out).Dst()
		if !VerifyTransport(PseudoHeaderSum6(routerIP6[:], to[:], ProtoICMPv6, uint32(n-IPv6Len)), out[IPv6Len:n]) {
			t.Fatalf("ICMPv6 checksum does not verify")
		}
	})
}

func FuzzBuildARPReply(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		out := make([]byte, 128)
		n, err := BuildARPReply(out, frame, gatewayMAC)
		if err != nil {
			return
		}
		var req, rep Summary
		Parse(frame, &req)
		if Parse(out[:n], &rep) != OK || rep.ARPOp != ARPReply || rep.Src != req.Dst || rep.Dst != req.Src ||
			ARP(out[rep.L3Off:]).SenderMAC() != gatewayMAC {
			t.Fatalf("reply %+v does not answer request %+v", rep, req)
		}
	})
}

func FuzzBuildNeighborAdvert(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		out := make([]byte, 256)
		n, err := BuildNeighborAdvert(out, frame, gatewayMAC, false)
		if err != nil {
			return
		}
		var ns, na Summary
		Parse(frame, &ns)
		target := NDP(frame[ns.L4Off:]).Target()
		if Parse(out[:n], &na) != OK || na.ICMPType != ICMPv6NeighborAdv || na.Src != target || na.TTL != 255 {
			t.Fatalf("advert %+v does not answer solicitation for %x", na, target)
		}
		if mac, ok := NDP(out[na.L4Off:na.End()]).LinkLayerAddr(NDPOptTargetLLAddr); !ok || mac != gatewayMAC {
			t.Fatalf("advert carries link-layer address %v, %v", mac, ok)
		}
		if !VerifyTransport(PseudoHeaderSum6(na.Src[:], na.Dst[:], ProtoICMPv6, uint32(na.End()-int(na.L4Off))), out[na.L4Off:na.End()]) {
			t.Fatalf("advert checksum does not verify")
		}
	})
}
