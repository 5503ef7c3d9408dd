// Captures: frames of one port, as they came in (rx, before the pipeline
// rewrites them in place) or as they leave (tx, as handed to the port),
// copied into a bounded ring per worker that the control plane drains
// into a pcap stream. Off, a capture costs a worker one atomic load per
// round (the published CaptureSet pointer, nil); on, each frame of a
// captured port is matched against the capture's filter (parsed on its
// own: rx frames are not parsed yet, tx frames were rewritten) and
// copied, or counted as dropped when the ring is full. The worker never
// waits for the reader.

package fwd

import (
	"fmt"
	"sync/atomic"

	"github.com/gannet-net/gannet/fwd/capfilter"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/pkt"
)

// Direction is which way a captured frame crossed its port.
type Direction uint8

const (
	DirRx Direction = 1 << iota // received on the port
	DirTx                       // sent out of the port
)

func (d Direction) String() string {
	switch d {
	case DirRx:
		return "rx"
	case DirTx:
		return "tx"
	case DirRx | DirTx:
		return "both"
	}
	return "dir?"
}

// DefaultCaptureSlots is CaptureConfig.Slots when it is zero.
const DefaultCaptureSlots = 512

// CaptureConfig describes one capture.
type CaptureConfig struct {
	Port   int       // the port's slot (its index in the tables)
	Dir    Direction // DirRx, DirTx or both
	Filter *capfilter.Filter
	// Workers is how many rings to make: one per worker, which writes
	// the ring of its WorkerConfig.Index (a worker with an index past
	// the last ring captures nothing).
	Workers int
	// Slots is each ring's depth in frames; Snap the bytes kept of each
	// frame (the rest is cut, its length on the wire kept).
	Slots, Snap int
}

// Capture is one running capture. Workers see it once it is in the
// published CaptureSet; the control plane reads it with Drain.
type Capture struct {
	port   int
	dir    Direction
	filter *capfilter.Filter
	snap   int
	rings  []*captureRing
}

type captureRing struct {
	ring    *spsc[CapturedFrame]
	dropped atomic.Uint64 // written by the ring's worker
	_       [56]byte
}

// CapturedFrame is one frame in a capture ring. Data is valid only
// inside Drain's callback.
type CapturedFrame struct {
	TimeNs  int64
	Dir     Direction
	OrigLen int
	Data    []byte
	buf     []byte // the slot's own Snap bytes
}

// NewCapture makes a capture's rings (Workers × Slots × Snap bytes).
func NewCapture(c CaptureConfig) (*Capture, error) {
	if c.Port < 0 {
		return nil, fmt.Errorf("fwd: CaptureConfig.Port: %d", c.Port)
	}
	if c.Dir == 0 || c.Dir&^(DirRx|DirTx) != 0 {
		return nil, fmt.Errorf("fwd: CaptureConfig.Dir: %d", c.Dir)
	}
	if c.Workers < 1 {
		return nil, fmt.Errorf("fwd: CaptureConfig.Workers: %d", c.Workers)
	}
	if c.Slots == 0 {
		c.Slots = DefaultCaptureSlots
	}
	if c.Snap <= 0 || c.Slots < 1 || c.Slots > 1<<16 {
		return nil, fmt.Errorf("fwd: CaptureConfig: %d slots of %d bytes", c.Slots, c.Snap)
	}
	cp := &Capture{port: c.Port, dir: c.Dir, filter: c.Filter, snap: c.Snap}
	for range c.Workers {
		r := &captureRing{ring: newSPSC[CapturedFrame](c.Slots)}
		mem := make([]byte, len(r.ring.slots)*c.Snap)
		for i := range r.ring.slots {
			r.ring.slots[i].buf = mem[i*c.Snap : (i+1)*c.Snap : (i+1)*c.Snap]
		}
		cp.rings = append(cp.rings, r)
	}
	return cp, nil
}

// Port returns the captured port's slot.
func (c *Capture) Port() int { return c.port }

// Drain hands every frame the workers captured since the last call to
// fn, worker by worker, and returns how many. One goroutine at a time.
func (c *Capture) Drain(fn func(*CapturedFrame)) int {
	n := 0
	for _, r := range c.rings {
		n += r.ring.pop(fn)
	}
	return n
}

// Dropped returns how many matching frames found their ring full.
func (c *Capture) Dropped() uint64 {
	var n uint64
	for _, r := range c.rings {
		n += r.dropped.Load()
	}
	return n
}

// CaptureSet is the captures running, published to the workers with one
// atomic store (WorkerConfig.Captures); nil or empty: none.
type CaptureSet struct {
	caps []*Capture
}

// NewCaptureSet returns the set of caps; nil when there are none, so
// that workers pay nothing more than the load.
func NewCaptureSet(caps []*Capture) *CaptureSet {
	if len(caps) == 0 {
		return nil
	}
	return &CaptureSet{caps: append([]*Capture(nil), caps...)}
}

// capture copies the frames of descs, which crossed port pi in
// direction dir, into the rings of the captures that want them.
func (w *Worker) capture(pi int, dir Direction, descs []xsk.Desc) {
	for _, c := range w.caps.caps {
		if c.port != pi || c.dir&dir == 0 || w.cfg.Index >= len(c.rings) {
			continue
		}
		r := c.rings[w.cfg.Index]
		for _, d := range descs {
			frame := w.mem[d.Addr : d.Addr+uint64(d.Len)]
			if c.filter != nil {
				pkt.Parse(frame, &w.capSum)
				if !c.filter.Match(&w.capSum) {
					continue
				}
			}
			f := r.ring.slot()
			if f == nil {
				r.dropped.Add(1)
				continue
			}
			n := copy(f.buf, frame)
			f.TimeNs, f.Dir, f.OrigLen, f.Data = w.nowNs, dir, len(frame), f.buf[:n]
			r.ring.push()
		}
	}
}
