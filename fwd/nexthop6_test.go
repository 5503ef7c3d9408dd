package fwd

// IPv4 routes over IPv6 next hops (RFC 8950): an IPv4 packet leaves by
// an uplink to the MAC the IPv6 neighbour cache has for the route's IPv6
// gateway, as an IPv4 frame.

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/pkt"
)

var (
	v6Gw     = netip.MustParseAddr("2001:db8:200::2")
	v6GwLL   = netip.MustParseAddr("fe80::20") // resolved on port 2 (peerNeigh)
	v6Net4   = netip.MustParsePrefix("192.0.2.0/24")
	v6Neigh6 = append([]neigh.Entry{{Ifindex: 13, Addr: v6Gw, MAC: mac6(macPeer)}}, peerNeigh...)
)

// recordingNeighbours is a fixed snapshot that remembers every miss:
// which address the worker asked the cache to resolve (by ARP or ND).
type recordingNeighbours struct {
	table *neigh.Snapshot
	mu    sync.Mutex
	asked []netip.Addr
}

func (n *recordingNeighbours) Snapshot() *neigh.Snapshot { return n.table }
func (n *recordingNeighbours) Miss(_ int, a netip.Addr) {
	n.mu.Lock()
	n.asked = append(n.asked, a)
	n.mu.Unlock()
}

// TestIPv4OverIPv6NextHop: an IPv4 route whose gateway is IPv6 — learned
// (global or link-local) or configured — forwards IPv4 frames to the
// gateway's MAC from the IPv6 neighbour table, TTL decremented, EtherType
// IPv4; with the gateway unresolved the worker asks the cache for the
// IPv6 address (neighbour discovery), never an IPv4 one.
func TestIPv4OverIPv6NextHop(t *testing.T) {
	frame := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.MustParseAddr("192.0.2.9"), proto: "udp", sport: 7, dport: 9}
	for _, tc := range []struct {
		name   string
		static bool
		gw     netip.Addr
	}{
		{"learned global", false, v6Gw},
		{"learned link-local", false, v6GwLL},
		{"static global", true, v6Gw},
		{"static link-local", true, v6GwLL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := twoWorkloads()
			c.Routes = nil
			if tc.static {
				c.Routes = []RouteConfig{{Prefix: v6Net4, Port: 2, Gateway: tc.gw}}
			}
			for _, resolved := range []bool{true, false} {
				nb := &recordingNeighbours{table: neigh.NewSnapshot(nil)}
				if resolved {
					nb.table = neigh.NewSnapshot(v6Neigh6)
				}
				h := newHostWith(t, c, nil, func(wc *WorkerConfig) { wc.Neighbours = nb })
				if !tc.static {
					if err := h.tables.Load().Learn(0, v6Net4, oneHop(2, tc.gw)); err != nil {
						t.Fatalf("Learn(%v via %v): %v", v6Net4, tc.gw, err)
					}
				}
				h.send(0, frame.frame(t))
				out := h.out(2)
				if !resolved {
					if len(out) != 0 || h.stats().Drops[ReasonNoNeighbour] != 1 {
						t.Fatalf("unresolved: %d frames out, no-neighbour %d; want the packet dropped as no-neighbour", len(out), h.stats().Drops[ReasonNoNeighbour])
					}
					if len(nb.asked) != 1 || nb.asked[0] != tc.gw {
						t.Errorf("the worker asked the cache for %v, want [%v]", nb.asked, tc.gw)
					}
					continue
				}
				if len(out) != 1 {
					t.Fatalf("%d frames out of the uplink, want 1 (drops %v)", len(out), nonZero(h.stats()))
				}
				if want := frame.hop(macUp, macPeer).frame(t); !bytes.Equal(unpad(out[0]), unpad(want)) {
					t.Errorf("forwarded frame\n got %x\nwant %x", out[0], want)
				}
				if et := pkt.Ethernet(out[0]).EtherType(); et != pkt.EtherTypeIPv4 {
					t.Errorf("EtherType %#x, want IPv4", et)
				}
			}
		})
	}
}

// TestIPv4OverIPv6ECMP: an IPv4 route over three IPv6 gateways on three
// uplinks is an ECMP group like any other: every flow sticks to one
// member, every member carries some, and the worker's pick is the twin's.
func TestIPv4OverIPv6ECMP(t *testing.T) {
	h := newHost(t, ecmpConfig(), ecmpNeigh)
	tab := h.tables.Load()
	if err := tab.Learn(0, ecmpNet4, ecmpHop(ecmpGw6, 3)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8950, 1))
	used := map[int]int{}
	for range 300 {
		f := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))}),
			proto: "udp", sport: uint16(1024 + rng.IntN(60000)), dport: 53}
		fr := f.frame(t)
		port := egressOf(t, h, fr)
		if again := egressOf(t, h, fr); again != port {
			t.Fatalf("flow %+v left by port %d, then %d", f, port, again)
		}
		s := summaryOf(t, fr)
		want, ok := slowPick(3, []bool{false, false, false}, slowFlowHash(f.src, f.dst, pkt.ProtoUDP, true, f.sport, f.dport))
		if !ok || port != 2+want {
			t.Fatalf("flow %+v (hash %#x) left by port %d, the twin picks member %d", f, flowHash(s), port, want)
		}
		used[port]++
	}
	if len(used) != 3 {
		t.Errorf("ports used %v, want all three uplinks", used)
	}
}

// TestIPv6NextHopTrace: the trace names the IPv6 gateway of the IPv4
// route, says why an IPv4 packet goes to an IPv6 neighbour, and agrees
// with the worker.
func TestIPv6NextHopTrace(t *testing.T) {
	c := twoWorkloads()
	c.Routes = nil
	h := newHost(t, c, v6Neigh6)
	tab := h.tables.Load()
	if err := tab.Learn(0, v6Net4, oneHop(2, v6Gw)); err != nil {
		t.Fatal(err)
	}
	spec := TraceSpec{In: 0, Src: w1v4, Dst: netip.MustParseAddr("192.0.2.9"), Proto: pkt.ProtoUDP, SrcPort: 7, DstPort: 9}
	f, err := tab.traceFrame(spec)
	if err != nil {
		t.Fatal(err)
	}
	res := tab.Trace(0, f, h.neigh.Table)
	for _, want := range []string{"gateway 2001:db8:200::2 out of port up", "2001:db8:200::2 on up is at 02:00:00:00:00:20", "RFC 8950"} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, res)
		}
	}
	if got := workerDid(h, c, 0, f); got != (outcome{res.Verdict, res.Reason, res.Egress}) {
		t.Errorf("the worker did %+v; the trace says %+v", got, res)
	}
}

// TestGatewayFamilies: which gateways a route may have, configured or
// learned; every refusal names the field.
func TestGatewayFamilies(t *testing.T) {
	for _, tc := range []struct {
		prefix, gw string
		ok         bool
	}{
		{"192.0.2.0/24", "198.51.100.1", true},
		{"192.0.2.0/24", "2001:db8::1", true},         // RFC 8950
		{"192.0.2.0/24", "fe80::1", true},             // link-local, on the route's port
		{"192.0.2.0/24", "::ffff:198.51.100.1", true}, // IPv4-mapped: the IPv4 gateway
		{"2001:db8:1::/48", "fe80::1", true},
		{"2001:db8:1::/48", "198.51.100.1", false}, // the core is IPv6
		{"192.0.2.0/24", "ff02::2", false},
		{"192.0.2.0/24", "::", false},
		{"192.0.2.0/24", "0.0.0.0", false},
	} {
		p, gw := netip.MustParsePrefix(tc.prefix), netip.MustParseAddr(tc.gw)
		c := twoWorkloads()
		c.Routes = []RouteConfig{{Prefix: p, Port: 2, Gateway: gw}}
		_, err := NewTables(c)
		if (err == nil) != tc.ok {
			t.Errorf("NewTables(route %v via %v) = %v, want ok %v", p, gw, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Routes[0].Gateway") {
			t.Errorf("NewTables(route %v via %v) = %v, want the field named", p, gw, err)
		}
		c.Routes = nil
		tab, err := NewTables(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.Learn(0, p, oneHop(2, gw)); (err == nil) != tc.ok {
			t.Errorf("Learn(%v via %v) = %v, want ok %v", p, gw, err, tc.ok)
		}
	}
}

// TestIPv6NextHopZeroAlloc: forwarding IPv4 over a learned IPv6 gateway
// allocates nothing.
func TestIPv6NextHopZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := twoWorkloads()
	c.Routes = nil
	h := newHost(t, c, v6Neigh6)
	if err := h.tables.Load().Learn(0, v6Net4, oneHop(2, v6Gw)); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i := range 32 {
		frames = append(frames, spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
			proto: "udp", sport: uint16(1000 + i), dport: 53}.frame(t))
	}
	round := func() { h.round(0, frames...) }
	round()
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Errorf("a round of %d frames over an IPv6 next hop allocates %v times, want 0", len(frames), a)
	}
	if st := h.stats(); st.Forwarded != 52*uint64(len(frames)) || st.Dropped() != 0 {
		t.Errorf("forwarded %d, drops %v: the test did not take the path it means to", st.Forwarded, nonZero(st))
	}
}
