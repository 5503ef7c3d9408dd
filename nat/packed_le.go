//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package nat

// Unpacking a packed result with one store: the word's bytes are
// Result's fields in order on a little-endian machine (TestPackedLayout
// checks the offsets), so the caller's reads of the fields are served
// from that one store instead of stalling on several narrow ones.

import "unsafe"

func (p packed) result() (r Result) {
	*(*uint64)(unsafe.Pointer(&r)) = uint64(p)
	return r
}

// storeTo writes the result p unpacks to into *r with one store.
func (p packed) storeTo(r *Result) {
	*(*uint64)(unsafe.Pointer(r)) = uint64(p)
}
