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
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, AF_PACKET)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: iproute2, iputils-ping)", tool)
		}
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestKernelAcceptsBuiltPackets(t *testing.T) {
	requireRoot(t, "ip", "ping")
	var rnd [3]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	ns, gw, wl := "gn-pkt-"+id, "gpg"+id, "gpw"+id

	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", gw, "type", "veth", "peer", "name", wl, "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", gw).Run() })
	// The gateway end stays in this namespace without addresses; with IPv6
	// off it sends nothing of its own onto the link.
	run(t, "sysctl", "-qw", "net.ipv6.conf."+gw+".disable_ipv6=1")
	run(t, "ip", "link", "set", gw, "up")
	nsx := func(args ...string) { run(t, append([]string{"ip", "netns", "exec", ns}, args...)...) }
	nsx("sysctl", "-qw", "net.ipv6.conf."+wl+".accept_dad=0")
	nsx("ip", "link", "set", "lo", "up")
	nsx("ip", "link", "set", wl, "up")
	nsx("ip", "addr", "add", "198.18.0.2/32", "dev", wl)
	nsx("ip", "addr", "add", "2001:db8::2/128", "dev", wl, "nodad")
	// Calico-style workload routing: everything via the link-local gateway.
	nsx("ip", "route", "add", "169.254.1.1", "dev", wl)
	nsx("ip", "route", "add", "default", "via", "169.254.1.1", "dev", wl)
	nsx("ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", wl)

	ifi, err := net.InterfaceByName(gw)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		t.Fatalf("bind %s: %v", gw, err)
	}
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
			out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "5", target).CombinedOutput()
			pings <- result{string(out), err}
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
		if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
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
