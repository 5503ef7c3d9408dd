package metrics_test

// BenchmarkForwardScrape: the forwarding pipeline (a worker stepping
// batches of 64 UDP frames from endpoint a to b over in-memory ports)
// in alternating phases with and without a concurrent scrape of the full
// registry — gannet's collector reading the worker's counters, the Go
// and process collectors — every 100 ms (the bar: within 2%)
// and, to make any cost visible, every millisecond. Phases alternate
// every phaseBatches batches, so both see the same machine load (this
// machine is shared); ns/pkt is reported per phase, with their ratio.
// every=never toggles the phases without scraping: its ratio is the
// noise floor of the run. As in gannet run (isolateWorkers), the
// pipeline runs pinned to one CPU and the scrape on another when there
// are two.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/metrics"
	"github.com/gannet-net/gannet/fwd"
	"golang.org/x/sys/unix"
)

// pin locks the calling goroutine to its thread and the thread to cpu
// (nothing when the machine has one CPU). The goroutine never unlocks:
// when it exits, the runtime ends its thread rather than reuse one with
// a narrowed affinity.
func pin(cpu int) {
	runtime.LockOSThread()
	if runtime.NumCPU() < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set)
}

const phaseBatches = 2048

func BenchmarkForwardScrape(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{{"every=never", time.Hour}, {"every=100ms", 100 * time.Millisecond}, {"every=1ms", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newTestHost(b)
			frame := udp(b, addrB, 5000, 64, 18) // 64-byte frames
			reg, err := metrics.NewRegistry(metrics.NewCollector(func() *metrics.Snapshot { return h.snapshot() }))
			if err != nil {
				b.Fatal(err)
			}
			var scraping atomic.Bool
			var scrapes atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				pin(0)
				tick := time.NewTicker(bc.every)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if !scraping.Load() {
							continue
						}
						if _, err := reg.Gather(); err != nil {
							b.Error(err)
							return
						}
						scrapes.Add(1)
					}
				}
			}()
			in, out := h.ports[0], h.ports[1]
			pin(1)
			var dur [2]time.Duration // [0] without scrapes, [1] with
			var pkts [2]int
			phase := 0
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			for i := range b.N {
				if i%phaseBatches == 0 && i > 0 {
					now := time.Now()
					dur[phase] += now.Sub(t0)
					t0 = now
					phase ^= 1
					scraping.Store(phase == 1)
				}
				for range fwd.BatchSize {
					if !in.Inject(frame) {
						b.Fatal("Inject refused")
					}
				}
				for h.w.Step() > 0 {
				}
				pkts[phase] += out.Drain(nil)
				h.w.Step()
			}
			dur[phase] += time.Since(t0)
			b.StopTimer()
			close(stop)
			wg.Wait()
			if pkts[0]+pkts[1] != b.N*fwd.BatchSize {
				b.Fatalf("forwarded %d of %d", pkts[0]+pkts[1], b.N*fwd.BatchSize)
			}
			if pkts[1] == 0 {
				return // too short a run for a scraped phase
			}
			off := float64(dur[0].Nanoseconds()) / float64(pkts[0])
			on := float64(dur[1].Nanoseconds()) / float64(pkts[1])
			b.ReportMetric(off, "ns/pkt-off")
			b.ReportMetric(on, "ns/pkt-scraped")
			b.ReportMetric(on/off, "scraped/off")
			b.ReportMetric(float64(scrapes.Load()), "scrapes")
		})
	}
}
