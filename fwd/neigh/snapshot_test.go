package neigh

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xb}
	macC = [6]byte{0x02, 0, 0, 0, 0, 0xc}
)

func TestSnapshotLookup(t *testing.T) {
	s := NewSnapshot([]Entry{
		{Ifindex: 2, Addr: netip.MustParseAddr("198.18.0.1"), MAC: macA},
		{Ifindex: 3, Addr: netip.MustParseAddr("198.18.0.1"), MAC: macB},
		{Ifindex: 2, Addr: netip.MustParseAddr("2001:db8::1"), MAC: macB},
		{Ifindex: 2, Addr: netip.MustParseAddr("fe80::1%eth0"), MAC: macC},
		{Ifindex: 2, Addr: netip.MustParseAddr("::"), MAC: macC},
		{Ifindex: 4, Addr: netip.MustParseAddr("198.18.0.9"), MAC: macA},
		{Ifindex: 4, Addr: netip.MustParseAddr("198.18.0.9"), MAC: macB}, // later wins
		{Ifindex: 0, Addr: netip.MustParseAddr("198.18.0.2"), MAC: macA}, // skipped
		{Ifindex: -1, Addr: netip.MustParseAddr("198.18.0.2"), MAC: macA},
		{Ifindex: 2, Addr: netip.Addr{}, MAC: macA},
	})
	tests := []struct {
		name    string
		ifindex int
		addr    netip.Addr
		want    [6]byte
		wantOK  bool
	}{
		{"v4 on link 2", 2, netip.MustParseAddr("198.18.0.1"), macA, true},
		{"v4 on link 3", 3, netip.MustParseAddr("198.18.0.1"), macB, true},
		{"v4 on other link", 5, netip.MustParseAddr("198.18.0.1"), [6]byte{}, false},
		{"v6", 2, netip.MustParseAddr("2001:db8::1"), macB, true},
		{"v6 absent", 2, netip.MustParseAddr("2001:db8::2"), [6]byte{}, false},
		{"zone ignored", 2, netip.MustParseAddr("fe80::1"), macC, true},
		{"other zone ignored", 2, netip.MustParseAddr("fe80::1%eth9"), macC, true},
		{"mapped is not v4", 2, netip.MustParseAddr("::ffff:198.18.0.1"), [6]byte{}, false},
		{"unspecified v6 entry", 2, netip.MustParseAddr("::"), macC, true},
		{"invalid addr", 2, netip.Addr{}, [6]byte{}, false},
		{"later entry wins", 4, netip.MustParseAddr("198.18.0.9"), macB, true},
		{"ifindex 0 skipped", 0, netip.MustParseAddr("198.18.0.2"), [6]byte{}, false},
		{"ifindex wraps", 2 + 1<<32, netip.MustParseAddr("198.18.0.1"), [6]byte{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := s.Lookup(tc.ifindex, tc.addr)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Lookup(%d, %v) = %x, %v, want %x, %v", tc.ifindex, tc.addr, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if got, want := s.Len(), 6; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestSnapshotNilAndEmpty(t *testing.T) {
	for _, s := range []*Snapshot{nil, {}, NewSnapshot(nil)} {
		if mac, ok := s.Lookup(1, netip.MustParseAddr("198.18.0.1")); ok {
			t.Errorf("Lookup on empty = %x, true, want false", mac)
		}
		if s.Len() != 0 || len(s.Entries()) != 0 {
			t.Errorf("empty snapshot has Len %d, %d entries", s.Len(), len(s.Entries()))
		}
	}
}

// linearLookup is the slow twin: the last matching entry, compared field by field.
func linearLookup(entries []Entry, ifindex int, addr netip.Addr) ([6]byte, bool) {
	var mac [6]byte
	ok := false
	for _, e := range entries {
		if e.Ifindex == ifindex && e.Ifindex > 0 && e.Addr.IsValid() && e.Addr.WithZone("") == addr.WithZone("") {
			mac, ok = e.MAC, true
		}
	}
	return mac, ok
}

func randAddr(r *rand.Rand) netip.Addr {
	// A small universe so lookups hit and entries collide.
	switch r.IntN(3) {
	case 0:
		return netip.AddrFrom4([4]byte{198, 18, 0, byte(r.IntN(16))})
	case 1:
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(16))})
	default:
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: byte(r.IntN(16))})
	}
}

func TestSnapshotDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		entries := make([]Entry, r.IntN(64))
		for i := range entries {
			entries[i] = Entry{Ifindex: r.IntN(4), Addr: randAddr(r), MAC: [6]byte{2, byte(r.IntN(256)), 0, 0, 0, byte(i)}}
		}
		s := NewSnapshot(entries)
		for range 200 {
			ifindex, addr := r.IntN(4), randAddr(r)
			got, gotOK := s.Lookup(ifindex, addr)
			want, wantOK := linearLookup(entries, ifindex, addr)
			if got != want || gotOK != wantOK {
				t.Fatalf("round %d: Lookup(%d, %v) = %x, %v, want %x, %v", round, ifindex, addr, got, gotOK, want, wantOK)
			}
		}
		// Entries round-trips: each entry it lists is the one Lookup finds.
		var want, got []Entry
		for _, e := range s.Entries() {
			got = append(got, e)
			mac, ok := linearLookup(entries, e.Ifindex, e.Addr)
			if !ok {
				t.Fatalf("round %d: Entries() lists %v, absent from the input", round, e)
			}
			want = append(want, Entry{Ifindex: e.Ifindex, Addr: e.Addr, MAC: mac})
		}
		less := func(es []Entry) func(i, j int) bool {
			return func(i, j int) bool {
				if es[i].Ifindex != es[j].Ifindex {
					return es[i].Ifindex < es[j].Ifindex
				}
				return es[i].Addr.Less(es[j].Addr)
			}
		}
		sort.Slice(want, less(want))
		sort.Slice(got, less(got))
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("round %d: Entries() (-want +got):\n%s", round, diff)
		}
	}
}

func TestSnapshotLookupZeroAlloc(t *testing.T) {
	s := NewSnapshot([]Entry{
		{Ifindex: 2, Addr: netip.MustParseAddr("198.18.0.1"), MAC: macA},
		{Ifindex: 2, Addr: netip.MustParseAddr("2001:db8::1"), MAC: macB},
	})
	v4, v6, miss := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	var sink [6]byte
	allocs := testing.AllocsPerRun(1000, func() {
		m, _ := s.Lookup(2, v4)
		sink[0] ^= m[0]
		m, _ = s.Lookup(2, v6)
		sink[0] ^= m[0]
		m, _ = s.Lookup(2, miss)
		sink[0] ^= m[0]
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkSnapshotLookup(b *testing.B) {
	entries := make([]Entry, 1024)
	for i := range entries {
		entries[i] = Entry{Ifindex: 2 + i%4, Addr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), MAC: macA}
	}
	s := NewSnapshot(entries)
	addrs := make([]netip.Addr, len(entries))
	for i, e := range entries {
		addrs[i] = e.Addr
	}
	b.ReportAllocs()
	b.ResetTimer()
	var hits int
	for i := 0; b.Loop(); i++ {
		e := &entries[i&1023]
		if _, ok := s.Lookup(e.Ifindex, addrs[i&1023]); ok {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no lookup hit")
	}
}
