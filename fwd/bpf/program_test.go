package bpf

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

const xdpRedirect = 4 // enum xdp_action

var (
	hostIP4    = netip.MustParseAddr("198.18.0.1")
	hostIP6    = netip.MustParseAddr("2001:db8::1")
	transitIP4 = netip.MustParseAddr("198.18.5.5")
	transitIP6 = netip.MustParseAddr("2001:db8:5::5")
	peerIP4    = netip.MustParseAddr("198.18.0.2")
	peerIP6    = netip.MustParseAddr("2001:db8::2")
	peerLL     = netip.MustParseAddr("fe80::2")
	hostMAC    = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	peerMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	bcastMAC   = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF and CAP_NET_ADMIN) to load and run XDP programs")
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serializing %v: %v", ls, err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: dst, EthernetType: typ}
}

func arpFrame(t testing.TB, op uint16, tags ...layers.EthernetType) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: peerMAC, SourceProtAddress: peerIP4.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: hostIP4.AsSlice()}
	return serialize(t, append(vlanHeaders(bcastMAC, layers.EthernetTypeARP, tags...), a)...)
}

// vlanHeaders returns an Ethernet header followed by one tag per entry of tags (the tag's
// own TPID), the innermost carrying inner.
func vlanHeaders(dst net.HardwareAddr, inner layers.EthernetType, tags ...layers.EthernetType) []gopacket.SerializableLayer {
	if len(tags) == 0 {
		return []gopacket.SerializableLayer{eth(dst, inner)}
	}
	out := []gopacket.SerializableLayer{eth(dst, tags[0])}
	for i := range tags {
		next := inner
		if i+1 < len(tags) {
			next = tags[i+1]
		}
		out = append(out, &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: next})
	}
	return out
}

func udp4(t testing.TB, dst netip.Addr, dstMAC net.HardwareAddr, tags ...layers.EthernetType) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: peerIP4.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: 1000, DstPort: 179}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, append(vlanHeaders(dstMAC, layers.EthernetTypeIPv4, tags...), ip, u, gopacket.Payload("gannet"))...)
}

func udp6(t testing.TB, dst netip.Addr) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: peerIP6.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: 1000, DstPort: 179}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(hostMAC, layers.EthernetTypeIPv6), ip, u, gopacket.Payload("gannet"))
}

// icmp6 builds an ICMPv6 message of type typ from src to dst, optionally behind a
// hop-by-hop options header (as MLD messages are).
func icmp6(t testing.TB, src, dst netip.Addr, typ uint8, hbh bool) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	body := gopacket.Payload(make([]byte, 20))
	ls := []gopacket.SerializableLayer{eth(hostMAC, layers.EthernetTypeIPv6), ip}
	if hbh {
		ip.NextHeader = layers.IPProtocolIPv6HopByHop
		h := &layers.IPv6HopByHop{}
		h.NextHeader = layers.IPProtocolICMPv6
		// Router alert (RFC 2711) plus padding to 8 bytes.
		h.Options = []*layers.IPv6HopByHopOption{{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}}, {OptionType: 1, OptionLength: 0, OptionData: []byte{}}}
		ls = append(ls, h)
	}
	return serialize(t, append(ls, ic, body)...)
}

// rawEth returns an Ethernet header of type typ followed by exactly rest, without the
// padding gopacket adds to reach the 60-byte minimum: runts as a buggy or hostile sender
// makes them. (BPF_PROG_RUN refuses frames under 14 bytes, so that check of the program,
// which the verifier demands anyway, cannot be run here.)
func rawEth(typ uint16, rest ...byte) []byte {
	b := append(append(append([]byte(nil), hostMAC...), peerMAC...), byte(typ>>8), byte(typ))
	return append(b, rest...)
}

// where a frame must go.
type dest int

const (
	toSocket dest = iota // the queue's socket, or the NoSocket policy
	toHost
	toARP
	toNDP
	toLinkLocal
	toMulticast
	toOther
	malformed
)

// expect returns the action and counter change a program of role r with policy ns and a
// socket bound (or not) must produce for a frame bound for d.
func expect(d dest, ns NoSocket, bound bool) (int, Stats) {
	switch d {
	case toHost:
		return xdpPass, Stats{PassHost: 1}
	case toARP:
		return xdpPass, Stats{PassARP: 1}
	case toNDP:
		return xdpPass, Stats{PassNDP: 1}
	case toLinkLocal:
		return xdpPass, Stats{PassLinkLocal: 1}
	case toMulticast:
		return xdpPass, Stats{PassMulticast: 1}
	case toOther:
		return xdpPass, Stats{PassOtherProto: 1}
	case malformed:
		return xdpDrop, Stats{DropMalformed: 1}
	}
	switch {
	case bound:
		return xdpRedirect, Stats{Redirected: 1}
	case ns == NoSocketDrop:
		return xdpDrop, Stats{DropNoSocket: 1}
	}
	return xdpPass, Stats{PassNoSocket: 1}
}

func sub(a, b Stats) Stats {
	return Stats{
		Redirected: a.Redirected - b.Redirected, PassHost: a.PassHost - b.PassHost, PassARP: a.PassARP - b.PassARP,
		PassNDP: a.PassNDP - b.PassNDP, PassLinkLocal: a.PassLinkLocal - b.PassLinkLocal, PassMulticast: a.PassMulticast - b.PassMulticast,
		PassOtherProto: a.PassOtherProto - b.PassOtherProto, PassNoSocket: a.PassNoSocket - b.PassNoSocket,
		DropNoSocket: a.DropNoSocket - b.DropNoSocket, DropMalformed: a.DropMalformed - b.DropMalformed,
		FastHit: a.FastHit - b.FastHit, FastMiss: a.FastMiss - b.FastMiss, FastStale: a.FastStale - b.FastStale,
		FastTCPFlags: a.FastTCPFlags - b.FastTCPFlags, FastFragment: a.FastFragment - b.FastFragment,
		FastTTL: a.FastTTL - b.FastTTL, FastMTU: a.FastMTU - b.FastMTU, FastOther: a.FastOther - b.FastOther,
	}
}

// xskFD returns an AF_XDP socket with a UMEM, fill/completion rings and an rx ring: what
// the kernel asks of a socket before it may enter an XSKMAP. It is never bound, so no
// frame reaches it; BPF_PROG_RUN only reports the redirect.
func xskFD(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_XDP): %v", err)
	}
	mem, err := unix.Mmap(-1, 0, 16*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		unix.Munmap(mem)
	})
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(len(mem)), Size: 4096}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		t.Fatalf("setsockopt(XDP_UMEM_REG): %v", e)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt, 64); err != nil {
			t.Fatalf("setsockopt(SOL_XDP, %d): %v", opt, err)
		}
	}
	return fd
}

func mustLoad(t *testing.T, opts Options) *Program {
	t.Helper()
	p, err := Load(opts)
	if err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// run runs the program once over frame through BPF_PROG_RUN and returns its action and the
// change in its counters; it fails the test if the program changed the frame.
func run(t *testing.T, p *Program, frame []byte) (int, Stats) {
	t.Helper()
	before, err := p.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	out := make([]byte, len(frame)+64)
	ret, err := p.objs.GannetXdp.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	if err != nil {
		t.Fatalf("BPF_PROG_RUN(%x): %v", frame, err)
	}
	if got := out[:len(frame)]; string(got) != string(frame) {
		t.Errorf("program rewrote the frame: %x, was %x", got, frame)
	}
	after, err := p.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return int(ret), sub(after, before)
}

func TestDecisions(t *testing.T) {
	requireRoot(t)
	dot1q, qinq := layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ
	ipv4Hdr := udp4(t, transitIP4, hostMAC)[:14+20]
	ipv6Hdr := udp6(t, transitIP6)[:14+40]
	withByte := func(b []byte, off int, v byte) []byte {
		b = append([]byte(nil), b...)
		b[off] = v
		return b
	}
	tests := []struct {
		name             string
		frame            []byte
		uplink, workload dest
	}{
		{"arp request", arpFrame(t, layers.ARPRequest), toARP, toSocket},
		{"arp reply", arpFrame(t, layers.ARPReply), toARP, toSocket},
		{"ipv4 to host", udp4(t, hostIP4, hostMAC), toHost, toSocket},
		{"ipv4 transit", udp4(t, transitIP4, hostMAC), toSocket, toSocket},
		{"ipv4 multicast", udp4(t, netip.MustParseAddr("224.0.0.5"), hostMAC), toMulticast, toSocket},
		{"ipv4 multicast top", udp4(t, netip.MustParseAddr("239.255.255.255"), hostMAC), toMulticast, toSocket},
		{"ipv4 class E transit", udp4(t, netip.MustParseAddr("240.0.0.1"), hostMAC), toSocket, toSocket},
		{"ipv4 limited broadcast", udp4(t, netip.MustParseAddr("255.255.255.255"), bcastMAC), toMulticast, toSocket},
		{"ipv4 header only", ipv4Hdr, toSocket, toSocket},
		{"ipv6 to host", udp6(t, hostIP6), toHost, toSocket},
		{"ipv6 transit", udp6(t, transitIP6), toSocket, toSocket},
		{"ipv6 header only", ipv6Hdr, toSocket, toSocket},
		{"icmpv6 echo to host", icmp6(t, peerIP6, hostIP6, 128, false), toHost, toSocket},
		{"icmpv6 echo transit", icmp6(t, peerIP6, transitIP6, 128, false), toSocket, toSocket},
		{"icmpv6 echo to link-local", icmp6(t, peerLL, netip.MustParseAddr("fe80::1"), 128, false), toLinkLocal, toSocket},
		{"icmpv6 echo to febf::1", icmp6(t, peerLL, netip.MustParseAddr("febf::1"), 128, false), toLinkLocal, toSocket},
		{"icmpv6 echo to fec0::1", icmp6(t, peerIP6, netip.MustParseAddr("fec0::1"), 128, false), toSocket, toSocket},
		{"icmpv6 type 138 transit", icmp6(t, peerIP6, transitIP6, 138, false), toSocket, toSocket},
		{"icmpv6 type 132 transit", icmp6(t, peerIP6, transitIP6, 132, false), toSocket, toSocket},
		{"mld report", icmp6(t, peerLL, netip.MustParseAddr("ff02::16"), 143, true), toMulticast, toSocket},
		{"udp6 to all-nodes", udp6(t, netip.MustParseAddr("ff02::1")), toMulticast, toSocket},
		{"ns to solicited-node", icmp6(t, peerLL, netip.MustParseAddr("ff02::1:ff00:1"), 135, false), toNDP, toSocket},
		{"ns to transit", icmp6(t, peerIP6, transitIP6, 135, false), toNDP, toSocket},
		{"ns to host", icmp6(t, peerIP6, hostIP6, 135, false), toNDP, toSocket},
		{"ns for the gateway", icmp6(t, peerLL, netip.MustParseAddr("fe80::1"), 135, false), toNDP, toSocket},
		{"na", icmp6(t, peerLL, netip.MustParseAddr("fe80::1"), 136, false), toNDP, toSocket},
		{"rs", icmp6(t, peerLL, netip.MustParseAddr("ff02::2"), 133, false), toNDP, toSocket},
		{"ra", icmp6(t, peerLL, netip.MustParseAddr("ff02::1"), 134, false), toNDP, toSocket},
		{"redirect", icmp6(t, peerLL, netip.MustParseAddr("fe80::1"), 137, false), toNDP, toSocket},
		{"ns behind hop-by-hop", icmp6(t, peerIP6, transitIP6, 135, true), toNDP, toSocket},
		{"vlan arp", arpFrame(t, layers.ARPRequest, dot1q), toARP, toSocket},
		{"qinq arp", arpFrame(t, layers.ARPRequest, qinq, dot1q), toARP, toSocket},
		{"vlan ipv4 to host", udp4(t, hostIP4, hostMAC, dot1q), toHost, toSocket},
		{"vlan ipv4 transit", udp4(t, transitIP4, hostMAC, dot1q), toSocket, toSocket},
		{"qinq ipv4 to host", udp4(t, hostIP4, hostMAC, qinq, dot1q), toHost, toSocket},
		{"three tags", udp4(t, hostIP4, hostMAC, qinq, dot1q, dot1q), toOther, toSocket},
		{"lldp", serialize(t, eth(net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, layers.EthernetTypeLinkLayerDiscovery), gopacket.Payload(make([]byte, 46))), toOther, toSocket},
		{"ethernet only", rawEth(0x9000), toOther, toSocket},

		{"ipv4 ethertype, no header", rawEth(0x0800), malformed, malformed},
		{"ipv6 ethertype, no header", rawEth(0x86dd), malformed, malformed},
		{"arp ethertype, no header", rawEth(0x0806), malformed, malformed},
		{"ipv4 header cut", ipv4Hdr[:14+19], malformed, malformed},
		{"ipv4 version 6", withByte(ipv4Hdr, 14, 0x65), malformed, malformed},
		{"ipv4 ihl 4", withByte(ipv4Hdr, 14, 0x44), malformed, malformed},
		{"ipv6 header cut", ipv6Hdr[:14+39], malformed, malformed},
		{"ipv6 version 4", withByte(ipv6Hdr, 14, 0x40), malformed, malformed},
		{"ipv6 hop-by-hop cut", withByte(ipv6Hdr, 14+6, 0), malformed, malformed},
		{"icmpv6 without type", withByte(ipv6Hdr, 14+6, 58), malformed, malformed},
		{"arp cut", arpFrame(t, layers.ARPRequest)[:14+27], malformed, malformed},
		{"vlan tag cut", rawEth(0x8100, 0, 1, 8), malformed, malformed},
		{"second vlan tag cut", rawEth(0x88a8, 0, 1, 0x81, 0, 0, 2, 8), malformed, malformed},
		{"ipv4 in vlan cut", rawEth(0x8100, 0, 1, 8, 0, 0x45), malformed, malformed},
	}
	type config struct {
		role Role
		ns   NoSocket
	}
	progs := map[config]*Program{}
	fd := xskFD(t)
	for _, role := range []Role{RoleUplink, RoleWorkload} {
		for _, ns := range []NoSocket{NoSocketPass, NoSocketDrop} {
			progs[config{role, ns}] = mustLoad(t, Options{Role: role, NoSocket: ns, HostAddrs: []netip.Addr{hostIP4, hostIP6}})
		}
	}
	for _, bound := range []bool{false, true} {
		for cfg, p := range progs {
			if bound {
				if err := p.SetSocket(0, fd); err != nil {
					t.Fatalf("SetSocket(0, %d): %v", fd, err)
				}
			}
			for _, tc := range tests {
				d := tc.uplink
				if cfg.role == RoleWorkload {
					d = tc.workload
				}
				t.Run(strings.Join([]string{cfg.role.String(), "nosocket-" + cfg.ns.String(), map[bool]string{false: "unbound", true: "bound"}[bound], tc.name}, "/"), func(t *testing.T) {
					wantRet, wantStats := expect(d, cfg.ns, bound)
					ret, stats := run(t, p, tc.frame)
					if ret != wantRet {
						t.Errorf("Run(%x) = action %d, want %d", tc.frame, ret, wantRet)
					}
					if diff := cmp.Diff(wantStats, stats); diff != "" {
						t.Errorf("Run(%x) counted (-want +got):\n%s", tc.frame, diff)
					}
				})
			}
		}
	}
}

func TestClearSocket(t *testing.T) {
	requireRoot(t)
	p := mustLoad(t, Options{Role: RoleUplink, NoSocket: NoSocketDrop})
	frame := udp4(t, transitIP4, hostMAC)
	if err := p.SetSocket(0, xskFD(t)); err != nil {
		t.Fatalf("SetSocket: %v", err)
	}
	if ret, _ := run(t, p, frame); ret != xdpRedirect {
		t.Errorf("with a socket: action %d, want %d (redirect)", ret, xdpRedirect)
	}
	for range 2 { // clearing twice is not an error
		if err := p.ClearSocket(0); err != nil {
			t.Fatalf("ClearSocket: %v", err)
		}
	}
	if ret, _ := run(t, p, frame); ret != xdpDrop {
		t.Errorf("after ClearSocket: action %d, want %d (drop)", ret, xdpDrop)
	}
	// A socket on another queue does not catch queue 0's frames.
	if err := p.SetSocket(1, xskFD(t)); err != nil {
		t.Fatalf("SetSocket(1): %v", err)
	}
	if ret, _ := run(t, p, frame); ret != xdpDrop {
		t.Errorf("socket on queue 1 only: action %d, want %d (drop)", ret, xdpDrop)
	}
	for _, q := range []int{-1, MaxQueues} {
		if err := p.SetSocket(q, 3); err == nil || !strings.Contains(err.Error(), "queue") {
			t.Errorf("SetSocket(%d, 3) = %v, want an error naming the queue", q, err)
		}
		if err := p.ClearSocket(q); err == nil || !strings.Contains(err.Error(), "queue") {
			t.Errorf("ClearSocket(%d) = %v, want an error naming the queue", q, err)
		}
	}
	if err := p.SetSocket(0, 0); err == nil {
		t.Errorf("SetSocket(0, 0 (stdin, not an XDP socket)) = nil, want an error")
	}
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := append([]netip.Addr(nil), as...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Less(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestSetHostAddrs(t *testing.T) {
	requireRoot(t)
	p := mustLoad(t, Options{Role: RoleUplink, NoSocket: NoSocketDrop, HostAddrs: []netip.Addr{hostIP4, hostIP6, peerIP4}})
	addrCmp := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	check := func(want []netip.Addr) {
		t.Helper()
		got, err := p.HostAddrs()
		if err != nil {
			t.Fatalf("HostAddrs: %v", err)
		}
		if diff := cmp.Diff(sortedAddrs(want), sortedAddrs(got), addrCmp); diff != "" {
			t.Errorf("HostAddrs() (-want +got):\n%s", diff)
		}
	}
	check([]netip.Addr{hostIP4, hostIP6, peerIP4})

	next := []netip.Addr{transitIP4, transitIP6, hostIP4, transitIP4, netip.MustParseAddr("2001:db8::9%eth0")}
	if err := p.SetHostAddrs(next); err != nil {
		t.Fatalf("SetHostAddrs(%v): %v", next, err)
	}
	check([]netip.Addr{transitIP4, transitIP6, hostIP4, netip.MustParseAddr("2001:db8::9")})
	for _, tc := range []struct {
		frame []byte
		want  int
	}{
		{udp4(t, transitIP4, hostMAC), xdpPass},
		{udp6(t, transitIP6), xdpPass},
		{udp4(t, peerIP4, hostMAC), xdpDrop}, // removed
		{udp6(t, hostIP6), xdpDrop},          // removed
		{udp6(t, netip.MustParseAddr("2001:db8::9")), xdpPass},
	} {
		if ret, _ := run(t, p, tc.frame); ret != tc.want {
			t.Errorf("Run(%x) = %d, want %d", tc.frame, ret, tc.want)
		}
	}

	many := make([]netip.Addr, MaxHostAddrs+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	}
	for _, tc := range []struct {
		name  string
		addrs []netip.Addr
		want  string
	}{
		{"invalid", []netip.Addr{hostIP4, {}}, "SetHostAddrs[1]: invalid"},
		{"mapped", []netip.Addr{netip.MustParseAddr("::ffff:198.18.0.1")}, "SetHostAddrs[0]: ::ffff:198.18.0.1 is an IPv4-mapped"},
		{"too many", many, "at most 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.SetHostAddrs(tc.addrs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetHostAddrs = %v, want an error containing %q", err, tc.want)
			}
			check([]netip.Addr{transitIP4, transitIP6, hostIP4, netip.MustParseAddr("2001:db8::9")})
		})
	}
	if err := p.SetHostAddrs(nil); err != nil {
		t.Fatalf("SetHostAddrs(nil): %v", err)
	}
	check(nil)
}

// Load rejects bad options before touching the kernel, so this runs without root.
func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"role", Options{Role: 7}, "Options.Role"},
		{"nosocket", Options{NoSocket: 7}, "Options.NoSocket"},
		{"host addr", Options{HostAddrs: []netip.Addr{hostIP4, {}}}, "Options.HostAddrs[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(tc.opts)
			if err == nil {
				p.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%+v) = %v, want an error naming %s", tc.opts, err, tc.want)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	requireRoot(t)
	p, err := Load(Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := p.Attach(1, AttachGeneric); err == nil {
		t.Errorf("Attach after Close = nil, want an error")
	}
}
