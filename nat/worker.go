package nat

// The per-packet path: a worker's BeginBatch, then Track for every packet
// and Commit for the new flows that policy admits. Established packets
// flow lookup -> state update -> in-place translation, with no lock and no
// allocation; new flows take the table lock once.

import (
	"sync/atomic"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

// State is what connection tracking knows about a packet, for stateful
// policy. The data path maps it onto the policy package's own type.
type State uint8

const (
	// StateInvalid: the packet cannot belong to a flow (malformed, a TCP
	// segment of no known flow that is not a SYN, an ICMP error about
	// nothing tracked, ...). Action says what to do.
	StateInvalid State = iota
	// StateNew: the first packet of a flow. From Track: untouched, call
	// Commit if policy admits it, else drop it. From Commit: the session
	// now exists and the packet is translated.
	StateNew
	// StateEstablished: a packet of a tracked flow, either direction.
	StateEstablished
	// StateRelated: an ICMP error about a tracked flow.
	StateRelated
)

func (s State) String() string {
	switch s {
	case StateInvalid:
		return "invalid"
	case StateNew:
		return "new"
	case StateEstablished:
		return "established"
	case StateRelated:
		return "related"
	}
	return "state?"
}

// Action is what the data path does with the packet.
type Action uint8

const (
	// Decide: Track found no flow; policy decides (Commit or drop).
	Decide Action = iota
	// Forward: route the packet, translated in place if Translated.
	Forward
	// Drop: drop it and count Reason.
	Drop
	// DropAndReply: drop it and send Worker.Reply(), an ICMP error or a
	// TCP RST for its sender, back out of the port it came in on.
	DropAndReply
	// Held: nat kept a copy of the packet (a fragment that overtook its
	// first fragment); the caller frees its frame without counting a
	// drop. The packet comes back, translated, through Released. Only a
	// worker that called HoldFragments returns it.
	Held
)

func (a Action) String() string {
	switch a {
	case Decide:
		return "decide"
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	case DropAndReply:
		return "drop-and-reply"
	case Held:
		return "held"
	}
	return "action?"
}

// Dir is the direction of a packet within its flow.
type Dir uint8

const (
	Original Dir = iota // as the initiator sent it
	Reply               // the answer
)

// Result is the outcome of Track or Commit for one packet.
type Result struct {
	Action     Action
	State      State
	Reason     Reason
	Dir        Dir
	Space      uint16 // the packet's address space after translation
	Translated bool   // the frame and the summary were rewritten
}

// packed is a Result in one word, for the per-packet path's internal
// returns: Go returns a struct of small fields in registers but, when a
// caller returns the struct it got, writes the fields to the stack one
// byte at a time and reads them back as a word, a store-forwarding stall
// at every level. A word passes through in a register.
//
//	action | state<<8 | reason<<16 | dir<<24 | space<<32 | translated<<48
type packed uint64

func pack(a Action, st State, dir int, space uint16, tr bool) packed {
	p := packed(a) | packed(st)<<8 | packed(dir)<<24 | packed(space)<<32
	if tr {
		p |= 1 << 48
	}
	return p
}

// Worker is one data-path worker's handle on a Table: its clock reading,
// policy snapshot, counters and scratch space. Not safe for concurrent
// use; make one per worker.
type Worker struct {
	t     *Table
	snap  *snapshot
	now   uint32
	nowNs int64

	tokens int64 // ICMP error budget in nanoseconds
	lastNs int64

	// Counters, written by this worker only, read by metrics at any time.
	drops   [numReasons]atomic.Uint64
	created atomic.Uint64
	swept   atomic.Uint64
	errors  atomic.Uint64 // ICMP errors produced
	resets  atomic.Uint64 // TCP resets produced (reset.go)

	replyLen int
	reply    [pkt.ICMPv6ErrorMaxLen]byte
	sweepBuf [maxSweep]int32
	// k and ht are Track's key and lookup result: kept here rather than
	// on the stack, where each packet would zero them first.
	k     key
	ht    hit
	batch batchScratch
	// plans are the base plans of this batch's new flows (planned); an
	// entry is valid while its epoch is epoch, which BeginBatch moves on.
	plans [planCache]planEntry
	epoch uint64
	// general makes Track and TrackBatch leave hitFast out: tests run
	// it as the twin hitFast is held to.
	general bool
	hold    holdPool // fragments waiting for their first fragment
}

// NewWorker returns a worker handle. Call BeginBatch before its first
// packet.
func (t *Table) NewWorker() *Worker {
	w := &Worker{t: t, tokens: int64(time.Second)}
	w.BeginBatch()
	return w
}

// BeginBatch reads the clock and the policy once for the coming batch and
// expires a few idle sessions. With HoldFragments, it also ends the last
// batch's Released list and deals with held fragments: released when
// their first fragment has been forwarded, dropped when they waited too
// long.
func (w *Worker) BeginBatch() {
	w.BeginBatchWith(nil)
}

// BeginBatchWith is BeginBatch under policy p (prepared for this table)
// instead of the one SetPolicy published; nil means that one.
func (w *Worker) BeginBatchWith(p *Prepared) {
	if p != nil && p.t == w.t {
		w.snap = p.s
	} else {
		w.snap = w.t.policy.Load()
	}
	w.epoch++
	w.now, w.nowNs = w.t.now()
	if n := w.t.sweepSome(w.t.cfg.SweepPerBatch, w.now, &w.snap.tm, &w.sweepBuf); n > 0 {
		w.swept.Add(uint64(n))
	}
	if w.hold.slots != nil {
		w.beginHold()
	}
}

// Drops returns how many packets this worker dropped for reason r.
func (w *Worker) Drops(r Reason) uint64 { return w.drops[r].Load() }

// Created returns how many sessions this worker created.
func (w *Worker) Created() uint64 { return w.created.Load() }

// Expired returns how many idle sessions this worker's sweeps removed.
func (w *Worker) Expired() uint64 { return w.swept.Load() }

// ErrorsSent returns how many ICMP errors this worker produced.
func (w *Worker) ErrorsSent() uint64 { return w.errors.Load() }

// ResetsSent returns how many TCP resets this worker produced for
// segments of translated flows with no state (reset.go).
func (w *Worker) ResetsSent() uint64 { return w.resets.Load() }

// Reply returns the answer (a bare IP packet) of the last DropAndReply
// result: an ICMP error, or a TCP RST for a segment of a translated flow
// with no state (Reason tcp-no-state-reset). It is overwritten by the
// next one.
func (w *Worker) Reply() []byte { return w.reply[:w.replyLen] }

func (w *Worker) drop(r Reason) Result {
	w.drops[r].Add(1)
	return Result{Action: Drop, State: StateInvalid, Reason: r}
}

// check rejects what no path below can handle.
func check(frame []byte, s *pkt.Summary) Reason {
	if s.Verdict != pkt.OK || s.End() > len(frame) || int(s.L4Off) > s.End() || int(s.PayloadOff) > s.End() {
		return ReasonMalformed
	}
	if s.Family != pkt.FamilyIPv4 && s.Family != pkt.FamilyIPv6 {
		return ReasonNotIP
	}
	return ReasonNone
}

// laterFragment reports whether s is a fragment other than the first.
func laterFragment(s *pkt.Summary) bool {
	return s.Flags&(pkt.FlagFragment|pkt.FlagFirstFragment) == pkt.FlagFragment
}

// Track looks the packet up. A packet of a tracked flow is translated in
// place and reported Established; an ICMP error about one is rewritten
// (RFC 5508) and reported Related; a packet of no flow is left alone and
// reported New with Action Decide. space is the address space of the port
// the packet arrived on (or of its translated space).
func (w *Worker) Track(frame []byte, s *pkt.Summary, space uint16) Result {
	if r := check(frame, s); r != ReasonNone {
		return w.drop(r)
	}
	k := &w.k
	if plainPorts(s) && !w.general {
		portKey(s, space, k)
		h := k.hash(w.t.s0, w.t.s1)
		if p, ok := w.hitFast(frame, s, k, h); ok {
			return p.result()
		}
		return w.trackKey(frame, s, k, h, space).result()
	}
	if s.Flags&(pkt.FlagFragment|pkt.FlagICMPError) != 0 {
		if laterFragment(s) {
			return w.trackFragment(frame, s, space)
		}
		if s.Flags&pkt.FlagICMPError != 0 {
			return w.trackError(frame, s, space)
		}
	}
	if r := keyOf(s, space, k); r != ReasonNone {
		return w.drop(r)
	}
	return w.trackKey(frame, s, k, k.hash(w.t.s0, w.t.s1), space).result()
}

// plainPorts reports whether a checked packet is a TCP or UDP packet with
// its ports that is neither a fragment nor an ICMP error: nearly all
// traffic, which hitFast serves.
func plainPorts(s *pkt.Summary) bool {
	return s.Flags&(pkt.FlagPorts|pkt.FlagFragment|pkt.FlagICMPError) == pkt.FlagPorts
}

// hitFast is Track for a packet of a tracked flow that changes nothing
// but the flow's timer (the common case: a packet of an established
// connection, or one more datagram). It needs the packet's key k (hash h)
// and plainPorts. It reports false, having changed nothing, when the
// packet is not that: a miss, an expired session, a state change (SYN,
// FIN, RST, the first reply), a session being rewritten; trackKey then
// takes the general path. It is trackKey's hit path written as one
// function, so that the words it moves stay in registers:
// TestHitFastMatchesGeneral holds the two to the same results.
func (w *Worker) hitFast(frame []byte, s *pkt.Summary, k *key, h uint64) (packed, bool) {
	t := w.t
	index, mask := t.index, t.mask
	tag := uint32(h)
	i := uint64(tag) & mask
	var v uint64
	for {
		v = index[i].Load()
		if v == 0 {
			return 0, false
		}
		if uint32(v>>32) == tag {
			break
		}
		i = (i + 1) & mask
	}
	ref := uint32(v) - 1
	d := ref & 1
	ses := &t.sess[ref>>1]
	c := ses.ctl.Load()
	kw, ow := &ses.key[d], &ses.key[d^1]
	diff := (loadRelaxed(&kw[0]) ^ k.src[0]) | (loadRelaxed(&kw[1]) ^ k.src[1]) |
		(loadRelaxed(&kw[2]) ^ k.dst[0]) | (loadRelaxed(&kw[3]) ^ k.dst[1]) | (loadRelaxed(&kw[4]) ^ k.m)
	if diff != 0 || c&(seqOdd|stLive) != stLive {
		return 0, false
	}
	var o key
	o.src[0], o.src[1] = loadRelaxed(&ow[0]), loadRelaxed(&ow[1])
	o.dst[0], o.dst[1] = loadRelaxed(&ow[2]), loadRelaxed(&ow[3])
	o.m = loadRelaxed(&ow[4])
	seen := loadRelaxed32(&ses.seen)
	xl := uint32(loadRelaxed(&ses.xl) >> (32 * d))
	if ses.ctl.Load() != c {
		return 0, false
	}
	st := uint32(c)
	if int32(w.now-seen) > int32(w.snap.tm.timeout(st)) {
		return 0, false
	}
	nst := st | d*stSeenReply
	if st&stClassMask == classTCP<<stClassShift {
		if s.TCPFlags&pkt.TCPFlagRST != 0 {
			return 0, false // no refresh, and the hold timer starts
		}
		nst = tcpNext(nst, int(d), s.TCPFlags)
	}
	if nst != st {
		return 0, false
	}
	if seen != w.now && (d == 0 || !w.snap.outOnly) {
		ses.seen.Store(w.now)
	}
	tr := translateFast(frame, s, k, &o, xl)
	return pack(Forward, StateEstablished, int(d), uint16(o.m>>48), tr), true
}

// portKey is keyOf for a packet of plainPorts.
func portKey(s *pkt.Summary, space uint16, k *key) {
	loadAddrs(s, k)
	k.m = packM(space, s.Family, s.Proto, s.SrcPort, s.DstPort)
}

// trackKey is Track for a packet with key k (hash h).
func (w *Worker) trackKey(frame []byte, s *pkt.Summary, k *key, h uint64, space uint16) packed {
	ht := &w.ht
	if !w.t.lookup(k, h, ht) || expired(ht.ctl, ht.seen, w.now, &w.snap.tm) {
		return pack(Decide, StateNew, 0, space, false)
	}
	return w.established(frame, s, k, ht, space)
}

// Process is Track followed by Commit for a new flow: for a data path
// that admits every new flow (no stateful policy in front of NAT).
func (w *Worker) Process(frame []byte, s *pkt.Summary, space uint16) Result {
	r := w.Track(frame, s, space)
	if r.Action == Decide {
		return w.Commit(frame, s, space)
	}
	return r
}

// established updates a hit session's state and timer and translates the
// packet; a first fragment is remembered for the later ones.
func (w *Worker) established(frame []byte, s *pkt.Summary, k *key, h *hit, space uint16) packed {
	if s.Flags&pkt.FlagFragment != 0 {
		w.recordFirst(s, space, h.si, h.dir, h.ctl)
	}
	sess := &w.t.sess[h.si]
	c := h.ctl
	for {
		st := uint32(c)
		nst := st
		if h.dir == 1 {
			nst |= stSeenReply
		}
		if (st&stClassMask)>>stClassShift == classTCP {
			nst = tcpNext(nst, h.dir, s.TCPFlags)
		}
		if nst == st || sess.ctl.CompareAndSwap(c, c&^0xffffffff|uint64(nst)) {
			break
		}
		c = sess.ctl.Load()
		if c>>32 != h.ctl>>32 {
			break // removed or reused meanwhile: leave it alone
		}
	}
	// An RST does not refresh (RFC 7857 section 2.2 and 7.1): the RST
	// hold runs from the last real packet.
	if h.seen != w.now && s.TCPFlags&pkt.TCPFlagRST == 0 && (h.dir == 0 || !w.snap.outOnly) {
		sess.seen.Store(w.now)
	}
	tr := translateFast(frame, s, k, &h.other, h.xl)
	return pack(Forward, StateEstablished, h.dir, h.other.space(), tr)
}

// tcpNext is the TCP tracking of RFC 6146 section 3.5.2.2 as RFC 7857
// section 2 asks, reduced to flags: SYN from each side, FIN from each
// side, and RST, which starts the hold timer until any other packet
// returns the flow to where it was.
func tcpNext(st uint32, dir int, f uint8) uint32 {
	if f&pkt.TCPFlagRST != 0 {
		return st | stRst
	}
	st &^= stRst
	if dir == 1 && st&stLoose != 0 {
		// Picked up mid-stream: the other side answering is as good
		// as the handshake we missed.
		st |= stSynReply
	}
	if f&pkt.TCPFlagSYN != 0 {
		if dir == 0 {
			if st&(stFinOrig|stFinReply) == stFinOrig|stFinReply {
				// A new connection reusing a closed tuple.
				st &^= stSynReply | stFinOrig | stFinReply
			}
			st |= stSynOrig
		} else {
			st |= stSynReply
		}
	}
	if f&pkt.TCPFlagFIN != 0 {
		if dir == 0 {
			st |= stFinOrig
		} else {
			st |= stFinReply
		}
	}
	return st
}

func protoClass(proto uint8) uint32 {
	switch proto {
	case pkt.ProtoTCP:
		return classTCP
	case pkt.ProtoUDP:
		return classUDP
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		return classICMP
	}
	return classOther
}
