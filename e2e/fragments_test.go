package e2e

// Out-of-order fragments through the border (RFC 4787 REQ-14): a
// natOutgoing workload sends a UDP datagram as IPv4 fragments with the
// later ones first, from a raw socket (the kernel sends fragments it did
// not make as they are); the Internet-side host's kernel reassembles them
// and its UDP socket gets the whole datagram, from the external pool.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// udpFragments returns a UDP datagram from src:sport to dst:dport with
// payload, as IPv4 packets (headers included) of the given fragment
// boundaries into the UDP header and payload, in that order.
func udpFragments(t *testing.T, src, dst netip.Addr, sport, dport, id uint16, payload []byte, cuts ...int) [][]byte {
	t.Helper()
	ip := layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(&ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()
	var out [][]byte
	for i, off := range append([]int{0}, cuts...) {
		end := len(body)
		if i < len(cuts) {
			end = cuts[i]
		}
		f := ip
		f.FragOffset = uint16(off / 8)
		if end < len(body) {
			f.Flags = layers.IPv4MoreFragments
		}
		fb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(fb, opts, &f, gopacket.Payload(body[off:end])); err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(fb.Bytes()))
	}
	return out
}

// sendRaw sends IPv4 packets, headers included, from inside ns.
func sendRaw(t *testing.T, ns *netnstest.NS, dst netip.Addr, packets ...[]byte) {
	t.Helper()
	if err := ns.Do(func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer syscall.Close(fd)
		to := &syscall.SockaddrInet4{Addr: dst.As4()}
		for _, p := range packets {
			if err := syscall.Sendto(fd, p, 0, to); err != nil {
				return fmt.Errorf("sendto: %w", err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBorderSNATFragmentsOutOfOrder(t *testing.T) {
	require(t)
	a, inet, d := borderLab(t, "02:00:00:00:08:0a", "198.18.8.10")

	var conn *net.UDPConn
	if err := inet.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(203, 0, 113, 2), Port: 7001})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Resolves the workload's gateway and the border's next hop.
	if !a.waitPing(t, "203.0.113.2", 10*time.Second) {
		t.Fatal("wl-a cannot ping 203.0.113.2 through the border")
	}

	src, dst := netip.MustParseAddr(a.v4), netip.MustParseAddr("203.0.113.2")
	pool := netip.MustParsePrefix("203.0.113.64/28")
	buf := make([]byte, 2048)
	for i, order := range [][]int{{2, 1, 0}, {1, 0, 2}} {
		payload := bytes.Repeat([]byte{byte('a' + i)}, 592)
		frags := udpFragments(t, src, dst, uint16(4000+i), 7001, uint16(0x4600+i), payload, 200, 400)
		var send [][]byte
		for _, k := range order {
			send = append(send, frags[k])
		}
		sendRaw(t, a.ns, dst, send...)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("fragments in order %v: the Internet side got no datagram: %v", order, err)
		}
		if !bytes.Equal(buf[:n], payload) {
			t.Errorf("fragments in order %v: the Internet side got %d bytes %q..., want the %d-byte payload", order, n, buf[:min(n, 8)], len(payload))
		}
		if !pool.Contains(from.Addr()) || from.Port() < 20000 || from.Port() > 29999 {
			t.Errorf("fragments in order %v: datagram from %v, want an address of %v and a port in 20000-29999", order, from, pool)
		}
	}

	out := d.stop()
	// Last-first holds two fragments; middle-first one, or two when the
	// last shares the first's batch.
	held, released := counter(out, "held/conntrack/fragments"), counter(out, "released/conntrack/fragments")
	t.Logf("held %d, released %d fragments", held, released)
	if held < 3 || released != held {
		t.Errorf("held %d, released %d fragments; want at least 3, all released; output:\n%s", held, released, out)
	}
	if n := counter(out, "nat/fragment-no-state"); n != -1 {
		t.Errorf("nat/fragment-no-state = %d, want none; output:\n%s", n, out)
	}
}
