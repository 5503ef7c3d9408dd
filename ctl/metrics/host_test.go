package metrics_test

// A worker over in-memory ports, stepped by the test: the counters the
// collector reads are the ones real traffic drove through the pipeline.

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/metrics"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/neigh"
)

var (
	gwMAC = net.HardwareAddr(fwd.DefaultGatewayMAC[:])
	macA  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
	rtr4  = netip.MustParseAddr("192.0.2.1")
)

const (
	frameSize = 2048
	frames    = 1024
	ringSize  = 512
)

// testHost is endpoints "a" (port 0) and "b" (port 1); a's egress
// program denies UDP to port 53, everything else is allowed; no route
// leaves the host.
type testHost struct {
	tables atomic.Pointer[fwd.Tables]
	w      *fwd.Worker
	ports  []*fwd.MemPort
}

func newTestHost(tb testing.TB) *testHost {
	tb.Helper()
	cp, err := acl.CompilePolicy(&acl.PolicySet{
		Policies: []acl.Policy{{Name: "no-dns", Selector: "all()", Types: []acl.PolicyType{acl.Egress},
			Egress: []acl.PolicyRule{{Action: acl.Deny, Protocol: "UDP", Destination: acl.EntityMatch{Ports: []string{"53"}}}, {Action: acl.Allow}}}},
		Endpoints: []acl.Endpoint{{Name: "a", Addrs: []netip.Addr{addrA}}, {Name: "b", Addrs: []netip.Addr{addrB}}},
	})
	if err != nil {
		tb.Fatalf("CompilePolicy: %v", err)
	}
	cfg := fwd.Config{
		Ports: []fwd.PortConfig{
			{Name: "gw-a", Ifindex: 11, Role: fwd.RoleWorkload, MTU: 1500},
			{Name: "gw-b", Ifindex: 12, Role: fwd.RoleWorkload, MTU: 1500},
		},
		Endpoints: []fwd.EndpointConfig{
			{Name: "a", Port: 0, MAC: [6]byte(macA), Addrs: []netip.Addr{addrA}, Egress: cp.Endpoint("a").Egress},
			{Name: "b", Port: 1, MAC: [6]byte(macB), Addrs: []netip.Addr{addrB}, Egress: cp.Endpoint("b").Egress},
		},
		RouterAddrs: []netip.Addr{rtr4},
	}
	t, err := fwd.NewTables(cfg)
	if err != nil {
		tb.Fatalf("NewTables: %v", err)
	}
	h := &testHost{}
	h.tables.Store(t)
	mem := make([]byte, frames*frameSize)
	var ports []fwd.Port
	for range cfg.Ports {
		p := fwd.NewMemPort(mem, frameSize, ringSize)
		h.ports = append(h.ports, p)
		ports = append(ports, p)
	}
	h.w, err = fwd.NewWorker(fwd.WorkerConfig{Mem: mem, FrameSize: frameSize, Ports: ports, Tables: &h.tables,
		Neighbours: &fwd.StaticNeighbours{Table: neigh.NewSnapshot(nil)}, FillTarget: 256})
	if err != nil {
		tb.Fatalf("NewWorker: %v", err)
	}
	h.w.Step() // fill the rings
	return h
}

// send injects frames on port, runs the worker until it is idle and
// drains every port; it returns the frames each port sent.
func (h *testHost) send(tb testing.TB, port int, frames ...[]byte) []int {
	tb.Helper()
	for _, f := range frames {
		if !h.ports[port].Inject(f) {
			tb.Fatalf("Inject on port %d refused", port)
		}
	}
	for h.w.Step() > 0 {
	}
	out := make([]int, len(h.ports))
	for i, p := range h.ports {
		out[i] = p.Drain(func([]byte) {})
	}
	h.w.Step() // completions back, rings refilled
	return out
}

// snapshot reads the host as the daemon would.
func (h *testHost) snapshot() *metrics.Snapshot {
	ws := []*fwd.Worker{h.w}
	s := &metrics.Snapshot{Version: "test", Workers: metrics.ReadWorkers(ws)}
	for slot, name := range []string{"gw-a", "gw-b"} {
		s.Interfaces = append(s.Interfaces, metrics.Interface{Name: name, Role: "workload", Endpoint: name[3:], Up: true,
			Queues: metrics.ReadQueues(ws, slot, nil)})
		s.Endpoints = append(s.Endpoints, metrics.Endpoint{Name: name[3:], State: "up"})
	}
	h.tables.Load().RouteCounts(func(space uint16, v4, v6 int) {
		s.Routes = append(s.Routes, metrics.Routes{Space: space, V4: v4, V6: v6})
	})
	return s
}

// udp is a frame from a to dst:dport with ttl.
func udp(tb testing.TB, dst netip.Addr, dport uint16, ttl uint8, payload int) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: layers.IPProtocolUDP, SrcIP: addrA.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, u, gopacket.Payload(make([]byte, payload))); err != nil {
		tb.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}
