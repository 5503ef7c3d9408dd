// Ports: batches of frame descriptors flow in (Receive) and out (Transmit)
// of one device queue; empty frames flow to the port (Fill) and finished
// ones come back (Complete). Every frame is named by its address in the
// worker's frame memory.

package fwd

import "github.com/gannet-net/gannet/fwd/xsk"

// Port moves batches of frames in and out of one device queue. Frames live in the worker's
// frame memory (one UMEM shared by all ports of a worker) and are named by xsk.Desc.
// One worker owns a Port; no method is safe for concurrent use. Called once per batch.
type Port interface {
	Receive(d []xsk.Desc) int    // received frames, now owned by the caller
	Transmit(d []xsk.Desc) int   // frames handed to the port; the rest stay the caller's
	Complete(addrs []uint64) int // frames the port finished with (sent or copied), back to the caller
	Fill(addrs []uint64) int     // empty frames for reception, owned by the port until received
}

// Pollable is a Port backed by a file descriptor (an AF_XDP socket). A worker
// idling in poll mode waits on the descriptors of its ports with poll(2)
// when every port has one, and naps briefly otherwise.
type Pollable interface {
	FD() int
}

// Reclaimer is a Port that can leave a running worker (Worker.DetachPort):
// CloseReclaim releases the port and appends to dst every frame of the
// worker's memory it still held — on its fill, rx, tx or completion ring,
// or in a copy it was making — so the worker gets them back.
type Reclaimer interface {
	Port
	CloseReclaim(dst []uint64) ([]uint64, error)
}
