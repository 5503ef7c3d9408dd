package fwd

// BenchmarkPipeline: whole batches through a worker with a full Internet
// table (perf/lpmbench's embedded table) in space 0, a workload endpoint
// whose egress program holds 1k ClassBench-derived rules, and (in the
// conntrack variant) a nat table where every packet is an established,
// source-NATed flow. ns/pkt covers Inject (the copy a copy-mode socket
// makes), parse, the pipeline, the rewrite and Drain's completion.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/acl/classbench"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/perf/lpmbench"
	"github.com/gannet-net/gannet/pkt"
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
	ep.egress, ep.egHits = egress, nil
	if egress != nil {
		ep.egHits = NewRuleHits(egress, 1)
	}
	t.ports[0].ep = &ep
	t.nat = ct
	return &t
}

func BenchmarkPipeline(b *testing.B) {
	loadBench(b)
	e := &benchEnv
	const flows = 1024
	snat := func(b *testing.B, flows int) *nat.Table {
		ct, err := nat.New(nat.Config{Capacity: max(1<<16, flows+flows/8), Seed: 1})
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
		flows  int
	}{
		{"route", false, false, flows},                       // parse, full-table route, neighbour, rewrite
		{"route+policy1k", true, false, flows},               // + 1k-rule egress program on every packet (stateless)
		{"route+policy1k+conntrack-snat", true, true, flows}, // + established conntrack hit and SNAT rewrite (policy skipped: stateful)
		// The same with a million established flows: the connection
		// table no longer fits the caches.
		{"route+policy1k+conntrack-snat-1M", true, true, 1 << 20},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var pol *acl.Program
			if tc.egress {
				pol = e.policy
			}
			var ct *nat.Table
			if tc.nat {
				ct = snat(b, tc.flows)
			}
			h := newHost(b, twoWorkloads(), peerNeigh)
			h.tables.Store(variant(e.tables, pol, ct))
			frames := benchFrames(b, tc.flows)
			p := h.ports[0]
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames.frame((off + j) % tc.flows))
				}
				h.w.Step()
				h.ports[2].Drain(nil)
			}
			runBatches(b, h, tc.flows, batch)
		})
	}
	b.Logf("%d routes, %d policy rules, %d flows (1M in the -1M variant)", e.routes, e.rules, flows)
}

// flowFrames holds n UDP frames from W1, one per flow, in one slab: flow i
// goes to the destination i%len(dsts) from source port 10000+i/len(dsts).
type flowFrames struct {
	slab []byte
	size int
}

func (f *flowFrames) frame(i int) []byte { return f.slab[i*f.size : (i+1)*f.size] }

var benchFlows struct {
	mu  sync.Mutex
	byN map[int]*flowFrames
}

// benchFrames returns the frames of n flows, made once per n by patching
// one gopacket-built frame (destination, source port, header checksum;
// the UDP checksum is left as it was, as nothing on the path checks it).
func benchFrames(b *testing.B, n int) *flowFrames {
	e := &benchEnv
	benchFlows.mu.Lock()
	defer benchFlows.mu.Unlock()
	if f := benchFlows.byN[n]; f != nil {
		return f
	}
	tmpl := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: e.dsts[0], proto: "udp", sport: 10000, dport: 443, payload: make([]byte, 18)}.frame(b)
	f := &flowFrames{slab: make([]byte, n*len(tmpl)), size: len(tmpl)}
	for i := range n {
		fr := f.frame(i)
		copy(fr, tmpl)
		d := e.dsts[i%len(e.dsts)].As4()
		copy(fr[pkt.EthernetLen+16:], d[:])
		binary.BigEndian.PutUint16(fr[pkt.EthernetLen+20:], uint16(10000+i/len(e.dsts)))
		ip := pkt.IPv4(fr[pkt.EthernetLen:])
		ip.SetChecksum(ip.ComputeChecksum())
	}
	if benchFlows.byN == nil {
		benchFlows.byN = map[int]*flowFrames{}
	}
	benchFlows.byN[n] = f
	return f
}

// BenchmarkECMP: 1024 UDP flows from a workload through a learned route
// with one gateway, and through the same route as a four-way ECMP group
// (flow hash and member pick per packet); ns/pkt as BenchmarkPipeline's.
// The -ipv6 cases are the same IPv4 flows by IPv6 gateways (RFC 8950):
// the neighbour lookup is keyed by the gateway, whatever its family.
func BenchmarkECMP(b *testing.B) {
	c := ecmpConfig()
	c.Ports = append(c.Ports, PortConfig{Name: "up4", Ifindex: 16, Role: RoleUplink, MAC: mac6(mac(0x02, 0x13)), MTU: 1500})
	gw4 := append(slices.Clone(ecmpGw4), netip.MustParseAddr("198.51.103.1"))
	nb := append(slices.Clone(ecmpNeigh), neigh.Entry{Ifindex: 16, Addr: gw4[3], MAC: mac6(mac(0x02, 0x23))})
	const flows = 1024
	rng := rand.New(rand.NewPCG(31, 32))
	var frames [][]byte
	for range flows {
		f := randomFlow(rng)
		f.src, f.dst, f.proto = w1v4, netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))}), "udp"
		f.payload = make([]byte, 18)
		frames = append(frames, f.frame(b))
	}
	for _, tc := range []struct {
		name string
		hop  LearnedHop
	}{
		{"gateway", ecmpHop(gw4, 1)},
		{"ecmp-4", ecmpHop(gw4, 4)},
		{"gateway-ipv6", ecmpHop(ecmpGw6, 1)},
		{"ecmp-3-ipv6", ecmpHop(ecmpGw6, 3)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHost(b, c, nb)
			if err := h.tables.Load().Learn(0, ecmpNet4, tc.hop); err != nil {
				b.Fatal(err)
			}
			p := h.ports[0]
			batch := func(off int) {
				for j := range BatchSize {
					p.Inject(frames[(off+j)%flows])
				}
				h.w.Step()
				for _, q := range h.ports[2:] {
					q.Drain(nil)
				}
			}
			batch(0)
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
			b.ReportMetric(pkts/b.Elapsed().Seconds(), "pkt/s")
			b.ReportMetric(0, "ns/op")
			if st := h.stats(); st.Forwarded-before.Forwarded != uint64(n*BatchSize) {
				b.Fatalf("forwarded %d of %d packets (drops %v)", st.Forwarded-before.Forwarded, n*BatchSize, nonZero(st))
			}
		})
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// runBatches times batch — one batch of BatchSize frames from flow off on
// — after a warm-up round over every flow (sessions exist), reports
// ns/pkt and allocations, and fails unless every packet was forwarded.
func runBatches(b *testing.B, h *host, flows int, batch func(off int)) {
	b.Helper()
	for off := 0; off < flows; off += BatchSize {
		batch(off)
	}
	before := h.stats()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	off, n := 0, 0
	for b.Loop() {
		batch(off)
		off += BatchSize
		n++
	}
	b.StopTimer()
	pkts := float64(n * BatchSize)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/pkt")
	// CPU time, besides the wall clock: on a shared machine the wall
	// clock counts the time others had the CPU.
	b.ReportMetric(float64(cpuTime()-cpu0)/pkts, "cpu-ns/pkt")
	b.ReportMetric(0, "ns/op")
	st := h.stats()
	if fwd := st.Forwarded - before.Forwarded; fwd != uint64(n*BatchSize) {
		b.Fatalf("forwarded %d of %d packets (drops %v)", fwd, n*BatchSize, nonZero(st))
	}
}
