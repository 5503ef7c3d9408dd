package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

// TestQueryMatchesCommit: over random packets on a border (source NAT,
// floating IPs, inbound through mappings, filtering, loose pickup), Query
// on a copy of each packet says what Track and Commit then do with it —
// action, state, reason, space and the translated bytes — and leaves the
// table as it was.
func TestQueryMatchesCommit(t *testing.T) {
	inside := []string{"198.18.0.1", "198.18.0.2", floatWl4, "198.19.0.1"}
	outside := []string{"192.0.2.20", "192.0.2.30", floatPub4, "203.0.113.1", "203.0.113.1"}
	inside6 := []string{"2001:db8:1::1", floatWl6}
	outside6 := []string{"2001:db8:9::1", floatPub6, "2001:db8:ffff::1"}
	ports := []uint16{80, 1000, 1001, 1024, 2000}
	flags := []string{"S", "S", "A", "SA", "F", "R"}
	for _, filtering := range []Filtering{EndpointIndependent, AddressDependent} {
		t.Run(filtering.String(), func(t *testing.T) {
			p := testPolicy()
			p.Filtering = filtering
			// One IPv4 external address with two ports: inbound packets
			// find mappings, and new flows run out of ports.
			p.External[0] = ExternalPool{Prefix: netip.MustParsePrefix("203.0.113.1/32"), PortMin: 1000, PortMax: 1001}
			h := newHarness(t, Config{Capacity: 16}, p)
			seen := map[string]int{}
			rng := rand.New(rand.NewPCG(uint64(filtering)+1, 9))
			pick := func(l []string) string { return l[rng.IntN(len(l))] }
			for i := range 3000 {
				if rng.IntN(50) == 0 {
					h.advance(time.Duration(rng.IntN(200)) * time.Second)
				}
				a, b := pick(inside), pick(outside)
				if rng.IntN(4) == 0 {
					a, b = pick(inside6), pick(outside6)
				}
				if rng.IntN(2) == 0 {
					a, b = b, a
				}
				f := flow{proto: []string{"tcp", "udp", "ping", "pong"}[rng.IntN(4)], src: a, dst: b,
					sp: ports[rng.IntN(len(ports))], dp: ports[rng.IntN(len(ports))], flags: pick(flags)}
				if f.proto == "ping" || f.proto == "pong" {
					f.dp = 0
				}
				frame := f.frame(t)
				if rng.IntN(10) == 0 && netip.MustParseAddr(f.src).Is4() {
					// An error about the flow's answer, sent to its source.
					frame = icmpError(t, "192.0.2.99", f.src, 3, 1, f.reply("A").ip(t))
				}
				var s pkt.Summary
				if pkt.Parse(frame, &s) != pkt.OK {
					t.Fatalf("%d: Parse(%+v) failed", i, f)
				}
				qframe, qs := append([]byte(nil), frame...), s
				before := h.tab.Len()
				q := h.tab.Query(qframe, &qs, 0)
				if n := h.tab.Len(); n != before {
					t.Fatalf("%d: Query(%+v) changed the session count %d -> %d", i, f, before, n)
				}
				name := fmt.Sprintf("%d: %+v", i, f)
				r := h.w.Track(frame, &s, 0)
				if r.Action == Held {
					continue
				}
				seen[outcome(q)]++
				if q.Track.Action != r.Action || q.Track.State != r.State || q.Track.Reason != r.Reason {
					t.Fatalf("%s: Query Track = %+v, Track = %+v", name, q.Track, r)
				}
				if r.Action == Decide {
					r = h.w.Commit(frame, &s, 0)
					want := q.Commit
					if r.Action == Drop && want.Action == DropAndReply {
						want.Action = Drop // the error budget ran out
					}
					if diff := cmp.Diff(want, r); diff != "" {
						t.Fatalf("%s: Query Commit differs from Commit (-query +commit):\n%s", name, diff)
					}
					if r.Action == Forward && r.State == StateNew {
						var got Tuple
						got.Src, got.Dst = s.SrcAddr(), s.DstAddr()
						if s.Flags&pkt.FlagPorts != 0 {
							got.SrcPort, got.DstPort = s.SrcPort, s.DstPort
						}
						if q.After.Src != got.Src || q.After.Dst != got.Dst || (s.Flags&pkt.FlagPorts != 0 && (q.After.SrcPort != got.SrcPort || q.After.DstPort != got.DstPort)) {
							t.Fatalf("%s: Query After = %+v, Commit made %+v", name, q.After, got)
						}
					}
				} else if q.Track != r {
					t.Fatalf("%s: Query Track = %+v, Track = %+v", name, q.Track, r)
				}
				if r.Action == Forward {
					if diff := cmp.Diff(frame, qframe); diff != "" {
						t.Fatalf("%s: Query's translation differs (-real +query):\n%s", name, diff)
					}
					if diff := cmp.Diff(s, qs); diff != "" {
						t.Fatalf("%s: Query's summary differs (-real +query):\n%s", name, diff)
					}
				}
			}
			if err := h.tab.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			want := []string{"established", "related", "snat new", "snat mapping", "floating src", "floating dst",
				"no-mapping", "ports-exhausted", "tcp-not-syn", "tcp-no-state-reset", "icmp-error-untracked", "inbound"}
			if filtering == AddressDependent {
				want[len(want)-1] = "filtered" // inbound packets come from where nobody sent
			}
			for _, o := range want {
				if seen[o] == 0 {
					t.Errorf("no packet had outcome %q: %v", o, seen)
				}
			}
		})
	}
}

// outcome names what Query said, to check that the random packets
// covered every kind.
func outcome(q QueryResult) string {
	switch {
	case q.Track.Action == Forward && q.Track.State == StateRelated:
		return "related"
	case q.Track.Action == Forward:
		return "established"
	case q.Track.Action != Decide:
		return q.Track.Reason.String()
	case q.Commit.Action != Forward:
		return q.Commit.Reason.String()
	case q.SNAT && q.Mapping:
		return "snat mapping"
	case q.SNAT:
		return "snat new"
	case q.FloatingSrc:
		return "floating src"
	case q.FloatingDst:
		return "floating dst"
	case q.Inbound:
		return "inbound"
	}
	return "new"
}

// TestQuerySession: an established flow's session is described, and a
// new flow's mapping is the one Commit then makes.
func TestQuerySession(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("tcp", "198.18.0.1", 4000, "192.0.2.20", 443)
	fr := f.frame(t)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	q := h.tab.Query(append([]byte(nil), fr...), &s, 0)
	if q.Track.Action != Decide || q.Commit.Action != Forward || !q.SNAT || q.Mapping {
		t.Fatalf("Query(new flow) = %+v, want a new SNAT mapping", q)
	}
	if h.tab.Len() != 0 {
		t.Fatalf("Query made a session")
	}
	ext, port := h.sendOut(f)
	if q.After.Src.String() != ext || q.After.SrcPort != port {
		t.Fatalf("Query said %v:%d, Commit took %s:%d", q.After.Src, q.After.SrcPort, ext, port)
	}
	h.advance(3 * time.Second)
	reply := natted(f, ext, port).reply("SA").frame(t)
	pkt.Parse(reply, &s)
	q = h.tab.Query(reply, &s, 0)
	if q.Track.Action != Forward || q.Track.State != StateEstablished || q.Track.Dir != Reply || !q.HasSession {
		t.Fatalf("Query(reply) = %+v, want an established reply", q)
	}
	want := SessionInfo{
		Original: Tuple{Proto: pkt.ProtoTCP, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("192.0.2.20"), SrcPort: 4000, DstPort: 443},
		Reply:    Tuple{Proto: pkt.ProtoTCP, Src: netip.MustParseAddr("192.0.2.20"), Dst: netip.MustParseAddr(ext), SrcPort: 443, DstPort: port},
		State:    "tcp syn-sent",
		Idle:     3 * time.Second,
		Timeout:  DefaultTCPTransitory,
	}
	if q.Session != want {
		t.Errorf("Session = %+v, want %+v", q.Session, want)
	}
	if s.DstAddr().String() != "198.18.0.1" || s.DstPort != 4000 {
		t.Errorf("Query left the reply addressed to %v:%d, want 198.18.0.1:4000", s.DstAddr(), s.DstPort)
	}
}

// TestQueryWith: QueryWith answers under the prepared policy it is given,
// as a worker given it by BeginBatchWith then commits, not under the one
// the table published; nil, or a policy prepared for another table, is
// the published one (BeginBatchWith ignores such a policy too).
func TestQueryWith(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	prepare := func(tab *Table, edit func(*Policy)) *Prepared {
		t.Helper()
		p := testPolicy()
		edit(p)
		pp, err := tab.Prepare(p)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		return pp
	}
	moved := func(p *Policy) { p.External[0].Prefix = netip.MustParsePrefix("203.0.113.64/32") }
	other := newHarness(t, Config{}, nil)
	tests := []struct {
		name string
		p    *Prepared
		snat bool
		src  netip.Prefix // where the flow's source ends up
	}{
		{"published", nil, true, ext4},
		{"moved external pool", prepare(h.tab, moved), true, netip.MustParsePrefix("203.0.113.64/32")},
		{"no natOutgoing", prepare(h.tab, func(p *Policy) { p.Pools[0].NATOutgoing = false }), false, netip.MustParsePrefix("198.18.0.1/32")},
		{"prepared for another table", prepare(other.tab, moved), true, ext4},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := out("udp", "198.18.0.1", uint16(4000+i), "192.0.2.20", 53)
			fr := f.frame(t)
			var s pkt.Summary
			if pkt.Parse(fr, &s) != pkt.OK {
				t.Fatalf("Parse(%+v) failed", f)
			}
			qs := s
			q := h.tab.QueryWith(tc.p, append([]byte(nil), fr...), &qs, 0)
			if q.Track.Action != Decide || q.Commit.Action != Forward || q.SNAT != tc.snat {
				t.Fatalf("QueryWith(%+v) = %+v, want a new flow forwarded, SNAT %v", f, q, tc.snat)
			}
			if !tc.src.Contains(q.After.Src) {
				t.Errorf("QueryWith(%+v) After.Src = %v, want one in %v", f, q.After.Src, tc.src)
			}
			h.w.BeginBatchWith(tc.p)
			if r := h.w.Track(fr, &s, 0); r.Action != Decide {
				t.Fatalf("Track(%+v) = %+v, want Decide", f, r)
			}
			r := h.w.Commit(fr, &s, 0)
			if diff := cmp.Diff(q.Commit, r); diff != "" {
				t.Fatalf("QueryWith Commit differs from Commit under BeginBatchWith (-query +commit):\n%s", diff)
			}
			if got := netip.AddrPortFrom(s.SrcAddr(), s.SrcPort); got != netip.AddrPortFrom(q.After.Src, q.After.SrcPort) {
				t.Errorf("QueryWith said %v:%d, Commit made %v", q.After.Src, q.After.SrcPort, got)
			}
		})
	}
}

// TestPortsInUse: every external address of the policy is reported with
// its range, and a new mapping's port shows up on the address it took,
// for each protocol.
func TestPortsInUse(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	count := func() map[netip.Addr][2]int {
		got := map[netip.Addr][2]int{}
		h.tab.PortsInUse(func(a netip.Addr, inUse, size int) { got[a] = [2]int{inUse, size} })
		return got
	}
	before := count()
	if len(before) == 0 {
		t.Fatal("PortsInUse reported no external address")
	}
	for a, c := range before {
		if c[0] != 0 || c[1] != 65535-1024+1 {
			t.Errorf("%v before any flow: %d in use of %d, want 0 of %d", a, c[0], c[1], 65535-1024+1)
		}
	}
	for i, proto := range protos {
		pub, _ := h.sendOut(out(proto, "198.18.0.10", 40000, "203.0.113.9", 80))
		got := count()
		if n := got[netip.MustParseAddr(pub)][0]; n != i+1 {
			t.Errorf("after %d flows (last %s) %s has %d ports in use, want %d", i+1, proto, pub, n, i+1)
		}
	}
}
