package nat

// State files: a table reopened from its file keeps every session, its
// translation, its mapping and its remaining idle time; a file that does
// not match is refused with its reason and the table starts empty; a
// file damaged anywhere (FuzzStateFile) never yields an inconsistent
// table.

import (
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// openState opens the state file path with clock, requiring success, and
// closes it at the end of the test.
func openState(t testing.TB, path string, cfg Config, clock Clock) (*Table, Restore) {
	t.Helper()
	cfg.Clock = clock
	tab, r, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab, r
}

// stateFlows fills h's table with flows of every kind and returns, for
// each, a reply frame to its external endpoint: TCP, UDP and ICMP query
// source NAT on IPv4 and IPv6, a floating IP, and an inbound flow through
// an existing mapping (endpoint-independent filtering).
func stateFlows(t testing.TB, h *harness) [][]byte {
	t.Helper()
	var replies [][]byte
	for _, f := range fuzzFlows() {
		x, xp := h.sendOut(f)
		r := f.reply("A")
		if f.proto == "tcp" {
			r.flags = "SA"
		}
		r.dst = x
		if f.proto == "ping" {
			r.sp = xp
		} else {
			r.dp = xp
		}
		if res := h.send(r.frame(t), 0); res.State != StateEstablished {
			t.Fatalf("answer to %+v: %+v", f, res)
		}
		if f.proto == "tcp" {
			r.flags = "A"
		}
		replies = append(replies, r.frame(t))
		if f.proto == "udp" && f.src != floatWl4 {
			// Someone else writes to the same external endpoint.
			in := flow{proto: "udp", src: "198.51.100.77", sp: 9999, dst: x, dp: xp}
			if res := h.send(in.frame(t), 0); res.Action != Forward || res.State != StateNew {
				t.Fatalf("inbound %+v: %+v", in, res)
			}
			replies = append(replies, in.frame(t))
		}
	}
	return replies
}

// sessionList lists a table's sessions.
func sessionList(tab *Table) []SessionInfo {
	var l []SessionInfo
	tab.Sessions(netip.Addr{}, func(s SessionInfo) bool { l = append(l, s); return true })
	return l
}

func TestStateAdopt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conntrack")
	clock := &ManualClock{}
	cfg := Config{Capacity: 256}
	tab, r := openState(t, path, cfg, clock)
	if r.Adopted || r.Why != "no state file" {
		t.Fatalf("first Open: %+v, want a fresh table (no state file)", r)
	}
	if err := tab.SetPolicy(testPolicy()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tab: tab, clock: clock, w: tab.NewWorker()}
	replies := stateFlows(t, h)
	h.advance(10 * time.Second)
	var want [][]byte
	for _, fr := range replies {
		fr = append([]byte(nil), fr...)
		if res := h.send(fr, 0); res.State != StateEstablished {
			t.Fatalf("reply before the restart: %+v", res)
		}
		want = append(want, fr)
	}
	h.advance(20 * time.Second)
	before := sessionList(tab)
	n := tab.Len()
	if err := tab.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(7 * time.Second) // nothing runs
	tab2, r := openState(t, path, cfg, clock)
	if !r.Adopted || r.Sessions != n || r.Dropped != 0 || r.Mappings == 0 || r.Why != "" {
		t.Fatalf("Open after a restart: %+v, want %d sessions adopted, none dropped", r, n)
	}
	if r.Age != 37*time.Second {
		t.Errorf("Restore.Age = %v, want 37s", r.Age)
	}
	if err := tab2.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	// The same sessions, each 7 s idler: nothing else moved.
	after := sessionList(tab2)
	for i := range before {
		before[i].Idle += 7 * time.Second
	}
	if diff := cmp.Diff(before, after, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("sessions after the restart (-want +got):\n%s", diff)
	}
	if err := tab2.SetPolicy(testPolicy()); err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, tab: tab2, clock: clock, w: tab2.NewWorker()}
	for i, fr := range replies {
		fr = append([]byte(nil), fr...)
		if res := h2.send(fr, 0); res.State != StateEstablished {
			t.Fatalf("reply %d after the restart: %+v, want established", i, res)
		}
		if diff := cmp.Diff(want[i], fr); diff != "" {
			t.Errorf("reply %d translated differently after the restart (-before +after):\n%s", i, diff)
		}
	}
	// The mappings came along: a new destination from the same internal
	// endpoint leaves from the same external one (RFC 4787 REQ-1).
	for _, f := range fuzzFlows() {
		if f.src == floatWl4 {
			continue
		}
		x0, p0 := h2.sendOut(f)
		g := f
		g.dst = map[bool]string{true: "198.51.100.200", false: "2001:db8:2::200"}[strings.Contains(f.dst, ".")]
		if x, p := h2.sendOut(g); x != x0 || p != p0 {
			t.Errorf("%+v to a new destination left from %s:%d, the adopted mapping is %s:%d", f, x, p, x0, p0)
		}
	}
	if err := tab2.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Idle timers run while no process does: a UDP flow idle past its
// timeout across the restart is gone, an established TCP flow is not.
func TestStateExpiresWhileDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conntrack")
	clock := &ManualClock{}
	tab, _ := openState(t, path, Config{Capacity: 64}, clock)
	tab.SetPolicy(testPolicy())
	h := &harness{t: t, tab: tab, clock: clock, w: tab.NewWorker()}
	replies := stateFlows(t, h) // [0] TCP, [1] UDP
	h.advance(4 * time.Minute)
	tab.Close()
	clock.Advance(2 * time.Minute)
	tab2, r := openState(t, path, Config{Capacity: 64}, clock)
	if !r.Adopted {
		t.Fatalf("not adopted: %s", r.Why)
	}
	tab2.SetPolicy(testPolicy())
	h2 := &harness{t: t, tab: tab2, clock: clock, w: tab2.NewWorker()}
	tcp, udp := append([]byte(nil), replies[0]...), append([]byte(nil), replies[1]...)
	if res := h2.send(tcp, 0); res.State != StateEstablished {
		t.Errorf("TCP reply 6 min after its last packet: %+v, want established", res)
	}
	var s pkt.Summary
	pkt.Parse(udp, &s)
	if res := h2.w.Track(udp, &s, 0); res.State == StateEstablished {
		t.Errorf("UDP reply 6 min after its last packet (timeout 5 min): %+v, want no session", res)
	}
}

func TestStateInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conntrack")
	openState(t, path, Config{Capacity: 64}, &ManualClock{})
	if _, _, err := Open(path, Config{Capacity: 64, Clock: &ManualClock{}}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want an error saying the file is in use", err)
	}
}

// A file that does not match this table is cleared, with the reason, and
// the table starts empty and works.
func TestStateNotAdopted(t *testing.T) {
	cfg := Config{Capacity: 64}
	setHeader := func(off int, put func(h []byte)) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			put(b[off:])
			ne.PutUint32(b[hCRC:], crc32.Checksum(b[:hLen], crcTable))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		wall   bool // the wall clock (CLOCK_BOOTTIME epochs)
		damage func(t *testing.T, path string)
		cfg    Config
		why    string
	}{
		{name: "capacity changed", cfg: Config{Capacity: 128}, why: "capacity 64 sessions, configured 128"},
		{name: "mappings changed", cfg: Config{Capacity: 64, MaxMappings: 32}, why: "64 mappings, configured 32"},
		{name: "truncated", damage: func(t *testing.T, path string) { os.Truncate(path, 4096) }, why: "laid out for another size"},
		{name: "short", damage: func(t *testing.T, path string) { os.Truncate(path, 100) }, why: "100 bytes, laid out for another size"},
		{name: "garbage", damage: func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			for i := range b {
				b[i] = byte(i*131 + 7)
			}
			os.WriteFile(path, b, 0o600)
		}, why: "no state-file magic"},
		{name: "header bit flip", damage: func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[hSeed] ^= 4
			os.WriteFile(path, b, 0o600)
		}, why: "header checksum"},
		{name: "layout version", damage: setHeader(hVersion, func(h []byte) { ne.PutUint32(h, stateVersion+1) }), why: "layout version 2"},
		{name: "session size", damage: setHeader(hSessionSize, func(h []byte) { ne.PutUint32(h, 96) }), why: "sessions of 96 bytes"},
		{name: "seed configured", cfg: Config{Capacity: 64, Seed: 7}, why: "hash seed"},
		{name: "epoch in the future", damage: setHeader(hEpoch, func(h []byte) { ne.PutUint64(h, uint64(time.Hour)+ne.Uint64(h)) }), why: "epoch is"},
		{name: "another boot", wall: true, damage: setHeader(hBootID, func(h []byte) { h[0] ^= 1 }), why: "before the system last booted"},
		{name: "another clock", wall: true, cfg: Config{Capacity: 64, Clock: &ManualClock{}}, why: "clock kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conntrack")
			var clock Clock = &ManualClock{}
			if tc.wall {
				if _, _, ok := bootClock(); !ok {
					t.Skip("no CLOCK_BOOTTIME or boot id here")
				}
				clock = wallClock{}
			}
			tab, _ := openState(t, path, cfg, clock)
			tab.SetPolicy(testPolicy())
			stateFlows(t, &harness{t: t, tab: tab, clock: &ManualClock{}, w: tab.NewWorker()})
			tab.Close()
			if tc.damage != nil {
				tc.damage(t, path)
			}
			c := tc.cfg
			if c.Capacity == 0 {
				c = cfg
			}
			if c.Clock != nil {
				clock = c.Clock
			}
			tab2, r := openState(t, path, c, clock)
			if r.Adopted || !strings.Contains(r.Why, tc.why) {
				t.Fatalf("Open = %+v, want not adopted because %q", r, tc.why)
			}
			t.Logf("not adopted: %s", r.Why)
			if tab2.Len() != 0 {
				t.Errorf("%d sessions in a table that started empty", tab2.Len())
			}
			tab2.SetPolicy(testPolicy())
			stateFlows(t, &harness{t: t, tab: tab2, clock: &ManualClock{}, w: tab2.NewWorker()})
			if err := tab2.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			// The cleared file has a good header now: the next start adopts it.
			n := tab2.Len()
			tab2.Close()
			_, r = openState(t, path, c, clock)
			if !r.Adopted || r.Sessions != n {
				t.Errorf("Open after the fresh start: %+v, want %d sessions adopted", r, n)
			}
		})
	}
}

// stateImage is a state file in memory holding the flows of stateFlows,
// with the clock its times are on.
type stateImage struct {
	mem   []byte
	l     layout
	cfg   Config
	clock *ManualClock
	n     int
}

func newStateImage(t testing.TB) *stateImage {
	im := &stateImage{cfg: Config{Capacity: 64, Clock: &ManualClock{}}}
	im.clock = im.cfg.Clock.(*ManualClock)
	if err := im.cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	im.l = layoutOf(&im.cfg)
	im.mem = wordBytes(im.l.size)
	tab, r, err := newTableOn(im.mem, &im.l, im.cfg, stateNow(im.clock))
	if err != nil || r.Adopted {
		t.Fatalf("newTableOn(fresh) = %+v, %v", r, err)
	}
	tab.SetPolicy(testPolicy())
	h := &harness{t: t, tab: tab, clock: im.clock, w: tab.NewWorker()}
	stateFlows(t, h)
	// Some churn, so that slots, mappings and index runs are reused.
	for i := range 24 {
		h.establish("198.18.9."+string(rune('1'+i%9)), uint16(7000+i))
	}
	h.advance(6 * time.Minute) // UDP expires: the churn's slots free up
	for range 8 {
		h.w.BeginBatch()
	}
	h = &harness{t: t, tab: tab, clock: im.clock, w: tab.NewWorker()}
	stateFlows(t, h)
	for i := range 12 {
		h.establish("198.18.9."+string(rune('1'+i%9)), uint16(8000+i))
	}
	im.n = tab.Len()
	return im
}

// adoptCopy adopts a copy of the image after damage.
func (im *stateImage) adoptCopy(t testing.TB, damage func(mem []byte)) (*Table, Restore) {
	mem := wordBytes(len(im.mem))
	copy(mem, im.mem)
	if damage != nil {
		damage(mem)
	}
	tab, r, err := newTableOn(mem, &im.l, im.cfg, stateNow(im.clock))
	if err != nil {
		t.Fatalf("newTableOn: %v", err)
	}
	return tab, r
}

// A crash leaves a session half-written and the derived state (index,
// mapping lists, counts) anything at all: the half-written session is
// dropped, the rest adopted, everything derived rebuilt.
func TestStateAfterCrash(t *testing.T) {
	im := newStateImage(t)
	tab, r := im.adoptCopy(t, nil)
	if !r.Adopted || r.Sessions != im.n || r.Dropped != 0 {
		t.Fatalf("undamaged: %+v, want all %d sessions", r, im.n)
	}
	if err := tab.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	tab, r = im.adoptCopy(t, func(mem []byte) {
		var tt Table
		bindArrays(&tt, mem, &im.l)
		victim := -1
		for si := range tt.sess {
			if c := tt.sess[si].ctl.Load(); c&stLive != 0 && victim < 0 {
				victim = si
				tt.sess[si].ctl.Store(c | seqOdd) // caught mid-write
			}
		}
		for i := range tt.index {
			tt.index[i].Store(uint64(i) * 0x9e3779b97f4a7c15)
		}
		for i := range tt.maps.m {
			tt.maps.m[i].refs, tt.maps.m[i].head = 99, [2]int32{5, 1 << 30}
		}
		for i := range tt.maps.index {
			tt.maps.index[i].Store(^uint64(i))
		}
	})
	if !r.Adopted || r.Sessions != im.n-1 || r.Dropped != 1 || !strings.Contains(r.Problem, badHalfWritten) {
		t.Fatalf("after a crash: %+v, want %d sessions and the half-written one dropped", r, im.n-1)
	}
	if err := tab.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Sessions that contradict each other or their mappings are dropped.
func TestStateInconsistent(t *testing.T) {
	im := newStateImage(t)
	live := func(tt *Table) []int {
		var l []int
		for si := range tt.sess {
			if tt.sess[si].ctl.Load()&stLive != 0 {
				l = append(l, si)
			}
		}
		return l
	}
	mapped := func(tt *Table, side int) int {
		for _, si := range live(tt) {
			if tt.sess[si].link[side].m >= 0 {
				return si
			}
		}
		panic("no session with a mapping on that side")
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, tt *Table)
		dropped int
		problem string
	}{
		{"state bits", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].ctl.Add(1 << 20) }, 1, badState},
		{"class", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].ctl.Add(1 << stClassShift) }, 1, badState},
		{"family", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].key[1][4].Add(1 << 41) }, 1, badKeys},
		{"IPv4 with high bits", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].key[0][1].Store(1) }, 1, badKeys},
		{"address", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].key[0][0].Add(1) }, 1, badDeltas},
		{"seen in the future", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].seen.Add(1 << 20) }, 1, badSeen},
		{"mapping out of range", func(t *testing.T, tt *Table) { tt.sess[live(tt)[0]].link[0].m = 1 << 20 }, 1, badLink},
		{"another mapping", func(t *testing.T, tt *Table) {
			si := mapped(tt, sideInt)
			tt.sess[si].link[sideInt].m = (tt.sess[si].link[sideInt].m + 1) % int32(len(tt.maps.m))
		}, 1, badMapping},
		{"mapping of no family", func(t *testing.T, tt *Table) {
			mi := tt.sess[mapped(tt, sideInt)].link[sideInt].m
			tt.maps.m[mi].fam = 5
		}, -1, badMapping},
		{"two sessions, one key", func(t *testing.T, tt *Table) {
			l := live(tt)
			a, b := &tt.sess[l[0]], &tt.sess[l[1]]
			for d := range 2 {
				for w := range 5 {
					b.key[d][w].Store(a.key[d][w].Load())
				}
			}
			b.xl.Store(a.xl.Load())
			b.ctl.Store(a.ctl.Load())
			b.link = a.link
		}, 1, badDuplicate},
		{"two mappings, one port", func(t *testing.T, tt *Table) {
			// Session b's mapping is moved onto session a's external
			// port, b's keys and deltas with it: each is consistent
			// alone, but the port is held twice.
			for _, sa := range live(tt) {
				ma := tt.sess[sa].link[sideInt].m
				if ma < 0 {
					continue
				}
				for _, sb := range live(tt) {
					mb := tt.sess[sb].link[sideInt].m
					if mb < 0 || mb == ma {
						continue
					}
					A, B := &tt.maps.m[ma], &tt.maps.m[mb]
					if A.fam != B.fam || A.proto != B.proto || A.extAddr != B.extAddr {
						continue
					}
					B.extPort = A.extPort
					for _, si := range live(tt) {
						s := &tt.sess[si]
						if s.link[sideInt].m == mb {
							w := s.key[1][4].Load()
							s.key[1][4].Store(w&^0xffff | uint64(A.extPort))
							k0, k1 := s.loadKey(0), s.loadKey(1)
							s.xl.Store(xlPair(&k0, &k1))
						}
					}
					return
				}
			}
			t.Skip("no two mappings on one external address")
		}, -1, badPort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, r := im.adoptCopy(t, func(mem []byte) {
				var tt Table
				bindArrays(&tt, mem, &im.l)
				tc.damage(t, &tt)
			})
			if !r.Adopted || (tc.dropped >= 0 && r.Dropped != tc.dropped) || r.Dropped == 0 || !strings.Contains(r.Problem, tc.problem) ||
				r.Sessions+r.Dropped != im.n {
				t.Errorf("adopt = %+v, want %d of %d sessions dropped for %q", r, tc.dropped, im.n, tc.problem)
			}
			if err := tab.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzStateFile damages a state file anywhere — header, sessions, index,
// mappings, mapping index — and adopts it. Invariants: no panic; the
// table is consistent (index, mappings, ports, counts); adopted and
// dropped sessions never exceed what the file held; the table then
// forwards, still consistent.
func FuzzStateFile(f *testing.F) {
	im := newStateImage(f)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0x80})                     // a session's sequence odd
	f.Add([]byte{1, 8, 0, 1, 1, 200, 0, 4})          // a key and another field
	f.Add([]byte{3, 0, 0, 0x10, 3, 52, 0, 0x10})     // two mappings
	f.Add([]byte{0, 64, 0, 1})                       // the seed
	f.Add([]byte{2, 0, 0, 0xff, 4, 0, 0, 0xff})      // the indexes
	f.Add([]byte{1, 120, 0, 0x7f, 1, 112, 0, 0x01})  // links
	f.Add([]byte{1, 136, 0, 0x02, 1, 128 + 8, 0, 3}) // the second session
	regions := []struct{ off, n int }{
		{0, hLen + 4},
		{im.l.sessOff, im.l.capacity * int(unsafe.Sizeof(session{}))},
		{im.l.indexOff, im.l.indexLen * 8},
		{im.l.mapOff, im.l.maxMappings * int(unsafe.Sizeof(mapping{}))},
		{im.l.mapIndexOff, im.l.mapIndexLen * 8},
	}
	frames := [][]byte{}
	for _, fl := range fuzzFlows() {
		frames = append(frames, fl.frame(f))
	}
	f.Fuzz(func(t *testing.T, edits []byte) {
		derivedOnly := true // only the indexes were damaged
		tab, r := im.adoptCopy(t, func(mem []byte) {
			// Each edit: region, offset (2 bytes), xor.
			for ; len(edits) >= 4; edits = edits[4:] {
				i := int(edits[0]) % len(regions)
				rg := regions[i]
				off := rg.off + (int(edits[1])|int(edits[2])<<8)%rg.n
				mem[off] ^= edits[3]
				if edits[3] != 0 && i != 2 && i != 4 {
					derivedOnly = false
				}
			}
		})
		// Damaged sessions may be dropped, and a damaged free slot
		// may even come back as the session it once held (it is
		// consistent); but the indexes are never believed.
		if derivedOnly && (!r.Adopted || r.Sessions != im.n || r.Dropped != 0) {
			t.Fatalf("with only the indexes damaged: %+v, want all %d sessions", r, im.n)
		}
		if err := tab.checkInvariants(); err != nil {
			t.Fatalf("after adoption (%+v): %v", r, err)
		}
		if err := tab.SetPolicy(testPolicy()); err != nil {
			t.Fatal(err)
		}
		w := tab.NewWorker()
		var s pkt.Summary
		for _, fr := range frames {
			fr = append([]byte(nil), fr...)
			if pkt.Parse(fr, &s) == pkt.OK {
				w.Process(fr, &s, 0)
			}
		}
		w.BeginBatch()
		if err := tab.checkInvariants(); err != nil {
			t.Fatalf("after forwarding: %v", err)
		}
	})
}

// A table in a state file is the same table: its per-packet paths
// allocate nothing.
func TestStateZeroAlloc(t *testing.T) {
	clock := &ManualClock{}
	tab, _ := openState(t, filepath.Join(t.TempDir(), "conntrack"), Config{Capacity: 4096}, clock)
	tab.SetPolicy(benchPolicy())
	w := tab.NewWorker()
	syn, ack := newFlowGen(t, "S"), newFlowGen(t, "A")
	frame := make([]byte, len(syn.tmpl))
	var s pkt.Summary
	i := 0
	if n := testing.AllocsPerRun(200, func() {
		syn.gen(i, frame, &s)
		if r := w.Process(frame, &s, 0); r.State != StateNew {
			t.Fatalf("new flow %d: %+v", i, r)
		}
		ack.gen(i, frame, &s)
		if r := w.Track(frame, &s, 0); r.State != StateEstablished {
			t.Fatalf("established %d: %+v", i, r)
		}
		i++
		if i%64 == 0 {
			w.BeginBatch()
		}
	}); n != 0 {
		t.Errorf("new flow + established packet on a state-file table: %v allocations, want 0", n)
	}
}
