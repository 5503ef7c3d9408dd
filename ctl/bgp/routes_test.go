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
