//go:build !linux

package fwd

import "time"

var start = time.Now()

// monotonicNs stands in for CLOCK_MONOTONIC where there is no kernel fast path.
func monotonicNs() uint64 { return uint64(time.Since(start)) }
