package nat

// Loose TCP pickup: a mid-stream ACK of a flow that needs no translation
// opens a session (as Linux's nf_conntrack_tcp_loose), so connections
// that predate gannet survive it; translated flows, other segments and
// StrictTCPOpen keep the RFC 6146 rule that only a SYN opens one (a
// translated flow's segment is answered with a RST: reset_test.go).

import (
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

func TestLooseTCPPickup(t *testing.T) {
	tests := []struct {
		name   string
		strict bool
		f      flow
		want   Reason // ReasonNone: picked up
	}{
		{"routed workload to outside, ACK", false, flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "A"}, ReasonNone},
		{"outside to routed workload, ACK", false, flow{proto: "tcp", src: "198.51.100.1", dst: "198.19.0.5", sp: 443, dp: 40000, flags: "A"}, ReasonNone},
		{"workload to workload, ACK", false, flow{proto: "tcp", src: "198.18.0.5", dst: "198.18.0.6", sp: 40000, dp: 5432, flags: "A"}, ReasonNone},
		{"v6 workload to workload, ACK", false, flow{proto: "tcp", src: "2001:db8:1::5", dst: "2001:db8:1::6", sp: 40000, dp: 5432, flags: "A"}, ReasonNone},
		{"needs source NAT", false, flow{proto: "tcp", src: "198.18.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "A"}, ReasonTCPNoStateReset},
		{"floating workload's source", false, flow{proto: "tcp", src: floatWl4, dst: "198.51.100.1", sp: 40000, dp: 443, flags: "A"}, ReasonTCPNoStateReset},
		{"to a floating IP", false, flow{proto: "tcp", src: "198.51.100.1", dst: floatPub4, sp: 443, dp: 40000, flags: "A"}, ReasonTCPNoStateReset},
		{"to an external address", false, flow{proto: "tcp", src: "198.51.100.1", dst: "203.0.113.1", sp: 443, dp: 40000, flags: "A"}, ReasonTCPNoStateReset},
		{"FIN", false, flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "FA"}, ReasonTCPNotSYN},
		{"RST", false, flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "R"}, ReasonTCPNotSYN},
		{"SYN-ACK", false, flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "SA"}, ReasonTCPNotSYN},
		{"strict: ACK", true, flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "A"}, ReasonTCPNotSYN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.StrictTCPOpen = tc.strict
			h := newHarness(t, Config{}, p)
			if tc.want != ReasonNone {
				h.expectDrop(tc.f.frame(t), tc.want)
				if n := h.tab.Len(); n != 0 {
					t.Errorf("%d sessions, want 0", n)
				}
				if err := h.tab.checkInvariants(); err != nil {
					t.Error(err)
				}
				return
			}
			fr := tc.f.frame(t)
			var s pkt.Summary
			pkt.Parse(fr, &s)
			// Track reports it New: policy decides as for a SYN.
			if r := h.w.Track(fr, &s, 0); r.Action != Decide || r.State != StateNew {
				t.Fatalf("Track(mid-stream ACK) = %+v, want Decide New", r)
			}
			orig := string(fr)
			if r := h.w.Commit(fr, &s, 0); r.Action != Forward || r.State != StateNew || r.Translated {
				t.Fatalf("Commit(mid-stream ACK) = %+v, want untranslated Forward New", r)
			}
			if string(fr) != orig {
				t.Fatal("picked-up segment changed")
			}
			// Transitory until the other side answers.
			if st := h.state(tc.f); st&stLoose == 0 || st&stSynReply != 0 || established(st) {
				t.Errorf("state %#x after pickup, want loose and not established", st)
			}
			f := tc.f
			r := h.send(f.frame(t), 0)
			if r.State != StateEstablished || r.Dir != Original {
				t.Errorf("next segment: %+v, want Established original", r)
			}
			back := f.reply("A")
			if r := h.send(back.frame(t), 0); r.State != StateEstablished || r.Dir != Reply || r.Translated {
				t.Errorf("answer: %+v, want untranslated Established reply", r)
			}
			if st := h.state(tc.f); st&stSynReply == 0 || !established(st) {
				t.Errorf("state %#x after the answer, want established", st)
			}
			// Established now: the long timer.
			h.advance(DefaultTCPTransitory + time.Minute)
			if h.state(tc.f) == 0 {
				t.Error("answered picked-up session expired on the transitory timer")
			}
		})
	}
}

// A picked-up session nobody answers expires on the transitory timer and
// is evicted first when the table is full: a flood of ACKs costs no
// more than a flood of SYNs.
func TestLoosePickupUnanswered(t *testing.T) {
	h := newHarness(t, Config{Capacity: 2}, testPolicy())
	a := flow{proto: "tcp", src: "198.19.0.5", dst: "198.51.100.1", sp: 40000, dp: 443, flags: "A"}
	h.send(a.frame(t), 0)
	h.establish("198.18.7.1", 5000)
	// Full: a new SYN flow evicts the unanswered pickup, not the
	// established flow.
	syn := out("tcp", "198.19.0.6", 40001, "198.51.100.1", 443)
	if r := h.send(syn.frame(t), 0); r.Action != Forward {
		t.Fatalf("SYN with the table full of an unanswered pickup: %+v", r)
	}
	if h.state(a) != 0 {
		t.Error("unanswered pickup survived eviction")
	}
	h2 := newHarness(t, Config{}, testPolicy())
	h2.send(a.frame(t), 0)
	h2.advance(DefaultTCPTransitory + 2*time.Second)
	if h2.state(a) != 0 {
		t.Error("unanswered pickup alive after the transitory timer")
	}
}
