//go:build linux && !race

package nat

// Large fixed arrays (sessions, the index) come from anonymous mappings
// advised to use transparent huge pages: a table of a million sessions
// spans hundreds of MiB, and with 4 KiB pages nearly every lookup would
// also miss the TLB. The types stored here hold no Go pointers, so the
// garbage collector need not see them. This file and its fallback are
// the only place the package uses unsafe (with the amd64 relaxed stores
// and the packed results). The pages are populated when the table is
// made: otherwise the first packet to touch each huge page would wait
// while the kernel clears 2 MiB, on the data path, as the table fills.

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeMin is the size below which ordinary heap memory is used.
const hugeMin = 4 << 20

// hugeSlice returns a zeroed slice of n T outside the Go heap, released
// when owner becomes unreachable. T must contain no pointers. If the
// mapping fails it falls back to the heap.
func hugeSlice[T any](owner *Table, n int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero)) * n
	if size < hugeMin {
		return make([]T, n)
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]T, n)
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // advice only: without THP the mapping still works
	// Also advice: before Linux 5.14 the pages fault in on first use.
	_ = unix.Madvise(mem, unix.MADV_POPULATE_WRITE)
	runtime.AddCleanup(owner, func(m []byte) { _ = unix.Munmap(m) }, mem)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}
