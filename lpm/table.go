// Package lpm owns longest-prefix-match route tables: one Table per address
// space holds that space's IPv4 and IPv6 routes and maps every destination
// address to a next-hop index. It never resolves next hops, never talks to
// the kernel or to BGP, and never allocates on a lookup.
//
// # Structure
//
// Each family is a poptrie (Asai and Ohara, SIGCOMM 2015): a multibit trie
// of 6-bit strides whose 32-byte nodes keep their children inline in one
// array and their leaves in another, both compressed by popcount over a
// 64-bit bitmap. Leaves are pushed down: every slot without a child holds
// the next hop of the longest prefix covering it, so a lookup walks one
// node per 6 bits until a slot without a child and reads one word, with no
// backtracking. Each node also records the routes that end inside its
// stride (as ART indices), which is all the writer needs to rebuild leaves;
// there is no second copy of the routes. Memory therefore follows the
// routes: a new table is a few hundred bytes.
//
// A family of directMin (8192) routes or more swaps its first levels for
// poptrie's direct pointing (direct.go): the first 18 bits index an array
// whose entry is a subtrie root or a leaf, so an IPv4 /24 is one array
// entry and one node away and an IPv6 /48 six accesses instead of eight,
// and an update below /18 publishes one entry instead of copying a 64-child
// array. Routes of 18 bits or fewer are kept in a map beside the array and
// painted into its leaves. The array costs 3.25 MiB; a full Internet table
// takes about 23 MiB in all. Below directMin/2 routes the family goes back
// to the plain trie.
//
// # Next hops
//
// nh is an index chosen by the caller in 0..MaxNextHop (2^32-2); the value
// 2^32-1 is reserved to mark "no route" inside the trie.
//
// # IPv4-mapped IPv6
//
// A Table never converts between families. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) or prefix is an IPv6 address or prefix here: it is
// stored in and looked up in the IPv6 trie, exactly as the packet that
// carried it was IPv6. Callers wanting IPv4 semantics call Unmap first.
// Zones are ignored.
//
// # Concurrency
//
// Any number of goroutines may look up while one or more others insert and
// delete (writers serialize on a mutex; readers never take it). Readers
// never block and never see a half-done update: nodes, once reachable, are
// immutable except for one field, the pointer to a node's children array.
// The writer builds every changed node in fresh memory (copy on write) and
// makes the change visible with exactly one atomic store: of that children
// pointer in the nearest ancestor whose shape is unchanged, of the root
// pointer, or of a top-level entry (a short route that covers many entries
// is stored entry by entry, each entry's leaf before its subtrie). A
// reader therefore sees, for its address, either everything before the
// update or everything after it. Switching a family between the plain trie
// and the top level builds the other form in fresh memory and publishes it
// with one store of the root pointer. Replaced memory is reclaimed
// by the garbage collector once no reader holds it.
package lpm

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"unsafe"
)

// MaxNextHop is the largest next-hop index a Table stores.
const MaxNextHop = 1<<32 - 2

// Errors returned by Insert and Delete, wrapped with the prefix.
var (
	ErrInvalidPrefix = errors.New("invalid prefix")
	ErrNextHopRange  = errors.New("next hop out of range")
	ErrNotFound      = errors.New("prefix not found")
)

// Table maps IPv4 and IPv6 prefixes to next hops. The zero value is not
// usable; call New.
type Table struct {
	mu sync.Mutex // serializes writers and Stats; lookups never take it
	v4 family
	v6 family
}

// New returns an empty table.
func New() *Table {
	t := &Table{v4: family{bits: 32}, v6: family{bits: 128}}
	t.v4.root = unsafe.Pointer(&emptyRoot)
	t.v6.root = unsafe.Pointer(&emptyRoot)
	return t
}

// key splits an address into its family and its left-aligned 128-bit key.
func (t *Table) key(a netip.Addr) (f *family, hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return &t.v4, uint64(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) << 32, 0
	}
	hi, lo = key6(a.As16())
	return &t.v6, hi, lo
}

func key6(b [16]byte) (hi, lo uint64) {
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// Insert adds the route p -> nh, replacing the next hop if p is already
// present. Host bits of p are ignored (the prefix is masked). An invalid
// prefix or an nh above MaxNextHop is an error and changes nothing.
func (t *Table) Insert(p netip.Prefix, nh uint32) error {
	if !p.IsValid() {
		return fmt.Errorf("lpm: insert prefix %v: %w", p, ErrInvalidPrefix)
	}
	if nh > MaxNextHop {
		return fmt.Errorf("lpm: insert %v: nh %d above %d: %w", p, nh, uint32(MaxNextHop), ErrNextHopRange)
	}
	p = p.Masked()
	f, hi, lo := t.key(p.Addr())
	t.mu.Lock()
	f.insert(hi, lo, p.Bits(), nh+1)
	f.adapt()
	t.mu.Unlock()
	return nil
}

// Delete removes the route for p (host bits ignored). It returns an error
// wrapping ErrNotFound if p is not in the table, and ErrInvalidPrefix for an
// invalid prefix; either way nothing changes.
func (t *Table) Delete(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("lpm: delete prefix %v: %w", p, ErrInvalidPrefix)
	}
	p = p.Masked()
	f, hi, lo := t.key(p.Addr())
	t.mu.Lock()
	ok := f.delete(hi, lo, p.Bits())
	f.adapt()
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("lpm: delete %v: %w", p, ErrNotFound)
	}
	return nil
}

// Get returns the next hop stored for exactly p (host bits ignored), not a
// longest match.
func (t *Table) Get(p netip.Prefix) (nh uint32, ok bool) {
	if !p.IsValid() {
		return 0, false
	}
	p = p.Masked()
	f, hi, lo := t.key(p.Addr())
	t.mu.Lock()
	v := f.get(hi, lo, p.Bits())
	t.mu.Unlock()
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

// Stats describes a table's size.
type Stats struct {
	Routes4, Routes6 int // routes per family
	Nodes            int // trie nodes, both families
	// Bytes is the memory the table holds: the Table itself, node arrays
	// and leaf blobs, counted at their requested size (the Go allocator
	// rounds each allocation up to its size class on top of this).
	Bytes int
}

// Stats walks the table and reports its size. It takes the writers' lock
// and costs time proportional to the number of nodes: call it from the
// control plane, not per packet.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Routes4: t.v4.routes, Routes6: t.v6.routes, Bytes: int(unsafe.Sizeof(*t))}
	for _, f := range []*family{&t.v4, &t.v6} {
		if f.isDirect() {
			tp := (*top)(f.top)
			s.Bytes += int(unsafe.Sizeof(*tp)) + shortEntryBytes*len(f.short)
			for _, k := range tp.kids {
				if k != nil {
					s.Bytes += int(nodeSize)
					walkSize((*node)(k), &s)
				}
			}
			continue
		}
		root := (*node)(f.root)
		if root != &emptyRoot {
			s.Bytes += int(nodeSize)
		}
		walkSize(root, &s)
	}
	return s
}

// Routes returns how many routes each family holds: a counter the writers
// keep, read under their lock, so it costs nothing like Stats' walk.
func (t *Table) Routes() (v4, v6 int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.v4.routes, t.v6.routes
}

// shortEntryBytes estimates what one route in family.short costs: its key
// and value plus the map's control byte and spare slots.
const shortEntryBytes = 12

func walkSize(n *node, s *Stats) {
	if n == &emptyRoot {
		return
	}
	s.Nodes++
	s.Bytes += 4 * len(n.blobWords())
	kids := n.kidSlice()
	s.Bytes += len(kids) * int(nodeSize)
	for i := range kids {
		walkSize(&kids[i], s)
	}
}
