//go:build amd64 && !race

package nat

// Relaxed stores for the table's writers, and relaxed loads for its
// lock-free readers, on amd64. A Go atomic store is
// an XCHG there, a full barrier of some twenty cycles, and creating a
// session stores a dozen words. The writers hold the table lock and
// publish through sequence numbers that they still store atomically;
// amd64 keeps stores in program order (TSO), so a reader that validates
// the sequence number sees either all of a change or none of it, as with
// atomic stores. Lock-free readers keep using atomic loads (plain moves
// on amd64). The race detector needs the atomic form, which is what
// relaxed_other.go gives race builds and other architectures (whose
// memory models do reorder stores).

import (
	"sync/atomic"
	"unsafe"
)

// storeRelaxed stores v in *p with a plain move. It must never be the
// store that publishes a change (sequence numbers, live bits): the
// compiler may drop a plain store that a later one overwrites.
func storeRelaxed(p *atomic.Uint64, v uint64) {
	*(*uint64)(unsafe.Pointer(p)) = v
}

// loadRelaxed loads *p with a plain move that the compiler may fold into
// an addressing mode, as it does not for an atomic load. It is for words
// read between two atomic loads of a sequence number, which keep it in
// place: the compiler orders plain loads with the atomic operations
// around them, and amd64 does not reorder loads with loads.
func loadRelaxed(p *atomic.Uint64) uint64 {
	return *(*uint64)(unsafe.Pointer(p))
}

func loadRelaxed32(p *atomic.Uint32) uint32 {
	return *(*uint32)(unsafe.Pointer(p))
}
