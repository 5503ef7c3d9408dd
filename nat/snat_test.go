package nat

// Source NAT, floating IPs and their RFC 4787 / RFC 5382 behaviour, one
// test per requirement, each over TCP, UDP and ICMP echo where it applies.

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

// protos are the transports the mapping tests run over.
var protos = []string{"tcp", "udp", "ping"}

func syn(proto string) string {
	if proto == "tcp" {
		return "S"
	}
	return ""
}

// out is an outbound flow from internal endpoint src:sp to dst:dp.
func out(proto, src string, sp uint16, dst string, dp uint16) flow {
	f := flow{proto: proto, src: src, dst: dst, sp: sp, dp: dp, flags: syn(proto)}
	if proto == "ping" {
		f.dp = 0
	}
	return f
}

// natted is f with its source translated to src:sp.
func natted(f flow, src string, sp uint16) flow {
	f.src, f.sp = src, sp
	return f
}

// sendOut sends f outbound and returns the external endpoint it got.
func (h *harness) sendOut(f flow) (string, uint16) {
	h.t.Helper()
	fr := f.frame(h.t)
	r := h.send(fr, 0)
	if r.Action != Forward {
		h.t.Fatalf("outbound %+v: %+v, want Forward", f, r)
	}
	var s pkt.Summary
	pkt.Parse(fr, &s)
	if s.Dst != mustSummaryAddr(f.dst) {
		h.t.Fatalf("outbound %+v: destination changed to %v", f, s.DstAddr())
	}
	if f.proto == "ping" {
		return s.SrcAddr().String(), s.ICMPID
	}
	return s.SrcAddr().String(), s.SrcPort
}

func mustSummaryAddr(a string) [16]byte {
	_, b := famAddr(netip.MustParseAddr(a))
	return b
}

func TestNATOutgoingScope(t *testing.T) {
	tests := []struct {
		name    string
		f       flow
		wantSrc string
	}{
		{"nat pool to outside", out("udp", "198.18.1.1", 4000, "198.51.100.7", 53), "203.0.113.x"},
		{"nat pool to routed pool", out("udp", "198.18.1.1", 4000, "198.19.0.9", 53), "198.18.1.1"},
		{"nat pool to own pool", out("udp", "198.18.1.1", 4000, "198.18.0.9", 53), "198.18.1.1"},
		{"routed pool to outside", out("udp", "198.19.1.1", 4000, "198.51.100.7", 53), "198.19.1.1"},
		{"outside to outside", out("udp", "198.51.100.8", 4000, "198.51.100.7", 53), "198.51.100.8"},
		{"nat pool v6 to outside", out("udp", "2001:db8:1::1", 4000, "2001:db8:2::7", 53), "2001:db8:ffff::x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			src, port := h.sendOut(tc.f)
			got := src
			if a := netip.MustParseAddr(src); ext4.Contains(a) {
				got = "203.0.113.x"
			} else if ext6.Contains(a) {
				got = "2001:db8:ffff::x"
			}
			if got != tc.wantSrc || port != 4000 {
				t.Errorf("source %s:%d, want %s:4000", src, port, tc.wantSrc)
			}
		})
	}
}

// RFC 4787 REQ-1, RFC 5382 REQ-1, RFC 5508 REQ-1 a: one internal
// endpoint keeps its external endpoint whatever the destination.
func TestEndpointIndependentMapping(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			s1, p1 := h.sendOut(out(proto, "198.18.1.1", 5555, "198.51.100.1", 80))
			s2, p2 := h.sendOut(out(proto, "198.18.1.1", 5555, "198.51.100.2", 443))
			s3, p3 := h.sendOut(out(proto, "198.18.1.1", 5555, "198.51.100.1", 8080))
			if s1 != s2 || s1 != s3 || p1 != p2 || p1 != p3 {
				t.Errorf("mappings %s:%d, %s:%d, %s:%d; want one external endpoint", s1, p1, s2, p2, s3, p3)
			}
		})
	}
}

// RFC 7857 section 5: the mapping of one protocol does not constrain
// another. Another host holds TCP port 5555 on the address; UDP from our
// host still keeps 5555.
func TestMappingProtocolIndependent(t *testing.T) {
	p := testPolicy()
	p.External = []ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.1/32")}}
	h := newHarness(t, Config{}, p)
	_, pt := h.sendOut(out("tcp", "198.18.1.2", 5555, "198.51.100.1", 80))
	_, pu := h.sendOut(out("udp", "198.18.1.1", 5555, "198.51.100.1", 80))
	_, pt2 := h.sendOut(out("tcp", "198.18.1.1", 5555, "198.51.100.1", 80))
	if pt != 5555 || pu != 5555 || pt2 == 5555 {
		t.Errorf("ports tcp(host2)=%d udp(host1)=%d tcp(host1)=%d, want 5555 5555 and not 5555", pt, pu, pt2)
	}
}

// RFC 4787 REQ-2, RFC 7857 section 4: paired address pooling for every
// protocol and every port of one internal address.
func TestPairedPooling(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	used := map[string]bool{}
	for host := 1; host <= 32; host++ {
		src := fmt.Sprintf("198.18.2.%d", host)
		var first string
		for i, proto := range protos {
			for port := uint16(1000); port < 1003; port++ {
				a, _ := h.sendOut(out(proto, src, port+uint16(i)*100, "198.51.100.1", 80))
				if first == "" {
					first = a
				}
				if a != first {
					t.Fatalf("%s %s:%d mapped to %s, earlier ports of the host to %s", proto, src, port, a, first)
				}
			}
		}
		used[first] = true
	}
	if len(used) < 2 {
		t.Errorf("32 hosts all paired with %v: the pool is not spread", used)
	}
}

// RFC 4787 REQ-3, RFC 5382 REQ-7: no port overloading; RFC 4787 REQ-4:
// port parity; port preservation when free.
func TestPortAssignment(t *testing.T) {
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			p := testPolicy()
			p.External = []ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.1/32"), PortMin: 2000, PortMax: 2009}}
			h := newHarness(t, Config{}, p)
			seen := map[uint16]string{}
			for host := 1; host <= 10; host++ {
				src := fmt.Sprintf("198.18.3.%d", host)
				want := uint16(2003 + host%2*0) // everybody asks for 2003
				_, port := h.sendOut(out(proto, src, want, "198.51.100.1", 80))
				if other, dup := seen[port]; dup {
					t.Fatalf("%s and %s share external port %d", other, src, port)
				}
				seen[port] = src
				switch {
				case host == 1 && port != want:
					t.Errorf("first host got %d, want its own port %d preserved", port, want)
				case host <= 5 && port%2 != want%2:
					t.Errorf("host %d got %d, want the parity of %d while such ports are free", host, port, want)
				}
			}
			if len(seen) != 10 {
				t.Errorf("%d distinct ports for 10 hosts", len(seen))
			}
			r := h.expectDrop(out(proto, "198.18.3.99", 2003, "198.51.100.1", 80).frame(t), ReasonPortsExhausted)
			if r.Action != DropAndReply {
				t.Errorf("exhaustion: %+v, want DropAndReply", r)
			}
		})
	}
}

// RFC 4787 REQ-3 a: a port below 1024 maps below 1024 when the range
// allows; RFC 7857 section 9: the relocated port is not simply the next.
func TestPortClassAndRandomization(t *testing.T) {
	p := testPolicy()
	p.External = []ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.1/32"), PortMin: 1, PortMax: 65535}}
	h := newHarness(t, Config{}, p)
	if _, port := h.sendOut(out("udp", "198.18.4.1", 123, "198.51.100.1", 123)); port != 123 {
		t.Errorf("first privileged port %d, want 123", port)
	}
	_, port := h.sendOut(out("udp", "198.18.4.2", 123, "198.51.100.1", 123))
	if port >= 1024 || port == 123 || port%2 != 1 {
		t.Errorf("relocated privileged port %d, want another odd port below 1024", port)
	}
	_, hi := h.sendOut(out("udp", "198.18.4.1", 40000, "198.51.100.1", 123))
	_, hi2 := h.sendOut(out("udp", "198.18.4.2", 40000, "198.51.100.1", 123))
	if hi != 40000 || hi2 < 1024 || hi2 == 40002 || hi2 == 40000 || hi2%2 != 0 {
		t.Errorf("ports %d, %d: want 40000, then an even port >= 1024 that is not the next even one", hi, hi2)
	}
	// The same seed and packets give the same port; another seed another.
	for seed, same := range map[uint64]bool{42: true, 7: false} {
		h2 := newHarness(t, Config{Seed: seed}, p)
		h2.sendOut(out("udp", "198.18.4.1", 40000, "198.51.100.1", 123))
		_, got := h2.sendOut(out("udp", "198.18.4.2", 40000, "198.51.100.1", 123))
		if (got == hi2) != same {
			t.Errorf("seed %d: relocated port %d, seed 42 gave %d; same=%v wanted", seed, got, hi2, same)
		}
	}
}

// RFC 4787 REQ-8, RFC 5382 REQ-3, RFC 7857 section 6: endpoint-
// independent or address-dependent filtering, per protocol.
func TestFiltering(t *testing.T) {
	tests := []struct {
		filter   Filtering
		from     string
		fromPort uint16
		want     Reason
	}{
		{EndpointIndependent, "198.51.100.1", 80, ReasonNone},
		{EndpointIndependent, "198.51.100.1", 81, ReasonNone},
		{EndpointIndependent, "198.51.100.2", 80, ReasonNone},
		{AddressDependent, "198.51.100.1", 80, ReasonNone},
		{AddressDependent, "198.51.100.1", 81, ReasonNone},
		{AddressDependent, "198.51.100.2", 80, ReasonFiltered},
	}
	for _, proto := range []string{"tcp", "udp"} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%v/%s:%d", proto, tc.filter, tc.from, tc.fromPort), func(t *testing.T) {
				p := testPolicy()
				p.Filtering = tc.filter
				h := newHarness(t, Config{}, p)
				f := out(proto, "198.18.1.1", 5000, "198.51.100.1", 80)
				x, xp := h.sendOut(f)
				in := flow{proto: proto, src: tc.from, dst: x, sp: tc.fromPort, dp: xp, flags: syn(proto)}
				fr := in.frame(t)
				if tc.want != ReasonNone {
					h.expectDrop(fr, tc.want)
					return
				}
				want := in
				want.dst, want.dp = "198.18.1.1", 5000
				if tc.fromPort == 80 && tc.from == "198.51.100.1" {
					h.expectFwd(fr, want.frame(t), StateEstablished) // the reply of the session
					return
				}
				h.expectFwd(fr, want.frame(t), StateNew)
				// The other protocol has no mapping there (RFC 7857 6).
				other := "udp"
				if proto == "udp" {
					other = "tcp"
				}
				in.proto, in.flags = other, syn(other)
				h.expectDrop(in.frame(t), ReasonNoMapping)
			})
		}
	}
}

// RFC 5382 REQ-4: an unsolicited inbound SYN is dropped silently, and an
// outbound SYN afterwards still opens the connection.
func TestUnsolicitedSYN(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	r := h.expectDrop(flow{proto: "tcp", src: "198.51.100.1", dst: "203.0.113.1", sp: 80, dp: 5000, flags: "S"}.frame(t), ReasonNoMapping)
	if r.Action != Drop || h.w.ErrorsSent() != 0 {
		t.Errorf("unsolicited SYN: %+v, %d errors sent; want a silent drop", r, h.w.ErrorsSent())
	}
	h.sendOut(out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80))
}

// RFC 5382 REQ-2: simultaneous open and externally initiated connections.
func TestTCPSimultaneousOpen(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
	x, xp := h.sendOut(f)
	// The peer's own SYN crosses ours, then both SYN-ACK.
	in := flow{proto: "tcp", src: "198.51.100.1", dst: x, sp: 80, dp: xp, flags: "S"}
	want := in
	want.dst, want.dp = "198.18.1.1", 5000
	r := h.expectFwd(in.frame(t), want.frame(t), StateEstablished)
	if r.Dir != Reply {
		t.Errorf("peer SYN dir %v, want Reply", r.Dir)
	}
	f.flags = "SA"
	h.expectFwd(f.frame(t), natted(f, x, xp).frame(t), StateEstablished)
	in.flags, want.flags = "SA", "SA"
	h.expectFwd(in.frame(t), want.frame(t), StateEstablished)
	if st := h.state(f); st&stSynReply == 0 {
		t.Errorf("state %#x after simultaneous open, want established", st)
	}
}

// state returns the state bits of the live session of outbound flow f,
// zero if there is none.
func (h *harness) state(f flow) uint32 {
	h.t.Helper()
	var s pkt.Summary
	pkt.Parse(f.frame(h.t), &s)
	var k key
	keyOf(&s, 0, &k)
	var ht hit
	if !h.tab.lookup(&k, k.hash(h.tab.s0, h.tab.s1), &ht) || expired(ht.ctl, ht.seen, h.w.now, &h.w.snap.tm) {
		return 0
	}
	return uint32(ht.ctl)
}

// RFC 4787 REQ-9, RFC 5382 REQ-8: hairpinning with the external source
// address and port, both ways.
func TestHairpinning(t *testing.T) {
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			xb, xbp := h.sendOut(out(proto, "198.18.9.2", 7000, "198.51.100.1", 80)) // B's mapping
			xa, xap := h.sendOut(out(proto, "198.18.9.1", 6000, "198.51.100.1", 80)) // A's mapping
			// A sends to B's external endpoint.
			ab := out(proto, "198.18.9.1", 6000, xb, xbp)
			want := flow{proto: proto, src: xa, sp: xap, dst: "198.18.9.2", dp: 7000, flags: ab.flags}
			h.expectFwd(ab.frame(t), want.frame(t), StateNew)
			// B answers A's external endpoint.
			ba := flow{proto: proto, src: "198.18.9.2", sp: 7000, dst: xa, dp: xap, flags: "SA"}
			wantBack := flow{proto: proto, src: xb, sp: xbp, dst: "198.18.9.1", dp: 6000, flags: "SA"}
			if proto == "udp" {
				ba.flags, wantBack.flags = "", ""
			}
			h.expectFwd(ba.frame(t), wantBack.frame(t), StateEstablished)
		})
	}
}

// Floating IPs: 1:1 both ways, any protocol, both families.
func TestFloatingIP(t *testing.T) {
	for _, fam := range []struct{ pub, wl, remote string }{
		{floatPub4, floatWl4, "198.51.100.20"},
		{floatPub6, floatWl6, "2001:db8:2::20"},
	} {
		for _, proto := range protos {
			t.Run(proto+"/"+fam.pub, func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				// Inbound to the public address.
				in := flow{proto: proto, src: fam.remote, dst: fam.pub, sp: 33000, dp: 22, flags: syn(proto)}
				if proto == "ping" {
					in.dp = 0
				}
				want := in
				want.dst = fam.wl
				r := h.expectFwd(in.frame(t), want.frame(t), StateNew)
				if r.Space != 0 || !r.Translated {
					t.Errorf("inbound: %+v", r)
				}
				back := want.reply("SA")
				wantBack := in.reply("SA")
				h.expectFwd(back.frame(t), wantBack.frame(t), StateEstablished)
				// Outbound from the workload leaves as the public address,
				// port kept.
				o := out(proto, fam.wl, 41000, fam.remote, 443)
				h.expectFwd(o.frame(t), natted(o, fam.pub, 41000).frame(t), StateNew)
			})
		}
	}
}

// A floating IP's workload sending to its own public address is
// hairpinned: both addresses are translated (source to the public
// address, destination to the workload). With different ports the
// reply is a distinct flow; with equal ports the reply key would equal
// the original key, so the flow is refused (tuple-conflict) instead of
// entering the index twice under one key, and the table stays sound.
func TestFloatingIPToItself(t *testing.T) {
	for _, fam := range []struct{ pub, wl string }{{floatPub4, floatWl4}, {floatPub6, floatWl6}} {
		for _, proto := range []string{"tcp", "udp"} {
			t.Run(proto+"/"+fam.pub, func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				diff := flow{proto: proto, src: fam.wl, sp: 5000, dst: fam.pub, dp: 6000, flags: syn(proto)}
				want := flow{proto: proto, src: fam.pub, sp: 5000, dst: fam.wl, dp: 6000, flags: syn(proto)}
				h.expectFwd(diff.frame(t), want.frame(t), StateNew)
				same := flow{proto: proto, src: fam.wl, sp: 7000, dst: fam.pub, dp: 7000, flags: syn(proto)}
				h.expectDrop(same.frame(t), ReasonTupleConflict)
				if err := h.tab.checkInvariants(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// RFC 4787 REQ-5, RFC 5382 REQ-5, RFC 5508 REQ-2: idle timers, default
// and configured.
func TestIdleTimers(t *testing.T) {
	tests := []struct {
		name  string
		f     flow
		reply string // TCP flags of one answer, "-" for none
		tm    Timeouts
		alive time.Duration
	}{
		{"udp default", out("udp", "198.18.1.1", 5000, "198.51.100.1", 53), "", Timeouts{}, DefaultUDP},
		{"udp configured", out("udp", "198.18.1.1", 5000, "198.51.100.1", 53), "", Timeouts{UDP: 10 * time.Minute}, 10 * time.Minute},
		{"tcp syn only", out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80), "-", Timeouts{}, DefaultTCPTransitory},
		{"tcp established", out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80), "SA", Timeouts{}, DefaultTCPEstablished},
		{"tcp established configured", out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80), "SA", Timeouts{TCPEstablished: 3 * time.Hour}, 3 * time.Hour},
		{"tcp transitory configured", out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80), "-", Timeouts{TCPTransitory: 30 * time.Second}, 30 * time.Second},
		{"tcp rst hold", out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80), "R", Timeouts{}, DefaultTCPRstHold},
		{"icmp query default", out("ping", "198.18.1.1", 77, "198.51.100.1", 0), "", Timeouts{}, DefaultICMPQuery},
		{"icmp query configured", out("ping", "198.18.1.1", 77, "198.51.100.1", 0), "", Timeouts{ICMPQuery: 2 * time.Minute}, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.Timeouts = tc.tm
			h := newHarness(t, Config{}, p)
			x, xp := h.sendOut(tc.f)
			if tc.reply != "-" {
				r := tc.f.reply(tc.reply)
				r.dst, r.dp = x, xp
				if tc.f.proto == "ping" {
					r.dp, r.sp = xp, 0
					r.sp = xp
				}
				h.send(r.frame(t), 0)
			}
			h.advance(tc.alive)
			if h.state(tc.f) == 0 {
				t.Fatalf("session gone after %v idle, want alive", tc.alive)
			}
			h.advance(2 * time.Second)
			if st := h.state(tc.f); st != 0 {
				t.Fatalf("session alive (state %#x) after %v idle, want expired", st, tc.alive+2*time.Second)
			}
			// The mapping went with the session: the port is free again.
			for range 64 {
				h.w.BeginBatch()
			}
			if n := h.tab.Len(); n != 0 {
				t.Errorf("%d sessions after expiry sweeps, want 0", n)
			}
			if got := len(h.tab.maps.free); got != cap(h.tab.maps.free) {
				t.Errorf("%d of %d mappings free after expiry", got, cap(h.tab.maps.free))
			}
		})
	}
}

// RFC 4787 REQ-6: outbound packets refresh; inbound ones too unless
// OutboundRefreshOnly. RFC 7857 section 7: filtered inbound packets
// never refresh.
func TestRefresh(t *testing.T) {
	for _, outOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("outboundOnly=%v", outOnly), func(t *testing.T) {
			p := testPolicy()
			p.OutboundRefreshOnly = outOnly
			p.Filtering = AddressDependent
			h := newHarness(t, Config{}, p)
			f := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53)
			x, xp := h.sendOut(f)
			in := f.reply("")
			in.dst, in.dp = x, xp
			for range 3 {
				h.advance(4 * time.Minute)
				h.send(in.frame(t), 0)
				// Filtered probes from elsewhere do not count.
				stranger := in
				stranger.src = "198.51.100.66"
				h.send(stranger.frame(t), 0)
			}
			h.advance(2 * time.Minute) // 14 min after the only outbound packet
			if alive := h.state(f) != 0; alive == outOnly {
				t.Errorf("session alive=%v, want %v", alive, !outOnly)
			}
			h.sendOut(f)
			h.advance(DefaultUDP)
			if h.state(f) == 0 {
				t.Errorf("outbound packet did not refresh the session")
			}
		})
	}
}

func TestTCPStates(t *testing.T) {
	type step struct {
		dir   Dir
		flags string
		after time.Duration // idle before the packet
	}
	tests := []struct {
		name  string
		steps []step
		timer time.Duration // what the session must survive after the last step
	}{
		{"handshake", []step{{Reply, "SA", 0}, {Original, "A", 0}}, DefaultTCPEstablished},
		{"fin one side", []step{{Reply, "SA", 0}, {Original, "FA", 0}}, DefaultTCPEstablished},
		{"fin both", []step{{Reply, "SA", 0}, {Original, "FA", 0}, {Reply, "FA", 0}}, DefaultTCPTransitory},
		{"rst holds", []step{{Reply, "SA", 0}, {Original, "R", 0}}, DefaultTCPRstHold},
		{"rst from peer", []step{{Reply, "R", 0}}, DefaultTCPRstHold},
		{"after rst, data reopens", []step{{Reply, "SA", 0}, {Reply, "R", 0}, {Original, "A", time.Minute}}, DefaultTCPEstablished},
		{"rst does not refresh", []step{{Reply, "SA", 0}, {Original, "A", 0}, {Original, "R", time.Hour}}, DefaultTCPRstHold},
		{"new syn after close", []step{{Reply, "SA", 0}, {Original, "FA", 0}, {Reply, "FA", 0}, {Original, "S", 0}}, DefaultTCPTransitory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
			x, xp := h.sendOut(f)
			lastRefresh := time.Duration(0)
			now := time.Duration(0)
			for _, st := range tc.steps {
				h.advance(st.after)
				now += st.after
				var fr flow
				if st.dir == Original {
					fr = f
					fr.flags = st.flags
				} else {
					fr = f.reply(st.flags)
					fr.dst, fr.dp = x, xp
				}
				r := h.send(fr.frame(t), 0)
				if r.State != StateEstablished || r.Dir != st.dir {
					t.Fatalf("step %+v: %+v", st, r)
				}
				if st.flags != "R" {
					lastRefresh = now
				}
			}
			left := tc.timer - (now - lastRefresh)
			h.advance(left)
			if h.state(f) == 0 {
				t.Fatalf("gone %v after the last refresh, want alive for %v", now-lastRefresh+left, tc.timer)
			}
			h.advance(2 * time.Second)
			if h.state(f) != 0 {
				t.Fatalf("alive %v after the last refresh, want expired after %v", tc.timer+2*time.Second, tc.timer)
			}
		})
	}
}

// A TCP segment or ICMP reply of no known flow never creates state
// (TCP: with StrictTCPOpen; TestLooseTCPPickup has the default).
func TestNoStateFromStrays(t *testing.T) {
	p := testPolicy()
	p.StrictTCPOpen = true
	h := newHarness(t, Config{}, p)
	h.expectDrop(out("tcp", "198.19.1.1", 5000, "198.51.100.1", 80).reply("A").frame(t), ReasonTCPNotSYN)
	// Into the natOutgoing pool from outside, a stray is refused before
	// any TCP rule (TestNonRoutableInbound).
	h.expectDrop(out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80).reply("A").frame(t), ReasonNonRoutable)
	f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
	f.flags = "A"
	h.expectDrop(f.frame(t), ReasonTCPNoStateReset) // source NAT: answered with a RST (reset_test.go)
	f.flags = "R"
	h.expectDrop(f.frame(t), ReasonTCPNotSYN)
	h.expectDrop(flow{proto: "pong", src: "198.18.1.1", dst: "198.51.100.1", sp: 9}.frame(t), ReasonICMPNotRequest)
	h.expectDrop(flow{proto: "udp", src: "198.18.1.1", dst: "198.18.1.1", sp: 9, dp: 9}.frame(t), ReasonLand)
	if n := h.tab.Len(); n != 0 {
		t.Errorf("%d sessions, want 0", n)
	}
}

// RFC 7857 section 2.1: the closing timer is configured apart from the
// opening one.
func TestTCPClosingTimer(t *testing.T) {
	p := testPolicy()
	p.Timeouts.TCPTransitory = 10 * time.Minute
	p.Timeouts.TCPClosing = 30 * time.Second
	h := newHarness(t, Config{}, p)
	f := out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80)
	x, xp := h.sendOut(f)
	rep := f.reply("SA")
	rep.dst, rep.dp = x, xp
	h.send(rep.frame(t), 0)
	f.flags, rep.flags = "FA", "FA"
	h.send(f.frame(t), 0)
	h.send(rep.frame(t), 0)
	h.advance(30 * time.Second)
	if h.state(f) == 0 {
		t.Fatal("closed session gone before TCPClosing")
	}
	h.advance(2 * time.Second)
	if h.state(f) != 0 {
		t.Fatal("closed session alive after TCPClosing")
	}
	g := out("tcp", "198.18.1.2", 5000, "198.51.100.1", 80)
	h.sendOut(g)
	h.advance(9 * time.Minute)
	if h.state(g) == 0 {
		t.Fatal("opening session gone before TCPTransitory")
	}
}
