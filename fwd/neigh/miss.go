// Misses: (ifindex, address) pairs the data path found no neighbour for flow from the
// workers into a fixed array of slots, lock-free, and out to the cache goroutine, which
// drains the slots every few milliseconds and asks the kernel to resolve them.

package neigh

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// missSlots is the number of slots; a power of two. A miss whose slot is taken is dropped:
// the data path reports a miss again with the next packet, and the kernel resolves in
// milliseconds, so losing some is harmless while blocking or allocating is not.
const missSlots = 256

// Slot states. Only the data path moves a slot out of slotEmpty (compare-and-swap, so one
// writer wins) and into slotFull; only the cache goroutine moves it back to slotEmpty.
const (
	slotEmpty uint32 = iota
	slotWriting
	slotFull
)

// missSlot holds one reported miss. The payload words are atomics so the reader never
// sees a torn write it could act on: it reads them only after it saw slotFull, which the
// writer stores after the payload.
type missSlot struct {
	state atomic.Uint32
	link  atomic.Uint64          // ifindex<<1 | 1 for IPv4
	hi    atomic.Uint64          // address bytes 0..7 (As16)
	lo    atomic.Uint64          // address bytes 8..15
	_     [64 - 4 - 4 - 3*8]byte // one cache line per slot: workers on different slots do not share lines
}

// missRing is the slot array. A key always maps to the same slot, so a flood of misses
// for one unresolved neighbour takes one slot and costs one atomic load per packet once
// the slot is full.
type missRing struct {
	slots [missSlots]missSlot
}

// slotOf mixes the key into a slot index (a multiply-xorshift hash, enough to spread
// neighbours that differ in their last bytes).
func slotOf(link, hi, lo uint64) uint64 {
	h := link*0x9e3779b97f4a7c15 ^ hi ^ lo*0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return h & (missSlots - 1)
}

// put records a miss; it never blocks and never allocates. Invalid input is ignored.
func (r *missRing) put(ifindex int, addr netip.Addr) {
	if !addr.IsValid() || uint(ifindex-1) >= 1<<31-1 {
		return
	}
	b := addr.As16()
	link := uint64(ifindex) << 1
	if addr.Is4() {
		link |= 1
	}
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	s := &r.slots[slotOf(link, hi, lo)]
	if s.state.Load() != slotEmpty || !s.state.CompareAndSwap(slotEmpty, slotWriting) {
		return // queued already (likely this very key) or being written: lossy by design
	}
	s.link.Store(link)
	s.hi.Store(hi)
	s.lo.Store(lo)
	s.state.Store(slotFull)
}

// drain calls fn with every recorded miss and empties its slot. One reader at a time.
func (r *missRing) drain(fn func(ifindex int, addr netip.Addr)) {
	for i := range r.slots {
		s := &r.slots[i]
		if s.state.Load() != slotFull {
			continue
		}
		link, hi, lo := s.link.Load(), s.hi.Load(), s.lo.Load()
		s.state.Store(slotEmpty)
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], hi)
		binary.BigEndian.PutUint64(b[8:], lo)
		addr := netip.AddrFrom16(b)
		if link&1 != 0 {
			addr = addr.Unmap()
		}
		fn(int(link>>1), addr)
	}
}
