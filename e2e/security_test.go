package e2e

// Attacks from inside a workload: each test sets the host up the way a
// Calico host is set up (the host side of the workload's veth carries the
// gateway MAC, loose rp_filter, forwarding on) and checks both that the
// attack fails and that gannet counted it under its name.

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestWorkloadCannotReachHost: a workload whose egress policy allows one
// peer sends UDP to a service on one of the host's addresses, once from
// its own address and once from a forged one; neither reaches the host
// stack (endpointToHost: drop), and gannet counts spoofed and to-host.
func TestWorkloadCannotReachHost(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:15:0a", "198.18.15.10", "")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:15:0b", "198.18.15.11", "")
	// The host as Calico sets it up: a service address of its own, the
	// gateway MAC on the workload side's peer, loose rp_filter, forwarding.
	hostAddr := "198.18.99.1"
	host.Run("ip", "link", "set", "lo", "up")
	host.Run("ip", "addr", "add", hostAddr+"/32", "dev", "lo")
	host.Run("ip", "link", "set", a.hostIf, "address", "ee:ee:ee:ee:ee:ee")
	host.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.ip_forward=1")
	host.Run("sysctl", "-qw", "net.ipv4.conf."+a.hostIf+".rp_filter=0")
	policy := `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
  policies:
    - name: a-egress
      selector: app == 'a'
      types: [Egress]
      egress:
        - action: Allow
          destination: {nets: [198.18.15.11/32]}
`
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "  conntrack: {capacity: 4096}",
		a.endpoint(0, "app: a", "open")+b.endpoint(0, "app: b", "open"), policy))
	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatal("wl-a cannot reach its allowed peer")
	}

	got := listenUDP(t, host, hostAddr+":9999")
	// The forged source is put on the workload's own interface so its
	// kernel sends from it: the frame is what a hostile workload sends.
	forged := "203.0.113.9"
	a.ns.Run("ip", "addr", "add", forged+"/32", "dev", a.dev)
	a.sendUDP(t, forged, hostAddr+":9999", 5)
	a.sendUDP(t, a.v4, hostAddr+":9999", 5)
	if msgs := received(got, time.Second); len(msgs) > 0 {
		t.Errorf("the host stack received a workload's datagrams: %v", msgs)
	}
	out := d.stop()
	if n := counter(out, "drop/anti-spoof/spoofed"); n < 5 {
		t.Errorf("spoofed drops = %d, want at least 5\n%s", n, out)
	}
	if n := counter(out, "drop/port/to-host"); n < 5 {
		t.Errorf("to-host drops = %d, want at least 5\n%s", n, out)
	}
	if strings.Contains(out, "pass-host") {
		t.Errorf("the workload port's XDP program passed traffic to the host:\n%s", out)
	}
}

// calicoHost sets host up the way Calico sets up a compute host, where the
// kernel itself would forward between workloads if nothing stopped it:
// forwarding on, proxy ARP and a /32 route on each workload's veth.
func calicoHost(host *netnstest.NS, wls ...*workload) {
	host.Run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	for _, w := range wls {
		host.Run("sysctl", "-qw", "net.ipv4.conf."+w.hostIf+".proxy_arp=1", "net.ipv4.conf."+w.hostIf+".rp_filter=0")
		host.Run("ip", "route", "add", w.v4+"/32", "dev", w.hostIf)
	}
}

// TestCrashFailsClosed: gannet is killed (SIGKILL) on a Calico-style host
// where the kernel would happily forward; the workloads' traffic, which
// policy denies, stays denied while nothing runs, and a new gannet takes
// the ports over (adopting the pinned programs) and forwards what policy
// allows again.
func TestCrashFailsClosed(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:16:0a", "198.18.16.10", "")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:16:0b", "198.18.16.11", "")
	calicoHost(host, a, b)
	policy := `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: b-ingress
      selector: app == 'b'
      types: [Ingress]
      ingress: [{action: Allow, protocol: TCP, destination: {ports: ["5432"]}}]
`
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "  conntrack: {capacity: 4096}",
		a.endpoint(0, "app: a", "open")+b.endpoint(0, "app: b", "open"), policy))
	serveName(b.listen(t, b.v4+":5432"), "b")
	dialB := func(within time.Duration) error {
		var err error
		for deadline := time.Now().Add(within); time.Now().Before(deadline); {
			var c net.Conn
			if c, err = a.dial(b.v4+":5432", 500*time.Millisecond); err == nil {
				c.Close()
				return nil
			}
		}
		return err
	}
	if err := dialB(5 * time.Second); err != nil {
		t.Fatalf("wl-a -> wl-b:5432 (allowed): %v", err)
	}
	if got := a.ping(t, b.v4, 2); got != 0 {
		t.Fatalf("ping wl-a -> wl-b: %d replies, policy denies it", got)
	}

	d.kill()
	// The workloads forget the gateway's MAC: the kernel's proxy ARP
	// would answer now if the port were the kernel's.
	a.ns.Run("ip", "neigh", "flush", "all")
	if link := host.Run("ip", "link", "show", a.hostIf); !strings.Contains(link, "xdp") {
		t.Fatalf("no XDP program on %s after the crash:\n%s", a.hostIf, link)
	}
	if got := a.ping(t, b.v4, 3); got != 0 {
		t.Errorf("with gannet dead, ping wl-a -> wl-b got %d replies: policy bypassed", got)
	}
	if c, err := a.dial(b.v4+":5433", time.Second); err == nil {
		c.Close()
		t.Errorf("with gannet dead, wl-a reached wl-b:5433")
	}

	start := time.Now()
	d.start()
	ready := time.Since(start)
	if !strings.Contains(d.output(), "adopted=true") {
		t.Errorf("the new gannet did not adopt the pinned programs:\n%s", d.output())
	}
	if err := dialB(5 * time.Second); err != nil {
		t.Fatalf("wl-a -> wl-b:5432 after the restart: %v", err)
	}
	t.Logf("ready %v after the restart began; allowed traffic flows again", ready.Round(time.Millisecond))
	if got := a.ping(t, b.v4, 2); got != 0 {
		t.Errorf("after the restart ping wl-a -> wl-b got %d replies, policy denies it", got)
	}
}

// rawSender opens an AF_PACKET socket on w's interface (inside its
// namespace) and returns a function that writes whole frames on it: what
// a hostile workload with CAP_NET_RAW sends.
func (w *workload) rawSender(t *testing.T) func(frame []byte) {
	t.Helper()
	var fd int
	var ifindex int
	if err := w.ns.Do(func() error {
		ifi, err := net.InterfaceByName(w.dev)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
		return err
	}); err != nil {
		t.Fatalf("%s: AF_PACKET socket: %v", w.name, err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	to := &syscall.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	return func(frame []byte) {
		for tries := 0; ; tries++ {
			err := syscall.Sendto(fd, frame, 0, to)
			if err == nil {
				return
			}
			// The device queue is full (a flood outruns the veth on a
			// loaded machine): wait for it, as a sender would.
			if err == syscall.ENOBUFS && tries < 1000 {
				time.Sleep(time.Millisecond)
				continue
			}
			t.Fatalf("%s: sending a raw frame: %v", w.name, err)
		}
	}
}

func frameOf(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAttackFromWorkload: a hostile workload claims another's addresses
// in ARP and NDP, sends straight to a neighbour's MAC past the router,
// and floods malformed frames; a ping between two other workloads loses
// nothing meanwhile, and each attack is counted under its name.
func TestAttackFromWorkload(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	evil := addWorkload(t, host, "evil", "02:00:00:00:17:0e", "198.18.17.14", "2001:db8:17::14")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:17:0b", "198.18.17.11", "2001:db8:17::11")
	c := addWorkload(t, host, "wl-c", "02:00:00:00:17:0c", "198.18.17.12", "2001:db8:17::12")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", evil.endpoint(0, "", "")+b.endpoint(0, "", "")+c.endpoint(0, "", ""), ""))
	if !c.waitPing(t, b.v4, 5*time.Second) {
		t.Fatal("wl-c cannot ping wl-b")
	}
	wait := c.flood(t, b.v4, 500)
	send := evil.rawSender(t)
	evilMAC, _ := net.ParseMAC(evil.mac)
	bMAC, _ := net.ParseMAC(b.mac)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	gw := net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	// Gratuitous ARP and an unsolicited neighbour advertisement claiming
	// wl-b's addresses.
	garp := frameOf(t, &layers.Ethernet{SrcMAC: evilMAC, DstMAC: bcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: evilMAC, SourceProtAddress: net.ParseIP(b.v4).To4(),
			DstHwAddress: bcast, DstProtAddress: net.ParseIP(b.v4).To4()})
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP(b.v6), DstIP: net.ParseIP("ff02::1")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	icmp.SetNetworkLayerForChecksum(ip6)
	na := frameOf(t, &layers.Ethernet{SrcMAC: evilMAC, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6}, ip6, icmp,
		&layers.ICMPv6NeighborAdvertisement{Flags: 0x20, TargetAddress: net.ParseIP(b.v6),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: evilMAC}}})
	// Past the router: to wl-b's MAC directly, from evil's own address.
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(evil.v4), DstIP: net.ParseIP(b.v4)}
	udp := &layers.UDP{SrcPort: 1, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip4)
	direct := frameOf(t, &layers.Ethernet{SrcMAC: evilMAC, DstMAC: bMAC, EthernetType: layers.EthernetTypeIPv4}, ip4, udp, gopacket.Payload("x"))
	// Malformed: IPv4 headers cut short, lying about their length, a bad version.
	ok := frameOf(t, &layers.Ethernet{SrcMAC: evilMAC, DstMAC: gw, EthernetType: layers.EthernetTypeIPv4}, ip4, udp, gopacket.Payload("payload"))
	short := ok[:14+12]
	liar := append([]byte(nil), ok...)
	liar[14+2], liar[14+3] = 0x05, 0xdc // total length 1500
	badver := append([]byte(nil), ok...)
	badver[14] = 0x75
	for range 3 {
		send(garp)
		send(na)
		send(direct)
	}
	const flood = 3000
	for i := range flood {
		send([][]byte{short, liar, badver}[i%3])
	}
	sent, got := wait()
	if got != sent {
		t.Errorf("wl-c -> wl-b lost %d of %d pings during the attack", sent-got, sent)
	}
	// wl-b is still wl-b: both its addresses reach it, not evil.
	if !c.waitPing(t, b.v4, 2*time.Second) || !c.waitPing(t, b.v6, 2*time.Second) {
		t.Errorf("wl-b's addresses no longer reach it after the spoofed ARP/NA")
	}
	out := d.stop()
	for _, want := range []struct {
		counter string
		atLeast int64
	}{
		{"drop/gateway/arp-ignored", 3},
		{"drop/gateway/ndp-ignored", 3},
		{"drop/port/not-for-router", 3},
	} {
		if n := counter(out, want.counter); n < want.atLeast {
			t.Errorf("%s = %d, want at least %d\n%s", want.counter, n, want.atLeast, out)
		}
	}
	// Cut-short and bad-version frames die in the XDP program, the
	// length liar in the parser — or, when the flood outruns the worker,
	// at the socket, where the kernel counts it (rx-dropped): every one is
	// counted, none forwarded.
	xdp, parse := counter(out, "xdp/"+evil.hostIf+"/drop-malformed"), counter(out, "drop/parse/malformed")
	ring := max(0, counter(out, "xsk/"+evil.hostIf+"/rx-dropped")) // -1: none
	if xdp+parse+ring < flood || xdp < 1 || parse < 1 {
		t.Errorf("malformed frames counted: %d in XDP + %d in the parser + %d at the socket, want %d\n%s", xdp, parse, ring, flood, out)
	}
}
