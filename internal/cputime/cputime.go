// Package cputime reads the CPU time the calling OS thread has used.
// The benchmarks run on machines shared with other work: a wall-clock
// rate counts the time other processes held the core, CPU time does not.
// A caller locks its goroutine to its thread (runtime.LockOSThread)
// between two readings.
package cputime

import (
	"time"

	"golang.org/x/sys/unix"
)

// Thread returns the user and system CPU time of the calling OS thread,
// or 0 if the kernel does not say.
func Thread() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
