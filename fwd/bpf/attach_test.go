package bpf

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// vethPair creates a veth pair a <-> b in namespace ns, both up, and returns their links
// (their indexes are ns's: whatever uses them there runs in ns.Do).
func vethPair(t *testing.T, ns *netnstest.NS, a, b string) (netlink.Link, netlink.Link) {
	t.Helper()
	netnstest.Veth(t, a, ns, b, ns)
	var links []netlink.Link
	for _, name := range []string{a, b} {
		l, err := ns.Netlink().LinkByName(name)
		if err != nil {
			t.Fatalf("LinkByName(%s) in %s: %v", name, ns.Name, err)
		}
		links = append(links, l)
	}
	return links[0], links[1]
}

// attach attaches p to ifindex in namespace ns (Attach resolves the index in the calling
// thread's namespace).
func attach(ns *netnstest.NS, p *Program, ifindex int, mode AttachMode) (got AttachMode, err error) {
	err = ns.Do(func() (err error) {
		got, err = p.Attach(ifindex, mode)
		return err
	})
	return got, err
}

// packetSocket returns a send function writing whole frames onto link l of namespace ns
// (AF_PACKET), so the test decides exactly which frames the program on the peer sees.
func packetSocket(t *testing.T, ns *netnstest.NS, l netlink.Link) func(frame []byte) {
	t.Helper()
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // 0: send only
		return err
	}); err != nil {
		t.Fatalf("socket(AF_PACKET) in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6}
	return func(frame []byte) {
		t.Helper()
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("sending %x on %s: %v", frame, l.Attrs().Name, err)
		}
	}
}

// xdpState returns the XDP program id and attach mode the kernel reports for ifindex in ns.
func xdpState(t *testing.T, ns *netnstest.NS, ifindex int) (id, mode uint32) {
	t.Helper()
	l, err := ns.Netlink().LinkByIndex(ifindex)
	if err != nil {
		t.Fatalf("LinkByIndex(%d): %v", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return 0, 0
	}
	return x.ProgId, x.AttachMode
}

// netlink's attach modes (IFLA_XDP_ATTACHED values).
const (
	attachedDrv = 1
	attachedSKB = 2
)

// TestAttachVeth attaches to a veth pair in a fresh namespace: native mode on veth, traffic
// counted per outcome, generic mode on request, and Close detaches.
func TestAttachVeth(t *testing.T) {
	requireRoot(t)
	netnstest.Require(t)
	ns := netnstest.NewNS(t, "gbpf")
	suffix := netnstest.Name("")
	a, b := vethPair(t, ns, "gba"+suffix, "gbb"+suffix)
	hostAddr := hostIP4
	if err := ns.Netlink().AddrAdd(b, &netlink.Addr{IPNet: &net.IPNet{IP: hostAddr.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("AddrAdd(%s, %v): %v", b.Attrs().Name, hostAddr, err)
	}

	p, err := Load(Options{Role: RoleUplink, NoSocket: NoSocketDrop, HostAddrs: []netip.Addr{hostAddr}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer p.Close()
	mode, err := attach(ns, p, b.Attrs().Index, AttachAuto)
	if err != nil {
		t.Fatalf("Attach(%s, auto): %v", b.Attrs().Name, err)
	}
	if mode != AttachNative {
		t.Errorf("Attach(veth, auto) got mode %v, want native", mode)
	}
	info, err := p.objs.GannetXdp.Info()
	if err != nil {
		t.Fatalf("program info: %v", err)
	}
	progID, _ := info.ID()
	if id, m := xdpState(t, ns, b.Attrs().Index); uint32(progID) != id || m != attachedDrv {
		t.Errorf("kernel reports prog %d mode %d on %s, want prog %d mode %d (driver)", id, m, b.Attrs().Name, progID, attachedDrv)
	}
	if _, err := attach(ns, p, a.Attrs().Index, AttachAuto); err == nil {
		t.Errorf("second Attach = nil, want an error")
	}

	// Onto a, so b's program sees them: an ARP request, a datagram to b's own address, and
	// one routed through b (no socket on its queue, NoSocketDrop). a has no IPv4 address,
	// so its kernel adds no IPv4 of its own; its IPv6 autoconfiguration only adds NDP and
	// multicast.
	send := packetSocket(t, ns, a)
	send(arpFrame(t, layers.ARPRequest))
	send(udp4(t, hostAddr, b.Attrs().HardwareAddr))
	send(udp4(t, transitIP4, b.Attrs().HardwareAddr))
	send(rawEth(0x0800, 0x45, 0))
	want := Stats{PassARP: 1, PassHost: 1, DropNoSocket: 1, DropMalformed: 1}
	var got Stats
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = p.Stats(); err != nil {
			t.Fatalf("Stats: %v", err)
		}
		got.PassNDP, got.PassMulticast, got.PassLinkLocal = 0, 0, 0
		if got == want {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats after four frames a->b, NDP and multicast left out (-want +got):\n%s", diff)
	}

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if id, _ := xdpState(t, ns, b.Attrs().Index); id != 0 {
		t.Errorf("after Close the kernel still reports prog %d on %s", id, b.Attrs().Name)
	}

	// Generic mode on request, on the other end.
	g, err := Load(Options{Role: RoleWorkload})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer g.Close()
	if mode, err := attach(ns, g, a.Attrs().Index, AttachGeneric); err != nil || mode != AttachGeneric {
		t.Fatalf("Attach(%s, generic) = %v, %v, want generic", a.Attrs().Name, mode, err)
	}
	if _, m := xdpState(t, ns, a.Attrs().Index); m != attachedSKB {
		t.Errorf("kernel reports mode %d on %s, want %d (skb)", m, a.Attrs().Name, attachedSKB)
	}
	if ifindex, mode, ok := g.Attached(); !ok || ifindex != a.Attrs().Index || mode != AttachGeneric {
		t.Errorf("Attached() = %d, %v, %v, want %d, generic, true", ifindex, mode, ok, a.Attrs().Index)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if id, _ := xdpState(t, ns, a.Attrs().Index); id != 0 {
		t.Errorf("after Close the kernel still reports prog %d on %s", id, a.Attrs().Name)
	}
}
