package bpf

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkProgram measures the program's cost per frame inside the kernel (BPF_PROG_RUN
// with repeat): the price every received frame pays before it reaches a socket or the stack.
func BenchmarkProgram(b *testing.B) {
	if testingShortRoot(b) {
		return
	}
	p, err := Load(Options{Role: RoleUplink, NoSocket: NoSocketDrop, HostAddrs: []netip.Addr{hostIP4, hostIP6}})
	if err != nil {
		b.Fatalf("Load: %v", err)
	}
	defer p.Close()
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"ipv4-transit", udp4(b, transitIP4, hostMAC)},
		{"ipv4-host", udp4(b, hostIP4, hostMAC)},
		{"ipv6-transit", udp6(b, transitIP6)},
		{"ipv6-ns-hbh", icmp6(b, peerIP6, transitIP6, 135, true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			var frames int
			for b.Loop() {
				_, per, err := p.objs.GannetXdp.Benchmark(bc.frame, 1000, nil)
				if err != nil {
					b.Fatalf("BPF_PROG_RUN: %v", err)
				}
				total += per * 1000
				frames += 1000
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(frames), "ns/frame")
		})
	}
}

// testingShortRoot skips b without root; it reports whether b was skipped.
func testingShortRoot(b *testing.B) bool {
	b.Helper()
	requireRoot(b)
	return b.Skipped()
}
