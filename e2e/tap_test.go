package e2e

// A workload on a TAP device, as a VM is attached: the test holds the TAP's
// file descriptor and plays the guest, writing and reading raw Ethernet
// frames, while gannet forwards between the TAP and a veth workload.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// openTAP creates a TAP device named name in ns and returns the guest's
// end, non-blocking so reads can time out.
func openTAP(t *testing.T, ns *netnstest.NS, name string) *os.File {
	t.Helper()
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		var req [unix.IFNAMSIZ + 64]byte
		copy(req[:], name)
		*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", e)
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	if err != nil {
		t.Skipf("cannot create a TAP device (%v)", err)
	}
	t.Cleanup(func() { f.Close() })
	ns.Run("ip", "link", "set", name, "up")
	return f
}

// readFrame returns the next frame from the guest's end that match
// accepts, skipping others (the host kernel's own IPv6 chatter).
func readFrame(f *os.File, within time.Duration, match func(gopacket.Packet) bool) (gopacket.Packet, error) {
	f.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 2048)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return nil, err
		}
		p := gopacket.NewPacket(append([]byte(nil), buf[:n]...), layers.LayerTypeEthernet, gopacket.Default)
		if match(p) {
			return p, nil
		}
	}
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTAPWorkload(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	host.Run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:06:0b", "198.18.6.11", "")
	tapName := netnstest.Name("tap")
	guest := openTAP(t, host, tapName)
	guestMAC := net.HardwareAddr{0x02, 0, 0, 0, 0x06, 0x0a}
	guestIP := net.IP{198, 18, 6, 10}
	ep := fmt.Sprintf("  - {name: vm-a, interface: %s, mac: %q, ipNetworks: [198.18.6.10/32]}\n", tapName, guestMAC)
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", ep+b.endpoint(0, "", ""), ""))

	// The guest resolves its gateway...
	arp := serialize(t,
		&layers.Ethernet{SrcMAC: guestMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: guestMAC, SourceProtAddress: guestIP,
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{169, 254, 1, 1}})
	// As a guest's kernel does, it asks again each second until answered
	// (on a loaded machine the first request can meet a TAP whose carrier
	// or socket is a moment late).
	var reply gopacket.Packet
	var err error
	for range 5 {
		if _, err := guest.Write(arp); err != nil {
			t.Fatalf("guest writes ARP request: %v", err)
		}
		reply, err = readFrame(guest, time.Second, func(p gopacket.Packet) bool {
			a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			return ok && a.Operation == layers.ARPReply
		})
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no ARP reply for 169.254.1.1 on the TAP after 5 requests: %v\n%s", err, d.output())
	}
	gwMAC := net.HardwareAddr(reply.Layer(layers.LayerTypeARP).(*layers.ARP).SourceHwAddress)
	if gwMAC.String() != "ee:ee:ee:ee:ee:ee" {
		t.Errorf("gateway MAC %s, want ee:ee:ee:ee:ee:ee", gwMAC)
	}

	// ...and pings the veth workload through gannet.
	for seq := uint16(1); seq <= 3; seq++ {
		echo := serialize(t,
			&layers.Ethernet{SrcMAC: guestMAC, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: guestIP, DstIP: net.IP{198, 18, 6, 11}},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x6761, Seq: seq},
			gopacket.Payload("gannet tap test"))
		if _, err := guest.Write(echo); err != nil {
			t.Fatalf("guest writes echo request: %v", err)
		}
		p, err := readFrame(guest, 3*time.Second, func(p gopacket.Packet) bool {
			ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			return ok && ic.TypeCode.Type() == layers.ICMPv4TypeEchoReply && ic.Seq == seq
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("echo %d: no reply from 198.18.6.11 reached the TAP", seq)
		}
		if err != nil {
			t.Fatal(err)
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if eth.DstMAC.String() != guestMAC.String() || eth.SrcMAC.String() != "ee:ee:ee:ee:ee:ee" ||
			!ip.SrcIP.Equal(net.IP{198, 18, 6, 11}) || ip.TTL != 63 {
			t.Errorf("echo reply %v > %v from %v ttl %d; want ee:ee:ee:ee:ee:ee > %v from 198.18.6.11 ttl 63",
				eth.SrcMAC, eth.DstMAC, ip.SrcIP, ip.TTL, guestMAC)
		}
		if p.ErrorLayer() != nil {
			t.Errorf("echo reply does not decode: %v", p.ErrorLayer().Error())
		}
	}
}
