package fwd

// Test fixtures: packets built with gopacket (the independent encoder the
// pipeline's output is compared with), and in-memory hosts: a Worker, its
// MemPorts and its Tables, stepped synchronously.

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	gwMAC   = net.HardwareAddr(DefaultGatewayMAC[:])
	macW1   = mac(0x02, 0x01)
	macW2   = mac(0x02, 0x02)
	macUp   = mac(0x02, 0x10) // our uplink port
	macPeer = mac(0x02, 0x20) // the fabric neighbour

	w1v4 = netip.MustParseAddr("198.18.0.1")
	w2v4 = netip.MustParseAddr("198.18.0.2")
	w1v6 = netip.MustParseAddr("2001:db8::1")
	w2v6 = netip.MustParseAddr("2001:db8::2")
	rtr4 = netip.MustParseAddr("192.0.2.1")
	rtr6 = netip.MustParseAddr("2001:db8:ffff::1")
)

func mac(a, b byte) net.HardwareAddr { return net.HardwareAddr{a, 0, 0, 0, 0, b} }

func mac6(m net.HardwareAddr) [6]byte { return [6]byte(m) }

// spec describes a test packet.
type spec struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	ttl            uint8
	proto          string // "echo", "echo-reply", "udp", "syn", "synack", "ack"
	id, seq        uint16 // ICMP echo id/seq
	sport, dport   uint16
	payload        []byte
	df             bool
	ipid           uint16
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayers returns the network and transport layers of p.
func (p spec) ipLayers(t testing.TB) []gopacket.SerializableLayer {
	t.Helper()
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	var net gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	v4 := p.src.Is4()
	tproto := map[string]layers.IPProtocol{"udp": layers.IPProtocolUDP, "syn": layers.IPProtocolTCP, "synack": layers.IPProtocolTCP, "ack": layers.IPProtocolTCP}[p.proto]
	if tproto == 0 {
		tproto = layers.IPProtocolICMPv4
		if !v4 {
			tproto = layers.IPProtocolICMPv6
		}
	}
	if v4 {
		ip := &layers.IPv4{Version: 4, TTL: ttl, Id: p.ipid, Protocol: tproto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice()}
		if p.df {
			ip.Flags = layers.IPv4DontFragment
		}
		net, ls = ip, append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: tproto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice()}
		net, ls = ip, append(ls, ip)
	}
	switch p.proto {
	case "udp":
		u := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		u.SetNetworkLayerForChecksum(net)
		ls = append(ls, u)
	case "syn", "synack", "ack":
		c := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 100, Window: 1000,
			SYN: p.proto != "ack", ACK: p.proto != "syn"}
		c.SetNetworkLayerForChecksum(net)
		ls = append(ls, c)
	default:
		reply := p.proto == "echo-reply"
		if v4 {
			typ := uint8(layers.ICMPv4TypeEchoRequest)
			if reply {
				typ = layers.ICMPv4TypeEchoReply
			}
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: p.id, Seq: p.seq})
		} else {
			typ := uint8(layers.ICMPv6TypeEchoRequest)
			if reply {
				typ = layers.ICMPv6TypeEchoReply
			}
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
			ic.SetNetworkLayerForChecksum(net)
			ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: p.id, SeqNumber: p.seq})
		}
	}
	return append(ls, gopacket.Payload(p.payload))
}

// frame returns p as an Ethernet frame.
func (p spec) frame(t testing.TB) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if p.src.Is6() {
		et = layers.EthernetTypeIPv6
	}
	return serialize(t, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: p.srcMAC, DstMAC: p.dstMAC, EthernetType: et}}, p.ipLayers(t)...)...)
}

// wire returns p as gannet sends it: the frame without Ethernet padding.
func (p spec) wire(t testing.TB) []byte {
	t.Helper()
	return unpad(p.frame(t))
}

// unpad cuts an Ethernet/IP frame to the IP packet's length.
func unpad(f []byte) []byte {
	switch {
	case len(f) >= 34 && f[12] == 0x08 && f[13] == 0x00:
		return f[:14+(int(f[16])<<8|int(f[17]))]
	case len(f) >= 54 && f[12] == 0x86 && f[13] == 0xdd:
		return f[:54+(int(f[18])<<8|int(f[19]))]
	}
	return f
}

// packet returns p as a bare IP packet.
func (p spec) packet(t testing.TB) []byte {
	t.Helper()
	return serialize(t, p.ipLayers(t)...)
}

// hop returns what p looks like one router hop later, between the given MACs.
func (p spec) hop(src, dst net.HardwareAddr) spec {
	p.srcMAC, p.dstMAC = src, dst
	if p.ttl == 0 {
		p.ttl = 64
	}
	p.ttl--
	return p
}

// host is one gannet node in memory.
type host struct {
	t      testing.TB
	w      *Worker
	ports  []*MemPort
	tables atomic.Pointer[Tables]
	neigh  *StaticNeighbours
	clock  *nat.ManualClock
}

const (
	testFrameSize = 2048
	testFrames    = 512
	testRing      = 256
)

func newHost(t testing.TB, c Config, nb []neigh.Entry) *host {
	t.Helper()
	return newHostWith(t, c, nb, nil)
}

// newHostWith is newHost with the worker's configuration adjusted by set.
func newHostWith(t testing.TB, c Config, nb []neigh.Entry, set func(*WorkerConfig)) *host {
	t.Helper()
	tab, err := NewTables(c)
	if err != nil {
		t.Fatalf("NewTables: %v", err)
	}
	h := &host{t: t, neigh: &StaticNeighbours{Table: neigh.NewSnapshot(nb)}, clock: &nat.ManualClock{}}
	h.tables.Store(tab)
	mem := make([]byte, testFrames*testFrameSize)
	var ports []Port
	for _, pc := range c.Ports {
		if pc.Role == RoleNone { // an empty slot
			h.ports = append(h.ports, nil)
			ports = append(ports, nil)
			continue
		}
		p := NewMemPort(mem, testFrameSize, testRing)
		h.ports = append(h.ports, p)
		ports = append(ports, p)
	}
	wc := WorkerConfig{Mem: mem, FrameSize: testFrameSize, Ports: ports, Tables: &h.tables,
		Neighbours: h.neigh, Clock: h.clock, FillTarget: 64}
	if set != nil {
		set(&wc)
	}
	h.w, err = NewWorker(wc)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	h.w.Step() // fill the rings
	return h
}

// send injects frames on port and runs the worker until it is idle.
func (h *host) send(port int, frames ...[]byte) {
	h.t.Helper()
	for _, f := range frames {
		if !h.ports[port].Inject(f) {
			h.t.Fatalf("Inject on port %d refused", port)
		}
	}
	h.run()
}

func (h *host) run() {
	for h.w.Step() > 0 {
	}
	h.w.Step() // take completions back and refill
}

// round injects frames on port, runs the worker until it is idle,
// discards what every port sent and takes the completions back: one round
// of an allocation test.
func (h *host) round(port int, frames ...[]byte) {
	for _, f := range frames {
		h.ports[port].Inject(f)
	}
	for h.w.Step() > 0 {
	}
	for _, p := range h.ports {
		if p != nil {
			p.Drain(nil)
		}
	}
	h.w.Step()
}

// out drains what the worker sent on port.
func (h *host) out(port int) [][]byte {
	var got [][]byte
	h.ports[port].Drain(func(f []byte) { got = append(got, f) })
	return got
}

// advance moves the host's clock (and refills the ICMP bucket).
func (h *host) advance(d time.Duration) { h.clock.Advance(d) }

// stats returns the worker's counters.
func (h *host) stats() Stats { return h.w.Stats() }

// twoWorkloads is a host with workload ports 0 (W1) and 1 (W2) and an
// uplink 2 (MTU 1280) whose default routes go to the fabric neighbour.
func twoWorkloads() Config {
	return Config{
		Ports: []PortConfig{
			{Name: "w1", Ifindex: 11, Role: RoleWorkload, MTU: 1500},
			{Name: "w2", Ifindex: 12, Role: RoleWorkload, MTU: 1500},
			{Name: "up", Ifindex: 13, Role: RoleUplink, MAC: mac6(macUp), MTU: 1280}, // below the workloads': IPv4 is fragmented
		},
		Endpoints: []EndpointConfig{
			{Name: "w1", Port: 0, MAC: mac6(macW1), Addrs: []netip.Addr{w1v4, w1v6}},
			{Name: "w2", Port: 1, MAC: mac6(macW2), Addrs: []netip.Addr{w2v4, w2v6}},
		},
		Routes: []RouteConfig{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 2, Gateway: netip.MustParseAddr("198.51.100.1")},
			{Prefix: netip.MustParsePrefix("::/0"), Port: 2, Gateway: netip.MustParseAddr("fe80::20")},
		},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
	}
}

var peerNeigh = []neigh.Entry{
	{Ifindex: 13, Addr: netip.MustParseAddr("198.51.100.1"), MAC: mac6(macPeer)},
	{Ifindex: 13, Addr: netip.MustParseAddr("fe80::20"), MAC: mac6(macPeer)},
}
