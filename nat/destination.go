package nat

// Where a new flow goes: before the data path commits a new flow it runs
// the ingress policy of the endpoint the packet will really reach, which
// is known only once a floating IP or an endpoint-independent mapping has
// translated the destination. Destination answers that without creating
// anything, by the same decisions Commit takes.

import "github.com/gannet-net/gannet/pkt"

// Destination reports where Commit would deliver a packet that Track
// reported New (Action Decide), without creating or changing anything:
// the destination address after translation (in pkt.Summary's layout,
// IPv4 in the first 4 bytes), the address space the packet will be in
// (Result.Space of the Commit), the destination port after translation
// (TCP and UDP; for ICMP it is the summary's DstPort, meaningless), and
// whether the destination address or port is translated — by a floating
// IP, or inbound (or hairpinned) through an endpoint-independent mapping.
//
// For a packet Commit would refuse (no mapping, filtered, no key, a later
// fragment, ...) it reports the packet's own destination and space with
// translated false; Commit then drops it anyway. If another worker creates
// or removes the flow's mapping between Destination and Commit, Commit
// follows the table as it then is; that window is the same as between
// Track and Commit.
//
// Hairpinning also rewrites the source (to the sender's external address
// and port); Destination does not report it. Policy should see the
// original source, as Linux's filter table sees a hairpinned packet
// before POSTROUTING masquerades it: the ingress policy of the receiving
// workload is about the workload that sent it, not about the NAT.
//
// Call it on the worker's goroutine, after BeginBatch and before Commit,
// with the frame, summary and space given to Track. It does not allocate.
// An inbound packet to an external address takes the table lock briefly.
func (w *Worker) Destination(frame []byte, s *pkt.Summary, space uint16) (dst [16]byte, dstSpace uint16, port uint16, translated bool) {
	dst, dstSpace, port = s.Dst, space, s.DstPort
	if check(frame, s) != ReasonNone || laterFragment(s) || s.Flags&pkt.FlagICMPError != 0 {
		return
	}
	var k key
	if keyOf(s, space, &k) != ReasonNone {
		return
	}
	if rk := k.reverse(); rk.equal(&k) {
		return
	}
	pl := w.planned(s, &k, k.hash(w.t.s0, w.t.s1), space)
	if pl.reason != ReasonNone {
		return
	}
	switch pl.dst {
	case dstFloating:
		fl := &w.snap.floats[pl.float]
		return fl.workload, fl.space, port, true
	case dstExternal:
		if isICMP(s.Proto) {
			return // Commit refuses: no query comes in through a shared address
		}
		t := w.t
		ek := extKey(s.Family, s.Proto, &s.Dst, k.dport())
		t.mu.Lock()
		mi := t.findMapping(sideExt, &ek, ek.hash(t.s0, t.s1))
		ok := mi >= 0
		if ok && w.snap.filtering == AddressDependent {
			// Filtering looks at the source as Commit translates it:
			// a hairpinned flow's external address.
			nsrc := pl.nsrc
			if pl.snat {
				nsrc = addrWords(&pl.ext.a)
				if si := t.findMapping(sideInt, &pl.ik, pl.ikh); si >= 0 {
					nsrc = addrWords(&t.maps.m[si].extAddr)
				}
			}
			ok = t.sentTo(mi, nsrc)
		}
		var m mapping
		if ok {
			m = t.maps.m[mi]
		}
		t.mu.Unlock()
		if !ok {
			return // Commit refuses: no mapping, or filtered
		}
		return m.intAddr, m.space, m.intPort, true
	}
	return dst, pl.outSpace, port, false
}
