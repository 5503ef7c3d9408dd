package nat

// Fragments (RFC 4787 REQ-14): only the first fragment of a datagram
// carries the ports, so it is tracked like any packet, and what it found
// (the session and direction) is remembered under the datagram's identity
// — space, family, protocol, addresses and fragment ID, as the datagram
// arrived — for a short time. Later fragments look that up and get the
// same translation: their addresses are rewritten (and, for IPv4, the
// header checksum patched); they hold no transport header to change. A
// fragment that arrives before its first fragment finds nothing: a worker
// that holds fragments (hold.go) keeps a copy until the first fragment
// comes, else it is dropped with reason fragment-no-state. The memory for
// either is fixed, so a flood of fragments costs none (REQ-14 a). Nothing
// is reassembled.

import (
	"sync/atomic"

	"github.com/gannet-net/gannet/pkt"
)

// fragWays is the associativity of the fragment table: a datagram's entry
// lives in one of the fragWays slots of its bucket.
const fragWays = 4

// DefaultFragments is the number of datagrams whose first fragment the
// table remembers at once when Config.Fragments is zero.
const DefaultFragments = 4096

// MaxFragments bounds Config.Fragments.
const MaxFragments = 1 << 20

// fragEntry remembers one datagram's first fragment; 64 bytes, one cache
// line. Every field is written by whichever worker saw the first fragment,
// under seq (odd while it writes), and read by any worker.
type fragEntry struct {
	seq atomic.Uint64
	key [5]atomic.Uint64 // src, dst, then space<<48|family<<40|proto<<32|fragment ID
	// ref is sessionSeq<<32 | si<<1 | dir: the session is used only while
	// its sequence number is unchanged (not removed or reused since).
	ref atomic.Uint64
	// exp is the last second (table clock) the entry is valid; 0 = empty.
	exp atomic.Uint64
}

// fragTable is a fixed set-associative table of fragEntry.
type fragTable struct {
	e    []fragEntry
	mask uint64 // bucket count - 1
}

func (ft *fragTable) init(n int) {
	b := 1
	for b*fragWays < n {
		b <<= 1
	}
	ft.e = make([]fragEntry, b*fragWays)
	ft.mask = uint64(b - 1)
}

// fragKey is the identity of the datagram that s is a fragment of, as it
// arrived in space.
func fragKey(s *pkt.Summary, space uint16) key {
	var k key
	loadAddrs(s, &k)
	k.m = uint64(space)<<48 | uint64(s.Family)<<40 | uint64(s.Proto)<<32 | uint64(s.FragID)
	return k
}

func (e *fragEntry) match(k *key) bool {
	return e.key[4].Load() == k.m && e.key[0].Load() == k.src[0] && e.key[2].Load() == k.dst[0] &&
		e.key[1].Load() == k.src[1] && e.key[3].Load() == k.dst[1]
}

// lookup returns the ref recorded for k if it is still valid at now.
func (ft *fragTable) lookup(k *key, h uint64, now uint32) (uint64, bool) {
	b := (h & ft.mask) * fragWays
	for i := b; i < b+fragWays; i++ {
		e := &ft.e[i]
		c1 := e.seq.Load()
		if c1&1 != 0 || !e.match(k) {
			continue
		}
		ref, exp := e.ref.Load(), e.exp.Load()
		if e.seq.Load() != c1 || exp < uint64(now) {
			continue
		}
		return ref, true
	}
	return 0, false
}

// record remembers ref for datagram k until now+ttl. It takes the slot
// already holding k, else an empty or expired one, else one picked by
// the keyed hash, so that a flood of new datagrams cannot aim at the
// entries of others. When another worker is writing that slot at the same
// moment the record is skipped: later fragments of this datagram are then
// dropped, as if the entry had been evicted.
func (ft *fragTable) record(k *key, h uint64, ref uint64, now, ttl uint32) {
	b := (h & ft.mask) * fragWays
	var victim, free *fragEntry
	for i := b; i < b+fragWays; i++ {
		e := &ft.e[i]
		if e.match(k) {
			victim = e
			break
		}
		if free == nil && e.exp.Load() < uint64(now) {
			free = e
		}
	}
	switch {
	case victim != nil:
	case free != nil:
		victim = free
	default:
		victim = &ft.e[b+h>>62] // fragWays is 4
	}
	c := victim.seq.Load()
	if c&1 != 0 || !victim.seq.CompareAndSwap(c, c+1) {
		return
	}
	victim.key[0].Store(k.src[0])
	victim.key[1].Store(k.src[1])
	victim.key[2].Store(k.dst[0])
	victim.key[3].Store(k.dst[1])
	victim.key[4].Store(k.m)
	victim.ref.Store(ref)
	victim.exp.Store(uint64(now) + uint64(ttl))
	victim.seq.Store(c + 2)
}

// recordFirst remembers the session of a first fragment that is being
// forwarded. s is the summary as the fragment arrived (before
// translation).
func (w *Worker) recordFirst(s *pkt.Summary, space uint16, si uint32, dir int, ctl uint64) {
	k := fragKey(s, space)
	h := k.hash(w.t.s0, w.t.s1)
	ref := ctl>>32<<32 | uint64(si)<<1 | uint64(dir)
	w.t.frags.record(&k, h, ref, w.now, w.snap.tm.frag)
	if w.hold.held > 0 {
		w.releaseHeld(&k, h, ref)
	}
}

// trackFragment translates a non-first fragment the way its first
// fragment was translated. One whose first fragment has not been seen is
// held, when the worker holds fragments (HoldFragments), else dropped.
func (w *Worker) trackFragment(frame []byte, s *pkt.Summary, space uint16) Result {
	t := w.t
	k := fragKey(s, space)
	h := k.hash(t.s0, t.s1)
	ref, ok := t.frags.lookup(&k, h, w.now)
	if !ok {
		if w.hold.slots != nil {
			return w.holdFragment(frame, s, space, &k, h)
		}
		return w.drop(ReasonFragment)
	}
	return w.fragVia(frame, s, &k, ref)
}

// fragVia translates the later fragment whose datagram key is k by the
// session its first fragment recorded as ref.
func (w *Worker) fragVia(frame []byte, s *pkt.Summary, k *key, ref uint64) Result {
	t := w.t
	si, dir := uint32(ref)>>1, int(ref&1)
	if int(si) >= len(t.sess) {
		return w.drop(ReasonFragment)
	}
	sess := &t.sess[si]
	c1 := sess.ctl.Load()
	if c1>>32 != ref>>32 || c1&stLive == 0 {
		return w.drop(ReasonFragment) // the session went away
	}
	o := sess.loadKey(dir ^ 1)
	seen := sess.seen.Load()
	if sess.ctl.Load()>>32 != c1>>32 || expired(c1, seen, w.now, &w.snap.tm) {
		return w.drop(ReasonFragment)
	}
	tr := translateAddrs(frame, s, k, &o)
	return Result{Action: Forward, State: StateEstablished, Dir: Dir(dir), Space: o.space(), Translated: tr}
}

// translateAddrs rewrites the addresses of a non-first fragment whose
// datagram key is k to the reverse of o. Only the IPv4 header checksum
// covers them here: the transport checksum is in the first fragment.
func translateAddrs(frame []byte, s *pkt.Summary, k, o *key) bool {
	nsrc, ndst := o.dst, o.src
	srcChanged, dstChanged := nsrc != k.src, ndst != k.dst
	if !srcChanged && !dstChanged {
		return false
	}
	fam := s.Family
	l3 := int(s.L3Off)
	if fam == pkt.FamilyIPv4 {
		if srcChanged {
			putAddr(frame[l3+v4SrcOff:], nsrc, fam)
			putAddr(s.Src[:], nsrc, fam)
		}
		if dstChanged {
			putAddr(frame[l3+v4DstOff:], ndst, fam)
			putAddr(s.Dst[:], ndst, fam)
		}
		patch(frame[l3+v4CsumOff:], sumAddr(k.src, fam)+sumAddr(k.dst, fam), sumAddr(nsrc, fam)+sumAddr(ndst, fam))
		return true
	}
	if srcChanged {
		putAddr(frame[l3+v6SrcOff:], nsrc, fam)
		putAddr(s.Src[:], nsrc, fam)
	}
	if dstChanged {
		putAddr(frame[l3+v6DstOff:], ndst, fam)
		putAddr(s.Dst[:], ndst, fam)
	}
	return true
}
