package metrics_test

// BenchmarkForwardScrape: the forwarding pipeline (a worker stepping
// batches of 64 UDP frames from endpoint a to b over in-memory ports)
// with and without a concurrent scrape of the full registry — gannet's
// collector reading the worker's counters, the Go and process
// collectors — every 100 ms (the bar: within 2%) and, to make
// any cost visible, every millisecond. Compare ns/pkt of the variants in
// the same run.

import (
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/metrics"
	"github.com/gannet-net/gannet/fwd"
)

func BenchmarkForwardScrape(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{{"scrape=off", 0}, {"scrape=100ms", 100 * time.Millisecond}, {"scrape=1ms", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newTestHost(b)
			frame := udp(b, addrB, 5000, 64, 18) // 64-byte frames
			reg, err := metrics.NewRegistry(metrics.NewCollector(func() *metrics.Snapshot { return h.snapshot() }))
			if err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var scrapes int
			if bc.every > 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(bc.every)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := reg.Gather(); err != nil {
								b.Error(err)
								return
							}
							scrapes++
						}
					}
				}()
			}
			const batch = fwd.BatchSize
			in, out := h.ports[0], h.ports[1]
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for range b.N {
				for range batch {
					if !in.Inject(frame) {
						b.Fatal("Inject refused")
					}
				}
				for h.w.Step() > 0 {
				}
				sent += out.Drain(nil)
				h.w.Step()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			if sent != b.N*batch {
				b.Fatalf("forwarded %d of %d", sent, b.N*batch)
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(sent), "ns/pkt")
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "pkt/s")
			b.ReportMetric(float64(scrapes), "scrapes")
		})
	}
}
