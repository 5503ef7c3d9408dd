package nat

// Held fragments (RFC 4787 REQ-14, out of order): a later fragment that
// arrives before its datagram's first fragment cannot be translated yet.
// A worker that holds fragments copies it into one of a fixed set of
// slots and reports it Held; when the first fragment is forwarded (by
// this worker's Track or Commit, or by another worker, which BeginBatch
// notices), the held fragments of that datagram are translated in their
// slots and handed back through Released, for the data path to send after
// the packets of the batch. A fragment that waits longer than the
// fragment timeout is dropped and counted. Slots, their buffer and the
// released list are allocated once, by HoldFragments: holding and
// releasing allocate nothing and a flood of fragments fills the slots,
// nothing more.

import (
	"fmt"
	"sync/atomic"

	"github.com/gannet-net/gannet/pkt"
)

// MaxHoldSlots bounds the slots of HoldFragments.
const MaxHoldSlots = 4096

// HeldFragment is a fragment that waited for its first fragment and is
// now released, translated as Track would have translated it.
type HeldFragment struct {
	// Frame is the frame as Track was given it, translated. It lives in
	// the worker's hold buffer until the next BeginBatch: copy it into a
	// frame of your own to send it.
	Frame []byte
	// Summary is the frame's summary, updated with the translation as
	// Track updates one; valid as long as Frame.
	Summary *pkt.Summary
	// Space is the space Track was given with the fragment, Tag the hold
	// tag (SetHoldTag) at that moment.
	Space uint16
	Tag   uint64
	// Result is what Track would have returned had the first fragment
	// come first: Forward, StateEstablished, with Dir, Space and
	// Translated.
	Result Result
}

// Slot states.
const (
	slotFree = iota
	slotHeld
	slotReleased // in the released list until the next BeginBatch
)

type heldSlot struct {
	state uint8
	space uint16
	n     int    // frame length
	exp   uint32 // last second (table clock) it may wait
	tag   uint64
	h     uint64 // hash of k
	k     key    // the datagram, as fragKey makes it
	sum   pkt.Summary
}

// holdPool is a worker's held fragments; nil slots means holding is off.
type holdPool struct {
	slots    []heldSlot
	buf      []byte // frameLen bytes per slot
	frameLen int
	free     []int32 // free slots (stack)
	held     int     // slots in state slotHeld
	rel      []HeldFragment
	relSlot  []int32 // the slot of each rel entry
	tag      uint64
	total    atomic.Uint64 // fragments ever held; read by metrics
}

// HoldFragments makes the worker hold later fragments that arrive before
// their first fragment, in slots copies of at most frameLen bytes each,
// instead of dropping them: Track then reports such a fragment with
// Action Held, and the caller must treat Held as "taken": free (or reuse)
// its own frame, count nothing, send nothing. The fragment comes back,
// translated, in Released once its first fragment has been forwarded.
// A data path that does not call HoldFragments never sees Held.
//
// Call it before the worker's first packet. It allocates about
// slots*frameLen bytes. A later fragment that finds no free slot, or is
// longer than frameLen, is dropped with ReasonFragmentHoldFull.
func (w *Worker) HoldFragments(slots, frameLen int) error {
	if slots < 1 || slots > MaxHoldSlots {
		return fmt.Errorf("nat: HoldFragments slots %d out of range 1..%d", slots, MaxHoldSlots)
	}
	if frameLen < 64 || frameLen > 1<<16 {
		return fmt.Errorf("nat: HoldFragments frameLen %d out of range 64..65536", frameLen)
	}
	if w.hold.held > 0 || len(w.hold.rel) > 0 {
		return fmt.Errorf("nat: HoldFragments: %d fragments are held", w.hold.held+len(w.hold.rel))
	}
	hp := &w.hold
	hp.slots, hp.buf, hp.frameLen = make([]heldSlot, slots), make([]byte, slots*frameLen), frameLen
	hp.free, hp.rel, hp.relSlot = make([]int32, slots), make([]HeldFragment, 0, slots), make([]int32, 0, slots)
	for i := range hp.free {
		hp.free[i] = int32(slots - 1 - i)
	}
	return nil
}

// SetHoldTag sets the tag recorded with the fragments Track holds from
// now on, and returned with them in Released: for example the port they
// came in on (a ring's batch all comes in on one).
func (w *Worker) SetHoldTag(tag uint64) { w.hold.tag = tag }

// Released returns the held fragments released since the last
// BeginBatch, translated, in the order they were released. The data path
// sends them after the batch's own packets (each has gone through
// conntrack: it is Established). The slice and the frames are the
// worker's, valid until the next BeginBatch; reading them allocates
// nothing.
func (w *Worker) Released() []HeldFragment { return w.hold.rel }

// Holding returns the number of fragments waiting for their first
// fragment now. Call it on the worker's goroutine.
func (w *Worker) Holding() int { return w.hold.held }

// FragmentsHeld returns how many fragments this worker has ever held;
// each is later released (Released), dropped for timeout
// (ReasonFragmentTimeout), or dropped because its flow went away
// (ReasonFragment).
func (w *Worker) FragmentsHeld() uint64 { return w.hold.total.Load() }

// holdFragment keeps a copy of a later fragment whose first fragment has
// not been seen; k is its datagram key and h its hash.
func (w *Worker) holdFragment(frame []byte, s *pkt.Summary, space uint16, k *key, h uint64) Result {
	hp := &w.hold
	n := s.End()
	if len(hp.free) == 0 || n > hp.frameLen {
		return w.drop(ReasonFragmentHoldFull)
	}
	i := hp.free[len(hp.free)-1]
	hp.free = hp.free[:len(hp.free)-1]
	sl := &hp.slots[i]
	copy(hp.buf[int(i)*hp.frameLen:], frame[:n])
	*sl = heldSlot{state: slotHeld, space: space, n: n, exp: w.now + w.snap.tm.frag, tag: hp.tag, h: h, k: *k, sum: *s}
	hp.held++
	hp.total.Add(1)
	return Result{Action: Held, State: StateInvalid, Space: space}
}

// releaseHeld translates and releases the fragments held for datagram k
// (hash h), whose first fragment was just recorded with ref.
func (w *Worker) releaseHeld(k *key, h uint64, ref uint64) {
	hp := &w.hold
	for i := range hp.slots {
		if sl := &hp.slots[i]; sl.state == slotHeld && sl.h == h && sl.k.equal(k) {
			w.release(int32(i), ref)
			if hp.held == 0 {
				return
			}
		}
	}
}

// DropHeld tells the worker that the data path refused the packet s
// came with: when it is a first fragment, the fragments of its datagram
// that wait for it here can never be released, and are dropped now
// (counted as ReasonFragment) instead of keeping their slots until the
// fragment timeout. Commit does this itself for the first fragments it
// refuses; the data path calls it for those it drops after Track reported
// them New (policy, no route). It returns how many it dropped, and costs
// nothing when s is not a first fragment or nothing is held.
func (w *Worker) DropHeld(s *pkt.Summary, space uint16) int {
	if w.hold.held == 0 || s.Flags&(pkt.FlagFragment|pkt.FlagFirstFragment) != pkt.FlagFragment|pkt.FlagFirstFragment {
		return 0
	}
	k := fragKey(s, space)
	h := k.hash(w.t.s0, w.t.s1)
	hp := &w.hold
	n := 0
	for i := range hp.slots {
		if sl := &hp.slots[i]; sl.state == slotHeld && sl.h == h && sl.k.equal(&k) {
			sl.state = slotFree
			hp.free = append(hp.free, int32(i))
			hp.held--
			n++
		}
	}
	w.drops[ReasonFragment].Add(uint64(n))
	return n
}

// release translates held slot i by ref and puts it in the released
// list, or drops it when the flow has gone.
func (w *Worker) release(i int32, ref uint64) {
	hp := &w.hold
	sl := &hp.slots[i]
	hp.held--
	frame := hp.buf[int(i)*hp.frameLen : int(i)*hp.frameLen+sl.n]
	r := w.fragVia(frame, &sl.sum, &sl.k, ref)
	if r.Action != Forward {
		sl.state = slotFree
		hp.free = append(hp.free, i)
		return
	}
	sl.state = slotReleased
	hp.rel = append(hp.rel, HeldFragment{Frame: frame, Summary: &sl.sum, Space: sl.space, Tag: sl.tag, Result: r})
	hp.relSlot = append(hp.relSlot, i)
}

// beginHold, at the start of a batch, frees the slots released during the
// last one, drops the fragments that waited too long and releases those
// whose first fragment another worker has forwarded.
func (w *Worker) beginHold() {
	hp := &w.hold
	for _, i := range hp.relSlot {
		hp.slots[i].state = slotFree
		hp.free = append(hp.free, i)
	}
	clear(hp.rel) // drop the references into the buffer
	hp.rel, hp.relSlot = hp.rel[:0], hp.relSlot[:0]
	if hp.held == 0 {
		return
	}
	for i := range hp.slots {
		sl := &hp.slots[i]
		if sl.state != slotHeld {
			continue
		}
		if ref, ok := w.t.frags.lookup(&sl.k, sl.h, w.now); ok {
			w.release(int32(i), ref)
			continue
		}
		if w.now > sl.exp {
			sl.state = slotFree
			hp.free = append(hp.free, int32(i))
			hp.held--
			w.drops[ReasonFragmentTimeout].Add(1)
		}
	}
}
