// Frame descriptors: what flows through every ring. The rx and tx rings carry
// Desc; the fill and completion rings carry bare frame addresses (uint64).

package xsk

// Desc mirrors the kernel's struct xdp_desc (16 bytes): a frame in UMEM.
// Addr is the offset of the packet's first byte in the UMEM; in aligned mode the
// frame's chunk starts at Addr &^ uint64(FrameSize-1), so Addr - chunk is the
// headroom in front of the packet that a rewrite may grow into.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// Chunk returns the start of the aligned chunk that holds d, given the UMEM's
// frame size (a power of two). The chunk start is the address that goes back
// onto a FrameStack or the fill ring.
func (d Desc) Chunk(frameSize int) uint64 {
	return d.Addr &^ uint64(frameSize-1)
}
