package fwd

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/fwd/neigh"
)

// TestSoak runs the whole pipeline for a long time on mixed traffic — new
// flows and established ones, SNAT and a floating IP at a border, two
// translated tenants over an IPv6 core, fragments, TTL expiry, spoofing,
// malformed frames — on running workers, at a rate they hold, and every
// 30 s reports loss, RSS, heap and goroutines. Nothing may be lost (every
// frame injected has exactly one outcome, no tx ring overflows) and
// nothing may grow. It runs only with GANNET_SOAK set to a duration
// (`make soak` runs it for 10 minutes); it is not part of CI.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("GANNET_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("GANNET_SOAK (a duration) not set: soak runs only on request (make soak)")
	}
	type network struct {
		name  string
		c     Config
		nb    []neigh.Entry
		addrs []netip.Addr
	}
	nets := []network{
		{"border", borderConfig(t), peerNeigh, []netip.Addr{w1v4, w2v4, w1v6, w2v6, internet4, floatIP, publicIP,
			netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("2001:db8:9::1")}},
		{"tenants", tenantConfig(t), tenantNeigh, []netip.Addr{addrHere, addrThere, netip.MustParseAddr("100.64.0.3"),
			netip.MustParseAddr("64:ff9b:1:7::100.64.0.1"), netip.MustParseAddr("64:ff9b:1:8::100.64.0.2"), netip.MustParseAddr("2001:db8::9")}},
	}
	type running struct {
		network
		h              *host
		frames         [][]byte
		ports          []int
		injected, outs atomic.Uint64
	}
	var runs []*running
	for k, n := range nets {
		h := newHost(t, n.c, n.nb)
		h.w.cfg.Clock = wallClock{} // real timers: sessions expire as in production
		h.w.clock = wallClock{}
		rng := rand.New(rand.NewPCG(7, uint64(k)))
		r := &running{network: n, h: h}
		tab := h.tables.Load()
		for len(r.frames) < 4000 {
			spec := randomSpec(rng, len(n.c.Ports), n.addrs)
			if ep := tab.ports[spec.In].ep; ep != nil && rng.IntN(5) != 0 {
				if spec.Dst.Is4() && len(ep.addrs4) > 0 {
					spec.Src = netip.AddrFrom4(ep.addrs4[0])
				} else if spec.Dst.Is6() && len(ep.addrs6) > 0 {
					spec.Src = netip.AddrFrom16(ep.addrs6[0])
				}
			}
			f, err := tab.traceFrame(spec)
			if err != nil {
				continue
			}
			if rng.IntN(50) == 0 {
				f = f[:14+rng.IntN(len(f)-14)] // malformed
			}
			r.frames, r.ports = append(r.frames, f), append(r.ports, spec.In)
		}
		if err := h.w.Start(); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(2)
		go func() { // the wires: take what the worker sends
			defer wg.Done()
			for {
				n := 0
				for _, p := range r.h.ports {
					n += p.Drain(nil)
				}
				r.outs.Add(uint64(n))
				select {
				case <-stop:
					return
				default:
					if n == 0 {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
		}()
		go func() { // the senders, paced to what the worker holds
			defer wg.Done()
			for i := 0; ; i = (i + 1) % len(r.frames) {
				select {
				case <-stop:
					return
				default:
				}
				if !r.h.ports[r.ports[i]].Inject(r.frames[i]) {
					time.Sleep(200 * time.Microsecond) // rx ring full: the worker is behind, wait
					continue
				}
				r.injected.Add(1)
				// A rate the wire (the drainer) holds on a shared machine:
				// the soak is about time, not speed.
				if i%16 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}

	report := func(when time.Duration) (rss uint64) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss = vmRSS()
		line := fmt.Sprintf("%6s  rss %6d KiB  heap %6d KiB  goroutines %3d", when.Round(time.Second), rss, ms.HeapAlloc>>10, runtime.NumGoroutine())
		for _, r := range runs {
			st := r.h.w.Stats()
			line += fmt.Sprintf("  | %s: in %d fwd %d drop %d tx-full %d lost %d", r.name, r.injected.Load(), st.Forwarded, st.Dropped(), st.Drops[ReasonTxFull], r.h.w.Lost())
		}
		t.Log(line)
		return rss
	}
	start := time.Now()
	first := uint64(0)
	tick := time.NewTicker(30 * time.Second)
	for deadline := time.After(d); ; {
		select {
		case <-tick.C:
			rss := report(time.Since(start))
			if first == 0 {
				first = rss
			}
			continue
		case <-deadline:
		}
		break
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	last := report(time.Since(start))
	for _, r := range runs {
		if err := r.h.w.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, p := range r.h.ports {
			p.Drain(nil)
		}
		r.h.w.Step()
		st := r.h.w.Stats()
		if st.RxPackets != r.injected.Load() {
			t.Errorf("%s: worker received %d of %d frames injected", r.name, st.RxPackets, r.injected.Load())
		}
		checkConservation(t, st)
		if n := st.Drops[ReasonTxFull]; n != 0 {
			t.Errorf("%s: %d frames lost to full tx rings", r.name, n)
		}
	}
	// Growth: the first report is after the working set is built (every
	// flow seen, every session made); allow 10% and 8 MiB for the GC's
	// slack.
	if first != 0 && last > first+first/10+8<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB", first, last)
	}
}

// vmRSS is the process's resident set in KiB.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return 0
}
