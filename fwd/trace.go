// Packet trace: a frame (built from a TraceSpec, or captured) flows
// through the decisions of the pipeline — parse, port context (empty
// slots), gateway, anti-spoofing, route, the reverse path of a packet
// from the core into a translated space, TTL, down ports, translation,
// conntrack and NAT, policy, neighbour, MTU — on a copy, and comes out as
// a list of steps that say what each stage decided and why, plus the
// verdict the data path would count. Nothing is sent and no state
// changes: no session, mapping or port is made or claimed
// (nat.Table.QueryWith, under the NAT policy the tables carry), no
// counter moves, no ICMP token is spent. It is a control-plane call
// (`gannet trace`), never on the data path.
//
// Where the pipeline's helpers are pure (lookup, checkSource, feasible,
// unicastDst, localEndpoint, routed, connState, copiedOptions) the trace
// calls them;
// where it restates the pipeline (the order of the stages, policy with
// the deciding rule, the ICMP answers) each piece names the function it
// mirrors, and TestTraceMatchesWorker holds the two together.

package fwd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// TraceSpec describes a packet to build for a trace.
type TraceSpec struct {
	In int // ingress port index in the Tables
	// SrcMAC and DstMAC: zero takes a default. Tables.TraceSpec uses the
	// endpoint's MAC as source and the gateway MAC (workload ports) or
	// the port's MAC (uplinks) as destination; BuildTraceFrame alone
	// uses 02:00:00:00:00:01 and the default gateway MAC.
	SrcMAC, DstMAC [6]byte
	Src, Dst       netip.Addr
	// Proto is pkt.ProtoTCP, ProtoUDP, ProtoICMP or ProtoICMPv6.
	Proto            uint8
	SrcPort, DstPort uint16 // TCP/UDP; for ICMP echo, SrcPort is the identifier
	ICMPType         uint8  // zero with Proto ICMP/ICMPv6: echo request
	ICMPCode         uint8
	TCPFlags         uint8 // zero: SYN
	TTL              uint8 // zero: 64
	Len              int   // payload bytes after the transport header
	DF               bool  // IPv4 don't fragment
}

// Default MACs of BuildTraceFrame.
var traceSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}

// BuildTraceFrame builds the Ethernet frame spec describes, with every
// length and checksum right. Errors name the field.
func BuildTraceFrame(spec TraceSpec) ([]byte, error) {
	src, dst := spec.Src.Unmap(), spec.Dst.Unmap()
	switch {
	case !src.IsValid():
		return nil, errors.New("src: missing or invalid address")
	case !dst.IsValid():
		return nil, errors.New("dst: missing or invalid address")
	case src.Is4() != dst.Is4():
		return nil, errors.New("dst: family differs from src")
	case spec.Len < 0:
		return nil, fmt.Errorf("len: %d is negative", spec.Len)
	}
	v4 := src.Is4()
	var l4 int
	switch spec.Proto {
	case pkt.ProtoTCP:
		l4 = pkt.TCPMinLen
	case pkt.ProtoUDP:
		l4 = pkt.UDPLen
	case pkt.ProtoICMP:
		if !v4 {
			return nil, errors.New("proto: icmp with IPv6 addresses (use icmpv6)")
		}
		l4 = pkt.ICMPHeaderLen
	case pkt.ProtoICMPv6:
		if v4 {
			return nil, errors.New("proto: icmpv6 with IPv4 addresses (use icmp)")
		}
		l4 = pkt.ICMPHeaderLen
	default:
		return nil, fmt.Errorf("proto: %d is not tcp (6), udp (17), icmp (1) or icmpv6 (58)", spec.Proto)
	}
	if spec.DF && !v4 {
		return nil, errors.New("df: IPv6 has no don't-fragment bit")
	}
	ipLen := pkt.IPv6Len
	if v4 {
		ipLen = pkt.IPv4MinLen
	}
	total := ipLen + l4 + spec.Len
	if total > 65535 || !v4 && total-ipLen > 65535 {
		return nil, fmt.Errorf("len: %d bytes of payload do not fit an IP packet", spec.Len)
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = 64
	}
	smac, dmac := spec.SrcMAC, spec.DstMAC
	if smac == ([6]byte{}) {
		smac = traceSrcMAC
	}
	if dmac == ([6]byte{}) {
		dmac = DefaultGatewayMAC
	}
	f := make([]byte, pkt.EthernetLen+total)
	eth := pkt.Ethernet(f)
	eth.SetDst(pkt.MAC(dmac))
	eth.SetSrc(pkt.MAC(smac))
	ip := f[pkt.EthernetLen:]
	seg := ip[ipLen:]
	var pseudo uint16
	if v4 {
		eth.SetEtherType(pkt.EtherTypeIPv4)
		h := pkt.IPv4(ip)
		h.SetVersionIHL(pkt.IPv4MinLen)
		h.SetTotalLen(uint16(total))
		h.SetFragment(spec.DF, false, 0)
		h.SetTTL(ttl)
		h.SetProtocol(spec.Proto)
		h.SetSrc(src.As4())
		h.SetDst(dst.As4())
		h.SetChecksum(h.ComputeChecksum())
		pseudo = pkt.PseudoHeaderSum4(h.SrcSlice(), h.DstSlice(), spec.Proto, uint16(len(seg)))
	} else {
		eth.SetEtherType(pkt.EtherTypeIPv6)
		h := pkt.IPv6(ip)
		h.SetVersionTCFlow(0, 0)
		h.SetPayloadLen(uint16(len(seg)))
		h.SetNextHeader(spec.Proto)
		h.SetHopLimit(ttl)
		h.SetSrc(src.As16())
		h.SetDst(dst.As16())
		pseudo = pkt.PseudoHeaderSum6(h.SrcSlice(), h.DstSlice(), spec.Proto, uint32(len(seg)))
	}
	switch spec.Proto {
	case pkt.ProtoTCP:
		c := pkt.TCP(seg)
		c.SetSrcPort(spec.SrcPort)
		c.SetDstPort(spec.DstPort)
		binary.BigEndian.PutUint32(seg[4:], 1) // sequence number
		seg[12] = pkt.TCPMinLen / 4 << 4       // data offset
		flags := spec.TCPFlags
		if flags == 0 {
			flags = pkt.TCPFlagSYN
		}
		seg[13] = flags
		binary.BigEndian.PutUint16(seg[14:], 65535) // window
		c.SetChecksum(pkt.TransportChecksum(pseudo, seg))
	case pkt.ProtoUDP:
		u := pkt.UDP(seg)
		u.SetSrcPort(spec.SrcPort)
		u.SetDstPort(spec.DstPort)
		u.SetLength(uint16(len(seg)))
		u.SetChecksum(pkt.UDPChecksum(pseudo, seg))
	default:
		c := pkt.ICMP(seg)
		typ := spec.ICMPType
		if typ == 0 && spec.ICMPCode == 0 {
			typ = pkt.ICMPv6EchoRequest
			if v4 {
				typ = pkt.ICMPv4EchoRequest
			}
		}
		c.SetType(typ)
		c.SetCode(spec.ICMPCode)
		c.SetID(spec.SrcPort)
		c.SetSeq(1)
		if v4 {
			pseudo = 0 // ICMPv4 has no pseudo-header
		}
		c.SetChecksum(pkt.TransportChecksum(pseudo, seg))
	}
	return f, nil
}

// TraceStep is what one stage decided.
type TraceStep struct {
	Stage   string `json:"stage"`   // a Stage name: parse, port, gateway, anti-spoof, xlat, conntrack, policy, route, neighbour, forward, tx
	Verdict string `json:"verdict"` // ok, drop, answer, held, skip
	Detail  string `json:"detail"`
}

// TraceFlow is a packet's addresses at one point of its way.
type TraceFlow struct {
	Space   uint16     `json:"space"`
	Proto   uint8      `json:"proto"`
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	SrcPort uint16     `json:"srcPort,omitempty"`
	DstPort uint16     `json:"dstPort,omitempty"`
	TTL     uint8      `json:"ttl"`
}

func (f TraceFlow) String() string {
	if !f.Src.IsValid() {
		return "-"
	}
	if f.Proto == pkt.ProtoTCP || f.Proto == pkt.ProtoUDP {
		return fmt.Sprintf("%v > %v proto %d (space %d)", netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort), f.Proto, f.Space)
	}
	return fmt.Sprintf("%v > %v proto %d (space %d)", f.Src, f.Dst, f.Proto, f.Space)
}

// TraceResult is a packet's way through the pipeline.
type TraceResult struct {
	Steps []TraceStep `json:"steps"`
	// Verdict: "forward" (sent out of Egress; Egress "host": delivered to
	// the host stack, endpointToHost: accept), "answer" (an ARP/NDP
	// reply or an ICMP error sent back out of Egress, the ingress port),
	// "drop", or "held" (a fragment waiting for its first fragment).
	Verdict string `json:"verdict"`
	// Reason is the fwd Reason the packet would be counted under
	// ("" when forwarded).
	Reason string `json:"reason,omitempty"`
	Egress string `json:"egress,omitempty"`
	// Before is the packet as it arrived; After as it would leave
	// (after NAT and translation, before the TTL decrement) when
	// forwarded.
	Before TraceFlow `json:"before"`
	After  TraceFlow `json:"after"`
}

// String renders the trace for people, one line per step.
func (r TraceResult) String() string {
	var b strings.Builder
	for _, st := range r.Steps {
		fmt.Fprintf(&b, "%-10s %-6s %s\n", st.Stage, st.Verdict, st.Detail)
	}
	fmt.Fprintf(&b, "verdict: %s", r.Verdict)
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	if r.Egress != "" {
		fmt.Fprintf(&b, " via %s", r.Egress)
	}
	return b.String()
}

// TraceSpec fills spec's zero MACs from the tables (the endpoint's MAC as
// source on a workload port; the gateway MAC, or an uplink's own MAC, as
// destination), builds the frame and traces it.
func (t *Tables) TraceSpec(spec TraceSpec, nb *neigh.Snapshot) (TraceResult, error) {
	f, err := t.traceFrame(spec)
	if err != nil {
		return TraceResult{}, err
	}
	return t.Trace(spec.In, f, nb), nil
}

// traceFrame is BuildTraceFrame with TraceSpec's defaults from t.
func (t *Tables) traceFrame(spec TraceSpec) ([]byte, error) {
	if spec.In < 0 || spec.In >= len(t.ports) {
		return nil, fmt.Errorf("in: port %d is not a port of the tables (0-%d)", spec.In, len(t.ports)-1)
	}
	pe := &t.ports[spec.In]
	if spec.DstMAC == ([6]byte{}) {
		spec.DstMAC = t.gwMAC
		if pe.role == RoleUplink {
			spec.DstMAC = pe.mac
		}
	}
	if spec.SrcMAC == ([6]byte{}) && pe.role == RoleWorkload && pe.ep != nil {
		spec.SrcMAC = pe.ep.mac
	}
	return BuildTraceFrame(spec)
}

// traceHeadroom is the room the trace's copy keeps in front of the
// frame: as a received frame has (translation and ICMP errors grow the
// packet toward the front).
const traceHeadroom = RxHeadroom

// tracer is one trace: the copy of the frame and where the packet is,
// as the pipeline's view has it.
type tracer struct {
	t   *Tables
	nb  *neigh.Snapshot
	res TraceResult

	buf  []byte // the copy: headroom, frame, tailroom
	base int    // the summary's offsets are from buf[base:]
	s    pkt.Summary
	in   int
	pe   *portEntry
	sp   *space
	nh   *nextHop
	ep   *endpoint
	// rewritten, translatedIn, hk, hkSet: as view's.
	rewritten, translatedIn bool
	hk                      acl.PacketKey
	hkSet                   bool
	// frags are the lengths of the extra pieces the translator split the
	// packet into (the first is the packet itself).
	frags []int
	done  bool
}

// Trace runs frame, received on port in, through the decisions of the
// pipeline under these tables and neighbour snapshot nb (nil: none
// known), without sending anything or changing any state. The frame is
// copied first. It allocates (a control-plane call), boundedly: the
// copy, the steps, and nat's scratch.
func (t *Tables) Trace(in int, frame []byte, nb *neigh.Snapshot) TraceResult {
	tr := &tracer{t: t, nb: nb, in: in, sp: t.flat}
	tr.run(frame)
	if tr.res.Verdict == "" { // cannot happen: every path ends the trace
		tr.res.Verdict = "drop"
	}
	return tr.res
}

func (tr *tracer) step(st Stage, verdict, format string, args ...any) {
	tr.res.Steps = append(tr.res.Steps, TraceStep{Stage: st.String(), Verdict: verdict, Detail: fmt.Sprintf(format, args...)})
}

// drop ends the trace with the packet dropped for r.
func (tr *tracer) drop(r Reason, format string, args ...any) {
	tr.step(r.Stage(), "drop", format, args...)
	tr.end("drop", r, "")
}

func (tr *tracer) end(verdict string, r Reason, egress string) {
	tr.res.Verdict, tr.res.Egress = verdict, egress
	if r != ReasonNone {
		tr.res.Reason = r.String()
	}
	tr.done = true
}

// frame is the packet's bytes from its base to the end of the copy.
func (tr *tracer) frame() []byte { return tr.buf[tr.base:] }

// flow describes the packet now.
func (tr *tracer) flow() TraceFlow {
	s := &tr.s
	f := TraceFlow{Space: tr.sp.id, Proto: s.Proto, Src: s.SrcAddr(), Dst: s.DstAddr(), TTL: s.TTL}
	if s.Flags&pkt.FlagPorts != 0 {
		f.SrcPort, f.DstPort = s.SrcPort, s.DstPort
	}
	return f
}

func (tr *tracer) run(frame []byte) {
	t, s := tr.t, &tr.s
	tr.buf = make([]byte, traceHeadroom+len(frame)+64)
	tr.base = traceHeadroom
	copy(tr.buf[traceHeadroom:], frame)
	f := tr.buf[traceHeadroom : traceHeadroom+len(frame)]

	// Worker.ingress, stage by stage.
	if pkt.Parse(f, s) != pkt.OK {
		r := ReasonMalformed
		if s.Verdict == pkt.Unsupported {
			r = ReasonUnsupported
		}
		tr.drop(r, "%v: %v", s.Verdict, s.Reason)
		return
	}
	tr.step(StageParse, "ok", "%s", s)
	if tr.in < 0 || tr.in >= len(t.ports) {
		tr.drop(ReasonPortUnknown, "port %d is not a port of the tables", tr.in)
		return
	}
	pe := &t.ports[tr.in]
	tr.pe = pe
	if pe.role == RoleNone {
		tr.drop(ReasonPortUnknown, "port %d is an empty slot: its port is gone (or not yet attached)", tr.in)
		return
	}
	if pe.role == RoleWorkload {
		if pe.ep == nil {
			tr.drop(ReasonNoEndpoint, "workload port %s has no endpoint", pe.name)
			return
		}
		tr.ep, tr.sp = pe.ep, pe.ep.space
		tr.step(StagePort, "ok", "workload port %s, endpoint %s, %s", pe.name, pe.ep.name, spaceText(tr.sp))
	} else {
		tr.step(StagePort, "ok", "%v port %s, %s", pe.role, pe.name, spaceText(tr.sp))
		if pe.hep != nil && pe.hep.ingress != nil && s.Family != pkt.FamilyNone {
			tr.hk.FromSummary(s)
			tr.hkSet = true
		}
	}
	if s.Family != pkt.FamilyNone {
		tr.res.Before = tr.flow()
	}

	// Worker.arp and Worker.ndp.
	if s.Family == pkt.FamilyNone {
		var scratch [pkt.EthernetLen + 28 + 64]byte
		switch {
		case pe.role != RoleWorkload:
			tr.drop(ReasonARPIgnored, "ARP on an uplink is the kernel's")
		case s.ARPOp != pkt.ARPRequest || [4]byte(s.Dst[:4]) != t.gw4:
			tr.drop(ReasonARPIgnored, "not a request for the gateway %v", netip.AddrFrom4(t.gw4))
		default:
			if _, err := pkt.BuildARPReply(scratch[:], f, t.gwMAC); err != nil {
				tr.drop(ReasonARPIgnored, "no reply: %v", err)
				return
			}
			tr.step(StageGateway, "answer", "ARP reply: %v is at %v", netip.AddrFrom4(t.gw4), t.gwMAC)
			tr.end("answer", ReasonARPAnswered, pe.name)
		}
		return
	}
	if s.Family == pkt.FamilyIPv6 && s.Proto == pkt.ProtoICMPv6 &&
		s.ICMPType >= pkt.ICMPv6RouterSolicit && s.ICMPType <= pkt.ICMPv6Redirect {
		if pe.role != RoleWorkload || s.ICMPType != pkt.ICMPv6NeighborSol || s.End()-int(s.L4Off) < pkt.NDPLen ||
			pkt.NDP(f[s.L4Off:s.End()]).Target() != t.gw6 {
			tr.drop(ReasonNDPIgnored, "not a neighbour solicitation for the gateway %v on a workload port", netip.AddrFrom16(t.gw6))
			return
		}
		var scratch [pkt.NeighborAdvertLen + 64]byte
		if _, err := pkt.BuildNeighborAdvert(scratch[:], f, t.gwMAC, true); err != nil {
			tr.drop(ReasonNDPRefused, "solicitation fails validation: %v", err)
			return
		}
		tr.step(StageGateway, "answer", "neighbour advertisement: %v is at %v (router)", netip.AddrFrom16(t.gw6), t.gwMAC)
		tr.end("answer", ReasonNDPAnswered, pe.name)
		return
	}
	if pkt.Ethernet(f).Dst().IsMulticast() || !unicastDst(s) {
		tr.drop(ReasonNotUnicast, "multicast, broadcast or link-local destination (Ethernet %v, IP %v)", pkt.Ethernet(f).Dst(), s.DstAddr())
		return
	}
	if !forUs(t, pe, pkt.Ethernet(f).Dst()) {
		tr.drop(ReasonNotForUs, "Ethernet destination %v is not the router's on port %s", pkt.Ethernet(f).Dst(), pe.name)
		return
	}
	if tr.ep != nil {
		if r := checkSource(t, tr.ep, s); r != ReasonNone {
			if r == ReasonToRouter {
				tr.drop(r, "addressed to the gateway itself")
			} else {
				tr.drop(r, "source %v is not an address of endpoint %s (%s)", s.SrcAddr(), tr.ep.name, endpointAddrs(tr.ep))
			}
			return
		}
		tr.step(StageAntiSpoof, "ok", "source %v is endpoint %s's", s.SrcAddr(), tr.ep.name)
		if tr.sp.translated && s.Family == pkt.FamilyIPv6 {
			tr.drop(ReasonFamilyNotRouted, "IPv6 from a workload of translated (IPv4-only) space %d", tr.sp.id)
			return
		}
	} else {
		tr.step(StageAntiSpoof, "skip", "uplink: no endpoint to check the source against (a packet into a translated space has its reverse path checked)")
	}
	tr.nh = tr.route()
	if tr.nh != nil && tr.nh.kind == nhHost {
		switch {
		case tr.ep == nil:
			tr.drop(ReasonToHost, "%v is the host's own address: the uplink's XDP program hands the host its traffic, gannet never forwards it", s.DstAddr())
		case t.host == nil:
			tr.drop(ReasonToHost, "%v is the host's own address: workloads do not reach the host through gannet (endpointToHost: drop)", s.DstAddr())
		case tr.policy(acl.ConnNew, tr.ep, nil, nil):
			tr.step(StageTx, "ok", "%v is the host's own address: delivered to the host stack (endpointToHost: accept; the host answers over its own route)", s.DstAddr())
			tr.end("forward", ReasonNone, "host")
		}
		return
	}
	if tr.nh != nil && tr.nh.kind == nhUnreachable {
		tr.unreachableRoute()
		return
	}
	intoSpace := tr.nh != nil && (tr.nh.kind == nhTranslate || tr.nh.kind == nhEndpoint && tr.nh.xlat)
	if intoSpace && pe.role == RoleUplink && !tr.reversePath() {
		return
	}
	if s.TTL <= 1 {
		if s.Family == pkt.FamilyIPv4 {
			tr.icmpError(pkt.ICMPv4TimeExceeded, pkt.ICMPv4TTLExceeded, 0, ReasonTTLExceeded, fmt.Sprintf("TTL %d: time exceeded", s.TTL))
		} else {
			tr.icmpError(pkt.ICMPv6TimeExceeded, pkt.ICMPv6HopLimitExceeded, 0, ReasonTTLExceeded, fmt.Sprintf("hop limit %d: time exceeded", s.TTL))
		}
		return
	}
	if nh := tr.nh; intoSpace {
		if !tr.translate(false, nh.space) {
			return
		}
		tr.clampMSS(pe.mtu)
		switch {
		case tr.sp != nh.space: // hairpinned back to IPv6 (Worker.to4)
			tr.nh = tr.route()
		case nh.kind == nhTranslate:
			tr.translatedIn = true
			tr.nh = tr.route()
		default:
			tr.translatedIn = true
			tr.nh = &t.nhs[nh.deliver]
			tr.step(StageRoute, "ok", "deliver to endpoint %s in %s", tr.nh.ep.name, spaceText(tr.sp))
		}
	}
	if nh := tr.nh; nh != nil && nh.kind != nhTranslate && t.hopDown(nh) {
		tr.portDown(tr.hopPorts(nh))
		return
	}
	if nh := tr.nh; nh != nil && !tr.rewritten && nh.kind != nhTranslate && int(s.L3Len) > t.hopMTU(nh) &&
		(s.Family == pkt.FamilyIPv6 || s.Flags&pkt.FlagDontFragment != 0) {
		tr.tooBig(t.hopMTU(nh))
		return
	}

	// Worker.egress.
	if !tr.state() {
		return
	}
	nh := tr.nh
	if nh == nil {
		if tr.sp.translated && s.Family == pkt.FamilyIPv4 && !tr.translatedIn {
			tr.step(StageRoute, "ok", "not a local endpoint of translated space %d: across the IPv6 core", tr.sp.id)
			if ch := t.coreHop(tr.sp, s); ch != nil && ch.kind == nhUnreachable {
				tr.unreachableRoute() // Worker.to6: before translation
				return
			}
			tr.clampMSS(t.xlatMTU(t.coreHop(tr.sp, s)))
			if !tr.translate(true, t.flat) {
				return
			}
			nh = tr.route()
		}
		if nh == nil {
			tr.noRoute()
			return
		}
	}
	if nh.kind == nhTranslate || nh.kind == nhEndpoint && nh.xlat {
		tr.drop(ReasonRouteLoop, "the route would translate the packet back into a translated space")
		return
	}
	tr.forward(nh)
}

// route is lookup with the matched prefix told.
func (tr *tracer) route() *nextHop {
	nh := lookup(tr.t, tr.sp, &tr.s)
	dst := tr.s.DstAddr()
	if nh == nil {
		tr.step(StageRoute, "none", "no route to %v in %s", dst, spaceText(tr.sp))
		return nil
	}
	tr.step(StageRoute, "ok", "%v in %s via %s: %s", dst, spaceText(tr.sp), tr.matched(tr.sp, dst, nh), tr.hopText(nh))
	return nh
}

// matched names the prefix of sp's table whose route nh is a's.
func (tr *tracer) matched(sp *space, a netip.Addr, nh *nextHop) string {
	if p, ok := tr.t.MatchPrefix(sp.id, a); ok {
		if i, _ := sp.table.Get(p); &tr.t.nhs[i] == nh {
			return p.String()
		}
	}
	return "?"
}

// reversePath mirrors the pipeline's reverse-path check (feasible) of a
// packet from an uplink that enters a translated space, telling the
// source's route back. It returns false when the packet is dropped (the
// trace ended).
func (tr *tracer) reversePath() bool {
	t, s := tr.t, &tr.s
	src := s.SrcAddr()
	if !t.rpf {
		tr.step(StageAntiSpoof, "skip", "reverse path of %v not checked (rpf off): the core is trusted", src)
		return true
	}
	nh, ok := feasible(t, tr.in, s)
	if ok {
		tr.step(StageAntiSpoof, "ok", "reverse path: source %v is routed back via %s: %s, the uplink it came in on (RFC 3704 feasible path)",
			src, tr.matched(t.flat, src, nh), tr.hopText(nh))
		return true
	}
	var why string
	switch {
	case nh == nil:
		why = fmt.Sprintf("no route back to source %v in the core", src)
	case nh.kind == nhEndpoint:
		why = fmt.Sprintf("source %v is local endpoint %s's (via %s): a packet from the core cannot come from a workload of this host", src, nh.ep.name, tr.matched(t.flat, src, nh))
	case nh.kind == nhHost:
		why = fmt.Sprintf("source %v is the host's own address", src)
	case nh.kind == nhTranslate:
		why = fmt.Sprintf("source %v is routed via %s: %s, not back out of an uplink", src, tr.matched(t.flat, src, nh), tr.hopText(nh))
	default:
		why = fmt.Sprintf("source %v is routed back via %s: %s, not out of %s where it came in", src, tr.matched(t.flat, src, nh), tr.hopText(nh), tr.pe.name)
	}
	tr.drop(ReasonRPF, "reverse path: %s (RFC 3704 feasible path); dropped without an answer", why)
	return false
}

func (tr *tracer) hopText(nh *nextHop) string {
	t := tr.t
	switch nh.kind {
	case nhEndpoint:
		if nh.xlat {
			return fmt.Sprintf("translate 6->4 and deliver to endpoint %s (port %s, %s)", nh.ep.name, t.ports[nh.port].name, spaceText(nh.space))
		}
		return fmt.Sprintf("endpoint %s on port %s", nh.ep.name, t.ports[nh.port].name)
	case nhGateway:
		return fmt.Sprintf("gateway %v out of port %s", nh.gw, t.ports[nh.port].name)
	case nhConnected:
		return fmt.Sprintf("connected out of port %s", t.ports[nh.port].name)
	case nhTranslate:
		return fmt.Sprintf("translate 6->4 into %s", spaceText(nh.space))
	case nhHost:
		return "the host itself"
	case nhUnreachable:
		return "unreachable (one of the host's blocks, no workload at this address)"
	case nhECMP:
		var l []string
		for _, m := range nh.group.members[:nh.group.n] {
			l = append(l, tr.hopText(&t.nhs[m]))
		}
		return fmt.Sprintf("ECMP group of %d: %s", nh.group.n, strings.Join(l, "; "))
	}
	return "?"
}

func spaceText(sp *space) string {
	if sp.translated {
		return fmt.Sprintf("space %d (translated)", sp.id)
	}
	return fmt.Sprintf("space %d", sp.id)
}

func endpointAddrs(ep *endpoint) string {
	var l []string
	for _, a := range ep.addrs4 {
		l = append(l, netip.AddrFrom4(a).String())
	}
	for _, a := range ep.addrs6 {
		l = append(l, netip.AddrFrom16(a).String())
	}
	return strings.Join(l, ", ")
}

// icmpError ends the trace as Worker.icmpError would: an answer out of
// the ingress port when an error can be built and sent from the port's
// address, else a drop (counted under r either way).
func (tr *tracer) icmpError(typ, code uint8, rest uint32, r Reason, why string) {
	s, pe := &tr.s, tr.pe
	v4 := s.Family == pkt.FamilyIPv4
	if v4 && !pe.has4 || !v4 && !pe.has6 {
		tr.drop(r, "%s; no ICMP error: no router address of the family on port %s", why, pe.name)
		return
	}
	orig := tr.frame()[s.L3Off:s.End()]
	dst := make([]byte, pkt.ICMPv6ErrorMaxLen+len(orig))
	var err error
	var from netip.Addr
	if v4 {
		_, err = pkt.BuildICMPv4Error(dst, orig, pe.src4, typ, code, rest)
		from = netip.AddrFrom4(pe.src4)
	} else {
		_, err = pkt.BuildICMPv6Error(dst, orig, pe.src6, typ, code, rest)
		from = netip.AddrFrom16(pe.src6)
	}
	if err != nil {
		tr.drop(r, "%s; no ICMP error: %v", why, err)
		return
	}
	tr.step(r.Stage(), "answer", "%s; ICMP type %d code %d from %v to %v out of %s (rate limit permitting)", why, typ, code, from, s.SrcAddr(), pe.name)
	tr.end("answer", r, pe.name)
}

// tooBig mirrors Worker.tooBig.
func (tr *tracer) tooBig(mtu int) {
	why := fmt.Sprintf("%d bytes above the egress MTU %d", tr.s.L3Len, mtu)
	if tr.s.Family == pkt.FamilyIPv6 {
		tr.icmpError(pkt.ICMPv6PacketTooBig, 0, uint32(mtu), ReasonTooBig, why+", packet too big")
	} else {
		tr.icmpError(pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, pkt.RestMTU4(uint16(mtu)), ReasonTooBig, why+" with DF, fragmentation needed")
	}
}

// clampMSS mirrors Worker.clampMSS on the copy.
func (tr *tracer) clampMSS(mtu int) {
	s := &tr.s
	limit := synLimit(tr.t.clampMSS, s, mtu)
	if limit == 0 {
		return
	}
	seg := tr.buf[tr.base+int(s.L4Off) : tr.base+int(s.L3Off)+int(s.L3Len)]
	if old := tcpMSS(seg); clampSegment(seg, uint16(limit)) {
		tr.step(StageXlat, "ok", "TCP SYN: MSS %d clamped to %d (translation.clampMSS; core link MTU %d)", old, limit, mtu)
	}
}

// xlatTooBig mirrors Worker.xlatTooBig.
func (tr *tracer) xlatTooBig(dir string, p *xlat.Packet) {
	why := fmt.Sprintf("%s: %d bytes will not fit the next hop's MTU %d once translated", dir, tr.s.L3Len, p.MTU)
	switch {
	case !tr.rewritten:
		if tr.s.Family == pkt.FamilyIPv6 {
			tr.icmpError(pkt.ICMPv6PacketTooBig, 0, uint32(p.TooBigMTU), ReasonTooBig, fmt.Sprintf("%s, packet too big (mtu %d)", why, p.TooBigMTU))
		} else {
			tr.icmpError(pkt.ICMPv4DestUnreach, pkt.ICMPv4FragNeeded, pkt.RestMTU4(uint16(p.TooBigMTU)), ReasonTooBig, fmt.Sprintf("%s with DF, fragmentation needed (mtu %d)", why, p.TooBigMTU))
		}
	case tr.s.Family == pkt.FamilyIPv4 && tr.t.nat != nil && !tr.translatedIn:
		tr.step(StageForward, "answer", "%s with DF, fragmentation needed (mtu %d), quoting the packet NAT rewrote: nat turns it back for the sender, out of %s (rate limit permitting)", why, p.TooBigMTU, tr.pe.name)
		tr.end("answer", ReasonTooBig, tr.pe.name)
	default:
		tr.drop(ReasonTooBigRewritten, "%s, and the packet was rewritten: no error can reach its sender", why)
	}
}

// noRoute mirrors Worker.noRoute.
func (tr *tracer) noRoute() {
	switch {
	case tr.rewritten:
		tr.drop(ReasonNoRoute, "no route, and the packet was rewritten: no error can reach its sender")
	case tr.s.Family == pkt.FamilyIPv4:
		tr.icmpError(pkt.ICMPv4DestUnreach, pkt.ICMPv4NetUnreach, 0, ReasonNoRoute, "no route: net unreachable")
	default:
		tr.icmpError(pkt.ICMPv6DestUnreach, pkt.ICMPv6NoRoute, 0, ReasonNoRoute, "no route: no route to destination")
	}
}

// unreachableRoute mirrors Worker.unreachableRoute.
func (tr *tracer) unreachableRoute() {
	const why = "the route is unreachable (an address of one of the host's blocks that no workload has)"
	switch {
	case tr.rewritten:
		tr.drop(ReasonUnreachableRoute, "%s, and the packet was rewritten: no error can reach its sender", why)
	case tr.s.Family == pkt.FamilyIPv4:
		tr.icmpError(pkt.ICMPv4DestUnreach, pkt.ICMPv4HostUnreach, 0, ReasonUnreachableRoute, why+": host unreachable")
	default:
		tr.icmpError(pkt.ICMPv6DestUnreach, pkt.ICMPv6NoRoute, 0, ReasonUnreachableRoute, why+": no route to destination")
	}
}

// portDown mirrors Worker.portDown: the packet is routed out of port out,
// whose link is gone or down.
func (tr *tracer) portDown(ports string) {
	switch {
	case tr.rewritten:
		tr.drop(ReasonPortDown, "%s down, and the packet was rewritten: no error can reach its sender", ports)
	case tr.s.Family == pkt.FamilyIPv4:
		tr.icmpError(pkt.ICMPv4DestUnreach, pkt.ICMPv4HostUnreach, 0, ReasonPortDown, fmt.Sprintf("%s down: host unreachable", ports))
	default:
		tr.icmpError(pkt.ICMPv6DestUnreach, pkt.ICMPv6AddrUnreach, 0, ReasonPortDown, fmt.Sprintf("%s down: address unreachable", ports))
	}
}

// hopPorts names the port nh leaves by, for portDown ("port X is"); of
// an ECMP group, every member's.
func (tr *tracer) hopPorts(nh *nextHop) string {
	if nh.kind != nhECMP {
		return fmt.Sprintf("port %s is", tr.t.ports[nh.port].name)
	}
	var l []string
	for _, m := range nh.group.members[:nh.group.n] {
		l = append(l, tr.t.ports[tr.t.nhs[m].port].name)
	}
	return fmt.Sprintf("every port of the ECMP group of %d (%s) is", nh.group.n, strings.Join(slices.Compact(l), ", "))
}

// ecmp mirrors forward's pick of an ECMP group's member and says which
// member the flow took and why. It returns nil when every member's port
// is down (the trace ended).
func (tr *tracer) ecmp(nh *nextHop) *nextHop {
	t := tr.t
	g := &nh.group
	h := flowHash(&tr.s)
	on := "addresses, protocol and ports"
	switch {
	case tr.s.Flags&pkt.FlagFragment != 0:
		on = "addresses and protocol (a fragment)"
	case tr.s.Flags&pkt.FlagPorts == 0:
		on = "addresses and protocol"
	}
	m, first, ok := t.pickMember(g, h)
	if !ok {
		tr.portDown(tr.hopPorts(nh))
		return nil
	}
	pick := &t.nhs[g.members[m]]
	if m == first {
		tr.step(StageRoute, "ok", "ECMP group of %d: member %d by flow hash %#016x (%s): %s",
			g.n, m+1, h, on, tr.hopText(pick))
	} else {
		skipped := &t.nhs[g.members[first]]
		live := 0
		for _, i := range g.members[:g.n] {
			if !t.ports[t.nhs[i].port].down {
				live++
			}
		}
		tr.step(StageRoute, "ok", "ECMP group of %d: member %d by flow hash %#016x (%s) is out of port %s, which is down: member %d, picked among the %d live by the hash's low half: %s",
			g.n, first+1, h, on, t.ports[skipped.port].name, m+1, live, tr.hopText(pick))
	}
	return pick
}

// translate mirrors Worker.to4 (to6 false, into target) and Worker.to6,
// on the copy, with fragment buffers of its own.
func (tr *tracer) translate(to6 bool, target *space) bool {
	t, s := tr.t, &tr.s
	dir := "6->4"
	if to6 {
		dir = "4->6"
	}
	if t.xlat == nil {
		tr.drop(ReasonXlat, "%s: no translator", dir)
		return false
	}
	before := tr.flow()
	l3 := tr.base + int(s.L3Off)
	p := &xlat.Packet{Buf: tr.buf, Off: l3, Len: int(s.L3Len), Space: target.id, MTU: t.xlatMTU(tr.nh), RouterAnswers: true}
	if to6 {
		p.Space = tr.sp.id
		p.MTU = t.xlatMTU(t.coreHop(tr.sp, s))
	}
	var st xlat.Stats
	run := func() xlat.Verdict {
		if to6 {
			return t.xlat.To6(p, &st)
		}
		return t.xlat.To4(p, &st)
	}
	vd := run()
	if vd == xlat.Drop && p.Reason == xlat.ReasonFragBuffers {
		// Worker.translate lends up to maxFragments frames.
		bufs := make([][]byte, maxFragments+1)
		for i := range bufs {
			bufs[i] = make([]byte, 0, 9216)
		}
		p.Frags = bufs
		vd = run()
	}
	switch vd {
	case xlat.Forward:
	case xlat.Reply:
		tr.step(StageXlat, "answer", "%s: the translator answers with an ICMP error (%v), out of %s (rate limit permitting)", dir, p.Reason, tr.pe.name)
		tr.end("answer", ReasonXlatReply, tr.pe.name)
		return false
	case xlat.TooBig:
		tr.xlatTooBig(dir, p)
		return false
	case xlat.Fragments:
		// The first piece goes on as the packet; the others follow it.
		first := append(make([]byte, traceHeadroom, traceHeadroom+len(p.Frags[0])+64), p.Frags[0]...)
		for _, fr := range p.Frags[1:p.NFrags] {
			tr.frags = append(tr.frags, len(fr))
		}
		tr.buf = append(first, make([]byte, 64)...)
		p.Buf, p.Off, p.Len = tr.buf, traceHeadroom, len(p.Frags[0])
	default:
		if p.Reason == xlat.ReasonFragBuffers {
			tr.drop(ReasonXlatFrags, "%s: the packet needs more pieces than a worker can lend", dir)
		} else {
			tr.drop(ReasonXlat, "%s: the translator drops it (%v)", dir, p.Reason)
		}
		return false
	}
	if !to6 && p.Space != target.id {
		tr.drop(ReasonXlatSpace, "6->4: the translator delivers into space %d, the route into %d", p.Space, target.id)
		return false
	}
	if !to6 && p.Hairpin {
		// Worker.to4: the IPv4 destination is an IPv6 host's by an EAM
		// (RFC 7757 4.2.2); back to IPv6 and into the core's table.
		tr.rewritten = true
		p.MTU = t.uplinkMTU
		switch vd := t.xlat.Hairpin(p, &st); vd {
		case xlat.Forward:
		case xlat.TooBig:
			tr.drop(ReasonTooBigRewritten, "6->4->6: hairpinned, too big for the uplinks (MTU %d) and no longer the packet its sender sent", p.TooBigMTU)
			return false
		default:
			tr.drop(ReasonXlat, "6->4->6: hairpinning drops it (%v, %v)", vd, p.Reason)
			return false
		}
		dir, target = "6->4->6 (EAM hairpin, RFC 7757 4.2.2)", t.flat
	}
	tr.base = p.Off
	tr.rewritten = true
	tr.sp = target
	if pkt.ParseIP(tr.buf[p.Off:p.Off+p.Len], s) != pkt.OK {
		tr.drop(ReasonMalformed, "%s: the translated packet does not parse (%v): a bug in xlat", dir, s.Reason)
		return false
	}
	split := ""
	if len(tr.frags) > 0 {
		split = fmt.Sprintf(", split into %d pieces", len(tr.frags)+1)
	}
	tr.step(StageXlat, "ok", "%s: %v becomes %v%s", dir, before, tr.flow(), split)
	return true
}

// state mirrors Worker.state: conntrack, policy, NAT.
func (tr *tracer) state() bool {
	t, s := tr.t, &tr.s
	var dst *endpoint
	if tr.nh != nil && tr.nh.kind == nhEndpoint {
		dst = tr.nh.ep
	}
	if t.nat == nil {
		tr.step(StageConntrack, "skip", "no connection table: policy is stateless, every packet is new")
		return tr.policy(acl.ConnNew, tr.ep, dst, nil) && tr.hostPolicy(acl.ConnNew)
	}
	if len(tr.frags) > 0 {
		tr.step(StageConntrack, "ok", "the translator's pieces are tracked one by one; shown: the first")
	}
	// nat.Table.QueryWith rewrites what it is given as Track and Commit
	// would: it gets a copy, taken on when the pipeline's packet would
	// be rewritten (Track at once, Commit after policy). It asks under
	// the NAT policy the workers take from these tables
	// (BeginBatchWith), which is the table's own when they carry none.
	frame := tr.frame()
	qbuf, qs := append([]byte(nil), frame...), *s
	q := t.nat.QueryWith(t.natPolicy, qbuf, &qs, tr.sp.id)
	adopt := func() {
		copy(frame, qbuf)
		*s = qs
	}
	res := q.Track
	switch {
	case res.Action == nat.Held:
		tr.step(StageConntrack, "held", "a later fragment whose first fragment has not been forwarded: held until it is (or dropped, %v, by a worker that holds none)", nat.ReasonFragment)
		tr.end("held", ReasonNone, "")
		return false
	case res.Action == nat.Decide:
		tr.step(StageConntrack, "ok", "new flow: no session")
	case res.Action == nat.Forward && q.HasSession:
		ss := q.Session
		tr.step(StageConntrack, "ok", "%s packet of session %v <-> %v, %s, idle %v of %v", dirName(res.Dir), tupleText(ss.Original), tupleText(ss.Reply), ss.State, ss.Idle, ss.Timeout)
	case res.Action == nat.Forward && res.State == nat.StateRelated:
		tr.step(StageConntrack, "ok", "ICMP error about a tracked flow (related)")
	case res.Action == nat.Forward:
		tr.step(StageConntrack, "ok", "%s packet of a tracked flow", res.State)
	}
	if res.Action == nat.Forward {
		adopt()
	}
	if res.Action == nat.Decide || res.Action == nat.Forward {
		var to *dnatTarget
		way := true
		if res.Action == nat.Decide {
			// nat.Worker.Destination's answer, as state uses it.
			if q.DestTranslated {
				var d [16]byte
				if q.Dest.Is4() {
					a := q.Dest.As4()
					copy(d[:], a[:])
				} else {
					d = q.Dest.As16()
				}
				to = &dnatTarget{dst: d, port: q.DestPort}
				dst = localEndpoint(t, q.DestSpace, s.Family, &d)
				tr.step(StageConntrack, "ok", "destination NAT: to %v in space %d", q.Dest, q.DestSpace)
			} else {
				way = routed(t, &view{s: s, sp: tr.sp, nh: tr.nh, translatedIn: tr.translatedIn}, q.DestSpace)
			}
		}
		if !tr.policy(connState(res.State), tr.ep, dst, to) || !tr.hostPolicy(connState(res.State)) {
			return false
		}
		if res.Action == nat.Decide {
			if !way {
				tr.noRoute()
				return false
			}
			res = q.Commit
			if res.Action == nat.Forward {
				tr.step(StageConntrack, "ok", "new session: %s", natText(&q, res))
				adopt()
			}
		}
	}
	switch res.Action {
	case nat.Drop:
		tr.drop(ReasonConntrack, "nat drops it: %v", res.Reason)
		return false
	case nat.DropAndReply:
		if tr.translatedIn { // natReply: the answer would be of the wrong family
			tr.step(StageConntrack, "drop", "nat refuses the flow (%v); its answer is not sent: the packet came from the IPv6 core", res.Reason)
			tr.end("drop", ReasonConntrackReply, "")
			return false
		}
		what := "administratively prohibited"
		if res.Reason == nat.ReasonTCPNoStateReset {
			what = "a TCP RST"
		}
		tr.step(StageConntrack, "answer", "nat refuses the flow (%v) and answers %s out of %s (rate limit permitting)", res.Reason, what, tr.pe.name)
		tr.end("answer", ReasonConntrackReply, tr.pe.name)
		return false
	}
	if res.Translated {
		tr.rewritten = true
		if res.Space != tr.sp.id {
			sp := t.spaces[res.Space]
			if sp == nil {
				tr.drop(ReasonNoRoute, "NAT puts the packet in space %d, which these tables do not have", res.Space)
				return false
			}
			tr.sp = sp
		}
		tr.step(StageConntrack, "ok", "translated: now %v", tr.flow())
		tr.nh = tr.route()
	}
	return true
}

func tupleText(u nat.Tuple) string {
	return TraceFlow{Space: u.Space, Proto: u.Proto, Src: u.Src, Dst: u.Dst, SrcPort: u.SrcPort, DstPort: u.DstPort}.String()
}

func dirName(d nat.Dir) string {
	if d == nat.Reply {
		return "reply"
	}
	return "original"
}

// natText says what Commit does to a new flow.
func natText(q *nat.QueryResult, res nat.Result) string {
	a := q.After
	var l []string
	switch {
	case q.SNAT && q.Mapping:
		l = append(l, fmt.Sprintf("source NAT to %v through its existing mapping", netip.AddrPortFrom(a.Src, a.SrcPort)))
	case q.SNAT:
		l = append(l, fmt.Sprintf("source NAT to %v, a new mapping (the port as free now)", netip.AddrPortFrom(a.Src, a.SrcPort)))
	case q.FloatingSrc:
		l = append(l, fmt.Sprintf("floating IP: source becomes %v", a.Src))
	}
	switch {
	case q.FloatingDst:
		l = append(l, fmt.Sprintf("floating IP: destination becomes %v (space %d)", a.Dst, res.Space))
	case q.Inbound:
		l = append(l, fmt.Sprintf("inbound through a mapping to %v (space %d)", netip.AddrPortFrom(a.Dst, a.DstPort), res.Space))
	}
	if len(l) == 0 {
		return "no translation"
	}
	return strings.Join(l, "; ")
}

// policy mirrors Worker.policy, telling the deciding rules. It returns
// false when the packet is denied (the trace ended).
func (tr *tracer) policy(st acl.ConnState, src, dst *endpoint, to *dnatTarget) bool {
	s := &tr.s
	var k acl.PacketKey
	k.FromSummary(s)
	if src == nil {
		tr.step(StagePolicy, "skip", "egress: not from a local endpoint")
	} else if src.egress == nil {
		tr.step(StagePolicy, "ok", "egress of %s: no policy", src.name)
	} else {
		d := src.egress.Check(st, &k)
		if d.Verdict != acl.Accept {
			tr.drop(ReasonPolicyEgress, "egress of %s: %s", src.name, decisionText(src.egress, d))
			return false
		}
		tr.step(StagePolicy, "ok", "egress of %s: %s", src.name, decisionText(src.egress, d))
	}
	if dst == nil {
		tr.step(StagePolicy, "skip", "ingress: not to a local endpoint")
		return true
	}
	if dst.ingress == nil {
		tr.step(StagePolicy, "ok", "ingress of %s: no policy", dst.name)
		return true
	}
	if to != nil && st == acl.ConnNew {
		k.Dst = to.dst
		if s.Flags&pkt.FlagPorts != 0 {
			k.DstPort = to.port
		}
	}
	d := dst.ingress.Check(st, &k)
	if d.Verdict != acl.Accept {
		tr.drop(ReasonPolicyIngress, "ingress of %s: %s", dst.name, decisionText(dst.ingress, d))
		return false
	}
	tr.step(StagePolicy, "ok", "ingress of %s: %s", dst.name, decisionText(dst.ingress, d))
	return true
}

// hostPolicy mirrors Worker.hostPolicy: the host endpoints of the uplinks
// the packet came in on and leaves by. It returns false when the packet
// is denied (the trace ended).
func (tr *tracer) hostPolicy(st acl.ConnState) bool {
	t := tr.t
	if in := tr.pe.hep; in != nil && in.ingress != nil {
		d := in.ingress.Check(st, &tr.hk)
		if d.Verdict != acl.Accept || !tr.hkSet && st == acl.ConnNew {
			tr.drop(ReasonHostEndpointIngress, "ingress of host endpoint %s (uplink %s, applyOnForward): %s", in.name, tr.pe.name, decisionText(in.ingress, d))
			return false
		}
		tr.step(StagePolicy, "ok", "ingress of host endpoint %s: %s", in.name, decisionText(in.ingress, d))
	}
	if out := outHost(t, &view{s: &tr.s, nh: tr.nh}); out != nil && out.egress != nil {
		var k acl.PacketKey
		k.FromSummary(&tr.s)
		d := out.egress.Check(st, &k)
		if d.Verdict != acl.Accept {
			tr.drop(ReasonHostEndpointEgress, "egress of host endpoint %s (applyOnForward): %s", out.name, decisionText(out.egress, d))
			return false
		}
		tr.step(StagePolicy, "ok", "egress of host endpoint %s: %s", out.name, decisionText(out.egress, d))
	}
	return true
}

// decisionText names the rule that decided d.
func decisionText(p *acl.Program, d acl.Decision) string {
	var why string
	switch {
	case d.Rule == acl.RuleConnTrack:
		why = "established or related connection, skips policy"
	case d.Rule == acl.RuleInvalidState:
		why = "invalid for its connection"
	case d.Rule == acl.RuleDefaultDeny && p.PoliciesApplied:
		why = "default deny: policies apply and none allowed it"
	case d.Rule == acl.RuleDefaultDeny:
		why = "default deny: no profile rule allowed it"
	case int(d.Rule) >= 0 && int(d.Rule) < len(p.Rules()):
		r := p.Rules()[d.Rule]
		why = fmt.Sprintf("%s (%s)", r, r.Action)
	default:
		why = fmt.Sprintf("rule %d", d.Rule)
	}
	if d.Log {
		why += ", logged"
	}
	return fmt.Sprintf("%s by %s", d.Verdict, why)
}

// forward mirrors Worker.forward and reports the packet leaving. The
// trace has no worker: a slot without a port is one the tables say is
// empty (RoleNone), which NewTables lets no route name.
func (tr *tracer) forward(nh *nextHop) {
	t, s := tr.t, &tr.s
	if nh.kind == nhECMP {
		if nh = tr.ecmp(nh); nh == nil {
			return
		}
	}
	if nh.kind == nhUnreachable {
		tr.unreachableRoute()
		return
	}
	out := &t.ports[nh.port]
	if out.role == RoleNone {
		tr.drop(ReasonNoPort, "port %d is an empty slot: nothing to send the packet out of", nh.port)
		return
	}
	if out.down {
		tr.portDown(fmt.Sprintf("port %s is", out.name))
		return
	}
	split := 0
	if int(s.L3Len) > out.mtu {
		if len(tr.frags) != 0 || s.Family != pkt.FamilyIPv4 || s.Flags&pkt.FlagDontFragment != 0 {
			tr.drop(ReasonTooBigRewritten, "%d bytes above the MTU %d of %s after NAT or translation: no error can reach the sender", s.L3Len, out.mtu, out.name)
			return
		}
		ip := tr.frame()[s.L3Off:s.End()]
		hl := pkt.IPv4(ip).HeaderLen()
		var hdr [60]byte
		n, ok := copiedOptions(hdr[pkt.IPv4MinLen:], ip[pkt.IPv4MinLen:hl])
		if !ok {
			tr.drop(ReasonFragOptions, "above the MTU %d of %s and its IPv4 options cannot be walked to fragment it", out.mtu, out.name)
			return
		}
		hl2 := pkt.IPv4MinLen + (n+3)&^3
		first, later := (out.mtu-hl)&^7, (out.mtu-hl2)&^7
		payload := int(s.L3Len) - hl
		need := (payload - first + later - 1) / later
		if need > maxFragments {
			tr.drop(ReasonFragFrames, "above the MTU %d of %s: %d fragments, more than a worker can send", out.mtu, out.name, need+1)
			return
		}
		split = need + 1
	}
	for _, n := range tr.frags {
		if n > out.mtu {
			tr.drop(ReasonTooBigRewritten, "a translated piece of %d bytes is above the MTU %d of %s", n, out.mtu, out.name)
			return
		}
	}
	mtu := fmt.Sprintf("%d bytes within the MTU %d of %s", s.L3Len, out.mtu, out.name)
	if split > 0 {
		mtu = fmt.Sprintf("%d bytes above the MTU %d of %s without DF: fragmented into %d (frames permitting)", s.L3Len, out.mtu, out.name, split)
	}
	var dstMAC pkt.MAC
	switch nh.kind {
	case nhEndpoint:
		dstMAC = nh.ep.mac
		tr.step(StageNeighbour, "ok", "endpoint %s's MAC %v", nh.ep.name, dstMAC)
	case nhGateway, nhConnected:
		addr := nh.gw
		if nh.kind == nhConnected {
			addr = dstAddr(s)
		}
		var mac [6]byte
		ok := false
		if tr.nb != nil {
			mac, ok = tr.nb.Lookup(out.ifindex, addr)
		}
		if !ok {
			tr.drop(ReasonNoNeighbour, "%v on %s (ifindex %d) is not resolved; the worker would ask the neighbour cache", addr, out.name, out.ifindex)
			return
		}
		dstMAC = mac
		via := ""
		if s.Family == pkt.FamilyIPv4 && addr.Is6() {
			via = " (an IPv6 next hop of an IPv4 route, RFC 8950: the frame stays IPv4)"
		}
		tr.step(StageNeighbour, "ok", "%v on %s is at %v%s", addr, out.name, dstMAC, via)
	}
	ttl := "TTL"
	if s.Family == pkt.FamilyIPv6 {
		ttl = "hop limit"
	}
	tr.step(StageForward, "ok", "%s; %s %d -> %d", mtu, ttl, s.TTL, s.TTL-1)
	tr.res.After = tr.flow()
	tr.step(StageTx, "forward", "out of %s to %v (tx ring permitting)", out.name, dstMAC)
	tr.end("forward", ReasonNone, out.name)
}
