package pkt

// The builders against the real Linux stack: a network namespace whose
// kernel resolves its gateway (169.254.1.1 / fe80::1) and pings through it.
// This test plays the gateway on the other end of a veth pair with a raw
// AF_PACKET socket: it answers the kernel's ARP request and neighbour
// solicitation with BuildARPReply and BuildNeighborAdvert, then answers the
// echo requests with BuildICMPv4Error / BuildICMPv6Error (time exceeded).
// ping must report the errors, which it does only if the kernel accepted
// every frame gannet built. Every frame the kernel sent is also checked
// with Parse.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

func TestKernelAcceptsBuiltPackets(t *testing.T) {
	netnstest.Require(t, "ping")
	// The gateway end lives in a namespace of its own without addresses;
	// with IPv6 off there before the link exists it sends nothing of its
	// own onto the link.
	gwNS, ns := netnstest.NewNS(t, "gpktgw"), netnstest.NewNS(t, "gpktwl")
	gwNS.Run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	id := netnstest.Name("")
	gw, wl := "gpg"+id, "gpw"+id
	netnstest.Veth(t, gw, gwNS, wl, ns)
	ns.Run("ip", "addr", "add", "198.18.0.2/32", "dev", wl)
	ns.Run("ip", "addr", "add", "2001:db8::2/128", "dev", wl, "nodad")
	// Calico-style workload routing: everything via the link-local gateway.
	ns.Run("ip", "route", "add", "169.254.1.1", "dev", wl)
	ns.Run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", wl)
	ns.Run("ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", wl)

	l, err := gwNS.Netlink().LinkByName(gw)
	if err != nil {
		t.Fatal(err)
	}
	ifindex := l.Attrs().Index
	fd := -1
	if err := gwNS.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL))); err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
			return fmt.Errorf("bind %s: %w", gw, err)
		}
		return nil
	}); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Fatalf("in %s: %v", gwNS.Name, err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}

	// ping in the namespace toward documentation addresses: the frames go
	// only to the gateway end of the veth, which is this test.
	type result struct {
		out string
		err error
	}
	pings := make(chan result, 2)
	for _, target := range []string{"203.0.113.7", "2001:db8:ff::9"} {
		go func() {
			out, err := ns.Try("ping", "-c", "1", "-W", "5", target)
			pings <- result{out, err}
		}()
	}

	var (
		s                                 Summary
		buf                               = make([]byte, 2048)
		out                               = make([]byte, 2048)
		sawARP, sawNS, sawEcho4, sawEcho6 bool
		deadline                          = time.Now().Add(8 * time.Second)
		answered                          = 0
	)
	send := func(frame []byte) {
		if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	for answered < 2 && time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		frame := buf[:n]
		if Ethernet(frame).Src() == gatewayMAC {
			continue // our own transmissions, looped back to the socket
		}
		if v := Parse(frame, &s); v != OK {
			t.Errorf("the kernel sent a frame Parse rejects (%v %v): %x", v, s.Reason, frame)
			continue
		}
		switch {
		case s.EtherType == EtherTypeARP && s.ARPOp == ARPRequest:
			sawARP = true
			m, err := BuildARPReply(out, frame, gatewayMAC)
			if err != nil {
				t.Fatalf("BuildARPReply(kernel request %v): %v", s.String(), err)
			}
			send(out[:m])
		case s.Proto == ProtoICMPv6 && s.ICMPType == ICMPv6NeighborSol:
			if NDP(frame[s.L4Off:]).Target() != [16]byte(net.ParseIP("fe80::1")) {
				continue
			}
			sawNS = true
			m, err := BuildNeighborAdvert(out, frame, gatewayMAC, true)
			if err != nil {
				t.Fatalf("BuildNeighborAdvert(kernel solicitation %v): %v", s.String(), err)
			}
			send(out[:m])
		case s.Family == FamilyIPv4 && s.ICMPType == ICMPv4EchoRequest:
			sawEcho4 = true
			m, err := BuildICMPv4Error(out[EthernetLen:], frame[s.L3Off:s.End()], routerIP4, ICMPv4TimeExceeded, ICMPv4TTLExceeded, 0)
			if err != nil {
				t.Fatalf("BuildICMPv4Error: %v", err)
			}
			reply(out, frame, EtherTypeIPv4)
			send(out[:EthernetLen+m])
			answered++
		case s.Family == FamilyIPv6 && s.Proto == ProtoICMPv6 && s.ICMPType == ICMPv6EchoRequest:
			sawEcho6 = true
			m, err := BuildICMPv6Error(out[EthernetLen:], frame[s.L3Off:s.End()], routerIP6, ICMPv6TimeExceeded, ICMPv6HopLimitExceeded, 0)
			if err != nil {
				t.Fatalf("BuildICMPv6Error: %v", err)
			}
			reply(out, frame, EtherTypeIPv6)
			send(out[:EthernetLen+m])
			answered++
		}
	}
	if !sawARP || !sawNS || !sawEcho4 || !sawEcho6 {
		t.Fatalf("from the kernel: ARP request %v, neighbour solicitation %v, echo %v, echo6 %v; want all",
			sawARP, sawNS, sawEcho4, sawEcho6)
	}
	wants := map[string]string{ // what ping prints for a time-exceeded from the router
		"203.0.113.7":    "From 198.18.255.1 icmp_seq=1 Time to live exceeded",
		"2001:db8:ff::9": "From 2001:db8:ff00::1 icmp_seq=1 Time exceeded: Hop limit",
	}
	for range 2 {
		r := <-pings
		t.Logf("ping: %s", r.out)
		found := false
		for _, want := range wants {
			if strings.Contains(r.out, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("ping did not report the gannet-built ICMP error:\n%s", r.out)
		}
	}
}

// reply writes the Ethernet header of a frame answering frame.
func reply(out, frame []byte, et uint16) {
	e := Ethernet(out)
	e.SetDst(Ethernet(frame).Src())
	e.SetSrc(gatewayMAC)
	e.SetEtherType(et)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
