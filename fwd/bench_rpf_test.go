package fwd

// BenchmarkPipelineXlatIn: whole batches from the IPv6 core into a
// translated space (6->4 and delivery to a local tenant workload), the
// path the reverse-path check of translated sources runs on, with a full
// Internet table in the core (space 0) so that the source's lookup walks
// a real table. Sources are 1024 remote tenant addresses inside
// 64:ff9b:1:7::/96, whose route (64:ff9b:1::/48) leaves by the uplink
// they come in on: the check passes every packet, and the rpf-off
// variants show what it costs.

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/perf/lpmbench"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

var xlatBench struct {
	once     sync.Once
	err      error
	prefixes []netip.Prefix
}

// xlatBenchConfig is tenantConfig's host with the full table in the core via
// the fabric uplink, with or without its connection table.
func xlatBenchConfig(b *testing.B, conntrack bool) Config {
	b.Helper()
	e := &xlatBench
	e.once.Do(func() { e.prefixes, e.err = lpmbench.Default() })
	if e.err != nil {
		b.Fatalf("bench setup: %v", e.err)
	}
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}})
	if err != nil {
		b.Fatalf("xlat.New: %v", err)
	}
	c := Config{
		Ports: []PortConfig{
			{Name: "tenant-a", Role: RoleWorkload},
			{Name: "tenant-b", Role: RoleWorkload},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(macUpA)},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a", Port: 0, MAC: mac6(macTA), Addrs: []netip.Addr{addrHere}, Space: tenantA},
			{Name: "b", Port: 1, MAC: mac6(macTB), Addrs: []netip.Addr{addrHere}, Space: tenantB},
		},
		Routes:      []RouteConfig{{Prefix: netip.MustParsePrefix("64:ff9b:1::/48"), Port: 2, Gateway: llB}},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		Xlat:        tr,
	}
	if conntrack {
		ct, err := nat.New(nat.Config{Capacity: 1 << 12, Seed: 3})
		if err != nil {
			b.Fatalf("nat.New: %v", err)
		}
		c.NAT = ct
	}
	gw4 := netip.MustParseAddr("198.51.100.1")
	for _, p := range e.prefixes {
		gw := llB
		if p.Addr().Is4() {
			gw = gw4
		}
		c.Routes = append(c.Routes, RouteConfig{Prefix: p, Port: 2, Gateway: gw})
	}
	return c
}

func BenchmarkPipelineXlatIn(b *testing.B) {
	const flows = 1024
	cases := []struct {
		name      string
		conntrack bool
		vary      func(*Config)
	}{
		{"core-to-tenant", false, nil},
		{"core-to-tenant+conntrack", true, nil},
		// The same without the reverse-path check (dataplane.rpf: off).
		{"core-to-tenant+rpf-off", false, func(c *Config) { c.RPF = RPFOff }},
		{"core-to-tenant+conntrack+rpf-off", true, func(c *Config) { c.RPF = RPFOff }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := xlatBenchConfig(b, tc.conntrack)
			if tc.vary != nil {
				tc.vary(&c)
			}
			h := newHost(b, c, append(tenantNeigh, neigh.Entry{Ifindex: 2, Addr: netip.MustParseAddr("198.51.100.1"), MAC: mac6(macUpB)}))
			frames := make([][]byte, flows)
			for i := range frames {
				src := core6(tenantA, netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)}))
				frames[i] = spec{srcMAC: macUpB, dstMAC: macUpA, src: src, dst: core6(tenantA, addrHere), proto: "udp",
					sport: 10000, dport: 443, payload: make([]byte, 18)}.frame(b)
			}
			p := h.ports[2]
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames[(off+j)%flows])
				}
				h.w.Step()
				h.ports[0].Drain(nil)
			}
			runBatches(b, h, flows, batch)
		})
	}
}

// BenchmarkFeasible is the check alone: the source's lookup in the core
// table (the full Internet table plus the tenants' routes) and the
// comparison, for sources of the benchmark above (one route, hot in the
// caches) and for sources spread over the table's IPv6 routes (each a
// walk of its own, as a core of many senders would have).
func BenchmarkFeasible(b *testing.B) {
	c := xlatBenchConfig(b, false)
	tab, err := NewTables(c)
	if err != nil {
		b.Fatal(err)
	}
	tenant := make([]pkt.Summary, 1024)
	for i := range tenant {
		tenant[i].Src = core6(tenantA, netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)})).As16()
	}
	wl := lpmbench.NewWorkload(xlatBench.prefixes, 1, 4096)
	spread := make([]pkt.Summary, len(wl.Keys6))
	for i, k := range wl.Keys6 {
		binary.BigEndian.PutUint64(spread[i].Src[:8], k[0])
		binary.BigEndian.PutUint64(spread[i].Src[8:], k[1])
	}
	for _, tc := range []struct {
		name string
		sums []pkt.Summary
	}{{"tenant-sources", tenant}, {"spread-sources", spread}} {
		b.Run(tc.name, func(b *testing.B) {
			n, pass := 0, 0
			for b.Loop() {
				if _, ok := feasible(tab, 2, &tc.sums[n%len(tc.sums)]); ok {
					pass++
				}
				n++
			}
			if pass != n {
				b.Fatalf("%d of %d sources passed, want all (routed via port 2)", pass, n)
			}
		})
	}
}

// BenchmarkPipelineXlatOut is the other direction: IPv4 from a tenant
// workload to 1024 destinations across the core, translated 4->6 (the
// core route found for the translated destination gives the MTU the
// translator is given) and routed in the core table with the full
// Internet table in it.
func BenchmarkPipelineXlatOut(b *testing.B) {
	const flows = 1024
	for _, conntrack := range []bool{false, true} {
		name := "tenant-to-core"
		if conntrack {
			name += "+conntrack"
		}
		b.Run(name, func(b *testing.B) {
			h := newHost(b, xlatBenchConfig(b, conntrack), append(tenantNeigh, neigh.Entry{Ifindex: 2, Addr: netip.MustParseAddr("198.51.100.1"), MAC: mac6(macUpB)}))
			frames := make([][]byte, flows)
			for i := range frames {
				dst := netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)})
				frames[i] = spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: dst, proto: "udp",
					sport: 10000, dport: 443, payload: make([]byte, 18)}.frame(b)
			}
			p := h.ports[0]
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames[(off+j)%flows])
				}
				h.w.Step()
				h.ports[2].Drain(nil)
			}
			runBatches(b, h, flows, batch)
		})
	}
}
