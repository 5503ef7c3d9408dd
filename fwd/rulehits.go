// Rule hits: every packet a policy program evaluates (a new flow's first
// packet with conntrack, every packet without) adds one to the counter of
// the rule that decided it, and of the Log rule that marked it. Counters
// are per endpoint and direction, one row per worker (each worker writes
// only its row, a cache line apart from the others'), summed on read.

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
	c      []atomic.Uint64
}

// NewRuleHits returns zeroed counters for p's rules with a row for each
// of workers workers (at least one; a worker whose index is past the
// last row shares a row, which stays correct, only slower).
func NewRuleHits(p *acl.Program, workers int) *RuleHits {
	workers = max(workers, 1)
	n := len(p.Rules()) + 1
	stride := (n + 7) &^ 7 // whole cache lines: no two workers write one
	return &RuleHits{prog: p, rules: n - 1, stride: stride, rows: workers, c: make([]atomic.Uint64, stride*workers)}
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

// add counts one hit of rule (an index of Program().Rules() or
// acl.RuleDefaultDeny) in row; other values are not rules and count
// nothing.
func (h *RuleHits) add(row int, rule int32) {
	i := int(rule)
	if rule == acl.RuleDefaultDeny {
		i = h.rules
	} else if rule < 0 || i >= h.rules {
		return
	}
	if row >= h.rows {
		row %= h.rows
	}
	h.c[row*h.stride+i].Add(1)
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
