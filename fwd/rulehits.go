// Rule hits: every packet a policy program evaluates (a new flow's first
// packet with conntrack, every packet without) adds one to the counter of
// the rule that decided it, and of the Log rule that marked it. Counters
// are per endpoint and direction, one row per worker, summed on read. A
// worker counts in a private row with plain increments, notes which
// counters it touched, and publishes those with one atomic store each at
// the end of its round (as it publishes its other counters): a plain
// increment per packet instead of a locked add, and at most one atomic
// store per counter and round. BenchmarkRuleHits measures the cost.

package fwd

import (
	"fmt"
	"sync/atomic"

	"github.com/gannet-net/gannet/acl"
)

// RuleHits counts hits of the rules of one endpoint's program in one
// direction. Make one per endpoint and direction with NewRuleHits and
// hand it to the tables in EndpointConfig; handing the same RuleHits to
// the next tables (same program) carries its counts over a change.
type RuleHits struct {
	prog   *acl.Program
	rules  int // len(prog.Rules()); slot rules is the default deny
	stride int
	rows   int
	c      []atomic.Uint64 // published: written by each row's worker, read by anyone
	priv   []uint64        // each row's worker's own counts; no one else reads them
}

// NewRuleHits returns zeroed counters for p's rules with a row for each
// of workers workers (at least one; a worker whose index is past the
// last row counts nothing).
func NewRuleHits(p *acl.Program, workers int) *RuleHits {
	workers = max(workers, 1)
	n := len(p.Rules()) + 1
	stride := (n + 7) &^ 7 // whole cache lines: no two workers write one
	return &RuleHits{prog: p, rules: n - 1, stride: stride, rows: workers,
		c: make([]atomic.Uint64, stride*workers), priv: make([]uint64, stride*workers)}
}

// Program returns the program whose rules are counted.
func (h *RuleHits) Program() *acl.Program { return h.prog }

// Sum returns the hits of each rule of Program().Rules(), summed over the
// workers, followed by the default deny's (the packets no rule allowed
// where a policy applied or the profiles ended).
func (h *RuleHits) Sum() []uint64 {
	out := make([]uint64, h.rules+1)
	for r := range h.rows {
		row := h.c[r*h.stride:]
		for i := range out {
			out[i] += row[i].Load()
		}
	}
	return out
}

// hitRef is a counter a worker touched this round.
type hitRef struct {
	h *RuleHits
	i int
}

// maxTouched bounds the counters a worker notes before it publishes
// early: two programs and two rules each per packet of a batch.
const maxTouched = 4 * BatchSize

// countHit counts one hit of rule (an index of h's Program().Rules() or
// acl.RuleDefaultDeny; other values are not rules and count nothing) in
// the worker's row of h.
func (w *Worker) countHit(h *RuleHits, rule int32) {
	row := w.cfg.Index
	i := int(rule)
	if rule == acl.RuleDefaultDeny {
		i = h.rules
	} else if rule < 0 || i >= h.rules {
		return
	}
	if row >= h.rows {
		return
	}
	i += row * h.stride
	h.priv[i]++
	if w.ntouched == len(w.touched) {
		w.publishHits()
	}
	w.touched[w.ntouched] = hitRef{h, i}
	w.ntouched++
}

// publishHits stores the counters touched since the last call (a counter
// touched several times is stored once: the later ones see it current).
func (w *Worker) publishHits() {
	for j := range w.touched[:w.ntouched] {
		t := &w.touched[j]
		if v := t.h.priv[t.i]; t.h.c[t.i].Load() != v {
			t.h.c[t.i].Store(v)
		}
		t.h = nil // let go of tables that are replaced
	}
	w.ntouched = 0
}

// checkHits is NewTables' check of an endpoint's counters.
func checkHits(field string, p *acl.Program, h *RuleHits) (*RuleHits, error) {
	switch {
	case p == nil && h == nil:
		return nil, nil
	case p == nil:
		return nil, fmt.Errorf("%sHits: counters without a program", field)
	case h == nil:
		return NewRuleHits(p, 1), nil
	case h.prog != p:
		return nil, fmt.Errorf("%sHits: counters of another program", field)
	}
	return h, nil
}
