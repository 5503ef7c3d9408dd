package lpmbench

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("198.18.0.0/15\n2001:db8::/32\n"))
	zw.Close()
	want := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name    string
		in      []byte
		want    []netip.Prefix
		wantErr string
	}{
		{"plain", []byte("198.18.0.0/15\n\n# comment\n2001:db8::/32\n"), want, ""},
		{"gzipped", gz.Bytes(), want, ""},
		{"host bits masked", []byte("198.18.3.4/15\n2001:db8::1/32"), want, ""},
		{"bad line", []byte("198.18.0.0/15\n198.18.0.0/33\n"), nil, "line 2"},
		{"not a prefix", []byte("hello\n"), nil, "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(bytes.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load() error = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Load() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultTable(t *testing.T) {
	ps, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var n4, n6 int
	for _, p := range ps {
		if p.Addr().Is4() {
			n4++
		} else {
			n6++
		}
	}
	if n4 < 900_000 || n6 < 160_000 {
		t.Errorf("Default() = %d IPv4, %d IPv6 prefixes, want about 902k and 160k", n4, n6)
	}
}

// TestSubjectsAgree checks that every subject answers every kernel alike on
// a slice of the full table, so the benchmark compares equal work.
func TestSubjectsAgree(t *testing.T) {
	ps, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	// Every 40th prefix of each family keeps the test quick under -race.
	var some []netip.Prefix
	for i := 0; i < len(ps); i += 40 {
		some = append(some, ps[i])
	}
	w := NewWorkload(some, 7, 1<<14)
	const n = 1 << 14
	var sums [][]uint32
	for _, s := range Subjects() {
		s.Build(w.Routes)
		sums = append(sums, []uint32{
			s.Addr4(w.Keys4, n), s.Lookup4(w.Keys4, n), s.Lookup4(w.Uniform4, n),
			s.Lookup6(w.Keys6, n), s.Batch4(w.Keys4, n), s.Batch6(w.Keys6, n),
		})
	}
	for i := 1; i < len(sums); i++ {
		if diff := cmp.Diff(sums[0], sums[i]); diff != "" {
			t.Errorf("checksums of %s vs %s differ (-want +got):\n%s", Subjects()[0].Name(), Subjects()[i].Name(), diff)
		}
	}
}

var (
	benchOnce sync.Once
	benchW    *Workload
	benchSubs []Subject
)

// setup loads the full table and builds every subject once for all the
// lookup benchmarks.
func setup(b *testing.B) (*Workload, []Subject) {
	benchOnce.Do(func() {
		ps, err := Default()
		if err != nil {
			b.Fatal(err)
		}
		benchW = NewWorkload(ps, 1, NumKeys)
		benchSubs = Subjects()
		for _, s := range benchSubs {
			s.Build(benchW.Routes)
		}
	})
	return benchW, benchSubs
}

// BenchmarkLPM is the side-by-side table of gannet bench lpm on the full
// Internet table: sub-benchmarks metric/subject, run in one process.
func BenchmarkLPM(b *testing.B) {
	w, subs := setup(b)
	lookups := []struct {
		name string
		run  func(s Subject, n int) uint32
	}{
		{"lookup4-routed", func(s Subject, n int) uint32 { return s.Lookup4(w.Keys4, n) }},
		{"lookup4-uniform", func(s Subject, n int) uint32 { return s.Lookup4(w.Uniform4, n) }},
		{"lookup6-routed", func(s Subject, n int) uint32 { return s.Lookup6(w.Keys6, n) }},
		{"netip4-routed", func(s Subject, n int) uint32 { return s.Addr4(w.Keys4, n) }},
		{"batch4-routed", func(s Subject, n int) uint32 { return s.Batch4(w.Keys4, n) }},
		{"batch6-routed", func(s Subject, n int) uint32 { return s.Batch6(w.Keys6, n) }},
	}
	for _, l := range lookups {
		for _, s := range subs {
			b.Run(l.name+"/"+s.Name(), func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				l.run(s, b.N)
			})
		}
	}
	for _, s := range subs {
		b.Run("build/"+s.Name(), func(b *testing.B) {
			fresh := map[string]Subject{"gannet": &Gannet{}, "bart.Fast": &BartFast{}}[s.Name()]
			fresh.Build(nil)
			var bytes uint64
			var took time.Duration
			for range b.N {
				fresh.Build(nil)
				d, n := BuildSized(fresh, w)
				took, bytes = took+d, n
			}
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/build")
			b.ReportMetric(float64(bytes)/(1<<20), "MiB/table")
		})
	}
	// Last: churn changes next hops in the shared tables.
	for _, s := range subs {
		b.Run("update/"+s.Name(), func(b *testing.B) {
			c := ChurnWhileLooking(s, w, b.N, 1)
			wall, cpu := c.Updates(b.N)
			b.ReportMetric(wall, "updates/s")
			b.ReportMetric(cpu, "updates/cpu-s")
			b.ReportMetric(float64(c.Looked)/c.Elapsed.Seconds(), "lookups/s")
		})
	}
}
