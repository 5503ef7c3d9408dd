package bpf

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNewNetns moves the calling goroutine, locked to its thread for the rest of the test,
// into a new network namespace with a random name, and returns the suffix used for names.
// Cleanup returns the thread to its namespace and deletes the new one (with its links).
func inNewNetns(t *testing.T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	runtime.LockOSThread() // never unlocked: a thread that ends the test locked is discarded
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("netns.Get: %v", err)
	}
	name := "gannet-bpf-" + suffix
	ns, err := netns.NewNamed(name)
	if err != nil {
		orig.Close()
		t.Fatalf("netns.NewNamed(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("back to the original netns: %v", err)
		}
		orig.Close()
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting netns %s: %v", name, err)
		}
	})
	return suffix
}

// vethPair creates a veth pair a <-> b in the current namespace and brings both up.
func vethPair(t *testing.T, a, b string) (netlink.Link, netlink.Link) {
	t.Helper()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
		t.Fatalf("adding veth %s/%s: %v", a, b, err)
	}
	var links []netlink.Link
	for _, name := range []string{a, b} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatalf("LinkByName(%s): %v", name, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatalf("LinkSetUp(%s): %v", name, err)
		}
		links = append(links, l)
	}
	return links[0], links[1]
}

// packetSocket returns a send function writing whole frames onto link l (AF_PACKET), so
// the test decides exactly which frames the program on the peer sees.
func packetSocket(t *testing.T, l netlink.Link) func(frame []byte) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // 0: send only
	if err != nil {
		t.Fatalf("socket(AF_PACKET): %v", err)
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

// xdpState returns the XDP program id and attach mode the kernel reports for ifindex.
func xdpState(t *testing.T, ifindex int) (id, mode uint32) {
	t.Helper()
	l, err := netlink.LinkByIndex(ifindex)
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
	suffix := inNewNetns(t)
	a, b := vethPair(t, "gba"+suffix, "gbb"+suffix)
	hostAddr := hostIP4
	if err := netlink.AddrAdd(b, &netlink.Addr{IPNet: &net.IPNet{IP: hostAddr.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("AddrAdd(%s, %v): %v", b.Attrs().Name, hostAddr, err)
	}

	p, err := Load(Options{Role: RoleUplink, NoSocket: NoSocketDrop, HostAddrs: []netip.Addr{hostAddr}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer p.Close()
	mode, err := p.Attach(b.Attrs().Index, AttachAuto)
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
	if id, m := xdpState(t, b.Attrs().Index); uint32(progID) != id || m != attachedDrv {
		t.Errorf("kernel reports prog %d mode %d on %s, want prog %d mode %d (driver)", id, m, b.Attrs().Name, progID, attachedDrv)
	}
	if _, err := p.Attach(a.Attrs().Index, AttachAuto); err == nil {
		t.Errorf("second Attach = nil, want an error")
	}

	// Onto a, so b's program sees them: an ARP request, a datagram to b's own address, and
	// one routed through b (no socket on its queue, NoSocketDrop). a has no IPv4 address,
	// so its kernel adds no IPv4 of its own; its IPv6 autoconfiguration only adds NDP and
	// multicast.
	send := packetSocket(t, a)
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
	if id, _ := xdpState(t, b.Attrs().Index); id != 0 {
		t.Errorf("after Close the kernel still reports prog %d on %s", id, b.Attrs().Name)
	}

	// Generic mode on request, on the other end.
	g, err := Load(Options{Role: RoleWorkload})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer g.Close()
	if mode, err := g.Attach(a.Attrs().Index, AttachGeneric); err != nil || mode != AttachGeneric {
		t.Fatalf("Attach(%s, generic) = %v, %v, want generic", a.Attrs().Name, mode, err)
	}
	if _, m := xdpState(t, a.Attrs().Index); m != attachedSKB {
		t.Errorf("kernel reports mode %d on %s, want %d (skb)", m, a.Attrs().Name, attachedSKB)
	}
	if ifindex, mode, ok := g.Attached(); !ok || ifindex != a.Attrs().Index || mode != AttachGeneric {
		t.Errorf("Attached() = %d, %v, %v, want %d, generic, true", ifindex, mode, ok, a.Attrs().Index)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if id, _ := xdpState(t, a.Attrs().Index); id != 0 {
		t.Errorf("after Close the kernel still reports prog %d on %s", id, a.Attrs().Name)
	}
}
