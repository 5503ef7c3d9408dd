package fwd

// EAM hairpinning in the data plane (RFC 7757 section 4.2.2): an IPv6
// packet from the core to the RFC 6052 form of an IPv4 address that an
// EAM gives to an IPv6 host goes back to IPv6 and on through the core;
// it never leaves as IPv4.

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// eamBorder is a border with the exit of translated space 7
// (64:ff9b:1:7::/96 delivered into the space) and the EAM
// 198.51.100.0/24 <-> 2001:db8:3::/120 in that space, as RFC 7757
// appendix B has it, on an IPv6 core uplink (port 0) and an IPv4 uplink
// to the Internet (port 1). With conntrack when tracked, and then NAT:
// space 7's 198.51.100.0/24 reaches the Internet through source NAT to
// 192.0.2.64/28.
func eamBorder(t *testing.T, tracked bool) *host {
	t.Helper()
	tr, err := xlat.New(xlat.Config{
		AddressSpaces: map[int]string{7: ""},
		EAM:           []xlat.EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:3::/120", Space: 7}},
	})
	if err != nil {
		t.Fatalf("xlat.New: %v", err)
	}
	c := Config{
		Ports: []PortConfig{
			{Name: "core", Ifindex: 13, Role: RoleUplink, MAC: mac6(macUp), MTU: 1500},
			{Name: "inet", Ifindex: 14, Role: RoleUplink, MAC: mac6(macUp), MTU: 1500},
		},
		Spaces: []SpaceConfig{{ID: 7, Translated: true}},
		Routes: []RouteConfig{
			{Prefix: netip.MustParsePrefix("64:ff9b:1:7::/96"), Translate: true, TranslateSpace: 7},
			{Prefix: netip.MustParsePrefix("::/0"), Port: 0, Gateway: netip.MustParseAddr("fe80::20")},
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 1, Gateway: netip.MustParseAddr("203.0.113.1")},
		},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		Xlat:        tr,
	}
	if tracked {
		if c.NAT, err = nat.New(nat.Config{Capacity: 64, Clock: &nat.ManualClock{}, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		if c.NATPolicy, err = c.NAT.Prepare(&nat.Policy{
			Pools:    []nat.Pool{{Space: 7, Prefix: netip.MustParsePrefix("198.51.100.0/24"), NATOutgoing: true}},
			External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("192.0.2.64/28")}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	return newHost(t, c, []neigh.Entry{
		{Ifindex: 13, Addr: netip.MustParseAddr("fe80::20"), MAC: mac6(macPeer)},
		{Ifindex: 14, Addr: netip.MustParseAddr("203.0.113.1"), MAC: mac6(macPeer)},
	})
}

// TestEAMHairpinForward: RFC 7757 4.2.2 ("intrinsic hairpinning"): "the
// translator ... will first translate the packet to IPv4 ... The
// resulting IPv4 destination address is then found to match an EAM, so
// the packet is translated back to IPv6" — destination by the EAM, source
// by RFC 6052 — and routed in the core like any IPv6 packet, one hop
// later; only a packet whose IPv4 destination no EAM covers leaves as
// IPv4.
func TestEAMHairpinForward(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:3::8"), netip.MustParseAddr("2001:db8:3::9")
	bVia6052 := core6(7, netip.MustParseAddr("198.51.100.9"))
	aVia6052 := core6(7, netip.MustParseAddr("198.51.100.8"))
	for _, tracked := range []bool{false, true} {
		name := "stateless"
		if tracked {
			name = "conntrack"
		}
		t.Run(name, func(t *testing.T) {
			h := eamBorder(t, tracked)
			for _, proto := range []string{"udp", "echo", "syn"} {
				in := spec{srcMAC: macPeer, dstMAC: macUp, src: a, dst: bVia6052, proto: proto, sport: 4000, dport: 53, id: 9, seq: 1, payload: []byte("hairpin")}
				h.send(0, in.frame(t))
				want := spec{srcMAC: macUp, dstMAC: macPeer, src: aVia6052, dst: b, ttl: 63, proto: proto, sport: 4000, dport: 53, id: 9, seq: 1, payload: in.payload}
				got := h.out(0)
				if len(got) != 1 {
					t.Fatalf("%s: core got %d frames, want the hairpinned one; IPv4 side got %d; drops %v", proto, len(got), len(h.out(1)), nonZero(h.stats()))
				}
				expectFrames(t, proto+" hairpinned", got, want.wire(t))
				expectFrames(t, proto+" IPv4 side", h.out(1))
			}
			// gannet trace tells the same way.
			tin := spec{srcMAC: macPeer, dstMAC: macUp, src: a, dst: bVia6052, proto: "udp", sport: 4000, dport: 53}
			if tr := h.tables.Load().Trace(0, tin.frame(t), h.neigh.Table); tr.Verdict != "forward" || tr.Egress != "core" || tr.After.Src != aVia6052 || tr.After.Dst != b {
				t.Errorf("Trace of the hairpinned packet: %s\nafter %v, want forward via core as %v > %v", tr, tr.After, aVia6052, b)
			}
			// B's answer hairpins back to A in the addresses A used.
			rep := spec{srcMAC: macPeer, dstMAC: macUp, src: b, dst: aVia6052, proto: "udp", sport: 53, dport: 4000, payload: []byte("answer")}
			h.send(0, rep.frame(t))
			expectFrames(t, "answer", h.out(0), spec{srcMAC: macUp, dstMAC: macPeer, src: bVia6052, dst: a, ttl: 63, proto: "udp", sport: 53, dport: 4000, payload: rep.payload}.wire(t))

			// Not an EAM address: IPv4 in space 7, which leaves for the
			// Internet through source NAT (without NAT it has no way out).
			out := spec{srcMAC: macPeer, dstMAC: macUp, src: a, dst: core6(7, netip.MustParseAddr("203.0.113.9")), proto: "udp", sport: 1, dport: 2}
			h.send(0, out.frame(t))
			expectFrames(t, "core", h.out(0))
			got := h.out(1)
			if !tracked {
				expectFrames(t, "Internet", got)
				if st := h.stats(); st.Drops[ReasonNoRoute] != 1 {
					t.Errorf("drops %v, want one no-route", nonZero(st))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("Internet got %d frames, want 1; drops %v", len(got), nonZero(h.stats()))
			}
			var s pkt.Summary
			if pkt.Parse(got[0], &s); s.Family != pkt.FamilyIPv4 || !netip.MustParsePrefix("192.0.2.64/28").Contains(s.SrcAddr()) || s.DstAddr() != netip.MustParseAddr("203.0.113.9") {
				t.Errorf("to the Internet: %v -> %v, want IPv4 from 192.0.2.64/28 to 203.0.113.9", s.SrcAddr(), s.DstAddr())
			}
		})
	}
}

// TestEAMHairpinZeroAlloc: a hairpinned packet costs no allocation.
func TestEAMHairpinZeroAlloc(t *testing.T) {
	h := eamBorder(t, false)
	f := spec{srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("2001:db8:3::8"), dst: core6(7, netip.MustParseAddr("198.51.100.9")), proto: "udp", sport: 1, dport: 2}.frame(t)
	h.round(0, f)
	if n := testing.AllocsPerRun(100, func() { h.round(0, f) }); n != 0 {
		t.Errorf("%v allocations per hairpinned packet, want 0", n)
	}
	if st := h.stats(); st.Forwarded < 100 {
		t.Errorf("forwarded %d, want every packet; drops %v", st.Forwarded, nonZero(st))
	}
}
