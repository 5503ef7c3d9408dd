package acl_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/acl/classbench"
)

// benchSets are the shipped ClassBench sets; setup is shared across
// sub-benchmarks so -benchtime 1x stays quick.
var benchSets = []string{"acl1_1k", "fw1_1k", "ipc1_1k",
	"acl1_10k", "acl2_10k", "acl3_10k", "acl4_10k", "acl5_10k",
	"fw1_10k", "fw2_10k", "fw3_10k", "fw4_10k", "fw5_10k", "ipc1_10k", "ipc2_10k"}

type benchData struct {
	rules []acl.Rule
	c     *acl.Classifier
	lin   *acl.Linear
	keys  []acl.PacketKey
	nkeys []acl.Key
}

var (
	benchOnce  = map[string]*sync.Once{}
	benchCache = map[string]*benchData{}
	benchMu    sync.Mutex
)

func loadBench(b *testing.B, name string) *benchData {
	benchMu.Lock()
	once := benchOnce[name]
	if once == nil {
		once = new(sync.Once)
		benchOnce[name] = once
	}
	benchMu.Unlock()
	once.Do(func() {
		f, err := os.Open("testdata/classbench/" + name)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rules, err := classbench.Parse(f)
		if err != nil {
			b.Fatal(err)
		}
		d := &benchData{rules: rules}
		if d.c, err = acl.Compile(rules); err != nil {
			b.Fatal(err)
		}
		d.lin, _ = acl.NewLinear(rules)
		for _, h := range classbench.Generate(rules, 10, rand.New(rand.NewPCG(1, 2))) {
			d.keys = append(d.keys, h.PacketKey())
			d.nkeys = append(d.nkeys, h.Key())
		}
		benchMu.Lock()
		benchCache[name] = d
		benchMu.Unlock()
	})
	benchMu.Lock()
	defer benchMu.Unlock()
	return benchCache[name]
}

// BenchmarkClassBench compares the classifier with the linear scan on
// generated headers (10 per rule: corners and random interior points).
func BenchmarkClassBench(b *testing.B) {
	for _, name := range benchSets {
		b.Run(name+"/gannet", func(b *testing.B) {
			d := loadBench(b, name)
			b.ReportAllocs()
			n := len(d.keys)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d.c.MatchPacket(&d.keys[i%n])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
		b.Run(name+"/gannet-batch64", func(b *testing.B) {
			d := loadBench(b, name)
			b.ReportAllocs()
			var out [64]int32
			batches := len(d.keys) / 64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				j := i % batches * 64
				d.c.MatchBatch(d.keys[j:j+64], out[:])
			}
			b.ReportMetric(float64(b.N)*64/b.Elapsed().Seconds(), "lookups/s")
		})
		b.Run(name+"/linear", func(b *testing.B) {
			d := loadBench(b, name)
			b.ReportAllocs()
			n := len(d.nkeys)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d.lin.Match(&d.nkeys[i%n])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// BenchmarkCompile reports compile time and the classifier's memory.
func BenchmarkCompile(b *testing.B) {
	for _, name := range benchSets {
		b.Run(name, func(b *testing.B) {
			d := loadBench(b, name)
			var st acl.Stats
			var heap uint64
			b.ResetTimer()
			for b.Loop() {
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				c, err := acl.Compile(d.rules)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				st, heap = c.Stats(), m1.HeapAlloc-min(m1.HeapAlloc, m0.HeapAlloc)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(float64(st.Bytes)/(1<<20), "table-MiB")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(st.Depth), "depth")
		})
	}
}

// BenchmarkPolicyCheck measures a new connection's policy decision for an
// endpoint selected by 20 policies of 5 rules each.
func BenchmarkPolicyCheck(b *testing.B) {
	set := &acl.PolicySet{Profiles: []acl.Profile{{Name: "open", Ingress: []acl.PolicyRule{{Action: acl.Allow}}}}}
	for i := range 8 {
		set.Endpoints = append(set.Endpoints, acl.Endpoint{Name: fmt.Sprintf("ep%d", i),
			Labels: map[string]string{"app": []string{"web", "db"}[i%2]}, Profiles: []string{"open"}})
		set.Endpoints[i].Addrs = append(set.Endpoints[i].Addrs, netipAddr(fmt.Sprintf("198.18.0.%d", i+1)))
	}
	for i := range 20 {
		p := acl.Policy{Name: fmt.Sprintf("p%02d", i), Selector: "app == 'web'"}
		for j := range 5 {
			p.Ingress = append(p.Ingress, acl.PolicyRule{Action: []acl.Action{acl.Allow, acl.Deny, acl.Log, acl.Allow, acl.Allow}[j],
				Protocol: "TCP", Source: acl.EntityMatch{Nets: []string{fmt.Sprintf("198.18.%d.0/24", i+1)}, NotNets: []string{fmt.Sprintf("198.18.%d.128/25", i+1)}},
				Destination: acl.EntityMatch{Ports: []string{fmt.Sprint(1000 + 10*i + j)}}})
		}
		set.Policies = append(set.Policies, p)
	}
	cp, err := acl.CompilePolicy(set)
	if err != nil {
		b.Fatal(err)
	}
	prog := cp.Endpoint("ep0").Ingress
	k := acl.KeyOf(&acl.Key{Src: netipAddr("198.18.20.7"), Dst: netipAddr("198.18.0.1"), SrcPort: 40000, DstPort: 1193, Proto: 6})
	b.ReportAllocs()
	t0 := time.Now()
	for b.Loop() {
		prog.Check(acl.ConnNew, &k)
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "checks/s")
}

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
