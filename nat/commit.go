package nat

// New flows: Commit decides the translation of a flow policy admitted —
// floating IP, natOutgoing source NAT with an endpoint-independent
// mapping, inbound through a mapping or a floating IP, hairpinning, or
// none — and records it as a session, all under the table lock.

import (
	"github.com/gannet-net/gannet/pkt"
)

// Commit creates the session for a packet that Track reported New and
// translates the packet. If another worker created the flow meanwhile the
// packet is treated as Established. When no session or port can be had
// the packet is dropped and, rate-limited, an ICMP administratively
// prohibited error is prepared for its sender (RFC 5508 REQ-8).
func (w *Worker) Commit(frame []byte, s *pkt.Summary, space uint16) Result {
	r := w.commit(frame, s, space)
	if r.Action == Drop || r.Action == DropAndReply {
		w.DropHeld(s, space) // a refused first fragment releases nothing
	}
	return r
}

func (w *Worker) commit(frame []byte, s *pkt.Summary, space uint16) Result {
	if r := check(frame, s); r != ReasonNone {
		return w.drop(r)
	}
	if laterFragment(s) {
		return w.drop(ReasonFragment) // no ports: only a first fragment opens a flow
	}
	if s.Flags&pkt.FlagICMPError != 0 {
		return w.drop(ReasonErrorUntracked) // errors never create state (RFC 5508 REQ-6)
	}
	var k key
	if r := keyOf(s, space, &k); r != ReasonNone {
		return w.drop(r)
	}
	h := k.hash(w.t.s0, w.t.s1)
	if w.planned(s, &k, h, space).reason == ReasonNonRoutable {
		// Before the TCP rules: nothing answers a probe of the range,
		// not even with a RST.
		return w.drop(ReasonNonRoutable)
	}
	loose := false
	switch {
	case s.Proto == pkt.ProtoTCP:
		// A SYN opens a TCP session (RFC 6146 3.5.2.2); a stray RST,
		// FIN or SYN-ACK never does, and an ACK only by loose pickup
		// of a flow that needs no translation (checked below). A
		// segment of a translated flow that cannot open one is
		// answered with a RST (reset.go).
		if f := s.TCPFlags & (pkt.TCPFlagSYN | pkt.TCPFlagACK | pkt.TCPFlagRST | pkt.TCPFlagFIN); f != pkt.TCPFlagSYN {
			if f != pkt.TCPFlagACK || w.snap.strictTCP {
				return w.noState(frame, s, &k, w.planned(s, &k, h, space), space)
			}
			loose = true
		}
	case isICMP(s.Proto):
		if icmpQueryKind(s.Family, s.ICMPType) != 1 {
			return w.drop(ReasonICMPNotRequest)
		}
	}
	if rk := k.reverse(); rk.equal(&k) {
		return w.drop(ReasonLand)
	}
	t := w.t
	pl := *w.planned(s, &k, h, space)
	if !loose {
		w.claim(s, &k, &pl)
	}
	if loose {
		if pl.translates(&k, space) {
			// Its mapping cannot be guessed: the connection is gone.
			return w.noState(frame, s, &k, &pl, space)
		}
		pl.loose = true
	}
	t.mu.Lock()
	var ht hit
	if t.probe(&k, h, &ht) {
		if !expired(ht.ctl, ht.seen, w.now, &w.snap.tm) {
			t.mu.Unlock()
			pl.unclaim()
			return w.established(frame, s, &k, &ht, space).result()
		}
		t.removeSession(int32(ht.si))
	}
	k1, si, r := w.create(s, &k, h, space, &pl)
	var ctl, xl uint64
	if r == ReasonNone {
		ctl, xl = t.sess[si].ctl.Load(), t.sess[si].xl.Load()
	}
	t.mu.Unlock()
	pl.unclaim()
	if r != ReasonNone {
		return w.refuse(frame, s, r)
	}
	w.created.Add(1)
	if s.Flags&pkt.FlagFragment != 0 {
		w.recordFirst(s, space, uint32(si), 0, ctl)
	}
	tr := translateFast(frame, s, &k, &k1, uint32(xl))
	return Result{Action: Forward, State: StateNew, Space: k1.space(), Translated: tr}
}

// plan is what Commit decides about a new flow before it takes the lock:
// everything that depends only on the policy snapshot and the packet.
type plan struct {
	reason   Reason    // the flow cannot be source-NATed: why
	dst      uint8     // dstNone, dstFloating or dstExternal
	float    int32     // the floating IP of dstFloating
	nsrc     [2]uint64 // the source after translation
	outSpace uint16    // the space after source translation
	snat     bool      // source NAT through an endpoint-independent mapping
	slot     int       // port bitmap of the protocol
	ik       key       // the mapping's internal key
	ikh      uint64    // and its hash
	ext      *extAddr  // the paired external address
	// ekh and k1h are the hashes of the mapping's external key and of the
	// reply key if the internal port is kept (port preservation), or if
	// it gets the claimed port.
	ekh, k1h uint64
	// claimed: port was claimed before the lock, for a new mapping; until
	// create makes it one (and clears claimed), it must be released.
	claimed bool
	port    uint16
	loose   bool // a TCP session picked up mid-stream
}

// translates reports whether the flow k, arriving in space, would be
// translated in any way.
func (p *plan) translates(k *key, space uint16) bool {
	return p.snat || p.reason != ReasonNone || p.dst != dstNone || p.outSpace != space || p.nsrc != k.src
}

// unclaim releases a port claimed for a mapping that was not made.
func (p *plan) unclaim() {
	if p.claimed {
		p.ext.ports.release(p.slot, p.port)
		p.claimed = false
	}
}

// Destinations in the external space that are translated.
const (
	dstNone     = iota
	dstFloating // a floating public address
	dstExternal // an external (shared) address: inbound through a mapping, or hairpinned
)

// planBase decides the source side of new flow k and finds what its
// destination is: everything about it that depends only on the policy
// snapshot and the packet, not on the table.
func (w *Worker) planBase(s *pkt.Summary, k *key, space uint16, p *plan) {
	w.planSource(s, k, space, p)
	if p.outSpace != w.snap.extSpace || p.reason != ReasonNone {
		return
	}
	if len(w.snap.byPublic) > 0 {
		if fi, ok := w.snap.byPublic[famKey{s.Family, s.Dst}]; ok {
			p.dst, p.float = dstFloating, fi
			return
		}
	}
	if w.snap.external(s.Family, &s.Dst) {
		p.dst = dstExternal
	}
}

// planCache is the number of base plans a worker keeps for the flows of
// its current batch (direct-mapped by key hash).
const planCache = 64

// planEntry is a cached base plan: valid while epoch is the worker's.
type planEntry struct {
	epoch uint64
	k     key
	pl    plan
}

// planned returns new flow k's base plan (planBase), made at most once a
// batch: the data path asks Destination, then Commit, about the same new
// flow, and the second finds the plan the first made. Within a batch the
// snapshot does not change, and a base plan depends on nothing else.
func (w *Worker) planned(s *pkt.Summary, k *key, h uint64, space uint16) *plan {
	e := &w.plans[h%planCache]
	if e.epoch == w.epoch && e.k.equal(k) {
		return &e.pl
	}
	e.epoch, e.k = w.epoch, *k
	e.pl = plan{}
	w.planBase(s, k, space, &e.pl)
	return &e.pl
}

// claim completes a source NAT plan before Commit takes the lock: when no
// mapping seems to exist for the internal endpoint it claims the external
// port (ports are claimed without the lock). It also reads the index
// slots create will read under the lock — the mapping's internal key
// (mayHave), its external key and the reply key — so that their cache
// misses overlap outside the lock instead of following one another
// inside it.
func (w *Worker) claim(s *pkt.Summary, k *key, p *plan) {
	if !p.snat {
		return
	}
	t := w.t
	ms := &t.maps
	if !ms.mayHave(sideInt, p.ikh) {
		e := p.ext
		if port, ok := e.ports.allocPort(p.slot, e.lo, e.hi, k.sport(), p.ik.hash(t.s1, t.s0)); ok {
			p.claimed, p.port = true, port
			if port != k.sport() {
				ek := extKey(s.Family, s.Proto, &e.a, port)
				k1 := key{src: k.dst, dst: addrWords(&e.a), m: packM(w.snap.extSpace, s.Family, s.Proto, k.dport(), port)}
				p.ekh, p.k1h = ek.hash(t.s0, t.s1), k1.hash(t.s0, t.s1)
			}
		}
	}
	w.batch.sink += ms.index[uint64(uint32(p.ekh))&ms.mask].Load() + t.index[uint64(uint32(p.k1h))&t.mask].Load()
}

func (w *Worker) planSource(s *pkt.Summary, k *key, space uint16, p *plan) {
	t, snap := w.t, w.snap
	fam, proto := s.Family, s.Proto
	p.nsrc, p.outSpace = k.src, space
	if snap.inPools(space, fam, &s.Dst) {
		if snap.nonRoutableInbound(space, fam, &s.Src, &s.Dst) {
			p.reason = ReasonNonRoutable
		}
		return
	}
	if len(snap.byWorkload) > 0 {
		if fi, ok := snap.byWorkload[spaceKey{space, fam, s.Src}]; ok {
			p.nsrc, p.outSpace = addrWords(&snap.floats[fi].public), snap.extSpace
			return
		}
	}
	if !snap.natSource(space, fam, &s.Src) {
		return
	}
	p.outSpace = snap.extSpace
	p.slot = portSlot(proto)
	if p.slot < 0 {
		p.reason = ReasonProtoUnsupported
		return
	}
	list := snap.ext[famIndex(fam)]
	if len(list) == 0 {
		p.reason = ReasonPortsExhausted
		return
	}
	p.snat = true
	p.ik = intKey(space, fam, proto, &s.Src, k.sport())
	p.ikh = p.ik.hash(t.s0, t.s1)
	// Paired pooling (RFC 4787 REQ-2, RFC 7857 section 4): the external
	// address depends on the internal address only, for every protocol.
	pk := key{src: p.ik.src, m: uint64(space)<<48 | uint64(fam)<<40}
	p.ext = &list[snap.paired(famIndex(fam), pk.hash(t.s0, t.s1))]

	ek := extKey(fam, proto, &p.ext.a, k.sport())
	k1 := key{src: k.dst, dst: addrWords(&p.ext.a), m: packM(snap.extSpace, fam, proto, k.dport(), k.sport())}
	p.ekh, p.k1h = ek.hash(t.s0, t.s1), k1.hash(t.s0, t.s1)
}

// create decides the translation of the flow k (hash h) and records the
// session. It returns the reply-direction key and the session. The
// caller holds mu.
func (w *Worker) create(s *pkt.Summary, k *key, h uint64, space uint16, pl *plan) (key, int32, Reason) {
	t, snap := w.t, w.snap
	fam, proto := s.Family, s.Proto
	// A slot first: eviction may drop the last session of a mapping this
	// flow would otherwise reuse.
	if len(t.free) == 0 && !t.evictOne(w.now, &snap.tm) {
		return key{}, -1, ReasonTableFull
	}

	// Source side.
	if pl.reason != ReasonNone {
		return key{}, -1, pl.reason
	}
	nsrc, nsp := pl.nsrc, k.sport()
	outSpace := pl.outSpace
	srcMap := int32(-1)
	var newMap *mapping
	var mapBuf mapping
	if pl.snat {
		if mi := t.findMapping(sideInt, &pl.ik, pl.ikh); mi >= 0 {
			m := &t.maps.m[mi]
			srcMap, nsrc, nsp = mi, addrWords(&m.extAddr), m.extPort
		} else {
			if len(t.maps.free) == 0 {
				return key{}, -1, ReasonMappingsFull
			}
			e := pl.ext
			port, ok := pl.port, pl.claimed
			if !ok {
				port, ok = e.ports.allocPort(pl.slot, e.lo, e.hi, nsp, pl.ik.hash(t.s1, t.s0))
			}
			if !ok {
				return key{}, -1, ReasonPortsExhausted
			}
			pl.claimed = false // the mapping's now: release() gives it back
			mapBuf = mapping{intAddr: s.Src, extAddr: e.a, intPort: nsp, extPort: port,
				space: space, fam: fam, proto: proto}
			newMap = &mapBuf
			nsrc, nsp = addrWords(&e.a), port
		}
	}
	release := func() {
		if newMap != nil {
			pl.ext.ports.release(pl.slot, newMap.extPort)
		}
	}

	// Destination side, once the packet is in the external space:
	// inbound to a floating IP or through a mapping, or hairpinned.
	ndst, ndp := k.dst, k.dport()
	dstMap := int32(-1)
	switch pl.dst {
	case dstFloating:
		fl := &snap.floats[pl.float]
		ndst, outSpace = addrWords(&fl.workload), fl.space
	case dstExternal:
		if isICMP(proto) {
			// Query identifiers map replies, not requests from
			// outside: nobody behind a shared address is pinged.
			release()
			return key{}, -1, ReasonNoMapping
		}
		ek := extKey(fam, proto, &s.Dst, ndp)
		mi := t.findMapping(sideExt, &ek, ek.hash(t.s0, t.s1))
		if mi < 0 {
			release()
			return key{}, -1, ReasonNoMapping
		}
		if snap.filtering == AddressDependent && !t.sentTo(mi, nsrc) {
			release()
			return key{}, -1, ReasonFiltered
		}
		m := &t.maps.m[mi]
		dstMap, ndst, ndp, outSpace = mi, addrWords(&m.intAddr), m.intPort, m.space
	}

	k1 := key{src: ndst, dst: nsrc, m: packM(outSpace, fam, proto, ndp, nsp)}
	if k1.equal(k) {
		// A floating IP's workload sending to its own public address
		// from port p to port p: after both translations the reply
		// looks exactly like the original, so one key would name both
		// directions. Linux picks another source port; a floating IP
		// keeps its ports, so the flow is refused instead of making an
		// index entry that means two things.
		release()
		return key{}, -1, ReasonTupleConflict
	}
	var ht hit
	h1 := k1.hash(t.s0, t.s1)
	if t.probe(&k1, h1, &ht) {
		if !expired(ht.ctl, ht.seen, w.now, &snap.tm) {
			release()
			return key{}, -1, ReasonTupleConflict
		}
		t.removeSession(int32(ht.si))
		if len(t.free) == 0 { // cannot happen: removal freed one
			release()
			return key{}, -1, ReasonTableFull
		}
	}
	if newMap != nil {
		srcMap = t.newMapping(*newMap, pl.ikh)
	}
	st := protoClass(proto) << stClassShift
	if proto == pkt.ProtoTCP {
		st |= stSynOrig
		if pl.loose {
			st |= stLoose
		}
	}
	si := t.addSession(k, &k1, h, h1, st, w.now, srcMap, dstMap)
	return k1, si, ReasonNone
}

// refuse drops a new flow that cannot have state, counting reason, and
// for resource or administrative refusals prepares an ICMP
// administratively prohibited error (RFC 5508 REQ-8) within the rate
// limit. Unsolicited inbound packets are dropped silently (RFC 5382
// REQ-4: no answer to an unsolicited SYN).
func (w *Worker) refuse(frame []byte, s *pkt.Summary, r Reason) Result {
	res := w.drop(r)
	switch r {
	case ReasonPortsExhausted, ReasonTableFull, ReasonMappingsFull, ReasonProtoUnsupported:
	default:
		return res
	}
	fi := famIndex(s.Family)
	if !w.snap.hasErrSrc[fi] || !w.allowError() {
		return res
	}
	orig := frame[s.L3Off:s.End()]
	var n int
	var err error
	if s.Family == pkt.FamilyIPv4 {
		n, err = pkt.BuildICMPv4Error(w.reply[:], orig, [4]byte(w.snap.errSrc[0][:4]),
			pkt.ICMPv4DestUnreach, pkt.ICMPv4AdminProhibited, 0)
	} else {
		n, err = pkt.BuildICMPv6Error(w.reply[:], orig, w.snap.errSrc[1],
			pkt.ICMPv6DestUnreach, pkt.ICMPv6AdminProhibited, 0)
	}
	if err != nil {
		return res
	}
	w.replyLen = n
	w.errors.Add(1)
	res.Action = DropAndReply
	return res
}

// allowError takes one error from the worker's token bucket, which holds
// one second's worth of errors.
func (w *Worker) allowError() bool {
	rate := int64(w.snap.errPerSec)
	if rate < 0 {
		return false
	}
	w.tokens += w.nowNs - w.lastNs
	w.lastNs = w.nowNs
	const full = int64(1e9)
	if w.tokens > full {
		w.tokens = full
	}
	cost := full / rate
	if w.tokens < cost {
		return false
	}
	w.tokens -= cost
	return true
}
