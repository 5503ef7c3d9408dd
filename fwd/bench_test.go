package fwd

// BenchmarkPipeline: whole batches through a worker with a full Internet
// table (perf/lpmbench's embedded table) in space 0, a workload endpoint
// whose egress program holds 1k ClassBench-derived rules, and (in the
// conntrack variant) a nat table where every packet is an established,
// source-NATed flow. ns/pkt covers Inject (the copy a copy-mode socket
// makes), parse, the pipeline, the rewrite and Drain's completion.

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/acl/classbench"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

var benchEnv struct {
	once   sync.Once
	err    error
	tables *Tables // full table, no policy, no nat
	policy *acl.Program
	dsts   []netip.Addr // IPv4 destinations inside random routes
	rules  int
	routes int
}

func loadBench(b *testing.B) {
	b.Helper()
	e := &benchEnv
	e.once.Do(func() {
		ps, err := lpmbench.Default()
		if err != nil {
			e.err = err
			return
		}
		c := twoWorkloads()
		c.Routes = c.Routes[:0]
		gw4, gw6 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("fe80::20")
		for _, p := range ps {
			gw := gw4
			if p.Addr().Is6() {
				gw = gw6
			}
			c.Routes = append(c.Routes, RouteConfig{Prefix: p, Port: 2, Gateway: gw})
		}
		if e.tables, e.err = NewTables(c); e.err != nil {
			return
		}
		e.routes = len(ps)
		wl := lpmbench.NewWorkload(ps, 1, 4096)
		for _, k := range wl.Keys4 {
			e.dsts = append(e.dsts, netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}))
		}
		e.policy, e.rules, e.err = classbenchPolicy("../acl/testdata/classbench/acl1_1k")
	})
	if e.err != nil {
		b.Fatalf("bench setup: %v", e.err)
	}
}

// classbenchPolicy turns a ClassBench file into one Calico policy of
// Allow rules (nets, ports, protocol; port ranges without a TCP/UDP
// protocol are made TCP rules, as Calico wants a protocol for ports),
// ending in an Allow-all, and compiles it as w1's egress program.
func classbenchPolicy(path string) (*acl.Program, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	rules, err := classbench.Parse(f)
	if err != nil {
		return nil, 0, err
	}
	var prs []acl.PolicyRule
	for _, r := range rules {
		pr := acl.PolicyRule{Action: acl.Allow}
		if r.Src.IsValid() {
			pr.Source.Nets = []string{r.Src.String()}
		}
		if r.Dst.IsValid() {
			pr.Destination.Nets = []string{r.Dst.String()}
		}
		if r.ProtoMask == 0xff {
			pr.Protocol = fmt.Sprint(r.Proto)
		}
		ports := r.SrcPorts != acl.AnyPort || r.DstPorts != acl.AnyPort
		if ports && (r.ProtoMask != 0xff || r.Proto != 6 && r.Proto != 17) {
			pr.Protocol = "TCP"
		}
		if r.SrcPorts != acl.AnyPort {
			pr.Source.Ports = []string{fmt.Sprintf("%d:%d", r.SrcPorts.Lo, r.SrcPorts.Hi)}
		}
		if r.DstPorts != acl.AnyPort {
			pr.Destination.Ports = []string{fmt.Sprintf("%d:%d", r.DstPorts.Lo, r.DstPorts.Hi)}
		}
		prs = append(prs, pr)
	}
	prs = append(prs, acl.PolicyRule{Action: acl.Allow})
	cp, err := acl.CompilePolicy(&acl.PolicySet{
		Policies:  []acl.Policy{{Name: "classbench", Selector: "all()", Types: []acl.PolicyType{acl.Egress}, Egress: prs}},
		Endpoints: []acl.Endpoint{{Name: "w1", Addrs: []netip.Addr{w1v4}}},
	})
	if err != nil {
		return nil, 0, err
	}
	return cp.Endpoint("w1").Egress, len(prs), nil
}

// variant copies the shared tables with w1's egress program and a nat
// table of its own.
func variant(base *Tables, egress *acl.Program, ct *nat.Table) *Tables {
	t := *base
	t.ports = append([]portEntry(nil), base.ports...)
	ep := *t.ports[0].ep
	ep.egress = egress
	t.ports[0].ep = &ep
	t.nat = ct
	return &t
}

func BenchmarkPipeline(b *testing.B) {
	loadBench(b)
	e := &benchEnv
	const flows = 1024
	snat := func(b *testing.B) *nat.Table {
		ct, err := nat.New(nat.Config{Capacity: 1 << 16, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := ct.SetPolicy(&nat.Policy{
			Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
			External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.100/32")}},
		}); err != nil {
			b.Fatal(err)
		}
		return ct
	}
	cases := []struct {
		name   string
		egress bool
		nat    bool
	}{
		{"route", false, false},                       // parse, full-table route, neighbour, rewrite
		{"route+policy1k", true, false},               // + 1k-rule egress program on every packet (stateless)
		{"route+policy1k+conntrack-snat", true, true}, // + established conntrack hit and SNAT rewrite (policy skipped: stateful)
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var pol *acl.Program
			if tc.egress {
				pol = e.policy
			}
			var ct *nat.Table
			if tc.nat {
				ct = snat(b)
			}
			h := newHost(b, twoWorkloads(), peerNeigh)
			h.tables.Store(variant(e.tables, pol, ct))
			frames := make([][]byte, flows)
			for i := range frames {
				frames[i] = spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: e.dsts[i%len(e.dsts)], proto: "udp",
					sport: uint16(10000 + i), dport: 443, payload: make([]byte, 18)}.frame(b)
			}
			p := h.ports[0]
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames[(off+j)%flows])
				}
				h.w.Step()
				h.ports[2].Drain(nil)
			}
			for off := 0; off < flows; off += BatchSize { // warm up: sessions exist
				batch(off)
			}
			before := h.stats()
			b.ReportAllocs()
			b.ResetTimer()
			off, n := 0, 0
			for b.Loop() {
				batch(off)
				off += BatchSize
				n++
			}
			b.StopTimer()
			pkts := float64(n * BatchSize)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/pkt")
			b.ReportMetric(0, "ns/op")
			st := h.stats()
			if fwd := st.Forwarded - before.Forwarded; fwd != uint64(n*BatchSize) {
				b.Fatalf("forwarded %d of %d packets (drops %v)", fwd, n*BatchSize, nonZero(st))
			}
		})
	}
	b.Logf("%d routes, %d policy rules, %d flows", e.routes, e.rules, flows)
}
