// Package xsk is gannet's AF_XDP socket layer on golang.org/x/sys/unix.
//
// It owns the UMEM (an mmapped frame area in aligned chunk mode, registered
// with headroom by its first socket and shared by later ones with
// XDP_SHARED_UMEM), the four rings of each socket (fill, rx, tx, completion),
// the choice of zero-copy or copy mode, need_wakeup and busy-poll wakeups,
// XDP_STATISTICS, and FrameStack, the free-frame stack a worker keeps.
//
// Frames are named by their offset in the UMEM (Desc.Addr); a frame is always
// in exactly one place: on the worker's FrameStack, on a fill ring, held by
// the kernel for rx, on an rx ring, in the worker's hands, on a tx ring, held
// by the kernel for tx, or on a completion ring. The package moves frames
// between those places in batches and never loses or duplicates one; keeping
// count of what the worker holds is the worker's job.
//
// Rings are single-producer single-consumer queues shared with the kernel.
// Each end caches the other side's index, reads it again with one atomic load
// only when a batch does not fit in what the cache knows, and publishes its
// own index with one atomic store per batch. The ring code works on any
// memory, so tests play the kernel's side on ordinary memory without root.
//
// The package never loads or attaches an XDP program and never touches an
// XSKMAP (that is fwd/bpf: a socket only offers its FD), never parses or
// rewrites packets, and never runs a loop of its own (that is the fwd
// pipeline and its workers).
package xsk
