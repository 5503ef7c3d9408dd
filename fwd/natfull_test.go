package fwd

// Faults of the connection table with real frames: external ports run
// out, or the table is full of established flows. The flows that have
// state keep going both ways; a new one is dropped, counted by its nat
// reason, and answered with what RFC 5508 REQ-8 (and RFC 7857 for TCP)
// asks of a NAT that cannot make a session: ICMP Destination Unreachable,
// communication administratively prohibited (type 3 code 13), from the
// router's address, to the sender, quoting the refused packet.

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket/layers"
)

func TestNATRefusal(t *testing.T) {
	snat := func(lo, hi uint16) *nat.Policy {
		return &nat.Policy{
			Pools:        []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
			External:     []nat.ExternalPool{{Prefix: netip.PrefixFrom(natPublic, 32), PortMin: lo, PortMax: hi}},
			ErrorSource4: rtr4, // as gannet run sets it: node.routerIPv4
		}
	}
	tests := []struct {
		name     string
		capacity int
		policy   *nat.Policy
		snat     bool // flows leave by the uplink, source-NATed; else W1 -> W2
		reason   nat.Reason
	}{
		{"external ports exhausted", 64, snat(20000, 20001), true, nat.ReasonPortsExhausted},
		{"table full of established flows", 2, snat(0, 0), true, nat.ReasonTableFull},
		{"table full without NAT", 2, &nat.Policy{ErrorSource4: rtr4}, false, nat.ReasonTableFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &nat.ManualClock{}
			tab, err := nat.New(nat.Config{Capacity: tc.capacity, Clock: clock, Seed: 1})
			if err != nil {
				t.Fatalf("nat.New: %v", err)
			}
			if err := tab.SetPolicy(tc.policy); err != nil {
				t.Fatalf("SetPolicy: %v", err)
			}
			c := twoWorkloads()
			c.NAT = tab
			h := newHost(t, c, peerNeigh)

			// flow i: W1 port 4000+i to the server (or W2), UDP.
			dst, outPort := natServer, 2
			if !tc.snat {
				dst, outPort = w2v4, 1
			}
			req := func(i int) spec {
				return spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: dst, proto: "udp", sport: uint16(4000 + i), dport: 53, payload: []byte("query")}
			}
			// sendOut sends flow i's request and returns the source
			// port it left with, checking the frame.
			sendOut := func(i int) uint16 {
				t.Helper()
				p := req(i)
				h.send(0, p.frame(t))
				got := h.out(outPort)
				if len(got) != 1 {
					t.Fatalf("flow %d: %d frames out, want 1 (drops %v)", i, len(got), nonZero(h.stats()))
				}
				want := p.hop(macUp, macPeer)
				if !tc.snat {
					want = p.hop(gwMAC, macW2)
				}
				xport := p.sport
				if tc.snat {
					xport = uint16(got[0][34])<<8 | uint16(got[0][35])
					want.src, want.sport = natPublic, xport
				}
				expectFrames(t, "out", got, want.wire(t))
				return xport
			}
			// answer sends the reply to flow i (left with xport) and
			// checks that W1 gets it, translated back.
			answer := func(i int, xport uint16) {
				t.Helper()
				r := spec{srcMAC: macPeer, dstMAC: macUp, src: natServer, dst: natPublic, proto: "udp", sport: 53, dport: xport, ttl: 50, payload: []byte("answer")}
				in := 2
				if !tc.snat {
					r = spec{srcMAC: macW2, dstMAC: gwMAC, src: w2v4, dst: w1v4, proto: "udp", sport: 53, dport: xport, payload: []byte("answer")}
					in = 1
				}
				h.send(in, r.frame(t))
				want := r.hop(gwMAC, macW1)
				want.dst, want.dport = w1v4, uint16(4000+i)
				expectFrames(t, "w1", h.out(0), want.wire(t))
			}
			ports := []uint16{sendOut(0), sendOut(1)}
			answer(0, ports[0])
			answer(1, ports[1])

			before := h.stats()
			refused := req(2)
			h.send(0, refused.frame(t))
			expectFrames(t, "w1", h.out(0), icmpErr(t, macW1, rtr4, w1v4,
				layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeCommAdminProhibited, 0, refused.packet(t)))
			expectFrames(t, "out", h.out(outPort))
			after := h.stats()
			if after.NAT[tc.reason] != before.NAT[tc.reason]+1 || after.Drops[ReasonConntrackReply] != before.Drops[ReasonConntrackReply]+1 {
				t.Errorf("nat %v %d -> %d, conntrack-reply drops %d -> %d; want one more of each (drops %v)", tc.reason,
					before.NAT[tc.reason], after.NAT[tc.reason], before.Drops[ReasonConntrackReply], after.Drops[ReasonConntrackReply], nonZero(after))
			}
			if n := tab.Len(); n != 2 {
				t.Errorf("%d sessions, want the 2 that were there", n)
			}

			// The flows that had state go on, both ways, on their ports.
			for i := range 2 {
				if got := sendOut(i); got != ports[i] {
					t.Errorf("flow %d left from port %d, then %d", i, ports[i], got)
				}
				answer(i, ports[i])
			}
			checkFrames(t, h)
			checkConservation(t, h.stats())
		})
	}
}
