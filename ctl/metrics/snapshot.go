package metrics

// Snapshot: one scrape's copy of the daemon's state, filled on the
// daemon's loop (ctl) from the workers' published counters, the ports'
// sockets and programs, and the tables; the Collector only reads it.

import (
	"net/netip"
	"time"

	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/xsk"
)

// Snapshot is what one scrape exports.
type Snapshot struct {
	Version    string
	Workers    []Worker // by worker index (the queue each opens on every port)
	Interfaces []Interface
	Endpoints  []Endpoint
	Routes     []Routes
	// FastPath is nil when the kernel fast path is off.
	FastPath *fwd.OffloadStats
	// Conntrack is nil when connection tracking is off.
	Conntrack *Conntrack
	NAT       []NATAddress
	Apply     ApplyStats
	// RuleHits are the policy rules that decided packets (hits > 0).
	RuleHits []RuleHit
}

// RuleHit is how many packets one rule of an endpoint's program decided.
type RuleHit struct {
	Endpoint, Direction string
	Policy, Profile     string // the rule's document; both empty for the default deny
	Index               int    // the rule's position in its document's direction; -1: the default deny
	Action              string
	Hits                uint64
}

// Worker is one worker's counters.
type Worker struct {
	Stats      fwd.Stats
	LostFrames uint64 // frames detached ports did not give back
}

// Interface is one port gannet forwards on.
type Interface struct {
	Name     string
	Role     string // uplink or workload
	Endpoint string // workload ports: the endpoint's name
	Up       bool   // attached and its link up
	// Queues are the port's counters per queue (worker i serves queue
	// i); empty when no worker holds the port.
	Queues []Queue
	// XDP is the port's XDP program's decisions; nil when the port is
	// not attached. FastPath: the program has the fast path.
	XDP      *bpf.Stats
	FastPath bool
	// Fast is what the kernel fast path forwarded for flows arriving on
	// (rx) and leaving by (tx) the port, which no queue saw; nil when the
	// fast path is off. Exported as queue="fast".
	Fast *fwd.PortStats
}

// Queue is one queue of a port: what its worker counted, and the
// kernel's XDP_STATISTICS of its socket (nil: no socket, or unreadable).
type Queue struct {
	fwd.PortStats
	Ring *xsk.Stats
}

// Endpoint is one workload endpoint and the state of its port.
type Endpoint struct {
	Name  string
	State string // up, down, missing, error
}

// EndpointStates are the states an endpoint's port can be in (ctl's
// port.state); each is exported, zero or not.
var EndpointStates = []string{"up", "down", "missing", "error"}

// Routes counts one address space's routes per family.
type Routes struct {
	Space  uint16
	V4, V6 int
}

// Conntrack is the connection table's fill.
type Conntrack struct {
	Sessions, Capacity int
}

// NATAddress is one external address's port reservations.
type NATAddress struct {
	Addr netip.Addr
	// InUse counts TCP and UDP ports and ICMP identifiers together;
	// RangeSize is the ports each protocol may use on the address.
	InUse, RangeSize int
}

// Ringer is a port that reads its socket's XDP_STATISTICS
// (*fwd.XSKPort).
type Ringer interface {
	Stats() (xsk.Stats, error)
}

// ReadWorkers copies each worker's published counters.
func ReadWorkers(ws []*fwd.Worker) []Worker {
	out := make([]Worker, len(ws))
	for i, w := range ws {
		out[i] = Worker{Stats: w.Stats(), LostFrames: w.Lost()}
	}
	return out
}

// ReadQueues copies slot's counters from every worker and the ring
// statistics of socks (socks[i] is worker i's socket on the port; nil or
// short: none).
func ReadQueues(ws []*fwd.Worker, slot int, socks []Ringer) []Queue {
	out := make([]Queue, len(ws))
	for i, w := range ws {
		out[i].PortStats = w.PortStats(slot)
		if i < len(socks) && socks[i] != nil {
			if st, err := socks[i].Stats(); err == nil {
				out[i].Ring = &st
			}
		}
	}
	return out
}

// ApplyBuckets are the upper bounds (seconds) of the apply duration
// histogram: an endpoint change takes milliseconds, a policy or routing
// change with a full table up to seconds.
var ApplyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ApplySources are where applies come from (ctl's apply sources).
var ApplySources = []string{"start", "reload", "api"}

// ApplyStats is the apply duration histogram and failure counts. The
// daemon's loop owns one and observes every apply; a Snapshot holds a
// copy. The zero value is ready.
type ApplyStats struct {
	Buckets  [len(ApplyBuckets)]uint64 // by ApplyBuckets, not cumulative
	Count    uint64
	Sum      float64 // seconds
	Failures map[string]uint64
}

// Observe records one apply from source that took d and succeeded or not.
func (a *ApplyStats) Observe(source string, d time.Duration, ok bool) {
	s := d.Seconds()
	for i, le := range ApplyBuckets {
		if s <= le {
			a.Buckets[i]++
			break
		}
	}
	a.Count++
	a.Sum += s
	if !ok {
		a.Fail(source)
	}
}

// Fail counts a failed apply that was never timed (a file that could not
// be read).
func (a *ApplyStats) Fail(source string) {
	if a.Failures == nil {
		a.Failures = map[string]uint64{}
	}
	a.Failures[source]++
}

// Copy returns a copy that shares nothing with a.
func (a *ApplyStats) Copy() ApplyStats {
	c := *a
	c.Failures = make(map[string]uint64, len(a.Failures))
	for k, v := range a.Failures {
		c.Failures[k] = v
	}
	return c
}
