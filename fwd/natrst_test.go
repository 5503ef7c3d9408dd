package fwd

// A source-NATed TCP connection whose session is lost (the worker meets a
// new connection table, as after a restart that kept none): nat refuses
// the next segment of either end (tcp-no-state-reset) and the RST it
// prepares leaves by the port the segment came in on, addressed to the
// segment's sender from the address it was talking to, byte for byte
// what gopacket builds (without Ethernet padding).

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gannet-net/gannet/nat"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpSeg is a TCP segment between two IPv4 endpoints as an Ethernet frame.
type tcpSeg struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	sport, dport   uint16
	seq, ack       uint32
	syn, ackf, rst bool
	ttl            uint8
	payload        []byte
}

func (g tcpSeg) frame(t testing.TB) []byte {
	t.Helper()
	ttl := g.ttl
	if ttl == 0 {
		ttl = 64
	}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: g.src.AsSlice(), DstIP: g.dst.AsSlice()}
	c := &layers.TCP{SrcPort: layers.TCPPort(g.sport), DstPort: layers.TCPPort(g.dport), Seq: g.seq, Ack: g.ack,
		SYN: g.syn, ACK: g.ackf, RST: g.rst, PSH: len(g.payload) > 0}
	if !g.rst {
		c.Window = 1000
	}
	c.SetNetworkLayerForChecksum(ip)
	return serialize(t, &layers.Ethernet{SrcMAC: g.srcMAC, DstMAC: g.dstMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, c, gopacket.Payload(g.payload))
}

// resetFor is the frame gannet should send back for g: a bare RST from
// g's destination to its source (RFC 9293 3.10.7.1: seq = g's ACK field),
// between the given MACs.
func resetFor(t testing.TB, g tcpSeg, srcMAC, dstMAC net.HardwareAddr) []byte {
	return tcpSeg{srcMAC: srcMAC, dstMAC: dstMAC, src: g.dst, dst: g.src, sport: g.dport, dport: g.sport,
		seq: g.ack, rst: true}.frame(t)
}

func TestNATLostSessionReset(t *testing.T) {
	clock := &nat.ManualClock{}
	policy := &nat.Policy{
		Pools:    []nat.Pool{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.PrefixFrom(natPublic, 32)}},
	}
	newTable := func() *nat.Table {
		tab, err := nat.New(nat.Config{Capacity: 1024, Clock: clock, Seed: 1})
		if err != nil {
			t.Fatalf("nat.New: %v", err)
		}
		if err := tab.SetPolicy(policy); err != nil {
			t.Fatalf("SetPolicy: %v", err)
		}
		return tab
	}
	c := twoWorkloads()
	c.NAT = newTable()
	h := newHost(t, c, peerNeigh)

	// W1 opens a connection to the server: SYN out, SYN-ACK back.
	syn := tcpSeg{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: natServer, sport: 4000, dport: 80, seq: 1000, syn: true}
	h.send(0, syn.frame(t))
	up := h.out(2)
	if len(up) != 1 {
		t.Fatalf("SYN: %d frames on the uplink, want 1", len(up))
	}
	xport := uint16(up[0][34])<<8 | uint16(up[0][35])
	synack := tcpSeg{srcMAC: macPeer, dstMAC: macUp, src: natServer, dst: natPublic, sport: 80, dport: xport,
		seq: 7000, ack: 1001, syn: true, ackf: true, ttl: 50}
	h.send(2, synack.frame(t))
	if got := h.out(0); len(got) != 1 {
		t.Fatalf("SYN-ACK: %d frames to W1, want 1", len(got))
	}

	// The restart: the same configuration with a new, empty table.
	c.NAT = newTable()
	tabs, err := NewTables(c)
	if err != nil {
		t.Fatalf("NewTables: %v", err)
	}
	h.tables.Store(tabs)
	clock.Advance(time.Second)

	tests := []struct {
		name     string
		in, back int // ingress port, and where the RST must leave
		g        tcpSeg
		from, to net.HardwareAddr // the RST's MACs
	}{
		{"workload's next segment", 0, 0,
			tcpSeg{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: natServer, sport: 4000, dport: 80, seq: 1001, ack: 7001, ackf: true, payload: []byte("GET / HTTP/1.1\r\n\r\n")},
			gwMAC, macW1},
		{"server's next segment", 2, 2,
			tcpSeg{srcMAC: macPeer, dstMAC: macUp, src: natServer, dst: natPublic, sport: 80, dport: xport, seq: 7001, ack: 1019, ackf: true, ttl: 50, payload: []byte("HTTP/1.1 200 OK\r\n")},
			macUp, macPeer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.stats()
			h.send(tc.in, tc.g.frame(t))
			for p := range h.ports {
				got := h.out(p)
				if p == tc.back {
					expectFrames(t, "ingress port", got, unpad(resetFor(t, tc.g, tc.from, tc.to)))
				} else {
					expectFrames(t, "other port", got)
				}
			}
			after := h.stats()
			if after.NAT[nat.ReasonTCPNoStateReset] != before.NAT[nat.ReasonTCPNoStateReset]+1 ||
				after.Drops[ReasonConntrackReply] != before.Drops[ReasonConntrackReply]+1 {
				t.Errorf("nat tcp-no-state-reset %d -> %d, conntrack-reply drops %d -> %d; want one more of each (drops %v)",
					before.NAT[nat.ReasonTCPNoStateReset], after.NAT[nat.ReasonTCPNoStateReset],
					before.Drops[ReasonConntrackReply], after.Drops[ReasonConntrackReply], nonZero(after))
			}
			if n := c.NAT.Len(); n != 0 {
				t.Errorf("%d sessions in the new table, want 0", n)
			}
			checkFrames(t, h)
			checkConservation(t, after)
		})
	}

	// A RST from the workload is dropped, never answered.
	before := h.stats()
	h.send(0, tcpSeg{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: natServer, sport: 4000, dport: 80, seq: 1019, rst: true}.frame(t))
	for p := range h.ports {
		expectFrames(t, "after a RST", h.out(p))
	}
	if after := h.stats(); after.NAT[nat.ReasonTCPNotSYN] != before.NAT[nat.ReasonTCPNotSYN]+1 {
		t.Errorf("RST: tcp-not-syn %d -> %d, want one more", before.NAT[nat.ReasonTCPNotSYN], after.NAT[nat.ReasonTCPNotSYN])
	}

	// Refusing the segment and sending its RST allocates nothing.
	seg := tests[0].g.frame(t)
	if a := testing.AllocsPerRun(20, func() {
		clock.Advance(time.Second) // a fresh error budget
		h.ports[0].Inject(seg)
		for h.w.Step() > 0 {
		}
		for _, p := range h.ports {
			p.Drain(nil)
		}
	}); a != 0 {
		t.Errorf("a lost-session segment and its RST allocate %v times per packet, want 0", a)
	}
	checkFrames(t, h)
}
