package lpm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func TestLookupTable(t *testing.T) {
	tbl := New()
	routes := []struct {
		p  string
		nh uint32
	}{
		{"0.0.0.0/0", 1},
		{"198.18.0.0/15", 2},
		{"198.18.0.0/24", 3},
		{"198.18.0.128/25", 4},
		{"198.18.0.77/32", 5},
		{"203.0.113.0/24", 6},
		{"2001:db8::/32", 7},
		{"2001:db8:1::/48", 8},
		{"2001:db8:1::1/128", 9},
		{"64:ff9b:1::/48", 10},
		{"::ffff:198.51.100.0/120", 11},
	}
	for _, r := range routes {
		if err := tbl.Insert(pfx(r.p), r.nh); err != nil {
			t.Fatalf("Insert(%s) = %v", r.p, err)
		}
	}
	tests := []struct {
		name string
		a    string
		nh   uint32
		ok   bool
	}{
		{"default", "192.0.2.1", 1, true},
		{"/15", "198.19.200.1", 2, true},
		{"/24", "198.18.0.1", 3, true},
		{"/25", "198.18.0.200", 4, true},
		{"/32", "198.18.0.77", 5, true},
		{"/32 neighbour", "198.18.0.78", 3, true},
		{"other /24", "203.0.113.255", 6, true},
		{"v6 /32", "2001:db8:ffff::1", 7, true},
		{"v6 /48", "2001:db8:1::2", 8, true},
		{"v6 /128", "2001:db8:1::1", 9, true},
		{"v6 space", "64:ff9b:1::198.18.0.1", 10, true},
		{"v6 miss", "2001:db9::1", 0, false},
		{"mapped stays v6", "::ffff:198.51.100.7", 11, true},
		{"mapped no v4 fallback", "::ffff:192.0.2.1", 0, false},
		{"v4 of mapped route", "198.51.100.7", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nh, ok := tbl.Lookup(addr(tc.a))
			if nh != tc.nh || ok != tc.ok {
				t.Errorf("Lookup(%s) = %d, %v, want %d, %v", tc.a, nh, ok, tc.nh, tc.ok)
			}
		})
	}
}

func TestInsertDeleteErrors(t *testing.T) {
	tbl := New()
	if err := tbl.Insert(pfx("198.18.0.0/24"), 3); err != nil {
		t.Fatal(err)
	}
	before := tbl.Stats()
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"insert zero prefix", func() error { return tbl.Insert(netip.Prefix{}, 1) }, ErrInvalidPrefix},
		{"insert bad length", func() error { return tbl.Insert(netip.PrefixFrom(addr("198.18.0.0"), 33), 1) }, ErrInvalidPrefix},
		{"insert nh too large", func() error { return tbl.Insert(pfx("198.18.1.0/24"), MaxNextHop+1) }, ErrNextHopRange},
		{"delete absent", func() error { return tbl.Delete(pfx("198.18.1.0/24")) }, ErrNotFound},
		{"delete absent shorter", func() error { return tbl.Delete(pfx("198.18.0.0/23")) }, ErrNotFound},
		{"delete absent longer", func() error { return tbl.Delete(pfx("198.18.0.0/25")) }, ErrNotFound},
		{"delete zero prefix", func() error { return tbl.Delete(netip.Prefix{}) }, ErrInvalidPrefix},
		{"delete other family", func() error { return tbl.Delete(pfx("::ffff:198.18.0.0/120")) }, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(before, tbl.Stats()); diff != "" {
				t.Errorf("table changed on error (-want +got):\n%s", diff)
			}
			if nh, ok := tbl.Lookup(addr("198.18.0.9")); nh != 3 || !ok {
				t.Errorf("Lookup(198.18.0.9) = %d, %v, want 3, true", nh, ok)
			}
		})
	}
}

func TestHostBitsMaskedAndReplace(t *testing.T) {
	tbl := New()
	if err := tbl.Insert(pfx("198.18.0.77/24"), 1); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Insert(pfx("198.18.0.0/24"), MaxNextHop); err != nil {
		t.Fatal(err)
	}
	if nh, ok := tbl.Get(pfx("198.18.0.1/24")); nh != MaxNextHop || !ok {
		t.Errorf("Get = %d, %v, want %d, true", nh, ok, uint32(MaxNextHop))
	}
	if s := tbl.Stats(); s.Routes4 != 1 {
		t.Errorf("Stats().Routes4 = %d, want 1", s.Routes4)
	}
	if err := tbl.Delete(pfx("198.18.0.200/24")); err != nil {
		t.Errorf("Delete = %v, want nil", err)
	}
	if _, ok := tbl.Lookup(addr("198.18.0.1")); ok {
		t.Errorf("Lookup after delete found a route")
	}
}

func TestEmptyAndSmallTablesAreSmall(t *testing.T) {
	tbl := New()
	if s := tbl.Stats(); s.Bytes > 256 || s.Nodes != 0 {
		t.Errorf("empty table Stats() = %+v, want at most 256 bytes and no nodes", s)
	}
	// A tenant table: 100 /32 workloads and a default route per family.
	tbl.Insert(pfx("0.0.0.0/0"), 1)
	tbl.Insert(pfx("::/0"), 1)
	for i := range 100 {
		tbl.Insert(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i / 10), byte(i)}), 32), uint32(i))
	}
	if s := tbl.Stats(); s.Bytes > 16<<10 {
		t.Errorf("100-route table Stats() = %+v, want at most 16 KiB", s)
	}
	for _, p := range []string{"0.0.0.0/0", "::/0"} {
		tbl.Delete(pfx(p))
	}
	for i := range 100 {
		tbl.Delete(netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i / 10), byte(i)}), 32))
	}
	if s := tbl.Stats(); s.Bytes > 256 || s.Nodes != 0 || s.Routes4 != 0 {
		t.Errorf("emptied table Stats() = %+v, want back to empty", s)
	}
}

// randPrefix draws prefixes that nest and overlap: a few base addresses,
// every length, and now and then a fully random one.
func randPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	if !v6 {
		bases := [][4]byte{{198, 18, 0, 0}, {198, 18, 0, 128}, {198, 19, 255, 255}, {100, 64, 3, 7}, {0, 0, 0, 0}, {255, 255, 255, 255}}
		b := bases[r.IntN(len(bases))]
		if r.IntN(4) == 0 {
			b = [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		}
		if r.IntN(3) == 0 { // wiggle the low bits to make siblings
			b[3] ^= byte(r.IntN(256))
			b[2] ^= byte(r.IntN(4))
		}
		l := r.IntN(33)
		if r.IntN(3) == 0 {
			l = []int{0, 32, 24, 16, 30, 31, 6, 12, 18}[r.IntN(9)]
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), l).Masked()
	}
	bases := [][16]byte{
		addr("2001:db8::").As16(), addr("2001:db8:0:1::").As16(), addr("64:ff9b:1::c612:1").As16(),
		addr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff").As16(), {}, addr("ffff::").As16(),
	}
	b := bases[r.IntN(len(bases))]
	if r.IntN(4) == 0 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	if r.IntN(3) == 0 {
		b[r.IntN(16)] ^= byte(r.IntN(256))
	}
	l := r.IntN(129)
	if r.IntN(3) == 0 {
		l = []int{0, 128, 127, 126, 64, 60, 66, 48, 32, 120}[r.IntN(10)]
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), l).Masked()
}

// probes returns addresses that exercise the edges of p: first, last, a
// random inside, and the neighbours just outside.
func probes(r *rand.Rand, p netip.Prefix) []netip.Addr {
	first := p.Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 0 {
			b[i/8] &^= 0x80 >> (i % 8)
		}
	}
	mid, _ := netip.AddrFromSlice(b)
	out := []netip.Addr{first, last, mid}
	if prev := first.Prev(); prev.IsValid() {
		out = append(out, prev)
	}
	if next := last.Next(); next.IsValid() {
		out = append(out, next)
	}
	return out
}

// compare checks every lookup form of tbl against w at the given
// addresses and returns the first difference.
func compare(tbl *Table, w *twin, addrs []netip.Addr) error {
	var keys4 []uint32
	var his, los []uint64
	var want4, want6 []netip.Addr
	for _, a := range addrs {
		wnh, wok := w.lookup(a)
		if nh, ok := tbl.Lookup(a); nh != wnh || ok != wok {
			return fmt.Errorf("Lookup(%v) = %d, %v, want %d, %v", a, nh, ok, wnh, wok)
		}
		if a.Is4() {
			b := a.As4()
			keys4 = append(keys4, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
			want4 = append(want4, a)
		} else {
			hi, lo := key6(a.As16())
			if nh, ok := tbl.Lookup6(hi, lo); nh != wnh || ok != wok {
				return fmt.Errorf("Lookup6(%v) = %d, %v, want %d, %v", a, nh, ok, wnh, wok)
			}
			his, los = append(his, hi), append(los, lo)
			want6 = append(want6, a)
		}
	}
	var nhs [BatchSize]uint32
	for i := 0; i < len(keys4); i += BatchSize {
		end := min(i+BatchSize, len(keys4))
		found := tbl.LookupBatch4(keys4[i:end], nhs[:])
		for j := i; j < end; j++ {
			wnh, wok := w.lookup(want4[j])
			ok := found>>(j-i)&1 != 0
			if ok != wok || (ok && nhs[j-i] != wnh) {
				return fmt.Errorf("LookupBatch4(%v) = %d, %v, want %d, %v", want4[j], nhs[j-i], ok, wnh, wok)
			}
		}
	}
	for i := 0; i < len(his); i += BatchSize {
		end := min(i+BatchSize, len(his))
		found := tbl.LookupBatch6(his[i:end], los[i:end], nhs[:])
		for j := i; j < end; j++ {
			wnh, wok := w.lookup(want6[j])
			ok := found>>(j-i)&1 != 0
			if ok != wok || (ok && nhs[j-i] != wnh) {
				return fmt.Errorf("LookupBatch6(%v) = %d, %v, want %d, %v", want6[j], nhs[j-i], ok, wnh, wok)
			}
		}
	}
	return nil
}

// forms are the shapes a family can take, as directMin settings: always
// the plain trie, the top level from the first route on, and switching
// between them as routes come and go (up at 16 routes, down below 8).
// The top-level forms get fewer rounds: a short route there paints up to
// 2^18 entries, which under -race takes a while.
var forms = []struct {
	name   string
	min    int
	rounds int
}{
	{"trie", 1 << 30, 40},
	{"direct", 1, 12},
	{"switching", 16, 12},
}

// withForm sets directMin for the rest of the test.
func withForm(tb testing.TB, min int) {
	old := directMin
	directMin = min
	tb.Cleanup(func() { directMin = old })
}

func TestDifferential(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			withForm(t, form.min)
			differential(t, form.rounds)
		})
	}
}

func differential(t *testing.T, rounds int) {
	ops := 400
	if testing.Short() {
		rounds = max(rounds/5, 2)
	}
	for _, fam := range []string{"v4", "v6", "mixed"} {
		t.Run(fam, func(t *testing.T) {
			for round := range rounds {
				r := rand.New(rand.NewPCG(uint64(round), uint64(len(fam))))
				tbl, w := New(), newTwin()
				var live []netip.Prefix
				for op := range ops {
					v6 := fam == "v6" || (fam == "mixed" && r.IntN(2) == 0)
					var p netip.Prefix
					if len(live) > 0 && r.IntN(3) == 0 {
						p = live[r.IntN(len(live))]
					} else {
						p = randPrefix(r, v6)
					}
					// Insert more than delete, then drain in the last third.
					if op < 2*ops/3 && r.IntN(3) != 0 {
						nh := uint32(r.IntN(16))
						if r.IntN(50) == 0 {
							nh = MaxNextHop
						}
						if err := tbl.Insert(p, nh); err != nil {
							t.Fatalf("round %d: Insert(%v, %d) = %v", round, p, nh, err)
						}
						w.insert(p, nh)
						live = append(live, p)
					} else {
						err := tbl.Delete(p)
						if wok := w.delete(p); (err == nil) != wok {
							t.Fatalf("round %d: Delete(%v) = %v, twin had it: %v", round, p, err, wok)
						}
					}
					wnh, wok := w.get(p)
					if nh, ok := tbl.Get(p); nh != wnh || ok != wok {
						t.Fatalf("round %d: Get(%v) = %d, %v, want %d, %v", round, p, nh, ok, wnh, wok)
					}
					var addrs []netip.Addr
					for i := 0; i < 3 && len(live) > 0; i++ {
						addrs = append(addrs, probes(r, live[r.IntN(len(live))])...)
					}
					addrs = append(addrs, probes(r, p)...)
					if err := compare(tbl, w, addrs); err != nil {
						t.Fatalf("round %d op %d after %v: %v", round, op, p, err)
					}
				}
				// Full sweep at the end of a round, then structural checks.
				var addrs []netip.Addr
				for _, p := range live {
					addrs = append(addrs, probes(r, p)...)
				}
				if err := compare(tbl, w, addrs); err != nil {
					t.Fatalf("round %d final: %v", round, err)
				}
				n4, n6 := w.count()
				if s := tbl.Stats(); s.Routes4 != n4 || s.Routes6 != n6 {
					t.Fatalf("round %d: Stats() routes = %d/%d, want %d/%d", round, s.Routes4, s.Routes6, n4, n6)
				}
				for _, f := range []*family{&tbl.v4, &tbl.v6} {
					if msg := checkInvariants(f); msg != "" {
						t.Fatalf("round %d: %d-bit trie: %s", round, f.bits, msg)
					}
				}
			}
		})
	}
}

// TestRoutes: the per-family counts follow inserts and deletes, and agree
// with Stats' walk.
func TestRoutes(t *testing.T) {
	tab := New()
	for _, s := range []string{"198.18.0.0/15", "198.18.1.0/24", "2001:db8::/32"} {
		if err := tab.Insert(netip.MustParsePrefix(s), 1); err != nil {
			t.Fatal(err)
		}
	}
	if v4, v6 := tab.Routes(); v4 != 2 || v6 != 1 {
		t.Errorf("Routes() = %d, %d; want 2, 1", v4, v6)
	}
	if err := tab.Delete(netip.MustParsePrefix("198.18.1.0/24")); err != nil {
		t.Fatal(err)
	}
	v4, v6 := tab.Routes()
	if st := tab.Stats(); v4 != 1 || v6 != 1 || st.Routes4 != v4 || st.Routes6 != v6 {
		t.Errorf("Routes() = %d, %d, Stats %d, %d; want 1, 1 both", v4, v6, st.Routes4, st.Routes6)
	}
}
