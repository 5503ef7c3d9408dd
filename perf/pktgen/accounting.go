// Receive accounting: every parsed payload header goes through
// Tracker.Add, which keeps per flow the next expected sequence number and
// a 64-packet window of what arrived behind it, so late packets count as
// reordered, repeats as duplicates, and gaps that never fill as lost.

package pktgen

// window is how many sequence numbers behind the highest one a Tracker
// can tell a late arrival from a duplicate.
const window = 64

// flowState is one flow's receive state.
type flowState struct {
	next    uint32 // highest sequence seen + 1
	started bool   // a packet of the flow arrived
	// seen has bit k set when sequence next-1-k arrived.
	seen uint64
}

// Tracker counts received packets per flow. Not safe for concurrent use:
// one receiver goroutine owns it (merge several with Merge).
type Tracker struct {
	flows      []flowState
	Received   uint64 // payload headers of known flows
	Reordered  uint64 // arrived after a higher sequence number of the same flow
	Duplicates uint64 // a sequence number seen before (within the window)
	Unknown    uint64 // flow number outside the tracker's flows
}

// NewTracker returns a tracker for flows 0..n-1.
func NewTracker(n int) *Tracker { return &Tracker{flows: make([]flowState, n)} }

// Add accounts one received header. It allocates nothing.
func (t *Tracker) Add(flow uint16, seq uint32) {
	if int(flow) >= len(t.flows) {
		t.Unknown++
		return
	}
	t.Received++
	f := &t.flows[flow]
	d := int32(seq - f.next) // serial arithmetic: sequence numbers wrap
	switch {
	case d >= 0 || !f.started:
		f.started = true
		shift := uint64(d) + 1
		if shift >= window {
			f.seen = 1
		} else {
			f.seen = f.seen<<shift | 1
		}
		f.next = seq + 1
	default:
		k := uint64(-d) - 1 // how far behind the highest sequence
		if k >= window {
			t.Reordered++ // too late to tell apart from a duplicate; call it late
			return
		}
		if f.seen&(1<<k) != 0 {
			t.Duplicates++
			return
		}
		f.seen |= 1 << k
		t.Reordered++
	}
}

// Expected returns how many packets the flows' highest sequence numbers
// say were sent up to now (sum over flows of highest+1). Senders number
// each flow from 0; past 2^32 packets of one flow the figure wraps.
func (t *Tracker) Expected() uint64 {
	var n uint64
	for i := range t.flows {
		n += uint64(t.flows[i].next)
	}
	return n
}

// Lost returns the packets missing below each flow's highest sequence
// number: Expected minus the distinct packets received. Packets lost
// after a flow's last arrival are invisible here; compare with the
// sender's count for those.
func (t *Tracker) Lost() uint64 {
	got := t.Received - t.Duplicates
	if e := t.Expected(); e > got {
		return e - got
	}
	return 0
}

// Merge adds the counts of o, which tracked other flows of the same set
// (receivers split flows between them), into t. Flow states of o replace
// those of t where o saw the flow.
func (t *Tracker) Merge(o *Tracker) {
	t.Received += o.Received
	t.Reordered += o.Reordered
	t.Duplicates += o.Duplicates
	t.Unknown += o.Unknown
	for i := range min(len(t.flows), len(o.flows)) {
		if o.flows[i].started {
			t.flows[i] = o.flows[i]
		}
	}
}
