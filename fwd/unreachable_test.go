package fwd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gannet-net/gannet/pkt"
)

// blockHost is twoWorkloads with the host owning 198.18.0.0/26 and
// 2001:db8::/122 (its bgp.blocks): the workloads' addresses are inside,
// the default routes toward the fabric are outside and less specific.
func blockHost() Config {
	c := twoWorkloads()
	c.Routes = append(c.Routes,
		RouteConfig{Prefix: netip.MustParsePrefix("198.18.0.0/26"), Unreachable: true},
		RouteConfig{Prefix: netip.MustParsePrefix("2001:db8::/122"), Unreachable: true})
	return c
}

// TestUnreachableRoute: a packet to an unused address of one of the
// host's blocks is answered as Linux answers an `unreachable` route —
// ICMP Destination Unreachable, host unreachable (RFC 792 code 1; Linux
// ip_error for EHOSTUNREACH), ICMPv6 Destination Unreachable, no route to
// destination (RFC 4443 3.1 code 0; Linux ip6_pkt_discard) — from the
// router, out of the port it came in on, counted as unreachable-route;
// it never follows the default route back into the fabric. The
// workloads inside the block still forward (their host routes are more
// specific), and so does an address outside it (the default route).
func TestUnreachableRoute(t *testing.T) {
	unused4, unused6 := netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("2001:db8::9")
	outside4 := netip.MustParseAddr("198.18.0.64")
	for _, tc := range []struct {
		name   string
		in     int // port the packet comes in by
		srcMAC net.HardwareAddr
		dstMAC net.HardwareAddr
		src    netip.Addr
		dst    netip.Addr
		ttl    uint8
		// want: the ICMP type/code answered out of in, or none and out
		// of port fwd.
		icmp4 layers.ICMPv4TypeCode
		icmp6 layers.ICMPv6TypeCode
		fwd   int
	}{
		{name: "workload to unused v4", in: 0, srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: unused4, icmp4: layers.CreateICMPv4TypeCode(3, 1)},
		{name: "workload to unused v6", in: 0, srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: unused6, icmp6: layers.CreateICMPv6TypeCode(1, 0)},
		// From the fabric: the default route would send it straight back
		// out of the uplink it came in by (the loop the block prevents).
		{name: "fabric to unused v4", in: 2, srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("203.0.113.9"), dst: unused4, icmp4: layers.CreateICMPv4TypeCode(3, 1)},
		{name: "fabric to unused v6", in: 2, srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("2001:db8:f::9"), dst: unused6, icmp6: layers.CreateICMPv6TypeCode(1, 0)},
		// Answered in input routing, before the TTL (as Linux does).
		{name: "ttl 1 to unused v4", in: 2, srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("203.0.113.9"), dst: unused4, ttl: 1, icmp4: layers.CreateICMPv4TypeCode(3, 1)},
		{name: "fabric to workload in block", in: 2, srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("203.0.113.9"), dst: w2v4, fwd: 1},
		{name: "fabric to workload in block v6", in: 2, srcMAC: macPeer, dstMAC: macUp, src: netip.MustParseAddr("2001:db8:f::9"), dst: w2v6, fwd: 1},
		{name: "workload to outside the block", in: 0, srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: outside4, fwd: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, blockHost(), peerNeigh)
			ttl := tc.ttl
			if ttl == 0 {
				ttl = 64
			}
			h.send(tc.in, spec{srcMAC: tc.srcMAC, dstMAC: tc.dstMAC, src: tc.src, dst: tc.dst, ttl: ttl, proto: "udp", sport: 1, dport: 2}.frame(t))
			answer := tc.icmp4 != 0 || tc.icmp6 != 0
			for p := range 3 {
				got := h.out(p)
				want := 0
				if answer && p == tc.in || !answer && p == tc.fwd {
					want = 1
				}
				if len(got) != want {
					t.Fatalf("%d frames out of port %d, want %d (drops %v)", len(got), p, want, nonZero(h.stats()))
				}
				if want == 0 || !answer {
					continue
				}
				pk := gopacket.NewPacket(got[0], layers.LayerTypeEthernet, gopacket.Default)
				if tc.icmp4 != 0 {
					ic, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
					ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					if !ok || ic.TypeCode != tc.icmp4 || ip.DstIP.String() != tc.src.String() {
						t.Errorf("answer = %v, want %v to %v", pk, tc.icmp4, tc.src)
					}
				} else {
					ic, ok := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
					ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
					if !ok || ic.TypeCode != tc.icmp6 || ip.DstIP.String() != tc.src.String() {
						t.Errorf("answer = %v, want %v to %v", pk, tc.icmp6, tc.src)
					}
				}
			}
			want := uint64(0)
			if answer {
				want = 1
			}
			if n := h.stats().Drops[ReasonUnreachableRoute]; n != want {
				t.Errorf("unreachable-route drops = %d, want %d", n, want)
			}
		})
	}
}

// TestUnreachableRouteLearned: a more specific route a peer announces
// for an address inside one of our blocks — a workload that borrowed the
// address on another host (Calico's borrowed IPs) — wins over the block,
// as it does over Calico's block blackhole in the kernel; when it is
// withdrawn the address is unreachable here again. A learned route for
// the block itself is refused: the block is the host's own.
func TestUnreachableRouteLearned(t *testing.T) {
	h := newHost(t, blockHost(), peerNeigh)
	tab := h.tables.Load()
	borrowed := netip.MustParseAddr("198.18.0.9")
	bp := netip.PrefixFrom(borrowed, 32)
	if err := tab.Learn(0, bp, oneHop(2, netip.MustParseAddr("198.51.100.1"))); err != nil {
		t.Fatalf("Learn(%v): %v", bp, err)
	}
	if err := tab.Learn(0, netip.MustParsePrefix("198.18.0.0/26"), oneHop(2, netip.MustParseAddr("198.51.100.1"))); err == nil {
		t.Errorf("Learn(the block) = nil, want ErrConfigured")
	}
	frame := func() []byte {
		return spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: borrowed, proto: "udp", sport: 1, dport: 2}.frame(t)
	}
	h.send(0, frame())
	if got := h.out(2); len(got) != 1 {
		t.Fatalf("borrowed address: %d frames out of the uplink, want 1 (drops %v)", len(got), nonZero(h.stats()))
	}
	if err := tab.Forget(0, bp); err != nil {
		t.Fatalf("Forget(%v): %v", bp, err)
	}
	h.send(0, frame())
	if got := h.out(2); len(got) != 0 {
		t.Errorf("withdrawn borrowed address: %d frames out of the uplink, want 0", len(got))
	}
	back := h.out(0)
	if len(back) != 1 {
		t.Fatalf("withdrawn borrowed address: %d frames back, want the error", len(back))
	}
	ic, ok := gopacket.NewPacket(back[0], layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || ic.TypeCode != layers.CreateICMPv4TypeCode(pkt.ICMPv4DestUnreach, pkt.ICMPv4HostUnreach) {
		t.Errorf("withdrawn borrowed address: answer %v, want host unreachable", ic)
	}
}

// TestUnreachableRouteConfig: an unreachable route has nothing else.
func TestUnreachableRouteConfig(t *testing.T) {
	for _, rc := range []RouteConfig{
		{Prefix: netip.MustParsePrefix("198.18.0.0/26"), Unreachable: true, Port: 2},
		{Prefix: netip.MustParsePrefix("198.18.0.0/26"), Unreachable: true, Gateway: netip.MustParseAddr("198.51.100.1")},
		{Prefix: netip.MustParsePrefix("64:ff9b:1:7::/96"), Unreachable: true, Translate: true},
	} {
		c := twoWorkloads()
		c.Routes = append(c.Routes, rc)
		if _, err := NewTables(c); err == nil {
			t.Errorf("NewTables with %+v: no error", rc)
		}
	}
}

// TestUnreachableRouteAllocs: answering an unused block address
// allocates nothing.
func TestUnreachableRouteAllocs(t *testing.T) {
	h := newHost(t, blockHost(), peerNeigh)
	f := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("198.18.0.9"), proto: "udp", sport: 1, dport: 2}.frame(t)
	allocs := testing.AllocsPerRun(200, func() {
		h.ports[0].Inject(f)
		for h.w.Step() > 0 {
		}
		h.ports[0].Drain(nil)
	})
	if allocs != 0 {
		t.Errorf("allocs per unreachable answer = %v, want 0", allocs)
	}
}

// TestUnreachableRouteTranslated: tenant A's block 100.64.0.0/28 is
// routed unreachable in the core as its RFC 6052 prefix
// 64:ff9b:1:7::6440:0/124. From the core, an unused address of it is
// answered ICMPv6 no route (type 1 code 0) and a used one is delivered;
// tenant A's own workload is answered host unreachable in IPv4 (type 3
// code 1, from the gateway address) before translation, as it would be
// from the block's owner anywhere; tenant B, whose same IPv4 addresses
// are no block here, goes on across the core.
func TestUnreachableRouteTranslated(t *testing.T) {
	block := netip.PrefixFrom(core6(tenantA, netip.MustParseAddr("100.64.0.0")), 124)
	unused := netip.MustParseAddr("100.64.0.9")
	remote := core6(tenantA, netip.MustParseAddr("100.64.1.2"))
	for _, tc := range []struct {
		name   string
		in     int
		frame  spec
		answer gopacket.LayerType // the error's layer, answered out of in; else out of fwd
		code   uint8
		fwd    int
	}{
		{name: "core to unused", in: 2, frame: spec{srcMAC: macUpB, dstMAC: macUpA, src: remote, dst: core6(tenantA, unused), proto: "udp", sport: 1, dport: 2},
			answer: layers.LayerTypeICMPv6, code: pkt.ICMPv6NoRoute},
		{name: "core to a workload of the block", in: 2, frame: spec{srcMAC: macUpB, dstMAC: macUpA, src: remote, dst: core6(tenantA, addrHere), proto: "udp", sport: 1, dport: 2}, fwd: 0},
		{name: "tenant A to unused", in: 0, frame: spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: unused, proto: "udp", sport: 1, dport: 2},
			answer: layers.LayerTypeICMPv4, code: pkt.ICMPv4HostUnreach},
		{name: "tenant B to the same address", in: 1, frame: spec{srcMAC: macTB, dstMAC: gwMAC, src: addrHere, dst: unused, proto: "udp", sport: 1, dport: 2}, fwd: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tenantConfig(t)
			c.Routes = append(c.Routes, RouteConfig{Prefix: block, Unreachable: true})
			h := newHost(t, c, tenantNeigh)
			h.send(tc.in, tc.frame.frame(t))
			for p := range 3 {
				got := h.out(p)
				want := 0
				if tc.answer != 0 && p == tc.in || tc.answer == 0 && p == tc.fwd {
					want = 1
				}
				if len(got) != want {
					t.Fatalf("%d frames out of port %d, want %d (drops %v)", len(got), p, want, nonZero(h.stats()))
				}
				if want == 0 || tc.answer == 0 {
					continue
				}
				pk := gopacket.NewPacket(got[0], layers.LayerTypeEthernet, gopacket.Default)
				switch l := pk.Layer(tc.answer).(type) {
				case *layers.ICMPv4:
					ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					if l.TypeCode != layers.CreateICMPv4TypeCode(pkt.ICMPv4DestUnreach, tc.code) || ip.SrcIP.String() != DefaultGateway4.String() || ip.DstIP.String() != addrHere.String() {
						t.Errorf("answer = %v, want host unreachable from %v to %v", pk, DefaultGateway4, addrHere)
					}
				case *layers.ICMPv6:
					ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
					if l.TypeCode != layers.CreateICMPv6TypeCode(pkt.ICMPv6DestUnreach, tc.code) || ip.DstIP.String() != remote.String() {
						t.Errorf("answer = %v, want no route to %v", pk, remote)
					}
				default:
					t.Errorf("answer = %v, want %v", pk, tc.answer)
				}
			}
			want := uint64(0)
			if tc.answer != 0 {
				want = 1
			}
			if n := h.stats().Drops[ReasonUnreachableRoute]; n != want {
				t.Errorf("unreachable-route drops = %d, want %d", n, want)
			}
		})
	}
}
