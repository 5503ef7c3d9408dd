package nat

// Sessions: the control plane lists the connection table for operators
// (gannet sessions). A walk reads every slot without the table lock, the
// way probe does: a session is reported only when its sequence number is
// the same before and after its keys were read, so a session being made
// or removed meanwhile is skipped, never reported torn.

import "net/netip"

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
