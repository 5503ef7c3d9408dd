// The fast path's Go half: the pipeline stays the only place a flow is
// decided; once it has decided a packet of an established TCP or UDP
// flow completely (route, policy, NAT mapping, neighbour, and for a
// translated flow its 4->6 translation out of the space, fastXlat46, or
// its 6->4 translation into it, fastXlat64), forward
// offers the decision as a fastInstall on the worker's own bounded ring,
// never a syscall on the worker. The Offload's goroutine drains the rings
// into the kernel's flow table (fwd/bpf.FastPath), where the XDP program
// repeats the decision for the flow's later packets. The same goroutine
// keeps the state in Go: it refreshes conntrack for flows the kernel
// forwarded, and removes entries whose session ended or expired, or whose
// generation is gone.
//
// Generations: a decision is only as good as the tables, neighbours and
// policy it was made under. Every published change bumps the generation
// (Offload.Publish, after the new tables are stored); a worker reads the
// generation before it loads the tables of a round, so a decision is
// never tagged newer than the tables it was made under, and the kernel
// applies only entries of the current generation.

package fwd

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// fastCapture is what ingress saw of a packet the fast path could take
// over, kept in its view until forward knows the rest of the decision.
type fastCapture struct {
	ok    bool
	space uint16 // the packet's address space as it arrived (conntrack's)
	key   bpf.FlowKey
	inMAC [6]byte
	mtu   int // the path MTU ingress checked the packet against
	// xlat46: to6 translated the packet out of its space across the core,
	// for a next hop of hop6 (IPv6 MTU); mtuFrag is the longest IPv6 form
	// of a packet without DF To6 sends unsplit (the lowest IPv6 MTU, or
	// hop6 when lower).
	xlat46        bool
	hop6, mtuFrag int
	// xlat64: to4 translated the packet from the core into its space
	// (the key is the IPv6 packet as it arrived), for an IPv4 next hop
	// of hop4; ct is the packet as conntrack sees it there.
	xlat64 bool
	hop4   int
	ct     bpf.FlowKey
}

// fastInstall is one decision on its way to the kernel.
type fastInstall struct {
	key   bpf.FlowKey
	flow  bpf.Flow
	space uint16
	ct    bpf.FlowKey // the flow as conntrack sees it in space (key, unless translated 6->4)
}

// fastRecentSlots is the size of a worker's memory of decisions it
// offered recently: the packets of a flow that follow before the
// install lands need not be offered again.
const fastRecentSlots = 256

// fastQueueSlots is the size of each worker's install ring.
const fastQueueSlots = 1024

// OffloadConfig configures an Offload.
type OffloadConfig struct {
	// Tables are the tables the workers forward with: the connection
	// table conntrack refreshes and expiry are asked of is theirs.
	Tables *atomic.Pointer[Tables]
	// Neighbours, when set, are watched: a new snapshot bumps the
	// generation (a neighbour's MAC may have changed).
	Neighbours Neighbours
	// Interval is how often the rings are drained (default 2ms); every
	// SweepEvery-th drain (default 250) also sweeps the flow table.
	Interval   time.Duration
	SweepEvery int
	// IdleTimeout removes a flow without a connection table after this
	// long without a packet (default 60s): nothing else would.
	IdleTimeout time.Duration
	// Clock is CLOCK_MONOTONIC in ns, what bpf_ktime_get_ns returns;
	// tests set it.
	Clock func() uint64
	// Delivered, when set, reads how many frames redirected by XDP the
	// device ifindex has taken so far (veth: its tx_queue_N_xdp_xmit);
	// false when the device does not say. Each sweep compares it with
	// what the flow table redirected into the device: a device that took
	// none of them drops them (a veth whose other end has neither GRO nor
	// an XDP program), and is taken off the fast path (checkEgress).
	Delivered func(ifindex int) (uint64, bool)
	// Log receives one line when an egress device goes off the fast path
	// and when it comes back; nil: slog.Default.
	Log *slog.Logger
}

// Offload connects the workers to the kernel fast path.
type Offload struct {
	fp  *bpf.FastPath
	cfg OffloadConfig
	gen atomic.Uint32
	// evicted counts sweeps that removed entries: a worker forgets its
	// recent offers when it changes, so a flow whose entry went (its
	// session ended, then began again) is offered anew.
	evicted atomic.Uint32

	mu      sync.Mutex // guards queues and the sync state below
	queues  []*spsc[fastInstall]
	flows   map[bpf.FlowKey]*offloaded
	snap    *neigh.Snapshot
	drains  int
	renewed uint64      // CLOCK_MONOTONIC of the last lease renewal
	nw      *nat.Worker // conntrack refreshes, for the table nwFor
	nwFor   *nat.Table
	scr     [128]byte // a refresh's synthetic frame
	scrSum  pkt.Summary

	// traffic is what the kernel forwarded per device (ifindex), summed
	// from the entries' counters by the sweeps: rx on the flow's ingress
	// device, tx on its egress device.
	traffic map[uint32]*PortStats
	// egress are the devices flows may leave by (AddEgress), with what
	// the redirect check knows of them.
	egress map[uint32]*egressState

	c offloadCounters
}

// offloaded is the Go side's record of an installed flow.
type offloaded struct {
	space   uint16
	ct      bpf.FlowKey // the flow as conntrack sees it in space
	egress  uint32
	packets uint64 // the kernel's counts at the last reading
	bytes   uint64
	active  bool // the kernel forwarded packets of it since the last sweep
}

type offloadCounters struct {
	installs, full, errors, queueFull, evictStale, evictEnded, evictIdle atomic.Uint64
	egressOff, egressOn, egressRefused                                   atomic.Uint64
}

// OffloadStats are an Offload's counters.
type OffloadStats struct {
	Installs      uint64 // decisions written into the kernel's flow table
	InstallFull   uint64 // refused: the table was full (the flow stays on the pipeline)
	InstallErrors uint64 // refused by another error (the flow stays on the pipeline)
	QueueFull     uint64 // decisions a worker could not queue (the flow stays on the pipeline)
	EvictStale    uint64 // entries of an older generation removed
	EvictEnded    uint64 // entries removed because conntrack's session ended or expired
	EvictIdle     uint64 // entries without a connection table removed after IdleTimeout
	// EgressOff counts the times an egress device was taken off the fast
	// path because it dropped the frames redirected into it; EgressOn
	// the times one came back; EgressRefused the decisions not installed
	// because their egress device was off.
	EgressOff, EgressOn, EgressRefused uint64
	Installed                          int      // entries the Go side knows are in the table
	OffPorts                           []uint32 // egress devices (ifindex) off the fast path now
	Generation                         uint32
}

// Each calls fn with the name and value of every event counter.
func (s OffloadStats) Each(fn func(event string, n uint64)) {
	fn("installs", s.Installs)
	fn("install-full", s.InstallFull)
	fn("install-errors", s.InstallErrors)
	fn("queue-full", s.QueueFull)
	fn("evict-stale", s.EvictStale)
	fn("evict-ended", s.EvictEnded)
	fn("evict-idle", s.EvictIdle)
	fn("egress-off", s.EgressOff)
	fn("egress-on", s.EgressOn)
	fn("egress-refused", s.EgressRefused)
}

// NewOffload returns an Offload writing into fp.
func NewOffload(fp *bpf.FastPath, cfg OffloadConfig) (*Offload, error) {
	if fp == nil {
		return nil, errors.New("fwd: NewOffload: nil FastPath")
	}
	if cfg.Tables == nil {
		return nil, errors.New("fwd: OffloadConfig.Tables: nil")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Millisecond
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 250
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = bpf.MonotonicNs
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	o := &Offload{fp: fp, cfg: cfg, flows: map[bpf.FlowKey]*offloaded{}, traffic: map[uint32]*PortStats{},
		egress: map[uint32]*egressState{}}
	o.gen.Store(1)
	if err := o.renew(); err != nil {
		return nil, err
	}
	if cfg.Neighbours != nil {
		o.snap = cfg.Neighbours.Snapshot()
	}
	return o, nil
}

// register gives a worker its install ring.
func (o *Offload) register() *spsc[fastInstall] {
	q := newSPSC[fastInstall](fastQueueSlots)
	o.mu.Lock()
	o.queues = append(o.queues, q)
	o.mu.Unlock()
	return q
}

// Publish bumps the generation: every installed decision is stale from
// the next packet on. Call it after storing new tables (or a new policy
// in them), never before: a worker that loaded the old tables must not
// see the new generation.
func (o *Offload) Publish() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bump()
}

func (o *Offload) bump() error {
	o.gen.Add(1)
	return o.renew()
}

// fastLease is how long the kernel applies decisions without hearing
// from the Offload: after a stop, a crash or a hang of gannet the fast
// path ends within it and every frame reaches the (absent) socket, where
// the no-socket policy fails closed. Sync renews it every quarter.
const fastLease = time.Second

// renew writes the current generation with a fresh lease.
func (o *Offload) renew() error {
	o.renewed = bpf.MonotonicNs()
	return o.fp.SetGeneration(o.gen.Load(), fastLease)
}

// renewDue renews the lease when a quarter of it has passed.
func (o *Offload) renewDue() {
	if bpf.MonotonicNs()-o.renewed >= uint64(fastLease/4) {
		_ = o.renew() // a failed write lets the lease run out: the pipeline takes every flow
	}
}

// Generation returns the current generation.
func (o *Offload) Generation() uint32 { return o.gen.Load() }

// Stats returns the Offload's counters.
func (o *Offload) Stats() OffloadStats {
	o.mu.Lock()
	n := len(o.flows)
	var offPorts []uint32
	for ifindex, e := range o.egress {
		if e.off {
			offPorts = append(offPorts, ifindex)
		}
	}
	o.mu.Unlock()
	slices.Sort(offPorts)
	return OffloadStats{
		Installs: o.c.installs.Load(), InstallFull: o.c.full.Load(), InstallErrors: o.c.errors.Load(),
		QueueFull: o.c.queueFull.Load(), EvictStale: o.c.evictStale.Load(), EvictEnded: o.c.evictEnded.Load(),
		EvictIdle: o.c.evictIdle.Load(), EgressOff: o.c.egressOff.Load(), EgressOn: o.c.egressOn.Load(),
		EgressRefused: o.c.egressRefused.Load(), Installed: n, OffPorts: offPorts, Generation: o.gen.Load(),
	}
}

// PortStats returns what the kernel fast path forwarded for flows that
// arrived on (Rx) and left by (Tx) the device ifindex, as of the last
// sweep: packets and frame bytes (the IP packet and its Ethernet header,
// no padding), which the port's own counters do not see.
func (o *Offload) PortStats(ifindex int) PortStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t := o.traffic[uint32(ifindex)]; t != nil {
		return *t
	}
	return PortStats{}
}

// Offloaded reports whether the flow k is installed under the current
// generation (gannet trace), with the kernel's counters for it.
func (o *Offload) Offloaded(k *bpf.FlowKey) (bool, bpf.FlowCounters) {
	c, gen, ok, err := o.fp.Lookup(k)
	if err != nil || !ok || gen != o.gen.Load() {
		return false, c
	}
	return true, c
}

// FastFlowKey is the fast path's key of flow f (a trace's Before) arriving
// on the device ifindex; false when the fast path never takes such a
// flow (not TCP or UDP).
func FastFlowKey(ifindex int, f TraceFlow) (bpf.FlowKey, bool) {
	if f.Proto != pkt.ProtoTCP && f.Proto != pkt.ProtoUDP || !f.Src.IsValid() || !f.Dst.IsValid() {
		return bpf.FlowKey{}, false
	}
	k := bpf.FlowKey{Ifindex: uint32(ifindex), Family: bpf.FamilyIPv6, Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort}
	if f.Src.Is4() {
		k.Family = bpf.FamilyIPv4
		s, d := f.Src.As4(), f.Dst.As4()
		copy(k.Src[:], s[:])
		copy(k.Dst[:], d[:])
	} else {
		k.Src, k.Dst = f.Src.As16(), f.Dst.As16()
	}
	return k, true
}

// Run drains and sweeps until ctx ends.
func (o *Offload) Run(ctx context.Context) {
	tick := time.NewTicker(o.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			o.Sync()
		}
	}
}

// Sync drains the workers' rings into the kernel, and every SweepEvery-th
// call sweeps the flow table. Run calls it; tests call it directly.
func (o *Offload) Sync() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if nb := o.cfg.Neighbours; nb != nil {
		if s := nb.Snapshot(); s != o.snap {
			o.snap = s
			_ = o.bump() // a failed write leaves the old generation: entries stay valid only as far as the tables go
		}
	}
	o.renewDue()
	o.drain()
	if o.cfg.Delivered != nil {
		o.probeEgress()
	}
	o.drains++
	if o.drains%o.cfg.SweepEvery == 0 {
		o.sweep()
	}
}

func (o *Offload) drain() {
	gen := o.gen.Load()
	for _, q := range o.queues {
		q.pop(func(in *fastInstall) {
			if in.flow.Gen != gen {
				return // decided under tables that are gone
			}
			if e := o.egress[in.flow.Egress]; e != nil && e.off {
				o.c.egressRefused.Add(1) // the pipeline keeps forwarding it
				return
			}
			rec := o.flows[in.key]
			if rec != nil {
				// The install starts the entry's counts again: take what
				// the kernel counted since the last sweep first.
				if c, _, ok, err := o.fp.Lookup(&in.key); err == nil && ok {
					o.account(&in.key, rec, c)
				}
			}
			err := o.fp.Install(&in.key, &in.flow)
			switch {
			case err == nil:
				o.c.installs.Add(1)
				if rec == nil {
					rec = &offloaded{}
					o.flows[in.key] = rec
				}
				*rec = offloaded{space: in.space, ct: in.ct, egress: in.flow.Egress, active: rec.active}
				if e := o.egress[in.flow.Egress]; e != nil {
					e.installed(&in.key)
				}
			case errors.Is(err, bpf.ErrFlowTableFull):
				o.c.full.Add(1)
			default:
				o.c.errors.Add(1)
			}
		})
	}
}

// Sweep runs a sweep now (tests).
func (o *Offload) Sweep() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.renewDue()
	o.sweep()
}

// sweep walks the kernel's flow table: entries of another generation go
// (the pipeline installs the flow again at its next packet); a flow the
// kernel forwarded since the last sweep refreshes its conntrack session
// as one of its packets would; an entry whose session ended or expired
// goes.
func (o *Offload) sweep() {
	gen := o.gen.Load()
	t := o.cfg.Tables.Load()
	now := o.cfg.Clock()
	var gone []bpf.FlowKey
	var reason []*atomic.Uint64
	seen := make(map[bpf.FlowKey]bool, len(o.flows))
	redirected := map[uint32]uint64{} // by egress device, since the last sweep
	_ = o.fp.Flows(func(k *bpf.FlowKey, g uint32, c bpf.FlowCounters) {
		seen[*k] = true
		rec := o.flows[*k]
		active := false // packets since the last sweep
		if rec != nil {
			redirected[rec.egress] += o.account(k, rec, c)
			active, rec.active = rec.active, false
		}
		switch {
		case g != gen || rec == nil || t == nil:
			gone, reason = append(gone, *k), append(reason, &o.c.evictStale)
		case t.nat == nil:
			if c.LastSeen+uint64(o.cfg.IdleTimeout) < now {
				gone, reason = append(gone, *k), append(reason, &o.c.evictIdle)
			}
		case !o.refresh(t, &rec.ct, rec.space, active):
			gone, reason = append(gone, *k), append(reason, &o.c.evictEnded)
		}
	})
	for i := range gone {
		if o.fp.Delete(&gone[i]) == nil {
			reason[i].Add(1)
		}
		delete(o.flows, gone[i])
	}
	if len(gone) > 0 {
		o.evicted.Add(1)
	}
	for k := range o.flows {
		if !seen[k] {
			delete(o.flows, k)
		}
	}
	if o.cfg.Delivered != nil {
		o.checkEgress(redirected)
	}
}

// account adds what the kernel counted for flow k since rec's last
// reading to the traffic of its ingress (rx) and egress (tx) devices,
// and returns the packets it added. Frame bytes: the entry counts IP
// bytes, each frame also carried an Ethernet header.
func (o *Offload) account(k *bpf.FlowKey, rec *offloaded, c bpf.FlowCounters) uint64 {
	if c.Packets < rec.packets || c.Bytes < rec.bytes {
		rec.packets, rec.bytes = 0, 0 // the entry was written anew behind our back
	}
	dp, db := c.Packets-rec.packets, c.Bytes-rec.bytes
	rec.packets, rec.bytes = c.Packets, c.Bytes
	if dp == 0 {
		return 0
	}
	rec.active = true
	db += dp * pkt.EthernetLen
	in, out := o.trafficOf(k.Ifindex), o.trafficOf(rec.egress)
	in.RxPackets += dp
	in.RxBytes += db
	out.TxPackets += dp
	out.TxBytes += db
	return dp
}

func (o *Offload) trafficOf(ifindex uint32) *PortStats {
	t := o.traffic[ifindex]
	if t == nil {
		t = &PortStats{}
		o.traffic[ifindex] = t
	}
	return t
}

// refresh asks conntrack about flow k (as conntrack sees it) in space. With active (the kernel
// forwarded packets of it since the last sweep) it takes a bare
// TCP ACK or UDP header of the flow through a conntrack worker, which
// refreshes the session's timer exactly as one of the flow's packets
// does; otherwise it only looks. It reports whether the session is still
// established.
func (o *Offload) refresh(t *Tables, k *bpf.FlowKey, space uint16, active bool) bool {
	frame := o.synth(k)
	if pkt.Parse(frame, &o.scrSum) != pkt.OK {
		return false
	}
	if !active {
		q := t.nat.QueryWith(t.natPolicy, frame, &o.scrSum, space)
		return q.Track.Action == nat.Forward && q.Track.State == nat.StateEstablished
	}
	if o.nwFor != t.nat {
		o.nw, o.nwFor = t.nat.NewWorker(), t.nat
	}
	o.nw.BeginBatchWith(t.natPolicy)
	r := o.nw.Track(frame, &o.scrSum, space)
	return r.Action == nat.Forward && r.State == nat.StateEstablished
}

// synth writes a minimal frame of flow k into the scratch buffer: the
// IP header and a TCP ACK (no other flag) or an empty UDP datagram.
func (o *Offload) synth(k *bpf.FlowKey) []byte {
	b := o.scr[:]
	clear(b)
	binary.BigEndian.PutUint16(b[12:], pkt.EtherTypeIPv4)
	ip := b[pkt.EthernetLen:]
	l4len := 8
	if k.Proto == pkt.ProtoTCP {
		l4len = 20
	}
	var l4 []byte
	if k.Family == bpf.FamilyIPv4 {
		ip[0], ip[8], ip[9] = 0x45, 64, k.Proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4len))
		copy(ip[12:16], k.Src[:4])
		copy(ip[16:20], k.Dst[:4])
		binary.BigEndian.PutUint16(ip[10:], pkt.IPv4(ip[:20]).ComputeChecksum())
		l4 = ip[20:]
	} else {
		binary.BigEndian.PutUint16(b[12:], pkt.EtherTypeIPv6)
		ip[0], ip[6], ip[7] = 0x60, k.Proto, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
		copy(ip[8:24], k.Src[:])
		copy(ip[24:40], k.Dst[:])
		l4 = ip[40:]
	}
	binary.BigEndian.PutUint16(l4[0:], k.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], k.DstPort)
	if k.Proto == pkt.ProtoTCP {
		l4[12], l4[13] = 5<<4, pkt.TCPFlagACK
	} else {
		binary.BigEndian.PutUint16(l4[4:], 8)
	}
	n := pkt.EthernetLen + len(ip) - len(l4) + l4len
	return b[:n]
}

// fastEligible fills v.fc when the packet is one the kernel fast path
// could forward: plain TCP (no SYN, FIN or RST) or UDP, untagged, no
// IPv4 options, IPv6 extension headers or fragments. Called at the end of
// ingress, before conntrack or NAT touch the packet.
func (w *Worker) fastEligible(t *Tables, v *view) {
	s := v.s
	v.fc.ok = false
	if s.Proto != pkt.ProtoTCP && s.Proto != pkt.ProtoUDP || s.Flags&(pkt.FlagFragment|pkt.FlagVLAN) != 0 ||
		s.L3Off != pkt.EthernetLen || v.translatedIn {
		return
	}
	if s.Proto == pkt.ProtoTCP && s.TCPFlags&(pkt.TCPFlagSYN|pkt.TCPFlagFIN|pkt.TCPFlagRST) != 0 {
		return
	}
	k := &v.fc.key
	hl := 20
	k.Family = bpf.FamilyIPv4
	if s.Family == pkt.FamilyIPv6 {
		hl, k.Family = 40, bpf.FamilyIPv6
	}
	if int(s.L4Off-s.L3Off) != hl {
		return
	}
	k.Ifindex = uint32(t.ports[v.in].ifindex)
	k.Proto = s.Proto
	k.Src, k.Dst = s.Src, s.Dst
	k.SrcPort, k.DstPort = s.SrcPort, s.DstPort
	v.fc.xlat46 = false
	v.fc.space = v.sp.id
	v.fc.inMAC = pkt.Ethernet(w.mem[v.base : v.base+pkt.EthernetLen]).Dst()
	v.fc.mtu = 0xffff
	if v.nh != nil && v.nh.kind != nhTranslate {
		v.fc.mtu = t.hopMTU(v.nh)
	}
	v.fc.ok = true
}

// fastXlat46 keeps the packet of v offerable after to6 translated it
// (unsplit, p its translation) out of its space into the core: what
// To6 did to it depends only on the flow (the addresses it mapped, the
// pseudo-header they change), except for a packet To6 fragments or
// answers for its length, which the limits kept here send to the
// pipeline.
func (w *Worker) fastXlat46(t *Tables, v *view, p *xlat.Packet) {
	hop := p.HopMTU()
	v.fc.ok, v.fc.xlat46 = true, true
	v.fc.hop6, v.fc.mtuFrag = hop, min(hop, t.xlat.LowestIPv6MTU())
}

// fastXlat64 keeps the packet of v offerable after to4 translated it
// (unsplit, not hairpinned, p its translation) from the core into its
// space: the key stays the IPv6 packet as it arrived (fastEligible ran
// before to4), conntrack and NAT see the IPv4 packet in the space.
// What To4 did depends only on the flow (the addresses it mapped, the
// pseudo-header they change), except the Identification (the kernel
// has its own generator) and what depends on the packet's length: DF,
// which the kernel sets by the same rule, and fragmenting or answering
// a packet too long for p's next hop, which the limit kept here sends
// to the pipeline.
func (w *Worker) fastXlat64(v *view, p *xlat.Packet) {
	s := v.s
	v.fc.ok, v.fc.xlat64 = true, true
	v.fc.hop4 = p.HopMTU()
	v.fc.space = v.sp.id
	v.fc.ct = bpf.FlowKey{Ifindex: v.fc.key.Ifindex, Family: bpf.FamilyIPv4, Proto: s.Proto, Src: s.Src, Dst: s.Dst,
		SrcPort: s.SrcPort, DstPort: s.DstPort}
}

// fastOffer queues the decision forward made for the packet of v: out
// of port out (ifindex) with the MACs given. Called only for a packet
// that leaves as one frame, unsplit.
func (w *Worker) fastOffer(v *view, out *portEntry, dst, src pkt.MAC) {
	s := v.s
	k := &v.fc.key
	// The ingress device tells a flow from its answer (flowHash is the
	// same both ways); the multiply spreads it into the slot's bits.
	h := flowHash(s) ^ uint64(k.Ifindex)
	if v.fc.xlat64 {
		// s is the packet in its space: answers into two spaces can
		// share its tuple and their uplink. The key's IPv6 addresses
		// (the spaces' prefixes) tell them apart.
		h ^= binary.LittleEndian.Uint64(k.Src[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k.Dst[:8]), 29)
	}
	h *= 0x9e3779b97f4a7c15
	r := &w.frecent[h>>56%fastRecentSlots]
	if r.hash == h && r.gen == w.fgen && r.epoch == w.fepoch {
		return
	}
	in := w.fq.slot()
	if in == nil {
		w.off.c.queueFull.Add(1)
		return
	}
	r.hash, r.gen, r.epoch = h, w.fgen, w.fepoch
	in.key = *k
	in.space = v.fc.space
	in.ct = *k
	if v.fc.xlat64 {
		in.ct = v.fc.ct
	}
	f := &in.flow
	*f = bpf.Flow{Gen: w.fgen, Egress: uint32(out.ifindex), DstMAC: dst, SrcMAC: src, InMAC: v.fc.inMAC,
		MTU: uint16(min(v.fc.mtu, out.mtu, 0xffff)), Src: s.Src, Dst: s.Dst, SrcPort: s.SrcPort, DstPort: s.DstPort}
	if v.fc.xlat46 {
		// To6's limits and the egress port's are on the IPv6 form; the
		// kernel checks the IPv4 packet, 20 bytes shorter. Ingress's
		// check (on the IPv4 packet, with DF) holds as well. The new
		// header's pseudo-header sum differs from the old by the
		// addresses only (length and protocol are the same in both
		// families, RFC 7915 4.5), so one delta over old and new
		// addresses and ports covers NAT and the translation.
		const grow = pkt.IPv6Len - pkt.IPv4MinLen
		f.Xlat46, f.Rewrite = true, true
		f.MTU = uint16(min(v.fc.mtu, min(v.fc.hop6, out.mtu)-grow, 0xffff))
		f.MTUFrag = uint16(min(v.fc.mtuFrag, out.mtu, 0xffff) - grow)
		f.L4Delta = pkt.ChecksumDelta(leWords(k.Src[:4])+leWords(k.Dst[:4])+uint64(bits.ReverseBytes16(k.SrcPort))+uint64(bits.ReverseBytes16(k.DstPort)),
			leWords(f.Src[:])+leWords(f.Dst[:])+uint64(bits.ReverseBytes16(f.SrcPort))+uint64(bits.ReverseBytes16(f.DstPort)))
	} else if v.fc.xlat64 {
		// To4's limit is on the IPv4 form, as is the egress port's; the
		// kernel checks the IPv6 packet, 20 bytes longer. A longer packet
		// is To4's to fragment or answer. As for 4->6, the pseudo-header
		// changes in its addresses only: one delta over the IPv6
		// addresses and ports in and the IPv4 ones (after NAT) out.
		const shrink = pkt.IPv6Len - pkt.IPv4MinLen
		f.Xlat64, f.Rewrite = true, true
		f.MTU = uint16(min(min(v.fc.hop4, out.mtu)+shrink, 0xffff))
		f.L4Delta = pkt.ChecksumDelta(leWords(k.Src[:])+leWords(k.Dst[:])+uint64(bits.ReverseBytes16(k.SrcPort))+uint64(bits.ReverseBytes16(k.DstPort)),
			leWords(f.Src[:4])+leWords(f.Dst[:4])+uint64(bits.ReverseBytes16(f.SrcPort))+uint64(bits.ReverseBytes16(f.DstPort)))
	} else if f.Src != k.Src || f.Dst != k.Dst || f.SrcPort != k.SrcPort || f.DstPort != k.DstPort {
		// NAT's deltas, as nat's translate patches them: over the
		// addresses (and for TCP/UDP the ports), little-endian words.
		n := 4
		if k.Family == bpf.FamilyIPv6 {
			n = 16
		}
		oldA := leWords(k.Src[:n]) + leWords(k.Dst[:n])
		newA := leWords(f.Src[:n]) + leWords(f.Dst[:n])
		f.Rewrite = true
		f.L3Delta = pkt.ChecksumDelta(oldA, newA)
		f.L4Delta = pkt.ChecksumDelta(oldA+uint64(bits.ReverseBytes16(k.SrcPort))+uint64(bits.ReverseBytes16(k.DstPort)),
			newA+uint64(bits.ReverseBytes16(f.SrcPort))+uint64(bits.ReverseBytes16(f.DstPort)))
	}
	w.fq.push()
}

type fastRecent struct {
	hash       uint64
	gen, epoch uint32
}

// leWords sums b's little-endian 16-bit words.
func leWords(b []byte) uint64 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return s
}
