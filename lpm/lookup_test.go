package lpm

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// smallTable is a tenant-sized table: a default route, some aggregates and
// /32 and /128 workloads in both families.
func smallTable(tb testing.TB) (*Table, []uint32, [][2]uint64) {
	tbl := New()
	r := rand.New(rand.NewPCG(5, 5))
	for _, p := range []string{"0.0.0.0/0", "198.18.0.0/15", "100.64.0.0/10", "::/0", "2001:db8::/32", "64:ff9b:1::/48"} {
		if err := tbl.Insert(pfx(p), uint32(r.IntN(16))); err != nil {
			tb.Fatal(err)
		}
	}
	var k4 []uint32
	var k6 [][2]uint64
	for range 1000 {
		a4 := netip.AddrFrom4([4]byte{198, 18 + byte(r.IntN(2)), byte(r.Uint32()), byte(r.Uint32())})
		b := addr("2001:db8::").As16()
		for i := 4; i < 16; i++ {
			b[i] = byte(r.Uint32())
		}
		a6 := netip.AddrFrom16(b)
		tbl.Insert(netip.PrefixFrom(a4, 32), uint32(r.IntN(16)))
		tbl.Insert(netip.PrefixFrom(a6, 128), uint32(r.IntN(16)))
		b4 := a4.As4()
		k4 = append(k4, uint32(b4[0])<<24|uint32(b4[1])<<16|uint32(b4[2])<<8|uint32(b4[3]))
		hi, lo := key6(b)
		k6 = append(k6, [2]uint64{hi, lo})
	}
	return tbl, k4, k6
}

func TestLookupsDoNotAllocate(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			withForm(t, form.min)
			lookupsDoNotAllocate(t)
		})
	}
}

func lookupsDoNotAllocate(t *testing.T) {
	tbl, k4, k6 := smallTable(t)
	var nhs [BatchSize]uint32
	his, los := make([]uint64, BatchSize), make([]uint64, BatchSize)
	for i := range his {
		his[i], los[i] = k6[i][0], k6[i][1]
	}
	a4, a6 := addr("198.18.3.4"), addr("2001:db8::1")
	tests := []struct {
		name string
		f    func()
	}{
		{"Lookup4", func() { tbl.Lookup4(k4[7]) }},
		{"Lookup6", func() { tbl.Lookup6(k6[7][0], k6[7][1]) }},
		{"Lookup v4", func() { tbl.Lookup(a4) }},
		{"Lookup v6", func() { tbl.Lookup(a6) }},
		{"LookupBatch4", func() { tbl.LookupBatch4(k4[:BatchSize], nhs[:]) }},
		{"LookupBatch6", func() { tbl.LookupBatch6(his, los, nhs[:]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != 0 {
				t.Errorf("%s allocates %v times per run, want 0", tc.name, n)
			}
		})
	}
}

func BenchmarkSmallTable(b *testing.B) {
	tbl, k4, k6 := smallTable(b)
	b.Run("Lookup4", func(b *testing.B) {
		b.ReportAllocs()
		var sum uint32
		for i := 0; b.Loop(); i++ {
			nh, _ := tbl.Lookup4(k4[i%len(k4)])
			sum += nh
		}
	})
	b.Run("Lookup6", func(b *testing.B) {
		b.ReportAllocs()
		var sum uint32
		for i := 0; b.Loop(); i++ {
			k := k6[i%len(k6)]
			nh, _ := tbl.Lookup6(k[0], k[1])
			sum += nh
		}
	})
	b.Run("LookupBatch4", func(b *testing.B) {
		b.ReportAllocs()
		var nhs [BatchSize]uint32
		for i := 0; b.Loop(); i++ {
			off := i * BatchSize % (len(k4) - BatchSize)
			tbl.LookupBatch4(k4[off:off+BatchSize], nhs[:])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/key")
	})
	b.Run("InsertDelete", func(b *testing.B) {
		b.ReportAllocs()
		p := pfx("203.0.113.0/24")
		for b.Loop() {
			tbl.Insert(p, 1)
			tbl.Delete(p)
		}
	})
}
