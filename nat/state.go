package nat

// State files: a table whose fixed arrays — sessions, their index,
// mappings and the mapping index — live in one file mapped shared
// (MAP_SHARED, on tmpfs under the data plane's state directory) instead
// of anonymous memory. Every store the data path makes lands in the file
// as it happens, so a process that stops — exits, is upgraded, or is
// killed at any instruction — leaves the table behind, and the next
// process maps the file and adopts it: a restart loses no session.
//
// Nothing in the file is trusted. The header (magic, layout version,
// the sizes of the structures, the capacity and mapping count that fix
// the layout, the hash seed, the epoch of the table's clock, the boot it
// was written in, a CRC) must match exactly, or the table starts empty
// and Restore.Why says why. Then every session is checked on its own
// (state bits, keys of one family and protocol, checksum deltas that
// match its keys, a last-seen time not in the future, mappings in range
// that translate exactly its keys), and what cannot be kept in a file
// as it is, or should not be believed, is rebuilt from the sessions
// that pass: the index (every entry then points at a live session and
// no key is held twice), each mapping's session list and reference
// count, the mapping index, the free lists, and the port bitmaps (a
// port is reserved exactly when one adopted mapping holds it; a second
// mapping claiming it is dropped with its sessions). A session or
// mapping that fails is dropped and counted, never repaired.
//
// Time survives as the clock's epoch: last-seen times are seconds since
// the epoch, and the header keeps the epoch on a clock that goes on
// while no process runs (CLOCK_BOOTTIME for the wall clock, with the
// boot's id), so an adopted session keeps exactly its remaining idle
// time and one that expired while nothing ran is swept as usual.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unsafe"

	"github.com/gannet-net/gannet/pkt"
)

// stateVersion is the layout of a state file; a process that finds
// another version starts empty. Bump it with any change to session,
// mapping, the index entries or the header.
const stateVersion = 1

var stateMagic = [8]byte{'g', 'a', 'n', 'n', 'e', 't', 'C', 'T'}

// Header fields, at these offsets of the file's first page. Native byte
// order: the file is a memory image of this machine, never moved.
const (
	hMagic       = 0  // [8]byte
	hVersion     = 8  // uint32
	hSessionSize = 12 // uint32: unsafe.Sizeof(session{})
	hMappingSize = 16 // uint32: unsafe.Sizeof(mapping{})
	hByteOrder   = 20 // uint32: byteOrderMark as written
	hCapacity    = 24 // uint64
	hMaxMappings = 32 // uint64
	hIndexLen    = 40 // uint64
	hMapIndexLen = 48 // uint64
	hSize        = 56 // uint64: the file's length
	hSeed        = 64 // uint64
	hClockKind   = 72 // uint32: clockBoot or clockUnix
	hEpoch       = 80 // int64: the epoch on that clock, ns
	hBootID      = 88 // [16]byte: the boot, for clockBoot
	hCRC         = 104
	hLen         = hCRC // the CRC covers everything before it

	headerPage = 4096
)

const byteOrderMark = 0x01020304

// Clock kinds: what the epoch in the header is measured on.
const (
	clockBoot = 1 // CLOCK_BOOTTIME of the boot named in the header
	clockUnix = 2 // the Clock's own reading, as Unix nanoseconds
)

var ne = binary.NativeEndian

// layout is where each array lies in a state file.
type layout struct {
	capacity, maxMappings int
	indexLen, mapIndexLen int
	sessOff, indexOff     int
	mapOff, mapIndexOff   int
	size                  int
}

func pageUp(n int) int { return (n + headerPage - 1) &^ (headerPage - 1) }

// layoutOf places the arrays of a table of cfg (normalized): the header
// page, then sessions, index, mappings and mapping index, each on a page
// boundary.
func layoutOf(cfg *Config) layout {
	l := layout{capacity: cfg.Capacity, maxMappings: cfg.MaxMappings,
		indexLen: indexSize(cfg.Capacity), mapIndexLen: indexSize(cfg.MaxMappings)}
	off := headerPage
	l.sessOff, off = off, pageUp(off+l.capacity*int(unsafe.Sizeof(session{})))
	l.indexOff, off = off, pageUp(off+l.indexLen*8)
	l.mapOff, off = off, pageUp(off+l.maxMappings*int(unsafe.Sizeof(mapping{})))
	l.mapIndexOff, off = off, pageUp(off+l.mapIndexLen*8)
	l.size = off
	return l
}

// stateClock is when a table's clock reads now, on a clock that survives
// the process: the kind, the reading in ns and, for clockBoot, the boot.
type stateClock struct {
	kind uint32
	ns   int64
	boot [16]byte
}

// stateNow reads c on a clock that survives the process. The wall clock
// is read on CLOCK_BOOTTIME where there is one (bootClock): it does not
// jump with the time of day, and goes on while no process runs.
func stateNow(c Clock) stateClock {
	if _, wall := c.(wallClock); wall {
		if ns, boot, ok := bootClock(); ok {
			return stateClock{kind: clockBoot, ns: ns, boot: boot}
		}
	}
	return stateClock{kind: clockUnix, ns: c.Now().UnixNano()}
}

// writeHeader fills the header of a fresh state file of layout l for a
// table of cfg whose clock's epoch is at.
func writeHeader(mem []byte, l *layout, cfg *Config, at stateClock) {
	h := mem[:headerPage]
	clear(h)
	copy(h[hMagic:], stateMagic[:])
	ne.PutUint32(h[hVersion:], stateVersion)
	ne.PutUint32(h[hSessionSize:], uint32(unsafe.Sizeof(session{})))
	ne.PutUint32(h[hMappingSize:], uint32(unsafe.Sizeof(mapping{})))
	ne.PutUint32(h[hByteOrder:], byteOrderMark)
	ne.PutUint64(h[hCapacity:], uint64(l.capacity))
	ne.PutUint64(h[hMaxMappings:], uint64(l.maxMappings))
	ne.PutUint64(h[hIndexLen:], uint64(l.indexLen))
	ne.PutUint64(h[hMapIndexLen:], uint64(l.mapIndexLen))
	ne.PutUint64(h[hSize:], uint64(l.size))
	ne.PutUint64(h[hSeed:], cfg.Seed)
	ne.PutUint32(h[hClockKind:], at.kind)
	ne.PutUint64(h[hEpoch:], uint64(at.ns))
	copy(h[hBootID:], at.boot[:])
	ne.PutUint32(h[hCRC:], crc32.Checksum(h[:hLen], crcTable))
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errNotAdopted is the class of every reason a state file is not
// adopted; the message says which.
var errNotAdopted = errors.New("not adopted")

func notAdopted(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNotAdopted}, args...)...)
}

// checkHeader reports why the state file mem cannot hold a table of cfg
// (normalized) laid out as l, read at now; nil when it can. It returns
// the file's seed and epoch.
func checkHeader(mem []byte, l *layout, cfg *Config, now stateClock) (seed uint64, epochNs int64, err error) {
	if len(mem) < headerPage {
		return 0, 0, notAdopted("%d bytes, shorter than its header", len(mem))
	}
	h := mem[:headerPage]
	if [8]byte(h[hMagic:hMagic+8]) != stateMagic {
		return 0, 0, notAdopted("no state-file magic (not written by gannet, or never completed)")
	}
	if v := ne.Uint32(h[hVersion:]); v != stateVersion {
		return 0, 0, notAdopted("layout version %d, this gannet reads version %d", v, stateVersion)
	}
	if c := ne.Uint32(h[hCRC:]); c != crc32.Checksum(h[:hLen], crcTable) {
		return 0, 0, notAdopted("header checksum %#x does not match its contents", c)
	}
	if ne.Uint32(h[hByteOrder:]) != byteOrderMark {
		return 0, 0, notAdopted("written with another byte order")
	}
	if s, m := ne.Uint32(h[hSessionSize:]), ne.Uint32(h[hMappingSize:]); s != uint32(unsafe.Sizeof(session{})) || m != uint32(unsafe.Sizeof(mapping{})) {
		return 0, 0, notAdopted("sessions of %d bytes and mappings of %d, this gannet's are %d and %d",
			s, m, unsafe.Sizeof(session{}), unsafe.Sizeof(mapping{}))
	}
	if c := ne.Uint64(h[hCapacity:]); c != uint64(l.capacity) {
		return 0, 0, notAdopted("capacity %d sessions, configured %d", c, l.capacity)
	}
	if m := ne.Uint64(h[hMaxMappings:]); m != uint64(l.maxMappings) {
		return 0, 0, notAdopted("%d mappings, configured %d", m, l.maxMappings)
	}
	if ne.Uint64(h[hIndexLen:]) != uint64(l.indexLen) || ne.Uint64(h[hMapIndexLen:]) != uint64(l.mapIndexLen) ||
		ne.Uint64(h[hSize:]) != uint64(l.size) || len(mem) != l.size {
		return 0, 0, notAdopted("laid out for another size (%d bytes, want %d)", len(mem), l.size)
	}
	seed = ne.Uint64(h[hSeed:])
	if seed == 0 || (cfg.Seed != 0 && seed != cfg.Seed) {
		return 0, 0, notAdopted("hash seed %#x, configured %#x", seed, cfg.Seed)
	}
	if k := ne.Uint32(h[hClockKind:]); k != now.kind {
		return 0, 0, notAdopted("times on clock kind %d, this table's clock is kind %d", k, now.kind)
	}
	if now.kind == clockBoot && [16]byte(h[hBootID:hBootID+16]) != now.boot {
		return 0, 0, notAdopted("written before the system last booted")
	}
	epochNs = int64(ne.Uint64(h[hEpoch:]))
	if age := now.ns - epochNs; age < 0 || age >= int64(maxAge) {
		return 0, 0, notAdopted("its clock's epoch is %v from now", time.Duration(-age))
	}
	return seed, epochNs, nil
}

// maxAge bounds a state file's age: last-seen times are 32-bit seconds
// since the epoch.
const maxAge = time.Duration(1<<31-1) * time.Second

// Restore says what Open found in its state file.
type Restore struct {
	// Path is the state file.
	Path string
	// Adopted: the file held a table of this layout, and its sessions
	// that passed every check are in the table. Otherwise the table
	// starts empty and Why says why.
	Adopted bool
	Why     string
	// Sessions and Mappings are how many were adopted.
	Sessions, Mappings int
	// Dropped counts sessions (and Unmapped mappings) found
	// inconsistent, with the first problem seen; a session caught
	// half-written by a crash is one.
	Dropped  int
	Problem  string
	Unmapped int
	// Age is how long ago the table's clock started: the file's
	// lifetime, across every process that used it.
	Age time.Duration
	// Took is how long adoption took.
	Took time.Duration
}

// newTableOn makes a table of cfg (normalized) on the state-file memory
// mem (laid out as l; page-aligned, zeroed when fresh) read at now. A
// file that passes checkHeader is adopted; any other is cleared and
// started afresh, with the reason in Restore.Why.
func newTableOn(mem []byte, l *layout, cfg Config, now stateClock) (*Table, Restore, error) {
	var r Restore
	t0 := time.Now()
	seed, epochNs, err := checkHeader(mem, l, &cfg, now)
	if err != nil {
		if len(mem) != l.size {
			return nil, r, fmt.Errorf("nat: state file of %d bytes, want %d", len(mem), l.size)
		}
		r.Why = strings.TrimPrefix(err.Error(), errNotAdopted.Error()+": ")
		clear(mem)
		if err := cfg.pickSeed(); err != nil {
			return nil, r, err
		}
		epochNs = now.ns
	} else {
		cfg.Seed = seed
		r.Adopted = true
	}
	age := time.Duration(now.ns - epochNs)
	r.Age = age
	t := newTable(cfg, cfg.Clock.Now().Add(-age))
	bindArrays(t, mem, l)
	if r.Adopted {
		t.adopt(&r)
		if err := t.SetPolicy(&Policy{}); err != nil {
			return nil, r, err
		}
	} else {
		if err := t.finish(); err != nil {
			return nil, r, err
		}
		// Last: a crash before this leaves a file without a valid
		// header, which the next start clears.
		writeHeader(mem, l, &cfg, stateClock{kind: now.kind, ns: epochNs, boot: now.boot})
	}
	r.Took = time.Since(t0)
	return t, r, nil
}

// Session problems found at adoption.
const (
	badHalfWritten = "a session half-written when the process stopped"
	badState       = "state bits out of range"
	badKeys        = "keys of no family, or of two"
	badDeltas      = "checksum deltas that do not match its keys"
	badSeen        = "last seen in the future"
	badLink        = "a mapping reference out of range"
	badMapping     = "a mapping that is malformed or does not translate its keys"
	badDuplicate   = "a key another session holds"
	badPort        = "an external port another mapping holds"
)

// adopt takes over the sessions of a state file whose header matched,
// checking each, and rebuilds everything else from them. Nothing runs
// on the table yet.
func (t *Table) adopt(r *Restore) {
	now, _ := t.now()
	drop := func(si int, why string) {
		t.sess[si].ctl.Store(0)
		r.Dropped++
		if r.Problem == "" {
			r.Problem = fmt.Sprintf("session %d: %s", si, why)
		}
	}
	// A mapping is adopted only for a session it translates: a free
	// slot keeps whatever mapping it last held.
	const (
		mUnseen = iota
		mFormed // well formed, no session has claimed it yet
		mUsed   // translates an adopted session
		mBad
	)
	mstate := make([]uint8, len(t.maps.m))
	// Sessions, each on its own, and the mappings they name.
	cand := make([]bool, len(t.sess))
	for si := range t.sess {
		s := &t.sess[si]
		c := s.ctl.Load()
		if c&seqOdd != 0 {
			drop(si, badHalfWritten)
			continue
		}
		if c&stLive == 0 {
			s.ctl.Store(0)
			continue
		}
		if why := t.checkSession(s, now); why != "" {
			drop(si, why)
			continue
		}
		k0, k1 := s.loadKey(0), s.loadKey(1)
		good := true
		for side := range 2 {
			mi := s.link[side].m
			if mi < 0 {
				continue
			}
			if mstate[mi] == mUnseen {
				mstate[mi] = mBad
				if t.maps.m[mi].wellFormed() {
					mstate[mi] = mFormed
				}
			}
			if mstate[mi] == mBad || !t.maps.m[mi].translates(side, &k0, &k1) {
				good = false
			}
		}
		if !good {
			drop(si, badMapping)
			continue
		}
		for side := range 2 {
			if mi := s.link[side].m; mi >= 0 {
				mstate[mi] = mUsed
			}
		}
		cand[si] = true
	}
	// Mappings: indexed anew; a port is reserved by one mapping only.
	clear(t.maps.index)
	t.ports = make(map[famKey]*portSet)
	for mi := range t.maps.m {
		if mstate[mi] != mUsed {
			continue
		}
		m := &t.maps.m[mi]
		fk := famKey{m.fam, m.extAddr}
		ps := t.ports[fk]
		if ps == nil {
			ps = new(portSet)
			t.ports[fk] = ps
		}
		ik := m.keyOf(sideInt)
		ikh := ik.hash(t.s0, t.s1)
		if t.findMapping(sideInt, &ik, ikh) >= 0 || !ps.take(portSlot(m.proto), m.extPort) {
			mstate[mi] = mBad
			r.Unmapped++
			continue
		}
		m.refs, m.head = 0, [2]int32{-1, -1}
		ek := m.keyOf(sideExt)
		t.mapIndexInsert(int32(mi), sideInt, ikh)
		t.mapIndexInsert(int32(mi), sideExt, ek.hash(t.s0, t.s1))
	}
	// Sessions: indexed anew, each key once, linked to their mappings.
	clear(t.index)
	t.mask = uint64(len(t.index) - 1)
	for si := range t.sess {
		if !cand[si] {
			continue
		}
		s := &t.sess[si]
		l := s.link
		if (l[0].m >= 0 && mstate[l[0].m] != mUsed) || (l[1].m >= 0 && mstate[l[1].m] != mUsed) {
			drop(si, badPort)
			continue
		}
		k0, k1 := s.loadKey(0), s.loadKey(1)
		h0, h1 := k0.hash(t.s0, t.s1), k1.hash(t.s0, t.s1)
		var ht hit
		if t.probe(&k0, h0, &ht) || t.probe(&k1, h1, &ht) || k0.equal(&k1) {
			drop(si, badDuplicate)
			continue
		}
		t.indexInsert(h0, uint32(si)<<1)
		t.indexInsert(h1, uint32(si)<<1|1)
		s.link = [2]mlink{{m: -1, next: -1, prev: -1}, {m: -1, next: -1, prev: -1}}
		for side := range 2 {
			if l[side].m >= 0 {
				t.link(int32(si), side, l[side].m)
			}
		}
		t.live++
	}
	// Free lists; a mapping whose sessions were all dropped goes, and
	// with it its port.
	t.free = make([]int32, 0, len(t.sess))
	for si := len(t.sess) - 1; si >= 0; si-- {
		if t.sess[si].ctl.Load()&stLive == 0 {
			t.free = append(t.free, int32(si))
		}
	}
	t.maps.free = make([]int32, 0, len(t.maps.m))
	for mi := len(t.maps.m) - 1; mi >= 0; mi-- {
		m := &t.maps.m[mi]
		if mstate[mi] == mUsed && m.refs == 0 {
			t.mapIndexDelete(int32(mi), sideInt)
			t.mapIndexDelete(int32(mi), sideExt)
			t.ports[famKey{m.fam, m.extAddr}].release(portSlot(m.proto), m.extPort)
			mstate[mi] = mBad
		}
		if mstate[mi] != mUsed {
			t.maps.free = append(t.maps.free, int32(mi))
		} else {
			r.Mappings++
		}
	}
	t.maps.mask = uint64(len(t.maps.index) - 1)
	t.frags.init(t.cfg.Fragments)
	r.Sessions = t.live
}

// checkSession reports what is wrong with a live session on its own, at
// time now; "" when nothing is.
func (t *Table) checkSession(s *session, now uint32) string {
	c := s.ctl.Load()
	st := uint32(c)
	if st&^uint32(stStateMask) != 0 {
		return badState
	}
	k0, k1 := s.loadKey(0), s.loadKey(1)
	if !k0.wellFormed() || !k1.wellFormed() || k0.m>>32&0xffff != k1.m>>32&0xffff {
		return badKeys
	}
	if protoClass(uint8(k0.m>>32)) != (st&stClassMask)>>stClassShift {
		return badState
	}
	if s.xl.Load() != xlPair(&k0, &k1) {
		return badDeltas
	}
	if seen := s.seen.Load(); seen == 0 || int32(now-seen) < 0 {
		return badSeen
	}
	for side := range 2 {
		if m := s.link[side].m; m < -1 || int(m) >= len(t.maps.m) {
			return badLink
		}
	}
	return ""
}

// wellFormed reports whether k is a key of an IP family whose
// addresses fit it.
func (k *key) wellFormed() bool {
	switch pkt.Family(k.m >> 40) {
	case pkt.FamilyIPv4:
		return k.src[1]|k.dst[1]|(k.src[0]|k.dst[0])>>32 == 0
	case pkt.FamilyIPv6:
		return true
	}
	return false
}

// wellFormed reports whether m can be a mapping at all.
func (m *mapping) wellFormed() bool {
	switch m.fam {
	case pkt.FamilyIPv4:
		var z [12]byte
		if [12]byte(m.intAddr[4:]) != z || [12]byte(m.extAddr[4:]) != z {
			return false
		}
	case pkt.FamilyIPv6:
	default:
		return false
	}
	return portSlot(m.proto) >= 0
}

// translates reports whether m is the mapping of the session with keys
// k0 (original) and k1 (reply) on side: the source of k0 is its internal
// endpoint and the destination of k1 its external one (sideInt), or the
// destination of k0 its external endpoint and the source of k1 its
// internal one (sideExt).
func (m *mapping) translates(side int, k0, k1 *key) bool {
	if pkt.Family(k0.m>>40) != m.fam || uint8(k0.m>>32) != m.proto {
		return false
	}
	in, ex := addrWords(&m.intAddr), addrWords(&m.extAddr)
	if side == sideInt {
		return k0.src == in && k0.sport() == m.intPort && k0.space() == m.space &&
			k1.dst == ex && k1.dport() == m.extPort
	}
	return k0.dst == ex && k0.dport() == m.extPort &&
		k1.src == in && k1.sport() == m.intPort && k1.space() == m.space
}
