// The worker's OS-facing parts on Linux: CPU affinity for its locked
// thread, and poll(2) on its ports' sockets when idle.

package fwd

import (
	"time"

	"golang.org/x/sys/unix"
)

// pinCPU binds the calling (locked) thread to cpu.
func pinCPU(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// pollIn waits until one of fds is readable or timeout passes.
func pollIn(fds []int32, timeout time.Duration) {
	var buf [16]unix.PollFd
	pfds := buf[:0]
	if len(fds) > len(buf) {
		pfds = make([]unix.PollFd, 0, len(fds))
	}
	for _, fd := range fds {
		pfds = append(pfds, unix.PollFd{Fd: fd, Events: unix.POLLIN})
	}
	// EINTR and friends only end the wait early; the loop polls again.
	_, _ = unix.Poll(pfds, int(timeout/time.Millisecond))
}
