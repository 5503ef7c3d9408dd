// The fast path's egress devices and the check that they take what the
// kernel redirects into them. A veth delivers a redirected frame through
// its other end's NAPI, which runs only when that end has GRO on or an XDP
// program; otherwise the kernel frees the frame and counts it nowhere
// (Linux 6.18: no ethtool counter, no drop counter, only the
// xdp:xdp_devmap_xmit tracepoint). What a veth does count is the frames it
// took (tx_queue_N_xdp_xmit). So the Offload compares, per egress device,
// the packets the flow table redirected into it with the frames it took:
// a device that took none of them is taken off the fast path — out of the
// devmap, so its flows miss and the pipeline forwards them, its entries
// removed, no new ones installed — and is tried again after a backoff.
//
// When it compares: a device not yet seen to take a frame (new, or put
// back for a retry) is probed at every drain (2 ms) through the entries of
// a few of its flows, so it costs a few packets; a device that took frames
// is compared at every sweep (500 ms) through all its entries. Either way
// it compares the frames it took by now with the packets counted in an
// earlier round: a frame counted in an entry is redirected at the end of
// the NAPI poll that counted it, so one counted in this round may not be
// there yet.

package fwd

import (
	"fmt"
	"net"
	"time"

	"github.com/gannet-net/gannet/fwd/bpf"
)

// egressState is what the Offload knows of one egress device.
type egressState struct {
	delivered uint64 // the device's Delivered count when sent was last zeroed
	sent      uint64 // packets redirected into it since, counted in earlier rounds
	checked   bool   // Delivered says something for the device
	off       bool   // taken off the fast path
	proven    bool   // took a redirected frame since it was (put back) on
	retried   bool   // put back after being off: its return is logged
	// probe are flows installed toward it while it is not proven, whose
	// entries the drains read (at most egressProbeFlows).
	probe   []bpf.FlowKey
	retry   uint64 // Clock time an off device is put back to be tried
	backoff time.Duration
}

const (
	// egressEvidence is how many packets redirected into a device, none
	// of them taken, take it off.
	egressEvidence = 4
	// egressProbeFlows bounds the flows a probe reads per drain.
	egressProbeFlows = 8
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
	e := &egressState{}
	if o.cfg.Delivered != nil {
		e.delivered, e.checked = o.cfg.Delivered(ifindex)
	}
	o.egress[uint32(ifindex)] = e
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

// installed notes flow k, just installed toward e: a device not proven
// yet is probed through it.
func (e *egressState) installed(k *bpf.FlowKey) {
	if e.checked && !e.proven && len(e.probe) < egressProbeFlows {
		e.probe = append(e.probe, *k)
	}
}

// probeEgress runs after every drain: each device not proven yet is
// judged by the entries of the flows installed toward it.
func (o *Offload) probeEgress() {
	for ifindex, e := range o.egress {
		if e.off || e.proven || len(e.probe) == 0 {
			continue
		}
		on, fresh := o.judge(ifindex, e)
		if !on {
			continue
		}
		keep := e.probe[:0]
		for i := range e.probe {
			k := &e.probe[i]
			rec := o.flows[*k]
			c, _, ok, err := o.fp.Lookup(k)
			if rec == nil || err != nil || !ok {
				continue // gone: no longer evidence
			}
			if n := o.account(k, rec, c); !fresh {
				e.sent += n
			}
			keep = append(keep, *k)
		}
		e.probe = keep
	}
}

// checkEgress runs after a sweep with the packets it found redirected
// into each device since the last reading, and puts back devices whose
// wait is over.
func (o *Offload) checkEgress(redirected map[uint32]uint64) {
	now := o.cfg.Clock()
	for ifindex, e := range o.egress {
		switch {
		case e.off:
			if now >= e.retry && o.fp.AddEgress(int(ifindex)) == nil {
				e.off, e.retried, e.sent = false, true, 0
				if d, ok := o.cfg.Delivered(int(ifindex)); ok {
					e.delivered = d
				}
				o.evicted.Add(1) // the workers offer its flows again
			}
		case e.checked:
			if on, fresh := o.judge(ifindex, e); on && !fresh {
				e.sent += redirected[ifindex]
			}
		}
	}
}

// judge compares what device ifindex took with what was redirected into
// it in earlier rounds: a device that took frames is proven (and its
// count starts again), one that took none of egressEvidence is taken off.
// It reports whether the device is still on the fast path, and whether
// its count just started again (fresh): then the packets the caller
// counts this round are not evidence — they were redirected before the
// reading judge just took and may be in it already, so a flow that goes
// quiet right after would otherwise look like a device that took none
// of them.
func (o *Offload) judge(ifindex uint32, e *egressState) (on, fresh bool) {
	d, ok := o.cfg.Delivered(int(ifindex))
	switch {
	case !ok:
		return true, false // unreadable now: judged next time
	case d != e.delivered:
		e.delivered, e.sent = d, 0
		if !e.proven {
			e.proven, e.probe, e.backoff = true, nil, 0
			if e.retried {
				e.retried = false
				o.c.egressOn.Add(1)
				o.cfg.Log.Info("fast path: egress device takes redirected frames again; its flows are offloaded", "iface", ifName(ifindex))
			}
		}
		return true, true
	case e.sent >= egressEvidence:
		o.takeOff(ifindex, e)
		return false, false
	}
	return true, false
}

// takeOff takes device ifindex off the fast path: out of the devmap (its
// flows' next packets miss and reach the pipeline), its entries removed.
func (o *Offload) takeOff(ifindex uint32, e *egressState) {
	if err := o.fp.RemoveEgress(int(ifindex)); err != nil {
		o.cfg.Log.Warn("fast path: cannot take an egress device off", "iface", ifName(ifindex), "err", err)
		return
	}
	if e.retried { // it failed again after a retry
		e.backoff = min(2*e.backoff, egressRetryMax)
	} else {
		e.backoff = egressRetry
	}
	lost := e.sent
	e.off, e.proven, e.probe, e.sent = true, false, nil, 0
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
