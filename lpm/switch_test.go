package lpm

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentFormSwitch has one writer grow and shrink both families
// across directMin and back, over and over, so that each switches between
// the plain trie and the top level while a reader looks up addresses
// under routes that stay present throughout (one short enough to live in
// the top level's map, one below it in a subtrie). The reader must always
// see their next hop, or a longer route's: never a miss, and never the
// next hop of a route that covers them less specifically.
func TestConcurrentFormSwitch(t *testing.T) {
	withForm(t, 16)
	tbl := New()
	stable := []struct {
		p  netip.Prefix
		nh uint32
	}{
		{pfx("198.18.0.0/15"), 1},
		{pfx("198.18.7.0/24"), 2},
		{pfx("2001:db8::/32"), 3},
		{pfx("2001:db8:7::/48"), 4},
	}
	for _, s := range stable {
		if err := tbl.Insert(s.p, s.nh); err != nil {
			t.Fatal(err)
		}
	}
	probes := []struct {
		a  netip.Addr
		nh uint32
	}{
		{addr("198.19.1.1"), 1}, {addr("198.18.7.9"), 2}, {addr("2001:db8:ffff::1"), 3}, {addr("2001:db8:7::9"), 4},
	}
	var done atomic.Bool
	var checks atomic.Int64
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var nhs [BatchSize]uint32
		for !done.Load() {
			for _, p := range probes {
				if nh, ok := tbl.Lookup(p.a); !ok || nh != p.nh {
					errs <- fmt.Errorf("Lookup(%v) = %d, %v, want %d, true", p.a, nh, ok, p.nh)
					return
				}
			}
			b4a, b4b := probes[0].a.As4(), probes[1].a.As4()
			keys := []uint32{be32(b4a), be32(b4b)}
			if f := tbl.LookupBatch4(keys, nhs[:]); f != 3 || nhs[0] != 1 || nhs[1] != 2 {
				errs <- fmt.Errorf("LookupBatch4 = %b %v, want 11 [1 2]", f, nhs[:2])
				return
			}
			h0, l0 := key6(probes[2].a.As16())
			h1, l1 := key6(probes[3].a.As16())
			if f := tbl.LookupBatch6([]uint64{h0, h1}, []uint64{l0, l1}, nhs[:]); f != 3 || nhs[0] != 3 || nhs[1] != 4 {
				errs <- fmt.Errorf("LookupBatch6 = %b %v, want 11 [3 4]", f, nhs[:2])
				return
			}
			checks.Add(1)
		}
	}()
	// Churn: other routes, some covering the probes less specifically
	// (their next hops are above 100, so a reader seeing one is caught).
	r := rand.New(rand.NewPCG(9, 9))
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	var sawDirect4, sawDirect6 bool
	for range rounds {
		var added []netip.Prefix
		for range 40 {
			var p netip.Prefix
			switch r.IntN(4) {
			case 0:
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(256)), byte(r.IntN(256))}), 16+r.IntN(17))
			case 1:
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, 0}), r.IntN(17))
			case 2:
				b := addr("2001:db8::").As16()
				b[4], b[5], b[6] = byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
				p = netip.PrefixFrom(netip.AddrFrom16(b), 33+r.IntN(96))
			default:
				b := [16]byte{0x20, byte(r.IntN(256)), byte(r.IntN(256))}
				p = netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(31))
			}
			p = p.Masked()
			if covers(p, probes) {
				continue
			}
			if _, ok := tbl.Get(p); ok {
				continue
			}
			tbl.Insert(p, 100+uint32(r.IntN(16)))
			added = append(added, p)
		}
		sawDirect4 = sawDirect4 || tbl.v4.isDirect()
		sawDirect6 = sawDirect6 || tbl.v6.isDirect()
		for _, p := range added {
			if err := tbl.Delete(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if checks.Load() == 0 {
		t.Fatal("reader made no checks")
	}
	if !sawDirect4 || !sawDirect6 {
		t.Errorf("families never switched to the top level (IPv4 %v, IPv6 %v)", sawDirect4, sawDirect6)
	}
	for _, f := range []*family{&tbl.v4, &tbl.v6} {
		if f.isDirect() {
			t.Errorf("%d-bit family still uses its top level with %d routes", f.bits, f.routes)
		}
	}
}

// covers reports whether p contains a probe with a prefix shorter than or
// as long as the stable route that answers it: such a route would be a
// legitimate (less specific) answer only if the stable one were missing.
func covers(p netip.Prefix, probes []struct {
	a  netip.Addr
	nh uint32
}) bool {
	for _, pr := range probes {
		if p.Contains(pr.a) {
			return true
		}
	}
	return false
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
