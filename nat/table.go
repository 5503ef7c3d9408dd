package nat

// The connection table: a fixed array of sessions and an open-addressing
// index over the keys of both directions of every session. Lookups run
// without a lock; creation, removal and eviction run under Table.mu.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Session state bits, the low 32 bits of session.ctl.
const (
	stLive      = 1 << 0
	stSeenReply = 1 << 1 // a packet went in the reply direction
	stSynOrig   = 1 << 2 // TCP: SYN from the initiator
	stSynReply  = 1 << 3 // TCP: SYN (or SYN-ACK) from the responder: established
	stFinOrig   = 1 << 4
	stFinReply  = 1 << 5
	stRst       = 1 << 6 // TCP: RST seen, held for the RST hold time (RFC 7857 section 2.2)
	stLoose     = 1 << 7 // TCP: picked up mid-stream; the first reply completes it

	stClassShift = 8 // timer class, so expiry needs no key
	stClassMask  = 3 << stClassShift

	stStateMask = 1<<10 - 1 // every bit above: the timer depends on these only
)

// Timer classes.
const (
	classOther = iota
	classTCP
	classUDP
	classICMP
)

const seqOdd = 1 << 32 // the low bit of the sequence number in ctl

// session is one tracked flow: its two keys (original direction, as the
// initiator sent it, and reply direction, as the answer arrives after
// translation), the checksum deltas of translating each direction, and
// its state. Fields read by lock-free lookups are atomic; the rest is
// touched only under Table.mu. A session is 128 bytes, two whole cache
// lines, which processors fetch together: the first holds the control
// word, the original key and part of the reply key, the second the rest
// of the reply key, the deltas and the mapping links.
type session struct {
	// ctl is seq<<32 | state. Written by: creation and removal under mu
	// (seq odd while keys change), and by any worker's state CAS, which
	// keeps seq. A reader that sees the same seq before and after reading
	// the keys read one consistent session.
	ctl atomic.Uint64
	// seen is the last refresh in seconds since the table's epoch; any
	// worker stores it.
	seen atomic.Uint32
	_    uint32
	key  [2][5]atomic.Uint64
	// xl holds, for each direction d in bits 32d..32d+31, the checksum
	// deltas of translating a packet of key[d] (xlPair): computed once
	// when the session is made, so that a packet only adds them.
	xl atomic.Uint64
	// link ties the session to the mapping that translates its source
	// (link[0]) or its destination (link[1]); under mu.
	link [2]mlink
}

// mlink is a session's place in a mapping's list of sessions.
type mlink struct{ m, next, prev int32 }

// storeKey writes key d; the caller has made the session's sequence
// number odd.
func (s *session) storeKey(d int, k *key) {
	w := &s.key[d]
	storeRelaxed(&w[0], k.src[0])
	storeRelaxed(&w[1], k.src[1])
	storeRelaxed(&w[2], k.dst[0])
	storeRelaxed(&w[3], k.dst[1])
	storeRelaxed(&w[4], k.m)
}

func (s *session) loadKey(d int) key {
	w := &s.key[d]
	return key{src: [2]uint64{w[0].Load(), w[1].Load()},
		dst: [2]uint64{w[2].Load(), w[3].Load()}, m: w[4].Load()}
}

// Config sizes a Table. It is fixed for the table's life; what may change
// while the table runs is in Policy.
type Config struct {
	// Capacity is the number of sessions (flows) the table holds.
	Capacity int
	// MaxMappings is the number of endpoint-independent source NAT
	// mappings (internal address and port to external address and port);
	// zero means Capacity.
	MaxMappings int
	// Clock gives the time; nil means the wall clock. Tests pass a
	// *ManualClock.
	Clock Clock
	// Seed keys the hash and the port search; zero picks a random one.
	// Outcomes (mappings, ports) depend only on the seed and the packets.
	Seed uint64
	// SweepPerBatch is how many session slots each BeginBatch inspects
	// for expiry; zero means 64.
	SweepPerBatch int
	// Fragments is how many fragmented datagrams the table remembers at
	// once (their first fragment's session, for the later fragments);
	// zero means DefaultFragments.
	Fragments int
}

// MaxCapacity bounds Config.Capacity: session references are 31 bits.
const MaxCapacity = 1 << 28

// Table is the connection table shared by all workers.
type Table struct {
	cfg    Config
	clock  Clock
	epoch  time.Time
	s0, s1 uint64

	index []atomic.Uint64 // slot: uint32(hash)<<32 | (si<<1|dir)+1; 0 = empty
	mask  uint64
	sess  []session
	// wseq is odd while the index or a session is being changed (under
	// mu); a lookup miss is trusted only if wseq was even and unchanged
	// across the probe.
	wseq atomic.Uint64

	frags fragTable // first fragments seen, for the later ones

	policy atomic.Pointer[snapshot]
	sweep  atomic.Uint64 // next slot BeginBatch inspects

	mu       sync.Mutex
	free     []int32 // free session slots (stack)
	live     int
	evictPos int
	maps     mappings
	ports    map[famKey]*portSet // by external address; never shrinks

	state *stateFile // the state file the arrays live in; nil: memory (New)
}

// New makes a table. It has no policy until SetPolicy: until then every
// new flow is tracked without translation, with default timeouts.
func New(cfg Config) (*Table, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if err := cfg.pickSeed(); err != nil {
		return nil, err
	}
	l := layoutOf(&cfg)
	t := newTable(cfg, cfg.Clock.Now())
	t.index = hugeSlice[atomic.Uint64](t, l.indexLen)
	t.sess = hugeSlice[session](t, l.capacity)
	t.maps.m = hugeSlice[mapping](t, l.maxMappings)
	t.maps.index = hugeSlice[atomic.Uint64](t, l.mapIndexLen)
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// normalize applies cfg's defaults and checks its ranges.
func (cfg *Config) normalize() error {
	if cfg.Capacity < 1 || cfg.Capacity > MaxCapacity {
		return fmt.Errorf("nat: Config.Capacity %d out of range 1..%d", cfg.Capacity, MaxCapacity)
	}
	if cfg.MaxMappings == 0 {
		cfg.MaxMappings = cfg.Capacity
	}
	if cfg.MaxMappings < 1 || cfg.MaxMappings > MaxCapacity {
		return fmt.Errorf("nat: Config.MaxMappings %d out of range 1..%d", cfg.MaxMappings, MaxCapacity)
	}
	if cfg.SweepPerBatch == 0 {
		cfg.SweepPerBatch = 64
	}
	if cfg.SweepPerBatch < 0 || cfg.SweepPerBatch > maxSweep {
		return fmt.Errorf("nat: Config.SweepPerBatch %d out of range 1..%d", cfg.SweepPerBatch, maxSweep)
	}
	if cfg.Fragments == 0 {
		cfg.Fragments = DefaultFragments
	}
	if cfg.Fragments < 1 || cfg.Fragments > MaxFragments {
		return fmt.Errorf("nat: Config.Fragments %d out of range 1..%d", cfg.Fragments, MaxFragments)
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	return nil
}

// pickSeed gives a zero Config.Seed a random value.
func (cfg *Config) pickSeed() error {
	if cfg.Seed != 0 {
		return nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("nat: seed: %w", err)
	}
	cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	return nil
}

// newTable makes a table of cfg (normalized, seeded) whose clock started
// at epoch, without its arrays.
func newTable(cfg Config, epoch time.Time) *Table {
	t := &Table{cfg: cfg, clock: cfg.Clock, epoch: epoch}
	t.s0 = mum(cfg.Seed, 0xa0761d6478bd642f)
	t.s1 = mum(cfg.Seed^0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3)
	return t
}

// finish completes a table whose arrays are in place and empty: free
// lists, the fragment table, the port bitmaps, the default policy.
func (t *Table) finish() error {
	t.mask = uint64(len(t.index) - 1)
	t.free = make([]int32, 0, len(t.sess))
	for i := len(t.sess) - 1; i >= 0; i-- {
		t.free = append(t.free, int32(i)) // pop gives slot 0 first
	}
	t.maps.init()
	t.frags.init(t.cfg.Fragments)
	t.ports = make(map[famKey]*portSet)
	return t.SetPolicy(&Policy{})
}

// indexSize is the length of an index over n entries of two keys each:
// a power of two, at most half full.
func indexSize(n int) int {
	size := 4
	for size < 4*n {
		size <<= 1
	}
	return size
}

// MemoryBytes is what the table's fixed arrays occupy: sessions, index,
// mappings and their index, and port bitmaps of external addresses.
func (t *Table) MemoryBytes() int {
	n := len(t.sess)*int(unsafe.Sizeof(session{})) + len(t.index)*8 +
		cap(t.free)*4 + t.maps.memoryBytes() + len(t.frags.e)*int(unsafe.Sizeof(fragEntry{}))
	t.mu.Lock()
	n += len(t.ports) * int(unsafe.Sizeof(portSet{}))
	t.mu.Unlock()
	return n
}

// Len returns the number of live sessions.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// now returns the table's clock in whole seconds since its epoch (plus
// one, so that zero never is a time) and in nanoseconds.
func (t *Table) now() (uint32, int64) {
	d := t.clock.Now().Sub(t.epoch)
	return uint32(d/time.Second) + 1, int64(d)
}

// hit is what a lookup learns about a session.
type hit struct {
	si    uint32
	dir   int
	ctl   uint64
	seen  uint32
	xl    uint32 // the checksum deltas of translating this direction
	other key    // the key of the opposite direction
}

// probe walks k's probe chain without a lock. A hit is exact: the key was
// compared under the session's sequence number. A miss may be wrong if a
// writer moved entries meanwhile; lookup decides.
func (t *Table) probe(k *key, h uint64, out *hit) bool {
	tag := uint32(h)
	index, sess, mask := t.index, t.sess, t.mask
	for i := uint64(tag) & mask; ; i = (i + 1) & mask {
		v := index[i].Load()
		if v == 0 {
			return false
		}
		if uint32(v>>32) != tag {
			continue
		}
		ref := uint32(v) - 1
		s := &sess[ref>>1]
		d := int(ref & 1)
		c1 := s.ctl.Load()
		w, o := &s.key[d], &s.key[d^1]
		// One test for the whole key (most probes hit).
		diff := (loadRelaxed(&w[0]) ^ k.src[0]) | (loadRelaxed(&w[1]) ^ k.src[1]) |
			(loadRelaxed(&w[2]) ^ k.dst[0]) | (loadRelaxed(&w[3]) ^ k.dst[1]) | (loadRelaxed(&w[4]) ^ k.m)
		if diff != 0 || c1&(seqOdd|stLive) != stLive {
			continue
		}
		// Field by field: a composite literal is built on the stack and
		// copied with 16-byte moves that cannot forward its 8-byte stores.
		out.other.src[0], out.other.src[1] = loadRelaxed(&o[0]), loadRelaxed(&o[1])
		out.other.dst[0], out.other.dst[1] = loadRelaxed(&o[2]), loadRelaxed(&o[3])
		out.other.m = loadRelaxed(&o[4])
		out.seen = loadRelaxed32(&s.seen)
		out.xl = uint32(loadRelaxed(&s.xl) >> (32 * d))
		if s.ctl.Load()>>32 != c1>>32 {
			continue
		}
		out.si, out.dir, out.ctl = ref>>1, d, c1
		return true
	}
}

// lookup finds k's session. A miss is returned only when no writer
// touched the table during the probe; after a few unlucky tries it probes
// under the lock.
func (t *Table) lookup(k *key, h uint64, out *hit) bool {
	for range 3 {
		w := t.wseq.Load()
		if t.probe(k, h, out) {
			return true
		}
		if w&1 == 0 && t.wseq.Load() == w {
			return false
		}
	}
	t.mu.Lock()
	ok := t.probe(k, h, out)
	t.mu.Unlock()
	return ok
}

// beginWrite and endWrite bracket every change to the index or to a
// session's keys; the caller holds mu.
func (t *Table) beginWrite() { t.wseq.Add(1) }
func (t *Table) endWrite()   { t.wseq.Add(1) }

func (t *Table) indexInsert(h uint64, ref uint32) {
	tag := uint32(h)
	for i := uint64(tag) & t.mask; ; i = (i + 1) & t.mask {
		if t.index[i].Load() == 0 {
			storeRelaxed(&t.index[i], uint64(tag)<<32|uint64(ref+1))
			return
		}
	}
}

// indexDelete removes the entry (h, ref) and closes the gap by shifting
// later entries of the run back (no tombstones, so chains stay short
// however long the table runs).
func (t *Table) indexDelete(h uint64, ref uint32) {
	want := uint64(uint32(h))<<32 | uint64(ref+1)
	i := uint64(uint32(h)) & t.mask
	for t.index[i].Load() != want {
		i = (i + 1) & t.mask
	}
	for j := i; ; {
		j = (j + 1) & t.mask
		v := t.index[j].Load()
		if v == 0 {
			storeRelaxed(&t.index[i], 0)
			return
		}
		home := (v >> 32) & t.mask
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			storeRelaxed(&t.index[i], v)
			i = j
		}
	}
}

// addSession stores a new session in a free slot and indexes both keys,
// whose hashes are h0 and h1, and links it to the mappings that translate
// its source (srcMap) and destination (dstMap), -1 for none. The caller
// holds mu and has checked that a slot is free.
func (t *Table) addSession(k0, k1 *key, h0, h1 uint64, st uint32, now uint32, srcMap, dstMap int32) int32 {
	si := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	t.live++
	s := &t.sess[si]
	t.beginWrite()
	seq := s.ctl.Load() >> 32
	s.ctl.Store((seq + 1) << 32)
	s.storeKey(0, k0)
	s.storeKey(1, k1)
	storeRelaxed(&s.xl, xlPair(k0, k1))
	s.seen.Store(now)
	// The mappings are named before the session is live: a table in a
	// state file may be adopted after a crash at any instruction, and a
	// live session must say which mappings it holds (state.go).
	s.link = [2]mlink{{m: srcMap, next: -1, prev: -1}, {m: dstMap, next: -1, prev: -1}}
	s.ctl.Store((seq+2)<<32 | uint64(st|stLive))
	t.indexInsert(h0, uint32(si)<<1)
	t.indexInsert(h1, uint32(si)<<1|1)
	t.endWrite()
	if srcMap >= 0 {
		t.link(si, sideInt, srcMap)
	}
	if dstMap >= 0 {
		t.link(si, sideExt, dstMap)
	}
	return si
}

// removeSession unindexes a session, releases its mappings and frees its
// slot. The caller holds mu.
func (t *Table) removeSession(si int32) {
	s := &t.sess[si]
	t.beginWrite()
	seq := s.ctl.Load() >> 32
	s.ctl.Store((seq + 1) << 32)
	k0, k1 := s.loadKey(0), s.loadKey(1)
	t.indexDelete(k0.hash(t.s0, t.s1), uint32(si)<<1)
	t.indexDelete(k1.hash(t.s0, t.s1), uint32(si)<<1|1)
	s.ctl.Store((seq + 2) << 32)
	t.endWrite()
	for side := range 2 {
		if s.link[side].m >= 0 {
			t.unlink(si, side)
		}
	}
	t.free = append(t.free, si)
	t.live--
}

// expired reports whether a session with control word ctl last seen at
// seen has outlived its idle timer at now.
func expired(ctl uint64, seen, now uint32, tm *timers) bool {
	return int32(now-seen) > int32(tm.timeout(uint32(ctl)))
}

// established reports whether state st is an established flow: one that
// eviction spares while anything else can go.
func established(st uint32) bool {
	if st&stSeenReply == 0 {
		return false
	}
	if (st&stClassMask)>>stClassShift == classTCP {
		return st&stSynReply != 0 && st&stRst == 0 && st&(stFinOrig|stFinReply) != stFinOrig|stFinReply
	}
	return true
}

// evictOne frees a slot by removing an expired or non-established
// session, looking at no more than evictScan slots. The caller holds mu.
func (t *Table) evictOne(now uint32, tm *timers) bool {
	const evictScan = 64
	n := len(t.sess)
	for range min(evictScan, n) {
		si := int32(t.evictPos)
		t.evictPos++
		if t.evictPos == n {
			t.evictPos = 0
		}
		s := &t.sess[si]
		c := s.ctl.Load()
		if c&stLive == 0 {
			continue
		}
		if expired(c, s.seen.Load(), now, tm) || !established(uint32(c)) {
			t.removeSession(si)
			return true
		}
	}
	return false
}

// sweepSome inspects the next n slots and removes those that expired;
// the lock is taken only when there is something to remove.
func (t *Table) sweepSome(n int, now uint32, tm *timers, scratch *[maxSweep]int32) int {
	size := uint64(len(t.sess))
	si := int((t.sweep.Add(uint64(n)) - uint64(n)) % size)
	found := 0
	for range n {
		if si == len(t.sess) {
			si = 0
		}
		s := &t.sess[si]
		si++
		c := s.ctl.Load()
		if c&stLive != 0 && c&seqOdd == 0 && expired(c, s.seen.Load(), now, tm) {
			scratch[found] = int32(si - 1)
			found++
		}
	}
	if found == 0 {
		return 0
	}
	removed := 0
	t.mu.Lock()
	for _, si := range scratch[:found] {
		s := &t.sess[si]
		c := s.ctl.Load()
		if c&stLive != 0 && expired(c, s.seen.Load(), now, tm) {
			t.removeSession(si)
			removed++
		}
	}
	t.mu.Unlock()
	return removed
}

const maxSweep = 1024
