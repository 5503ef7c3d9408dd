package nat

// Workers sharing one table: the two directions of each flow handled by
// different workers at once, while a third worker churns short-lived
// flows through the same index and the clock moves. Run with -race.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

func TestConcurrentDirections(t *testing.T) {
	const flows = 512
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	p := testPolicy()
	p.External = []ExternalPool{{Prefix: ext4, PortMin: 1024, PortMax: 65535}}
	h := newHarness(t, Config{Capacity: 4096, SweepPerBatch: 256}, p)

	type pair struct {
		orig, reply []byte // frames as sent
		ext         [16]byte
		extPort     uint16
		in          [16]byte
	}
	pairs := make([]pair, flows)
	for i := range pairs {
		f := out("tcp", fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), uint16(2000+i), "198.51.100.1", 443)
		x, xp := h.sendOut(f)
		rep := f.reply("SA")
		rep.dst, rep.dp = x, xp
		h.send(rep.frame(t), 0)
		f.flags, rep.flags = "A", "A"
		pairs[i] = pair{orig: f.frame(t), reply: rep.frame(t), ext: mustSummaryAddr(x), extPort: xp,
			in: mustSummaryAddr(f.src)}
	}

	var wg sync.WaitGroup
	errs := make(chan string, 16)
	fail := func(format string, a ...any) {
		select {
		case errs <- fmt.Sprintf(format, a...):
		default:
		}
	}
	// Worker A: original direction; worker B: replies, in another order.
	for dir := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.tab.NewWorker()
			buf := make([]byte, 128)
			var s pkt.Summary
			for round := range rounds {
				w.BeginBatch()
				for j := range flows {
					i := j
					if dir == 1 {
						i = (j*7 + round) % flows
					}
					src := pairs[i].orig
					if dir == 1 {
						src = pairs[i].reply
					}
					fr := buf[:len(src)]
					copy(fr, src)
					pkt.Parse(fr, &s)
					r := w.Track(fr, &s, 0)
					if r.State != StateEstablished || r.Dir != Dir(dir) {
						fail("dir %d flow %d round %d: %+v", dir, i, round, r)
						return
					}
					if dir == 0 && (s.Src != pairs[i].ext || s.SrcPort != pairs[i].extPort) {
						fail("flow %d left as %v:%d", i, s.SrcAddr(), s.SrcPort)
						return
					}
					if dir == 1 && (s.Dst != pairs[i].in || s.DstPort != uint16(2000+i)) {
						fail("reply of flow %d delivered to %v:%d", i, s.DstAddr(), s.DstPort)
						return
					}
				}
			}
		}()
	}
	// Worker C: churn. Short-lived SYN-only flows are created and expire
	// (transitory timer) as the clock moves, so entries shift in the index
	// under the other workers' lookups.
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := h.tab.NewWorker()
		var s pkt.Summary
		n := 0
		for round := range rounds {
			for range 64 {
				n++
				f := out("tcp", fmt.Sprintf("198.18.%d.%d", 100+n/250%100, n%250+1), uint16(n), "198.51.100.2", 80)
				fr := f.frame(t)
				pkt.Parse(fr, &s)
				if r := w.Process(fr, &s, 0); r.Action != Forward {
					fail("churn flow %d: %+v", n, r)
					return
				}
			}
			if round%4 == 3 {
				h.clock.Advance(5 * time.Minute)
			}
			w.BeginBatch()
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if err := h.tab.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// Two workers open the same new flows at the same moment, and some of
// their own: each shared flow gets one session and one mapping, whoever
// wins; the loser's packet finds the winner's session. Run with -race.
func TestConcurrentCommit(t *testing.T) {
	h := newHarness(t, Config{Capacity: 4096}, testPolicy())
	const flows = 300
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	got := [2][]string{}
	for wk := range 2 {
		got[wk] = make([]string, flows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.tab.NewWorker()
			var s pkt.Summary
			for i := range flows {
				f := out("udp", fmt.Sprintf("198.18.%d.%d", 20+i/200, i%200+1), uint16(3000+i), "198.51.100.3", 53)
				if i%3 == 0 { // a flow of this worker only
					f.sp += uint16(10000 * (wk + 1))
				}
				fr := f.frame(t)
				pkt.Parse(fr, &s)
				r := w.Process(fr, &s, 0)
				if r.Action != Forward || (r.State != StateNew && r.State != StateEstablished) {
					errs <- fmt.Sprintf("worker %d flow %d: %+v", wk, i, r)
					return
				}
				got[wk][i] = fmt.Sprintf("%v:%d", s.SrcAddr(), s.SrcPort)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	for i := range flows {
		if i%3 != 0 && got[0][i] != got[1][i] {
			t.Errorf("flow %d translated to %s by one worker and %s by the other", i, got[0][i], got[1][i])
		}
	}
	if want := flows + flows/3; h.tab.Len() != want {
		t.Errorf("%d sessions, want %d", h.tab.Len(), want)
	}
	if err := h.tab.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// Ports are claimed before the table lock; every way a new flow can be
// refused after that must give the port back. After each refusal the
// reserved ports must be exactly the mappings' ports (checkInvariants).
func TestClaimedPortsReleased(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		filter Filtering
		setup  func(h *harness) flow // returns the flow that is refused
		want   Reason
	}{
		{"table full", Config{Capacity: 1}, EndpointIndependent, func(h *harness) flow {
			h.establish("198.18.7.1", 5000)
			return out("udp", "198.18.7.9", 5000, "198.51.100.1", 53)
		}, ReasonTableFull},
		{"mappings full", Config{Capacity: 8, MaxMappings: 1}, EndpointIndependent, func(h *harness) flow {
			h.establish("198.18.7.1", 5000)
			return out("udp", "198.18.7.9", 5000, "198.51.100.1", 53)
		}, ReasonMappingsFull},
		{"hairpinned ping", Config{}, EndpointIndependent, func(h *harness) flow {
			x, _ := h.sendOut(out("udp", "198.18.7.1", 5000, "198.51.100.1", 53))
			return out("ping", "198.18.7.2", 77, x, 0)
		}, ReasonNoMapping},
		{"hairpin to no mapping", Config{}, EndpointIndependent, func(h *harness) flow {
			x, xp := h.sendOut(out("udp", "198.18.7.1", 5000, "198.51.100.1", 53))
			return out("udp", "198.18.7.2", 6000, x, xp+1)
		}, ReasonNoMapping},
		{"hairpin filtered", Config{}, AddressDependent, func(h *harness) flow {
			x, xp := h.sendOut(out("udp", "198.18.7.1", 5000, "198.51.100.1", 53))
			return out("udp", "198.18.7.2", 6000, x, xp)
		}, ReasonFiltered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.Filtering = tc.filter
			h := newHarness(t, tc.cfg, p)
			f := tc.setup(h)
			h.expectDrop(f.frame(t), tc.want)
			if err := h.tab.checkInvariants(); err != nil {
				t.Fatalf("after a %v refusal: %v", tc.want, err)
			}
		})
	}
}
