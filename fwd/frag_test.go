package fwd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// optLen is the length of an IPv4 option list as gopacket encodes it
// (padded to 4 bytes).
func optLen(opts []layers.IPv4Option) int {
	n := 0
	for _, o := range opts {
		if o.OptionType <= 1 {
			n++
		} else {
			n += int(o.OptionLength)
		}
	}
	return (n + 3) &^ 3
}

// wantFragments is the slow twin of fragment4: RFC 791 fragmentation of
// the datagram whose header is ip (its Options in the first fragment,
// later in the others) and whose data is body, for an MTU of mtu, as
// gopacket encodes each fragment one hop later behind eth.
func wantFragments(t *testing.T, eth *layers.Ethernet, ip layers.IPv4, later []layers.IPv4Option, body []byte, mtu int) [][]byte {
	t.Helper()
	var out [][]byte
	baseMF := ip.Flags&layers.IPv4MoreFragments != 0
	for off := 0; off < len(body); {
		f := ip
		f.TTL--
		if off > 0 {
			f.Options = later
		}
		n := min((mtu-20-optLen(f.Options))/8*8, len(body)-off)
		f.FragOffset = ip.FragOffset + uint16(off/8)
		f.Flags = 0
		if baseMF || off+n < len(body) {
			f.Flags = layers.IPv4MoreFragments
		}
		out = append(out, unpad(serialize(t, eth, &f, gopacket.Payload(body[off:off+n]))))
		off += n
	}
	return out
}

// ipv4Frame encodes ip over body behind an Ethernet header.
func ipv4Frame(t *testing.T, src, dst net.HardwareAddr, ip layers.IPv4, body []byte) []byte {
	t.Helper()
	return serialize(t, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}, &ip, gopacket.Payload(body))
}

// udpBody returns the UDP header and payload of a datagram from src to dst.
func udpBody(t testing.TB, src, dst netip.Addr, sport, dport uint16, n int) []byte {
	t.Helper()
	p := spec{src: src, dst: dst, proto: "udp", sport: sport, dport: dport, payload: payload(n)}.packet(t)
	return p[20:]
}

// payload returns n bytes that differ from one offset to the next, so a
// piece in the wrong place shows.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestRouterFragmentation(t *testing.T) {
	routerAlert := layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}
	recordRoute := layers.IPv4Option{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}
	security := layers.IPv4Option{OptionType: 130, OptionLength: 11, OptionData: make([]byte, 9)}
	udp := func(n int) []byte { return udpBody(t, w1v4, w2v4, 5000, 6000, n) }
	ip := func(id uint16, opts ...layers.IPv4Option) layers.IPv4 {
		return layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: w2v4.AsSlice(), Options: opts}
	}
	withFrag := func(h layers.IPv4, mf bool, off uint16) layers.IPv4 {
		if mf {
			h.Flags = layers.IPv4MoreFragments
		}
		h.FragOffset = off / 8
		return h
	}
	tests := []struct {
		name  string
		mtu   int
		ip    layers.IPv4
		later []layers.IPv4Option // options of the later fragments
		body  []byte
		n     int // fragments
	}{
		{"udp into three", 576, ip(1), nil, udp(1400), 3},
		{"just above the MTU", 1000, ip(2), nil, udp(1000 - 20 - 8 + 1), 2},
		{"odd MTU: data on 8-byte boundaries", 997, ip(3), nil, udp(1500), 2},
		{"copied options repeat, others do not", 576, ip(4, routerAlert, recordRoute), []layers.IPv4Option{routerAlert}, udp(1400), 3},
		{"no option copied", 576, ip(5, recordRoute), nil, udp(1200), 3},
		{"options after a NOP", 300, ip(6, layers.IPv4Option{OptionType: 1}, security, recordRoute), []layers.IPv4Option{security}, udp(700), 3},
		{"first fragment of a larger datagram", 576, withFrag(ip(7), true, 0), nil, udp(1000), 2},
		{"last fragment of a datagram", 576, withFrag(ip(8), false, 1480), nil, payload(1000), 2},
		{"middle fragment", 576, withFrag(ip(9), true, 2960), nil, payload(1200), 3},
		{"smallest MTU", 68, ip(10), nil, udp(200), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := twoWorkloads()
			c.Ports[1].MTU = tc.mtu
			h := newHost(t, c, peerNeigh)
			h.send(0, ipv4Frame(t, macW1, gwMAC, tc.ip, tc.body))
			want := wantFragments(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW2, EthernetType: layers.EthernetTypeIPv4}, tc.ip, tc.later, tc.body, tc.mtu)
			if len(want) != tc.n {
				t.Fatalf("the slow twin made %d fragments, want %d", len(want), tc.n)
			}
			got := h.out(1)
			expectFrames(t, "w2", got, want...)
			for i, f := range got {
				if len(f)-pkt14 > tc.mtu {
					t.Errorf("fragment %d is %d bytes, above the MTU %d", i, len(f)-pkt14, tc.mtu)
				}
			}
			st := h.stats()
			if st.Forwarded != 1 || st.Fragmented != 1 || st.Fragments != uint64(tc.n) || st.TxPackets != uint64(tc.n) || st.Dropped() != 0 {
				t.Errorf("forwarded %d, fragmented %d into %d, tx %d, drops %v; want 1, 1 into %d, %d, none",
					st.Forwarded, st.Fragmented, st.Fragments, st.TxPackets, nonZero(st), tc.n, tc.n)
			}
			checkFrames(t, h)
		})
	}
}

const pkt14 = 14 // Ethernet header

// TestFragmentationAfterSNAT: NAT rewrites the whole datagram, then it is
// fragmented for the uplink; the fragments carry the translated source
// and the UDP checksum NAT patched.
func TestFragmentationAfterSNAT(t *testing.T) {
	c := twoWorkloads() // uplink MTU 1280
	tab, err := nat.New(nat.Config{Capacity: 64, Clock: &nat.ManualClock{}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.SetPolicy(&nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.100/32")}},
	}); err != nil {
		t.Fatal(err)
	}
	c.NAT = tab
	h := newHost(t, c, peerNeigh)
	public := netip.MustParseAddr("203.0.113.100")
	server := netip.MustParseAddr("198.51.100.50")
	ip := layers.IPv4{Version: 4, TTL: 64, Id: 77, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: server.AsSlice()}
	h.send(0, ipv4Frame(t, macW1, gwMAC, ip, udpBody(t, w1v4, server, 40000, 53, 1400)))
	natted := ip
	natted.SrcIP = public.AsSlice()
	want := wantFragments(t, &layers.Ethernet{SrcMAC: macUp, DstMAC: macPeer, EthernetType: layers.EthernetTypeIPv4}, natted, nil,
		udpBody(t, public, server, 40000, 53, 1400), 1280)
	expectFrames(t, "uplink", h.out(2), want...)
	if st := h.stats(); st.NATCreated != 1 || st.Fragmented != 1 {
		t.Errorf("NATCreated %d, fragmented %d; want 1, 1", st.NATCreated, st.Fragmented)
	}
}

// TestFragmentationAllOrNothing: when the free stack cannot supply a
// frame for every fragment, nothing of the packet leaves.
func TestFragmentationAllOrNothing(t *testing.T) {
	c := twoWorkloads()
	c.Ports[1].MTU = 576
	h := newHost(t, c, peerNeigh)
	ip := layers.IPv4{Version: 4, TTL: 64, Id: 9, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: w2v4.AsSlice()}
	frame := ipv4Frame(t, macW1, gwMAC, ip, udpBody(t, w1v4, w2v4, 1, 2, 1400)) // three fragments: two frames more

	// Leave one free frame: the packet needs two.
	held := make([]uint64, h.w.free.Len()-1)
	h.w.free.PopBatch(held)
	if !h.ports[0].Inject(frame) {
		t.Fatal("Inject refused")
	}
	h.w.Step()
	expectFrames(t, "w2", h.out(1))
	st := h.stats()
	if st.Drops[ReasonFragFrames] != 1 || st.Forwarded != 0 || st.TxPackets != 0 {
		t.Errorf("drops %v, forwarded %d, tx %d; want fragment-no-frames once and nothing sent", nonZero(st), st.Forwarded, st.TxPackets)
	}

	// With the frames back the same packet goes out whole.
	h.w.free.PushBatch(held)
	h.send(0, frame)
	if got := h.out(1); len(got) != 3 {
		t.Errorf("w2 got %d frames, want 3 fragments", len(got))
	}
	checkFrames(t, h)
}

// TestFragmentationRefused: packets that may not or cannot be
// fragmented.
func TestFragmentationRefused(t *testing.T) {
	c := twoWorkloads()
	c.Ports[1].MTU = 576
	h := newHost(t, c, peerNeigh)
	// A timestamp option claiming 16 bytes in a 4-byte option list.
	ip := layers.IPv4{Version: 4, TTL: 64, Id: 3, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: w2v4.AsSlice(),
		Options: []layers.IPv4Option{{OptionType: 68, OptionLength: 4, OptionData: []byte{5, 0}}}}
	bad := ipv4Frame(t, macW1, gwMAC, ip, udpBody(t, w1v4, w2v4, 1, 2, 1000))
	bad[pkt14+21] = 16
	bad[pkt14+10], bad[pkt14+11] = 0, 0
	sum := ipv4HeaderSum(bad[pkt14 : pkt14+24])
	bad[pkt14+10], bad[pkt14+11] = byte(sum>>8), byte(sum)
	h.send(0, bad)
	expectFrames(t, "w2", h.out(1))
	if st := h.stats(); st.Drops[ReasonFragOptions] != 1 {
		t.Errorf("drops %v, want fragment-bad-options", nonZero(st))
	}
	checkFrames(t, h)
}

// ipv4HeaderSum is the Internet checksum of an IPv4 header whose checksum
// field is zero.
func ipv4HeaderSum(h []byte) uint16 {
	var s uint32
	for i := 0; i < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestFragmentsFillTxQueue: a batch that sends more frames to one port
// than it received (48 packets, 144 fragments) hands the full queue to the
// port mid-batch and loses nothing.
func TestFragmentsFillTxQueue(t *testing.T) {
	c := twoWorkloads()
	c.Ports[1].MTU = 576
	h := newHost(t, c, peerNeigh)
	const n = 48
	var want [][]byte
	for i := range n {
		ip := layers.IPv4{Version: 4, TTL: 64, Id: uint16(i), Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: w2v4.AsSlice()}
		body := udpBody(t, w1v4, w2v4, uint16(i), 2, 1400)
		if !h.ports[0].Inject(ipv4Frame(t, macW1, gwMAC, ip, body)) {
			t.Fatal("Inject refused")
		}
		want = append(want, wantFragments(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW2, EthernetType: layers.EthernetTypeIPv4}, ip, nil, body, 576)...)
	}
	if got := h.w.Step(); got != n {
		t.Fatalf("one round received %d frames, want %d in one batch", got, n)
	}
	expectFrames(t, "w2", h.out(1), want...)
	h.run()
	if st := h.stats(); st.Fragments != 3*n || st.TxPackets != 3*n || st.Dropped() != 0 {
		t.Errorf("fragments %d, tx %d, drops %v; want %d, %d, none", st.Fragments, st.TxPackets, nonZero(st), 3*n, 3*n)
	}
	checkFrames(t, h)
}
