package bgp

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func path(t *testing.T, prefix, peer, nh string, withdraw bool) *apiutil.Path {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	nlri, err := bgp.NewIPAddrPrefix(pfx)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiutil.Path{Nlri: nlri, Withdrawal: withdraw, Family: bgp.RF_IPv4_UC}
	if peer != "" {
		p.PeerAddress = netip.MustParseAddr(peer)
	}
	if pfx.Addr().Is4() {
		a, _ := bgp.NewPathAttributeNextHop(netip.MustParseAddr(nh))
		p.Attrs = append(p.Attrs, a)
	} else {
		p.Family = bgp.RF_IPv6_UC
		a, _ := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.MustParseAddr(nh))
		p.Attrs = append(p.Attrs, a)
	}
	return p
}

// TestLearnedRIB folds GoBGP's multipath deltas into next-hop sets.
func TestLearnedRIB(t *testing.T) {
	a := netip.MustParseAddr
	pf := netip.MustParsePrefix
	r := newLearnedRIB()
	steps := []struct {
		name  string
		paths []*apiutil.Path
		want  []Route
	}{
		{"first path", []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.250.1", "198.18.250.1", false)},
			[]Route{{Prefix: pf("198.18.10.0/24"), NextHops: []netip.Addr{a("198.18.250.1")}, Peer: a("198.18.250.1")}}},
		{"equal second path (multipath)", []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.251.1", "198.18.251.1", false)},
			[]Route{{Prefix: pf("198.18.10.0/24"), NextHops: []netip.Addr{a("198.18.250.1"), a("198.18.251.1")}, Peer: a("198.18.250.1")}}},
		{"same next hops again: no event", []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.251.1", "198.18.251.1", false)}, nil},
		{"one withdrawn", []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.250.1", "198.18.250.1", true)},
			[]Route{{Prefix: pf("198.18.10.0/24"), NextHops: []netip.Addr{a("198.18.251.1")}, Peer: a("198.18.251.1")}}},
		{"own route wins: learned withdrawn, local ignored", []*apiutil.Path{
			path(t, "198.18.10.0/24", "198.18.251.1", "198.18.251.1", true),
			path(t, "198.18.10.0/24", "", "0.0.0.0", false),
		}, []Route{{Prefix: pf("198.18.10.0/24"), Withdrawn: true, Peer: a("198.18.251.1")}}},
		{"IPv6 global next hop, batch order kept", []*apiutil.Path{
			path(t, "2001:db8:10::/48", "2001:db8:250::1", "2001:db8:250::1", false),
			path(t, "198.18.11.0/24", "198.18.250.1", "198.18.250.1", false),
		}, []Route{
			{Prefix: pf("2001:db8:10::/48"), NextHops: []netip.Addr{a("2001:db8:250::1")}, Peer: a("2001:db8:250::1")},
			{Prefix: pf("198.18.11.0/24"), NextHops: []netip.Addr{a("198.18.250.1")}, Peer: a("198.18.250.1")},
		}},
	}
	for _, st := range steps {
		got := r.apply(st.paths)
		if diff := cmp.Diff(st.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }),
			cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
			t.Errorf("%s: apply (-want +got):\n%s", st.name, diff)
		}
	}
	if len(r.paths) != 2 {
		t.Errorf("RIB holds %d prefixes, want 2: %v", len(r.paths), r.paths)
	}
}

// v4OverV6Path is a path for IPv4 prefix with IPv6 next hops in
// MP_REACH_NLRI (RFC 8950 section 4): global, and link-local when ll is
// set (the 32-byte form; global "::" for a link-local-only one).
func v4OverV6Path(t *testing.T, prefix, peer, global, ll string) *apiutil.Path {
	t.Helper()
	nlri, err := bgp.NewIPAddrPrefix(netip.MustParsePrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	nhs := []netip.Addr{netip.MustParseAddr(global)}
	if ll != "" {
		nhs = append(nhs, netip.MustParseAddr(ll))
	}
	a, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv4_UC, []bgp.PathNLRI{{NLRI: nlri}}, nhs...)
	if err != nil {
		t.Fatal(err)
	}
	// The wire form, decoded again: what GoBGP hands over from a peer.
	buf, err := a.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	var back bgp.PathAttributeMpReachNLRI
	if err := back.DecodeFromBytes(buf); err != nil {
		t.Fatalf("MP_REACH_NLRI %x does not decode: %v", buf, err)
	}
	return &apiutil.Path{Nlri: nlri, Family: bgp.RF_IPv4_UC, PeerAddress: netip.MustParseAddr(peer), Attrs: []bgp.PathAttributeInterface{&back}}
}

// TestLearnedRIBIPv6NextHops: an IPv4 route with IPv6 next hops (RFC
// 8950) is learned with the global next hop; the link-local one only
// when the global is unspecified, and then zoned with the peer that
// sent it (the link it is on).
func TestLearnedRIBIPv6NextHops(t *testing.T) {
	a := netip.MustParseAddr
	pf := netip.MustParsePrefix
	r := newLearnedRIB()
	got := r.apply([]*apiutil.Path{
		v4OverV6Path(t, "198.18.10.0/24", "2001:db8:200::254", "2001:db8:200::2", ""),
		v4OverV6Path(t, "198.18.11.0/24", "2001:db8:200::254", "2001:db8:200::3", "fe80::3"),
		v4OverV6Path(t, "198.18.12.0/24", "2001:db8:200::254", "::", "fe80::4"),
	})
	want := []Route{
		{Prefix: pf("198.18.10.0/24"), NextHops: []netip.Addr{a("2001:db8:200::2")}, Peer: a("2001:db8:200::254")},
		{Prefix: pf("198.18.11.0/24"), NextHops: []netip.Addr{a("2001:db8:200::3")}, Peer: a("2001:db8:200::254")},
		{Prefix: pf("198.18.12.0/24"), NextHops: []netip.Addr{a("fe80::4%2001:db8:200::254")}, Peer: a("2001:db8:200::254")},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }),
		cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("apply (-want +got):\n%s", diff)
	}
}

// TestExtendedNextHopCapability: the capability gannet looks for in a
// peer's OPEN is the tuple (AFI 1, SAFI 1, next hop AFI 2) of RFC 8950
// section 3, and nothing else.
func TestExtendedNextHopCapability(t *testing.T) {
	for _, tc := range []struct {
		name string
		cap  bgp.ParameterCapabilityInterface
		want bool
	}{
		{"ipv4 unicast over ipv6", bgp.NewCapExtendedNexthop([]*bgp.CapExtendedNexthopTuple{bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_UC, bgp.AFI_IP6)}), true},
		{"among others", bgp.NewCapExtendedNexthop([]*bgp.CapExtendedNexthopTuple{bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_VPN, bgp.AFI_IP6), bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_UC, bgp.AFI_IP6)}), true},
		{"vpn only", bgp.NewCapExtendedNexthop([]*bgp.CapExtendedNexthopTuple{bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_VPN, bgp.AFI_IP6)}), false},
		{"multicast", bgp.NewCapExtendedNexthop([]*bgp.CapExtendedNexthopTuple{bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_MC, bgp.AFI_IP6)}), false},
		{"another capability", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), false},
	} {
		if got := offersIPv4OverIPv6(tc.cap); got != tc.want {
			t.Errorf("%s: offersIPv4OverIPv6 = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !carriesIPv4([]bgp.ParameterCapabilityInterface{bgp.NewCapRouteRefresh(), bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC)}) || carriesIPv4([]bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC)}) {
		t.Errorf("carriesIPv4 does not tell an IPv4 unicast session from an IPv6 one")
	}
}
