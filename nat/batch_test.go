package nat

// TrackBatch against Track: two tables built the same way see the same
// packets, one per packet through Track, the other in batches through
// TrackBatch; results, frames and summaries must agree packet by packet.

import (
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

// batchPackets are frames of every kind Track handles, for a table that
// has seen fuzzFlows and fragFlows' first fragments: both directions of
// known flows, new flows, ICMP errors, later fragments, a malformed one.
func batchPackets(t *testing.T) [][]byte {
	frames := fuzzSeeds(t)
	for _, f := range fuzzFlows() {
		frames = append(frames, f.frame(t))
		g := f
		g.sp += 1000
		frames = append(frames, g.frame(t)) // a new flow
	}
	bad := append([]byte(nil), frames[0]...)
	bad[14+9] = 0 // corrupt the IPv4 header: its checksum fails
	return append(frames, bad)
}

func TestTrackBatchMatchesTrack(t *testing.T) {
	packets := batchPackets(t)
	var hs [2]*harness
	for i := range hs {
		hs[i] = newHarness(t, Config{Capacity: 256}, testPolicy())
		for _, f := range fuzzFlows() {
			hs[i].send(f.frame(t), 0)
		}
		for _, f := range fragFlows() {
			hs[i].send(fragment(t, f.ip(t), fragSize, 3)[0], 0)
		}
	}
	// Several rounds, in batches of uneven size, longer than batchMax in
	// total, so chunks and repeats are both exercised.
	var all [][]byte
	for range 3 {
		all = append(all, packets...)
	}
	if len(all) <= batchMax {
		t.Fatalf("only %d packets, want more than %d", len(all), batchMax)
	}
	kinds := map[State]int{}
	translated := 0
	for start := 0; start < len(all); {
		n := min(70, len(all)-start)
		if start == 0 {
			n = 5
		}
		frames := make([][]byte, n)
		sums := make([]*pkt.Summary, n)
		spaces := make([]uint16, n)
		res := make([]Result, n)
		want := make([]Result, n)
		wantFrames := make([][]byte, n)
		wantSums := make([]pkt.Summary, n)
		for i := range n {
			src := all[start+i]
			frames[i] = append([]byte(nil), src...)
			sums[i] = new(pkt.Summary)
			pkt.Parse(frames[i], sums[i])
			wantFrames[i] = append([]byte(nil), src...)
			pkt.Parse(wantFrames[i], &wantSums[i])
			want[i] = hs[0].w.Track(wantFrames[i], &wantSums[i], 0)
		}
		hs[1].w.TrackBatch(frames, sums, spaces, res)
		for i := range n {
			kinds[res[i].State]++
			if res[i].Translated {
				translated++
			}
			if diff := cmp.Diff(want[i], res[i]); diff != "" {
				t.Fatalf("packet %d: TrackBatch result differs from Track (-want +got):\n%s", start+i, diff)
			}
			if diff := cmp.Diff(wantFrames[i], frames[i]); diff != "" {
				t.Fatalf("packet %d: TrackBatch frame differs from Track (-want +got):\n%s", start+i, diff)
			}
			if diff := cmp.Diff(wantSums[i], *sums[i]); diff != "" {
				t.Fatalf("packet %d: TrackBatch summary differs from Track (-want +got):\n%s", start+i, diff)
			}
		}
		start += n
	}
	// The packets must cover what the comparison is about.
	if kinds[StateEstablished] < 10 || kinds[StateRelated] == 0 || kinds[StateNew] == 0 ||
		kinds[StateInvalid] == 0 || translated < 10 {
		t.Errorf("packets cover %v states, %d translated: too few of some kind", kinds, translated)
	}
	for i, h := range hs {
		if err := h.tab.checkInvariants(); err != nil {
			t.Errorf("table %d: %v", i, err)
		}
	}
}

func TestTrackBatchZeroAlloc(t *testing.T) {
	bt := newBenchTable(t, 1<<10)
	w := bt.h.w
	const n = 64
	frames, sums, spaces, res := trackBufs(n, len(bt.gen.tmpl))
	k := 0
	allocs := testing.AllocsPerRun(50, func() {
		for i := range n {
			bt.gen.gen(k&1023, frames[i], sums[i])
			k += 7
		}
		w.TrackBatch(frames, sums, spaces, res)
		for i := range n {
			if res[i].State != StateEstablished {
				t.Fatalf("packet %d: %+v", i, res[i])
			}
		}
	})
	if allocs != 0 {
		t.Errorf("TrackBatch: %v allocations per batch, want 0", allocs)
	}
}
