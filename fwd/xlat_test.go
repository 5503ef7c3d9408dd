package fwd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

var (
	tenantA, tenantB = uint16(7), uint16(8)
	addrHere         = netip.MustParseAddr("100.64.0.1") // used by both tenants on host A
	addrThere        = netip.MustParseAddr("100.64.0.2") // used by both tenants on host B
	macUpA, macUpB   = mac(0x02, 0xa0), mac(0x02, 0xb0)
	llA, llB         = netip.MustParseAddr("fe80::a"), netip.MustParseAddr("fe80::b")
	macTA, macTB     = mac(0x02, 0x07), mac(0x02, 0x08)
)

// tenantHost is a host with tenant A's workload on port 0, tenant B's on
// port 1 (both with address addr) and an IPv6 uplink on port 2 whose
// neighbour (the other host) is peerLL at peerMAC.
func tenantHost(t *testing.T, addr netip.Addr, upMAC net.HardwareAddr, peerLL netip.Addr, peerMAC net.HardwareAddr, set *acl.PolicySet) *host {
	t.Helper()
	return tenantHostMTU(t, 0, addr, upMAC, peerLL, peerMAC, set)
}

// tenantHostMTU is tenantHost with the translator's IPv4 MTU set (0: the
// default).
func tenantHostMTU(t *testing.T, ipv4MTU int, addr netip.Addr, upMAC net.HardwareAddr, peerLL netip.Addr, peerMAC net.HardwareAddr, set *acl.PolicySet) *host {
	t.Helper()
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}, IPv4MTU: ipv4MTU})
	if err != nil {
		t.Fatalf("xlat.New: %v", err)
	}
	cp, err := acl.CompilePolicy(set)
	if err != nil {
		t.Fatalf("CompilePolicy: %v", err)
	}
	clock := &nat.ManualClock{}
	ct, err := nat.New(nat.Config{Capacity: 256, Clock: clock, Seed: 3})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	c := Config{
		Ports: []PortConfig{
			{Name: "tenant-a", Role: RoleWorkload},
			{Name: "tenant-b", Role: RoleWorkload},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(upMAC)},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a", Port: 0, MAC: mac6(macTA), Addrs: []netip.Addr{addr}, Space: tenantA},
			{Name: "b", Port: 1, MAC: mac6(macTB), Addrs: []netip.Addr{addr}, Space: tenantB},
		},
		Routes:      []RouteConfig{{Prefix: netip.MustParsePrefix("64:ff9b:1::/48"), Port: 2, Gateway: peerLL}},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		NAT:         ct,
		Xlat:        tr,
	}
	for i := range c.Endpoints {
		ep := cp.Endpoint(c.Endpoints[i].Name)
		c.Endpoints[i].Ingress, c.Endpoints[i].Egress = ep.Ingress, ep.Egress
	}
	h := newHost(t, c, []neigh.Entry{{Ifindex: 2, Addr: peerLL, MAC: mac6(peerMAC)}})
	h.clock = clock
	return h
}

// carry moves what a sent on port pa to b's port pb (a wire).
func carry(t *testing.T, a *host, pa int, b *host, pb int) [][]byte {
	t.Helper()
	frames := a.out(pa)
	b.send(pb, frames...)
	return frames
}

// ipID returns the IPv4 identification of an Ethernet/IPv4 frame.
func ipID(f []byte) uint16 { return uint16(f[18])<<8 | uint16(f[19]) }

func TestTenantsAcrossIPv6Core(t *testing.T) {
	endpoints := func(role string) []acl.Endpoint {
		return []acl.Endpoint{
			{Name: "a", Labels: map[string]string{"role": role}, Addrs: []netip.Addr{addrHere}},
			{Name: "b", Labels: map[string]string{"role": role}, Addrs: []netip.Addr{addrHere}},
		}
	}
	// Host A's workloads take nothing new inbound: replies come back
	// only as established traffic. Host B's admit ICMP from 100.64.0.1
	// (an IPv4 rule: policy sees the tenant's view).
	a := tenantHost(t, addrHere, macUpA, llB, macUpB, &acl.PolicySet{
		Policies:  []acl.Policy{{Name: "lock", Selector: "role == 'client'", Types: []acl.PolicyType{acl.Ingress}}},
		Profiles:  []acl.Profile{{Name: "open", Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: withProfile(endpoints("client"), "open"),
	})
	b := tenantHost(t, addrThere, macUpB, llA, macUpA, &acl.PolicySet{
		Policies: []acl.Policy{{Name: "peer", Selector: "role == 'peer'", Ingress: []acl.PolicyRule{
			{Action: acl.Allow, Protocol: "ICMP", Source: acl.EntityMatch{Nets: []string{"100.64.0.1/32"}}}}}},
		Profiles:  []acl.Profile{{Name: "open", Egress: []acl.PolicyRule{{Action: acl.Allow}}}},
		Endpoints: withProfile(endpoints("peer"), "open"),
	})
	b.tables.Load().endpointSpaces(t)

	for i, tc := range []struct {
		port  int
		space uint16
		wmac  net.HardwareAddr
	}{{0, tenantA, macTA}, {1, tenantB, macTB}} {
		req := spec{srcMAC: tc.wmac, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "echo", id: uint16(100 + i), seq: 1, payload: []byte("tenant")}
		a.send(tc.port, req.frame(t))
		wire := carry(t, a, 2, b, 2)
		// On the core: IPv6 between the tenant's RFC 6052 addresses.
		core := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tc.space, addrHere), dst: core6(tc.space, addrThere), ttl: 63,
			proto: "echo", id: req.id, seq: 1, payload: req.payload}
		expectFrames(t, "fabric", wire, core.wire(t))
		// Delivered to the tenant's own peer only, two hops later.
		got := b.out(tc.port)
		if len(got) == 1 {
			want := spec{srcMAC: gwMAC, dstMAC: tc.wmac, src: addrHere, dst: addrThere, ttl: 62, proto: "echo", id: req.id, seq: 1, payload: req.payload, ipid: ipID(got[0])}
			expectFrames(t, "peer", got, want.wire(t))
		} else {
			t.Fatalf("space %d: peer got %d frames, want 1 (host B drops %v)", tc.space, len(got), nonZero(b.stats()))
		}
		expectFrames(t, "other tenant's peer", b.out(1-tc.port))

		// The reply goes back the same way and is admitted by host A's
		// conntrack (policy there admits nothing new).
		rep := spec{srcMAC: tc.wmac, dstMAC: gwMAC, src: addrThere, dst: addrHere, proto: "echo-reply", id: req.id, seq: 1, payload: req.payload}
		b.send(tc.port, rep.frame(t))
		carry(t, b, 2, a, 2)
		got = a.out(tc.port)
		if len(got) != 1 {
			t.Fatalf("space %d: reply: workload got %d frames, want 1 (host A drops %v)", tc.space, len(got), nonZero(a.stats()))
		}
		want := spec{srcMAC: gwMAC, dstMAC: tc.wmac, src: addrThere, dst: addrHere, ttl: 62, proto: "echo-reply", id: req.id, seq: 1, payload: req.payload, ipid: ipID(got[0])}
		expectFrames(t, "workload", got, want.wire(t))
		expectFrames(t, "other tenant", a.out(1-tc.port))
	}

	// Host B's policy sees IPv4: UDP from the tenant is not admitted.
	a.send(0, spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "udp", sport: 1, dport: 2}.frame(t))
	carry(t, a, 2, b, 2)
	expectFrames(t, "peer", b.out(0))
	if st := b.stats(); st.Drops[ReasonPolicyIngress] != 1 {
		t.Errorf("host B drops %v, want one policy-ingress", nonZero(st))
	}
	// Host A's policy: a new flow from the core to a tenant is not admitted.
	b.send(0, spec{srcMAC: macTA, dstMAC: gwMAC, src: addrThere, dst: addrHere, proto: "echo", id: 9}.frame(t))
	carry(t, b, 2, a, 2)
	expectFrames(t, "workload", a.out(0))
	if st := a.stats(); st.Drops[ReasonPolicyIngress] != 1 {
		t.Errorf("host A drops %v, want one policy-ingress", nonZero(st))
	}
}

func withProfile(eps []acl.Endpoint, p string) []acl.Endpoint {
	for i := range eps {
		eps[i].Profiles = []string{p}
	}
	return eps
}

// core6 is the RFC 6052 address of a in space id under 64:ff9b:1::/48.
func core6(id uint16, a netip.Addr) netip.Addr {
	b := netip.MustParseAddr("64:ff9b:1::").As16()
	b[6], b[7] = byte(id>>8), byte(id)
	v4 := a.As4()
	copy(b[12:], v4[:])
	return netip.AddrFrom16(b)
}

// endpointSpaces checks that the tables hold each translated endpoint's
// core /128.
func (t *Tables) endpointSpaces(tb *testing.T) {
	tb.Helper()
	for _, pe := range t.ports {
		if pe.ep == nil || !pe.ep.space.translated {
			continue
		}
		for _, a := range pe.ep.addrs4 {
			a6 := core6(pe.ep.space.id, netip.AddrFrom4(a))
			i, ok := t.flat.table.Lookup(a6)
			if !ok || t.nhs[i].ep != pe.ep || !t.nhs[i].xlat {
				tb.Errorf("core route of %v (%v in space %d) = %d, %v; want the endpoint's xlat hop", a6, netip.AddrFrom4(a), pe.ep.space.id, i, ok)
			}
		}
	}
}

// TestTranslatedSpaceLocal: two workloads of one translated space on one
// host talk IPv4 directly; a workload of another space with the same
// addresses never reaches them and goes to the core instead.
func TestTranslatedSpaceLocal(t *testing.T) {
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}})
	if err != nil {
		t.Fatal(err)
	}
	third := netip.MustParseAddr("100.64.0.3")
	macT3 := mac(0x02, 0x73)
	c := Config{
		Ports: []PortConfig{
			{Name: "a1", Role: RoleWorkload}, {Name: "b1", Role: RoleWorkload},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(macUpA)}, {Name: "a3", Role: RoleWorkload},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a1", Port: 0, MAC: mac6(macTA), Addrs: []netip.Addr{addrHere}, Space: tenantA},
			{Name: "b1", Port: 1, MAC: mac6(macTB), Addrs: []netip.Addr{addrHere}, Space: tenantB},
			{Name: "a3", Port: 3, MAC: mac6(macT3), Addrs: []netip.Addr{third}, Space: tenantA},
		},
		Routes: []RouteConfig{{Prefix: netip.MustParsePrefix("64:ff9b:1::/48"), Port: 2, Gateway: llB}},
		Xlat:   tr,
	}
	h := newHost(t, c, []neigh.Entry{{Ifindex: 2, Addr: llB, MAC: mac6(macUpB)}})

	req := spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: third, proto: "udp", sport: 1, dport: 2, payload: []byte("x")}
	h.send(0, req.frame(t))
	expectFrames(t, "a3", h.out(3), req.hop(gwMAC, macT3).wire(t))
	expectFrames(t, "fabric", h.out(2))

	other := req
	other.srcMAC = macTB
	h.send(1, other.frame(t))
	expectFrames(t, "a3", h.out(3))
	core := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantB, addrHere), dst: core6(tenantB, third), ttl: 63, proto: "udp", sport: 1, dport: 2, payload: []byte("x")}
	expectFrames(t, "fabric", h.out(2), core.wire(t))

	// IPv6 from a tenant is not routed.
	h.send(0, spec{srcMAC: macTA, dstMAC: gwMAC, src: netip.MustParseAddr("2001:db8::7"), dst: w2v6, proto: "udp"}.frame(t))
	if st := h.stats(); st.Drops[ReasonSpoofed]+st.Drops[ReasonFamilyNotRouted] != 1 || st.Dropped() != 1 {
		t.Errorf("drops %v, want the IPv6 packet refused", nonZero(st))
	}
}
