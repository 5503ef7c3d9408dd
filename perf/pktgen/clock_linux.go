// The clock of transmit timestamps: CLOCK_MONOTONIC in nanoseconds, the
// clock bpf_ktime_get_ns reads in the kernel generator, shared by every
// network namespace of the machine. Now reads it through Go's monotonic
// clock (vDSO, no syscall) from one reference taken at start.

package pktgen

import (
	"time"

	"golang.org/x/sys/unix"
)

var (
	clockRef  time.Time
	clockMono int64
)

func init() {
	var ts unix.Timespec
	// Read the reference as close to time.Now as possible; the error of
	// Now is the gap between the two reads (well under a microsecond).
	clockRef = time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		clockMono = ts.Nano()
	}
}

// Now returns CLOCK_MONOTONIC in nanoseconds. It allocates nothing.
func Now() int64 { return clockMono + int64(time.Since(clockRef)) }
