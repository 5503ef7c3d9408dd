// Ports that come and go: the control plane attaches a port to a worker's
// slot (the tables' index of the port) and detaches it again while the
// worker runs. The change itself runs on the worker's goroutine between
// two rounds, so the round never sees a half-changed port set and takes
// no lock; the control plane waits for it.
//
// Detaching returns every frame the port held. The worker takes the port
// out of its round and frees what it had queued for it; the caller (not
// the worker: closing a socket waits for the kernel, which would stall
// every other port) waits for the port's transmissions, closes it and
// collects the frames left on its rings (Reclaimer), and hands them back
// to the worker, which counts any shortfall as lost.

package fwd

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// AttachPort gives the worker port p in slot, from the next round on. It
// returns once the worker has taken it (at once when the worker is not
// running: its caller then owns it). Publish tables that route to the
// slot only after AttachPort returns.
func (w *Worker) AttachPort(ctx context.Context, slot int, p Port) error {
	if p == nil {
		return errors.New("fwd: AttachPort: nil port")
	}
	if slot < 0 || slot >= w.cfg.MaxPorts {
		return fmt.Errorf("fwd: AttachPort: slot %d out of range 0-%d", slot, w.cfg.MaxPorts-1)
	}
	var err error
	if e := w.do(ctx, func() {
		if slot < len(w.ports) && w.ports[slot] != nil {
			err = fmt.Errorf("fwd: AttachPort: slot %d is in use", slot)
			return
		}
		w.attach(slot, p)
	}); e != nil {
		return e
	}
	return err
}

// DetachPort takes the port in slot out of the worker and gives the
// worker every frame the port held back. Publish tables that no longer
// route to the slot first. drain bounds the wait for frames already on
// the port's tx ring to be sent (a dead link never sends them; they are
// reclaimed from the ring). The port is closed when it is a Reclaimer;
// otherwise its frames stay lost to the worker (counted by Lost).
func (w *Worker) DetachPort(ctx context.Context, slot int, drain time.Duration) error {
	var (
		p            Port
		filled, sent int
	)
	if err := w.do(ctx, func() { p, filled, sent = w.detach(slot) }); err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("fwd: DetachPort: slot %d holds no port", slot)
	}
	// The port is ours now. Let its tx ring drain: those frames come back
	// on the completion ring, so whoever was waiting for them gets them.
	var back []uint64
	buf := make([]uint64, BatchSize)
	deadline := time.Now().Add(drain)
	for len(back) < sent && time.Now().Before(deadline) {
		n := p.Complete(buf)
		back = append(back, buf[:n]...)
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	var err error
	if r, ok := p.(Reclaimer); ok {
		back, err = r.CloseReclaim(back)
	}
	w.do(context.Background(), func() { w.reclaim(back, filled+sent) })
	return err
}

// Lost returns how many frames detached ports did not give back.
func (w *Worker) Lost() uint64 { return w.lost.Load() }

// PortStats are one port's counters in one worker.
type PortStats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	// DeniedEgress counts packets the egress program of the endpoint on
	// this port denied (policy-egress drops of what it sent);
	// DeniedIngress those its ingress program denied (policy-ingress
	// drops of what was on its way to it). Uplinks have neither.
	DeniedEgress, DeniedIngress uint64
}

// PortStats returns slot's counters as last published (any goroutine).
// They restart from zero when a port is attached to the slot.
func (w *Worker) PortStats(slot int) PortStats {
	if slot < 0 || slot >= len(w.portPub) {
		return PortStats{}
	}
	p := &w.portPub[slot]
	return PortStats{RxPackets: p.rx.Load(), RxBytes: p.rxBytes.Load(), TxPackets: p.tx.Load(), TxBytes: p.txBytes.Load(),
		DeniedEgress: p.deniedEgress.Load(), DeniedIngress: p.deniedIngress.Load()}
}

// FreeFrames returns the frames on the worker's free stack. Owner only
// (tests and single-threaded drivers; a running worker's stack moves).
func (w *Worker) FreeFrames() int { return w.free.Len() }

// do runs fn on the worker's goroutine before its next round and waits
// for it; when the worker is not running, fn runs here and now.
func (w *Worker) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	w.opMu.Lock()
	if !w.running.Load() {
		w.opMu.Unlock()
		fn()
		return nil
	}
	w.ops = append(w.ops, func() { fn(); close(done) })
	w.opsPending.Store(true)
	exited := w.done
	w.opMu.Unlock()
	select {
	case <-done:
		return nil
	case <-exited:
		// The goroutine ran what was queued before it exited; what came
		// after is ours to run.
		w.runOps()
		<-done
		return nil
	case <-ctx.Done():
		// fn still runs, later; the caller gave up waiting for it.
		return fmt.Errorf("fwd: worker busy: %w", ctx.Err())
	}
}

// runOps runs the queued control operations (the owner).
func (w *Worker) runOps() {
	w.opMu.Lock()
	ops := w.ops
	w.ops = nil
	w.opsPending.Store(false)
	w.opMu.Unlock()
	for _, op := range ops {
		op()
	}
}

// attach puts p in slot (the owner).
func (w *Worker) attach(slot int, p Port) {
	if slot >= len(w.ports) {
		n := slot + 1
		w.ports = append(w.ports, make([]Port, n-len(w.ports))...)
		w.fillOut = append(w.fillOut, make([]int, n-len(w.fillOut))...)
		w.fillT = append(w.fillT, make([]int, n-len(w.fillT))...)
		w.txOutP = append(w.txOutP, make([]int, n-len(w.txOutP))...)
		w.txq = append(w.txq, make([]txQueue, n-len(w.txq))...)
		w.portC = append(w.portC, make([]portCounters, n-len(w.portC))...)
	}
	w.ports[slot] = p
	w.fillOut[slot], w.txOutP[slot] = 0, 0
	w.portC[slot] = portCounters{}
	w.portPub[slot].publish(&w.portC[slot])
	w.active = append(w.active, slot)
	w.fillT[slot] = fillStart
	w.portsChanged()
}

// fillStart is a new port's fill target (at most its share): a burst
// that arrives while the worker sleeps fits (a flood of 1,000 frames
// after an idle spell lost a few at 64), and demand raises it. With the
// default 8192 frames per worker the first 16 ports park 256 frames each
// while idle and later ones their shrinking shares, so about 40 idle
// ports fit before the newest run short; hosts with more ports need more
// dataplane.frames.
const fillStart = 256

// detach takes the port out of slot (the owner) and returns it with the
// number of the worker's frames still on its fill ring and its tx ring.
func (w *Worker) detach(slot int) (p Port, filled, sent int) {
	if slot < 0 || slot >= len(w.ports) || w.ports[slot] == nil {
		return nil, 0, 0
	}
	p = w.ports[slot]
	mask := ^uint64(w.frameSize - 1)
	q := &w.txq[slot]
	for _, d := range q.d[:q.n] {
		w.drop(d.Addr&mask, ReasonNoPort)
	}
	q.n = 0
	filled, sent = w.fillOut[slot], w.txOutP[slot]
	w.txOut -= sent
	w.ports[slot] = nil
	w.fillOut[slot], w.txOutP[slot] = 0, 0
	for i, s := range w.active {
		if s == slot {
			w.active = append(w.active[:i], w.active[i+1:]...)
			break
		}
	}
	w.portsChanged()
	return p, filled, sent
}

// reclaim takes back the frames of a detached port; owed is how many it
// had (the owner).
func (w *Worker) reclaim(frames []uint64, owed int) {
	mask := ^uint64(w.frameSize - 1)
	for _, a := range frames {
		w.free.Push(a & mask)
	}
	if len(frames) < owed {
		w.lost.Add(uint64(owed - len(frames)))
	}
}

// portsChanged recomputes what depends on the port set: the most a fill
// ring is given (an equal share of half the frames), the targets (fixed
// when configured) and the poll set.
func (w *Worker) portsChanged() {
	w.fillShare = max(1, w.numFrames/2/max(1, len(w.active)))
	for _, slot := range w.active {
		if w.cfg.FillTarget > 0 {
			w.fillT[slot] = w.cfg.FillTarget
		} else {
			w.fillT[slot] = min(w.fillT[slot], w.fillShare)
		}
	}
	w.fds = nil
	if w.cfg.Idle != IdlePoll || len(w.active) == 0 {
		return
	}
	fds := make([]int32, 0, len(w.active))
	for _, slot := range w.active {
		pp, ok := w.ports[slot].(Pollable)
		if !ok {
			return
		}
		fds = append(fds, int32(pp.FD()))
	}
	w.fds = fds
}

// portCounters are one slot's counters (the owner's plain copy) and
// portPublished their published twin.
type portCounters struct {
	rx, rxBytes, tx, txBytes    uint64
	deniedEgress, deniedIngress uint64
}

type portPublished struct {
	rx, rxBytes, tx, txBytes    atomic.Uint64
	deniedEgress, deniedIngress atomic.Uint64
}

func (p *portPublished) publish(c *portCounters) {
	store(&p.rx, c.rx)
	store(&p.rxBytes, c.rxBytes)
	store(&p.tx, c.tx)
	store(&p.txBytes, c.txBytes)
	store(&p.deniedEgress, c.deniedEgress)
	store(&p.deniedIngress, c.deniedIngress)
}
