package nat

// Policy: the operator's NAT configuration, validated and compiled into an
// immutable snapshot that workers load once per batch. Sessions and port
// reservations are table state and outlive any snapshot.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

// Filtering is how inbound packets to an external address and port are
// admitted (RFC 4787 section 5, RFC 5382 section 4.3).
type Filtering uint8

const (
	// EndpointIndependent admits a packet from any remote endpoint to an
	// existing mapping.
	EndpointIndependent Filtering = iota
	// AddressDependent admits it only from an address the internal
	// endpoint has sent to through that mapping.
	AddressDependent
)

func (f Filtering) String() string {
	switch f {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	}
	return "filtering?"
}

// Pool is a workload address pool (Calico IPPool). Traffic from a pool
// with NATOutgoing to a destination outside every pool of the same space
// is source-NATed onto the external addresses. Such a pool is not
// routable from outside: at a border (a node with external addresses or
// floating IPs) a new flow from outside every pool to an address inside
// it is refused (ReasonNonRoutable), whatever routes the sender has.
type Pool struct {
	Space       uint16
	Prefix      netip.Prefix
	NATOutgoing bool
}

// ExternalPool is a block of public addresses for source NAT, each with
// the port range [PortMin, PortMax] (zero means 1024-65535).
type ExternalPool struct {
	Prefix           netip.Prefix
	PortMin, PortMax uint16
}

// FloatingIP maps Public (in the external space) one to one onto a
// workload's address in address space Space, both ways.
type FloatingIP struct {
	Space    uint16
	Workload netip.Addr
	Public   netip.Addr
}

// Timeouts are idle timers; a zero field takes its default.
type Timeouts struct {
	UDP            time.Duration // default 5 min (RFC 4787 REQ-5: at least 2 min)
	TCPEstablished time.Duration // default 2 h 4 min (RFC 5382 REQ-5: at least that)
	TCPTransitory  time.Duration // opening (no answer yet); default 4 min (RFC 5382 REQ-5, RFC 7857 2.1)
	TCPClosing     time.Duration // after FIN from both sides; zero means TCPTransitory (RFC 7857 2.1)
	TCPRstHold     time.Duration // after an RST; default 4 min (RFC 7857 2.2)
	ICMPQuery      time.Duration // default 60 s (RFC 5508 REQ-2: at least 60 s)
	Other          time.Duration // other protocols; default 5 min
	// Fragment is how long the first fragment of a datagram is
	// remembered for its later fragments; default 2 s, at most 60 s.
	Fragment time.Duration
}

// Default idle timers.
const (
	DefaultUDP            = 5 * time.Minute
	DefaultTCPEstablished = 2*time.Hour + 4*time.Minute
	DefaultTCPTransitory  = 4 * time.Minute
	DefaultTCPRstHold     = 4 * time.Minute
	DefaultICMPQuery      = 60 * time.Second
	DefaultOther          = 5 * time.Minute
	DefaultFragment       = 2 * time.Second
)

// Policy is the whole NAT configuration of a node.
type Policy struct {
	// ExternalSpace is the address space of the external addresses and
	// floating public addresses: where the Internet is.
	ExternalSpace uint16
	Pools         []Pool
	External      []ExternalPool
	Floating      []FloatingIP
	Filtering     Filtering
	Timeouts      Timeouts
	// OutboundRefreshOnly stops packets in the reply direction from
	// refreshing a session (RFC 4787 REQ-6 allows either).
	OutboundRefreshOnly bool
	// StrictTCPOpen makes a SYN the only TCP segment that opens a session,
	// as RFC 6146 section 3.5.2.2 has it. By default a mid-stream segment
	// (ACK, without SYN, FIN or RST) of a flow that needs no translation
	// opens one too — loose pickup, as Linux's nf_conntrack_tcp_loose —
	// so that connections that existed before gannet started, or
	// restarted, go on once policy admits them as new. Such a session is
	// transitory (timer, eviction) until the other side answers. Flows
	// that would be translated always need a SYN: their mapping is lost.
	StrictTCPOpen bool
	// ErrorSource4 and ErrorSource6 are the source addresses of the
	// "administratively prohibited" errors for flows that cannot get
	// state; unset means the first external address of the family, and
	// with none the error is not sent.
	ErrorSource4, ErrorSource6 netip.Addr
	// ErrorsPerSecond limits those errors per worker; zero means 100,
	// negative means never send them (RFC 5508 REQ-9).
	ErrorsPerSecond int
}

// MaxExternalAddrs bounds the number of external addresses (each has
// 24 KiB of port bitmaps).
const MaxExternalAddrs = 4096

// timers are the idle timeouts in seconds.
type timers struct {
	udp, tcpEst, tcpTrans, tcpClose, tcpRst, icmp, other uint32
	frag                                                 uint32
	// byState is of for every value of a session's state bits (class
	// and flags), so that the per-packet expiry check is one load.
	byState [stStateMask + 1]uint32
}

// fill computes byState from the timeouts.
func (tm *timers) fill() {
	for st := range tm.byState {
		tm.byState[st] = tm.of(uint32(st))
	}
}

// timeout returns the idle timeout of a session in state st.
func (tm *timers) timeout(st uint32) uint32 { return tm.byState[st&stStateMask] }

func (tm *timers) of(st uint32) uint32 {
	switch (st & stClassMask) >> stClassShift {
	case classTCP:
		if st&stRst != 0 {
			return tm.tcpRst
		}
		if st&(stFinOrig|stFinReply) == stFinOrig|stFinReply {
			return tm.tcpClose
		}
		if st&stSynReply == 0 {
			return tm.tcpTrans
		}
		return tm.tcpEst
	case classUDP:
		return tm.udp
	case classICMP:
		return tm.icmp
	}
	return tm.other
}

// prefixEntry is a prefix as masked big-endian words (IPv4 in the top 32
// bits of hi, as pkt.Summary lays it out).
type prefixEntry struct {
	space    uint16
	fam      pkt.Family
	nat      bool
	hi, lo   uint64
	mhi, mlo uint64
}

func (p *prefixEntry) contains(space uint16, fam pkt.Family, a *[16]byte) bool {
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	return p.space == space && p.fam == fam && hi&p.mhi == p.hi && lo&p.mlo == p.lo
}

func newPrefixEntry(space uint16, pf netip.Prefix, nat bool) prefixEntry {
	fam, a := famAddr(pf.Addr())
	bitsN := pf.Bits()
	var mhi, mlo uint64
	switch {
	case bitsN == 0:
	case bitsN <= 64:
		mhi = ^uint64(0) << (64 - bitsN)
	default:
		mhi, mlo = ^uint64(0), ^uint64(0)<<(128-bitsN)
	}
	return prefixEntry{space: space, fam: fam, nat: nat,
		hi: binary.BigEndian.Uint64(a[:8]) & mhi, lo: binary.BigEndian.Uint64(a[8:]) & mlo,
		mhi: mhi, mlo: mlo}
}

// famAddr lays out a netip.Addr as pkt.Summary does.
func famAddr(a netip.Addr) (pkt.Family, [16]byte) {
	var b [16]byte
	if a.Is4() {
		v := a.As4()
		copy(b[:], v[:])
		return pkt.FamilyIPv4, b
	}
	return pkt.FamilyIPv6, a.As16()
}

type famKey struct {
	fam pkt.Family
	a   [16]byte
}

type spaceKey struct {
	space uint16
	fam   pkt.Family
	a     [16]byte
}

// extAddr is one external address with its port range and reservations.
type extAddr struct {
	a      [16]byte
	lo, hi uint16
	ports  *portSet
}

type floating struct {
	space    uint16
	fam      pkt.Family
	workload [16]byte
	public   [16]byte
}

// snapshot is a compiled Policy. Immutable once published.
type snapshot struct {
	extSpace uint16
	pools    []prefixEntry
	ext      [2][]extAddr // [0] IPv4, [1] IPv6, in configuration order
	// pick maps the top pickBits of an internal address's hash to its
	// paired external address (an index into ext): jump-consistent
	// hashing, computed once per bucket here rather than per new flow,
	// whose float divisions would take longer than the rest of the
	// choice. nil for a family with one address or none.
	pick       [2][]uint16
	extIndex   map[famKey]struct{} // every external address, for validation
	extNets    []prefixEntry       // the External prefixes: is a destination an external address?
	floats     []floating
	byPublic   map[famKey]int32
	byWorkload map[spaceKey]int32
	filtering  Filtering
	tm         timers
	outOnly    bool
	strictTCP  bool
	errSrc     [2][16]byte
	hasErrSrc  [2]bool
	errPerSec  int
	// border: the node has external addresses or floating IPs, so the
	// Internet reaches its workloads through it (nonRoutableInbound).
	border bool
}

func famIndex(f pkt.Family) int {
	if f == pkt.FamilyIPv6 {
		return 1
	}
	return 0
}

func timeoutField(name string, d, def, floor time.Duration, why string) (uint32, error) {
	if d == 0 {
		d = def
	}
	if d < floor {
		return 0, fmt.Errorf("nat: Policy.Timeouts.%s %v below %v (%s)", name, d, floor, why)
	}
	if d > 365*24*time.Hour {
		return 0, fmt.Errorf("nat: Policy.Timeouts.%s %v above one year", name, d)
	}
	return uint32(d / time.Second), nil
}

// compile validates p and builds a snapshot. Port bitmaps are attached by
// SetPolicy under the table lock.
func compile(p *Policy) (*snapshot, error) {
	s := &snapshot{extSpace: p.ExternalSpace, filtering: p.Filtering, outOnly: p.OutboundRefreshOnly, strictTCP: p.StrictTCPOpen,
		extIndex: map[famKey]struct{}{}, byPublic: map[famKey]int32{}, byWorkload: map[spaceKey]int32{}}
	if p.Filtering > AddressDependent {
		return nil, fmt.Errorf("nat: Policy.Filtering %d unknown", p.Filtering)
	}
	var err error
	t := &p.Timeouts
	if s.tm.udp, err = timeoutField("UDP", t.UDP, DefaultUDP, 2*time.Minute, "RFC 4787 REQ-5"); err != nil {
		return nil, err
	}
	if s.tm.tcpEst, err = timeoutField("TCPEstablished", t.TCPEstablished, DefaultTCPEstablished,
		2*time.Hour+4*time.Minute, "RFC 5382 REQ-5"); err != nil {
		return nil, err
	}
	if s.tm.tcpTrans, err = timeoutField("TCPTransitory", t.TCPTransitory, DefaultTCPTransitory,
		time.Second, "RFC 7857 section 2.1 allows less than 4 min"); err != nil {
		return nil, err
	}
	closing := t.TCPClosing
	if closing == 0 {
		closing = time.Duration(s.tm.tcpTrans) * time.Second
	}
	if s.tm.tcpClose, err = timeoutField("TCPClosing", closing, DefaultTCPTransitory,
		time.Second, "must be positive"); err != nil {
		return nil, err
	}
	if s.tm.tcpRst, err = timeoutField("TCPRstHold", t.TCPRstHold, DefaultTCPRstHold,
		time.Second, "must be positive"); err != nil {
		return nil, err
	}
	if s.tm.icmp, err = timeoutField("ICMPQuery", t.ICMPQuery, DefaultICMPQuery, time.Minute, "RFC 5508 REQ-2"); err != nil {
		return nil, err
	}
	if s.tm.other, err = timeoutField("Other", t.Other, DefaultOther, time.Second, "must be positive"); err != nil {
		return nil, err
	}
	if s.tm.frag, err = timeoutField("Fragment", t.Fragment, DefaultFragment, time.Second, "must be at least 1 s"); err != nil {
		return nil, err
	}
	if s.tm.frag > 60 {
		return nil, fmt.Errorf("nat: Policy.Timeouts.Fragment %v above 60 s", t.Fragment)
	}
	s.tm.fill()

	for i, pl := range p.Pools {
		if !pl.Prefix.IsValid() || pl.Prefix != pl.Prefix.Masked() {
			return nil, fmt.Errorf("nat: Policy.Pools[%d].Prefix %v is not a valid masked prefix", i, pl.Prefix)
		}
		s.pools = append(s.pools, newPrefixEntry(pl.Space, pl.Prefix, pl.NATOutgoing))
	}
	n := 0
	for i, e := range p.External {
		if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() {
			return nil, fmt.Errorf("nat: Policy.External[%d].Prefix %v is not a valid masked prefix", i, e.Prefix)
		}
		lo, hi := e.PortMin, e.PortMax
		if lo == 0 && hi == 0 {
			lo, hi = 1024, 65535
		}
		if lo == 0 || lo > hi {
			return nil, fmt.Errorf("nat: Policy.External[%d] port range %d-%d invalid (want 1 <= PortMin <= PortMax)", i, e.PortMin, e.PortMax)
		}
		size := e.Prefix.Addr().BitLen() - e.Prefix.Bits()
		if size > 12 || n+1<<size > MaxExternalAddrs {
			return nil, fmt.Errorf("nat: Policy.External[%d].Prefix %v: more than %d external addresses in all", i, e.Prefix, MaxExternalAddrs)
		}
		for a, k := e.Prefix.Addr(), 0; k < 1<<size; a, k = a.Next(), k+1 {
			fam, b := famAddr(a)
			fk := famKey{fam, b}
			if _, dup := s.extIndex[fk]; dup {
				return nil, fmt.Errorf("nat: Policy.External[%d]: address %v listed twice", i, a)
			}
			if s.inPools(p.ExternalSpace, fam, &b) {
				return nil, fmt.Errorf("nat: Policy.External[%d]: address %v is inside a workload pool of the external space", i, a)
			}
			s.extIndex[fk] = struct{}{}
			s.ext[famIndex(fam)] = append(s.ext[famIndex(fam)], extAddr{a: b, lo: lo, hi: hi})
			n++
		}
		s.extNets = append(s.extNets, newPrefixEntry(p.ExternalSpace, e.Prefix, false))
	}
	for f, list := range s.ext {
		if len(list) > 1 {
			s.pick[f] = make([]uint16, 1<<pickBits)
			for b := range s.pick[f] {
				s.pick[f][b] = uint16(jump(mum(uint64(b)+1, 0x9e3779b97f4a7c15), len(list)))
			}
		}
	}
	for i, f := range p.Floating {
		if !f.Workload.IsValid() || !f.Public.IsValid() || f.Workload.Is4() != f.Public.Is4() {
			return nil, fmt.Errorf("nat: Policy.Floating[%d]: Workload %v and Public %v must be valid addresses of one family", i, f.Workload, f.Public)
		}
		fam, pub := famAddr(f.Public.Unmap())
		_, wl := famAddr(f.Workload.Unmap())
		if _, dup := s.byPublic[famKey{fam, pub}]; dup {
			return nil, fmt.Errorf("nat: Policy.Floating[%d].Public %v listed twice", i, f.Public)
		}
		if _, clash := s.extIndex[famKey{fam, pub}]; clash {
			return nil, fmt.Errorf("nat: Policy.Floating[%d].Public %v is also an external pool address", i, f.Public)
		}
		if s.inPools(p.ExternalSpace, fam, &pub) {
			return nil, fmt.Errorf("nat: Policy.Floating[%d].Public %v is inside a workload pool of the external space", i, f.Public)
		}
		wk := spaceKey{f.Space, fam, wl}
		if _, dup := s.byWorkload[wk]; dup {
			return nil, fmt.Errorf("nat: Policy.Floating[%d].Workload %v in space %d listed twice", i, f.Workload, f.Space)
		}
		s.byPublic[famKey{fam, pub}] = int32(len(s.floats))
		s.byWorkload[wk] = int32(len(s.floats))
		s.floats = append(s.floats, floating{space: f.Space, fam: fam, workload: wl, public: pub})
	}
	for i, src := range []netip.Addr{p.ErrorSource4, p.ErrorSource6} {
		if src.IsValid() {
			if src.Is4() != (i == 0) {
				return nil, fmt.Errorf("nat: Policy.ErrorSource%d %v is of the wrong family", []int{4, 6}[i], src)
			}
			_, s.errSrc[i] = famAddr(src)
			s.hasErrSrc[i] = true
		} else if len(s.ext[i]) > 0 {
			s.errSrc[i] = s.ext[i][0].a
			s.hasErrSrc[i] = true
		}
	}
	s.border = len(p.External) > 0 || len(p.Floating) > 0
	s.errPerSec = p.ErrorsPerSecond
	if s.errPerSec == 0 {
		s.errPerSec = 100
	}
	return s, nil
}

// inPools reports whether a is inside any workload pool of space.
func (s *snapshot) inPools(space uint16, fam pkt.Family, a *[16]byte) bool {
	for i := range s.pools {
		if s.pools[i].contains(space, fam, a) {
			return true
		}
	}
	return false
}

// pickBits sizes the paired-address table: 2^16 buckets, at least 16 for
// each of MaxExternalAddrs addresses.
const pickBits = 16

// jump is Lamping and Veach's jump consistent hash: growing the address
// list moves only the internal addresses that must move.
func jump(h uint64, n int) int {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		h = h*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((h>>33)+1)))
	}
	return int(b)
}

// paired returns the index in ext[f] of the external address paired with
// an internal address whose (seeded) hash is h.
func (s *snapshot) paired(f int, h uint64) int {
	if s.pick[f] == nil {
		return 0
	}
	return int(s.pick[f][h>>(64-pickBits)])
}

// external reports whether a is an external address.
func (s *snapshot) external(fam pkt.Family, a *[16]byte) bool {
	for i := range s.extNets {
		if s.extNets[i].contains(s.extSpace, fam, a) {
			return true
		}
	}
	return false
}

// nonRoutableInbound reports whether a new flow from src to dst in space
// enters a non-routable range from outside: at a border, a destination
// inside a NATOutgoing pool and a source outside every pool of the space.
// A NATOutgoing pool is the range the design keeps unreachable from the
// Internet (it reaches out through source NAT only); its workloads'
// routes still reach the border from the data center, so without this a
// host on the Internet side that routes the range to the border anyway
// would reach them. Replies to their outbound flows come back to the
// external address, through their session, and are not new flows.
// Inside the data center (no external addresses, no floating IPs) a
// flow from outside every pool is such a reply, after the border's NAT.
func (s *snapshot) nonRoutableInbound(space uint16, fam pkt.Family, src, dst *[16]byte) bool {
	return s.border && s.natSource(space, fam, dst) && !s.inPools(space, fam, src)
}

// natSource reports whether a is inside a NATOutgoing pool of space.
func (s *snapshot) natSource(space uint16, fam pkt.Family, a *[16]byte) bool {
	for i := range s.pools {
		if s.pools[i].nat && s.pools[i].contains(space, fam, a) {
			return true
		}
	}
	return false
}

// SetPolicy validates p and publishes it. Workers see it from their next
// batch. Sessions and mappings made under the old policy stay as they
// are until they expire; new flows follow p. On error nothing changes.
func (t *Table) SetPolicy(p *Policy) error {
	pp, err := t.Prepare(p)
	if err != nil {
		return err
	}
	t.policy.Store(pp.s)
	return nil
}

// Prepared is a Policy compiled for one Table: a data plane that
// publishes its tables as one snapshot carries it there and hands it to
// Worker.BeginBatchWith, so the policy changes in the same store as the
// routes and endpoints it goes with.
type Prepared struct {
	t *Table
	s *snapshot
}

// For reports whether p was prepared for t.
func (p *Prepared) For(t *Table) bool { return p != nil && p.t == t }

// Prepare validates and compiles p for t without publishing it. On
// error nothing changes.
func (t *Table) Prepare(p *Policy) (*Prepared, error) {
	s, err := compile(p)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for f := range s.ext {
		for i := range s.ext[f] {
			e := &s.ext[f][i]
			fk := famKey{pkt.Family([]uint8{4, 6}[f]), e.a}
			ps := t.ports[fk]
			if ps == nil {
				ps = new(portSet)
				t.ports[fk] = ps
			}
			e.ports = ps
		}
	}
	return &Prepared{t: t, s: s}, nil
}
