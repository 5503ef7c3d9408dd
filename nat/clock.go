package nat

// Time: the table reads a Clock once per batch, never per packet, so the
// clock may be an interface.

import (
	"sync/atomic"
	"time"
)

// Clock gives the current time.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told: tests and simulations
// advance it to expire sessions without waiting. Safe for concurrent use.
type ManualClock struct{ ns atomic.Int64 }

var manualEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time { return manualEpoch.Add(time.Duration(c.ns.Load())) }

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
