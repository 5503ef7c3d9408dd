// Program: the Go side of xdp.c. Options flow in at Load (role and no-socket policy become
// load-time constants, host addresses fill two hash maps), sockets and address sets flow into
// the maps while the program runs, and per-CPU counters flow back out through Stats.

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Role says which traffic of a port the kernel must see.
type Role uint8

const (
	// RoleUplink: ARP, NDP, IPv6 link-local and multicast traffic, IPv4 broadcast and
	// multicast, non-IP protocols and traffic to host addresses go to the kernel.
	RoleUplink Role = iota
	// RoleWorkload: everything goes to the socket: ARP/NDP (the pipeline answers the
	// gateway) and traffic to host addresses too (the pipeline checks and drops it), so
	// nothing from a workload reaches the host stack unchecked.
	RoleWorkload
)

func (r Role) String() string {
	switch r {
	case RoleUplink:
		return "uplink"
	case RoleWorkload:
		return "workload"
	}
	return fmt.Sprintf("Role(%d)", r)
}

// NoSocket is what happens to a frame bound for a queue that has no socket.
type NoSocket uint8

const (
	NoSocketPass NoSocket = iota // give it to the kernel
	NoSocketDrop                 // drop it
)

func (n NoSocket) String() string {
	switch n {
	case NoSocketPass:
		return "pass"
	case NoSocketDrop:
		return "drop"
	}
	return fmt.Sprintf("NoSocket(%d)", n)
}

// AttachMode is how the program is attached to a device.
type AttachMode uint8

const (
	AttachAuto    AttachMode = iota // native, else generic
	AttachNative                    // in the driver (XDP_FLAGS_DRV_MODE)
	AttachGeneric                   // on the skb path (XDP_FLAGS_SKB_MODE), any device
)

func (m AttachMode) String() string {
	switch m {
	case AttachAuto:
		return "auto"
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("AttachMode(%d)", m)
}

// Sizes of the program's maps (xdp.c).
const (
	MaxQueues    = 256  // XSKMAP entries: queues 0..255 can have a socket
	MaxHostAddrs = 1024 // per family
)

// XDP actions (enum xdp_action in <linux/bpf.h>).
const (
	xdpDrop = 1
	xdpPass = 2
)

// Options configure one Program.
type Options struct {
	Role      Role
	NoSocket  NoSocket
	HostAddrs []netip.Addr
	// FastPath, when set, makes the program forward the established flows installed
	// there in the kernel (fastpath.h); nil keeps every frame on the socket.
	FastPath *FastPath
}

// Stats are the program's counters summed over CPUs: one per outcome, every frame counted
// exactly once. Redirected counts frames handed to a socket's queue; the socket's own
// statistics (rx_dropped) count those it then had no room for.
type Stats struct {
	Redirected     uint64 // to the queue's AF_XDP socket
	PassHost       uint64 // to one of the host's addresses
	PassARP        uint64 // ARP on an uplink
	PassNDP        uint64 // NDP on an uplink
	PassLinkLocal  uint64 // to an IPv6 link-local address on an uplink
	PassMulticast  uint64 // IPv4 broadcast/multicast or IPv6 multicast on an uplink
	PassOtherProto uint64 // neither IPv4, IPv6 nor ARP, on an uplink
	PassNoSocket   uint64 // no socket on the queue, NoSocketPass
	DropNoSocket   uint64 // no socket on the queue, NoSocketDrop
	DropMalformed  uint64 // shorter than its headers say, or a bad IP version or IHL

	// The fast path (Options.FastPath). A hit is counted only here; a miss is counted by
	// reason here and by its outcome above.
	FastHit      uint64 // forwarded in the kernel
	FastMiss     uint64 // no flow installed
	FastStale    uint64 // installed under an older generation
	FastTCPFlags uint64 // TCP SYN, FIN or RST
	FastFragment uint64 // IPv4 fragment or IPv6 extension header
	FastTTL      uint64 // TTL or hop limit <= 1
	FastMTU      uint64 // longer than the egress MTU
	FastOther    uint64 // VLAN tag, IPv4 options, bad header checksum or lengths, other MAC, no egress device
}

// FastMisses returns the frames the fast path sent on to the socket, all reasons.
func (s Stats) FastMisses() uint64 {
	return s.FastMiss + s.FastStale + s.FastTCPFlags + s.FastFragment + s.FastTTL + s.FastMTU + s.FastOther
}

// Each calls fn with the name and value of every counter, the fast path's only when
// withFast (a program without it never counts them).
func (s Stats) Each(withFast bool, fn func(name string, n uint64)) {
	for _, c := range [...]struct {
		name string
		n    uint64
	}{
		{"redirected", s.Redirected}, {"pass-host", s.PassHost}, {"pass-arp", s.PassARP}, {"pass-ndp", s.PassNDP},
		{"pass-link-local", s.PassLinkLocal}, {"pass-multicast", s.PassMulticast}, {"pass-other-proto", s.PassOtherProto},
		{"pass-no-socket", s.PassNoSocket}, {"drop-no-socket", s.DropNoSocket}, {"drop-malformed", s.DropMalformed},
	} {
		fn(c.name, c.n)
	}
	if !withFast {
		return
	}
	for _, c := range [...]struct {
		name string
		n    uint64
	}{
		{"fast-hit", s.FastHit}, {"fast-miss", s.FastMiss}, {"fast-stale", s.FastStale}, {"fast-tcp-flags", s.FastTCPFlags},
		{"fast-fragment", s.FastFragment}, {"fast-ttl", s.FastTTL}, {"fast-mtu", s.FastMTU}, {"fast-other", s.FastOther},
	} {
		fn(c.name, c.n)
	}
}

// FastPath reports whether the program was loaded with the fast path.
func (p *Program) FastPath() bool { return p.fast }

// Passed returns the frames given to the kernel.
func (s Stats) Passed() uint64 {
	return s.PassHost + s.PassARP + s.PassNDP + s.PassLinkLocal + s.PassMulticast + s.PassOtherProto + s.PassNoSocket
}

// Dropped returns the frames dropped by the program.
func (s Stats) Dropped() uint64 { return s.DropNoSocket + s.DropMalformed }

// Program is the XDP program of one interface with its maps. Its methods are safe for
// concurrent use.
type Program struct {
	mu      sync.Mutex // serializes Attach, SetHostAddrs and Close
	objs    xdpObjects
	link    link.Link // nil until attached
	ifindex int
	mode    AttachMode
	pinned  bool // the link is pinned on bpffs: it outlives the process
	fast    bool // loaded with Options.FastPath
	closed  bool
}

var memlockOnce sync.Once

func removeMemlock() { _ = rlimit.RemoveMemlock() }

// Load validates opts, loads the program and its maps into the kernel and fills the host
// address set. Nothing is attached yet.
func Load(opts Options) (*Program, error) {
	if opts.Role > RoleWorkload {
		return nil, fmt.Errorf("bpf: Options.Role: unknown role %d", opts.Role)
	}
	action := uint32(xdpPass)
	switch opts.NoSocket {
	case NoSocketPass:
	case NoSocketDrop:
		action = xdpDrop
	default:
		return nil, fmt.Errorf("bpf: Options.NoSocket: unknown policy %d", opts.NoSocket)
	}
	v4, v6, err := hostKeys(opts.HostAddrs, "Options.HostAddrs")
	if err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones to the memcg,
	// and RemoveMemlock then does nothing.
	memlockOnce.Do(removeMemlock)

	spec, err := loadXdp()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	if err := spec.Variables[xdpVarRole].Set(uint8(opts.Role)); err != nil {
		return nil, fmt.Errorf("bpf: setting role: %w", err)
	}
	if err := spec.Variables[xdpVarNoSocketAction].Set(action); err != nil {
		return nil, fmt.Errorf("bpf: setting no-socket action: %w", err)
	}
	var lo *ebpf.CollectionOptions
	if fp := opts.FastPath; fp != nil {
		if err := spec.Variables[xdpVarFastPath].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("bpf: setting fast_path: %w", err)
		}
		spec.Maps[xdpMapFlows].MaxEntries = uint32(fp.capacity)
		lo = &ebpf.CollectionOptions{MapReplacements: fp.replacements()}
	}
	p := &Program{fast: opts.FastPath != nil}
	if err := spec.LoadAndAssign(&p.objs, lo); err != nil {
		return nil, fmt.Errorf("bpf: loading the XDP program: %w", err)
	}
	if err := p.replaceHostKeys(v4, v6); err != nil {
		p.objs.Close()
		return nil, err
	}
	return p, nil
}

// Attach attaches the program to the device ifindex through a BPF link and returns the mode
// it got: AttachAuto tries native mode and falls back to generic. A program attaches once.
func (p *Program) Attach(ifindex int, mode AttachMode) (AttachMode, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("bpf: Attach: program closed")
	}
	if p.link != nil {
		return 0, fmt.Errorf("bpf: Attach: already attached to ifindex %d", p.ifindex)
	}
	attach := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: p.objs.GannetXdp, Interface: ifindex, Flags: flags})
	}
	var (
		l   link.Link
		err error
		got = mode
	)
	switch mode {
	case AttachNative:
		l, err = attach(link.XDPDriverMode)
	case AttachGeneric:
		l, err = attach(link.XDPGenericMode)
	case AttachAuto:
		got = AttachNative
		l, err = attach(link.XDPDriverMode)
		if err != nil {
			nativeErr := err
			got = AttachGeneric
			if l, err = attach(link.XDPGenericMode); err != nil {
				err = fmt.Errorf("native: %w; generic: %w", nativeErr, err)
			}
		}
	default:
		return 0, fmt.Errorf("bpf: Attach: unknown mode %d", mode)
	}
	if err != nil {
		return 0, fmt.Errorf("bpf: attaching XDP to ifindex %d (%v): %w", ifindex, mode, err)
	}
	p.link, p.ifindex, p.mode = l, ifindex, got
	return got, nil
}

// AttachPinned attaches the program to ifindex through a link pinned at pin (a path on
// bpffs) and reports whether it adopted one. A link already pinned there for this device —
// left by a gannet that stopped or crashed — is switched to this program in one step
// (BPF_LINK_UPDATE), so the device is never without a program; a pin for a device that is
// gone is removed. Otherwise the program is attached as by Attach and its link pinned.
//
// A pinned link outlives the process: after a stop or a crash the device keeps the last
// program, whose sockets are gone, so with NoSocketDrop its transit frames are dropped
// while its host traffic still reaches the kernel — fail closed. Release leaves it so;
// Close unpins and detaches.
func (p *Program) AttachPinned(ifindex int, mode AttachMode, pin string) (got AttachMode, adopted bool, err error) {
	if old, err := link.LoadPinnedLink(pin, nil); err == nil {
		info, ierr := old.Info()
		if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifindex {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.closed || p.link != nil {
				old.Close()
				return 0, false, errors.New("bpf: AttachPinned: program closed or attached")
			}
			if err := old.Update(p.objs.GannetXdp); err != nil {
				old.Close()
				return 0, false, fmt.Errorf("bpf: adopting the link pinned at %s: %w", pin, err)
			}
			p.link, p.ifindex, p.mode, p.pinned = old, ifindex, mode, true
			return mode, true, nil
		}
		// Pinned for another device (the interface was deleted and made
		// again): that link is defunct.
		old.Unpin()
		old.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, false, fmt.Errorf("bpf: loading the link pinned at %s: %w", pin, err)
	}
	got, err = p.Attach(ifindex, mode)
	if err != nil {
		return 0, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
		return got, false, fmt.Errorf("bpf: pinning: %w", err)
	}
	if err := p.link.Pin(pin); err != nil {
		return got, false, fmt.Errorf("bpf: pinning the link at %s: %w", pin, err)
	}
	p.pinned = true
	return got, false, nil
}

// Release frees the program's handles but leaves a pinned link, and with it the
// program, attached for the next gannet to adopt (AttachPinned). An unpinned program
// is detached as by Close.
func (p *Program) Release() error {
	p.mu.Lock()
	pinned := p.pinned
	p.mu.Unlock()
	if !pinned {
		return p.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.link != nil {
		// Closing our handle of a pinned link leaves it attached.
		if err := p.link.Close(); err != nil {
			errs = append(errs, err)
		}
		p.link = nil
	}
	if err := p.objs.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RemovePinned detaches the program of the link pinned at pin, if any, and removes the
// pin (gannet cleanup).
func RemovePinned(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bpf: loading the link pinned at %s: %w", pin, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("bpf: unpinning %s: %w", pin, err)
	}
	return nil
}

// Attached returns the device and mode the program is attached with, or ok false.
func (p *Program) Attached() (ifindex int, mode AttachMode, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ifindex, p.mode, p.link != nil
}

// SetSocket makes fd (an AF_XDP socket with its rx ring and UMEM set up) the socket of
// receive queue queue.
func (p *Program) SetSocket(queue, fd int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: SetSocket: queue %d outside 0..%d", queue, MaxQueues-1)
	}
	if fd < 0 {
		return fmt.Errorf("bpf: SetSocket: bad fd %d", fd)
	}
	if err := p.objs.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("bpf: SetSocket(queue %d): %w", queue, err)
	}
	return nil
}

// ClearSocket removes the socket of queue queue; its frames then follow the NoSocket
// policy. Clearing a queue without a socket is not an error.
func (p *Program) ClearSocket(queue int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("bpf: ClearSocket: queue %d outside 0..%d", queue, MaxQueues-1)
	}
	if err := p.objs.Xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: ClearSocket(queue %d): %w", queue, err)
	}
	return nil
}

// SetHostAddrs replaces the host's address set. Addresses that stay are never absent
// in between: new ones are added before stale ones are removed. Invalid input changes
// nothing.
func (p *Program) SetHostAddrs(addrs []netip.Addr) error {
	v4, v6, err := hostKeys(addrs, "SetHostAddrs")
	if err != nil {
		return err
	}
	return p.replaceHostKeys(v4, v6)
}

// HostAddrs returns the host address set as the program sees it (for inspection).
func (p *Program) HostAddrs() ([]netip.Addr, error) {
	var out []netip.Addr
	var k4 [4]byte
	var k6 [16]byte
	var v uint8
	it := p.objs.Host4.Iterate()
	for it.Next(&k4, &v) {
		out = append(out, netip.AddrFrom4(k4))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: reading host4: %w", err)
	}
	it = p.objs.Host6.Iterate()
	for it.Next(&k6, &v) {
		out = append(out, netip.AddrFrom16(k6))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: reading host6: %w", err)
	}
	return out, nil
}

// hostKeys validates addrs and splits them into map keys, without duplicates. where names
// the input in errors.
func hostKeys(addrs []netip.Addr, where string) (v4 map[[4]byte]struct{}, v6 map[[16]byte]struct{}, err error) {
	v4, v6 = make(map[[4]byte]struct{}), make(map[[16]byte]struct{})
	for i, a := range addrs {
		switch {
		case !a.IsValid():
			return nil, nil, fmt.Errorf("bpf: %s[%d]: invalid address", where, i)
		case a.Is4In6():
			return nil, nil, fmt.Errorf("bpf: %s[%d]: %v is an IPv4-mapped IPv6 address; give the IPv4 address", where, i, a)
		case a.Is4():
			v4[a.As4()] = struct{}{}
		default:
			v6[a.As16()] = struct{}{} // a zone names the link, and the program is per link
		}
	}
	if len(v4) > MaxHostAddrs || len(v6) > MaxHostAddrs {
		return nil, nil, fmt.Errorf("bpf: %s: %d IPv4 and %d IPv6 addresses, at most %d of each", where, len(v4), len(v6), MaxHostAddrs)
	}
	return v4, v6, nil
}

func (p *Program) replaceHostKeys(v4 map[[4]byte]struct{}, v6 map[[16]byte]struct{}) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("bpf: SetHostAddrs: program closed")
	}
	if err := replaceSet(p.objs.Host4, v4); err != nil {
		return fmt.Errorf("bpf: host4: %w", err)
	}
	if err := replaceSet(p.objs.Host6, v6); err != nil {
		return fmt.Errorf("bpf: host6: %w", err)
	}
	return nil
}

// replaceSet makes the keys of m exactly want: adds first, then deletes the stale keys.
func replaceSet[K comparable](m *ebpf.Map, want map[K]struct{}) error {
	one := uint8(1)
	for k := range want {
		if err := m.Put(k, one); err != nil {
			return fmt.Errorf("adding %v: %w", k, err)
		}
	}
	var stale []K
	var k K
	var v uint8
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing %v: %w", k, err)
		}
	}
	return nil
}

// Stats returns the counters summed over CPUs. The sum is not a snapshot of one instant:
// CPUs keep counting while it is read.
func (p *Program) Stats() (Stats, error) {
	var per []xdpCounters
	if err := p.objs.Stats.Lookup(uint32(0), &per); err != nil {
		return Stats{}, fmt.Errorf("bpf: reading counters: %w", err)
	}
	var s Stats
	for _, c := range per {
		s.Redirected += c.Redirect
		s.PassHost += c.PassHost
		s.PassARP += c.PassArp
		s.PassNDP += c.PassNdp
		s.PassLinkLocal += c.PassLinkLocal
		s.PassMulticast += c.PassMulticast
		s.PassOtherProto += c.PassOtherProto
		s.PassNoSocket += c.PassNoSocket
		s.DropNoSocket += c.DropNoSocket
		s.DropMalformed += c.DropMalformed
		s.FastHit += c.FastHit
		s.FastMiss += c.FastMiss
		s.FastStale += c.FastStale
		s.FastTCPFlags += c.FastTcpFlags
		s.FastFragment += c.FastFragment
		s.FastTTL += c.FastTtl
		s.FastMTU += c.FastMtu
		s.FastOther += c.FastOther
	}
	return s, nil
}

// Close detaches the program (when attached; a pinned link is unpinned first) and frees
// the program and its maps. Closing twice is not an error.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.link != nil {
		if p.pinned {
			// Unpinned, the link goes with our handle: detached.
			if err := p.link.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("bpf: unpinning the link of ifindex %d: %w", p.ifindex, err))
			}
		}
		if err := p.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bpf: detaching from ifindex %d: %w", p.ifindex, err))
		}
		p.link = nil
	}
	if err := p.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bpf: closing: %w", err))
	}
	return errors.Join(errs...)
}
