package nat

// The arrays of a table in a state file are views of the file's mapped
// memory (state.go); the types viewed hold no Go pointers, so the
// garbage collector need not see them, and every offset is page-aligned.

import (
	"sync/atomic"
	"unsafe"
)

// viewOf returns the n T at byte offset off of mem.
func viewOf[T any](mem []byte, off, n int) []T {
	var zero T
	if off < 0 || off+n*int(unsafe.Sizeof(zero)) > len(mem) || uintptr(unsafe.Pointer(&mem[off]))%unsafe.Alignof(zero) != 0 {
		panic("nat: state file view out of range or misaligned")
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[off])), n)
}

// bindArrays points t's fixed arrays at their places in mem, laid out as
// l.
func bindArrays(t *Table, mem []byte, l *layout) {
	t.sess = viewOf[session](mem, l.sessOff, l.capacity)
	t.index = viewOf[atomic.Uint64](mem, l.indexOff, l.indexLen)
	t.maps.m = viewOf[mapping](mem, l.mapOff, l.maxMappings)
	t.maps.index = viewOf[atomic.Uint64](mem, l.mapIndexOff, l.mapIndexLen)
	t.mask = uint64(l.indexLen - 1)
	t.maps.mask = uint64(l.mapIndexLen - 1)
}

// wordBytes returns n bytes backed by uint64s: heap memory aligned as a
// mapped state file is, for tests and the fuzzer.
func wordBytes(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}
