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
	switch {
	case s.Proto == pkt.ProtoTCP:
		// Only a SYN opens a TCP session (RFC 6146 3.5.2.2): a stray
		// ACK or RST must not make a mapping.
		if s.TCPFlags&(pkt.TCPFlagSYN|pkt.TCPFlagACK|pkt.TCPFlagRST|pkt.TCPFlagFIN) != pkt.TCPFlagSYN {
			return w.drop(ReasonTCPNotSYN)
		}
	case isICMP(s.Proto):
		if icmpQueryKind(s.Family, s.ICMPType) != 1 {
			return w.drop(ReasonICMPNotRequest)
		}
	}
	if rk := k.reverse(); rk == k {
		return w.drop(ReasonLand)
	}
	h := k.hash(w.t.s0, w.t.s1)
	t := w.t
	t.mu.Lock()
	var ht hit
	if t.probe(&k, h, &ht) {
		if !expired(ht.ctl, ht.seen, w.now, &w.snap.tm) {
			t.mu.Unlock()
			return w.established(frame, s, &k, &ht, space)
		}
		t.removeSession(int32(ht.si))
	}
	k1, si, r := w.create(s, &k, space)
	var ctl uint64
	if r == ReasonNone {
		ctl = t.sess[si].ctl.Load()
	}
	t.mu.Unlock()
	if r != ReasonNone {
		return w.refuse(frame, s, r)
	}
	w.created.Add(1)
	if s.Flags&pkt.FlagFragment != 0 {
		w.recordFirst(s, space, uint32(si), 0, ctl)
	}
	tr := translate(frame, s, &k, &k1)
	return Result{Action: Forward, State: StateNew, Space: k1.space(), Translated: tr}
}

// create decides the translation of the flow k and records the session.
// It returns the reply-direction key. The caller holds mu.
func (w *Worker) create(s *pkt.Summary, k *key, space uint16) (key, int32, Reason) {
	t, snap := w.t, w.snap
	fam, proto := s.Family, s.Proto
	// A slot first: eviction may drop the last session of a mapping this
	// flow would otherwise reuse.
	if len(t.free) == 0 && !t.evictOne(w.now, &snap.tm) {
		return key{}, -1, ReasonTableFull
	}

	// Source side.
	nsrc, nsp := k.src, k.sport()
	outSpace := space
	srcMap := int32(-1)
	var newMap *mapping
	var mapBuf mapping
	if !snap.inPools(space, fam, &s.Dst) {
		if fi, ok := snap.byWorkload[spaceKey{space, fam, s.Src}]; ok {
			nsrc = addrWords(&snap.floats[fi].public)
			outSpace = snap.extSpace
		} else if snap.natSource(space, fam, &s.Src) {
			slot := portSlot(proto)
			if slot < 0 {
				return key{}, -1, ReasonProtoUnsupported
			}
			ik := intKey(space, fam, proto, &s.Src, nsp)
			if mi := t.findMapping(sideInt, &ik); mi >= 0 {
				m := &t.maps.m[mi]
				srcMap, nsrc, nsp = mi, addrWords(&m.extAddr), m.extPort
			} else {
				list := snap.ext[famIndex(fam)]
				if len(list) == 0 {
					return key{}, -1, ReasonPortsExhausted
				}
				if len(t.maps.free) == 0 {
					return key{}, -1, ReasonMappingsFull
				}
				// Paired pooling (RFC 4787 REQ-2, RFC 7857 section
				// 4): the external address depends on the internal
				// address only, for every protocol.
				pk := key{src: ik.src, m: uint64(space)<<48 | uint64(fam)<<40}
				e := &list[jump(pk.hash(t.s0, t.s1), len(list))]
				port, ok := e.ports.allocPort(slot, e.lo, e.hi, nsp, ik.hash(t.s1, t.s0))
				if !ok {
					return key{}, -1, ReasonPortsExhausted
				}
				mapBuf = mapping{intAddr: s.Src, extAddr: e.a, intPort: nsp, extPort: port,
					space: space, fam: fam, proto: proto}
				newMap = &mapBuf
				nsrc, nsp = addrWords(&e.a), port
			}
			outSpace = snap.extSpace
		}
	}
	release := func() {
		if newMap != nil {
			t.ports[famKey{fam, newMap.extAddr}].release(portSlot(proto), newMap.extPort)
		}
	}

	// Destination side, once the packet is in the external space:
	// inbound to a floating IP or through a mapping, or hairpinned.
	ndst, ndp := k.dst, k.dport()
	dstMap := int32(-1)
	if outSpace == snap.extSpace {
		if fi, ok := snap.byPublic[famKey{fam, s.Dst}]; ok {
			ndst = addrWords(&snap.floats[fi].workload)
			outSpace = snap.floats[fi].space
		} else if _, ok := snap.extIndex[famKey{fam, s.Dst}]; ok {
			if isICMP(proto) {
				// Query identifiers map replies, not requests from
				// outside: nobody behind a shared address is pinged.
				release()
				return key{}, -1, ReasonNoMapping
			}
			ek := extKey(fam, proto, &s.Dst, ndp)
			mi := t.findMapping(sideExt, &ek)
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
	}

	k1 := key{src: ndst, dst: nsrc, m: packM(outSpace, fam, proto, ndp, nsp)}
	var ht hit
	if t.probe(&k1, k1.hash(t.s0, t.s1), &ht) {
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
		srcMap = t.newMapping(*newMap)
	}
	st := protoClass(proto) << stClassShift
	if proto == pkt.ProtoTCP {
		st |= stSynOrig
	}
	si := t.addSession(k, &k1, st, w.now)
	if srcMap >= 0 {
		t.link(si, sideInt, srcMap)
	}
	if dstMap >= 0 {
		t.link(si, sideExt, dstMap)
	}
	return k1, si, ReasonNone
}

// jump is Lamping and Veach's jump consistent hash: growing the address
// list moves only the internal addresses that must move.
func jump(h uint64, n int) int {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		h = h*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((h>>33)+1)))
	}
	return int(b)
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
