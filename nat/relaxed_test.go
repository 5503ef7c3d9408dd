package nat

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// storeRelaxed writes through a pointer to atomic.Uint64 as if it were a
// plain uint64: that holds only while the type is exactly its value.
func TestStoreRelaxed(t *testing.T) {
	if n := unsafe.Sizeof(atomic.Uint64{}); n != 8 {
		t.Fatalf("atomic.Uint64 is %d bytes, want 8", n)
	}
	var w [3]atomic.Uint64
	storeRelaxed(&w[1], 0x0123456789abcdef)
	if got := [3]uint64{w[0].Load(), w[1].Load(), w[2].Load()}; got != [3]uint64{0, 0x0123456789abcdef, 0} {
		t.Errorf("after storeRelaxed(&w[1], ...): %#x", got)
	}
}
