package fwd

import (
	"context"
	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macW3 = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x33}
	w3v4  = netip.MustParseAddr("198.18.0.33")
)

// withThird is twoWorkloads with a third workload endpoint on port slot 3
// (present) or an empty slot 3 (absent).
func withThird(present bool) Config {
	c := twoWorkloads()
	if !present {
		c.Ports = append(c.Ports, PortConfig{Role: RoleNone})
		return c
	}
	c.Ports = append(c.Ports, PortConfig{Name: "w3", Ifindex: 14, Role: RoleWorkload, MTU: 1500})
	c.Endpoints = append(c.Endpoints, EndpointConfig{Name: "w3", Port: 3, MAC: mac6(macW3), Addrs: []netip.Addr{w3v4}})
	return c
}

func mustTables(t testing.TB, c Config) *Tables {
	t.Helper()
	tab, err := NewTables(c)
	if err != nil {
		t.Fatalf("NewTables: %v", err)
	}
	return tab
}

// TestPortsComeAndGo runs a worker on its own thread with a steady flow
// from w1 to w2 while a third port is attached, reached, and detached
// again, many times: the flow loses nothing, the third endpoint gets its
// packets while it is there, and every frame the detached ports held
// comes back to the worker.
func TestPortsComeAndGo(t *testing.T) {
	h := newHost(t, withThird(false), peerNeigh)
	if err := h.w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	steady := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t)
	toThird := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w3v4, proto: "udp", sport: 1, dport: 3}.frame(t)

	var (
		injected, drained atomic.Uint64
		injMu             sync.Mutex // h.ports[0]'s injecting side has one owner at a time
		stop              = make(chan struct{})
		wg                sync.WaitGroup
	)
	wg.Add(2)
	go func() { // the steady flow
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			injMu.Lock()
			if h.ports[0].Inject(steady) {
				injected.Add(1)
			}
			injMu.Unlock()
			time.Sleep(20 * time.Microsecond)
		}
	}()
	go func() { // the wire behind w1 and w2
		defer wg.Done()
		for {
			drained.Add(uint64(h.ports[1].Drain(nil)))
			h.ports[0].Drain(nil)
			select {
			case <-stop:
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()

	const rounds = 20
	for i := range rounds {
		p3 := NewMemPort(h.w.mem, testFrameSize, testRing)
		if err := h.w.AttachPort(ctx, 3, p3); err != nil {
			t.Fatalf("round %d: AttachPort: %v", i, err)
		}
		h.tables.Store(mustTables(t, withThird(true)))
		got := 0
		for deadline := time.Now().Add(2 * time.Second); got == 0 && time.Now().Before(deadline); {
			injMu.Lock()
			h.ports[0].Inject(toThird)
			injMu.Unlock()
			time.Sleep(time.Millisecond)
			got += p3.Drain(nil)
		}
		if got == 0 {
			t.Fatalf("round %d: nothing reached the third endpoint", i)
		}
		time.Sleep(5 * time.Millisecond) // the steady flow goes on meanwhile
		h.tables.Store(mustTables(t, withThird(false)))
		if err := h.w.DetachPort(ctx, 3, 100*time.Millisecond); err != nil {
			t.Fatalf("round %d: DetachPort: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if err := h.w.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	drained.Add(uint64(h.ports[1].Drain(nil)))
	h.ports[0].Drain(nil)
	h.w.Step()
	for h.w.Step() > 0 {
	}
	drained.Add(uint64(h.ports[1].Drain(nil)))

	if inj, dr := injected.Load(), drained.Load(); inj != dr || inj == 0 {
		t.Errorf("steady flow: injected %d, delivered %d: lost %d", inj, dr, int64(inj)-int64(dr))
	}
	if n := h.w.Lost(); n != 0 {
		t.Errorf("Lost() = %d frames, want 0", n)
	}
	// Every frame is on the free stack or on the remaining ports' rings.
	onPorts := 0
	for _, p := range h.ports[:3] {
		p.Frames(func(uint64) { onPorts++ })
	}
	if total := h.w.FreeFrames() + onPorts; total != h.w.numFrames {
		t.Errorf("free %d + on ports %d = %d frames, want %d", h.w.FreeFrames(), onPorts, total, h.w.numFrames)
	}
	st := h.stats()
	checkConservation(t, st)
	t.Logf("steady flow %d packets; drops %v", injected.Load(), nonZero(st))
}

// TestAttachPortErrors: slots are checked, a slot holds one port.
func TestAttachPortErrors(t *testing.T) {
	h := newHost(t, twoWorkloads(), peerNeigh)
	ctx := context.Background()
	p := NewMemPort(h.w.mem, testFrameSize, testRing)
	if err := h.w.AttachPort(ctx, 0, p); err == nil {
		t.Errorf("AttachPort into a used slot: no error")
	}
	if err := h.w.AttachPort(ctx, -1, p); err == nil {
		t.Errorf("AttachPort(-1): no error")
	}
	if err := h.w.AttachPort(ctx, DefaultMaxPorts, p); err == nil {
		t.Errorf("AttachPort(MaxPorts): no error")
	}
	if err := h.w.DetachPort(ctx, 7, 0); err == nil {
		t.Errorf("DetachPort of an empty slot: no error")
	}
}

// TestPortDown: a packet routed to a port whose link is gone is answered
// host unreachable (RFC 1812 5.2.7.1) or address unreachable (RFC 4443
// 3.1), from the router, out of the port it came in on.
func TestPortDown(t *testing.T) {
	c := twoWorkloads()
	c.Ports[1].Down = true
	h := newHost(t, c, peerNeigh)
	h.send(0,
		spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t),
		spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v6, dst: w2v6, proto: "udp", sport: 1, dport: 2}.frame(t))
	if got := h.out(1); len(got) != 0 {
		t.Fatalf("%d frames left on the down port", len(got))
	}
	back := h.out(0)
	if len(back) != 2 {
		t.Fatalf("%d frames back on port w1, want 2 errors", len(back))
	}
	p4 := gopacket.NewPacket(back[0], layers.LayerTypeEthernet, gopacket.Default)
	if ic, ok := p4.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); !ok || ic.TypeCode != layers.CreateICMPv4TypeCode(3, 1) {
		t.Errorf("IPv4 answer = %v, want Destination Unreachable, host unreachable", p4)
	}
	p6 := gopacket.NewPacket(back[1], layers.LayerTypeEthernet, gopacket.Default)
	if ic, ok := p6.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); !ok || ic.TypeCode != layers.CreateICMPv6TypeCode(1, 3) {
		t.Errorf("IPv6 answer = %v, want Destination Unreachable, address unreachable", p6)
	}
	if n := h.stats().Drops[ReasonPortDown]; n != 2 {
		t.Errorf("port-down drops = %d, want 2", n)
	}
}

// TestNotForRouter: a unicast frame addressed to another station than
// the router (RFC 1812 5.3.4) is dropped and counted, on workload ports
// (not the gateway MAC) and uplinks (not the port's MAC).
func TestNotForRouter(t *testing.T) {
	h := newHost(t, twoWorkloads(), peerNeigh)
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	h.send(0, spec{srcMAC: macW1, dstMAC: other, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t))
	h.send(2, spec{srcMAC: macPeer, dstMAC: other, src: netip.MustParseAddr("203.0.113.9"), dst: w1v4, proto: "udp", sport: 1, dport: 2}.frame(t))
	for p := range 3 {
		if got := h.out(p); len(got) != 0 {
			t.Errorf("%d frames left on port %d", len(got), p)
		}
	}
	if n := h.stats().Drops[ReasonNotForUs]; n != 2 {
		t.Errorf("not-for-router drops = %d, want 2", n)
	}
	// The same frames to the router's MACs go through.
	h.send(0, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t))
	if got := h.out(1); len(got) != 1 {
		t.Errorf("%d frames forwarded to w2, want 1", len(got))
	}
}

// TestFillRingsFollowDemand: ports attached one after another all get
// frames on their fill rings (frames parked on a fill ring cannot be taken
// back, so targets that started at an equal share and shrank as ports
// came left the newest ports none), and a busy port's target grows to its
// share.
func TestFillRingsFollowDemand(t *testing.T) {
	const frames, nports = 4096, 12
	mem := make([]byte, frames*testFrameSize)
	var tables atomic.Pointer[Tables]
	tables.Store(mustTables(t, twoWorkloads()))
	w, err := NewWorker(WorkerConfig{Mem: mem, FrameSize: testFrameSize, Tables: &tables,
		Neighbours: &StaticNeighbours{Table: neigh.NewSnapshot(peerNeigh)}, Clock: &nat.ManualClock{}})
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]*MemPort, nports)
	for i := range ports {
		ports[i] = NewMemPort(mem, testFrameSize, 1024)
		w.attach(i, ports[i])
		w.Step() // the new port's fill ring is filled; the others keep theirs
	}
	frame := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "udp", sport: 1, dport: 2}.frame(t)
	for i, p := range ports {
		for n := range 32 {
			if !p.Inject(frame) {
				t.Fatalf("port %d of %d (attached in that order) has %d frames on its fill ring, want at least 32", i, nports, n)
			}
		}
		w.Step()
		ports[1].Drain(nil)
	}
	// With the others gone, port 0's share is half the frames; a visit
	// that finds a full batch waiting doubles its target.
	for slot := 1; slot < nports; slot++ {
		w.detach(slot)
	}
	before := w.fillT[0]
	for range w.fillOut[0] {
		ports[0].Inject(frame)
	}
	w.Step()
	if w.fillT[0] != min(2*before, w.fillShare) {
		t.Errorf("after a burst of more than a batch, port 0's fill target is %d, want %d (share %d)", w.fillT[0], min(2*before, w.fillShare), w.fillShare)
	}
}
