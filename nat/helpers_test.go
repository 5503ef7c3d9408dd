package nat

// Test packets built with gopacket, the independent encoder: a translated
// frame is compared byte for byte with the frame gopacket builds for the
// expected tuple, so every checksum the translation patched is checked.

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses (DESIGN.md section 6).
var (
	pool4     = netip.MustParsePrefix("198.18.0.0/16") // workloads, natOutgoing
	routed4   = netip.MustParsePrefix("198.19.0.0/16") // workloads, no NAT
	ext4      = netip.MustParsePrefix("203.0.113.0/30")
	pool6     = netip.MustParsePrefix("2001:db8:1::/64")
	ext6      = netip.MustParsePrefix("2001:db8:ffff::/127")
	floatPub4 = "192.0.2.10"
	floatWl4  = "198.18.5.5"
	floatPub6 = "2001:db8:f::10"
	floatWl6  = "2001:db8:1::55"
)

// testPolicy is the border of the tests: one NAT pool and one routed pool
// per family, external addresses, one floating IP per family.
func testPolicy() *Policy {
	return &Policy{
		Pools: []Pool{
			{Prefix: pool4, NATOutgoing: true},
			{Prefix: routed4},
			{Prefix: pool6, NATOutgoing: true},
		},
		External: []ExternalPool{{Prefix: ext4}, {Prefix: ext6}},
		Floating: []FloatingIP{
			{Workload: netip.MustParseAddr(floatWl4), Public: netip.MustParseAddr(floatPub4)},
			{Workload: netip.MustParseAddr(floatWl6), Public: netip.MustParseAddr(floatPub6)},
		},
	}
}

type harness struct {
	t     testing.TB
	tab   *Table
	w     *Worker
	clock *ManualClock
}

func newHarness(t testing.TB, cfg Config, p *Policy) *harness {
	t.Helper()
	clock := &ManualClock{}
	cfg.Clock = clock
	if cfg.Capacity == 0 {
		cfg.Capacity = 1024
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	tab, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if p != nil {
		if err := tab.SetPolicy(p); err != nil {
			t.Fatalf("SetPolicy: %v", err)
		}
	}
	h := &harness{t: t, tab: tab, clock: clock}
	h.w = tab.NewWorker()
	return h
}

// advance moves the clock and starts a new batch.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.w.BeginBatch()
}

// send parses frame and runs Track, then Commit when the flow is new.
func (h *harness) send(frame []byte, space uint16) Result {
	h.t.Helper()
	var s pkt.Summary
	if v := pkt.Parse(frame, &s); v != pkt.OK {
		h.t.Fatalf("Parse(test frame) = %v (%v)", v, s.Reason)
	}
	r := h.w.Process(frame, &s, space)
	if r.Translated {
		var s2 pkt.Summary
		pkt.Parse(frame, &s2)
		if diff := cmp.Diff(s2, s); diff != "" {
			h.t.Errorf("summary after translation differs from a fresh parse (-fresh +updated):\n%s", diff)
		}
	}
	return r
}

// expectFwd sends frame and checks that it is forwarded as want.
func (h *harness) expectFwd(frame, want []byte, state State) Result {
	h.t.Helper()
	r := h.send(frame, 0)
	if r.Action != Forward || r.State != state {
		h.t.Fatalf("Process = %+v, want Forward %v", r, state)
	}
	if diff := cmp.Diff(want, frame); diff != "" {
		h.t.Fatalf("translated frame differs (-want +got):\n%s", diff)
	}
	return r
}

// expectDrop sends frame and checks that it is dropped for reason.
func (h *harness) expectDrop(frame []byte, reason Reason) Result {
	h.t.Helper()
	orig := append([]byte(nil), frame...)
	r := h.send(frame, 0)
	if (r.Action != Drop && r.Action != DropAndReply) || r.Reason != reason {
		h.t.Fatalf("Process = %+v, want drop for %v", r, reason)
	}
	if diff := cmp.Diff(orig, frame); diff != "" {
		h.t.Fatalf("dropped frame was modified (-orig +got):\n%s", diff)
	}
	return r
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayer returns the IP layer from src to dst (family by address).
func ipLayer(src, dst string, proto layers.IPProtocol) (gopacket.SerializableLayer, gopacket.NetworkLayer, layers.EthernetType) {
	s, d := net.ParseIP(src), net.ParseIP(dst)
	if s.To4() != nil {
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: s.To4(), DstIP: d.To4()}
		return ip, ip, layers.EthernetTypeIPv4
	}
	if proto == layers.IPProtocolICMPv4 {
		proto = layers.IPProtocolICMPv6
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s, DstIP: d}
	return ip, ip, layers.EthernetTypeIPv6
}

func ethernet(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

// ipPacket builds the bare IP packet (no Ethernet) of a TCP, UDP or ICMP
// echo packet; frame adds Ethernet.
type flow struct {
	proto    string // "tcp", "udp", "ping", "pong"
	src, dst string
	sp, dp   uint16 // ports, or the ICMP identifier in sp
	flags    string // TCP flags: any of S A F R
	payload  []byte // nil means "gannet-nat"
}

func (f flow) layers(t testing.TB) ([]gopacket.SerializableLayer, layers.EthernetType) {
	var proto layers.IPProtocol
	switch f.proto {
	case "tcp":
		proto = layers.IPProtocolTCP
	case "udp":
		proto = layers.IPProtocolUDP
	case "ping", "pong":
		proto = layers.IPProtocolICMPv4
	default:
		t.Fatalf("flow proto %q", f.proto)
	}
	ipl, nl, et := ipLayer(f.src, f.dst, proto)
	payload := gopacket.Payload("gannet-nat")
	if f.payload != nil {
		payload = f.payload
	}
	switch f.proto {
	case "tcp":
		l := &layers.TCP{SrcPort: layers.TCPPort(f.sp), DstPort: layers.TCPPort(f.dp), Seq: 100, Ack: 7, Window: 1000}
		for _, c := range f.flags {
			switch c {
			case 'S':
				l.SYN = true
			case 'A':
				l.ACK = true
			case 'F':
				l.FIN = true
			case 'R':
				l.RST = true
			}
		}
		l.SetNetworkLayerForChecksum(nl)
		return []gopacket.SerializableLayer{ipl, l, payload}, et
	case "udp":
		l := &layers.UDP{SrcPort: layers.UDPPort(f.sp), DstPort: layers.UDPPort(f.dp)}
		l.SetNetworkLayerForChecksum(nl)
		return []gopacket.SerializableLayer{ipl, l, payload}, et
	}
	if et == layers.EthernetTypeIPv4 {
		typ := uint8(layers.ICMPv4TypeEchoRequest)
		if f.proto == "pong" {
			typ = layers.ICMPv4TypeEchoReply
		}
		l := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: f.sp, Seq: 9}
		return []gopacket.SerializableLayer{ipl, l, payload}, et
	}
	typ := uint8(layers.ICMPv6TypeEchoRequest)
	if f.proto == "pong" {
		typ = layers.ICMPv6TypeEchoReply
	}
	l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	l.SetNetworkLayerForChecksum(nl)
	echo := &layers.ICMPv6Echo{Identifier: f.sp, SeqNumber: 9}
	return []gopacket.SerializableLayer{ipl, l, echo, payload}, et
}

// frame is the Ethernet frame of f.
func (f flow) frame(t testing.TB) []byte {
	ls, et := f.layers(t)
	return serialize(t, append([]gopacket.SerializableLayer{ethernet(et)}, ls...)...)
}

// ip is the bare IP packet of f.
func (f flow) ip(t testing.TB) []byte {
	ls, _ := f.layers(t)
	return serialize(t, ls...)
}

// reply is the flow's answer: addresses and ports swapped, TCP flags as
// given, echo request answered by echo reply.
func (f flow) reply(flags string) flow {
	r := flow{proto: f.proto, src: f.dst, dst: f.src, sp: f.dp, dp: f.sp, flags: flags, payload: f.payload}
	switch f.proto {
	case "ping":
		r.proto, r.sp, r.dp = "pong", f.sp, 0
	case "pong":
		r.proto, r.sp, r.dp = "ping", f.sp, 0
	}
	return r
}

// icmpError is an ICMP(v6) error from src to dst quoting the IP packet
// quote.
func icmpError(t testing.TB, src, dst string, typ, code uint8, quote []byte) []byte {
	ipl, nl, et := ipLayer(src, dst, layers.IPProtocolICMPv4)
	if et == layers.EthernetTypeIPv4 {
		l := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
		return serialize(t, ethernet(et), ipl, l, gopacket.Payload(quote))
	}
	l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	l.SetNetworkLayerForChecksum(nl)
	// The 4 unused bytes of the ICMPv6 error header, then the quote.
	return serialize(t, ethernet(et), ipl, l, gopacket.Payload(append(make([]byte, 4), quote...)))
}
