package ctl

// Reads and writes the API makes: each runs on the daemon's loop (do), so
// it sees one consistent state, and hands back copies in the API's shape.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/bgp"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
	"golang.org/x/sys/unix"
)

// Status answers GET /v1/status.
func (d *Daemon) Status() api.Status {
	var st api.Status
	d.do(func() {
		st = api.Status{
			Version: d.opts.Version, Node: d.plan.Name, Started: d.started,
			UptimeSeconds: time.Since(d.started).Seconds(), Config: d.opts.ConfigPath,
			Generation: d.gen,
		}
		for i, w := range d.dp.workers {
			st.Workers = append(st.Workers, api.Worker{Index: i, CPU: d.plan.Cores[i], LostFrames: w.Lost()})
		}
		for _, pt := range d.sortedPorts() {
			st.Ports = append(st.Ports, d.portStatus(pt))
		}
		if d.last != nil {
			l := *d.last
			st.LastApply = &l
		}
		if r := d.routing; r != nil && d.cur != nil {
			st.BGP = &api.BGPStatus{Routes: d.cur.tables.LearnedRoutes(), RIB: len(r.rib), Reconciled: r.reconciled}
		}
	})
	return st
}

func (d *Daemon) portStatus(pt *port) api.Port {
	p := api.Port{Interface: pt.name, Role: "workload", Endpoint: pt.endpoint, State: pt.state(), MTU: pt.cfgMTU}
	if pt.uplink {
		p.Role = "uplink"
	}
	if pt.link != nil {
		p.Ifindex = pt.link.index
		if p.MTU == 0 {
			p.MTU = pt.link.mtu
		}
	}
	if pt.err != nil {
		p.Error = pt.err.Error()
	}
	if pt.attached() {
		p.XDPMode, p.XSKMode, p.Copying = pt.xdpMode, pt.xskMode, pt.copying
	}
	return p
}

// Endpoints answers GET /v1/endpoints: every endpoint, file's first.
func (d *Daemon) Endpoints() []api.Endpoint {
	var out []api.Endpoint
	d.do(func() {
		for _, ep := range d.merged.WorkloadEndpoints {
			out = append(out, d.endpointView(ep))
		}
	})
	return out
}

// Endpoint answers GET /v1/endpoints/{name}.
func (d *Daemon) Endpoint(name string) (api.Endpoint, bool) {
	var (
		out api.Endpoint
		ok  bool
	)
	d.do(func() {
		for _, ep := range d.merged.WorkloadEndpoints {
			if ep.Name == name {
				out, ok = d.endpointView(ep), true
			}
		}
	})
	return out, ok
}

func (d *Daemon) endpointView(ep config.WorkloadEndpoint) api.Endpoint {
	e := toAPI(ep)
	e.Source = "file"
	if _, ok := d.apiEPs[ep.Name]; ok {
		e.Source = "api"
	}
	if pt, ok := d.ports[ep.Interface]; ok {
		e.State = pt.state()
	}
	return e
}

func toAPI(ep config.WorkloadEndpoint) api.Endpoint {
	return api.Endpoint{Name: ep.Name, Interface: ep.Interface, MAC: ep.MAC, IPNetworks: ep.IPNetworks,
		AddressSpace: ep.AddressSpace, Labels: ep.Labels, Profiles: ep.Profiles, MTU: ep.MTU}
}

func fromAPI(e api.Endpoint) config.WorkloadEndpoint {
	return config.WorkloadEndpoint{Name: e.Name, Interface: e.Interface, MAC: e.MAC, IPNetworks: e.IPNetworks,
		AddressSpace: e.AddressSpace, Labels: e.Labels, Profiles: e.Profiles, MTU: e.MTU}
}

// ErrNotFound: no such endpoint.
var ErrNotFound = errors.New("not found")

// PutEndpoint creates or replaces an API endpoint (PUT). It reports
// whether it created one; field errors name the endpoint's own fields
// (`ipNetworks[0]`), and then nothing changed.
func (d *Daemon) PutEndpoint(e api.Endpoint) (created bool, res *api.ApplyResult, err error) {
	d.do(func() {
		for i, fe := range d.file.WorkloadEndpoints {
			if fe.Name == e.Name {
				err = config.Errors{{Field: "name", Message: fmt.Sprintf("%q is defined in the configuration file (workloadEndpoints[%d]); change it there", e.Name, i)}}
				return
			}
		}
		_, exists := d.apiEPs[e.Name]
		next := cloneEPs(d.apiEPs)
		next[e.Name] = fromAPI(e)
		res = d.apply("api", d.file, next)
		if !res.OK {
			err = endpointErrors(res.Errors, d.file, next, e.Name)
			return
		}
		created = !exists
	})
	return created, res, err
}

// DeleteEndpoint removes an API endpoint (DELETE).
func (d *Daemon) DeleteEndpoint(name string) (res *api.ApplyResult, err error) {
	d.do(func() {
		if _, ok := d.apiEPs[name]; !ok {
			for i, fe := range d.file.WorkloadEndpoints {
				if fe.Name == name {
					err = config.Errors{{Field: "name", Message: fmt.Sprintf("%q is defined in the configuration file (workloadEndpoints[%d]); remove it there and reload", name, i)}}
					return
				}
			}
			err = ErrNotFound
			return
		}
		next := cloneEPs(d.apiEPs)
		delete(next, name)
		res = d.apply("api", d.file, next)
		if !res.OK {
			err = config.Errors(res.Errors)
		}
	})
	return res, err
}

func cloneEPs(m map[string]config.WorkloadEndpoint) map[string]config.WorkloadEndpoint {
	out := make(map[string]config.WorkloadEndpoint, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// endpointErrors turns the merged configuration's errors about endpoint
// name into the endpoint's own fields (`workloadEndpoints[4].mac` ->
// `mac`); errors elsewhere keep their names.
func endpointErrors(errs []api.FieldError, file *config.Config, apiEPs map[string]config.WorkloadEndpoint, name string) config.Errors {
	merged, _ := mergeEndpoints(file, apiEPs)
	prefix := ""
	for i, ep := range merged.WorkloadEndpoints {
		if ep.Name == name {
			prefix = fmt.Sprintf("workloadEndpoints[%d]", i)
		}
	}
	out := make(config.Errors, 0, len(errs))
	for _, fe := range errs {
		if prefix != "" && (fe.Field == prefix || strings.HasPrefix(fe.Field, prefix+".")) {
			fe.Field = strings.TrimPrefix(strings.TrimPrefix(fe.Field, prefix), ".")
		}
		out = append(out, fe)
	}
	return out
}

// Reload re-reads the configuration file and applies the difference; a
// bad file changes nothing. API endpoints are kept as they are.
func (d *Daemon) Reload() *api.ApplyResult {
	var res *api.ApplyResult
	d.do(func() {
		d.opts.Notify.Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
		defer func() {
			d.status, _ = d.serviceStatus()
			d.opts.Notify.Notify("READY=1\nSTATUS=" + d.status)
		}()
		c, err := d.readConfig()
		if err != nil {
			var fe config.Errors
			if !errors.As(err, &fe) {
				fe = config.Errors{{Field: d.opts.ConfigPath, Message: err.Error()}}
			}
			res = &api.ApplyResult{Source: "reload", Time: time.Now(), Errors: fe, Generation: d.gen}
			d.last = res
			d.metrics.apply.Fail("reload")
			d.log.Error("reload rejected", "errors", fe.Error())
			return
		}
		res = d.apply("reload", c, d.apiEPs)
	})
	return res
}

// Routes answers GET /v1/routes (space nil: every space).
func (d *Daemon) Routes(space *uint16) []api.Route {
	var out []api.Route
	d.do(func() {
		if d.cur == nil {
			return
		}
		out = d.cur.routes(space)
		if d.routing != nil && (space == nil || *space == 0) {
			out = append(out, d.learnedRoutes()...)
		}
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Space != out[j].Space {
			return out[i].Space < out[j].Space
		}
		return out[i].Prefix < out[j].Prefix
	})
	return out
}

// Lookup answers GET /v1/routes/lookup: the route a takes in space —
// the tables' own longest match, then that prefix's entry (a configured
// or endpoint route, a learned one, or the host's own address).
func (d *Daemon) Lookup(space uint16, a netip.Addr) api.Lookup {
	out := api.Lookup{Space: space, Addr: a.String()}
	d.do(func() {
		if d.cur == nil {
			return
		}
		p, ok := d.cur.tables.MatchPrefix(space, a)
		if !ok {
			return
		}
		r := api.Route{Space: space, Prefix: p.String(), Kind: "host"}
		if nhs, ok := d.learnedFor(space, p); ok {
			r = d.learnedRoute(p, nhs)
		} else {
			for _, c := range d.cur.routes(&space) {
				if c.Prefix == r.Prefix {
					r = c
					break
				}
			}
		}
		out.Route, out.Found = &r, true
	})
	return out
}

// Sessions answers GET /v1/sessions.
func (d *Daemon) Sessions(match netip.Addr, limit int) api.Sessions {
	var out api.Sessions
	var nt *nat.Table
	d.do(func() { nt = d.dp.st.nat })
	if nt == nil {
		return out
	}
	out.Total, out.Capacity = nt.Len(), nt.Capacity()
	out.Sessions = []api.Session{}
	nt.Sessions(match, func(s nat.SessionInfo) bool {
		if limit > 0 && len(out.Sessions) >= limit {
			return false
		}
		left := (s.Timeout - s.Idle).Seconds()
		out.Sessions = append(out.Sessions, api.Session{Original: tupleAPI(s.Original), Reply: tupleAPI(s.Reply), State: s.State, ExpiresSeconds: max(left, 0)})
		return true
	})
	return out
}

func tupleAPI(t nat.Tuple) api.Tuple {
	return api.Tuple{Space: t.Space, Proto: protoName(t.Proto), Src: t.Src.String(), Dst: t.Dst.String(), SrcPort: t.SrcPort, DstPort: t.DstPort}
}

func protoName(p uint8) string {
	switch p {
	case pkt.ProtoTCP:
		return "tcp"
	case pkt.ProtoUDP:
		return "udp"
	case pkt.ProtoICMP:
		return "icmp"
	case pkt.ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}

// Counters answers GET /v1/counters.
func (d *Daemon) Counters() api.Counters {
	var out api.Counters
	d.do(func() { out = d.counters() })
	return out
}

func (d *Daemon) counters() api.Counters {
	s := d.dp.stats()
	out := api.Counters{RxPackets: s.RxPackets, TxPackets: s.TxPackets, TxBytes: s.TxBytes, Forwarded: s.Forwarded, ToHost: s.ToHost, Dropped: s.Dropped(),
		Drops: []api.Drop{}, ICMP: map[string]uint64{}}
	for r := fwd.Reason(1); r < fwd.NumReasons; r++ {
		if n := s.Drops[r]; n > 0 {
			out.Drops = append(out.Drops, api.Drop{Stage: r.Stage().String(), Reason: r.String(), Packets: n})
		}
	}
	for r, n := range s.Parse {
		if n > 0 {
			out.Drops = append(out.Drops, api.Drop{Stage: "parse", Reason: "parse/" + pkt.Reason(r).String(), Packets: n})
		}
	}
	for r, n := range s.NAT {
		if n > 0 {
			out.Drops = append(out.Drops, api.Drop{Stage: "conntrack", Reason: "nat/" + nat.Reason(r).String(), Packets: n})
		}
	}
	for r, n := range s.Xlat {
		if n > 0 {
			out.Drops = append(out.Drops, api.Drop{Stage: "xlat", Reason: "xlat/" + xlat.Reason(r).String(), Packets: n})
		}
	}
	for i, n := range s.ICMP {
		out.ICMP[icmpNames[i]] = n
	}
	if s.PolicyLog != [fwd.NumLogOutcomes]uint64{} {
		out.PolicyLog = map[string]uint64{}
		for i, n := range s.PolicyLog {
			out.PolicyLog[fwd.LogOutcome(i).String()] = n
		}
	}
	for _, pt := range d.sortedPorts() {
		pc := api.PortCounters{Interface: pt.name}
		for _, w := range d.dp.workers {
			ps := w.PortStats(pt.slot)
			pc.RxPackets += ps.RxPackets
			pc.RxBytes += ps.RxBytes
			pc.TxPackets += ps.TxPackets
			pc.TxBytes += ps.TxBytes
		}
		if d.dp.off != nil && pt.ifindex > 0 {
			// What the kernel forwarded for the port's flows: the workers
			// never saw it.
			fs := d.dp.off.PortStats(pt.ifindex)
			pc.RxPackets += fs.RxPackets
			pc.RxBytes += fs.RxBytes
			pc.TxPackets += fs.TxPackets
			pc.TxBytes += fs.TxBytes
		}
		out.Ports = append(out.Ports, pc)
		if pt.prog != nil {
			if ps, err := pt.prog.Stats(); err == nil {
				x := api.XDPCounters{Interface: pt.name, Decisions: map[string]uint64{}}
				ps.Each(pt.prog.FastPath(), func(name string, n uint64) { x.Decisions[name] = n })
				out.XDP = append(out.XDP, x)
			}
		}
	}
	if d.dp.off != nil {
		fs := d.dp.off.Stats()
		out.FastPath = map[string]uint64{"flows": uint64(fs.Installed)}
		fs.Each(func(event string, n uint64) { out.FastPath[event] = n })
		for _, ifindex := range fs.OffPorts {
			name := fmt.Sprintf("ifindex %d", ifindex)
			for _, pt := range d.sortedPorts() {
				if pt.ifindex == int(ifindex) {
					name = pt.name
				}
			}
			out.FastPathOff = append(out.FastPathOff, name)
		}
	}
	return out
}

var icmpNames = [fwd.NumICMP]string{fwd.ICMPSent: "sent", fwd.ICMPRateLimited: "rate-limited",
	fwd.ICMPRefused: "refused", fwd.ICMPNoSource: "no-source"}

// countersText is the final counters report: "name value" lines, the
// non-zero ones, in a stable order.
func (d *Daemon) countersText() string {
	if d.dp == nil {
		return ""
	}
	c := d.counters()
	s := d.dp.stats()
	lines := []string{fmt.Sprintf("rx %d", c.RxPackets), fmt.Sprintf("tx %d", c.TxPackets), fmt.Sprintf("forwarded %d", c.Forwarded)}
	var rest []string
	if s.Held > 0 {
		rest = append(rest, fmt.Sprintf("held/conntrack/fragments %d", s.Held))
	}
	if s.Released > 0 {
		rest = append(rest, fmt.Sprintf("released/conntrack/fragments %d", s.Released))
	}
	if s.MSSClamped > 0 {
		rest = append(rest, fmt.Sprintf("clamped/xlat/mss %d", s.MSSClamped))
	}
	if s.ToHost > 0 {
		rest = append(rest, fmt.Sprintf("delivered/port/to-host %d", s.ToHost))
	}
	for r := fwd.Reason(1); r < fwd.NumReasons; r++ {
		kind := "drop"
		if r.Answered() {
			kind = "answered"
		}
		if n := s.Drops[r]; n > 0 {
			rest = append(rest, fmt.Sprintf("%s/%s/%s %d", kind, r.Stage(), r, n))
		}
	}
	for _, dr := range c.Drops {
		if strings.Contains(dr.Reason, "/") {
			rest = append(rest, fmt.Sprintf("%s %d", dr.Reason, dr.Packets))
		}
	}
	for name, n := range c.ICMP {
		if n > 0 {
			rest = append(rest, fmt.Sprintf("icmp/%s %d", name, n))
		}
	}
	for _, x := range c.XDP {
		for k, n := range x.Decisions {
			if n > 0 {
				rest = append(rest, fmt.Sprintf("xdp/%s/%s %d", x.Interface, k, n))
			}
		}
	}
	// What the kernel dropped at the sockets, before gannet saw it (a
	// full rx ring, an empty fill ring, bad descriptors).
	for _, pt := range d.sortedPorts() {
		var sum xsk.Stats
		for _, sk := range pt.socks {
			if st, err := sk.Stats(); err == nil {
				sum.RxDropped += st.RxDropped
				sum.RxRingFull += st.RxRingFull
				sum.RxFillRingEmptyDescs += st.RxFillRingEmptyDescs
				sum.TxInvalidDescs += st.TxInvalidDescs
			}
		}
		for _, x := range []struct {
			what string
			n    uint64
		}{{"rx-dropped", sum.RxDropped}, {"rx-ring-full", sum.RxRingFull}, {"fill-ring-empty", sum.RxFillRingEmptyDescs}, {"tx-invalid", sum.TxInvalidDescs}} {
			if x.n > 0 {
				rest = append(rest, fmt.Sprintf("xsk/%s/%s %d", pt.name, x.what, x.n))
			}
		}
	}
	sort.Strings(rest)
	var b strings.Builder
	b.WriteString("gannet: counters:\n")
	for _, l := range append(lines, rest...) {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

// Policy answers GET /v1/policy/{endpoint}: a workload endpoint's
// programs, or a host endpoint's (its applyOnForward policies on an
// uplink). Names are unique across both kinds (config validation).
func (d *Daemon) Policy(name string) (api.Policy, bool) {
	out := api.Policy{Endpoint: name, Ingress: []string{}, Egress: []string{}}
	found := false
	d.do(func() {
		for _, ep := range d.plan.Endpoints {
			if ep.Name != name {
				continue
			}
			found = true
			if d.plan.Policy == nil {
				return
			}
			if ps := d.plan.Policy.Endpoint(name); ps != nil {
				d.fillPolicy(&out, ps.Ingress, ps.Egress)
			}
			return
		}
		for _, h := range d.plan.HostEndpoints {
			if h.Name == name {
				found = true
				out.HostEndpoint = h.Interface
				d.fillPolicy(&out, h.Ingress, h.Egress)
				return
			}
		}
	})
	return out, found
}

// fillPolicy writes an endpoint's ingress and egress programs (nil: no
// policy) and their rule hits into out. On the loop.
func (d *Daemon) fillPolicy(out *api.Policy, ingress, egress *acl.Program) {
	in, eg := d.ruleHitsOf(out.Endpoint)
	out.IngressPolicy, out.Ingress, out.IngressHits, out.IngressDefaultDeny = showProgram(ingress, in, out.Ingress)
	out.EgressPolicy, out.Egress, out.EgressHits, out.EgressDefaultDeny = showProgram(egress, eg, out.Egress)
}

// showProgram is one direction of fillPolicy: whether a program applies,
// its rules appended to rules, and — when hits has one count per rule and
// the default deny's last — the rules' hits and the default deny's.
func showProgram(p *acl.Program, hits []uint64, rules []string) (on bool, _ []string, ruleHits []uint64, deny uint64) {
	if p == nil {
		return false, rules, nil, 0
	}
	for _, r := range p.Rules() {
		rules = append(rules, r.String())
	}
	if len(hits) == len(rules)+1 {
		ruleHits, deny = hits[:len(hits)-1], hits[len(hits)-1]
	}
	return true, rules, ruleHits, deny
}

// Trace answers POST /v1/trace: the packet through the live tables,
// sending nothing and changing nothing.
func (d *Daemon) Trace(req api.TraceRequest) (api.Trace, error) {
	var (
		t       *fwd.Tables
		slot    = -1
		ifindex int
		nb      fwd.Neighbours
	)
	d.do(func() {
		t = d.cur.tables
		nb = d.dp.nb
		if pt, ok := d.ports[req.In]; ok {
			slot, ifindex = pt.slot, pt.ifindex
		}
	})
	if t == nil {
		return api.Trace{}, errors.New("gannet is stopping")
	}
	if slot < 0 {
		return api.Trace{}, config.Errors{{Field: "in", Message: fmt.Sprintf("%q is not an interface of gannet's", req.In)}}
	}
	snap := neigh.NewSnapshot(nil)
	if nb != nil {
		snap = nb.Snapshot()
	}
	var res fwd.TraceResult
	if len(req.Frame) > 0 {
		res = t.Trace(slot, req.Frame, snap)
	} else {
		spec, err := traceSpec(req, slot)
		if err != nil {
			return api.Trace{}, err
		}
		res, err = t.TraceSpec(spec, snap)
		if err != nil {
			return api.Trace{}, config.Errors{{Message: err.Error()}}
		}
	}
	out := api.Trace{Verdict: res.Verdict, Reason: res.Reason, Egress: res.Egress}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, api.TraceStep{Stage: s.Stage, Verdict: s.Verdict, Detail: s.Detail})
	}
	if off := d.dp.off; off != nil && res.Verdict == "forward" {
		out.Offloaded = traceFastPath(off, ifindex, res.Before, &out)
	}
	return out, nil
}

// traceFastPath adds a step saying whether the kernel fast path holds a
// current decision for the traced flow as it arrives on ifindex, and
// reports whether it does.
func traceFastPath(off *fwd.Offload, ifindex int, f fwd.TraceFlow, out *api.Trace) bool {
	step := api.TraceStep{Stage: "fast-path", Verdict: "pipeline"}
	k, ok := fwd.FastFlowKey(ifindex, f)
	if !ok {
		step.Detail = "not offloadable: only TCP and UDP flows are"
		out.Steps = append(out.Steps, step)
		return false
	}
	on, c := off.Offloaded(&k)
	if on {
		step.Verdict = "offloaded"
		step.Detail = fmt.Sprintf("forwarded in the kernel: %d packets, %d bytes since installed", c.Packets, c.Bytes)
	} else {
		step.Detail = "no current decision in the kernel: its packets take the pipeline (an established flow is offloaded at its next packet)"
	}
	out.Steps = append(out.Steps, step)
	return on
}

// traceSpec checks a trace request's fields.
func traceSpec(req api.TraceRequest, slot int) (fwd.TraceSpec, error) {
	var errs config.Errors
	spec := fwd.TraceSpec{In: slot, SrcPort: req.SrcPort, DstPort: req.DstPort, ICMPType: req.ICMPType, ICMPCode: req.ICMPCode,
		TTL: req.TTL, Len: req.Length, DF: req.DF}
	src, err := netip.ParseAddr(req.Src)
	if err != nil {
		errs = append(errs, api.FieldError{Field: "src", Message: fmt.Sprintf("%q is not an IP address", req.Src)})
	}
	dst, err := netip.ParseAddr(req.Dst)
	if err != nil {
		errs = append(errs, api.FieldError{Field: "dst", Message: fmt.Sprintf("%q is not an IP address", req.Dst)})
	}
	spec.Src, spec.Dst = src.Unmap(), dst.Unmap()
	switch strings.ToLower(req.Proto) {
	case "tcp", "":
		spec.Proto = pkt.ProtoTCP
	case "udp":
		spec.Proto = pkt.ProtoUDP
	case "icmp", "icmpv6", "ping":
		spec.Proto = pkt.ProtoICMP
		if spec.Src.Is6() {
			spec.Proto = pkt.ProtoICMPv6
		}
	default:
		errs = append(errs, api.FieldError{Field: "proto", Message: fmt.Sprintf("%q: want tcp, udp or icmp", req.Proto)})
	}
	for _, c := range strings.ToUpper(req.TCPFlags) {
		bit, ok := map[rune]uint8{'F': 0x01, 'S': 0x02, 'R': 0x04, 'P': 0x08, 'A': 0x10, 'U': 0x20}[c]
		if !ok {
			errs = append(errs, api.FieldError{Field: "tcpFlags", Message: fmt.Sprintf("%q: letters of FSRPAU", req.TCPFlags)})
			break
		}
		spec.TCPFlags |= bit
	}
	if req.SrcMAC != "" {
		m, err := netParseMAC(req.SrcMAC)
		if err != nil {
			errs = append(errs, api.FieldError{Field: "srcMAC", Message: err.Error()})
		}
		spec.SrcMAC = m
	}
	if req.Length < 0 || req.Length > 9000 {
		errs = append(errs, api.FieldError{Field: "length", Message: fmt.Sprintf("%d out of range 0-9000", req.Length)})
	}
	if len(errs) > 0 {
		return spec, errs
	}
	return spec, nil
}

func netParseMAC(s string) ([6]byte, error) {
	var m [6]byte
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return m, fmt.Errorf("%q is not an Ethernet MAC address", s)
	}
	copy(m[:], hw)
	return m, nil
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds (sd_notify's
// RELOADING=1 wants it).
func monotonicUsec() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// ErrNoBGP: the configuration has no bgp section.
var ErrNoBGP = errors.New("BGP is not configured (no bgp section)")

// BGPPeers answers GET /v1/bgp/peers.
func (d *Daemon) BGPPeers(ctx context.Context) ([]api.BGPPeer, error) {
	var sp *bgp.Speaker
	d.do(func() {
		if d.routing != nil {
			sp = d.routing.speaker
		}
	})
	if sp == nil {
		return nil, ErrNoBGP
	}
	peers, err := sp.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.BGPPeer{}
	now := time.Now()
	for _, p := range peers {
		ap := api.BGPPeer{Address: p.Address.String(), AS: p.AS, State: p.State, PrefixLimit: p.PrefixLimit, UptimeSeconds: p.Uptime(now).Seconds(), ExtendedNextHop: p.ExtendedNextHop}
		for _, f := range p.Families {
			ap.Families = append(ap.Families, api.BGPFamily{Family: f.Family, Received: f.Received, Accepted: f.Accepted, Advertised: f.Advertised})
		}
		out = append(out, ap)
	}
	return out, nil
}

// BGPRoutes answers GET /v1/bgp/routes: the best paths, or one peer's
// received paths (with those the import policy filtered).
func (d *Daemon) BGPRoutes(ctx context.Context, peer netip.Addr, prefix netip.Prefix) ([]api.BGPRoute, error) {
	var sp *bgp.Speaker
	d.do(func() {
		if d.routing != nil {
			sp = d.routing.speaker
		}
	})
	if sp == nil {
		return nil, ErrNoBGP
	}
	rs, err := sp.Routes(ctx, bgp.RouteQuery{Peer: peer, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	out := []api.BGPRoute{}
	for _, r := range rs {
		ar := api.BGPRoute{Prefix: r.Prefix.String(), NextHop: r.NextHop.String(), ASPath: r.ASPath, Communities: r.Communities, Best: r.Best, Filtered: r.Filtered}
		if r.Peer.IsValid() {
			ar.Peer = r.Peer.String()
		}
		out = append(out, ar)
	}
	return out, nil
}
