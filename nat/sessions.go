package nat

// Sessions: the control plane lists the connection table for operators
// (gannet sessions). A walk reads every slot without the table lock, the
// way probe does: a session is reported only when its sequence number is
// the same before and after its keys were read, so a session being made
// or removed meanwhile is skipped, never reported torn.

import (
	"math/bits"
	"net/netip"

	"github.com/gannet-net/gannet/pkt"
)

// Sessions calls fn with each live session, in table order, until fn
// returns false. match, when valid, keeps only sessions with that address
// in either direction's source or destination. Any goroutine may call it;
// the table keeps changing meanwhile, so the walk is a sample, not a
// snapshot.
func (t *Table) Sessions(match netip.Addr, fn func(SessionInfo) bool) {
	snap := t.policy.Load()
	now, _ := t.now()
	for si := range t.sess {
		s := &t.sess[si]
		c1 := s.ctl.Load()
		if c1&(seqOdd|stLive) != stLive {
			continue
		}
		h := hit{si: uint32(si), ctl: c1, seen: s.seen.Load()}
		if expired(c1, h.seen, now, &snap.tm) {
			continue
		}
		info := t.sessionInfo(&h, now, &snap.tm)
		if s.ctl.Load()>>32 != c1>>32 {
			continue
		}
		if match.IsValid() && !info.Original.has(match) && !info.Reply.has(match) {
			continue
		}
		if !fn(info) {
			return
		}
	}
}

// SetPrepared publishes p as the table's policy, as SetPolicy would: the
// one Query, Sessions and workers without a prepared policy of their own
// read.
func (t *Table) SetPrepared(p *Prepared) {
	if p.For(t) {
		t.policy.Store(p.s)
	}
}

func (u Tuple) has(a netip.Addr) bool { return u.Src == a || u.Dst == a }

// Capacity returns how many sessions the table holds at most.
func (t *Table) Capacity() int { return t.cfg.Capacity }

// PortsInUse calls fn with each external address of the published policy,
// the ports reserved on it (TCP and UDP ports and ICMP query identifiers
// together) and how many ports its range has for each protocol. It counts
// the reservation bitmaps without a lock: a port being claimed or released
// meanwhile may or may not be counted.
func (t *Table) PortsInUse(fn func(addr netip.Addr, inUse, rangeSize int)) {
	snap := t.policy.Load()
	for f, fam := range [2]pkt.Family{pkt.FamilyIPv4, pkt.FamilyIPv6} {
		for i := range snap.ext[f] {
			e := &snap.ext[f][i]
			n := 0
			if e.ports != nil {
				for slot := range e.ports.used {
					for w := range e.ports.used[slot] {
						n += bits.OnesCount64(e.ports.used[slot][w].Load())
					}
				}
			}
			fn(addrOf(fam, e.a), n, int(e.hi)-int(e.lo)+1)
		}
	}
}
