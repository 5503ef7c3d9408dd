package nat

// The index against a map: random inserts, removals and lookups over a
// small key universe in a small table, so probe runs wrap around the
// array and backward-shift deletion is exercised constantly.

import (
	"math/rand/v2"
	"testing"
)

type twinEntry struct {
	si  int32
	dir int
}

func TestIndexDifferential(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		tab, err := New(Config{Capacity: 48, Seed: seed, Clock: &ManualClock{}})
		if err != nil {
			t.Fatal(err)
		}
		twin := map[key]twinEntry{}
		var live []int32
		keys := make([]key, 300)
		for i := range keys {
			keys[i] = key{src: [2]uint64{uint64(rng.IntN(20)), 0}, dst: [2]uint64{uint64(rng.IntN(20)), 0},
				m: packM(uint16(rng.IntN(2)), 4, 17, uint16(rng.IntN(4)), uint16(rng.IntN(4)))}
		}
		ops := 20000
		if testing.Short() {
			ops = 4000
		}
		for op := range ops {
			switch x := rng.IntN(10); {
			case x < 4: // insert a session for two absent, distinct keys
				k0, k1 := keys[rng.IntN(len(keys))], keys[rng.IntN(len(keys))]
				_, in0 := twin[k0]
				_, in1 := twin[k1]
				if in0 || in1 || k0 == k1 || len(tab.free) == 0 {
					continue
				}
				tab.mu.Lock()
				si := tab.addSession(&k0, &k1, k0.hash(tab.s0, tab.s1), k1.hash(tab.s0, tab.s1), classUDP<<stClassShift, 1, -1, -1)
				tab.mu.Unlock()
				twin[k0], twin[k1] = twinEntry{si, 0}, twinEntry{si, 1}
				live = append(live, si)
			case x < 7: // remove a random live session
				if len(live) == 0 {
					continue
				}
				i := rng.IntN(len(live))
				victim := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				tab.mu.Lock()
				k0, k1 := tab.sess[victim].loadKey(0), tab.sess[victim].loadKey(1)
				tab.removeSession(victim)
				tab.mu.Unlock()
				delete(twin, k0)
				delete(twin, k1)
			default: // look up any key
				k := keys[rng.IntN(len(keys))]
				var h hit
				ok := tab.lookup(&k, k.hash(tab.s0, tab.s1), &h)
				e, want := twin[k]
				if ok != want {
					t.Fatalf("seed %d op %d: lookup(%v) = %v, twin says %v", seed, op, k, ok, want)
				}
				if ok {
					other := tab.sess[e.si].loadKey(e.dir ^ 1)
					if h.si != uint32(e.si) || h.dir != e.dir || h.other != other {
						t.Fatalf("seed %d op %d: lookup(%v) = session %d dir %d, twin says %d dir %d", seed, op, k, h.si, h.dir, e.si, e.dir)
					}
				}
			}
		}
		if err := tab.checkInvariants(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if tab.Len()*2 != len(twin) {
			t.Fatalf("seed %d: %d sessions, twin has %d keys", seed, tab.Len(), len(twin))
		}
	}
}
