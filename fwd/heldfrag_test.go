package fwd

// Held fragments through the pipeline (RFC 4787 REQ-14): later fragments
// that overtake their datagram's first fragment wait in nat and leave,
// translated and routed, once the first fragment has been forwarded —
// compared byte for byte with what gopacket builds for the translated
// datagram.

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket/layers"
)

var (
	natPublic = netip.MustParseAddr("203.0.113.100")
	natServer = netip.MustParseAddr("198.51.100.50")
)

// snatHost is twoWorkloads with a connection table that source-NATs the
// workloads (198.18.0.0/24) to natPublic toward the uplink, its worker
// holding held fragments (WorkerConfig.HeldFragments), and the table's
// clock.
func snatHost(t *testing.T, held int) (*host, *nat.ManualClock) {
	t.Helper()
	return snatHostWith(t, held, twoWorkloads())
}

// snatHostWith is snatHost on config c.
func snatHostWith(t *testing.T, held int, c Config) (*host, *nat.ManualClock) {
	t.Helper()
	clock := &nat.ManualClock{}
	tab, err := nat.New(nat.Config{Capacity: 1024, Clock: clock, Seed: 1})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	if err := tab.SetPolicy(&nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.PrefixFrom(natPublic, 32)}},
	}); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	c.NAT = tab
	return newHostWith(t, c, peerNeigh, func(wc *WorkerConfig) { wc.HeldFragments = held }), clock
}

// thirds are the three fragments of a 600-byte datagram body.
var thirds = []piece{{0, 200, true}, {200, 400, true}, {400, 600, false}}

// outFragments are the fragments of a UDP datagram from W1 (port 4000) to
// natServer:53, as W1 sends them, and what the uplink should carry for
// them once translated to natPublic:xport.
func outFragments(t *testing.T, id uint16, xport uint16) (in, want [][]byte) {
	t.Helper()
	ip := layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: natServer.AsSlice()}
	in = v4Fragments(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, udpBody(t, w1v4, natServer, 4000, 53, 592), thirds...)
	ip.TTL, ip.SrcIP = 63, natPublic.AsSlice()
	want = v4Fragments(t, &layers.Ethernet{SrcMAC: macUp, DstMAC: macPeer, EthernetType: layers.EthernetTypeIPv4},
		ip, udpBody(t, natPublic, natServer, xport, 53, 592), thirds...)
	return in, want
}

// byOffset sorts IPv4 or IPv6 fragments (Ethernet frames) by fragment
// offset: released fragments leave after the batch's own packets, in the
// order nat released them.
func byOffset(frames [][]byte) [][]byte {
	off := func(f []byte) uint16 {
		if f[12] == 0x08 {
			return binary.BigEndian.Uint16(f[20:22]) & 0x1fff
		}
		return binary.BigEndian.Uint16(f[56:58]) >> 3 // the Fragment Header right after the IPv6 header
	}
	slices.SortStableFunc(frames, func(a, b []byte) int { return int(off(a)) - int(off(b)) })
	return frames
}

// sourcePort returns the UDP source port in the first fragment of frames.
func sourcePort(t *testing.T, frames [][]byte) uint16 {
	t.Helper()
	for _, f := range frames {
		if len(f) >= 36 && binary.BigEndian.Uint16(f[20:22])&0x1fff == 0 {
			return binary.BigEndian.Uint16(f[34:36])
		}
	}
	t.Fatal("no first fragment sent")
	return 0
}

// TestHeldFragmentsSNAT: an SNATed UDP datagram in three IPv4 fragments,
// the later ones ahead of the first, in one batch or across batches:
// every fragment leaves the uplink translated (external source, UDP
// checksum for it, TTL decremented), none is dropped, every frame is
// accounted for. Then the answer, fragmented and overtaking too, reaches
// W1 translated back.
func TestHeldFragmentsSNAT(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]int // fragment indexes, one slice per round
		held    uint64
	}{
		// A new flow's first fragment makes its session at Commit,
		// after the batch was tracked together: later fragments in the
		// same batch, even behind it, find no state yet and are held.
		{"in order, one batch", [][]int{{0, 1, 2}}, 2},
		{"in order, across batches", [][]int{{0}, {1}, {2}}, 0},
		{"last first, one batch", [][]int{{2, 1, 0}}, 2},
		{"middle first, one batch", [][]int{{1, 0, 2}}, 2}, // the last is tracked with the batch, before the first is committed
		{"last first, across batches", [][]int{{2}, {1}, {0}}, 2},
		{"middle first, across batches", [][]int{{1}, {0}, {2}}, 1},
		{"first last, across batches", [][]int{{1, 2}, {0}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := snatHost(t, 0)
			in, _ := outFragments(t, 0x4242, 0)
			var got [][]byte
			for _, b := range tc.batches {
				for _, i := range b {
					if !h.ports[0].Inject(in[i]) {
						t.Fatal("Inject refused")
					}
				}
				h.run()
				got = append(got, h.out(2)...)
				checkFrames(t, h)
			}
			xport := sourcePort(t, got)
			_, want := outFragments(t, 0x4242, xport)
			expectFrames(t, "uplink", byOffset(got), want...)
			st := h.stats()
			if st.Held != tc.held || st.Released != tc.held || st.Forwarded != 3 || st.Dropped() != 0 || st.NATCreated != 1 {
				t.Errorf("held %d, released %d, forwarded %d, sessions %d, drops %v; want %d, %d, 3, 1, none",
					st.Held, st.Released, st.Forwarded, st.NATCreated, nonZero(st), tc.held, tc.held)
			}
			checkConservation(t, st)

			// The answer: its later fragments overtake its first and are
			// translated back (destination W1:4000) when it comes.
			ip := layers.IPv4{Version: 4, TTL: 50, Id: 0x77, Protocol: layers.IPProtocolUDP, SrcIP: natServer.AsSlice(), DstIP: natPublic.AsSlice()}
			rep := v4Fragments(t, &layers.Ethernet{SrcMAC: macPeer, DstMAC: macUp, EthernetType: layers.EthernetTypeIPv4},
				ip, udpBody(t, natServer, natPublic, 53, xport, 592), thirds...)
			ip.TTL, ip.DstIP = 49, w1v4.AsSlice()
			back := v4Fragments(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW1, EthernetType: layers.EthernetTypeIPv4},
				ip, udpBody(t, natServer, w1v4, 53, 4000, 592), thirds...)
			h.send(2, rep[2], rep[1], rep[0])
			expectFrames(t, "w1", byOffset(h.out(0)), back...)
			if st := h.stats(); st.Held != tc.held+2 || st.Released != tc.held+2 || st.Dropped() != 0 {
				t.Errorf("after the answer: held %d, released %d, drops %v; want %d, %d, none", st.Held, st.Released, nonZero(st), tc.held+2, tc.held+2)
			}
			checkFrames(t, h)
			checkConservation(t, h.stats())
		})
	}
}

// TestHeldFragmentsIPv6: IPv6 fragments of a tracked flow (W1 to W2,
// conntrack only) overtaking their first fragment reach W2 unchanged but
// for the hop limit.
func TestHeldFragmentsIPv6(t *testing.T) {
	for _, batches := range [][][]int{{{2, 1, 0}}, {{1}, {2}, {0}}} {
		h, _ := snatHost(t, 0)
		body := spec{src: w1v6, dst: w2v6, proto: "udp", sport: 4000, dport: 53, payload: payload(592)}.packet(t)[40:]
		in := v6Fragments(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv6},
			w1v6, w2v6, 64, layers.IPProtocolUDP, 0x1234567, body, thirds...)
		want := v6Fragments(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: macW2, EthernetType: layers.EthernetTypeIPv6},
			w1v6, w2v6, 63, layers.IPProtocolUDP, 0x1234567, body, thirds...)
		var got [][]byte
		for _, b := range batches {
			for _, i := range b {
				h.ports[0].Inject(in[i])
			}
			h.run()
			got = append(got, h.out(1)...)
		}
		expectFrames(t, "w2", byOffset(got), want...)
		if st := h.stats(); st.Held != 2 || st.Released != 2 || st.Forwarded != 3 || st.Dropped() != 0 {
			t.Errorf("%v: held %d, released %d, forwarded %d, drops %v; want 2, 2, 3, none", batches, st.Held, st.Released, st.Forwarded, nonZero(st))
		}
		checkFrames(t, h)
		checkConservation(t, h.stats())
	}
}

// TestHeldFragmentTimeout: a fragment whose first fragment does not come
// within the fragment timeout (2 s) is dropped and counted by nat, and
// never sent, not even when the first fragment comes later.
func TestHeldFragmentTimeout(t *testing.T) {
	h, clock := snatHost(t, 0)
	in, _ := outFragments(t, 0x4343, 0)
	h.send(0, in[1])
	clock.Advance(3 * time.Second)
	h.run() // a round: nat drops what waited too long
	st := h.stats()
	if st.Held != 1 || st.NAT[nat.ReasonFragmentTimeout] != 1 || st.Released != 0 || st.TxPackets != 0 {
		t.Errorf("held %d, timed out %d, released %d, tx %d; want 1, 1, 0, 0", st.Held, st.NAT[nat.ReasonFragmentTimeout], st.Released, st.TxPackets)
	}
	h.send(0, in[0])
	h.send(0, in[2])
	got := h.out(2)
	_, want := outFragments(t, 0x4343, sourcePort(t, got))
	expectFrames(t, "uplink", byOffset(got), want[0], want[2])
	if st := h.stats(); st.Released != 0 || st.Forwarded != 2 || st.Dropped() != 0 {
		t.Errorf("released %d, forwarded %d, drops %v; want 0, 2, none", st.Released, st.Forwarded, nonZero(st))
	}
	checkFrames(t, h)
	checkConservation(t, h.stats())
}

// TestHeldFragmentsOff: with holding off, a fragment ahead of its first
// is dropped (fragment-no-state), as nat does without a hold buffer.
func TestHeldFragmentsOff(t *testing.T) {
	h, _ := snatHost(t, -1)
	in, _ := outFragments(t, 0x4444, 0)
	h.send(0, in[2])
	h.send(0, in[0])
	h.send(0, in[1])
	got := h.out(2)
	_, want := outFragments(t, 0x4444, sourcePort(t, got))
	expectFrames(t, "uplink", byOffset(got), want[0], want[1])
	st := h.stats()
	if st.NAT[nat.ReasonFragment] != 1 || st.Drops[ReasonConntrack] != 1 || st.Held != 0 || st.Dropped() != 1 {
		t.Errorf("fragment-no-state %d, conntrack drops %d, held %d, drops %v; want 1, 1, 0, only that",
			st.NAT[nat.ReasonFragment], st.Drops[ReasonConntrack], st.Held, nonZero(st))
	}
	checkFrames(t, h)
	checkConservation(t, st)
}

// TestHeldFragmentLimits: a fragment that finds the hold slots full is
// dropped by nat (fragment-hold-full); a released fragment that finds no
// free frame is dropped and counted (fragment-release-no-frame). No frame
// is lost either way.
func TestHeldFragmentLimits(t *testing.T) {
	h, _ := snatHost(t, 1)
	in, _ := outFragments(t, 0x4545, 0)
	h.send(0, in[2], in[1])
	if st := h.stats(); st.Held != 1 || st.NAT[nat.ReasonFragmentHoldFull] != 1 || st.Drops[ReasonConntrack] != 1 {
		t.Errorf("held %d, hold-full %d, conntrack drops %d; want 1, 1, 1", st.Held, st.NAT[nat.ReasonFragmentHoldFull], st.Drops[ReasonConntrack])
	}
	checkFrames(t, h)

	// The first fragment comes with no frame left to send the held one in.
	taken := make([]uint64, h.w.free.Len())
	h.w.free.PopBatch(taken)
	if !h.ports[0].Inject(in[0]) {
		t.Fatal("Inject refused")
	}
	h.w.Step()
	got := h.out(2)
	_, want := outFragments(t, 0x4545, sourcePort(t, got))
	expectFrames(t, "uplink", got, want[0])
	st := h.stats()
	if st.Released != 1 || st.Drops[ReasonReleaseFrames] != 1 {
		t.Errorf("released %d, fragment-release-no-frame %d; want 1, 1 (drops %v)", st.Released, st.Drops[ReasonReleaseFrames], nonZero(st))
	}
	h.w.free.PushBatch(taken)
	h.run()
	checkFrames(t, h)
	checkConservation(t, h.stats())
}

// TestHeldFragmentsOfRefusedFlow: when the first fragment of a new flow
// is refused (here: no route), the later fragments held for it are
// dropped at once (fragment-no-state) rather than keeping their hold
// slots until the fragment timeout, and nothing is sent.
func TestHeldFragmentsOfRefusedFlow(t *testing.T) {
	c := twoWorkloads()
	c.Routes = nil // nothing beyond the local workloads: natServer is unrouted
	h, _ := snatHostWith(t, 0, c)
	in, _ := outFragments(t, 0x4545, 0)
	h.send(0, in[2])
	h.send(0, in[1])
	h.send(0, in[0])
	st := h.stats()
	if st.Held != 2 || st.NAT[nat.ReasonFragment] != 2 || st.Drops[ReasonNoRoute] != 1 || st.Released != 0 {
		t.Errorf("held %d, fragment-no-state %d, no-route %d, released %d; want 2, 2, 1, 0",
			st.Held, st.NAT[nat.ReasonFragment], st.Drops[ReasonNoRoute], st.Released)
	}
	if got := h.out(2); len(got) != 0 {
		t.Errorf("uplink got %d frames, want none", len(got))
	}
	if n := h.w.nw.Holding(); n != 0 {
		t.Errorf("nat still holds %d fragments, want 0", n)
	}
	checkFrames(t, h)
}
