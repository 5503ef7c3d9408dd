package bgp

import (
	"math/rand/v2"
	"net/netip"
	"slices"
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

// slowRIB is learnedRIB's slow twin: a map of paths per prefix and the
// next hops of every prefix an event touches compared before and after
// the whole event.
type slowRIB map[netip.Prefix]map[pathKey]netip.Addr

func slowNextHops(set map[pathKey]netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, nh := range set {
		if !slices.Contains(out, nh) {
			out = append(out, nh)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// apply returns the changed prefixes' final next hops.
func (r slowRIB) apply(paths []*apiutil.Path) map[netip.Prefix][]netip.Addr {
	before := map[netip.Prefix][]netip.Addr{}
	for _, p := range paths {
		pfx, ok := nlriPrefix(p.Nlri)
		if !ok || !p.PeerAddress.IsValid() {
			continue
		}
		if _, seen := before[pfx]; !seen {
			before[pfx] = slowNextHops(r[pfx])
		}
		k := pathKey{peer: p.PeerAddress, id: p.RemoteID}
		if p.Withdrawal {
			delete(r[pfx], k)
			if len(r[pfx]) == 0 {
				delete(r, pfx)
			}
			continue
		}
		if r[pfx] == nil {
			r[pfx] = map[pathKey]netip.Addr{}
		}
		r[pfx][k] = nextHop(p)
	}
	out := map[netip.Prefix][]netip.Addr{}
	for pfx, b := range before {
		if nhs := slowNextHops(r[pfx]); !slices.Equal(nhs, b) {
			out[pfx] = nhs
		}
	}
	return out
}

// TestLearnedRIBTwin: random events (several prefixes, peers, path IDs
// and next hops; single-prefix deltas and mixed snapshots) folded by
// learnedRIB and by the slow twin give the same RIB, and the last
// Route learnedRIB returns for a prefix in an event is the twin's
// change (a prefix whose next hops end as they began may get Routes
// that cancel out, never a wrong last one).
func TestLearnedRIBTwin(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/25", "2001:db8:1::/48", "2001:db8:2::/48"}
	peers4 := []string{"198.18.250.1", "198.18.251.1", "198.18.252.1"}
	peers6 := []string{"2001:db8:250::1", "2001:db8:251::1", "2001:db8:252::1"}
	fast, slow := newLearnedRIB(), slowRIB{}
	for ev := range 5000 {
		var paths []*apiutil.Path
		same := rnd.IntN(2) == 0 // a delta: one prefix
		pfx := prefixes[rnd.IntN(len(prefixes))]
		for range 1 + rnd.IntN(4) {
			if !same {
				pfx = prefixes[rnd.IntN(len(prefixes))]
			}
			peers := peers4
			if netip.MustParsePrefix(pfx).Addr().Is6() {
				peers = peers6
			}
			peer, nh := peers[rnd.IntN(len(peers))], peers[rnd.IntN(len(peers))]
			p := path(t, pfx, peer, nh, rnd.IntN(3) == 0)
			p.RemoteID = uint32(rnd.IntN(2))
			if rnd.IntN(20) == 0 {
				p.PeerAddress = netip.Addr{} // the node's own route
			}
			paths = append(paths, p)
		}
		got := map[netip.Prefix][]netip.Addr{}
		for _, rt := range fast.apply(paths) {
			if rt.Withdrawn != (len(rt.NextHops) == 0) {
				t.Fatalf("event %d: %+v: Withdrawn disagrees with its next hops", ev, rt)
			}
			got[rt.Prefix] = rt.NextHops
		}
		want := slow.apply(paths)
		for pfx, nhs := range want {
			if g, ok := got[pfx]; !ok || !slices.Equal(g, nhs) {
				t.Fatalf("event %d: %s: got %v (reported %v), want %v", ev, pfx, g, ok, nhs)
			}
		}
		for pfx, nhs := range got {
			if _, ok := want[pfx]; !ok && !slices.Equal(nhs, slowNextHops(slow[pfx])) {
				t.Fatalf("event %d: %s: reported %v, the twin has %v", ev, pfx, nhs, slowNextHops(slow[pfx]))
			}
		}
		if len(fast.paths) != len(slow) {
			t.Fatalf("event %d: %d prefixes, twin %d", ev, len(fast.paths), len(slow))
		}
		for pfx, set := range slow {
			if g := appendNextHops(nil, fast.paths[pfx]); !slices.Equal(g, slowNextHops(set)) || len(fast.paths[pfx]) != len(set) {
				t.Fatalf("event %d: %s: paths %v, twin %v", ev, pfx, fast.paths[pfx], set)
			}
		}
	}
}

// TestLearnedRIBAllocs: a one-path event allocates only what the Route
// it returns holds (the result slice and its next hops) plus, for a new
// prefix, its path slice.
func TestLearnedRIBAllocs(t *testing.T) {
	r := newLearnedRIB()
	up := []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.250.1", "198.18.250.1", false)}
	down := []*apiutil.Path{path(t, "198.18.10.0/24", "198.18.250.1", "198.18.250.1", true)}
	r.apply(up)
	r.apply(down)
	n := testing.AllocsPerRun(100, func() {
		r.apply(up)
		r.apply(down)
	})
	// up: the path slice, the next hops, the result; down: the result.
	if n > 4 {
		t.Errorf("an announce and a withdrawal allocate %v times, want at most 4", n)
	}
}
