package fwd

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestXSKPortForwards moves frames from one veth to another through two
// XSKPorts on one worker UMEM, both with the UMEM shared (no copy) and with
// the copy fallback forced, and checks every frame arrives intact and every
// UMEM frame comes back.
func TestXSKPortForwards(t *testing.T) {
	for _, noShare := range []bool{false, true} {
		name := "shared"
		if noShare {
			name = "copy"
		}
		t.Run(name, func(t *testing.T) { testXSKPortForwards(t, noShare) })
	}
}

func testXSKPortForwards(t *testing.T, noShare bool) {
	netnstest.Require(t)
	dut, peer := netnstest.NewNS(t, "xpd"), netnstest.NewNS(t, "xpp")
	// No IPv6 on the links: the kernels' own MLD and router solicitations
	// would mix with the test's frames.
	dut.Run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	peer.Run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	va, pa, vb, pb := netnstest.Name("xva"), netnstest.Name("xpa"), netnstest.Name("xvb"), netnstest.Name("xpb")
	netnstest.Veth(t, va, dut, pa, peer)
	netnstest.Veth(t, vb, dut, pb, peer)

	const frames, ring = 1024, 256
	var (
		umem         *xsk.Umem
		progA        *bpf.Program
		portA, portB *XSKPort
	)
	err := dut.Do(func() error {
		ia, err := net.InterfaceByName(va)
		if err != nil {
			return err
		}
		ib, err := net.InterfaceByName(vb)
		if err != nil {
			return err
		}
		if umem, err = xsk.NewUmem(xsk.UmemConfig{NumFrames: frames, FrameSize: 4096}); err != nil {
			return err
		}
		if progA, err = bpf.Load(bpf.Options{Role: bpf.RoleWorkload, NoSocket: bpf.NoSocketDrop}); err != nil {
			return err
		}
		if _, err = progA.Attach(ia.Index, bpf.AttachAuto); err != nil {
			return err
		}
		sc := xsk.SocketConfig{Queue: 0, RxSize: ring, TxSize: ring}
		sc.Ifindex = ia.Index
		if portA, err = NewXSKPort(umem, XSKPortConfig{Socket: sc, NoShare: noShare}); err != nil {
			return err
		}
		if err = progA.SetSocket(0, portA.FD()); err != nil {
			return err
		}
		sc.Ifindex = ib.Index
		portB, err = NewXSKPort(umem, XSKPortConfig{Socket: sc, NoShare: noShare})
		return err
	})
	if err != nil {
		t.Fatalf("setting up ports in %s: %v", dut.Name, err)
	}
	t.Cleanup(func() {
		portA.Close()
		portB.Close()
		progA.Close()
		umem.Close()
	})
	if portA.Shared() == noShare || portB.Shared() == noShare {
		t.Fatalf("Shared() = %v, %v with NoShare %v", portA.Shared(), portB.Shared(), noShare)
	}

	// The worker's side: all frames start free; ring frames go to A's fill.
	free := xsk.NewFrameStack(frames)
	free.PushBatch(umem.Frames(nil))
	fill := make([]uint64, ring)
	free.PopBatch(fill)
	if n := portA.Fill(fill); n != ring {
		t.Fatalf("Fill took %d of %d", n, ring)
	}

	var txFD, rxFD int
	if err := peer.Do(func() (err error) {
		if txFD, err = packetSocket(pa); err != nil {
			return err
		}
		rxFD, err = packetSocket(pb)
		return err
	}); err != nil {
		t.Fatalf("AF_PACKET sockets: %v", err)
	}
	defer unix.Close(txFD)
	defer unix.Close(rxFD)

	const count = 200
	sent := make([][]byte, count)
	for i := range sent {
		sent[i] = testFrame(i)
		if _, err := unix.Write(txFD, sent[i]); err != nil {
			t.Fatalf("sending frame %d: %v", i, err)
		}
	}

	// Forward A -> B until every frame went out, refilling A as we go.
	var d [64]xsk.Desc
	var done [64]uint64
	forwarded, completed := 0, 0
	mem := umem.Mem()
	for deadline := time.Now().Add(5 * time.Second); completed < count && time.Now().Before(deadline); {
		n := portA.Receive(d[:])
		for i := range n {
			got := mem[d[i].Addr : d[i].Addr+uint64(d[i].Len)]
			if seq := frameSeq(got); seq < 0 || !bytes.Equal(got, sent[seq]) {
				t.Fatalf("received frame %x is not one we sent", got)
			}
			if d[i].Addr&4095 < xsk.PacketHeadroom {
				t.Fatalf("received frame at chunk offset %d, want headroom >= %d", d[i].Addr&4095, xsk.PacketHeadroom)
			}
		}
		for off := 0; off < n; {
			off += portB.Transmit(d[off:n])
		}
		forwarded += n
		c := portB.Complete(done[:])
		for i := range c {
			free.Push(done[i] &^ 4095)
		}
		completed += c
		if k := free.PopBatch(fill[:min(c, len(fill))]); k > 0 {
			if got := portA.Fill(fill[:k]); got != k {
				free.PushBatch(fill[got:k])
			}
		}
		if n == 0 && c == 0 {
			portA.sock.Poll(10 * time.Millisecond)
		}
	}
	if completed != count {
		t.Fatalf("forwarded %d, completed %d of %d frames", forwarded, completed, count)
	}

	// Every frame arrives on B's peer intact, each once.
	seen := make([]bool, count)
	buf := make([]byte, 2048)
	for got := 0; got < count; {
		unix.SetsockoptTimeval(rxFD, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
		n, err := unix.Read(rxFD, buf)
		if err != nil {
			t.Fatalf("received %d of %d frames on %s: %v", got, count, pb, err)
		}
		seq := frameSeq(buf[:n])
		if seq < 0 {
			continue // the peer kernel's own traffic (IPv6 router solicitations...)
		}
		if seen[seq] || !bytes.Equal(buf[:n], sent[seq]) {
			t.Fatalf("frame %d arrived twice or changed: %x", seq, buf[:n])
		}
		seen[seq] = true
		got++
	}

	// Frame accounting: what A still holds on its fill ring plus the free
	// stack is every frame of the UMEM.
	if held := frames - free.Len(); held != ring {
		t.Errorf("worker lost track of frames: %d outside the free stack, want %d on A's fill ring", held, ring)
	}
	if noShare && (portA.Copies() < count || portB.Copies() < count) {
		t.Errorf("copy path copied %d and %d frames, want at least %d each", portA.Copies(), portB.Copies(), count)
	}
	if !noShare && (portA.Copies() != 0 || portB.Copies() != 0) {
		t.Errorf("shared UMEM copied frames: %d, %d", portA.Copies(), portB.Copies())
	}
	st, err := progA.Stats()
	if err != nil || st.Redirected < count {
		t.Errorf("XDP program redirected %d frames (err %v), want at least %d", st.Redirected, err, count)
	}
}

// testFrame is an Ethernet frame with a private EtherType carrying seq.
func testFrame(seq int) []byte {
	f := make([]byte, 60+seq%400)
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0x0b})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(f[12:], 0x88b5) // IEEE local experimental
	binary.BigEndian.PutUint32(f[14:], 0x67616e6e)
	binary.BigEndian.PutUint32(f[18:], uint32(seq))
	for i := 22; i < len(f); i++ {
		f[i] = byte(seq + i)
	}
	return f
}

func frameSeq(f []byte) int {
	if len(f) < 22 || binary.BigEndian.Uint16(f[12:]) != 0x88b5 || binary.BigEndian.Uint32(f[14:]) != 0x67616e6e {
		return -1
	}
	seq := int(binary.BigEndian.Uint32(f[18:]))
	if seq >= 200 {
		return -1
	}
	return seq
}

// packetSocket opens an AF_PACKET socket bound to dev.
func packetSocket(dev string) (int, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, err
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
