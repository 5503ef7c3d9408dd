package nat

// Destination against Commit: what Destination reports for a new flow
// must be where Commit then delivers it.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

// spacePolicy is testPolicy with the workloads in address space 1 and the
// Internet in space 0, so that a space change is visible.
func spacePolicy(f Filtering) *Policy {
	p := testPolicy()
	for i := range p.Pools {
		p.Pools[i].Space = 1
	}
	for i := range p.Floating {
		p.Floating[i].Space = 1
	}
	p.Filtering = f
	return p
}

type destination struct {
	Dst        string
	Space      uint16
	Port       uint16
	Translated bool
}

// destinationOf runs Destination on frame as it arrived in space and
// checks that it changed nothing.
func destinationOf(t *testing.T, w *Worker, frame []byte, s *pkt.Summary, space uint16) destination {
	t.Helper()
	before, sb := append([]byte(nil), frame...), *s
	dst, sp, port, tr := w.Destination(frame, s, space)
	if diff := cmp.Diff(before, frame); diff != "" {
		t.Fatalf("Destination modified the frame (-before +after):\n%s", diff)
	}
	if *s != sb {
		t.Fatalf("Destination modified the summary: %+v, was %+v", *s, sb)
	}
	a := netip.AddrFrom16(dst)
	if s.Family == pkt.FamilyIPv4 {
		a = netip.AddrFrom4([4]byte(dst[:4]))
	}
	return destination{Dst: a.String(), Space: sp, Port: port, Translated: tr}
}

// commitMatches commits a packet whose Destination was d and checks that
// Commit delivered it there; it reports whether Commit created a flow.
func commitMatches(t *testing.T, w *Worker, frame []byte, s *pkt.Summary, space uint16, d destination) bool {
	t.Helper()
	origDst, origPort := s.DstAddr(), s.DstPort
	r := w.Commit(frame, s, space)
	if r.Action != Forward || r.State != StateNew {
		return false
	}
	got := destination{Dst: s.DstAddr().String(), Space: r.Space, Port: s.DstPort,
		Translated: s.DstAddr() != origDst || s.DstPort != origPort}
	if isICMP(s.Proto) {
		got.Port = d.Port // ICMP: the port is meaningless
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("Destination = %+v but Commit delivered (-Destination +Commit):\n%s", d, diff)
	}
	return true
}

func TestDestination(t *testing.T) {
	for _, filter := range []Filtering{EndpointIndependent, AddressDependent} {
		t.Run(fmt.Sprint(filter), func(t *testing.T) {
			h := newHarness(t, Config{}, spacePolicy(filter))
			// A's and B's mappings, both to 198.51.100.1.
			xa, xap := h.sendOutIn(out("udp", "198.18.9.1", 6000, "198.51.100.1", 80), 1)
			xb, xbp := h.sendOutIn(out("tcp", "198.18.9.2", 7000, "198.51.100.1", 80), 1)
			v4 := func(a string) string { return netip.MustParseAddr(a).String() }
			// Hairpinned, B's mapping filters A's external address unless
			// filtering is endpoint independent.
			hairpin := destination{v4("198.18.9.2"), 1, 7000, true}
			if filter == AddressDependent {
				hairpin = destination{v4(xb), 1, xbp, false} // refused: as it came
			}
			tests := []struct {
				name  string
				f     flow
				space uint16
				want  destination
				fails bool // Commit refuses it
			}{
				{"outbound snat", out("udp", "198.18.1.1", 4000, "198.51.100.7", 53), 1,
					destination{v4("198.51.100.7"), 0, 53, false}, false},
				{"routed, no nat", out("tcp", "198.19.1.1", 4000, "198.51.100.7", 443), 1,
					destination{v4("198.51.100.7"), 1, 443, false}, false},
				{"to the floating IP", flow{proto: "tcp", src: "198.51.100.20", dst: floatPub4, sp: 33000, dp: 22, flags: "S"}, 0,
					destination{v4(floatWl4), 1, 22, true}, false},
				{"to the floating IP v6", flow{proto: "udp", src: "2001:db8:2::20", dst: floatPub6, sp: 33000, dp: 53}, 0,
					destination{v4(floatWl6), 1, 53, true}, false},
				{"ping the floating IP", flow{proto: "ping", src: "198.51.100.20", dst: floatPub4, sp: 9}, 0,
					destination{v4(floatWl4), 1, 0, true}, false},
				{"inbound through A's mapping, same remote", flow{proto: "udp", src: "198.51.100.1", dst: xa, sp: 81, dp: xap}, 0,
					destination{v4("198.18.9.1"), 1, 6000, true}, false},
				{"inbound through B's mapping", flow{proto: "tcp", src: "198.51.100.1", dst: xb, sp: 81, dp: xbp, flags: "S"}, 0,
					destination{v4("198.18.9.2"), 1, 7000, true}, false},
				{"hairpin A to B", out("tcp", "198.18.9.1", 6001, xb, xbp), 1, hairpin, filter == AddressDependent},
				{"no mapping", flow{proto: "udp", src: "198.51.100.1", dst: xa, sp: 81, dp: xap + 1}, 0,
					destination{v4(xa), 0, xap + 1, false}, true},
				{"wrong protocol for the mapping", flow{proto: "tcp", src: "198.51.100.1", dst: xa, sp: 81, dp: xap, flags: "S"}, 0,
					destination{v4(xa), 0, xap, false}, true},
				{"ping a shared address", flow{proto: "ping", src: "198.51.100.1", dst: xa, sp: 9}, 0,
					destination{v4(xa), 0, 0, false}, true},
			}
			if filter == AddressDependent {
				tests = append(tests, struct {
					name  string
					f     flow
					space uint16
					want  destination
					fails bool
				}{"filtered: A never sent to this remote", flow{proto: "udp", src: "198.51.100.99", dst: xa, sp: 81, dp: xap}, 0,
					destination{v4(xa), 0, xap, false}, true})
			} else {
				tests = append(tests, struct {
					name  string
					f     flow
					space uint16
					want  destination
					fails bool
				}{"any remote through A's mapping", flow{proto: "udp", src: "198.51.100.99", dst: xa, sp: 81, dp: xap}, 0,
					destination{v4("198.18.9.1"), 1, 6000, true}, false})
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					frame := tc.f.frame(t)
					var s pkt.Summary
					pkt.Parse(frame, &s)
					if r := h.w.Track(frame, &s, tc.space); r.Action != Decide {
						t.Fatalf("Track = %+v, want Decide", r)
					}
					got := destinationOf(t, h.w, frame, &s, tc.space)
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Errorf("Destination (-want +got):\n%s", diff)
					}
					if created := commitMatches(t, h.w, frame, &s, tc.space, got); created == tc.fails {
						t.Errorf("Commit created a flow: %v, want %v", created, !tc.fails)
					}
				})
			}
		})
	}
}

// sendOutIn is sendOut from space.
func (h *harness) sendOutIn(f flow, space uint16) (string, uint16) {
	h.t.Helper()
	fr := f.frame(h.t)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	if r := h.w.Process(fr, &s, space); r.Action != Forward {
		h.t.Fatalf("outbound %+v: %+v, want Forward", f, r)
	}
	if f.proto == "ping" {
		return s.SrcAddr().String(), s.ICMPID
	}
	return s.SrcAddr().String(), s.SrcPort
}

// TestDestinationRandom drives random new flows of every kind through
// Destination and Commit and checks that they agree on every one that
// Commit admits.
func TestDestinationRandom(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 500
	}
	for _, filter := range []Filtering{EndpointIndependent, AddressDependent} {
		t.Run(fmt.Sprint(filter), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(filter)))
			h := newHarness(t, Config{Capacity: 8192}, spacePolicy(filter))
			type ep struct {
				a    string
				port uint16
			}
			var mapped []ep // external endpoints of mappings made so far
			protos := []string{"tcp", "udp", "ping"}
			counts := map[string]int{}
			for range n {
				proto := protos[rng.IntN(len(protos))]
				var f flow
				var space uint16
				remote := fmt.Sprintf("198.51.100.%d", 1+rng.IntN(4))
				switch c := rng.IntN(6); {
				case c == 0: // outbound from a NAT pool
					f, space = out(proto, fmt.Sprintf("198.18.%d.%d", rng.IntN(2), 1+rng.IntN(8)), uint16(1000+rng.IntN(16)), remote, 53), 1
				case c == 1: // from the floating workload
					f, space = out(proto, floatWl4, uint16(1000+rng.IntN(16)), remote, 53), 1
				case c == 2: // to the floating IP
					f = flow{proto: proto, src: remote, dst: floatPub4, sp: uint16(1 + rng.IntN(9)), dp: 22, flags: syn(proto)}
				case c == 3 && len(mapped) > 0: // inbound to a mapping (or next to one)
					m := mapped[rng.IntN(len(mapped))]
					f = flow{proto: proto, src: remote, dst: m.a, sp: uint16(1 + rng.IntN(9)), dp: m.port + uint16(rng.IntN(2)), flags: syn(proto)}
				case c == 4 && len(mapped) > 0: // hairpinned
					m := mapped[rng.IntN(len(mapped))]
					f, space = out(proto, fmt.Sprintf("198.18.%d.%d", rng.IntN(2), 1+rng.IntN(8)), uint16(1000+rng.IntN(16)), m.a, m.port), 1
				default: // inside the pools
					f, space = out(proto, fmt.Sprintf("198.18.0.%d", 1+rng.IntN(8)), uint16(1000+rng.IntN(16)), "198.19.0.1", 80), 1
				}
				if proto == "ping" {
					f.dp = 0
				}
				frame := f.frame(t)
				var s pkt.Summary
				pkt.Parse(frame, &s)
				if r := h.w.Track(frame, &s, space); r.Action != Decide {
					continue
				}
				d := destinationOf(t, h.w, frame, &s, space)
				origSrc := s.SrcAddr()
				if !commitMatches(t, h.w, frame, &s, space, d) {
					counts["refused"]++
					continue
				}
				switch {
				case d.Translated && d.Space == 1 && space == 1:
					counts["hairpin"]++
				case d.Translated:
					counts["inbound"]++
				default:
					counts["plain"]++
				}
				if space == 1 && s.SrcAddr() != origSrc && s.Proto != pkt.ProtoICMP {
					mapped = append(mapped, ep{s.SrcAddr().String(), s.SrcPort})
				}
			}
			for _, k := range []string{"refused", "hairpin", "inbound", "plain"} {
				if counts[k] == 0 && (k != "hairpin" || filter == EndpointIndependent) {
					t.Errorf("no %s flow among %d packets (%v): the test does not cover it", k, n, counts)
				}
			}
		})
	}
}

func TestDestinationZeroAlloc(t *testing.T) {
	h := newHarness(t, Config{}, spacePolicy(AddressDependent))
	x, xp := h.sendOutIn(out("udp", "198.18.9.1", 6000, "198.51.100.1", 80), 1)
	frames := [][]byte{
		flow{proto: "udp", src: "198.51.100.1", dst: x, sp: 81, dp: xp}.frame(t),
		flow{proto: "tcp", src: "198.51.100.20", dst: floatPub4, sp: 33000, dp: 22, flags: "S"}.frame(t),
		out("udp", "198.18.1.1", 4000, "198.51.100.7", 53).frame(t),
	}
	sums := make([]pkt.Summary, len(frames))
	for i := range frames {
		pkt.Parse(frames[i], &sums[i])
	}
	i := 0
	if n := testing.AllocsPerRun(300, func() {
		j := i % len(frames)
		i++
		h.w.Destination(frames[j], &sums[j], uint16(j/2))
	}); n != 0 {
		t.Errorf("Destination: %v allocations per run, want 0", n)
	}
}

// Destination and Commit share a new flow's plan within a batch; a policy
// published in between takes effect at the next batch, plan included.
func TestPlanFollowsPolicy(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53)
	frame := f.frame(t)
	var s pkt.Summary
	pkt.Parse(frame, &s)
	if r := h.w.Track(frame, &s, 0); r.Action != Decide {
		t.Fatalf("Track = %+v, want Decide", r)
	}
	h.w.Destination(frame, &s, 0) // plans the flow: source NAT
	noNAT := testPolicy()
	noNAT.Pools[0].NATOutgoing = false
	if err := h.tab.SetPolicy(noNAT); err != nil {
		t.Fatal(err)
	}
	h.w.BeginBatch()
	r := h.w.Commit(frame, &s, 0)
	if r.State != StateNew || r.Translated {
		t.Errorf("Commit after the policy dropped natOutgoing = %+v, want a new untranslated flow", r)
	}
}
