package nat

// Queries: a packet flows in and the answer says what Track, and for a
// new flow Commit, would do with it — the session it belongs to, or the
// translation a new flow would take — without creating, refreshing or
// removing a session, claiming a port, counting or spending an ICMP
// token. The control plane's packet trace asks it; the per-packet path
// never does. It restates Track's and Commit's decisions over the same
// helpers (keyOf, planned, probe, findMapping, translateFast), with every
// write left out; TestQueryMatchesCommit holds the two together.

import (
	"math/bits"
	"net/netip"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

// Tuple is one direction of a flow as netip values, for people.
type Tuple struct {
	Space            uint16
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // TCP/UDP ports; for ICMP queries the identifier is in SrcPort (request) or DstPort (reply)
}

// SessionInfo describes the session a packet belongs to.
type SessionInfo struct {
	Original Tuple // as the initiator sent it
	Reply    Tuple // as the answer arrives, after translation
	State    string
	Idle     time.Duration // since the last refresh
	Timeout  time.Duration // idle time after which it expires
}

// QueryResult is what Query learned.
type QueryResult struct {
	// Track is what Track would return. Action Decide: a new flow, see
	// Commit. Action Held: a later fragment whose first fragment nat
	// has not seen; a worker that holds fragments holds it, another
	// drops it (Reason fragment-no-state).
	Track Result
	// Session is set for a packet of a tracked flow (Track Established).
	Session    SessionInfo
	HasSession bool

	// For a new flow: Commit is what Commit would return (Action
	// Forward, or Drop / DropAndReply with the Reason it would refuse
	// the flow for; DropAndReply when an answer would be prepared, rate
	// limit permitting: an ICMP error, or for tcp-no-state-reset a TCP
	// RST to the sender of a mid-stream segment of a translated flow
	// with no session). The rest says how it would be translated.
	Commit Result
	// SNAT: source NAT through an endpoint-independent mapping;
	// Mapping: an existing mapping would be reused (else a new one made,
	// its external port as far as the port bitmaps tell now: another
	// flow may claim it first).
	SNAT, Mapping bool
	// Floating: a floating IP translates the source (an outbound flow of
	// its workload) or the destination (an inbound flow to its public
	// address). Inbound: the destination is an external address and an
	// existing mapping takes the flow to its internal endpoint.
	FloatingSrc, FloatingDst, Inbound bool
	// After is the flow as Commit would translate it (valid when Commit
	// is Forward).
	After Tuple
	// Dest is what Destination reports for a new flow: where Commit
	// would deliver it (address, space, port) and whether the
	// destination is translated. It is what the data path checks the
	// ingress policy of the receiving endpoint against.
	Dest           netip.Addr
	DestSpace      uint16
	DestPort       uint16
	DestTranslated bool
}

// Query tells what Track would do with the packet of frame (parsed into
// s) arriving in space and, when Track would report a new flow, what
// Commit would. It changes nothing in the table: no session, mapping,
// port, timer, counter or error budget. Like Track and Commit it rewrites
// frame and s when the packet would be translated, so that the caller
// sees the packet as it would leave: pass copies. Any goroutine may call
// it; it takes the table lock briefly, and allocates a scratch worker.
// It answers under the policy the table last published (SetPolicy,
// SetPrepared); QueryWith answers under another.
func (t *Table) Query(frame []byte, s *pkt.Summary, space uint16) QueryResult {
	return t.QueryWith(nil, frame, s, space)
}

// QueryWith is Query under policy p, prepared for this table: what a
// worker given p by BeginBatchWith would do. With p nil, or prepared for
// another table (which BeginBatchWith ignores too), it is Query.
func (t *Table) QueryWith(p *Prepared, frame []byte, s *pkt.Summary, space uint16) QueryResult {
	snap := t.policy.Load()
	if p.For(t) {
		snap = p.s
	}
	w := &Worker{t: t, snap: snap}
	w.now, w.nowNs = t.now()
	w.epoch = 1
	var q QueryResult
	if r := check(frame, s); r != ReasonNone {
		q.Track = Result{Action: Drop, State: StateInvalid, Reason: r}
		return q
	}
	switch {
	case laterFragment(s):
		// trackFragment, without holding.
		k := fragKey(s, space)
		ref, ok := t.frags.lookup(&k, k.hash(t.s0, t.s1), w.now)
		if !ok {
			q.Track = Result{Action: Held, State: StateInvalid, Reason: ReasonFragment}
			return q
		}
		q.Track = w.fragVia(frame, s, &k, ref)
		return q
	case s.Flags&pkt.FlagICMPError != 0:
		q.Track = w.trackError(frame, s, space) // reads the table only; w's counters are the scratch worker's
		return q
	}
	var k key
	if r := keyOf(s, space, &k); r != ReasonNone {
		q.Track = Result{Action: Drop, State: StateInvalid, Reason: r}
		return q
	}
	h := k.hash(t.s0, t.s1)
	var ht hit
	if t.lookup(&k, h, &ht) && !expired(ht.ctl, ht.seen, w.now, &w.snap.tm) {
		q.Track = w.queryEstablished(frame, s, &k, &ht)
		q.Session, q.HasSession = t.sessionInfo(&ht, w.now, &w.snap.tm), true
		return q
	}
	q.Track = Result{Action: Decide, State: StateNew, Space: space}
	d, dsp, port, tr := w.Destination(frame, s, space) // reads the table only
	q.Dest, q.DestSpace, q.DestPort, q.DestTranslated = addrOf(s.Family, d), dsp, port, tr
	w.queryCommit(frame, s, space, &k, h, &q)
	return q
}

// queryEstablished is established without its writes: the state change
// and refresh are left out; the packet is translated as it would be.
func (w *Worker) queryEstablished(frame []byte, s *pkt.Summary, k *key, h *hit) Result {
	tr := translateFast(frame, s, k, &h.other, h.xl)
	return Result{Action: Forward, State: StateEstablished, Dir: Dir(h.dir), Space: h.other.space(), Translated: tr}
}

// queryCommit is commit and create without their writes (no port claimed,
// no session or mapping made, nothing counted), filling q.Commit and the
// translation.
func (w *Worker) queryCommit(frame []byte, s *pkt.Summary, space uint16, k *key, h uint64, q *QueryResult) {
	t := w.t
	refuse := func(r Reason) {
		q.Commit = Result{Action: Drop, State: StateInvalid, Reason: r}
		switch r {
		case ReasonPortsExhausted, ReasonTableFull, ReasonMappingsFull, ReasonProtoUnsupported:
			if w.snap.hasErrSrc[famIndex(s.Family)] && w.snap.errPerSec > 0 {
				q.Commit.Action = DropAndReply
			}
		case ReasonTCPNoStateReset:
			// A RST to the sender needs no error source address.
			if w.snap.errPerSec > 0 {
				q.Commit.Action = DropAndReply
			}
		}
	}
	if w.planned(s, k, h, space).reason == ReasonNonRoutable {
		refuse(ReasonNonRoutable)
		return
	}
	loose := false
	switch {
	case s.Proto == pkt.ProtoTCP:
		if f := s.TCPFlags & (pkt.TCPFlagSYN | pkt.TCPFlagACK | pkt.TCPFlagRST | pkt.TCPFlagFIN); f != pkt.TCPFlagSYN {
			if f != pkt.TCPFlagACK || w.snap.strictTCP {
				refuse(noStateReason(frame, s, k, w.planned(s, k, h, space), space))
				return
			}
			loose = true
		}
	case isICMP(s.Proto):
		if icmpQueryKind(s.Family, s.ICMPType) != 1 {
			refuse(ReasonICMPNotRequest)
			return
		}
	}
	if rk := k.reverse(); rk.equal(k) {
		refuse(ReasonLand)
		return
	}
	pl := *w.planned(s, k, h, space)
	if loose && pl.translates(k, space) {
		refuse(noStateReason(frame, s, k, &pl, space))
		return
	}
	snap := w.snap
	if pl.reason == ReasonNone && pl.snat {
		q.SNAT = true
	}
	if pl.reason == ReasonNone && !pl.snat && pl.nsrc != k.src {
		q.FloatingSrc = true // planSource's floating IP of the workload
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var ht hit
	// gone is the session Commit removes before it decides, whose
	// mappings (and their ports) may go with it: an expired session of
	// the flow's key, or, in a full table, the one evictOne takes.
	gone := int32(-1)
	if t.probe(k, h, &ht) {
		if !expired(ht.ctl, ht.seen, w.now, &snap.tm) {
			// Another worker made the flow since lookup: Commit treats
			// the packet as established.
			q.Commit = w.queryEstablished(frame, s, k, &ht)
			return
		}
		gone = int32(ht.si)
	} else if len(t.free) == 0 {
		if gone = t.evictVictim(w.now, &snap.tm); gone < 0 {
			refuse(ReasonTableFull)
			return
		}
	}
	// find is findMapping as it will be once gone is removed.
	find := func(side int, mk *key, mh uint64) int32 {
		mi := t.findMapping(side, mk, mh)
		if mi >= 0 && t.freedWith(gone, mi) {
			return -1
		}
		return mi
	}
	if pl.reason != ReasonNone {
		refuse(pl.reason)
		return
	}
	nsrc, nsp := pl.nsrc, k.sport()
	outSpace := pl.outSpace
	if pl.snat {
		if mi := find(sideInt, &pl.ik, pl.ikh); mi >= 0 {
			m := &t.maps.m[mi]
			nsrc, nsp = addrWords(&m.extAddr), m.extPort
			q.Mapping = true
		} else {
			var freed [2]int32 // mappings gone takes with it
			nfreed := 0
			if gone >= 0 {
				for side := range 2 {
					if mi := t.sess[gone].link[side].m; mi >= 0 && t.freedWith(gone, mi) {
						freed[nfreed] = mi
						nfreed++
					}
				}
			}
			if len(t.maps.free)+nfreed == 0 {
				refuse(ReasonMappingsFull)
				return
			}
			e := pl.ext
			var also [2]int32 // ports of e those mappings free
			also[0], also[1] = -1, -1
			for i, mi := range freed[:nfreed] {
				if m := &t.maps.m[mi]; m.extAddr == e.a && m.fam == s.Family && portSlot(m.proto) == pl.slot {
					also[i] = int32(m.extPort)
				}
			}
			// claim takes a port before the lock (before gone is
			// removed) when no mapping seems to exist; create takes
			// one after, if claim got none.
			none := [2]int32{-1, -1}
			port, ok := uint16(0), false
			if !t.maps.mayHave(sideInt, pl.ikh) {
				port, ok = e.ports.peekPort(pl.slot, e.lo, e.hi, nsp, pl.ik.hash(t.s1, t.s0), none)
			}
			if !ok {
				port, ok = e.ports.peekPort(pl.slot, e.lo, e.hi, nsp, pl.ik.hash(t.s1, t.s0), also)
			}
			if !ok {
				refuse(ReasonPortsExhausted)
				return
			}
			nsrc, nsp = addrWords(&e.a), port
		}
	}
	ndst, ndp := k.dst, k.dport()
	switch pl.dst {
	case dstFloating:
		fl := &snap.floats[pl.float]
		ndst, outSpace = addrWords(&fl.workload), fl.space
		q.FloatingDst = true
	case dstExternal:
		if isICMP(s.Proto) {
			refuse(ReasonNoMapping)
			return
		}
		ek := extKey(s.Family, s.Proto, &s.Dst, ndp)
		mi := find(sideExt, &ek, ek.hash(t.s0, t.s1))
		if mi < 0 {
			refuse(ReasonNoMapping)
			return
		}
		if snap.filtering == AddressDependent && !t.sentToExcept(mi, nsrc, gone) {
			refuse(ReasonFiltered)
			return
		}
		m := &t.maps.m[mi]
		ndst, ndp, outSpace = addrWords(&m.intAddr), m.intPort, m.space
		q.Inbound = true
	}
	k1 := key{src: ndst, dst: nsrc, m: packM(outSpace, s.Family, s.Proto, ndp, nsp)}
	if k1.equal(k) || t.probe(&k1, k1.hash(t.s0, t.s1), &ht) && int32(ht.si) != gone && !expired(ht.ctl, ht.seen, w.now, &snap.tm) {
		refuse(ReasonTupleConflict) // k1 == k: see create
		return
	}
	q.After = tupleOf(k1.reverse())
	tr := translateFast(frame, s, k, &k1, uint32(xlPair(k, &k1)))
	q.Commit = Result{Action: Forward, State: StateNew, Space: k1.space(), Translated: tr}
}

// evictVictim is evictOne without its removal: the session it would
// remove, or -1. The caller holds mu.
func (t *Table) evictVictim(now uint32, tm *timers) int32 {
	const evictScan = 64 // evictOne's
	n := len(t.sess)
	pos := t.evictPos
	for range min(evictScan, n) {
		si := int32(pos)
		if pos++; pos == n {
			pos = 0
		}
		s := &t.sess[si]
		c := s.ctl.Load()
		if c&stLive != 0 && (expired(c, s.seen.Load(), now, tm) || !established(uint32(c))) {
			return si
		}
	}
	return -1
}

// freedWith reports whether removing session si (-1: none) would free
// mapping mi: si holds its last references. The caller holds mu.
func (t *Table) freedWith(si, mi int32) bool {
	if si < 0 {
		return false
	}
	refs := t.maps.m[mi].refs
	for side := range 2 {
		if t.sess[si].link[side].m == mi {
			refs--
		}
	}
	return refs <= 0
}

// sentToExcept is sentTo as it will be once session except is removed.
func (t *Table) sentToExcept(mi int32, a [2]uint64, except int32) bool {
	for si := t.maps.m[mi].head[sideInt]; si >= 0; si = t.sess[si].link[sideInt].next {
		s := &t.sess[si]
		if si != except && s.key[0][2].Load() == a[0] && s.key[0][3].Load() == a[1] {
			return true
		}
	}
	return false
}

// peekPort is allocPort without the claim: the port allocPort would
// take now, counting the ports in also (-1: none) as free.
func (p *portSet) peekPort(slot int, lo, hi, want uint16, h uint64, also [2]int32) (uint16, bool) {
	if want < 1024 {
		if lo < 1024 {
			hi = min(hi, 1023)
		}
	} else if hi >= 1024 {
		lo = max(lo, 1024)
	}
	var bm [1024]uint64
	for i := range bm {
		bm[i] = p.used[slot][i].Load()
	}
	for _, a := range also {
		if a >= 0 {
			bm[a>>6] &^= 1 << (a & 63)
		}
	}
	if want >= lo && want <= hi && bm[want>>6]&(1<<(want&63)) == 0 {
		return want, true
	}
	start := lo + uint16(h%(uint64(hi-lo)+1))
	mask := uint64(evenPorts)
	if want&1 != 0 {
		mask = oddPorts
	}
	for _, m := range [2]uint64{mask, anyPort} {
		if port, ok := peekFree(&bm, start, hi, m); ok {
			return port, true
		}
		if start > lo {
			if port, ok := peekFree(&bm, lo, start-1, m); ok {
				return port, true
			}
		}
	}
	return 0, false
}

// peekFree is scanFree without the claim.
func peekFree(bm *[1024]uint64, a, b uint16, mask uint64) (uint16, bool) {
	first, last := int(a>>6), int(b>>6)
	for w := first; w <= last; w++ {
		m := mask
		if w == first {
			m &= anyPort << (a & 63)
		}
		if w == last {
			m &= anyPort >> (63 - b&63)
		}
		if free := ^bm[w] & m; free != 0 {
			return uint16(w<<6 + bits.TrailingZeros64(free)), true
		}
	}
	return 0, false
}

// sessionInfo describes the session of hit h.
func (t *Table) sessionInfo(h *hit, now uint32, tm *timers) SessionInfo {
	s := &t.sess[h.si]
	k0, k1 := s.loadKey(0), s.loadKey(1)
	st := uint32(h.ctl)
	return SessionInfo{
		Original: tupleOf(k0),
		Reply:    tupleOf(k1),
		State:    stateName(st),
		Idle:     time.Duration(now-h.seen) * time.Second,
		Timeout:  time.Duration(tm.timeout(st)) * time.Second,
	}
}

// stateName describes session state bits.
func stateName(st uint32) string {
	switch (st & stClassMask) >> stClassShift {
	case classTCP:
		switch {
		case st&stRst != 0:
			return "tcp reset"
		case st&(stFinOrig|stFinReply) == stFinOrig|stFinReply:
			return "tcp closed"
		case st&(stFinOrig|stFinReply) != 0:
			return "tcp closing"
		case st&stSynReply != 0:
			return "tcp established"
		case st&stLoose != 0:
			return "tcp picked up mid-stream"
		}
		return "tcp syn-sent"
	case classUDP:
		if st&stSeenReply != 0 {
			return "udp answered"
		}
		return "udp unanswered"
	case classICMP:
		if st&stSeenReply != 0 {
			return "icmp answered"
		}
		return "icmp unanswered"
	}
	if st&stSeenReply != 0 {
		return "answered"
	}
	return "unanswered"
}

func addrOf(fam pkt.Family, a [16]byte) netip.Addr {
	if fam == pkt.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

// tupleOf turns a key into a Tuple.
func tupleOf(k key) Tuple {
	fam := pkt.Family(k.m >> 40)
	addr := func(w [2]uint64) netip.Addr {
		a := wordsAddr(w)
		if fam == pkt.FamilyIPv4 {
			return netip.AddrFrom4([4]byte(a[:4]))
		}
		return netip.AddrFrom16(a)
	}
	return Tuple{Space: k.space(), Proto: uint8(k.m >> 32), Src: addr(k.src), Dst: addr(k.dst), SrcPort: k.sport(), DstPort: k.dport()}
}
