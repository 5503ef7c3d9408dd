// Policy logs: a packet a Log rule marks leaves a record — endpoint,
// direction, the Log rule, the deciding rule and verdict, the 5-tuple —
// in the worker's bounded ring, at most Config.PolicyLogRate per second
// and worker (a token bucket refilled from the clock read once per
// round, as ICMP errors are). A record the bucket refuses is counted
// rate-limited, one the full ring refuses ring-full; neither ever waits.
// The control plane drains the rings (Worker.DrainPolicyLog) into the log.

package fwd

import "github.com/gannet-net/gannet/acl"

// DefaultPolicyLogRate is Config.PolicyLogRate when it is zero: records
// per second and worker.
const DefaultPolicyLogRate = 100

// policyLogSlots is the depth of a worker's ring: a few seconds of the
// default rate, so a consumer that drains every 100ms never loses one.
const policyLogSlots = 1024

// logBurst is the bucket's depth: one second's worth of records.
const logBurst = int64(1e9)

// PolicyLog is one record of a packet a Log rule marked.
type PolicyLog struct {
	TimeNs   int64 // the worker's clock at the batch
	Endpoint string
	Dir      acl.PolicyType
	// Program's rules name the Log rule and the deciding one
	// (Rule may also be acl.RuleDefaultDeny).
	Program *acl.Program
	LogRule int32
	Rule    int32
	Verdict acl.Verdict
	Key     acl.PacketKey // the packet as the program saw it
}

// LogOutcome is what became of a record a Log rule asked for.
type LogOutcome uint8

const (
	LogQueued      LogOutcome = iota // put on the worker's ring
	LogRateLimited                   // the worker's token bucket was empty
	LogRingFull                      // the ring was full: the control plane is behind
	NumLogOutcomes
)

var logOutcomeNames = [NumLogOutcomes]string{"queued", "rate-limited", "ring-full"}

func (o LogOutcome) String() string {
	if o < NumLogOutcomes {
		return logOutcomeNames[o]
	}
	return "log?"
}

// observe counts the rule that decided a packet the program evaluated
// (and the Log rule that marked it) and logs the marked ones.
func (w *Worker) observe(ep *endpoint, dir acl.PolicyType, d acl.Decision, k *acl.PacketKey) {
	h := ep.egHits
	if dir == acl.Ingress {
		h = ep.inHits
	}
	if h != nil {
		w.countHit(h, d.Rule)
	}
	if !d.Log {
		return
	}
	if h != nil {
		w.countHit(h, d.LogRule)
	}
	w.policyLog(ep, dir, d, k)
}

func (w *Worker) policyLog(ep *endpoint, dir acl.PolicyType, d acl.Decision, k *acl.PacketKey) {
	if w.logRate < 0 {
		w.c.policyLog[LogRateLimited]++
		return
	}
	w.logTokens += w.nowNs - w.logLast
	w.logLast = w.nowNs
	if w.logTokens > logBurst {
		w.logTokens = logBurst
	}
	cost := logBurst / int64(w.logRate)
	if w.logTokens < cost {
		w.c.policyLog[LogRateLimited]++
		return
	}
	rec := w.plog.slot()
	if rec == nil {
		w.c.policyLog[LogRingFull]++
		return
	}
	w.logTokens -= cost
	prog := ep.egress
	if dir == acl.Ingress {
		prog = ep.ingress
	}
	*rec = PolicyLog{TimeNs: w.nowNs, Endpoint: ep.name, Dir: dir, Program: prog, LogRule: d.LogRule, Rule: d.Rule, Verdict: d.Verdict, Key: *k}
	w.plog.push()
	w.c.policyLog[LogQueued]++
}

// DrainPolicyLog hands every record the worker queued since the last
// call to fn, oldest first, and returns how many there were. One
// goroutine at a time (the control plane's drainer) may call it.
func (w *Worker) DrainPolicyLog(fn func(*PolicyLog)) int {
	return w.plog.pop(fn)
}
