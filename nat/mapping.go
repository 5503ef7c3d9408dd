package nat

// Endpoint-independent mappings (RFC 4787 REQ-1, RFC 5382 REQ-1): an
// internal address and port (or ICMP identifier) of one protocol maps to
// one external address and port whatever the destination, for as long as
// any session uses it. Each mapping is indexed by its internal side (to
// reuse it for new destinations) and its external side (for inbound
// packets and hairpinning), and lists its sessions so that
// address-dependent filtering can ask where the internal endpoint has
// sent. Everything here runs under Table.mu.

import (
	"sync/atomic"
	"unsafe"

	"github.com/gannet-net/gannet/pkt"
)

type mapping struct {
	intAddr [16]byte
	extAddr [16]byte
	intPort uint16
	extPort uint16
	space   uint16
	fam     pkt.Family
	proto   uint8
	refs    int32
	// head is the first session using the mapping for its source
	// (head[0], outbound) or its destination (head[1], inbound).
	head [2]int32
}

type mappings struct {
	m    []mapping
	free []int32
	// index slot: uint32(hash)<<32 | (mi<<1|side)+1; 0 = empty. The hash
	// bits let a probe skip slots without touching their mapping, and
	// give each entry's home for deletion without rehashing. Written
	// under Table.mu; read atomically so that a worker may look for a
	// tag before it takes the lock (mayHave).
	index []atomic.Uint64
	mask  uint64
}

const (
	sideInt = 0
	sideExt = 1
)

// init makes the free list of mappings whose arrays are in place and
// empty.
func (ms *mappings) init() {
	n := len(ms.m)
	ms.free = make([]int32, n)
	for i := range ms.free {
		ms.free[i] = int32(n - 1 - i)
	}
	ms.mask = uint64(len(ms.index) - 1)
}

func (ms *mappings) memoryBytes() int {
	return len(ms.m)*int(unsafe.Sizeof(mapping{})) + cap(ms.free)*4 + len(ms.index)*8
}

// mapKey is the key of one side of a mapping. The external side marks
// dst with 1 so that the two sides never collide.
func intKey(space uint16, fam pkt.Family, proto uint8, a *[16]byte, port uint16) key {
	return key{src: addrWords(a), m: packM(space, fam, proto, port, 0)}
}

func extKey(fam pkt.Family, proto uint8, a *[16]byte, port uint16) key {
	return key{src: addrWords(a), dst: [2]uint64{1, 0}, m: packM(0, fam, proto, port, 0)}
}

func (m *mapping) keyOf(side int) key {
	if side == sideInt {
		return intKey(m.space, m.fam, m.proto, &m.intAddr, m.intPort)
	}
	return extKey(m.fam, m.proto, &m.extAddr, m.extPort)
}

// findMapping returns the mapping whose side has key k (hash h), or -1.
func (t *Table) findMapping(side int, k *key, h uint64) int32 {
	ms := &t.maps
	tag := uint64(uint32(h))
	for i := tag & ms.mask; ; i = (i + 1) & ms.mask {
		v := ms.index[i].Load()
		if v == 0 {
			return -1
		}
		ref := uint32(v) - 1
		if v>>32 == tag && int(ref&1) == side {
			if mk := ms.m[ref>>1].keyOf(side); mk.equal(k) {
				return int32(ref >> 1)
			}
		}
	}
}

// mayHave reports whether the mapping index may hold an entry for side
// with hash h: an entry with its tag. Without the lock: a false answer
// can be wrong only if a mapping is being made at this moment, which the
// caller finds again under the lock. Its loads also bring the entry's
// slots into the cache for the locked lookup.
func (ms *mappings) mayHave(side int, h uint64) bool {
	tag := uint64(uint32(h))
	for i := tag & ms.mask; ; i = (i + 1) & ms.mask {
		v := ms.index[i].Load()
		if v == 0 {
			return false
		}
		if v>>32 == tag && int((uint32(v)-1)&1) == side {
			return true
		}
	}
}

// mapIndexInsert indexes side of mapping mi, whose key hashes to h.
func (t *Table) mapIndexInsert(mi int32, side int, h uint64) {
	ms := &t.maps
	tag := uint64(uint32(h))
	for i := tag & ms.mask; ; i = (i + 1) & ms.mask {
		if ms.index[i].Load() == 0 {
			storeRelaxed(&ms.index[i], tag<<32|uint64(uint32(mi)<<1|uint32(side))+1)
			return
		}
	}
}

func (t *Table) mapIndexDelete(mi int32, side int) {
	ms := &t.maps
	k := ms.m[mi].keyOf(side)
	tag := uint64(uint32(k.hash(t.s0, t.s1)))
	want := tag<<32 | uint64(uint32(mi)<<1|uint32(side)) + 1
	i := tag & ms.mask
	for ms.index[i].Load() != want {
		i = (i + 1) & ms.mask
	}
	for j := i; ; {
		j = (j + 1) & ms.mask
		v := ms.index[j].Load()
		if v == 0 {
			storeRelaxed(&ms.index[i], 0)
			return
		}
		home := (v >> 32) & ms.mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			storeRelaxed(&ms.index[i], v)
			i = j
		}
	}
}

// newMapping records a mapping whose external port is already reserved;
// ikh is the hash of its internal key. The caller checked that a slot is
// free.
func (t *Table) newMapping(m mapping, ikh uint64) int32 {
	ms := &t.maps
	mi := ms.free[len(ms.free)-1]
	ms.free = ms.free[:len(ms.free)-1]
	m.head = [2]int32{-1, -1}
	ms.m[mi] = m
	ek := m.keyOf(sideExt)
	t.mapIndexInsert(mi, sideInt, ikh)
	t.mapIndexInsert(mi, sideExt, ek.hash(t.s0, t.s1))
	return mi
}

// link adds session si to mapping mi's list for side.
func (t *Table) link(si int32, side int, mi int32) {
	m := &t.maps.m[mi]
	s := &t.sess[si]
	s.link[side] = mlink{m: mi, next: m.head[side], prev: -1}
	if m.head[side] >= 0 {
		t.sess[m.head[side]].link[side].prev = si
	}
	m.head[side] = si
	m.refs++
}

// unlink removes session si from its mapping on side and frees the
// mapping, with its external port, when no session is left.
func (t *Table) unlink(si int32, side int) {
	l := t.sess[si].link[side]
	m := &t.maps.m[l.m]
	if l.prev >= 0 {
		t.sess[l.prev].link[side].next = l.next
	} else {
		m.head[side] = l.next
	}
	if l.next >= 0 {
		t.sess[l.next].link[side].prev = l.prev
	}
	t.sess[si].link[side] = mlink{m: -1, next: -1, prev: -1}
	m.refs--
	if m.refs > 0 {
		return
	}
	t.mapIndexDelete(l.m, sideInt)
	t.mapIndexDelete(l.m, sideExt)
	if ps := t.ports[famKey{m.fam, m.extAddr}]; ps != nil {
		ps.release(portSlot(m.proto), m.extPort)
	}
	t.maps.free = append(t.maps.free, l.m)
}

// sentTo reports whether mapping mi has an outbound session whose
// original destination address is a (address-dependent filtering).
func (t *Table) sentTo(mi int32, a [2]uint64) bool {
	for si := t.maps.m[mi].head[sideInt]; si >= 0; si = t.sess[si].link[sideInt].next {
		s := &t.sess[si]
		if s.key[0][2].Load() == a[0] && s.key[0][3].Load() == a[1] {
			return true
		}
	}
	return false
}
