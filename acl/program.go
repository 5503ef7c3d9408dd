// Packets flow through here on the data path: a Program holds the
// compiled classifiers of one endpoint and direction, and turns a
// PacketKey (plus the connection's state from conntrack) into a Decision.

package acl

import (
	"errors"
	"fmt"
	"math"
)

// Verdict is the outcome of policy for one packet.
type Verdict uint8

const (
	Drop   Verdict = iota // denied by a rule, or by default
	Accept                // allowed
)

func (v Verdict) String() string {
	if v == Accept {
		return "accept"
	}
	return "drop"
}

// Decision is what a Program says about one packet.
type Decision struct {
	Verdict Verdict
	// Log is set when a Log rule was reached before the deciding rule.
	Log bool
	// Rule is the index of the deciding rule in Program.Rules, or one of
	// RuleDefaultDeny and RuleConnTrack.
	Rule int32
	// LogRule is the index in Program.Rules of the first Log rule that
	// marked the packet, when Log is set.
	LogRule int32
}

const (
	// RuleDefaultDeny: no rule allowed the packet (a policy applied, or
	// the profiles ended without an Allow).
	RuleDefaultDeny int32 = -1
	// RuleConnTrack: the packet belongs to an established or related
	// connection and skipped policy.
	RuleConnTrack int32 = -2
	// RuleInvalidState: conntrack said the packet is invalid for its
	// connection; dropped without a lookup.
	RuleInvalidState int32 = -3
)

// RuleRef names a policy or profile rule (for counters and logs).
type RuleRef struct {
	Policy  string // set for policy rules
	Profile string // set for profile rules
	Dir     PolicyType
	Index   int
	Action  Action
}

func (r RuleRef) String() string {
	if r.Policy != "" {
		return fmt.Sprintf("policy %q %s[%d]", r.Policy, r.Dir, r.Index)
	}
	return fmt.Sprintf("profile %q %s[%d]", r.Profile, r.Dir, r.Index)
}

// ConnState is the connection-tracking state of a packet as the data path
// learns it from nat's connection table (fwd glues the two: acl does not
// import nat, nat does not import acl).
type ConnState uint8

const (
	// ConnNew: no tracked connection (or nat does not track this flow);
	// the packet goes through policy.
	ConnNew ConnState = iota
	// ConnEstablished: a packet of a connection whose first packet policy
	// allowed, in either direction.
	ConnEstablished
	// ConnRelated: an ICMP error quoting a tracked connection.
	ConnRelated
	// ConnInvalid: conntrack found the packet inconsistent with its
	// connection (e.g. a TCP segment out of any window); it is dropped.
	ConnInvalid
)

// Program is the compiled policy of one endpoint in one direction.
//
// Evaluation follows Calico: the policies that select the endpoint for
// this direction, in order; in each, the first matching rule acts: Allow
// and Deny end evaluation, Log marks the packet and continues with the
// next rule, Pass skips every remaining policy and goes to the profiles.
// A policy none of whose rules match falls through to the next policy.
// When at least one policy applies and none decided, the packet is denied.
// When no policy applies, or a rule passed, the endpoint's profiles are
// evaluated in the order the endpoint lists them, with the same rule
// semantics; Pass inside a profile ends profile evaluation, and a packet
// no profile rule allowed is denied.
//
// Internally: one classifier over the Allow/Deny/Pass rules of the
// policies (ending in a catch-all Deny when a policy applies), one over
// the profiles' rules (ending in a catch-all Deny), and one more per stage
// for its Log rules, whose first match is logged when it comes before the
// deciding rule. A packet costs one lookup, two with Pass or no policy,
// and one more per stage that has Log rules.
type Program struct {
	pol, prof       stage
	rules           []RuleRef
	PoliciesApplied bool // at least one policy selects the endpoint in this direction
}

type stage struct {
	verdict *Classifier
	acts    []act // per verdict classifier rule
	log     *Classifier
	logPos  []int32 // per log classifier rule: its position
	logRule []int32 // per log classifier rule: its index in Program.rules
}

type act struct {
	action Action
	rule   int32 // index into Program.rules, or RuleDefaultDeny
	pos    int32 // evaluation position of the policy rule
}

// Rules returns the rules a Decision.Rule indexes.
func (p *Program) Rules() []RuleRef { return p.rules }

// Check is the data path's entry point: packets of established or related
// connections skip policy (policy is stateful: the first packet was
// checked), invalid ones are dropped, new ones are evaluated.
func (p *Program) Check(state ConnState, k *PacketKey) Decision {
	switch state {
	case ConnEstablished, ConnRelated:
		return Decision{Verdict: Accept, Rule: RuleConnTrack}
	case ConnInvalid:
		return Decision{Verdict: Drop, Rule: RuleInvalidState}
	}
	return p.Evaluate(k)
}

// Evaluate runs the policy for a packet without connection state.
func (p *Program) Evaluate(k *PacketKey) Decision {
	var d Decision
	if a, ok := p.pol.eval(k, &d); ok && a.action != Pass {
		return d.set(a)
	}
	if a, ok := p.prof.eval(k, &d); ok {
		return d.set(a)
	}
	// Only a key of no family gets here: nothing matches it.
	return Decision{Verdict: Drop, Rule: RuleDefaultDeny, Log: d.Log, LogRule: d.LogRule}
}

func (d Decision) set(a act) Decision {
	d.Rule = a.rule
	d.Verdict = Drop
	if a.action == Allow {
		d.Verdict = Accept
	}
	return d
}

// eval returns the stage's deciding rule and sets d.Log when a Log rule
// comes first.
func (s *stage) eval(k *PacketKey, d *Decision) (act, bool) {
	pos := int32(math.MaxInt32)
	var a act
	ok := false
	if s.verdict != nil {
		if i := s.verdict.matchPacket(k); i >= 0 {
			a, ok = s.acts[i], true
			pos = a.pos
		}
	}
	if s.log != nil {
		if i := s.log.matchPacket(k); i >= 0 && s.logPos[i] < pos && !d.Log {
			d.Log, d.LogRule = true, s.logRule[i]
		}
	}
	return a, ok
}

// anyBoxes match every packet of one family.
var anyBox4, anyBox6 = fullBox(dims4), fullBox(dims6)
var anyBoxes4, anyBoxes6 = []box{anyBox4}, []box{anyBox6}

func fullBox(nd int) box {
	var b box
	for d := range nd {
		b.r[d] = rng{0, ^uint32(0)}
	}
	b.r[nd-3], b.r[nd-2], b.r[nd-1] = rng{0, 65535}, rng{0, 65535}, rng{0, 255}
	return b
}

// buildProgram builds a program; deferred builds its large classifiers
// as linear scans that Optimize turns into trees (compileScansDeferred).
func buildProgram(applies bool, pols, profs [][]*parsedRule, boxes func(*parsedRule) famBoxes, deferred bool) (*Program, error) {
	p := &Program{PoliciesApplied: applies}
	build := compileScans
	if deferred {
		build = compileScansDeferred
	}
	var err error
	if len(pols) > 0 {
		if p.pol, err = p.buildStage(pols, boxes, build, false, applies); err != nil {
			return nil, err
		}
	}
	if p.prof, err = p.buildStage(profs, boxes, build, true, true); err != nil {
		return nil, err
	}
	return p, nil
}

// Optimize builds the decision trees of a program built deferred (see
// ProgramCache.SetDefer) and switches its lookups to them; a program
// built whole returns at once. Decisions never change, only their cost.
// Safe while the data path evaluates the program.
func (p *Program) Optimize() error {
	var errs []error
	for _, c := range []*Classifier{p.pol.verdict, p.pol.log, p.prof.verdict, p.prof.log} {
		if c != nil {
			if err := c.Optimize(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Program) buildStage(lists [][]*parsedRule, boxes func(*parsedRule) famBoxes,
	build func(s4, s6 []scanRule, n, binth int) (*Classifier, error), profile, defaultDeny bool) (stage, error) {
	var s stage
	// Each rule's boxes stay where the compiler made them (shared by every
	// program with the rule); the stage lists them with its rule numbers,
	// and the classifier copies them out only when it builds its trees.
	var v4, v6, l4, l6 []scanRule
	pos := int32(0)
	for _, list := range lists {
		for _, r := range list {
			ri := int32(len(p.rules))
			p.rules = append(p.rules, r.ref)
			action := r.ref.Action
			if profile && action == Pass {
				action = Deny // Pass ends profile evaluation: nothing allowed the packet
			}
			fb := boxes(r)
			if action == Log {
				i := int32(len(s.logPos))
				l4 = append(l4, scanRule{fb.v4, i})
				l6 = append(l6, scanRule{fb.v6, i})
				s.logPos = append(s.logPos, pos)
				s.logRule = append(s.logRule, ri)
			} else {
				i := int32(len(s.acts))
				v4 = append(v4, scanRule{fb.v4, i})
				v6 = append(v6, scanRule{fb.v6, i})
				s.acts = append(s.acts, act{action: action, rule: ri, pos: pos})
			}
			pos++
		}
	}
	if defaultDeny {
		i := int32(len(s.acts))
		v4 = append(v4, scanRule{anyBoxes4, i})
		v6 = append(v6, scanRule{anyBoxes6, i})
		s.acts = append(s.acts, act{action: Deny, rule: RuleDefaultDeny, pos: pos})
	}
	var err error
	if len(s.acts) > 0 {
		if s.verdict, err = build(v4, v6, len(s.acts), defaultBinth); err != nil {
			return s, err
		}
	}
	if len(s.logPos) > 0 {
		if s.log, err = build(l4, l6, len(s.logPos), defaultBinth); err != nil {
			return s, err
		}
	}
	return s, nil
}
