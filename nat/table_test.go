package nat

// Table behaviour under pressure and change: exhaustion and the ICMP
// answer to it, eviction, policy replacement with state carried over,
// amortized expiry, bad configuration and bad packets.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// established opens a UDP flow and answers it, making it established.
func (h *harness) establish(src string, sp uint16) flow {
	h.t.Helper()
	f := out("udp", src, sp, "198.51.100.1", 53)
	x, xp := h.sendOut(f)
	r := f.reply("")
	r.dst, r.dp = x, xp
	if res := h.send(r.frame(h.t), 0); res.State != StateEstablished {
		h.t.Fatalf("answer to %+v: %+v", f, res)
	}
	return f
}

// RFC 5508 REQ-8 and REQ-9, issue: no slot -> drop, ICMP administratively
// prohibited to the sender, rate-limited, counted; existing flows go on.
func TestExhaustion(t *testing.T) {
	h := newHarness(t, Config{Capacity: 4}, testPolicy())
	var flows []flow
	for i := range 4 {
		flows = append(flows, h.establish(fmt.Sprintf("198.18.7.%d", i+1), 5000))
	}
	f := out("udp", "198.18.7.9", 5000, "198.51.100.1", 53)
	r := h.expectDrop(f.frame(t), ReasonTableFull)
	if r.Action != DropAndReply {
		t.Fatalf("table full: %+v, want DropAndReply", r)
	}
	// The reply: IPv4 from the first external address to the sender,
	// type 3 code 13, quoting the refused packet.
	p := gopacket.NewPacket(h.w.Reply(), layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || ic == nil || p.ErrorLayer() != nil {
		t.Fatalf("reply does not decode: %v", p)
	}
	got := fmt.Sprintf("%v -> %v %v", ip.SrcIP, ip.DstIP, ic.TypeCode)
	if want := "203.0.113.0 -> 198.18.7.9 DestinationUnreachable(CommAdminProhibited)"; got != want {
		t.Errorf("reply %s, want %s", got, want)
	}
	if diff := cmp.Diff(f.ip(t), []byte(ic.Payload)); diff != "" {
		t.Errorf("quoted packet (-want +got):\n%s", diff)
	}
	if n := h.w.Drops(ReasonTableFull); n != 1 {
		t.Errorf("Drops(table-full) = %d, want 1", n)
	}
	// Existing flows keep working.
	for _, f := range flows {
		if r := h.send(f.frame(t), 0); r.State != StateEstablished {
			t.Errorf("existing flow %v: %+v", f.src, r)
		}
	}
}

func TestErrorRateLimit(t *testing.T) {
	for _, rate := range []int{3, -1} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			p := testPolicy()
			p.ErrorsPerSecond = rate
			h := newHarness(t, Config{Capacity: 1}, p)
			h.establish("198.18.7.1", 5000)
			replies := 0
			for i := range 10 {
				r := h.send(out("udp", "198.18.7.9", uint16(6000+i), "198.51.100.1", 53).frame(t), 0)
				if r.Action == DropAndReply {
					replies++
				}
			}
			want := max(rate, 0)
			if replies != want {
				t.Errorf("%d replies to 10 refused packets in one instant, want %d", replies, want)
			}
			h.advance(time.Second)
			r := h.send(out("udp", "198.18.7.9", 7000, "198.51.100.1", 53).frame(t), 0)
			if (r.Action == DropAndReply) != (rate > 0) {
				t.Errorf("after a second: %+v", r)
			}
			if n := h.w.Drops(ReasonTableFull); n != 11 {
				t.Errorf("Drops(table-full) = %d, want 11", n)
			}
		})
	}
}

func TestExhaustionIPv6Reply(t *testing.T) {
	h := newHarness(t, Config{MaxMappings: 1}, testPolicy())
	h.sendOut(out("udp", "2001:db8:1::1", 5000, "2001:db8:2::1", 53))
	f := out("udp", "2001:db8:1::2", 5000, "2001:db8:2::1", 53)
	if r := h.expectDrop(f.frame(t), ReasonMappingsFull); r.Action != DropAndReply {
		t.Fatalf("%+v, want DropAndReply", r)
	}
	p := gopacket.NewPacket(h.w.Reply(), layers.LayerTypeIPv6, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ip == nil || ic == nil {
		t.Fatalf("reply does not decode: %v", p)
	}
	got := fmt.Sprintf("%v -> %v %v", ip.SrcIP, ip.DstIP, ic.TypeCode)
	if want := "2001:db8:ffff:: -> 2001:db8:1::2 DestinationUnreachable(AdminProhibited)"; got != want {
		t.Errorf("reply %s, want %s", got, want)
	}
}

// When the table is full, flows that are not established go first.
func TestEvictionPrefersUnestablished(t *testing.T) {
	h := newHarness(t, Config{Capacity: 4}, testPolicy())
	a := h.establish("198.18.7.1", 5000)
	half := out("udp", "198.18.7.2", 5000, "198.51.100.1", 53)
	h.sendOut(half) // never answered
	b := h.establish("198.18.7.3", 5000)
	syn := out("tcp", "198.18.7.4", 5000, "198.51.100.1", 80)
	h.sendOut(syn) // SYN only
	for i, f := range []flow{out("udp", "198.18.7.5", 5000, "198.51.100.1", 53), out("udp", "198.18.7.6", 5000, "198.51.100.1", 53)} {
		if r := h.send(f.frame(t), 0); r.State != StateNew {
			t.Fatalf("new flow %d: %+v, want New after evicting", i, r)
		}
	}
	for _, f := range []flow{a, b} {
		if h.state(f) == 0 {
			t.Errorf("established flow %s evicted", f.src)
		}
	}
	if h.state(half) != 0 || h.state(syn) != 0 {
		t.Errorf("unestablished flows survived: %#x %#x", h.state(half), h.state(syn))
	}
}

// Replacing the policy keeps sessions and their translation; new flows
// follow the new policy. A bad policy changes nothing.
func TestPolicySwap(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
	x, xp := h.sendOut(f)
	in := flow{proto: "udp", src: "198.51.100.1", dst: floatPub4, sp: 1, dp: 2}
	h.send(in.frame(t), 0)

	p := testPolicy()
	p.External = []ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.128/32")}}
	p.Floating = nil
	if err := h.tab.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	bad := testPolicy()
	bad.External[0].PortMin = 9
	bad.External[0].PortMax = 8
	if err := h.tab.SetPolicy(bad); err == nil {
		t.Fatal("SetPolicy(bad) succeeded")
	}
	h.advance(time.Second)
	f.flags = "A"
	h.expectFwd(f.frame(t), natted(f, x, xp).frame(t), StateEstablished)
	want := in
	want.dst = floatWl4
	h.expectFwd(in.frame(t), want.frame(t), StateEstablished)
	if a, _ := h.sendOut(out("tcp", "198.18.1.2", 5000, "198.51.100.1", 80)); a != "203.0.113.128" {
		t.Errorf("new flow after the swap from %s, want 203.0.113.128", a)
	}
	in.sp = 99 // a new flow to the removed floating IP is not translated
	fr := in.frame(t)
	h.expectFwd(fr, in.frame(t), StateNew)
}

func TestPolicyValidation(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		edit func(p *Policy)
		want string
	}{
		{"unmasked pool", func(p *Policy) { p.Pools[0].Prefix = pfx("198.18.0.1/16") }, "Pools[0].Prefix"},
		{"port range", func(p *Policy) { p.External[0].PortMin, p.External[0].PortMax = 10, 5 }, "External[0] port range"},
		{"external in pool", func(p *Policy) { p.External = append(p.External, ExternalPool{Prefix: pfx("198.18.0.1/32")}) }, "inside a workload pool"},
		{"external twice", func(p *Policy) { p.External = append(p.External, ExternalPool{Prefix: pfx("203.0.113.1/32")}) }, "listed twice"},
		{"too many external", func(p *Policy) { p.External = []ExternalPool{{Prefix: pfx("10.0.0.0/8")}} }, "more than 4096"},
		{"floating families", func(p *Policy) { p.Floating[0].Public = addr("2001:db8::1") }, "Floating[0]"},
		{"floating public is external", func(p *Policy) { p.Floating[0].Public = addr("203.0.113.1") }, "external pool address"},
		{"floating public twice", func(p *Policy) { p.Floating[1].Public, p.Floating[1].Workload = addr(floatPub4), addr("198.18.9.9") }, "Floating[1].Public"},
		{"udp timeout too short", func(p *Policy) { p.Timeouts.UDP = time.Minute }, "Timeouts.UDP"},
		{"tcp established too short", func(p *Policy) { p.Timeouts.TCPEstablished = time.Hour }, "Timeouts.TCPEstablished"},
		{"icmp timeout too short", func(p *Policy) { p.Timeouts.ICMPQuery = 30 * time.Second }, "Timeouts.ICMPQuery"},
		{"filtering", func(p *Policy) { p.Filtering = 9 }, "Filtering"},
		{"error source family", func(p *Policy) { p.ErrorSource4 = addr("2001:db8::1") }, "ErrorSource4"},
		{"fragment timeout too short", func(p *Policy) { p.Timeouts.Fragment = time.Second / 2 }, "Timeouts.Fragment"},
		{"fragment timeout too long", func(p *Policy) { p.Timeouts.Fragment = 61 * time.Second }, "Timeouts.Fragment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			tc.edit(p)
			_, err := compile(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("compile() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	for _, cfg := range []Config{{Capacity: 0}, {Capacity: 1, MaxMappings: -1}, {Capacity: 1, SweepPerBatch: 5000}, {Capacity: 1, Fragments: -1}, {Capacity: 1, Fragments: MaxFragments + 1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// Bad packets are dropped with a reason and change nothing.
func TestBadPackets(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	good := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53).frame(t)
	tests := []struct {
		name string
		edit func(s *pkt.Summary)
		want Reason
	}{
		{"malformed verdict", func(s *pkt.Summary) { s.Verdict = pkt.Malformed }, ReasonMalformed},
		{"offsets beyond frame", func(s *pkt.Summary) { s.L3Len = 4000 }, ReasonMalformed},
		{"not ip", func(s *pkt.Summary) { s.Family = pkt.FamilyNone }, ReasonNotIP},
		{"non-first fragment", func(s *pkt.Summary) { s.Flags |= pkt.FlagFragment; s.FragOff = 8 }, ReasonFragment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := append([]byte(nil), good...)
			var s pkt.Summary
			pkt.Parse(fr, &s)
			tc.edit(&s)
			for _, r := range []Result{h.w.Track(fr, &s, 0), h.w.Commit(fr, &s, 0)} {
				if r.Action != Drop || r.Reason != tc.want {
					t.Errorf("%+v, want Drop %v", r, tc.want)
				}
			}
			if diff := cmp.Diff(good, fr); diff != "" {
				t.Errorf("frame changed (-want +got):\n%s", diff)
			}
		})
	}
	if n := h.tab.Len(); n != 0 {
		t.Errorf("%d sessions after bad packets", n)
	}
}

// Track reports a new flow without touching it; without Commit (policy
// said no) nothing is created.
func TestTrackThenCommit(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53)
	fr := f.frame(t)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	r := h.w.Track(fr, &s, 0)
	if r.Action != Decide || r.State != StateNew || r.Translated {
		t.Fatalf("Track(new) = %+v", r)
	}
	if diff := cmp.Diff(f.frame(t), fr); diff != "" {
		t.Fatalf("Track changed a new flow's frame (-want +got):\n%s", diff)
	}
	if h.tab.Len() != 0 {
		t.Fatalf("Track created a session")
	}
	r = h.w.Commit(fr, &s, 0)
	if r.Action != Forward || r.State != StateNew || !r.Translated || h.w.Created() != 1 {
		t.Fatalf("Commit = %+v, created %d", r, h.w.Created())
	}
	// Commit of a flow that exists already is just Established.
	fr2 := f.frame(t)
	pkt.Parse(fr2, &s)
	if r := h.w.Commit(fr2, &s, 0); r.State != StateEstablished || !r.Translated {
		t.Errorf("second Commit = %+v", r)
	}
}

// Expiry is amortized: each batch inspects SweepPerBatch slots.
func TestSweepAmortized(t *testing.T) {
	const n = 500
	p := testPolicy()
	h := newHarness(t, Config{Capacity: n, SweepPerBatch: 50}, p)
	for i := range n {
		h.sendOut(out("udp", fmt.Sprintf("198.18.%d.%d", 10+i/200, i%200+1), 5000, "198.51.100.1", 53))
	}
	h.advance(DefaultUDP + 2*time.Second) // one batch
	if got := h.tab.Len(); got < n-50 || got >= n {
		t.Fatalf("%d sessions after one batch, want between %d and %d", got, n-50, n-1)
	}
	for range n / 50 {
		h.w.BeginBatch()
	}
	if got := h.tab.Len(); got != 0 {
		t.Errorf("%d sessions after a full sweep, want 0", got)
	}
	if got := h.w.Expired(); got != n {
		t.Errorf("Expired() = %d, want %d", got, n)
	}
	for _, e := range h.w.snap.ext[0] {
		for w := range e.ports.used {
			for i := range e.ports.used[w] {
				if v := e.ports.used[w][i].Load(); v != 0 {
					t.Fatalf("port bitmap %d word %d = %#x after all mappings expired", w, i, v)
				}
			}
		}
	}
}

// RFC 4787 REQ-11: the same packets on the same seed give the same
// bytes, however full the table is.
func TestDeterministic(t *testing.T) {
	run := func() [][]byte {
		h := newHarness(t, Config{Capacity: 64}, testPolicy())
		var outs [][]byte
		for i := range 200 {
			f := out(protos[i%3], fmt.Sprintf("198.18.%d.%d", i%5, i%7+1), uint16(1000+i%11), "198.51.100.1", uint16(i%3))
			fr := f.frame(t)
			h.send(fr, 0)
			outs = append(outs, fr)
			if i%20 == 0 {
				h.advance(time.Minute)
			}
		}
		return outs
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("two runs differ (-first +second):\n%s", diff)
	}
}
