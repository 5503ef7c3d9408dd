// FastPath: the Go side of fastpath.h. The pipeline decides a flow, fwd turns the decision
// into a Flow, and FastPath writes it into the flows map every port's program shares; the
// program's counters for it flow back out through Counters and Flows.

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// MaxFastFlows bounds the flow table (dataplane.fastPath capacity): about 100 bytes of
// kernel memory an entry, key and value.
const MaxFastFlows = 1 << 22

// MaxEgressDevices is the capacity of the egress devmap: the devices flows may leave by.
const MaxEgressDevices = 256

// Families of a FlowKey.
const (
	FamilyIPv4 uint8 = 4
	FamilyIPv6 uint8 = 6
)

// FlowKey is a flow as its packets arrive: the ingress device and the 5-tuple before any
// rewrite. IPv4 addresses are in the first four bytes of Src and Dst, the rest zero.
// Ports are host byte order.
type FlowKey struct {
	Ifindex          uint32
	Family           uint8 // FamilyIPv4 or FamilyIPv6
	Proto            uint8 // 6 (TCP) or 17 (UDP)
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
}

// Flow is what the pipeline decided for a flow: where its packets leave and how they are
// rewritten. The checksum deltas are ones' complement sums over 16-bit words read in
// memory order (little-endian), as nat computes them.
type Flow struct {
	Gen     uint32 // the generation of the tables the decision was made under
	Egress  uint32 // egress ifindex (AddEgress must have added it)
	DstMAC  [6]byte
	SrcMAC  [6]byte
	InMAC   [6]byte // the Ethernet destination the flow arrives with
	MTU     uint16  // longest IP packet, as it arrives, the decision covers (egress MTU)
	Rewrite bool    // NAT changed the tuple: Src, Dst and the ports are written
	// Xlat46: the flow leaves a translated space across the IPv6 core. Its IPv4 header
	// becomes the IPv6 header xlat writes (the frame grows 20 bytes at the front), Src
	// and Dst are the IPv6 addresses, L4Delta covers the pseudo-header's change too, and
	// MTU is the limit for packets with DF, MTUFrag for those without (longer ones the
	// translator fragments). Set with Rewrite.
	Xlat46  bool
	MTUFrag uint16
	// Xlat64: the flow enters a translated space from the IPv6 core. Its IPv6 header
	// becomes the IPv4 header xlat's To4 writes (the frame shrinks 20 bytes at the front;
	// the Identification from the program's per-CPU generator, the header checksum
	// computed), Src and Dst are the IPv4 addresses (first four bytes), L4Delta covers the
	// pseudo-header's change too, and MTU, on the IPv6 packet as it arrives, is the IPv4
	// next hop's limit plus 20 (To4 fragments or answers longer ones). Set with Rewrite.
	Xlat64   bool
	Src, Dst [16]byte
	SrcPort  uint16
	DstPort  uint16
	L3Delta  uint16 // IPv4 header checksum delta of the address rewrite
	L4Delta  uint16 // TCP/UDP checksum delta of the address and port rewrite
}

// FlowCounters are what the program counted for one installed flow since its install.
type FlowCounters struct {
	LastSeen uint64 // CLOCK_MONOTONIC ns of the last packet forwarded in the kernel; 0: none
	Packets  uint64
	Bytes    uint64 // IP bytes
}

// FastPath owns the maps the programs of every port share for the fast path: the flow
// table, the generation slot, the egress devmap and the 6->4 Identification generator.
// Pass it to Load (Options.FastPath); it outlives the programs that use it. Its methods
// are safe for concurrent use (the kernel serializes map updates).
type FastPath struct {
	flows, gen, egress, xlatID *ebpf.Map
	capacity                   int
}

// NewFastPath makes the shared maps with room for capacity flows.
func NewFastPath(capacity int) (*FastPath, error) {
	if capacity < 1 || capacity > MaxFastFlows {
		return nil, fmt.Errorf("bpf: NewFastPath: capacity %d outside 1..%d", capacity, MaxFastFlows)
	}
	memlockOnce.Do(removeMemlock)
	spec, err := loadXdp()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	fs := spec.Maps[xdpMapFlows].Copy()
	fs.MaxEntries = uint32(capacity)
	fp := &FastPath{capacity: capacity}
	if fp.flows, err = ebpf.NewMap(fs); err != nil {
		return nil, fmt.Errorf("bpf: making the flow table (%d flows): %w", capacity, err)
	}
	if fp.gen, err = ebpf.NewMap(spec.Maps[xdpMapGeneration]); err != nil {
		fp.Close()
		return nil, fmt.Errorf("bpf: making the generation map: %w", err)
	}
	if fp.egress, err = ebpf.NewMap(spec.Maps[xdpMapEgress]); err != nil {
		fp.Close()
		return nil, fmt.Errorf("bpf: making the egress devmap: %w", err)
	}
	// One generator for every port's program: IDs are unique per CPU, whichever port
	// a packet came in by.
	if fp.xlatID, err = ebpf.NewMap(spec.Maps[xdpMapXlatId]); err != nil {
		fp.Close()
		return nil, fmt.Errorf("bpf: making the 6->4 Identification generator: %w", err)
	}
	return fp, nil
}

// Capacity returns the most flows the table holds.
func (fp *FastPath) Capacity() int { return fp.capacity }

// replacements are the maps a program of this fast path uses instead of its own.
func (fp *FastPath) replacements() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{xdpMapFlows: fp.flows, xdpMapGeneration: fp.gen, xdpMapEgress: fp.egress,
		xdpMapXlatId: fp.xlatID}
}

// SetGeneration makes g the current generation, for lease: entries of any other
// generation are not applied, and none is once the lease has passed (the caller renews it
// while it runs; a stopped or hung gannet leaves nothing forwarding on old decisions).
func (fp *FastPath) SetGeneration(g uint32, lease time.Duration) error {
	v := xdpFpGen{Gen: g, Expires: MonotonicNs() + uint64(lease)}
	if err := fp.gen.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("bpf: setting the fast-path generation: %w", err)
	}
	return nil
}

// MonotonicNs is CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns.
func MonotonicNs() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// AddEgress lets flows leave by the device ifindex.
func (fp *FastPath) AddEgress(ifindex int) error {
	if ifindex <= 0 {
		return fmt.Errorf("bpf: AddEgress: bad ifindex %d", ifindex)
	}
	if err := fp.egress.Put(uint32(ifindex), uint32(ifindex)); err != nil {
		return fmt.Errorf("bpf: AddEgress(%d): %w", ifindex, err)
	}
	return nil
}

// RemoveEgress takes the device ifindex out of the devmap; flows to it then go to the
// pipeline. Removing a device that is not there is not an error.
func (fp *FastPath) RemoveEgress(ifindex int) error {
	if err := fp.egress.Delete(uint32(ifindex)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: RemoveEgress(%d): %w", ifindex, err)
	}
	return nil
}

// ErrFlowTableFull is returned by Install when the table has no room: the flow stays on
// the pipeline.
var ErrFlowTableFull = errors.New("bpf: fast-path flow table full")

// Install writes the decision f for flow k, replacing an older one (its counters start
// again from zero).
func (fp *FastPath) Install(k *FlowKey, f *Flow) error {
	if k.Family != FamilyIPv4 && k.Family != FamilyIPv6 {
		return fmt.Errorf("bpf: Install: FlowKey.Family %d", k.Family)
	}
	if k.Proto != 6 && k.Proto != 17 {
		return fmt.Errorf("bpf: Install: FlowKey.Proto %d: only TCP and UDP flows are offloaded", k.Proto)
	}
	key, val := k.raw(), f.raw()
	if err := fp.flows.Put(&key, &val); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return ErrFlowTableFull
		}
		return fmt.Errorf("bpf: Install: %w", err)
	}
	return nil
}

// Delete removes flow k; its packets go to the pipeline again. Deleting a flow that is
// not installed is not an error.
func (fp *FastPath) Delete(k *FlowKey) error {
	key := k.raw()
	if err := fp.flows.Delete(&key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: Delete: %w", err)
	}
	return nil
}

// Lookup returns the generation flow k was installed under and what the program counted
// for it, and ok false when k is not installed.
func (fp *FastPath) Lookup(k *FlowKey) (c FlowCounters, gen uint32, ok bool, err error) {
	key := k.raw()
	var v xdpFlow
	if err := fp.flows.Lookup(&key, &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return FlowCounters{}, 0, false, nil
		}
		return FlowCounters{}, 0, false, fmt.Errorf("bpf: Lookup: %w", err)
	}
	return FlowCounters{LastSeen: v.LastSeen, Packets: v.Packets, Bytes: v.Bytes}, v.Gen, true, nil
}

// Flows calls fn for every installed flow with its decision's generation and counters.
// Flows installed or deleted meanwhile may or may not be seen.
func (fp *FastPath) Flows(fn func(k *FlowKey, gen uint32, c FlowCounters)) error {
	var key xdpFlowKey
	var v xdpFlow
	it := fp.flows.Iterate()
	for it.Next(&key, &v) {
		k := key.flowKey()
		fn(&k, v.Gen, FlowCounters{LastSeen: v.LastSeen, Packets: v.Packets, Bytes: v.Bytes})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("bpf: listing flows: %w", err)
	}
	return nil
}

// Close frees the maps (programs still using them keep them alive in the kernel).
func (fp *FastPath) Close() error {
	var errs []error
	for _, m := range []*ebpf.Map{fp.flows, fp.gen, fp.egress, fp.xlatID} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// The map layout holds addresses and ports as the frame does (network byte order) in
// fields the ELF declares as __u32/__u16, which cilium/ebpf marshals in host order: the
// bpfel target is little-endian, so a frame's bytes are the fields' little-endian bytes.

func words(a *[16]byte) (w [4]uint32) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(a[4*i:])
	}
	return w
}

func unwords(w [4]uint32) (a [16]byte) {
	for i := range w {
		binary.LittleEndian.PutUint32(a[4*i:], w[i])
	}
	return a
}

// netPort is port as the little-endian field that holds its network-order bytes.
func netPort(port uint16) uint16 { return bits.ReverseBytes16(port) }

func (k *FlowKey) raw() xdpFlowKey {
	return xdpFlowKey{Ifindex: k.Ifindex, Family: k.Family, Proto: k.Proto, Src: words(&k.Src), Dst: words(&k.Dst),
		Sport: netPort(k.SrcPort), Dport: netPort(k.DstPort)}
}

func (k *xdpFlowKey) flowKey() FlowKey {
	return FlowKey{Ifindex: k.Ifindex, Family: k.Family, Proto: k.Proto, Src: unwords(k.Src), Dst: unwords(k.Dst),
		SrcPort: netPort(k.Sport), DstPort: netPort(k.Dport)}
}

func (f *Flow) raw() xdpFlow {
	v := xdpFlow{Gen: f.Gen, Egress: f.Egress, Dmac: f.DstMAC, Smac: f.SrcMAC, InMac: f.InMAC, Mtu: f.MTU,
		Src: words(&f.Src), Dst: words(&f.Dst), Sport: netPort(f.SrcPort), Dport: netPort(f.DstPort),
		L3Delta: f.L3Delta, L4Delta: f.L4Delta}
	if f.Rewrite {
		v.Flags |= 1 // FP_REWRITE
	}
	if f.Xlat46 {
		v.Flags |= 2 // FP_XLAT46
		v.MtuFrag = f.MTUFrag
	}
	if f.Xlat64 {
		v.Flags |= 4 // FP_XLAT64
	}
	return v
}

// XDP actions RunFrame returns besides xdpDrop and xdpPass.
const (
	ActionDrop     = xdpDrop
	ActionPass     = xdpPass
	ActionRedirect = 4
)

// RunFrame runs frame through the program with BPF_PROG_RUN as if it had been received
// on the device ifindex (which must exist in the caller's network namespace) and returns
// the action and the frame as the program left it. A redirect is reported, not carried
// out. The differential tests of the fast path compare this with the pipeline.
func (p *Program) RunFrame(ifindex int, frame []byte) (action int, out []byte, err error) {
	buf := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: buf,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}}
	ret, err := p.objs.GannetXdp.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("bpf: BPF_PROG_RUN: %w", err)
	}
	return int(ret), opts.DataOut, nil
}

// xdpMD is struct xdp_md, the context BPF_PROG_RUN takes.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}
