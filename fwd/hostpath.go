// To the host: a workload's packet to one of the host's own addresses,
// once it passed the source check and the endpoint's egress program
// (endpointToHost: accept), is queued during the batch and handed to the
// host stack at its end, in one call, through a HostSink (a TAP device
// gannet owns, hosttap_linux.go). The host answers over its own route to
// the workload; the reply never comes through gannet.

package fwd

import (
	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/pkt"
)

// HostSink puts frames into the host's network stack as if they arrived
// on an interface of the host. Workers call WriteFrames once per batch,
// concurrently with each other; the frames are theirs again when it
// returns.
type HostSink interface {
	// WriteFrames hands frames to the host in order and returns how
	// many it took; the rest are dropped (host-write).
	WriteFrames(frames [][]byte) int
}

// HostPath is where endpointToHost: accept delivers (Config.Host).
type HostPath struct {
	Sink HostSink
	// MAC is the destination MAC of delivered frames: the interface's
	// own, so the host takes them as addressed to it.
	MAC [6]byte
}

// toHost takes the packet of v, from a workload to one of the host's own
// addresses, to the host: the endpoint's egress program decides it (every
// packet as new: the host's reply does not come back through gannet, so a
// connection's state could never be seen from both ends, and no NAT
// applies on the way in), then the frame is addressed to the host
// interface and queued for flushHost. Without endpointToHost: accept, or
// from an uplink (whose XDP program hands the host its traffic itself),
// it is dropped as to-host.
func (w *Worker) toHost(t *Tables, v *view) {
	if t.host == nil || v.ep == nil {
		w.drop(v.chunk, ReasonToHost)
		return
	}
	if r := w.policy(acl.ConnNew, v.ep, nil, v.s, nil); r != ReasonNone {
		w.denied(v.chunk, r, v.ep, nil)
		return
	}
	if w.nhost == len(w.hostq) {
		w.flushHost(t)
	}
	n := uint64(v.s.L3Off) + uint64(v.s.L3Len)
	frame := w.mem[v.base : v.base+n]
	eth := pkt.Ethernet(frame)
	eth.SetDst(t.host.MAC)
	eth.SetSrc(t.gwMAC)
	w.hostq[w.nhost] = hostFrame{chunk: v.chunk, base: v.base, n: n}
	w.nhost++
}

// hostFrame is a frame queued for the host: its chunk, and where the
// Ethernet frame starts and how long it is.
type hostFrame struct {
	chunk, base, n uint64
}

// flushHost hands the frames toHost queued to the host in one call and
// takes them back.
func (w *Worker) flushHost(t *Tables) {
	if w.nhost == 0 {
		return
	}
	for i, f := range w.hostq[:w.nhost] {
		w.hostBufs[i] = w.mem[f.base : f.base+f.n]
	}
	k := t.host.Sink.WriteFrames(w.hostBufs[:w.nhost])
	for i, f := range w.hostq[:w.nhost] {
		w.hostBufs[i] = nil
		if i >= k {
			w.drop(f.chunk, ReasonHostWrite)
			continue
		}
		w.c.toHost++
		w.c.fwd++
		w.c.txBytes += f.n
		w.free.Push(f.chunk)
	}
	w.nhost = 0
}
