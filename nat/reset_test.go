package nat

// Resets for lost state (reset.go): a mid-stream segment of a translated
// flow with no session is answered with the RST RFC 9293 section
// 3.10.7.1 gives a closed connection, from the address the sender was
// talking to; every answer is compared byte for byte with the one
// gopacket builds, so both checksums are proven, and decoded by gopacket.

import (
	"net"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// seg is a TCP segment with chosen sequence numbers.
type seg struct {
	src, dst string
	sp, dp   uint16
	flags    string // any of S A F R P
	seq, ack uint32
	payload  []byte
}

func (g seg) tcp() *layers.TCP {
	l := &layers.TCP{SrcPort: layers.TCPPort(g.sp), DstPort: layers.TCPPort(g.dp), Seq: g.seq, Ack: g.ack, Window: 512}
	for _, c := range g.flags {
		switch c {
		case 'S':
			l.SYN = true
		case 'A':
			l.ACK = true
		case 'F':
			l.FIN = true
		case 'R':
			l.RST = true
		case 'P':
			l.PSH = true
		}
	}
	return l
}

func (g seg) frame(t testing.TB) []byte {
	ipl, nl, et := ipLayer(g.src, g.dst, layers.IPProtocolTCP)
	l := g.tcp()
	l.SetNetworkLayerForChecksum(nl)
	return serialize(t, ethernet(et), ipl, l, gopacket.Payload(g.payload))
}

// rst is the bare IP packet of the RST gannet should send: from the
// segment's destination to its source, IPv4 with DF and ID 0 or IPv6,
// TTL / hop limit 64, no options, window zero.
func rst(t testing.TB, g seg, seq, ack uint32, withACK bool) []byte {
	s, d := net.ParseIP(g.dst), net.ParseIP(g.src)
	l := &layers.TCP{SrcPort: layers.TCPPort(g.dp), DstPort: layers.TCPPort(g.sp), Seq: seq, Ack: ack, RST: true, ACK: withACK}
	if s.To4() != nil {
		ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: s.To4(), DstIP: d.To4()}
		l.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, l)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s, DstIP: d}
	l.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, l)
}

func TestTCPNoStateReset(t *testing.T) {
	data := []byte("gannet-nat") // 10 bytes
	tests := []struct {
		name   string
		strict bool
		g      seg
		reason Reason // ReasonNone: forwarded (loose pickup)
		want   func(seg) []byte
	}{
		// RFC 9293 3.10.7.1: an incoming ACK gives the RST its sequence
		// number, and the RST carries no ACK.
		{"snat, ACK with data", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "PA", 1000, 0xdeadbeef, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0xdeadbeef, 0, false) }},
		{"snat, FIN-ACK", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "FA", 1000, 77, nil}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 77, 0, false) }},
		// Without an ACK: sequence zero, ACK = SEG.SEQ + SEG.LEN (the
		// payload, plus one for a FIN), modulo 2^32.
		{"snat, no flags with data", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "", 1000, 0, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0, 1010, true) }},
		{"snat, FIN with data", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "F", 1000, 0, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0, 1011, true) }},
		{"snat, FIN at the wrap", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "F", 0xffffffff, 0, nil}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0, 0, true) }},
		{"floating workload's source", false, seg{floatWl4, "198.51.100.1", 40000, 443, "A", 5, 9, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 9, 0, false) }},
		{"outside to a floating IP", false, seg{"198.51.100.1", floatPub4, 443, 40000, "A", 5, 9, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 9, 0, false) }},
		{"outside to an external address", false, seg{"198.51.100.1", "203.0.113.1", 443, 40000, "PA", 5, 9, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 9, 0, false) }},
		{"ipv6 snat, ACK", false, seg{"2001:db8:1::5", "2001:db8:2::1", 40000, 443, "A", 5, 0x80000000, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0x80000000, 0, false) }},
		{"ipv6 outside to a floating IP, FIN", false, seg{"2001:db8:2::1", floatPub6, 443, 40000, "F", 5, 0, data}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 0, 16, true) }},
		{"ipv6 outside to an external address", false, seg{"2001:db8:2::1", "2001:db8:ffff::1", 443, 40000, "A", 5, 6, nil}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 6, 0, false) }},
		{"strict, snat ACK", true, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "A", 1000, 3, nil}, ReasonTCPNoStateReset,
			func(g seg) []byte { return rst(t, g, 3, 0, false) }},

		// Never answered: a RST, a segment with SYN, an untranslated flow.
		{"snat, RST", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "R", 1000, 0, nil}, ReasonTCPNotSYN, nil},
		{"snat, RST-ACK", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "RA", 1000, 5, nil}, ReasonTCPNotSYN, nil},
		{"outside to an external address, RST", false, seg{"198.51.100.1", "203.0.113.1", 443, 40000, "R", 5, 0, nil}, ReasonTCPNotSYN, nil},
		{"snat, SYN-ACK", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "SA", 1000, 5, nil}, ReasonTCPNotSYN, nil},
		{"outside to an external address, SYN-ACK", false, seg{"198.51.100.1", "203.0.113.1", 443, 40000, "SA", 5, 6, nil}, ReasonTCPNotSYN, nil},
		{"snat, SYN-FIN", false, seg{"198.18.0.5", "198.51.100.1", 40000, 443, "SF", 1000, 0, nil}, ReasonTCPNotSYN, nil},
		{"untranslated, FIN-ACK", false, seg{"198.19.0.5", "198.51.100.1", 40000, 443, "FA", 1000, 5, nil}, ReasonTCPNotSYN, nil},
		{"strict, untranslated ACK", true, seg{"198.19.0.5", "198.51.100.1", 40000, 443, "A", 1000, 5, nil}, ReasonTCPNotSYN, nil},
		{"outside to a routed workload, FIN", false, seg{"198.51.100.1", "198.19.0.5", 443, 40000, "F", 1, 0, nil}, ReasonTCPNotSYN, nil},
		// Loose pickup still takes an untranslated mid-stream ACK.
		{"untranslated ACK picked up", false, seg{"198.19.0.5", "198.51.100.1", 40000, 443, "PA", 1000, 5, data}, ReasonNone, nil},
		{"ipv6 workload to workload ACK picked up", false, seg{"2001:db8:1::5", "2001:db8:1::6", 40000, 5432, "A", 1000, 5, nil}, ReasonNone, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.StrictTCPOpen = tc.strict
			h := newHarness(t, Config{}, p)
			fr := tc.g.frame(t)
			if tc.reason == ReasonNone {
				if r := h.send(fr, 0); r.Action != Forward || r.State != StateNew || r.Translated {
					t.Fatalf("Process(%+v) = %+v, want untranslated Forward New", tc.g, r)
				}
				if h.w.ResetsSent() != 0 || h.w.Drops(ReasonTCPNoStateReset) != 0 {
					t.Errorf("picked-up segment counted as reset")
				}
				return
			}
			r := h.expectDrop(fr, tc.reason)
			if n := h.tab.Len(); n != 0 {
				t.Errorf("%d sessions after a refused segment, want 0", n)
			}
			if tc.want == nil {
				if r.Action != Drop || h.w.ResetsSent() != 0 {
					t.Fatalf("Process(%+v) = %+v, %d resets; want a silent drop", tc.g, r, h.w.ResetsSent())
				}
				return
			}
			if r.Action != DropAndReply {
				t.Fatalf("Process(%+v) = %+v, want DropAndReply", tc.g, r)
			}
			got, want := h.w.Reply(), tc.want(tc.g)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RST differs from gopacket's (-want +got):\n%s", diff)
			}
			checkReset(t, fr, got)
			if h.w.ResetsSent() != 1 || h.w.Drops(ReasonTCPNoStateReset) != 1 || h.w.ErrorsSent() != 0 {
				t.Errorf("resets %d, tcp-no-state-reset drops %d, ICMP errors %d; want 1, 1, 0",
					h.w.ResetsSent(), h.w.Drops(ReasonTCPNoStateReset), h.w.ErrorsSent())
			}
		})
	}
}

// checkReset decodes the RST answering frame with gopacket and with pkt:
// it is a well-formed RST without SYN, its checksums verify, it goes back
// between the segment's endpoints and it is no larger than the segment.
func checkReset(t *testing.T, frame, reply []byte) {
	t.Helper()
	var in pkt.Summary
	if pkt.Parse(frame, &in) != pkt.OK {
		t.Fatalf("segment does not parse")
	}
	first := layers.LayerTypeIPv4
	if in.Family == pkt.FamilyIPv6 {
		first = layers.LayerTypeIPv6
	}
	p := gopacket.NewPacket(reply, first, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode the RST: %v", el.Error())
	}
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || !tcp.RST || tcp.SYN || tcp.FIN || len(tcp.Payload) != 0 || tcp.Window != 0 {
		t.Fatalf("answer is not a bare RST: %v", p)
	}
	var s pkt.Summary
	if v := pkt.ParseIP(reply, &s); v != pkt.OK {
		t.Fatalf("pkt.ParseIP(RST) = %v (%v)", v, s.Reason)
	}
	if !transportOK(reply, &s) {
		t.Errorf("RST's TCP checksum does not verify")
	}
	if s.Family == pkt.FamilyIPv4 && pkt.Checksum(reply[:s.L4Off], 0) != 0xffff {
		t.Errorf("RST's IPv4 header checksum does not verify")
	}
	if s.Src != in.Dst || s.Dst != in.Src || s.SrcPort != in.DstPort || s.DstPort != in.SrcPort {
		t.Errorf("RST %v:%d -> %v:%d does not answer %v:%d -> %v:%d", s.SrcAddr(), s.SrcPort, s.DstAddr(), s.DstPort,
			in.SrcAddr(), in.SrcPort, in.DstAddr(), in.DstPort)
	}
	if len(reply) > int(in.L3Len) {
		t.Errorf("RST of %d bytes answers a segment of %d", len(reply), in.L3Len)
	}
}

// TestTCPNoStateResetRateLimit: RSTs come out of the worker's ICMP error
// budget (ErrorsPerSecond), shared with the ICMP errors; every refused
// segment is counted whether or not it was answered.
func TestTCPNoStateResetRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rate        int
		icmp        int // table-full refusals first (an ICMP error each, budget permitting)
		want, after int // RSTs for 10 segments in one instant; for one more a second later
	}{
		{"3 per second", 3, 0, 3, 1},
		{"3 per second, 2 spent on ICMP errors", 3, 2, 1, 1},
		{"off", -1, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.ErrorsPerSecond = tc.rate
			h := newHarness(t, Config{Capacity: 1}, p)
			h.establish("198.18.7.1", 5000)
			for i := range tc.icmp {
				if r := h.send(out("udp", "198.18.7.9", uint16(6000+i), "198.51.100.1", 53).frame(t), 0); r.Action != DropAndReply {
					t.Fatalf("table-full refusal %d: %+v", i, r)
				}
			}
			resets := 0
			for i := range 10 {
				g := seg{"198.18.0.5", "198.51.100.1", uint16(40000 + i), 443, "A", 1, 2, nil}
				r := h.expectDrop(g.frame(t), ReasonTCPNoStateReset)
				if r.Action == DropAndReply {
					resets++
					checkReset(t, g.frame(t), h.w.Reply())
				}
			}
			if resets != tc.want || h.w.ResetsSent() != uint64(tc.want) {
				t.Errorf("%d RSTs (%d counted) to 10 segments in one instant, want %d", resets, h.w.ResetsSent(), tc.want)
			}
			h.advance(time.Second)
			r := h.expectDrop(seg{"198.18.0.5", "198.51.100.1", 50000, 443, "A", 1, 2, nil}.frame(t), ReasonTCPNoStateReset)
			if got := r.Action == DropAndReply; got != (tc.after == 1) {
				t.Errorf("after a second: %+v, want a reply %v", r, tc.after == 1)
			}
			if n := h.w.Drops(ReasonTCPNoStateReset); n != 11 {
				t.Errorf("Drops(tcp-no-state-reset) = %d, want 11", n)
			}
		})
	}
}

// TestTCPNoStateResetLostSession: an SNATed connection established
// through one table meets a new table (a restart that lost the sessions):
// the workload's next segment gets a RST that its own stack accepts (the
// sequence number it acknowledged), from the server it talks to; the
// server's next segment, to the external address and port, gets one from
// that address and port.
func TestTCPNoStateResetLostSession(t *testing.T) {
	old := newHarness(t, Config{}, testPolicy())
	f := out("tcp", "198.18.0.5", 40000, "198.51.100.1", 443)
	ext, port := old.sendOut(f)
	back := seg{"198.51.100.1", ext, 443, port, "SA", 5000, 101, nil}
	if r := old.send(back.frame(t), 0); r.State != StateEstablished {
		t.Fatalf("SYN-ACK: %+v", r)
	}

	h := newHarness(t, Config{}, testPolicy()) // the restart
	data := seg{"198.18.0.5", "198.51.100.1", 40000, 443, "PA", 101, 5001, []byte("GET / HTTP/1.1\r\n\r\n")}
	fr := data.frame(t)
	if r := h.expectDrop(fr, ReasonTCPNoStateReset); r.Action != DropAndReply {
		t.Fatalf("workload's segment after the restart: %+v, want a RST", r)
	}
	if diff := cmp.Diff(rst(t, data, 5001, 0, false), h.w.Reply()); diff != "" {
		t.Errorf("RST to the workload (-want +got):\n%s", diff)
	}
	checkReset(t, fr, h.w.Reply())

	h.advance(time.Second)
	more := seg{"198.51.100.1", ext, 443, port, "PA", 5001, 101, []byte("HTTP/1.1 200 OK\r\n")}
	fr = more.frame(t)
	if r := h.expectDrop(fr, ReasonTCPNoStateReset); r.Action != DropAndReply {
		t.Fatalf("server's segment after the restart: %+v, want a RST", r)
	}
	if diff := cmp.Diff(rst(t, more, 101, 0, false), h.w.Reply()); diff != "" {
		t.Errorf("RST to the server (-want +got):\n%s", diff)
	}
	if h.tab.Len() != 0 {
		t.Errorf("%d sessions, want 0", h.tab.Len())
	}
	// A new connection opens as ever.
	if r := h.send(out("tcp", "198.18.0.5", 40001, "198.51.100.1", 443).frame(t), 0); r.Action != Forward || r.State != StateNew {
		t.Errorf("new SYN after the RSTs: %+v", r)
	}
}

// TestQueryTCPNoStateReset: the packet trace's Query says the RST would
// be sent (DropAndReply, tcp-no-state-reset), or not when errors are off.
func TestQueryTCPNoStateReset(t *testing.T) {
	for _, rate := range []int{0, -1} {
		p := testPolicy()
		p.ErrorsPerSecond = rate
		h := newHarness(t, Config{}, p)
		for _, tc := range []struct {
			g    seg
			want Result
		}{
			{seg{"198.18.0.5", "198.51.100.1", 40000, 443, "A", 1, 2, nil}, Result{Action: DropAndReply, State: StateInvalid, Reason: ReasonTCPNoStateReset}},
			{seg{"198.51.100.1", "203.0.113.1", 443, 40000, "F", 1, 0, nil}, Result{Action: DropAndReply, State: StateInvalid, Reason: ReasonTCPNoStateReset}},
			{seg{"198.18.0.5", "198.51.100.1", 40000, 443, "R", 1, 0, nil}, Result{Action: Drop, State: StateInvalid, Reason: ReasonTCPNotSYN}},
		} {
			if rate < 0 && tc.want.Reason == ReasonTCPNoStateReset {
				tc.want.Action = Drop
			}
			fr := tc.g.frame(t)
			var s pkt.Summary
			pkt.Parse(fr, &s)
			q := h.tab.Query(append([]byte(nil), fr...), &s, 0)
			if q.Track.Action != Decide {
				t.Fatalf("Query(%+v).Track = %+v, want Decide", tc.g, q.Track)
			}
			if diff := cmp.Diff(tc.want, q.Commit); diff != "" {
				t.Errorf("rate %d: Query(%+v).Commit (-want +got):\n%s", rate, tc.g, diff)
			}
			if h.w.ResetsSent() != 0 || h.tab.Len() != 0 {
				t.Errorf("Query sent a reset or made a session")
			}
		}
	}
}

// TestTCPNoStateResetNotForBroadcast: a segment from or to an address
// that is not one host's is never answered.
func TestTCPNoStateResetNotForBroadcast(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	refused := 0
	for _, g := range []seg{
		{"198.18.0.5", "224.0.0.9", 40000, 443, "A", 1, 2, nil},
		{"198.18.0.5", "255.255.255.255", 40000, 443, "A", 1, 2, nil},
		{"198.18.0.5", "127.0.0.1", 40000, 443, "A", 1, 2, nil},
		{"224.0.0.9", "203.0.113.1", 443, 40000, "A", 1, 2, nil},
		{"240.0.0.1", floatPub4, 443, 40000, "A", 1, 2, nil},
		{"2001:db8:1::5", "ff02::1", 40000, 443, "A", 1, 2, nil},
		{"ff02::1", "2001:db8:ffff::1", 443, 40000, "A", 1, 2, nil},
	} {
		var s pkt.Summary
		fr := g.frame(t)
		if pkt.Parse(fr, &s) != pkt.OK {
			continue // the parser refuses it already
		}
		r := h.w.Process(fr, &s, 0)
		if r.Action == DropAndReply {
			t.Errorf("Process(%+v) = %+v, want no answer", g, r)
		}
		if r.Reason == ReasonTCPNotSYN {
			refused++
		}
	}
	if h.w.ResetsSent() != 0 || refused == 0 {
		t.Errorf("%d resets, %d refused as tcp-not-syn; want 0 resets and some refused", h.w.ResetsSent(), refused)
	}
}

// TestTCPNoStateResetZeroAlloc: refusing a segment and building its RST
// allocates nothing.
func TestTCPNoStateResetZeroAlloc(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	tmpl := seg{"198.18.0.5", "198.51.100.1", 40000, 443, "PA", 1, 2, []byte("data")}.frame(t)
	fr := make([]byte, len(tmpl))
	var s pkt.Summary
	if n := testing.AllocsPerRun(200, func() {
		copy(fr, tmpl)
		pkt.Parse(fr, &s)
		h.clock.Advance(time.Second)
		h.w.BeginBatch()
		if r := h.w.Process(fr, &s, 0); r.Action != DropAndReply {
			t.Fatalf("%+v", r)
		}
	}); n != 0 {
		t.Errorf("refusal with RST: %v allocations per run, want 0", n)
	}
}
