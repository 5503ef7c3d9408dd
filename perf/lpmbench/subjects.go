// The tables under test, each behind the same small set of kernels. A
// kernel runs n operations in its own concrete loop, so the interface call
// is per kernel, never per lookup.

package lpmbench

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync/atomic"

	"github.com/gaissmai/bart"
	"github.com/gannet-net/gannet/lpm"
)

// Subject is one table implementation. Lookup kernels cycle through their
// keys (a power-of-two count) for n lookups and return a checksum so the
// work cannot be elided. Churn is one route update pair (delete, then
// insert again with nh) made the way the implementation supports readers
// running concurrently.
type Subject interface {
	Name() string
	Build(routes []Route)
	// Lookup4 and Lookup6 use the fastest form each table offers for a
	// key from a packet: gannet's integer keys, bart's netip.Addr.
	Lookup4(keys []uint32, n int) uint32
	Lookup6(keys [][2]uint64, n int) uint32
	// Addr4 goes through Lookup(netip.Addr) for every subject.
	Addr4(keys []uint32, n int) uint32
	// Batch4 and Batch6 look up n keys in batches of 64 against one table
	// snapshot; bart has no batch form and loops.
	Batch4(keys []uint32, n int) uint32
	Batch6(keys [][2]uint64, n int) uint32
	Churn(p netip.Prefix, nh uint32)
}

// Subjects returns fresh, empty subjects: gannet and bart.Fast.
func Subjects() []Subject {
	return []Subject{&Gannet{}, &BartFast{}}
}

func addr4(k uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
}

func addr6(k *[2]uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k[0])
	binary.BigEndian.PutUint64(b[8:], k[1])
	return netip.AddrFrom16(b)
}

// Gannet is lpm.Table.
type Gannet struct{ T *lpm.Table }

func (g *Gannet) Name() string { return "gannet" }

func (g *Gannet) Build(routes []Route) {
	g.T = lpm.New()
	for _, r := range routes {
		if err := g.T.Insert(r.Prefix, r.NH); err != nil {
			panic(err)
		}
	}
}

func (g *Gannet) Addr4(keys []uint32, n int) (sum uint32) {
	mask := len(keys) - 1
	for i := range n {
		nh, _ := g.T.Lookup(addr4(keys[i&mask]))
		sum += nh
	}
	return sum
}

func (g *Gannet) Lookup4(keys []uint32, n int) (sum uint32) {
	mask := len(keys) - 1
	for i := range n {
		nh, _ := g.T.Lookup4(keys[i&mask])
		sum += nh
	}
	return sum
}

func (g *Gannet) Lookup6(keys [][2]uint64, n int) (sum uint32) {
	mask := len(keys) - 1
	for i := range n {
		k := &keys[i&mask]
		nh, _ := g.T.Lookup6(k[0], k[1])
		sum += nh
	}
	return sum
}

func (g *Gannet) Batch4(keys []uint32, n int) (sum uint32) {
	var nhs [lpm.BatchSize]uint32
	for i := 0; i < n; i += lpm.BatchSize {
		off := i & (len(keys) - 1)
		sum += sumFound(g.T.LookupBatch4(keys[off:off+lpm.BatchSize], nhs[:]), &nhs)
	}
	return sum
}

func (g *Gannet) Batch6(keys [][2]uint64, n int) (sum uint32) {
	var his, los [lpm.BatchSize]uint64
	var nhs [lpm.BatchSize]uint32
	for i := 0; i < n; i += lpm.BatchSize {
		off := i & (len(keys) - 1)
		for j, k := range keys[off : off+lpm.BatchSize] {
			his[j], los[j] = k[0], k[1]
		}
		sum += sumFound(g.T.LookupBatch6(his[:], los[:], nhs[:]), &nhs)
	}
	return sum
}

// sumFound adds the next hops of the keys that matched, as the bart
// kernels' checksum does (a miss counts 0).
func sumFound(found uint64, nhs *[lpm.BatchSize]uint32) (sum uint32) {
	for m := found; m != 0; m &= m - 1 {
		sum += nhs[bits.TrailingZeros64(m)]
	}
	return sum
}

func (g *Gannet) Churn(p netip.Prefix, nh uint32) {
	if err := g.T.Delete(p); err != nil {
		panic(err)
	}
	if err := g.T.Insert(p, nh); err != nil {
		panic(err)
	}
}

// BartFast is bart.Fast, bart's fastest table for lookups (its README:
// "the Lookup Performance Champion", about 25% faster than bart.Table),
// published through an atomic pointer and updated with its persistent
// (copy-on-write) operations, bart's documented way to let readers run
// lock-free during updates.
type BartFast struct {
	P atomic.Pointer[bart.Fast[uint32]]
}

func (b *BartFast) Name() string { return "bart.Fast" }

func (b *BartFast) Build(routes []Route) {
	t := new(bart.Fast[uint32])
	for _, r := range routes {
		t.Insert(r.Prefix, r.NH)
	}
	b.P.Store(t)
}

func (b *BartFast) Addr4(keys []uint32, n int) (sum uint32) {
	mask := len(keys) - 1
	for i := range n {
		nh, _ := b.P.Load().Lookup(addr4(keys[i&mask]))
		sum += nh
	}
	return sum
}

func (b *BartFast) Lookup4(keys []uint32, n int) uint32 { return b.Addr4(keys, n) }

func (b *BartFast) Lookup6(keys [][2]uint64, n int) (sum uint32) {
	mask := len(keys) - 1
	for i := range n {
		nh, _ := b.P.Load().Lookup(addr6(&keys[i&mask]))
		sum += nh
	}
	return sum
}

func (b *BartFast) Batch4(keys []uint32, n int) (sum uint32) {
	for i := 0; i < n; i += lpm.BatchSize {
		off := i & (len(keys) - 1)
		t := b.P.Load()
		for _, k := range keys[off : off+lpm.BatchSize] {
			nh, _ := t.Lookup(addr4(k))
			sum += nh
		}
	}
	return sum
}

func (b *BartFast) Batch6(keys [][2]uint64, n int) (sum uint32) {
	for i := 0; i < n; i += lpm.BatchSize {
		off := i & (len(keys) - 1)
		t := b.P.Load()
		for j := range keys[off : off+lpm.BatchSize] {
			nh, _ := t.Lookup(addr6(&keys[off+j]))
			sum += nh
		}
	}
	return sum
}

func (b *BartFast) Churn(p netip.Prefix, nh uint32) {
	b.P.Store(b.P.Load().DeletePersist(p).InsertPersist(p, nh))
}
