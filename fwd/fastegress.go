// The fast path's egress devices and the check that they take what the
// kernel redirects into them. A veth delivers a redirected frame through
// its other end's NAPI, which runs only when that end has GRO on or an XDP
// program; otherwise the kernel frees the frame and counts it nowhere
// (Linux 6.18: no ethtool counter, no drop counter, only the
// xdp:xdp_devmap_xmit tracepoint). What a veth does count is the frames it
// took (tx_queue_N_xdp_xmit). So each sweep compares, per egress device,
// the packets the flow table redirected into it with the frames it took:
// a device that took none of them is taken off the fast path — out of the
// devmap, so its flows miss and the pipeline forwards them, its entries
// removed, no new ones installed — and is tried again after a backoff.

package fwd

import (
	"fmt"
	"net"
	"time"
)

// egressState is what the Offload knows of one egress device.
type egressState struct {
	delivered uint64 // the device's Delivered count at the last sweep
	known     bool   // delivered has been read
	off       bool   // taken off the fast path
	probing   bool   // put back after being off; not yet seen to take frames
	retry     uint64 // Clock time an off device is put back to be tried
	backoff   time.Duration
}

const (
	// egressEvidence is how many packets redirected into a device in one
	// sweep interval, none of them taken, take it off: fewer could be
	// frames still in flight at the sweep.
	egressEvidence = 4
	// The first retry of a device taken off comes after egressRetry; each
	// failed retry doubles the wait, up to egressRetryMax.
	egressRetry    = 2 * time.Second
	egressRetryMax = time.Minute
)

// AddEgress lets flows leave by the device ifindex. Call it once the
// port's sockets are in place (a flow the fast path cannot forward there
// goes to them).
func (o *Offload) AddEgress(ifindex int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.fp.AddEgress(ifindex); err != nil {
		return err
	}
	o.egress[uint32(ifindex)] = &egressState{}
	return nil
}

// RemoveEgress stops flows leaving by the device ifindex (its port is
// going away); entries that still name it miss and go to the pipeline.
func (o *Offload) RemoveEgress(ifindex int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.egress, uint32(ifindex))
	return o.fp.RemoveEgress(ifindex)
}

// checkEgress runs after a sweep, with the packets the flow table
// redirected into each device since the last one.
func (o *Offload) checkEgress(redirected map[uint32]uint64) {
	if o.cfg.Delivered == nil {
		return
	}
	now := o.cfg.Clock()
	for ifindex, e := range o.egress {
		d, ok := o.cfg.Delivered(int(ifindex))
		if !ok {
			continue // the device does not say: not checked
		}
		took, sent := d-e.delivered, redirected[ifindex]
		if !e.known || d < e.delivered {
			took = sent // no earlier reading to compare with
		}
		e.delivered, e.known = d, true
		switch {
		case e.off:
			if now >= e.retry && o.fp.AddEgress(int(ifindex)) == nil {
				e.off, e.probing = false, true
				o.evicted.Add(1) // the workers offer its flows again
			}
		case sent >= egressEvidence && took == 0:
			o.takeOff(ifindex, e, sent)
		case e.probing && took > 0 && sent > 0:
			e.probing, e.backoff = false, 0
			o.c.egressOn.Add(1)
			o.cfg.Log.Info("fast path: egress device takes redirected frames again; its flows are offloaded", "iface", ifName(ifindex))
		}
	}
}

// takeOff takes device ifindex off the fast path: out of the devmap (its
// flows' next packets miss and reach the pipeline), its entries removed.
func (o *Offload) takeOff(ifindex uint32, e *egressState, lost uint64) {
	if err := o.fp.RemoveEgress(int(ifindex)); err != nil {
		o.cfg.Log.Warn("fast path: cannot take an egress device off", "iface", ifName(ifindex), "err", err)
		return
	}
	if e.probing { // it failed again after a retry
		e.backoff = min(2*e.backoff, egressRetryMax)
	} else {
		e.backoff = egressRetry
	}
	e.off, e.probing = true, false
	e.retry = o.cfg.Clock() + uint64(e.backoff)
	for k, rec := range o.flows {
		if rec.egress == ifindex {
			_ = o.fp.Delete(&k) // a failure leaves an entry that misses: the devmap no longer has the device
			delete(o.flows, k)
		}
	}
	o.evicted.Add(1)
	o.c.egressOff.Add(1)
	o.cfg.Log.Warn("fast path: egress device dropped the frames redirected into it; its flows go through the pipeline",
		"iface", ifName(ifindex), "lost", lost, "retry", e.backoff,
		"fix", fmt.Sprintf("ethtool -K <the other end of %s> gro on, in the workload, or an XDP program on it", ifName(ifindex)))
}

// ifName names device ifindex for a log line.
func ifName(ifindex uint32) string {
	if ifc, err := net.InterfaceByIndex(int(ifindex)); err == nil {
		return ifc.Name
	}
	return fmt.Sprintf("ifindex %d", ifindex)
}
