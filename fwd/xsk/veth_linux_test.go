package xsk

// Privileged tests: AF_XDP sockets on veth pairs inside a network namespace
// the test creates with internal/netnstest. The XDP program here is the smallest that works (redirect
// to the XSKMAP slot of the receiving queue, else pass), assembled in the test
// so no clang is needed; gannet's real program is fwd/bpf's.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// testEtherType is IEEE 802 local experimental EtherType 1: frames of the
// tests carry it so nothing the kernel sends on its own is mistaken for one.
const testEtherType = 0x88b5

var testMagic = []byte("gannet-xsk-test")

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN) for network namespaces, veths, XDP and AF_XDP")
	}
}

// testNS is a network namespace owned by one test (made and removed by
// netnstest), with a netlink handle in it for reading link attributes.
type testNS struct {
	tb testing.TB
	ns *netnstest.NS
	h  *netlink.Handle
}

func newTestNS(tb testing.TB) *testNS {
	tb.Helper()
	requireRoot(tb)
	netnstest.Require(tb)
	ns := netnstest.NewNS(tb, "gxsk")
	// No IPv6 autoconf chatter on the links made in it (best effort: the
	// tests filter on their EtherType anyway).
	ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0)
	})
	return &testNS{tb: tb, ns: ns, h: ns.Netlink()}
}

// do runs f on a thread inside the namespace and fails the test with its
// error. Sockets and links made in f stay in the namespace after f
// returns. f runs on another goroutine, so it returns errors instead of
// calling tb.Fatal.
func (n *testNS) do(what string, f func() error) {
	n.tb.Helper()
	if err := n.ns.Do(f); err != nil {
		n.tb.Fatalf("%s in %s: %v", what, n.ns.Name, err)
	}
}

// veth is one pair: the XSK side and the peer the test talks through.
type veth struct {
	xsk, peer       int // ifindex
	xskMAC, peerMAC [6]byte
}

func (n *testNS) veth() veth {
	n.tb.Helper()
	sfx := netnstest.Name("")
	a, b := "gx"+sfx, "gp"+sfx
	netnstest.Veth(n.tb, a, n.ns, b, n.ns)
	var v veth
	for i, name := range []string{a, b} {
		l, err := n.h.LinkByName(name)
		if err != nil {
			n.tb.Fatalf("LinkByName(%s): %v", name, err)
		}
		if i == 0 {
			v.xsk = l.Attrs().Index
			copy(v.xskMAC[:], l.Attrs().HardwareAddr)
		} else {
			v.peer = l.Attrs().Index
			copy(v.peerMAC[:], l.Attrs().HardwareAddr)
		}
	}
	return v
}

// redirect attaches an XDP program to ifindex that redirects every frame to
// the XSKMAP slot of its rx queue (passing it when the slot is empty), and
// returns the map.
func (n *testNS) redirect(ifindex int) *ebpf.Map {
	n.tb.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		n.tb.Fatalf("create XSKMAP: %v", err)
	}
	n.tb.Cleanup(func() { m.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // ctx->rx_queue_index
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R3, 2), // flags: XDP_PASS when the slot is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		n.tb.Fatalf("load XDP program: %v", err)
	}
	n.tb.Cleanup(func() { prog.Close() })
	var l link.Link
	n.do(fmt.Sprintf("attach XDP to ifindex %d", ifindex), func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
		return err
	})
	n.tb.Cleanup(func() { l.Close() })
	return m
}

// socket makes an XSK on (ifindex, queue 0) inside the namespace.
func (n *testNS) socket(u *Umem, cfg SocketConfig) (*Socket, error) {
	var s *Socket
	err := n.ns.Do(func() (err error) {
		s, err = u.NewSocket(cfg)
		return err
	})
	if err == nil {
		n.tb.Cleanup(func() { s.Close() })
	}
	return s, err
}

// packetSock is an AF_PACKET socket on a peer link, for sending test frames
// and receiving the ones the XSK transmitted.
type packetSock struct {
	tb testing.TB
	fd int
}

func (n *testNS) packet(ifindex int) *packetSock {
	n.tb.Helper()
	var fd int
	n.do("AF_PACKET socket", func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(testEtherType)))
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to ifindex %d: %w", ifindex, err)
		}
		return nil
	})
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		n.tb.Fatalf("SO_RCVTIMEO: %v", err)
	}
	n.tb.Cleanup(func() { unix.Close(fd) })
	return &packetSock{tb: n.tb, fd: fd}
}

func (p *packetSock) send(frame []byte) {
	p.tb.Helper()
	if _, err := unix.Write(p.fd, frame); err != nil {
		p.tb.Fatalf("AF_PACKET send: %v", err)
	}
}

// recv returns test frames until it has want of them or deadline passes.
func (p *packetSock) recv(want int, deadline time.Duration) [][]byte {
	p.tb.Helper()
	var got [][]byte
	buf := make([]byte, 4096)
	end := time.Now().Add(deadline)
	for len(got) < want && time.Now().Before(end) {
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			p.tb.Fatalf("AF_PACKET recv: %v", err)
		}
		if isTestFrame(buf[:n]) {
			got = append(got, bytes.Clone(buf[:n]))
		}
	}
	return got
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// testFrame builds a 64-byte Ethernet frame carrying testMagic and seq.
func testFrame(dst, src [6]byte, seq uint32) []byte {
	f := make([]byte, 64)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], testEtherType)
	copy(f[14:], testMagic)
	binary.BigEndian.PutUint32(f[14+len(testMagic):], seq)
	return f
}

func isTestFrame(f []byte) bool {
	return len(f) >= 14+len(testMagic)+4 && binary.BigEndian.Uint16(f[12:14]) == testEtherType && bytes.Equal(f[14:14+len(testMagic)], testMagic)
}

// receive collects test frames from s until it has want or deadline passes;
// other frames go straight back to the fill ring.
func receive(tb testing.TB, s *Socket, want int, deadline time.Duration) []Desc {
	tb.Helper()
	var got []Desc
	d := make([]Desc, 64)
	var refill []uint64
	end := time.Now().Add(deadline)
	for len(got) < want && time.Now().Before(end) {
		n := s.Receive(d)
		if n == 0 {
			if _, err := s.Poll(50 * time.Millisecond); err != nil {
				tb.Fatalf("Poll: %v", err)
			}
			continue
		}
		for _, x := range d[:n] {
			if isTestFrame(s.umem.mem[x.Addr : x.Addr+uint64(x.Len)]) {
				got = append(got, x)
			} else {
				refill = append(refill, x.Chunk(s.umem.FrameSize()))
			}
		}
		refill = refill[s.Fill(refill):]
	}
	return got
}

// complete collects want completions from s, kicking the kernel meanwhile.
func complete(tb testing.TB, s *Socket, want int, deadline time.Duration) []uint64 {
	tb.Helper()
	var got []uint64
	buf := make([]uint64, 64)
	end := time.Now().Add(deadline)
	for len(got) < want && time.Now().Before(end) {
		n := s.Complete(buf)
		got = append(got, buf[:n]...)
		if n == 0 {
			sendtoNonblock(s.fd)
			time.Sleep(time.Millisecond)
		}
	}
	return got
}
