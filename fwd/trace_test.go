package fwd

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	internet4 = netip.MustParseAddr("192.0.2.50")
	floatIP   = netip.MustParseAddr("203.0.113.200")
	publicIP  = netip.MustParseAddr("203.0.113.100")
)

// borderConfig is policed (W1 "client", W2 "web", stateful) with
// natOutgoing for the workloads and a floating IP for W2.
func borderConfig(t *testing.T) Config {
	t.Helper()
	c, _ := policed(t, true)
	setFloating(t, c, floatIP)
	return c
}

// tenantConfig is tenantHost's: translated spaces 7 (port 0) and 8
// (port 1), both with 100.64.0.1, and the IPv6 core on port 2.
func tenantConfig(t *testing.T) Config {
	t.Helper()
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}})
	if err != nil {
		t.Fatalf("xlat.New: %v", err)
	}
	ct, err := nat.New(nat.Config{Capacity: 256, Clock: &nat.ManualClock{}, Seed: 3})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	return Config{
		Ports: []PortConfig{
			{Name: "tenant-a", Role: RoleWorkload},
			{Name: "tenant-b", Role: RoleWorkload},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(macUpA)},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}, {ID: tenantB, Translated: true}},
		Endpoints: []EndpointConfig{
			{Name: "a", Port: 0, MAC: mac6(macTA), Addrs: []netip.Addr{addrHere}, Space: tenantA},
			{Name: "b", Port: 1, MAC: mac6(macTB), Addrs: []netip.Addr{addrHere}, Space: tenantB},
		},
		Routes:      []RouteConfig{{Prefix: netip.MustParsePrefix("64:ff9b:1::/48"), Port: 2, Gateway: llB}},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		NAT:         ct,
		Xlat:        tr,
	}
}

var tenantNeigh = []neigh.Entry{{Ifindex: 2, Addr: llB, MAC: mac6(macUpB)}}

var (
	// farTenant is a tenant-A address that lives behind twoUplinks'
	// second uplink; farCore a core host on that uplink's link.
	farTenant = netip.MustParseAddr("100.65.0.5")
	farCore   = netip.MustParseAddr("2001:db8:200::5")
	llC       = netip.MustParseAddr("fe80::c")
	macUpC    = mac(0x02, 0xc0)
)

// twoUplinks is tenantConfig with a second uplink (port 3, "fabric2")
// behind which part of tenant A lives (100.65.0.0/24, via fe80::c) next
// to a connected core prefix (2001:db8:200::/64), and a border exit that
// translates tenant B's core prefix into space 8.
func twoUplinks(t *testing.T) Config {
	t.Helper()
	c := tenantConfig(t)
	c.Ports = append(slices.Clone(c.Ports), PortConfig{Name: "fabric2", Ifindex: 3, Role: RoleUplink, MAC: mac6(macUpA)})
	c.Routes = append(slices.Clone(c.Routes),
		RouteConfig{Prefix: netip.PrefixFrom(core6(tenantA, netip.MustParseAddr("100.65.0.0")), 120), Port: 3, Gateway: llC},
		RouteConfig{Prefix: netip.MustParsePrefix("2001:db8:200::/64"), Port: 3},
		RouteConfig{Prefix: netip.PrefixFrom(core6(tenantB, netip.MustParseAddr("0.0.0.0")), 96), Translate: true, TranslateSpace: tenantB})
	return c
}

var twoUplinksNeigh = append(slices.Clone(tenantNeigh), neigh.Entry{Ifindex: 3, Addr: llC, MAC: mac6(macUpC)},
	neigh.Entry{Ifindex: 3, Addr: farCore, MAC: mac6(macUpC)})

// downPort is c with port i's link down.
func downPort(c Config, i int) Config {
	c.Ports = slices.Clone(c.Ports)
	c.Ports[i].Down = true
	return c
}

// emptySlot is c with slot i empty (RoleNone), as the control plane
// publishes it before it detaches the slot's port: the port's endpoint
// and routes are gone.
func emptySlot(c Config, i int) Config {
	c.Ports = slices.Clone(c.Ports)
	c.Ports[i] = PortConfig{Role: RoleNone}
	c.Endpoints = slices.DeleteFunc(slices.Clone(c.Endpoints), func(e EndpointConfig) bool { return e.Port == i })
	c.Routes = slices.DeleteFunc(slices.Clone(c.Routes), func(r RouteConfig) bool { return !r.Translate && r.Port == i })
	return c
}

// preparedIP is the external address of preparedNAT's policy.
var preparedIP = netip.MustParseAddr("203.0.113.150")

// preparedNAT is c (with a connection table) carrying a NAT policy of
// its own in the tables: source NAT to preparedIP and no floating IP,
// where the policy published on the table (setFloating's) has
// 203.0.113.100 and floatIP. Workers under these tables, and traces,
// read the prepared one.
func preparedNAT(t *testing.T, c Config) Config {
	t.Helper()
	p, err := c.NAT.Prepare(&nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.PrefixFrom(preparedIP, 32)}},
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	c.NATPolicy = p
	return c
}

func TestBuildTraceFrame(t *testing.T) {
	tests := []struct {
		name string
		spec TraceSpec
		want string // the layers gopacket decodes, or the error
	}{
		{"tcp4", TraceSpec{Src: w1v4, Dst: w2v4, Proto: pkt.ProtoTCP, SrcPort: 4000, DstPort: 80, DF: true, Len: 10}, "Ethernet IPv4 TCP Payload"},
		{"udp6", TraceSpec{Src: w1v6, Dst: w2v6, Proto: pkt.ProtoUDP, SrcPort: 4000, DstPort: 53}, "Ethernet IPv6 UDP"},
		{"icmp4", TraceSpec{Src: w1v4, Dst: w2v4, Proto: pkt.ProtoICMP, SrcPort: 7}, "Ethernet IPv4 ICMPv4"},
		{"icmp6", TraceSpec{Src: w1v6, Dst: w2v6, Proto: pkt.ProtoICMPv6, Len: 4}, "Ethernet IPv6 ICMPv6 ICMPv6Echo Payload"},
		{"families", TraceSpec{Src: w1v4, Dst: w2v6, Proto: pkt.ProtoTCP}, "dst: family differs from src"},
		{"no src", TraceSpec{Dst: w2v6, Proto: pkt.ProtoTCP}, "src: missing or invalid address"},
		{"proto", TraceSpec{Src: w1v4, Dst: w2v4, Proto: 47}, "proto: 47 is not"},
		{"icmp on v6", TraceSpec{Src: w1v6, Dst: w2v6, Proto: pkt.ProtoICMP}, "proto: icmp with IPv6"},
		{"df on v6", TraceSpec{Src: w1v6, Dst: w2v6, Proto: pkt.ProtoUDP, DF: true}, "df:"},
		{"len", TraceSpec{Src: w1v4, Dst: w2v4, Proto: pkt.ProtoUDP, Len: 70000}, "len:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := BuildTraceFrame(tc.spec)
			if err != nil {
				if !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("BuildTraceFrame(%+v) = %v, want %q", tc.spec, err, tc.want)
				}
				return
			}
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			var names []string
			for _, l := range p.Layers() {
				names = append(names, l.LayerType().String())
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Fatalf("BuildTraceFrame(%+v) decodes as %q, want %q", tc.spec, got, tc.want)
			}
			// Checksums: pkt's parser and nat verify what they need;
			// gopacket recomputes them for comparison.
			var s pkt.Summary
			if pkt.Parse(f, &s) != pkt.OK {
				t.Fatalf("Parse(%x) = %v", f, s.Reason)
			}
			again := make([]byte, len(f))
			copy(again, f)
			ls := []gopacket.SerializableLayer{}
			var net gopacket.NetworkLayer
			for _, l := range p.Layers() {
				switch x := l.(type) {
				case *layers.IPv4:
					net = x
				case *layers.IPv6:
					net = x
				case *layers.TCP:
					x.SetNetworkLayerForChecksum(net)
				case *layers.UDP:
					x.SetNetworkLayerForChecksum(net)
				case *layers.ICMPv6:
					x.SetNetworkLayerForChecksum(net)
				}
				ls = append(ls, l.(gopacket.SerializableLayer))
			}
			if want := unpad(serialize(t, ls...)); string(want) != string(f) {
				t.Fatalf("BuildTraceFrame(%+v) =\n%x\ngopacket with checksums computed:\n%x", tc.spec, f, want)
			}
		})
	}
}

func TestTrace(t *testing.T) {
	syn := func(in int, src, dst netip.Addr, dport uint16) TraceSpec {
		return TraceSpec{In: in, Src: src, Dst: dst, Proto: pkt.ProtoTCP, SrcPort: 40000, DstPort: dport}
	}
	tests := []struct {
		name    string
		config  func(*testing.T) Config
		nb      []neigh.Entry
		spec    TraceSpec
		verdict string
		reason  string
		egress  string
		details []string // substrings some step's detail must have
		after   TraceFlow
	}{
		{name: "between two workloads", config: func(*testing.T) Config { return twoWorkloads() }, nb: peerNeigh,
			spec: syn(0, w1v4, w2v4, 80), verdict: "forward", egress: "w2",
			details: []string{"endpoint w1, space 0", "source 198.18.0.1 is endpoint w1's", "via 198.18.0.2/32: endpoint w2 on port w2",
				"egress of w1: no policy", "endpoint w2's MAC 02:00:00:00:00:02", "TTL 64 -> 63"},
			after: TraceFlow{Proto: pkt.ProtoTCP, Src: w1v4, Dst: w2v4, SrcPort: 40000, DstPort: 80, TTL: 64}},
		{name: "spoofed source", config: func(*testing.T) Config { return twoWorkloads() }, nb: peerNeigh,
			spec: syn(0, w2v4, internet4, 80), verdict: "drop", reason: "spoofed",
			details: []string{"source 198.18.0.2 is not an address of endpoint w1 (198.18.0.1, 2001:db8::1)"}},
		{name: "policy denies, naming the rule", config: borderConfig, nb: peerNeigh,
			spec: TraceSpec{In: 0, Src: w1v4, Dst: internet4, Proto: pkt.ProtoUDP, SrcPort: 5000, DstPort: 53}, verdict: "drop", reason: "policy-egress",
			details: []string{`egress of w1: drop by policy "client-out" Egress[0] (Deny)`}},
		{name: "policy denies by default", config: borderConfig, nb: peerNeigh,
			spec: syn(0, w1v4, w2v4, 22), verdict: "drop", reason: "policy-ingress",
			details: []string{`egress of w1: accept by policy "client-out" Egress[1] (Allow)`, "ingress of w2: drop by default deny: policies apply"}},
		{name: "policy allows", config: borderConfig, nb: peerNeigh,
			spec: syn(0, w1v4, w2v4, 80), verdict: "forward", egress: "w2",
			details: []string{`ingress of w2: accept by policy "web" Ingress[0] (Allow)`, "new session: no translation"}},
		{name: "no route", config: func(*testing.T) Config {
			c := twoWorkloads()
			c.Routes = c.Routes[1:]
			return c
		}, spec: syn(0, w1v4, internet4, 80), verdict: "answer", reason: "no-route", egress: "w1",
			details: []string{"no route to 192.0.2.50 in space 0", "ICMP type 3 code 0 from 192.0.2.1 to 198.18.0.1 out of w1"}},
		{name: "TTL 1", config: func(*testing.T) Config { return twoWorkloads() }, nb: peerNeigh,
			spec: TraceSpec{In: 0, Src: w1v6, Dst: w2v6, Proto: pkt.ProtoICMPv6, TTL: 1}, verdict: "answer", reason: "ttl-exceeded", egress: "w1",
			details: []string{"hop limit 1: time exceeded; ICMP type 3 code 0 from 2001:db8:ffff::1"}},
		{name: "SNAT of a new flow", config: borderConfig, nb: peerNeigh,
			spec: syn(0, w1v4, internet4, 443), verdict: "forward", egress: "up",
			details: []string{"new flow: no session", "source NAT to 203.0.113.100:40000, a new mapping", "198.51.100.1 on up is at 02:00:00:00:00:20"},
			after:   TraceFlow{Proto: pkt.ProtoTCP, Src: publicIP, Dst: internet4, SrcPort: 40000, DstPort: 443, TTL: 64}},
		{name: "floating IP inbound", config: borderConfig, nb: peerNeigh,
			spec: syn(2, internet4, floatIP, 80), verdict: "forward", egress: "w2",
			details: []string{"destination NAT: to 198.18.0.2 in space 0", "floating IP: destination becomes 198.18.0.2"},
			after:   TraceFlow{Proto: pkt.ProtoTCP, Src: internet4, Dst: w2v4, SrcPort: 40000, DstPort: 80, TTL: 64}},
		{name: "translated space 4->6", config: tenantConfig, nb: tenantNeigh,
			spec: TraceSpec{In: 0, Src: addrHere, Dst: addrThere, Proto: pkt.ProtoUDP, SrcPort: 1000, DstPort: 2000}, verdict: "forward", egress: "fabric",
			details: []string{"endpoint a, space 7 (translated)", "no route to 100.64.0.2 in space 7", "4->6: 100.64.0.1:1000 > 100.64.0.2:2000 proto 17 (space 7) becomes [64:ff9b:1:7::6440:1]:1000 > [64:ff9b:1:7::6440:2]:2000 proto 17 (space 0)"},
			after:   TraceFlow{Proto: pkt.ProtoUDP, Src: netip.MustParseAddr("64:ff9b:1:7::100.64.0.1"), Dst: netip.MustParseAddr("64:ff9b:1:7::100.64.0.2"), SrcPort: 1000, DstPort: 2000, TTL: 64}},
		{name: "translated space 6->4", config: tenantConfig, nb: tenantNeigh,
			spec:    TraceSpec{In: 2, Src: netip.MustParseAddr("64:ff9b:1:8::100.64.0.2"), Dst: netip.MustParseAddr("64:ff9b:1:8::100.64.0.1"), Proto: pkt.ProtoUDP, SrcPort: 2000, DstPort: 1000},
			verdict: "forward", egress: "tenant-b",
			details: []string{"translate 6->4 and deliver to endpoint b", "6->4:", "deliver to endpoint b in space 8 (translated)"},
			after:   TraceFlow{Space: tenantB, Proto: pkt.ProtoUDP, Src: addrThere, Dst: addrHere, SrcPort: 2000, DstPort: 1000, TTL: 64}},
		{name: "uplink next hop unresolved", config: func(*testing.T) Config { return twoWorkloads() },
			spec: syn(0, w1v4, internet4, 443), verdict: "drop", reason: "no-neighbour",
			details: []string{"198.51.100.1 on up (ifindex 13) is not resolved"}},
		{name: "too big with DF", config: func(*testing.T) Config { return twoWorkloads() }, nb: peerNeigh,
			spec: TraceSpec{In: 0, Src: w1v4, Dst: internet4, Proto: pkt.ProtoUDP, Len: 1400, DF: true}, verdict: "answer", reason: "too-big", egress: "w1",
			details: []string{"above the egress MTU 1280 with DF"}},
		{name: "ARP for the gateway", config: func(*testing.T) Config { return twoWorkloads() }, verdict: "answer", reason: "arp-answered", egress: "w1"},
		{name: "port down: host unreachable", config: func(*testing.T) Config { return downPort(twoWorkloads(), 2) }, nb: peerNeigh,
			spec: syn(0, w1v4, internet4, 443), verdict: "answer", reason: "port-down", egress: "w1",
			details: []string{"via 0.0.0.0/0: gateway 198.51.100.1 out of port up",
				"port up is down: host unreachable; ICMP type 3 code 1 from 192.0.2.1 to 198.18.0.1 out of w1"}},
		{name: "unused address of a block: host unreachable", config: func(*testing.T) Config { return blockHost() }, nb: peerNeigh,
			spec: syn(0, w1v4, netip.MustParseAddr("198.18.0.9"), 443), verdict: "answer", reason: "unreachable-route", egress: "w1",
			details: []string{"via 198.18.0.0/26: unreachable", "host unreachable; ICMP type 3 code 1"}},
		{name: "unused address of a block: no route", config: func(*testing.T) Config { return blockHost() }, nb: peerNeigh,
			spec: TraceSpec{In: 0, Src: w1v6, Dst: netip.MustParseAddr("2001:db8::9"), Proto: pkt.ProtoICMPv6}, verdict: "answer", reason: "unreachable-route", egress: "w1",
			details: []string{"via 2001:db8::/122: unreachable", "no route to destination; ICMP type 1 code 0"}},
		{name: "port down: address unreachable", config: func(*testing.T) Config { return downPort(twoWorkloads(), 1) }, nb: peerNeigh,
			spec: TraceSpec{In: 0, Src: w1v6, Dst: w2v6, Proto: pkt.ProtoICMPv6}, verdict: "answer", reason: "port-down", egress: "w1",
			details: []string{"via 2001:db8::2/128: endpoint w2 on port w2",
				"port w2 is down: address unreachable; ICMP type 1 code 3 from 2001:db8:ffff::1 to 2001:db8::1 out of w1"}},
		{name: "port down after NAT", config: func(t *testing.T) Config { return downPort(borderConfig(t), 1) }, nb: peerNeigh,
			spec: syn(2, internet4, floatIP, 80), verdict: "drop", reason: "port-down",
			details: []string{"floating IP: destination becomes 198.18.0.2", "port w2 is down, and the packet was rewritten: no error can reach its sender"}},
		{name: "empty slot", config: func(*testing.T) Config { return emptySlot(twoWorkloads(), 1) }, nb: peerNeigh,
			spec: syn(1, w2v4, w1v4, 80), verdict: "drop", reason: "port-unknown",
			details: []string{"port 1 is an empty slot"}},
		{name: "prepared NAT policy: source NAT", config: func(t *testing.T) Config { return preparedNAT(t, borderConfig(t)) }, nb: peerNeigh,
			spec: syn(0, w1v4, internet4, 443), verdict: "forward", egress: "up",
			details: []string{"source NAT to 203.0.113.150:40000, a new mapping"},
			after:   TraceFlow{Proto: pkt.ProtoTCP, Src: preparedIP, Dst: internet4, SrcPort: 40000, DstPort: 443, TTL: 64}},
		{name: "prepared NAT policy: no floating IP", config: func(t *testing.T) Config { return preparedNAT(t, borderConfig(t)) }, nb: peerNeigh,
			spec: syn(2, internet4, floatIP, 80), verdict: "forward", egress: "up",
			details: []string{"new session: no translation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := NewTables(tc.config(t))
			if err != nil {
				t.Fatalf("NewTables: %v", err)
			}
			var res TraceResult
			if tc.reason == "arp-answered" {
				res = tab.Trace(0, serialize(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: mac(0xff, 0xff), EthernetType: layers.EthernetTypeARP},
					&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
						Operation: layers.ARPRequest, SourceHwAddress: macW1, SourceProtAddress: w1v4.AsSlice(),
						DstHwAddress: make([]byte, 6), DstProtAddress: DefaultGateway4.AsSlice()}), neigh.NewSnapshot(tc.nb))
			} else {
				res, err = tab.TraceSpec(tc.spec, neigh.NewSnapshot(tc.nb))
				if err != nil {
					t.Fatalf("TraceSpec: %v", err)
				}
			}
			if res.Verdict != tc.verdict || res.Reason != tc.reason || res.Egress != tc.egress {
				t.Errorf("Trace = %s %q via %q, want %s %q via %q\n%s", res.Verdict, res.Reason, res.Egress, tc.verdict, tc.reason, tc.egress, res)
			}
			all := res.String()
			for _, d := range tc.details {
				if !strings.Contains(all, d) {
					t.Errorf("no step says %q:\n%s", d, all)
				}
			}
			if tc.after.Src.IsValid() && res.After != tc.after {
				t.Errorf("After = %+v, want %+v", res.After, tc.after)
			}
		})
	}
}

// outcome is what a worker did with one frame, in a trace's terms.
type outcome struct{ verdict, reason, egress string }

// workerDid sends frame into h on port in and reports what the worker
// did with it, from its counters and its ports.
func workerDid(h *host, c Config, in int, frame []byte) outcome {
	h.t.Helper()
	before := h.stats()
	h.send(in, frame)
	after := h.stats()
	var o outcome
	for p := range h.ports {
		if len(h.out(p)) > 0 {
			o.egress = c.Ports[p].Name
		}
	}
	for r := range NumReasons {
		if after.Drops[r] > before.Drops[r] {
			o.reason = r.String()
		}
	}
	switch {
	case after.Forwarded > before.Forwarded:
		o.verdict = "forward"
	case after.Held > before.Held:
		o.verdict = "held"
	case o.egress != "":
		o.verdict = "answer"
	default:
		o.verdict = "drop"
	}
	return o
}

// randomSpec is a random packet over the addresses of the test tables.
func randomSpec(rng *rand.Rand, ports int, addrs []netip.Addr) TraceSpec {
	pick := func() netip.Addr { return addrs[rng.IntN(len(addrs))] }
	s := TraceSpec{In: rng.IntN(ports), Src: pick(), Dst: pick(),
		Proto:   []uint8{pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMP}[rng.IntN(3)],
		SrcPort: []uint16{80, 53, 40000, 22}[rng.IntN(4)], DstPort: []uint16{80, 53, 40000, 22}[rng.IntN(4)],
		TCPFlags: []uint8{pkt.TCPFlagSYN, pkt.TCPFlagSYN, pkt.TCPFlagACK, pkt.TCPFlagSYN | pkt.TCPFlagACK}[rng.IntN(4)],
		TTL:      []uint8{64, 64, 64, 2, 1}[rng.IntN(5)],
		Len:      []int{0, 0, 100, 1300, 1460}[rng.IntN(5)],
		DF:       rng.IntN(2) == 0,
	}
	if s.Src.Is6() {
		s.DF = false
		if s.Proto == pkt.ProtoICMP {
			s.Proto = pkt.ProtoICMPv6
		}
	}
	if s.Proto == pkt.ProtoICMP || s.Proto == pkt.ProtoICMPv6 {
		if rng.IntN(3) == 0 {
			s.ICMPType = []uint8{pkt.ICMPv4EchoReply, pkt.ICMPv6EchoReply}[map[bool]int{true: 1}[s.Src.Is6()]]
		}
	}
	return s
}

// TestTraceMatchesWorker is the trace's differential test: for random
// packets over each test network, the trace's verdict, reason and
// egress port are what a real Worker then does with the same frame on
// the same state (the trace changes none, and the worker's effects —
// sessions, mappings — carry on into the next packet's trace).
func TestTraceMatchesWorker(t *testing.T) {
	borderAddrs := []netip.Addr{w1v4, w2v4, w1v6, w2v6, internet4, floatIP, publicIP, rtr4, netip.MustParseAddr("198.18.0.9"),
		netip.MustParseAddr("2001:db8:9::1"), DefaultGateway4, netip.MustParseAddr("224.0.0.5")}
	stateless := func(t *testing.T) Config {
		c, _ := policed(t, false)
		return c
	}
	statelessAddrs := []netip.Addr{w1v4, w2v4, w1v6, w2v6, internet4, netip.MustParseAddr("2001:db8:9::1")}
	tenantAddrs := []netip.Addr{addrHere, addrThere, netip.MustParseAddr("100.64.0.3"),
		netip.MustParseAddr("64:ff9b:1:7::100.64.0.1"), netip.MustParseAddr("64:ff9b:1:8::100.64.0.1"),
		netip.MustParseAddr("64:ff9b:1:7::100.64.0.2"), netip.MustParseAddr("64:ff9b:1:8::100.64.0.2"), netip.MustParseAddr("2001:db8::9")}
	down := func(i int) func(*testing.T, Config) Config {
		return func(_ *testing.T, c Config) Config { return downPort(c, i) }
	}
	// Sources from the core toward a tenant: routed back through the
	// fabric (feasible on port 2), through the second uplink (port 3 of
	// twoUplinks), into a translated space (twoUplinks' border exit), a
	// local workload's own core address, and none at all.
	coreSrcs := []netip.Addr{core6(tenantA, addrThere), core6(tenantB, addrThere), core6(tenantA, farTenant),
		core6(tenantB, netip.MustParseAddr("100.64.0.3")), core6(tenantA, addrHere), netip.MustParseAddr("2001:db8::9")}
	twoUplinksAddrs := append(slices.Clone(tenantAddrs), farTenant, core6(tenantA, farTenant), farCore)
	rpfOff := func(_ *testing.T, c Config) Config {
		c.RPF = RPFOff
		return c
	}
	// ECMP: learned routes over three uplinks (ecmpConfig), and a group
	// in the core that a tenant's source is routed back by (any member's
	// uplink is a feasible path).
	ecmp := func(*testing.T) Config { return ecmpConfig() }
	ecmpAddrs := []netip.Addr{w1v4, w2v4, w1v6, w2v6, netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.200"),
		netip.MustParseAddr("2001:db8:beef::9"), netip.MustParseAddr("2001:db8:beef:1::2"), netip.MustParseAddr("203.0.113.5")}
	ecmpSrc := core6(tenantA, netip.MustParseAddr("100.66.0.5"))
	learned := map[string]func(testing.TB, *Tables){
		"ecmp": learnECMP, "ecmp, up2 down": learnECMP, "ecmp, up3 unresolved": learnECMP,
		"tenants, ECMP route back": func(t testing.TB, tab *Tables) {
			hop := LearnedHop{Gateways: []LearnedGateway{{Port: 2, Gateway: llB}, {Port: 3, Gateway: llC}}}
			if err := tab.Learn(0, netip.PrefixFrom(core6(tenantA, netip.MustParseAddr("100.66.0.0")), 120), hop); err != nil {
				t.Fatal(err)
			}
		},
	}
	nets := []struct {
		name   string
		config func(*testing.T) Config
		// vary, when set, gives the tables published over the host's
		// (built from config): a slot emptied while its port is still
		// attached must keep the port in the host.
		vary  func(*testing.T, Config) Config
		nb    []neigh.Entry
		addrs []netip.Addr
		// core, when set, is where half the IPv6 packets that come in on
		// an uplink come from: sources whose reverse path is checked.
		core []netip.Addr
		want []string // outcomes some packet must have; "!x": none may
	}{
		{"border", borderConfig, nil, peerNeigh[:1], borderAddrs, nil, nil}, // the IPv6 next hop stays unresolved
		{"border, uplink down", borderConfig, down(2), peerNeigh[:1], borderAddrs, nil, []string{"answer port-down"}},
		{"border, w2 down", borderConfig, down(1), peerNeigh[:1], borderAddrs, nil, []string{"answer port-down", "drop port-down"}},
		{"border, w2's slot empty", borderConfig, func(_ *testing.T, c Config) Config { return emptySlot(c, 1) }, peerNeigh[:1], borderAddrs,
			nil, []string{"drop port-unknown"}},
		{"border, prepared NAT policy", borderConfig, preparedNAT, peerNeigh, append(slices.Clone(borderAddrs), preparedIP), nil, nil},
		{"stateless", stateless, nil, peerNeigh, statelessAddrs, nil, nil},
		{"stateless, w1 down", stateless, down(0), peerNeigh, statelessAddrs, nil, []string{"answer port-down"}},
		{"tenants", tenantConfig, nil, tenantNeigh, tenantAddrs, coreSrcs, []string{"drop rpf", "forward "}},
		{"tenants, fabric down", tenantConfig, down(2), tenantNeigh, tenantAddrs, coreSrcs, []string{"answer port-down", "drop port-down", "drop rpf"}},
		{"tenants, tenant-b down", tenantConfig, down(1), tenantNeigh, tenantAddrs, coreSrcs, []string{"drop port-down", "drop rpf"}},
		{"tenants, rpf off", tenantConfig, rpfOff, tenantNeigh, tenantAddrs, coreSrcs, []string{"forward ", "!drop rpf"}},
		{"tenants, two uplinks and an exit", twoUplinks, nil, twoUplinksNeigh, twoUplinksAddrs, coreSrcs, []string{"drop rpf", "forward "}},
		{"ecmp", ecmp, nil, ecmpNeigh, ecmpAddrs, nil, []string{"forward ", "answer no-route"}},
		{"ecmp, up2 down", ecmp, down(3), ecmpNeigh, ecmpAddrs, nil, []string{"forward "}},
		{"ecmp, up3 unresolved", ecmp, nil, ecmpNeigh[:4], ecmpAddrs, nil, []string{"forward ", "drop no-neighbour"}},
		{"tenants, ECMP route back", twoUplinks, nil, twoUplinksNeigh, append(slices.Clone(twoUplinksAddrs), ecmpSrc),
			append(slices.Clone(coreSrcs), ecmpSrc, ecmpSrc, ecmpSrc), []string{"drop rpf", "forward "}},
		{"blocks", func(*testing.T) Config { return blockHost() }, nil, peerNeigh,
			[]netip.Addr{w1v4, w2v4, w1v6, w2v6, netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("2001:db8::9"), netip.MustParseAddr("203.0.113.9")},
			nil, []string{"answer unreachable-route", "forward "}},
		{"tenants, a block", func(t *testing.T) Config {
			c := tenantConfig(t)
			c.Routes = append(c.Routes, RouteConfig{Prefix: netip.PrefixFrom(core6(tenantA, netip.MustParseAddr("100.64.0.0")), 126), Unreachable: true})
			return c
		}, nil, tenantNeigh, tenantAddrs, coreSrcs, []string{"answer unreachable-route", "forward "}},
	}
	n := 600
	if testing.Short() {
		n = 150
	}
	for k, nt := range nets {
		t.Run(nt.name, func(t *testing.T) {
			c := nt.config(t)
			h := newHost(t, c, nt.nb)
			if nt.vary != nil {
				c = nt.vary(t, c)
				tab, err := NewTables(c)
				if err != nil {
					t.Fatalf("NewTables: %v", err)
				}
				h.tables.Store(tab)
			}
			if learn := learned[nt.name]; learn != nil {
				learn(t, h.tables.Load())
			}
			rng := rand.New(rand.NewPCG(1, uint64(k)))
			seen := map[string]int{}
			for i := range n {
				spec := randomSpec(rng, len(c.Ports), nt.addrs)
				tab := h.tables.Load()
				if ep := tab.ports[spec.In].ep; ep != nil && rng.IntN(4) != 0 {
					// Mostly the endpoint's own source: past anti-spoofing.
					if spec.Dst.Is4() && len(ep.addrs4) > 0 {
						spec.Src = netip.AddrFrom4(ep.addrs4[0])
					} else if spec.Dst.Is6() && len(ep.addrs6) > 0 {
						spec.Src = netip.AddrFrom16(ep.addrs6[0])
					}
				}
				if len(nt.core) > 0 && tab.ports[spec.In].role == RoleUplink && spec.Dst.Is6() && rng.IntN(2) == 0 {
					spec.Src = nt.core[rng.IntN(len(nt.core))]
				}
				frame, err := tab.traceFrame(spec)
				if err != nil {
					continue // families differ
				}
				h.advance(time.Second) // a full ICMP budget: the trace cannot see the bucket
				res := tab.Trace(spec.In, frame, h.neigh.Table)
				got := workerDid(h, c, spec.In, frame)
				want := outcome{res.Verdict, res.Reason, res.Egress}
				if got != want {
					t.Fatalf("packet %d (%+v): trace says %+v, the worker did %+v\n%s", i, spec, want, got, res)
				}
				seen[res.Verdict+" "+res.Reason]++
			}
			t.Logf("outcomes: %v", seen)
			if len(seen) < 5 {
				t.Errorf("only %d kinds of outcome: %v", len(seen), seen)
			}
			for _, o := range nt.want {
				if never, ok := strings.CutPrefix(o, "!"); ok {
					if seen[never] != 0 {
						t.Errorf("%d packets had outcome %q: %v", seen[never], never, seen)
					}
				} else if seen[o] == 0 {
					t.Errorf("no packet had outcome %q: %v", o, seen)
				}
			}
		})
	}
}

// TestTraceChangesNothing: tracing many packets leaves the connection
// table, the ports and the worker's counters as they were.
func TestTraceChangesNothing(t *testing.T) {
	c := borderConfig(t)
	h := newHost(t, c, peerNeigh)
	// Some state first: an SNATed flow and an inbound one.
	out := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: internet4, proto: "udp", sport: 40000, dport: 5353}
	h.send(0, out.frame(t))
	h.out(2)
	sessions := c.NAT.Len()
	stats := h.stats()
	tab := h.tables.Load()
	rng := rand.New(rand.NewPCG(7, 7))
	addrs := []netip.Addr{w1v4, w2v4, internet4, floatIP, publicIP, w1v6, netip.MustParseAddr("2001:db8:9::1")}
	traced := 0
	for range 300 {
		s := randomSpec(rng, len(c.Ports), addrs)
		if res, err := tab.TraceSpec(s, h.neigh.Table); err == nil {
			traced++
			if len(res.Steps) == 0 || len(res.Steps) > 40 {
				t.Fatalf("Trace(%+v) has %d steps", s, len(res.Steps))
			}
		}
	}
	if traced < 100 {
		t.Fatalf("only %d packets traced", traced)
	}
	if n := c.NAT.Len(); n != sessions {
		t.Errorf("sessions: %d before the traces, %d after", sessions, n)
	}
	if after := h.stats(); after != stats {
		t.Errorf("worker counters changed:\nbefore %+v\nafter  %+v", stats, after)
	}
	for p := range h.ports {
		if got := h.out(p); len(got) != 0 {
			t.Errorf("port %d sent %d frames", p, len(got))
		}
	}
	// The mapping the flow has is still the one a new flow of its
	// source reuses, and the next new source still gets its own port
	// preserved: no port was claimed by a trace.
	res, err := tab.TraceSpec(TraceSpec{In: 0, Src: w1v4, Dst: netip.MustParseAddr("192.0.2.60"), Proto: pkt.ProtoUDP, SrcPort: 40000, DstPort: 5353}, h.neigh.Table)
	if err != nil || !strings.Contains(res.String(), "source NAT to 203.0.113.100:40000 through its existing mapping") {
		t.Errorf("trace of the mapped source:\n%s", res)
	}
	h.send(0, spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: internet4, proto: "udp", sport: 40001, dport: 5353}.frame(t))
	for _, f := range h.out(2) {
		var s pkt.Summary
		pkt.Parse(f, &s)
		if s.SrcPort != 40001 {
			t.Errorf("a new flow after the traces got port %d, want its own 40001", s.SrcPort)
		}
	}
}
