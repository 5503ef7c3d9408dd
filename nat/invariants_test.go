package nat

// Whole-table consistency, checked after randomized and fuzzed runs: the
// index holds exactly the keys of the live sessions, mappings hold exactly
// the sessions linked to them, and exactly the mapped ports are reserved.

import "fmt"

func (t *Table) checkInvariants() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	entries := 0
	for i := range t.index {
		v := t.index[i].Load()
		if v == 0 {
			continue
		}
		entries++
		ref := uint32(v) - 1
		si, d := ref>>1, int(ref&1)
		if int(si) >= len(t.sess) {
			return fmt.Errorf("index slot %d points at session %d beyond capacity", i, si)
		}
		s := &t.sess[si]
		if s.ctl.Load()&stLive == 0 {
			return fmt.Errorf("index slot %d points at dead session %d", i, si)
		}
		k := s.loadKey(d)
		if h := k.hash(t.s0, t.s1); uint32(h) != uint32(v>>32) {
			return fmt.Errorf("index slot %d: tag %#x, key hashes to %#x", i, uint32(v>>32), uint32(h))
		}
		var ht hit
		if !t.probe(&k, k.hash(t.s0, t.s1), &ht) || ht.si != si || ht.dir != d {
			return fmt.Errorf("session %d dir %d not found by its own key", si, d)
		}
	}
	if entries != 2*t.live {
		return fmt.Errorf("%d index entries for %d live sessions", entries, t.live)
	}
	live := 0
	refs := make(map[int32]int32)
	for si := range t.sess {
		s := &t.sess[si]
		c := s.ctl.Load()
		if c&seqOdd != 0 {
			return fmt.Errorf("session %d left with an odd sequence", si)
		}
		if c&stLive == 0 {
			continue
		}
		live++
		for side := range 2 {
			if m := s.link[side].m; m >= 0 {
				refs[m]++
			}
		}
	}
	if live != t.live || live+len(t.free) != len(t.sess) {
		return fmt.Errorf("%d live sessions, count says %d, %d free of %d", live, t.live, len(t.free), len(t.sess))
	}
	reserved := make(map[famKey]*portSet)
	used := 0
	for mi := range t.maps.m {
		if refs[int32(mi)] == 0 {
			continue
		}
		used++
		m := &t.maps.m[mi]
		if m.refs != refs[int32(mi)] {
			return fmt.Errorf("mapping %d: refs %d, %d sessions link it", mi, m.refs, refs[int32(mi)])
		}
		for side := range 2 {
			k := m.keyOf(side)
			if got := t.findMapping(side, &k, k.hash(t.s0, t.s1)); got != int32(mi) {
				return fmt.Errorf("mapping %d side %d found as %d", mi, side, got)
			}
		}
		fk := famKey{m.fam, m.extAddr}
		if reserved[fk] == nil {
			reserved[fk] = new(portSet)
		}
		reserved[fk].take(portSlot(m.proto), m.extPort)
	}
	if used+len(t.maps.free) != len(t.maps.m) {
		return fmt.Errorf("%d mappings in use, %d free of %d", used, len(t.maps.free), len(t.maps.m))
	}
	var none portSet
	for fk, ps := range t.ports {
		want := reserved[fk]
		if want == nil {
			want = &none
		}
		for slot := range ps.used {
			for w := range ps.used[slot] {
				if got, want := ps.used[slot][w].Load(), want.used[slot][w].Load(); got != want {
					return fmt.Errorf("address %v slot %d ports %d-%d: reserved %#x, mapped %#x", fk.a, slot, w*64, w*64+63, got, want)
				}
			}
		}
	}
	return nil
}

// checkHold checks the hold buffer's bookkeeping: every slot is free (and
// on the free stack exactly once), held (counted in held) or released
// (listed once in the released list).
func (w *Worker) checkHold() error {
	hp := &w.hold
	if hp.slots == nil {
		return nil
	}
	onFree := make(map[int32]bool)
	for _, i := range hp.free {
		if onFree[i] || hp.slots[i].state != slotFree {
			return fmt.Errorf("hold: slot %d on the free stack twice or not free (state %d)", i, hp.slots[i].state)
		}
		onFree[i] = true
	}
	onRel := make(map[int32]bool)
	for _, i := range hp.relSlot {
		if onRel[i] || hp.slots[i].state != slotReleased {
			return fmt.Errorf("hold: slot %d released twice or not released (state %d)", i, hp.slots[i].state)
		}
		onRel[i] = true
	}
	held := 0
	for i := range hp.slots {
		switch hp.slots[i].state {
		case slotHeld:
			held++
		case slotFree:
			if !onFree[int32(i)] {
				return fmt.Errorf("hold: free slot %d not on the free stack", i)
			}
		case slotReleased:
			if !onRel[int32(i)] {
				return fmt.Errorf("hold: released slot %d not in the released list", i)
			}
		}
	}
	if held != hp.held || len(hp.rel) != len(hp.relSlot) {
		return fmt.Errorf("hold: %d slots held, counted %d; %d released, %d slots", held, hp.held, len(hp.rel), len(hp.relSlot))
	}
	return nil
}
