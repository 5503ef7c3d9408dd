package ctl

// What the daemon shows of the data path at work. Rule hits: the
// counters of the running programs (compile.go keeps them), summed for
// GET /v1/policy/{endpoint} and for the metrics collector (RuleHits).
// Policy logs: a drainer goroutine empties every worker's ring of Log
// records each policyLogEvery and writes one log line per record; the
// workers' token buckets bound the rate (fwd.Config.PolicyLogRate per
// worker and second), and what they refused is counted and reported.
// Captures: POST /v1/capture asks the loop to add a capture to the set
// the workers see, then streams what the workers copied as pcap until
// the count, the client, the interface or the daemon ends it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/capfilter"
	"github.com/gannet-net/gannet/internal/pcapio"
	"github.com/gannet-net/gannet/pkt"
)

const (
	// policyLogEvery is how often the rings are drained: at the default
	// rate a ring (1024 records) holds ten seconds.
	policyLogEvery = 100 * time.Millisecond
	// policyLogDropsEvery bounds the "records dropped" warnings.
	policyLogDropsEvery = 10 * time.Second
	// maxCaptures is how many captures may run at once (all ports): each
	// costs the workers a copy per captured frame and memory for its
	// rings, and a worker looks at every capture for every batch.
	maxCaptures = 8
	// captureSlots is each worker's ring depth for one capture.
	captureSlots = 1024
	// captureEvery is how often a capture's rings are drained.
	captureEvery = 20 * time.Millisecond
)

// ruleHitsOf returns the summed hits of ep's programs (nil: none). The
// loop only.
func (d *Daemon) ruleHitsOf(ep string) (in, eg []uint64) {
	h := d.dp.st.hits.byEP[ep]
	if h[0] != nil {
		in = h[0].Sum()
	}
	if h[1] != nil {
		eg = h[1].Sum()
	}
	return in, eg
}

// RuleHits lists the hit count of every rule of every endpoint's
// programs (and each program's default deny, Index -1), by endpoint and
// direction in order: what the metrics collector exports.
func (d *Daemon) RuleHits() []api.RuleHits {
	var out []api.RuleHits
	d.do(func() { out = d.ruleHits() })
	return out
}

// ruleHits is RuleHits on the loop.
func (d *Daemon) ruleHits() []api.RuleHits {
	var out []api.RuleHits
	{
		names := slices.Sorted(func(yield func(string) bool) {
			for name := range d.dp.st.hits.byEP {
				if !yield(name) {
					return
				}
			}
		})
		for _, name := range names {
			for dir, h := range d.dp.st.hits.byEP[name] {
				if h == nil {
					continue
				}
				direction := [2]string{"ingress", "egress"}[dir]
				sums := h.Sum()
				for i, ref := range h.Program().Rules() {
					out = append(out, api.RuleHits{Endpoint: name, Direction: direction, Policy: ref.Policy, Profile: ref.Profile,
						Index: ref.Index, Action: string(ref.Action), Hits: sums[i]})
				}
				out = append(out, api.RuleHits{Endpoint: name, Direction: direction, Index: -1, Action: string(acl.Deny), Hits: sums[len(sums)-1]})
			}
		}
	}
	return out
}

// runPolicyLog drains the workers' policy log rings into the log until
// ctx ends, then once more.
func (d *Daemon) runPolicyLog(ctx context.Context, workers []*fwd.Worker) {
	tick := time.NewTicker(policyLogEvery)
	defer tick.Stop()
	var lastDrops [fwd.NumLogOutcomes]uint64
	lastWarn := time.Time{}
	drain := func() {
		for _, w := range workers {
			w.DrainPolicyLog(d.logRecord)
		}
		if time.Since(lastWarn) < policyLogDropsEvery {
			return
		}
		var s [fwd.NumLogOutcomes]uint64
		for _, w := range workers {
			st := w.Stats()
			for i, n := range st.PolicyLog {
				s[i] += n
			}
		}
		limited, full := s[fwd.LogRateLimited]-lastDrops[fwd.LogRateLimited], s[fwd.LogRingFull]-lastDrops[fwd.LogRingFull]
		if limited+full > 0 {
			d.log.Warn("policy log records dropped", "rate-limited", limited, "ring-full", full)
			lastWarn = time.Now()
		}
		lastDrops = s
	}
	for {
		select {
		case <-ctx.Done():
			drain()
			return
		case <-tick.C:
			drain()
		}
	}
}

// logRecord writes one policy log line.
func (d *Daemon) logRecord(r *fwd.PolicyLog) {
	rules := r.Program.Rules()
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("endpoint", r.Endpoint), slog.String("direction", strings.ToLower(string(r.Dir))))
	if int(r.LogRule) < len(rules) {
		ref := rules[r.LogRule]
		if ref.Policy != "" {
			attrs = append(attrs, slog.String("policy", ref.Policy))
		} else {
			attrs = append(attrs, slog.String("profile", ref.Profile))
		}
		attrs = append(attrs, slog.Int("rule", ref.Index))
	}
	decided := "default-deny"
	if r.Rule >= 0 && int(r.Rule) < len(rules) {
		decided = rules[r.Rule].String()
	}
	k := &r.Key
	src, dst := keyAddr(k.Family, &k.Src), keyAddr(k.Family, &k.Dst)
	attrs = append(attrs, slog.String("verdict", r.Verdict.String()), slog.String("decided-by", decided),
		slog.String("proto", protoName(k.Proto)), slog.String("src", src.String()), slog.String("dst", dst.String()))
	if k.Proto == pkt.ProtoICMP || k.Proto == pkt.ProtoICMPv6 {
		attrs = append(attrs, slog.Int("icmp-type", int(k.SrcPort)), slog.Int("icmp-code", int(k.DstPort)))
	} else {
		attrs = append(attrs, slog.Int("sport", int(k.SrcPort)), slog.Int("dport", int(k.DstPort)))
	}
	d.log.LogAttrs(context.Background(), slog.LevelInfo, "policy log", attrs...)
}

func keyAddr(f pkt.Family, a *[16]byte) netip.Addr {
	if f == pkt.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// captureSession is one running capture. The loop owns the list.
type captureSession struct {
	iface string
	cp    *fwd.Capture
	snap  int
	gone  chan struct{} // closed when the loop ended it (its port went away)
	ended bool
}

// startCapture validates req and adds its capture to the workers' set.
func (d *Daemon) startCapture(req api.CaptureRequest) (*captureSession, int, error) {
	var dir fwd.Direction
	switch req.Direction {
	case "", "both":
		dir = fwd.DirRx | fwd.DirTx
	case "rx":
		dir = fwd.DirRx
	case "tx":
		dir = fwd.DirTx
	default:
		return nil, http.StatusBadRequest, api.FieldError{Field: "direction", Message: fmt.Sprintf("%q is not rx, tx or both", req.Direction)}
	}
	f, err := capfilter.Parse(req.Filter)
	if err != nil {
		return nil, http.StatusBadRequest, api.FieldError{Field: "filter", Message: strings.TrimPrefix(err.Error(), "filter: ")}
	}
	if req.Count < 0 {
		return nil, http.StatusBadRequest, api.FieldError{Field: "count", Message: fmt.Sprintf("%d is negative", req.Count)}
	}
	if req.Snap < 0 || req.Snap > 1<<16 {
		return nil, http.StatusBadRequest, api.FieldError{Field: "snap", Message: fmt.Sprintf("%d: want 0 (whole frames) to 65536", req.Snap)}
	}
	var (
		s    *captureSession
		code       = http.StatusServiceUnavailable
		ferr error = api.FieldError{Message: "gannet is stopping"}
	)
	d.do(func() {
		pt, ok := d.ports[req.Interface]
		switch {
		case !ok:
			code, ferr = http.StatusNotFound, api.FieldError{Field: "interface", Message: fmt.Sprintf("%q is not an interface of gannet's", req.Interface)}
			return
		case len(d.captures) >= maxCaptures:
			code, ferr = http.StatusConflict, api.FieldError{Message: fmt.Sprintf("%d captures run already (at most %d at once): end one first", len(d.captures), maxCaptures)}
			return
		}
		snap := d.plan.FrameSize
		if req.Snap > 0 {
			snap = min(req.Snap, snap)
		}
		cp, err := fwd.NewCapture(fwd.CaptureConfig{Port: pt.slot, Dir: dir, Filter: f, Workers: len(d.dp.workers), Slots: captureSlots, Snap: snap})
		if err != nil {
			code, ferr = http.StatusInternalServerError, err
			return
		}
		s = &captureSession{iface: pt.name, cp: cp, snap: snap, gone: make(chan struct{})}
		d.captures = append(d.captures, s)
		d.publishCaptures()
		d.log.Info("capture started", "iface", pt.name, "direction", dir.String(), "filter", f.String(), "count", req.Count)
	})
	if s == nil {
		return nil, code, ferr
	}
	return s, 0, nil
}

// endCapture takes s out of the workers' set (any goroutine).
func (d *Daemon) endCapture(s *captureSession, sent int) {
	d.do(func() { d.dropCapture(s, "ended", sent) })
}

// dropCapture takes s out of the set. The loop only.
func (d *Daemon) dropCapture(s *captureSession, why string, sent int) {
	i := slices.Index(d.captures, s)
	if i < 0 {
		return
	}
	d.captures = slices.Delete(d.captures, i, i+1)
	d.publishCaptures()
	if !s.ended {
		s.ended = true
		close(s.gone)
	}
	d.log.Info("capture "+why, "iface", s.iface, "captured", sent, "dropped", s.cp.Dropped())
}

// endCapturesOf ends the captures of a port that goes away (its slot
// may be another port's next). The loop only.
func (d *Daemon) endCapturesOf(iface string) {
	for _, s := range slices.Clone(d.captures) {
		if s.iface == iface {
			d.dropCapture(s, "ended: interface removed", -1)
		}
	}
}

// publishCaptures gives the workers the running captures: one store.
func (d *Daemon) publishCaptures() {
	caps := make([]*fwd.Capture, len(d.captures))
	for i, s := range d.captures {
		caps[i] = s.cp
	}
	d.dp.caps.Store(fwd.NewCaptureSet(caps))
}

// captureHandler answers POST /v1/capture with a pcap stream.
func (d *Daemon) captureHandler(w http.ResponseWriter, r *http.Request) {
	var req api.CaptureRequest
	if !decode(w, r, &req) {
		return
	}
	s, code, err := d.startCapture(req)
	if err != nil {
		var fe api.FieldError
		if errors.As(err, &fe) {
			fail(w, code, fe)
		} else {
			failErr(w, code, err)
		}
		return
	}
	sent := 0
	defer func() { d.endCapture(s, sent) }()
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Trailer", api.TrailerCaptured+", "+api.TrailerDropped)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	pw, err := pcapio.NewWriter(w, s.snap)
	if err != nil {
		return
	}
	rc.Flush() // the header: a reader (tcpdump -r -) starts at once
	tick := time.NewTicker(captureEvery)
	defer tick.Stop()
	var werr error
	done := func() bool { return req.Count > 0 && sent >= req.Count }
	write := func(f *fwd.CapturedFrame) {
		if werr != nil || done() {
			return // the rest of the rings is discarded
		}
		if werr = pw.WritePacket(time.Unix(0, f.TimeNs), f.Data, f.OrigLen); werr == nil {
			sent++
		}
	}
	for werr == nil && !done() {
		stop := false
		select {
		case <-r.Context().Done():
			stop = true
		case <-s.gone:
			stop = true
		case <-d.quit:
			stop = true
		case <-tick.C:
		}
		if s.cp.Drain(write) > 0 && werr == nil {
			werr = rc.Flush()
		}
		if stop {
			break
		}
	}
	w.Header().Set(api.TrailerCaptured, strconv.Itoa(sent))
	w.Header().Set(api.TrailerDropped, strconv.FormatUint(s.cp.Dropped(), 10))
}
