// Counters the sending and receiving threads publish and the reporting
// goroutine reads once a second: one cache line each so threads on
// different cores do not share one.

package pktgen

import "sync/atomic"

// Counter is a monotonically increasing count written by one thread.
type Counter struct {
	v atomic.Uint64
	_ [56]byte
}

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the count.
func (c *Counter) Load() uint64 { return c.v.Load() }
