package nat

// Held fragments: later fragments that overtake their first fragment are
// held, then released translated (byte for byte what gopacket builds for
// the translated datagram) once the first fragment is forwarded, by this
// worker or another; what waits too long is dropped and counted.

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

// holdHarness is a harness whose worker holds fragments.
func holdHarness(t *testing.T, slots int, p *Policy) *harness {
	t.Helper()
	h := newHarness(t, Config{}, p)
	if err := h.w.HoldFragments(slots, 256); err != nil {
		t.Fatalf("HoldFragments: %v", err)
	}
	return h
}

// expectHeld sends a later fragment and checks that it is held with the
// caller's frame untouched.
func (h *harness) expectHeld(frame []byte) {
	h.t.Helper()
	fr := append([]byte(nil), frame...)
	if r := h.send(fr, 0); r.Action != Held || r.Reason != ReasonNone {
		h.t.Fatalf("later fragment before its first: %+v, want Held", r)
	}
	if diff := cmp.Diff(frame, fr); diff != "" {
		h.t.Fatalf("held fragment's frame changed (-want +got):\n%s", diff)
	}
}

// expectReleased checks that Released holds exactly the fragments of
// want with the given indexes, in that order, translated, tagged tag.
func (h *harness) expectReleased(want [][]byte, idx []int, dir Dir, tag uint64) {
	h.t.Helper()
	rel := h.w.Released()
	if len(rel) != len(idx) {
		h.t.Fatalf("Released() has %d fragments, want %d", len(rel), len(idx))
	}
	for n, i := range idx {
		got := rel[n]
		if diff := cmp.Diff(ipEnd(want[i]), got.Frame); diff != "" {
			h.t.Fatalf("released fragment %d (want index %d) translated wrong (-want +got):\n%s", n, i, diff)
		}
		var fresh pkt.Summary
		pkt.Parse(got.Frame, &fresh)
		if diff := cmp.Diff(fresh, *got.Summary); diff != "" {
			h.t.Errorf("released fragment %d: summary differs from a fresh parse (-fresh +got):\n%s", n, diff)
		}
		wantRes := Result{Action: Forward, State: StateEstablished, Dir: dir, Space: 0, Translated: true}
		if got.Result != wantRes || got.Tag != tag || got.Space != 0 {
			h.t.Errorf("released fragment %d: result %+v tag %d space %d, want %+v tag %d space 0",
				n, got.Result, got.Tag, got.Space, wantRes, tag)
		}
	}
}

// ipEnd is frame without what follows its IP packet (Ethernet padding):
// a held fragment is kept up to its summary's End.
func ipEnd(frame []byte) []byte {
	var s pkt.Summary
	pkt.Parse(frame, &s)
	return frame[:s.End()]
}

func TestHeldFragments(t *testing.T) {
	ends := map[string][2]string{
		"4": {"198.18.3.1", "198.51.100.7"},
		"6": {"2001:db8:1::31", "2001:db8:2::7"},
	}
	for _, fam := range []string{"4", "6"} {
		for _, proto := range protos {
			t.Run(fam+"/"+proto, func(t *testing.T) {
				h := holdHarness(t, 16, testPolicy())
				h.w.SetHoldTag(7)
				f := out(proto, ends[fam][0], 4000, ends[fam][1], 53)
				f.payload = fragPayload
				if proto == "tcp" {
					h.sendOut(out(proto, ends[fam][0], 4000, ends[fam][1], 53))
					f.flags = "A"
				}
				// Datagram 1: all three later fragments overtake the
				// first, which then opens (UDP, ping) or finds (TCP) the
				// flow and releases them, in the order they were held.
				frags := fragment(t, f.ip(t), fragSize, 1)
				for _, i := range []int{3, 1, 2} {
					h.expectHeld(frags[i])
				}
				if n := h.w.Holding(); n != 3 {
					t.Fatalf("Holding() = %d, want 3", n)
				}
				first := append([]byte(nil), frags[0]...)
				if r := h.send(first, 0); r.Action != Forward {
					t.Fatalf("first fragment: %+v", r)
				}
				var s pkt.Summary
				pkt.Parse(first, &s)
				x, xp := s.SrcAddr().String(), s.SrcPort
				if proto == "ping" {
					xp = s.ICMPID
				}
				natOf := func(id uint32) [][]byte { return fragment(t, natted(f, x, xp).ip(t), fragSize, id) }
				if diff := cmp.Diff(natOf(1)[0], first); diff != "" {
					t.Fatalf("first fragment translated wrong (-want +got):\n%s", diff)
				}
				h.expectReleased(natOf(1), []int{3, 1, 2}, Original, 7)
				if n := h.w.Holding(); n != 0 {
					t.Errorf("Holding() = %d after release, want 0", n)
				}
				// The released list lasts until the next batch.
				h.advance(0)
				h.expectReleased(nil, nil, Original, 0)

				// Datagram 2: one fragment overtakes, one follows.
				frags = fragment(t, f.ip(t), fragSize, 2)
				h.w.SetHoldTag(8)
				h.expectHeld(frags[2])
				h.sendFragments(frags, natOf(2), []int{0, 1, 3}, 0, Original)
				h.expectReleased(natOf(2), []int{2}, Original, 8)
				h.advance(0)

				// The answer, fragmented, overtaking too.
				rep := f.reply("A")
				rep.dst = x
				if proto == "ping" {
					rep.sp = xp
				} else {
					rep.dp = xp
				}
				back := f.reply("A")
				rf := fragment(t, rep.ip(t), fragSize, 7)
				h.expectHeld(rf[1])
				h.sendFragments(rf, fragment(t, back.ip(t), fragSize, 7), []int{0, 3, 2}, 0, Reply)
				h.expectReleased(fragment(t, back.ip(t), fragSize, 7), []int{1}, Reply, 8)
				if h.w.FragmentsHeld() != 5 {
					t.Errorf("FragmentsHeld() = %d, want 5", h.w.FragmentsHeld())
				}
			})
		}
	}
}

// A fragment whose first fragment has been forwarded is translated at
// once, not held.
func TestHeldOnlyWithoutState(t *testing.T) {
	h := holdHarness(t, 4, testPolicy())
	f := out("udp", "198.18.3.2", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 3)
	h.send(append([]byte(nil), frags[0]...), 0)
	if r := h.send(append([]byte(nil), frags[1]...), 0); r.Action != Forward {
		t.Errorf("later fragment after its first: %+v, want Forward", r)
	}
	if h.w.Holding() != 0 || h.w.FragmentsHeld() != 0 {
		t.Errorf("holding %d, held %d; want none", h.w.Holding(), h.w.FragmentsHeld())
	}
}

// Without HoldFragments nothing is held: the fragment is dropped as
// before (the data path that does not know Held never sees it).
func TestHoldOff(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.3.2", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	h.expectDrop(fragment(t, f.ip(t), fragSize, 3)[1], ReasonFragment)
	if len(h.w.Released()) != 0 {
		t.Error("Released() not empty")
	}
}

// A held fragment whose first fragment does not come (lost, or refused by
// policy) is dropped after the fragment timeout and counted; its slot is
// free again.
func TestHeldTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		wait    time.Duration
		kept    bool
	}{
		{"default, within", 0, 2 * time.Second, true},
		{"default, after", 0, 3 * time.Second, false},
		{"configured, within", 10 * time.Second, 10 * time.Second, true},
		{"configured, after", 10 * time.Second, 11 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.Timeouts.Fragment = tc.timeout
			h := holdHarness(t, 1, p)
			f := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
			f.payload = fragPayload
			frags := fragment(t, f.ip(t), fragSize, 11)
			h.expectHeld(frags[1])
			// Policy refuses the first fragment: Track says New, no
			// Commit. Nothing is released.
			var s pkt.Summary
			first := append([]byte(nil), frags[0]...)
			pkt.Parse(first, &s)
			if r := h.w.Track(first, &s, 0); r.Action != Decide {
				t.Fatalf("Track(first) = %+v", r)
			}
			h.advance(tc.wait)
			if got := h.w.Holding() == 1; got != tc.kept {
				t.Fatalf("after %v: holding %d, want kept %v", tc.wait, h.w.Holding(), tc.kept)
			}
			want := uint64(0)
			if !tc.kept {
				want = 1
			}
			if n := h.w.Drops(ReasonFragmentTimeout); n != want {
				t.Errorf("Drops(fragment-hold-timeout) = %d, want %d", n, want)
			}
			if len(h.w.Released()) != 0 {
				t.Errorf("Released() = %d fragments, want none", len(h.w.Released()))
			}
			if tc.kept {
				// Commit now (policy changed its mind): released.
				h.send(append([]byte(nil), frags[0]...), 0)
				if len(h.w.Released()) != 1 {
					t.Errorf("Released() = %d fragments after the first came, want 1", len(h.w.Released()))
				}
				return
			}
			// The slot is free again.
			h.expectHeld(frags[2])
		})
	}
}

// The hold buffer is fixed: with its slots full, or for a fragment longer
// than a slot, the fragment is dropped with fragment-hold-full.
func TestHoldFull(t *testing.T) {
	h := holdHarness(t, 2, testPolicy())
	f := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 11)
	h.expectHeld(frags[1])
	h.expectHeld(frags[2])
	h.expectDrop(frags[3], ReasonFragmentHoldFull)
	big := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
	big.payload = make([]byte, 1024)
	h2 := holdHarness(t, 2, testPolicy())
	h2.expectDrop(fragment(t, big.ip(t), 512, 12)[1], ReasonFragmentHoldFull) // 256-byte slots
	// Releasing frees the slots at the next batch.
	h.send(append([]byte(nil), frags[0]...), 0)
	if len(h.w.Released()) != 2 {
		t.Fatalf("Released() = %d fragments, want 2", len(h.w.Released()))
	}
	h.advance(0)
	h.expectHeld(fragment(t, f.ip(t), fragSize, 13)[1])
	h.expectHeld(fragment(t, f.ip(t), fragSize, 13)[2])
}

// A fragment held by one worker is released at its next batch when
// another worker forwards the first fragment.
func TestHeldReleasedByOtherWorker(t *testing.T) {
	h := holdHarness(t, 4, testPolicy())
	other := h.tab.NewWorker()
	f := out("udp", "198.18.3.9", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 21)
	h.expectHeld(frags[2])
	first := append([]byte(nil), frags[0]...)
	var s pkt.Summary
	pkt.Parse(first, &s)
	if r := other.Process(first, &s, 0); r.Action != Forward {
		t.Fatalf("first fragment on the other worker: %+v", r)
	}
	if len(h.w.Released()) != 0 {
		t.Fatal("released before the holding worker's next batch")
	}
	h.advance(0)
	h.expectReleased(fragment(t, natted(f, s.SrcAddr().String(), s.SrcPort).ip(t), fragSize, 21), []int{2}, Original, 0)
}

// A held fragment whose flow is gone by the time its first fragment's
// record is seen is dropped (fragment-no-state), not mistranslated.
func TestHeldSessionGone(t *testing.T) {
	h := holdHarness(t, 4, testPolicy())
	other := h.tab.NewWorker()
	f := out("udp", "198.18.3.9", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 22)
	h.expectHeld(frags[1])
	first := append([]byte(nil), frags[0]...)
	var s pkt.Summary
	pkt.Parse(first, &s)
	other.Process(first, &s, 0)
	h.tab.mu.Lock()
	h.tab.removeSession(0)
	h.tab.mu.Unlock()
	before := h.w.Drops(ReasonFragment)
	h.advance(0)
	if len(h.w.Released()) != 0 || h.w.Holding() != 0 || h.w.Drops(ReasonFragment) != before+1 {
		t.Errorf("released %d, holding %d, fragment-no-state drops +%d; want 0, 0, +1",
			len(h.w.Released()), h.w.Holding(), h.w.Drops(ReasonFragment)-before)
	}
}

func TestHoldFragmentsValidation(t *testing.T) {
	tests := []struct {
		slots, frameLen int
		want            string
	}{
		{0, 2048, "nat: HoldFragments slots 0 out of range 1..4096"},
		{MaxHoldSlots + 1, 2048, "nat: HoldFragments slots 4097 out of range 1..4096"},
		{8, 10, "nat: HoldFragments frameLen 10 out of range 64..65536"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			err := h.w.HoldFragments(tc.slots, tc.frameLen)
			if err == nil || err.Error() != tc.want {
				t.Errorf("HoldFragments(%d, %d) = %v, want %q", tc.slots, tc.frameLen, err, tc.want)
			}
			if h.w.hold.slots != nil {
				t.Error("a failed HoldFragments enabled holding")
			}
		})
	}
	h := holdHarness(t, 2, testPolicy())
	f := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	h.expectHeld(fragment(t, f.ip(t), fragSize, 1)[1])
	if err := h.w.HoldFragments(4, 256); err == nil {
		t.Error("HoldFragments while a fragment is held: no error")
	}
}

// Random orders of the fragments of many datagrams through a small hold
// buffer, against a model: every fragment is forwarded or released
// exactly once, translated right, or dropped with a hold reason that the
// model predicts.
func TestHeldFragmentsRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			h := holdHarness(t, 6, testPolicy())
			f := out("udp", "198.18.3.10", 4000, "198.51.100.7", 53)
			f.payload = fragPayload
			x, xp := h.sendOut(f)
			type frag struct {
				frame, want []byte
				id          uint32
				first       bool
			}
			var all []frag
			for id := range uint32(12) {
				fr := fragment(t, f.ip(t), fragSize, 100+id)
				want := fragment(t, natted(f, x, xp).ip(t), fragSize, 100+id)
				for i := range fr {
					all = append(all, frag{fr[i], want[i], id, i == 0})
				}
			}
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			seenFirst := map[uint32]bool{}
			held := map[string]bool{} // held, not yet released
			released := 0             // released this batch: their slots are free at the next
			out := 0
			check := func(frame []byte) {
				for _, a := range all {
					if string(ipEnd(a.want)) == string(ipEnd(frame)) {
						return
					}
				}
				t.Fatalf("released/forwarded frame matches no translated fragment: %x", frame)
			}
			for n, a := range all {
				if n%5 == 0 {
					for _, r := range h.w.Released() {
						check(r.Frame)
						out++
					}
					h.advance(0)
					released = 0
					if err := h.w.checkHold(); err != nil {
						t.Fatal(err)
					}
				}
				fr := append([]byte(nil), a.frame...)
				r := h.send(fr, 0)
				switch {
				case a.first || seenFirst[a.id]:
					if r.Action != Forward || string(fr) != string(a.want) {
						t.Fatalf("fragment of datagram %d after its first: %+v", a.id, r)
					}
					seenFirst[a.id] = true
					out++
				case len(held)+released < 6:
					if r.Action != Held {
						t.Fatalf("fragment of datagram %d before its first, %d held: %+v", a.id, len(held), r)
					}
					held[string(a.frame)] = true
				default:
					if r.Reason != ReasonFragmentHoldFull {
						t.Fatalf("fragment of datagram %d, hold full: %+v", a.id, r)
					}
				}
				if a.first {
					for k := range held {
						var s pkt.Summary
						pkt.Parse([]byte(k), &s)
						if s.FragID == 100+a.id {
							delete(held, k)
							released++
						}
					}
				}
			}
			for _, r := range h.w.Released() {
				check(r.Frame)
				out++
			}
			if want := len(all) - int(h.w.Drops(ReasonFragmentHoldFull)); out != want {
				t.Errorf("%d fragments came out, want %d", out, want)
			}
			if h.w.FragmentsHeld() == 0 || h.w.Drops(ReasonFragmentHoldFull) == 0 {
				t.Errorf("held %d, hold-full %d: the order exercised neither", h.w.FragmentsHeld(), h.w.Drops(ReasonFragmentHoldFull))
			}
		})
	}
}

// Holding and releasing allocate nothing.
func TestHoldZeroAlloc(t *testing.T) {
	h := holdHarness(t, 8, testPolicy())
	f := out("udp", "198.18.3.11", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	h.sendOut(f)
	var frags [][][]byte
	for id := range uint32(64) {
		frags = append(frags, fragment(t, f.ip(t), fragSize, 200+id))
	}
	buf := make([]byte, 256)
	var s pkt.Summary
	i := 0
	n := testing.AllocsPerRun(50, func() {
		fr := frags[i%len(frags)]
		i++
		h.w.BeginBatch()
		for _, j := range []int{2, 3, 0} {
			b := buf[:len(fr[j])]
			copy(b, fr[j])
			pkt.Parse(b, &s)
			h.w.Track(b, &s, 0)
		}
		if len(h.w.Released()) != 2 {
			t.Fatalf("released %d, want 2", len(h.w.Released()))
		}
	})
	if n != 0 {
		t.Errorf("hold and release: %v allocations per run, want 0", n)
	}
}

// Two workers: one holds later fragments, the other forwards the first
// ones. Every held fragment comes out released and right, or times out.
// Run with -race.
func TestConcurrentHeld(t *testing.T) {
	h := holdHarness(t, 64, testPolicy())
	f := out("udp", "198.18.3.12", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	x, xp := h.sendOut(f)
	const datagrams = 400
	var firsts, laters, wants [][]byte
	for id := range uint32(datagrams) {
		fr := fragment(t, f.ip(t), fragSize, 1000+id)
		firsts = append(firsts, fr[0])
		laters = append(laters, fr[2])
		wants = append(wants, fragment(t, natted(f, x, xp).ip(t), fragSize, 1000+id)[2])
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0 // datagrams whose later fragment the holder has handled
	wg.Add(2)
	go func() { // the holder
		defer wg.Done()
		var s pkt.Summary
		buf := make([]byte, 256)
		for i := range datagrams {
			if i%16 == 0 {
				h.w.BeginBatch()
				for _, r := range h.w.Released() {
					if string(r.Frame) != string(ipEnd(wants[r.Summary.FragID-1000])) {
						t.Errorf("released %x, want %x", r.Frame, wants[r.Summary.FragID-1000])
					}
				}
			}
			fr := buf[:len(laters[i])]
			copy(fr, laters[i])
			pkt.Parse(fr, &s)
			r := h.w.Track(fr, &s, 0)
			if r.Action == Forward && string(fr) != string(wants[i]) {
				t.Errorf("datagram %d: forwarded %x, want %x", i, fr, wants[i])
			}
			if r.Action != Forward && r.Action != Held && r.Reason != ReasonFragmentHoldFull {
				t.Errorf("datagram %d: %+v", i, r)
			}
			mu.Lock()
			next = i + 1
			mu.Unlock()
		}
	}()
	go func() { // the first fragments, a little behind
		defer wg.Done()
		w := h.tab.NewWorker()
		var s pkt.Summary
		buf := make([]byte, 256)
		for i := range datagrams {
			for {
				mu.Lock()
				n := next
				mu.Unlock()
				if n > i || n == datagrams {
					break
				}
			}
			if i%16 == 0 {
				w.BeginBatch()
			}
			fr := buf[:len(firsts[i])]
			copy(fr, firsts[i])
			pkt.Parse(fr, &s)
			if r := w.Track(fr, &s, 0); r.Action != Forward {
				t.Errorf("first fragment %d: %+v", i, r)
			}
		}
	}()
	wg.Wait()
	h.advance(0)
	for _, r := range h.w.Released() {
		if string(r.Frame) != string(ipEnd(wants[r.Summary.FragID-1000])) {
			t.Errorf("released %x, want %x", r.Frame, wants[r.Summary.FragID-1000])
		}
	}
	h.advance(10 * time.Second)
	if h.w.Holding() != 0 {
		t.Errorf("still holding %d", h.w.Holding())
	}
}

// A first fragment the data path refuses (DropHeld), or Commit refuses,
// frees at once the slots of its datagram's held fragments, and only
// those.
func TestDropHeld(t *testing.T) {
	h := holdHarness(t, 3, testPolicy())
	a := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
	a.payload = fragPayload
	fa := fragment(t, a.ip(t), fragSize, 21)
	b := out("udp", "198.18.3.5", 4001, "198.51.100.7", 53)
	b.payload = fragPayload
	fb := fragment(t, b.ip(t), fragSize, 22)
	h.expectHeld(fa[1])
	h.expectHeld(fa[2])
	h.expectHeld(fb[1])

	var s pkt.Summary
	whole := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53).frame(t)
	pkt.Parse(whole, &s)
	if n := h.w.DropHeld(&s, 0); n != 0 {
		t.Errorf("DropHeld(an unfragmented packet) = %d, want 0", n)
	}
	first := append([]byte(nil), fa[0]...)
	pkt.Parse(first, &s)
	if r := h.w.Track(first, &s, 0); r.Action != Decide {
		t.Fatalf("Track(first) = %+v, want Decide", r)
	}
	if n := h.w.DropHeld(&s, 1); n != 0 {
		t.Errorf("DropHeld(first, another space) = %d, want 0", n)
	}
	if n := h.w.DropHeld(&s, 0); n != 2 {
		t.Errorf("DropHeld(first) = %d, want 2", n)
	}
	if h.w.Holding() != 1 || h.w.Drops(ReasonFragment) != 2 {
		t.Errorf("after DropHeld: holding %d, fragment-no-state drops %d; want 1 and 2", h.w.Holding(), h.w.Drops(ReasonFragment))
	}
	// The freed slots take new fragments.
	c := out("ping", "198.18.3.6", 99, "198.51.100.7", 0)
	c.proto = "pong" // an echo reply opens no flow: Commit refuses it
	c.payload = fragPayload
	fc := fragment(t, c.ip(t), fragSize, 23)
	h.expectHeld(fc[1])
	h.expectHeld(fc[2])
	first = append([]byte(nil), fc[0]...)
	pkt.Parse(first, &s)
	if r := h.w.Process(first, &s, 0); r.Action != Drop || r.Reason != ReasonICMPNotRequest {
		t.Fatalf("Process(first fragment of an echo reply) = %+v, want Drop icmp-not-request", r)
	}
	if h.w.Holding() != 1 || len(h.w.Released()) != 0 {
		t.Errorf("after Commit refused the first fragment: holding %d, released %d; want 1 (the other datagram) and 0", h.w.Holding(), len(h.w.Released()))
	}
	h.w.BeginBatch()
	if err := h.tab.checkInvariants(); err != nil {
		t.Error(err)
	}
}

func TestDropHeldZeroAlloc(t *testing.T) {
	h := holdHarness(t, 4, testPolicy())
	a := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
	a.payload = fragPayload
	fa := fragment(t, a.ip(t), fragSize, 21)
	var s pkt.Summary
	first := append([]byte(nil), fa[0]...)
	pkt.Parse(first, &s)
	later := make([]byte, len(fa[1]))
	var ls pkt.Summary
	if n := testing.AllocsPerRun(100, func() {
		copy(later, fa[1])
		pkt.Parse(later, &ls)
		if r := h.w.Track(later, &ls, 0); r.Action != Held {
			t.Fatalf("%+v", r)
		}
		if n := h.w.DropHeld(&s, 0); n != 1 {
			t.Fatalf("DropHeld = %d", n)
		}
	}); n != 0 {
		t.Errorf("hold and DropHeld: %v allocations per run, want 0", n)
	}
}
