package fwd

// The reverse-path check of packets from the IPv6 core into translated
// spaces (RFC 3704 feasible path), through a Worker with MemPorts and
// through the trace of the same frame.

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

// Ports of rpfConfig.
const (
	rpfA, rpfA2, rpfB, rpfFabric, rpfFabric2, rpfFlat = 0, 1, 2, 3, 4, 5
)

var (
	macUpA2   = mac(0x02, 0xa1)
	rpfA2Addr = netip.MustParseAddr("100.64.0.3")
	flatPeer  = netip.MustParseAddr("2001:db8:300::5") // a flat core host behind fabric
)

// rpfConfig is a compute host with tenant A's workloads a (100.64.0.1)
// and a2 (100.64.0.3), tenant B's b (100.64.0.1), a flat-space workload
// (w1's addresses) and two uplinks. Through "fabric" (fe80::b) the core
// routes tenant A's and B's 100.64.0.0/24 and the flat 2001:db8:300::/64;
// through "fabric2" (fe80::c) tenant A's 100.65.0.0/24 and the connected
// 2001:db8:200::/64; tenant B's 192.0.2.0/24 is a border exit that
// translates into space 8. Tenant A's 100.66.0.0/24 has no route.
func rpfConfig(t *testing.T, mode RPFMode) Config {
	t.Helper()
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}})
	if err != nil {
		t.Fatalf("xlat.New: %v", err)
	}
	ct, err := nat.New(nat.Config{Capacity: 256, Clock: &nat.ManualClock{}, Seed: 3})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	in := func(id uint16, a string, bits int) netip.Prefix {
		return netip.PrefixFrom(core6(id, netip.MustParseAddr(a)), 96+bits)
	}
	return Config{
		Ports: []PortConfig{
			{Name: "a", Role: RoleWorkload},
			{Name: "a2", Role: RoleWorkload},
			{Name: "b", Role: RoleWorkload},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(macUpA)},
			{Name: "fabric2", Ifindex: 3, Role: RoleUplink, MAC: mac6(macUpA2)},
			{Name: "w1", Role: RoleWorkload},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a", Port: rpfA, MAC: mac6(macTA), Addrs: []netip.Addr{addrHere}, Space: tenantA},
			{Name: "a2", Port: rpfA2, MAC: mac6(macA2), Addrs: []netip.Addr{rpfA2Addr}, Space: tenantA},
			{Name: "b", Port: rpfB, MAC: mac6(macTB), Addrs: []netip.Addr{addrHere}, Space: tenantB},
			{Name: "w1", Port: rpfFlat, MAC: mac6(macW1), Addrs: []netip.Addr{w1v4, w1v6}},
		},
		Routes: []RouteConfig{
			{Prefix: in(tenantA, "100.64.0.0", 24), Port: rpfFabric, Gateway: llB},
			{Prefix: in(tenantB, "100.64.0.0", 24), Port: rpfFabric, Gateway: llB},
			{Prefix: netip.MustParsePrefix("2001:db8:300::/64"), Port: rpfFabric, Gateway: llB},
			{Prefix: in(tenantA, "100.65.0.0", 24), Port: rpfFabric2, Gateway: llC},
			{Prefix: netip.MustParsePrefix("2001:db8:200::/64"), Port: rpfFabric2},
			{Prefix: in(tenantB, "192.0.2.0", 24), Translate: true, TranslateSpace: tenantB},
		},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		NAT:         ct,
		Xlat:        tr,
		RPF:         mode,
	}
}

var (
	macA2       = mac(0x02, 0x73)
	rpfNeigh    = []neigh.Entry{{Ifindex: 2, Addr: llB, MAC: mac6(macUpB)}, {Ifindex: 3, Addr: llC, MAC: mac6(macUpC)}}
	rpfUplinkTo = map[int]struct{ src, dst []byte }{
		rpfFabric:  {macUpB, macUpA},
		rpfFabric2: {macUpC, macUpA2},
	}
)

func TestReversePath(t *testing.T) {
	a7 := func(s string) netip.Addr { return core6(tenantA, netip.MustParseAddr(s)) }
	b8 := func(s string) netip.Addr { return core6(tenantB, netip.MustParseAddr(s)) }
	toA, toB := a7("100.64.0.1"), b8("100.64.0.1")
	tests := []struct {
		name     string
		mode     RPFMode
		in       int
		src, dst netip.Addr
		ttl      uint8 // zero: the spec's default
		want     outcome
		detail   string // a step of the trace says it
	}{
		{name: "legit source through its uplink", in: rpfFabric, src: a7("100.64.0.2"), dst: toA,
			want:   outcome{"forward", "", "a"},
			detail: "reverse path: source 64:ff9b:1:7::6440:2 is routed back via 64:ff9b:1:7::6440:0/120: gateway fe80::b out of port fabric, the uplink it came in on"},
		{name: "legit source through the other uplink", in: rpfFabric2, src: a7("100.64.0.2"), dst: toA,
			want:   outcome{"drop", "rpf", ""},
			detail: "source 64:ff9b:1:7::6440:2 is routed back via 64:ff9b:1:7::6440:0/120: gateway fe80::b out of port fabric, not out of fabric2 where it came in"},
		{name: "source behind the second uplink", in: rpfFabric2, src: a7("100.65.0.9"), dst: toA,
			want: outcome{"forward", "", "a"}, detail: "gateway fe80::c out of port fabric2, the uplink it came in on"},
		{name: "source behind the second uplink, through the first", in: rpfFabric, src: a7("100.65.0.9"), dst: toA,
			want: outcome{"drop", "rpf", ""}, detail: "not out of fabric where it came in"},
		{name: "other tenant's legit source", in: rpfFabric, src: b8("100.64.0.2"), dst: toB,
			want: outcome{"forward", "", "b"}},
		{name: "spoofing a local workload of the tenant", in: rpfFabric, src: a7("100.64.0.3"), dst: toA,
			want:   outcome{"drop", "rpf", ""},
			detail: "source 64:ff9b:1:7::6440:3 is local endpoint a2's (via 64:ff9b:1:7::6440:3/128): a packet from the core cannot come from a workload of this host"},
		{name: "spoofing the destination itself", in: rpfFabric, src: toA, dst: toA,
			want: outcome{"drop", "rpf", ""}, detail: "is local endpoint a's"},
		{name: "no route back", in: rpfFabric, src: a7("100.66.0.9"), dst: toA,
			want: outcome{"drop", "rpf", ""}, detail: "no route back to source 64:ff9b:1:7::6442:9 in the core"},
		{name: "source in a border exit", in: rpfFabric, src: b8("192.0.2.7"), dst: toB,
			want: outcome{"drop", "rpf", ""}, detail: "is routed via 64:ff9b:1:8::c000:200/120: translate 6->4 into space 8 (translated), not back out of an uplink"},
		{name: "into a border exit from a legit source", in: rpfFabric, src: b8("100.64.0.2"), dst: b8("192.0.2.7"),
			want: outcome{"drop", "no-route", ""}, detail: "the uplink it came in on"}, // past the check; space 8 has no route to 192.0.2.7
		{name: "into a border exit from the wrong uplink", in: rpfFabric2, src: b8("100.64.0.2"), dst: b8("192.0.2.7"),
			want: outcome{"drop", "rpf", ""}},
		// The reverse path is checked before the hop limit: a spoofed
		// packet is not answered (a Time Exceeded would reflect it).
		{name: "spoofed source with hop limit 1", in: rpfFabric, src: a7("100.66.0.9"), dst: toA, ttl: 1,
			want: outcome{"drop", "rpf", ""}},
		{name: "legit source with hop limit 1", in: rpfFabric, src: a7("100.64.0.2"), dst: toA, ttl: 1,
			want: outcome{"answer", "ttl-exceeded", "fabric"}, detail: "hop limit 1: time exceeded"},
		// Untranslated IPv6 is not checked: anything routes as before.
		{name: "flat space, source routed elsewhere", in: rpfFabric2, src: flatPeer, dst: w1v6,
			want: outcome{"forward", "", "w1"}, detail: "uplink: no endpoint to check the source against"},
		{name: "flat space, no route back", in: rpfFabric, src: netip.MustParseAddr("2001:db8:999::1"), dst: w1v6,
			want: outcome{"forward", "", "w1"}},
		// Off: the core is trusted.
		{name: "off: the other uplink", mode: RPFOff, in: rpfFabric2, src: a7("100.64.0.2"), dst: toA,
			want: outcome{"forward", "", "a"}, detail: "reverse path of 64:ff9b:1:7::6440:2 not checked (rpf off)"},
		{name: "off: a local workload's address", mode: RPFOff, in: rpfFabric, src: a7("100.64.0.3"), dst: toA,
			want: outcome{"forward", "", "a"}},
		{name: "off: no route back", mode: RPFOff, in: rpfFabric, src: a7("100.66.0.9"), dst: toA,
			want: outcome{"forward", "", "a"}},
		{name: "off: source in a border exit", mode: RPFOff, in: rpfFabric, src: b8("192.0.2.7"), dst: toB,
			want: outcome{"forward", "", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rpfConfig(t, tc.mode)
			h := newHost(t, c, rpfNeigh)
			macs := rpfUplinkTo[tc.in]
			p := spec{srcMAC: macs.src, dstMAC: macs.dst, src: tc.src, dst: tc.dst, ttl: tc.ttl, proto: "udp", sport: 4000, dport: 53, payload: []byte("rpf")}
			f := p.frame(t)
			res := h.tables.Load().Trace(tc.in, f, h.neigh.Table)
			got := workerDid(h, c, tc.in, f)
			if got != tc.want {
				t.Errorf("the worker did %+v, want %+v (drops %v)\n%s", got, tc.want, nonZero(h.stats()), res)
			}
			if tr := (outcome{res.Verdict, res.Reason, res.Egress}); tr != got {
				t.Errorf("trace says %+v, the worker did %+v\n%s", tr, got, res)
			}
			if tc.detail != "" && !strings.Contains(res.String(), tc.detail) {
				t.Errorf("no step says %q:\n%s", tc.detail, res)
			}
			if tc.want.reason == "rpf" {
				// Refused without a word: nothing left any port.
				for port := range h.ports {
					if n := len(h.out(port)); n != 0 {
						t.Errorf("port %s sent %d frames for a refused source", c.Ports[port].Name, n)
					}
				}
				if st := h.stats(); st.ICMP != [NumICMP]uint64{} || st.Drops[ReasonRPF] != 1 || ReasonRPF.Stage() != StageAntiSpoof {
					t.Errorf("ICMP %v, drops %v: want one rpf drop (anti-spoof) and no ICMP", st.ICMP, nonZero(st))
				}
			}
		})
	}
}

// TestReversePathDelivers: a legit source's packet reaches the tenant
// workload as IPv4, exactly as without the check.
func TestReversePathDelivers(t *testing.T) {
	for _, mode := range []RPFMode{RPFFeasible, RPFOff} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHost(t, rpfConfig(t, mode), rpfNeigh)
			in := spec{srcMAC: macUpB, dstMAC: macUpA, src: core6(tenantA, addrThere), dst: core6(tenantA, addrHere), proto: "udp", sport: 4000, dport: 53, payload: []byte("rpf")}
			h.send(rpfFabric, in.frame(t))
			got := h.out(rpfA)
			if len(got) != 1 {
				t.Fatalf("workload a got %d frames, want 1 (drops %v)", len(got), nonZero(h.stats()))
			}
			want := spec{srcMAC: gwMAC, dstMAC: macTA, src: addrThere, dst: addrHere, ttl: 63, proto: "udp", sport: 4000, dport: 53, payload: []byte("rpf"), ipid: ipID(got[0])}
			expectFrames(t, "workload a", got, want.wire(t))
		})
	}
}

func TestRPFMode(t *testing.T) {
	c := rpfConfig(t, RPFOff+1)
	if _, err := NewTables(c); err == nil || !strings.Contains(err.Error(), "fwd: RPF: unknown mode 2") {
		t.Errorf("NewTables(RPF: 2) = %v, want an error naming RPF", err)
	}
	if RPFFeasible.String() != "feasible" || RPFOff.String() != "off" || ReasonRPF.String() != "rpf" {
		t.Errorf("names: %v %v %v", RPFFeasible, RPFOff, ReasonRPF)
	}
}
