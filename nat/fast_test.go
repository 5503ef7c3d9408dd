package nat

// hitFast against the general path: two tables built the same way see
// the same random traffic — both directions of TCP and UDP flows with
// every flag combination, source NAT, floating IPs and untranslated
// flows, with the clock moving past timeouts now and then. One worker
// takes hitFast where it can, the other never does; results, frames,
// summaries and every session's state and timer must agree.

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

func TestHitFastMatchesGeneral(t *testing.T) {
	flows := []flow{
		out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80),     // source NAT
		out("tcp", "198.18.1.2", 5001, "198.51.100.2", 443),    // source NAT
		out("udp", "198.18.1.3", 5353, "198.51.100.1", 53),     // source NAT
		out("tcp", "198.19.1.1", 6000, "198.51.100.3", 22),     // routed: no translation
		out("udp", "198.19.1.2", 6001, "198.51.100.3", 123),    // routed: no translation
		out("tcp", floatWl4, 7000, "198.51.100.9", 80),         // floating IP
		out("udp", floatWl4, 7001, "198.51.100.9", 53),         // floating IP
		out("tcp", "2001:db8:1::1", 5000, "2001:db8:2::1", 80), // IPv6 source NAT
		out("udp", "2001:db8:1::2", 5353, "2001:db8:2::1", 53),
		out("tcp", "2001:db8:9::1", 8000, "2001:db8:2::1", 80), // IPv6, no pool
	}
	flagSets := []string{"S", "SA", "A", "A", "A", "A", "FA", "F", "R", "RA", "PA"}
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, 99))
		var hs [2]*harness
		for i := range hs {
			p := testPolicy()
			p.OutboundRefreshOnly = seed == 3
			p.StrictTCPOpen = seed == 4
			hs[i] = newHarness(t, Config{Capacity: 64, Seed: seed}, p)
		}
		hs[1].w.general = true
		// What each flow looks like on the far side once translated: the
		// reply is the answer to that.
		outside := make([]*flow, len(flows))
		steps := 4000
		if testing.Short() {
			steps = 800
		}
		for step := range steps {
			switch x := rng.IntN(40); {
			case x == 0:
				d := []time.Duration{time.Second, 30 * time.Second, 3 * time.Minute, 5 * time.Minute, 3 * time.Hour}[rng.IntN(5)]
				for _, h := range hs {
					h.advance(d)
				}
				continue
			case x < 4:
				for _, h := range hs {
					h.w.BeginBatch()
				}
			}
			fi := rng.IntN(len(flows))
			f := flows[fi]
			reply := outside[fi] != nil && rng.IntN(2) == 0
			if reply {
				f = outside[fi].reply("")
			}
			if f.proto == "tcp" {
				f.flags = flagSets[rng.IntN(len(flagSets))]
			}
			src := f.frame(t)
			var frames [2][]byte
			var sums [2]pkt.Summary
			var res [2]Result
			for i, h := range hs {
				frames[i] = append([]byte(nil), src...)
				if v := pkt.Parse(frames[i], &sums[i]); v != pkt.OK {
					t.Fatalf("Parse(test frame) = %v", v)
				}
				res[i] = h.w.Process(frames[i], &sums[i], 0)
			}
			if diff := cmp.Diff(res[1], res[0]); diff != "" {
				t.Fatalf("seed %d step %d (%+v): result with hitFast differs (-general +fast):\n%s", seed, step, f, diff)
			}
			if diff := cmp.Diff(frames[1], frames[0]); diff != "" {
				t.Fatalf("seed %d step %d (%+v): frame with hitFast differs (-general +fast):\n%s", seed, step, f, diff)
			}
			if diff := cmp.Diff(sums[1], sums[0]); diff != "" {
				t.Fatalf("seed %d step %d (%+v): summary with hitFast differs (-general +fast):\n%s", seed, step, f, diff)
			}
			if !reply && res[0].Action == Forward {
				o := outsideOf(f, &sums[0])
				outside[fi] = &o
			}
		}
		a, b := hs[0].tab, hs[1].tab
		for si := range a.sess {
			if ca, cb := a.sess[si].ctl.Load(), b.sess[si].ctl.Load(); ca != cb {
				t.Fatalf("seed %d: session %d ctl %#x with hitFast, %#x without", seed, si, ca, cb)
			}
			if sa, sb := a.sess[si].seen.Load(), b.sess[si].seen.Load(); sa != sb {
				t.Fatalf("seed %d: session %d last seen %d with hitFast, %d without", seed, si, sa, sb)
			}
		}
		for i, h := range hs {
			if err := h.tab.checkInvariants(); err != nil {
				t.Errorf("seed %d table %d: %v", seed, i, err)
			}
		}
	}
}

// outsideOf is flow f as it left, translated: its summary s after Track.
func outsideOf(f flow, s *pkt.Summary) flow {
	o := f
	o.src, o.dst = s.SrcAddr().String(), s.DstAddr().String()
	o.sp, o.dp = s.SrcPort, s.DstPort
	return o
}

// TestHitFastServes checks that hitFast, not the general path, answers
// the packets it is for, so that the differential test above compares
// two different paths.
func TestHitFastServes(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
	f.flags = "S"
	var s pkt.Summary
	syn := f.frame(t)
	pkt.Parse(syn, &s)
	if r := h.w.Process(syn, &s, 0); r.State != StateNew || !r.Translated {
		t.Fatalf("SYN: %+v", r)
	}
	back := outsideOf(f, &s).reply("SA")
	h.send(back.frame(t), 0)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"ACK out", func() []byte { g := f; g.flags = "A"; return g.frame(t) }(), true},
		{"ACK back", outsideOf(f, &s).reply("A").frame(t), true},
		{"FIN out changes state", func() []byte { g := f; g.flags = "FA"; return g.frame(t) }(), false},
		{"RST back", outsideOf(f, &s).reply("R").frame(t), false},
		{"new flow", func() []byte { g := f; g.sp++; g.flags = "S"; return g.frame(t) }(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s pkt.Summary
			fr := append([]byte(nil), tc.frame...)
			pkt.Parse(fr, &s)
			var k key
			portKey(&s, 0, &k)
			if _, ok := h.w.hitFast(fr, &s, &k, k.hash(h.tab.s0, h.tab.s1)); ok != tc.want {
				t.Errorf("hitFast served = %v, want %v", ok, tc.want)
			}
		})
	}
}
