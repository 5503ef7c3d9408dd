package lpm_test

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gannet-net/gannet/lpm"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

// TestConcurrentFullTableReplay replays the full Internet table through one
// writer (insert all, then delete half) while readers look up. Each route's
// next hop is its prefix length, so a reader knows a lower bound for any
// address inside a route it knows is present: the longest match must be at
// least that long. A torn or half-done update shows up as a shorter match, a
// miss, or a value that is no prefix length.
func TestConcurrentFullTableReplay(t *testing.T) {
	ps, err := lpmbench.Default()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		ps = ps[:len(ps)/8]
	}
	r := rand.New(rand.NewPCG(3, 3))
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })

	tbl := lpm.New()
	var inserted atomic.Int64 // ps[:inserted] are in the table
	var deleting atomic.Bool  // from then on only ps[len/2:] are guaranteed
	var done atomic.Bool
	var checks atomic.Int64
	errs := make(chan string, 4)

	reader := func(seed uint64) {
		r := rand.New(rand.NewPCG(seed, 1))
		var keys [lpm.BatchSize]uint32
		var nhs [lpm.BatchSize]uint32
		var want [lpm.BatchSize]int
		for !done.Load() {
			lo, hi := 0, int(inserted.Load())
			if deleting.Load() {
				lo, hi = len(ps)/2, len(ps)
			}
			if hi == lo {
				continue
			}
			p := ps[lo+r.IntN(hi-lo)]
			a := randomIn(r, p)
			nh, ok := tbl.Lookup(a)
			if !ok || int(nh) < p.Bits() || int(nh) > a.BitLen() {
				errs <- a.String() + " inside present " + p.String() + ": match length " + itoa(nh, ok)
				return
			}
			// The batch form, on IPv4 keys from present routes.
			n := 0
			for n < lpm.BatchSize {
				q := ps[lo+r.IntN(hi-lo)]
				if !q.Addr().Is4() {
					continue
				}
				b := randomIn(r, q).As4()
				keys[n], want[n] = uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), q.Bits()
				n++
			}
			found := tbl.LookupBatch4(keys[:], nhs[:])
			for i := range n {
				if found>>i&1 == 0 || int(nhs[i]) < want[i] || nhs[i] > 32 {
					errs <- "batch key " + netip.AddrFrom4([4]byte{byte(keys[i] >> 24), byte(keys[i] >> 16), byte(keys[i] >> 8), byte(keys[i])}).String() + ": match length " + itoa(nhs[i], found>>i&1 != 0)
					return
				}
			}
			checks.Add(1)
		}
	}
	// One reader: on two cores the writer keeps one, so the full replay
	// stays within a minute under -race.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reader(1) }()

	for i, p := range ps {
		if err := tbl.Insert(p, uint32(p.Bits())); err != nil {
			t.Fatal(err)
		}
		inserted.Store(int64(i + 1))
	}
	deleting.Store(true)
	for _, p := range ps[:len(ps)/2] {
		if err := tbl.Delete(p); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	if checks.Load() == 0 {
		t.Fatal("readers made no checks")
	}
	s := tbl.Stats()
	if got, want := s.Routes4+s.Routes6, len(ps)-len(ps)/2; got != want {
		t.Errorf("Stats() routes = %d, want %d", got, want)
	}
	t.Logf("%d prefixes replayed, %d reader checks, %+v", len(ps), checks.Load(), s)
}

func itoa(nh uint32, ok bool) string {
	if !ok {
		return "none"
	}
	return strconv.Itoa(int(nh))
}

func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
