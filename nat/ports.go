package nat

// External port reservations: one bitmap per external address and
// protocol, so that an external port is given to at most one internal
// endpoint at a time (no port overloading, RFC 4787 REQ-3, RFC 5382
// REQ-7). A port is claimed by setting its bit with a compare-and-swap
// and released by clearing it, so workers claim ports for their new flows
// before they take the table lock, each for itself: a bit that is set
// belongs to exactly one claimant, which either makes it a mapping's
// external port or releases it.

import (
	"math/bits"
	"sync/atomic"

	"github.com/gannet-net/gannet/pkt"
)

// portSet holds the reserved ports of one external address for TCP, UDP
// and ICMP query identifiers.
type portSet struct {
	used [3][1024]atomic.Uint64
}

// portSlot maps a protocol to its bitmap; -1 for protocols without ports.
func portSlot(proto uint8) int {
	switch proto {
	case pkt.ProtoTCP:
		return 0
	case pkt.ProtoUDP:
		return 1
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		return 2
	}
	return -1
}

// take claims port; false if it is taken.
func (p *portSet) take(slot int, port uint16) bool {
	bit := uint64(1) << (port & 63)
	return p.used[slot][port>>6].Or(bit)&bit == 0
}

func (p *portSet) release(slot int, port uint16) {
	p.used[slot][port>>6].And(^(uint64(1) << (port & 63)))
}

// Parity masks over a bitmap word: bit i is port 64*w+i.
const (
	evenPorts = 0x5555555555555555
	oddPorts  = 0xaaaaaaaaaaaaaaaa
	anyPort   = ^uint64(0)
)

// find claims the first free port in [lo, hi] at or after start,
// wrapping around to lo, whose bit is in mask.
func (p *portSet) find(slot int, lo, hi, start uint16, mask uint64) (uint16, bool) {
	bm := &p.used[slot]
	if port, ok := scanFree(bm, start, hi, mask); ok {
		return port, true
	}
	if start > lo {
		return scanFree(bm, lo, start-1, mask)
	}
	return 0, false
}

func scanFree(bm *[1024]atomic.Uint64, a, b uint16, mask uint64) (uint16, bool) {
	first, last := int(a>>6), int(b>>6)
	for w := first; w <= last; w++ {
		m := mask
		if w == first {
			m &= anyPort << (a & 63)
		}
		if w == last {
			m &= anyPort >> (63 - b&63)
		}
		for {
			old := bm[w].Load()
			free := ^old & m
			if free == 0 {
				break
			}
			bit := free & -free
			if bm[w].CompareAndSwap(old, old|bit) {
				return uint16(w<<6 + bits.TrailingZeros64(bit)), true
			}
		}
	}
	return 0, false
}

// allocPort claims an external port for internal port want on an
// address whose range is [lo, hi]:
//   - the range is narrowed to want's class, 0-1023 or 1024-65535, when
//     it covers part of that class (RFC 4787 REQ-3 a);
//   - want itself when it is free (port preservation);
//   - else a free port of want's parity (RFC 4787 REQ-4), searched from
//     a seeded hash of the internal endpoint so the choice is not
//     guessable (RFC 6056, RFC 7857 section 9) yet the same for the same
//     inputs;
//   - else any free port in the range.
func (p *portSet) allocPort(slot int, lo, hi, want uint16, h uint64) (uint16, bool) {
	if want < 1024 {
		if lo < 1024 {
			hi = min(hi, 1023)
		}
	} else if hi >= 1024 {
		lo = max(lo, 1024)
	}
	if want >= lo && want <= hi && p.take(slot, want) {
		return want, true
	}
	start := lo + uint16(h%(uint64(hi-lo)+1))
	mask := uint64(evenPorts)
	if want&1 != 0 {
		mask = oddPorts
	}
	port, ok := p.find(slot, lo, hi, start, mask)
	if !ok {
		port, ok = p.find(slot, lo, hi, start, anyPort)
	}
	return port, ok
}
