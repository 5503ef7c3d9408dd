package fwd

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// piece is one expected fragment: data [off:end) of the datagram, MF.
type piece struct {
	off, end int
	mf       bool
}

// v6Fragments encodes IPv6 fragments of body (the upper-layer header and
// data) from src to dst behind eth, as RFC 7915 section 4 makes them.
func v6Fragments(t *testing.T, eth *layers.Ethernet, src, dst netip.Addr, hop uint8, proto layers.IPProtocol, id uint32, body []byte, ps ...piece) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range ps {
		ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		fh := &layers.IPv6Fragment{NextHeader: proto, FragmentOffset: uint16(p.off / 8), MoreFragments: p.mf, Identification: id}
		out = append(out, unpad(serialize(t, eth, ip, fh, gopacket.Payload(body[p.off:p.end]))))
	}
	return out
}

// v4Fragments encodes IPv4 fragments of body with header ip behind eth.
func v4Fragments(t testing.TB, eth *layers.Ethernet, ip layers.IPv4, body []byte, ps ...piece) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range ps {
		f := ip
		f.FragOffset = uint16(p.off / 8)
		f.Flags = 0
		if p.mf {
			f.Flags = layers.IPv4MoreFragments
		}
		out = append(out, unpad(serialize(t, eth, &f, gopacket.Payload(body[p.off:p.end]))))
	}
	return out
}

var openTenants = &acl.PolicySet{
	Profiles:  []acl.Profile{{Name: "open", Ingress: []acl.PolicyRule{{Action: acl.Allow}}, Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
	Endpoints: withProfile([]acl.Endpoint{{Name: "a", Addrs: []netip.Addr{addrHere, addrThere}}, {Name: "b", Addrs: []netip.Addr{addrHere, addrThere}}}, "open"),
}

// TestXlatFragments: a DF=0 tenant datagram above lowestIPv6MTU leaves
// host A as two IPv6 fragments (4->6 split); host B, whose IPv4 side has
// an MTU of 576, translates them back and splits the first again (6->4
// split), tracks every fragment and delivers four IPv4 fragments that
// reassemble to the original datagram.
func TestXlatFragments(t *testing.T) {
	a := tenantHost(t, addrHere, macUpA, llB, macUpB, openTenants)
	b := tenantHostMTU(t, 576, addrThere, macUpB, llA, macUpA, openTenants)

	const id = 0x1234
	ip4 := layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: addrHere.AsSlice(), DstIP: addrThere.AsSlice()}
	body4 := udpBody(t, addrHere, addrThere, 7000, 7001, 1400) // 1408 bytes
	body6 := spec{src: core6(tenantA, addrHere), dst: core6(tenantA, addrThere), proto: "udp", sport: 7000, dport: 7001, payload: payload(1400)}.packet(t)[40:]
	a.send(0, ipv4Frame(t, macTA, gwMAC, ip4, body4))

	// lowestIPv6MTU 1280: 1232 bytes of data per fragment.
	wire := carry(t, a, 2, b, 2)
	expectFrames(t, "fabric", wire, v6Fragments(t, &layers.Ethernet{SrcMAC: macUpA, DstMAC: macUpB, EthernetType: layers.EthernetTypeIPv6},
		core6(tenantA, addrHere), core6(tenantA, addrThere), 63, layers.IPProtocolUDP, id, body6,
		piece{0, 1232, true}, piece{1232, 1408, false})...)
	if st := a.stats(); st.Forwarded != 1 || st.Fragmented != 1 || st.Fragments != 2 || st.NATCreated != 1 {
		t.Errorf("host A: forwarded %d, fragmented %d into %d, sessions %d; want 1, 1 into 2, 1 (drops %v)",
			st.Forwarded, st.Fragmented, st.Fragments, st.NATCreated, nonZero(st))
	}

	// ipv4MTU 576: 552 bytes per IPv4 fragment. The first IPv6 fragment
	// becomes three, the second one.
	want4 := ip4
	want4.TTL = 62
	expectFrames(t, "tenant", b.out(0), v4Fragments(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macTA, EthernetType: layers.EthernetTypeIPv4}, want4, body4,
		piece{0, 552, true}, piece{552, 1104, true}, piece{1104, 1232, true}, piece{1232, 1408, false})...)
	expectFrames(t, "other tenant", b.out(1))
	if st := b.stats(); st.Forwarded != 2 || st.Fragmented != 1 || st.Fragments != 3 || st.NATCreated != 1 || st.Dropped() != 0 {
		t.Errorf("host B: forwarded %d, fragmented %d into %d, sessions %d, drops %v; want 2, 1 into 3, 1, none",
			st.Forwarded, st.Fragmented, st.Fragments, st.NATCreated, nonZero(st))
	}
	checkFrames(t, a)
	checkFrames(t, b)
}

// TestXlatFragmentsAllOrNothing: a 4->6 split that the free stack cannot
// lend a frame for every piece is dropped whole.
func TestXlatFragmentsAllOrNothing(t *testing.T) {
	a := tenantHost(t, addrHere, macUpA, llB, macUpB, openTenants)
	ip4 := layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: layers.IPProtocolUDP, SrcIP: addrHere.AsSlice(), DstIP: addrThere.AsSlice()}
	frame := ipv4Frame(t, macTA, gwMAC, ip4, udpBody(t, addrHere, addrThere, 1, 2, 1400))
	held := make([]uint64, a.w.free.Len()-1) // two pieces, one frame left
	a.w.free.PopBatch(held)
	if !a.ports[0].Inject(frame) {
		t.Fatal("Inject refused")
	}
	a.w.Step()
	expectFrames(t, "fabric", a.out(2))
	st := a.stats()
	if st.Drops[ReasonXlatFrags] != 1 || st.Dropped() != 1 || st.TxPackets != 0 {
		t.Errorf("drops %v, tx %d; want one xlat-fragments and nothing sent", nonZero(st), st.TxPackets)
	}
	a.w.free.PushBatch(held)
	a.run()
	checkFrames(t, a)
	a.send(0, frame)
	if got := a.out(2); len(got) != 2 {
		t.Errorf("with the frames back: fabric got %d frames, want 2 fragments", len(got))
	}
	checkFrames(t, a)
}

// TestXlatFragmentsPolicy: the fragments of a 6->4 split are policed as
// one packet: a denied flow is dropped whole, counted once, and leaves no
// session and no frame behind.
func TestXlatFragmentsPolicy(t *testing.T) {
	b := tenantHostMTU(t, 576, addrThere, macUpB, llA, macUpA, &acl.PolicySet{
		Policies:  []acl.Policy{{Name: "icmp", Selector: "all()", Ingress: []acl.PolicyRule{{Action: acl.Allow, Protocol: "ICMP"}}}},
		Profiles:  []acl.Profile{{Name: "open", Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: withProfile([]acl.Endpoint{{Name: "a", Addrs: []netip.Addr{addrThere}}, {Name: "b", Addrs: []netip.Addr{addrThere}}}, "open"),
	})
	from := func(proto string) spec {
		return spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantA, addrHere), dst: core6(tenantA, addrThere), ttl: 63,
			proto: proto, id: 3, seq: 1, sport: 1, dport: 2, payload: payload(1000)}
	}
	// 1000 bytes of IPv6 payload: 1020 bytes of IPv4, two fragments at 576.
	b.send(2, from("udp").frame(t))
	expectFrames(t, "tenant", b.out(0))
	st := b.stats()
	if st.Drops[ReasonPolicyIngress] != 1 || st.Dropped() != 1 || b.tables.Load().nat.Len() != 0 {
		t.Errorf("drops %v, sessions %d; want one policy-ingress and none", nonZero(st), b.tables.Load().nat.Len())
	}
	checkFrames(t, b)

	// An echo request is admitted: both fragments go through.
	b.send(2, from("echo").frame(t))
	got := b.out(0)
	if len(got) != 2 {
		t.Fatalf("tenant got %d frames, want 2 fragments (drops %v)", len(got), nonZero(b.stats()))
	}
	if st := b.stats(); st.NATCreated != 1 || st.Fragments != 2 {
		t.Errorf("sessions %d, fragments %d; want 1, 2", st.NATCreated, st.Fragments)
	}
	checkFrames(t, b)
}

// TestXlatFragmentsZeroAlloc: both translator splits, with conntrack over
// every fragment, allocate nothing.
func TestXlatFragmentsZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	a := tenantHost(t, addrHere, macUpA, llB, macUpB, openTenants)
	b := tenantHostMTU(t, 576, addrThere, macUpB, llA, macUpA, openTenants)
	ip4 := layers.IPv4{Version: 4, TTL: 64, Id: 5, Protocol: layers.IPProtocolUDP, SrcIP: addrHere.AsSlice(), DstIP: addrThere.AsSlice()}
	out := ipv4Frame(t, macTA, gwMAC, ip4, udpBody(t, addrHere, addrThere, 9, 9, 1400))
	a.send(0, out)
	wire := a.out(2) // the two IPv6 fragments
	b.round(2, wire...)
	if allocs := testing.AllocsPerRun(50, func() { a.round(0, out) }); allocs != 0 {
		t.Errorf("a 4->6 split allocates %v times, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(50, func() { b.round(2, wire...) }); allocs != 0 {
		t.Errorf("a 6->4 split with conntrack over every fragment allocates %v times, want 0", allocs)
	}
	if sa, sb := a.stats(), b.stats(); sa.Fragments != 2*52 || sb.Fragments != 3*52 || sa.Dropped()+sb.Dropped() != 0 {
		t.Errorf("fragments %d and %d, drops %v and %v; want %d and %d, none", sa.Fragments, sb.Fragments, nonZero(sa), nonZero(sb), 2*52, 3*52)
	}
}
