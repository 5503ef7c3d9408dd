package ctl

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gannet-net/gannet/acl"
)

// An apply publishes the policy programs it had to build as linear scans
// (acl.ProgramCache.SetDefer: correct at once, built in time linear in
// their rules), so a change that moves endpoints between rule selectors
// is in force within milliseconds instead of after a decision-tree build
// of every program it touched. The optimizer then builds those trees off
// the apply loop, one program after another, and each program switches to
// its trees in place: no decision changes, and until then only the first
// packets of new flows of those programs pay for the scan (established
// flows skip policy).
type optimizer struct {
	log *slog.Logger

	mu      sync.Mutex
	idle    *sync.Cond
	queue   []*acl.Program
	running bool
}

func newOptimizer(log *slog.Logger) *optimizer {
	o := &optimizer{log: log}
	o.idle = sync.NewCond(&o.mu)
	return o
}

// add queues programs and starts the builder when none runs.
func (o *optimizer) add(progs []*acl.Program) {
	if len(progs) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queue = append(o.queue, progs...)
	if !o.running {
		o.running = true
		go o.drain()
	}
}

// drain builds the queued programs' trees until the queue is empty.
func (o *optimizer) drain() {
	t0, n := time.Now(), 0
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.running = false
			o.idle.Broadcast()
			o.mu.Unlock()
			o.log.Info("policy trees built", "programs", n, "duration", time.Since(t0).Round(time.Microsecond))
			return
		}
		p := o.queue[0]
		o.queue = o.queue[1:]
		o.mu.Unlock()
		if err := p.Optimize(); err != nil {
			// The scan stays: correct, only slower for new flows.
			o.log.Warn("policy program keeps its linear scan", "err", err)
		}
		n++
	}
}

// wait returns once every queued program has its trees (tests and
// benchmarks).
func (o *optimizer) wait() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.running {
		o.idle.Wait()
	}
}
