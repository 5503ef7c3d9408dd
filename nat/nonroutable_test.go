package nat

// A natOutgoing pool is not routable from the Internet: at a border, a
// new flow from outside every pool to one of its addresses is refused
// with a reason of its own, whatever the sender routes; its workloads'
// own flows out and their replies, floating IPs, routed pools and flows
// between pools are untouched.

import (
	"testing"

	"github.com/gannet-net/gannet/pkt"
)

func TestNonRoutableInbound(t *testing.T) {
	inside := "198.18.1.1" // in pool4 (natOutgoing)
	for _, proto := range protos {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, Config{}, testPolicy())
			// From the Internet straight to the workload's own address.
			h.expectDrop(out(proto, "198.51.100.7", 53, inside, 4000).frame(t), ReasonNonRoutable)
			if proto == "tcp" {
				// Not even a mid-stream segment: no loose pickup, no RST.
				f := out(proto, "198.51.100.7", 53, inside, 4000)
				f.flags = "A"
				if r := h.expectDrop(f.frame(t), ReasonNonRoutable); r.Action != Drop {
					t.Errorf("a stray ACK is answered (%+v); want a silent drop", r)
				}
			}
			// IPv6 likewise.
			h.expectDrop(out(proto, "2001:db8:2::7", 53, "2001:db8:1::1", 4000).frame(t), ReasonNonRoutable)
			if n := h.w.Drops(ReasonNonRoutable); n < 2 {
				t.Errorf("Drops(nonroutable-inbound) = %d, want every refusal counted", n)
			}

			// The workload's own flow out, and the reply through its
			// external address, pass.
			f := out(proto, inside, 4000, "198.51.100.7", 53)
			ext, port := h.sendOut(f)
			rep := f.reply(map[string]string{"tcp": "SA"}[proto])
			rep.dst = ext
			if proto == "ping" {
				rep.sp = port // the echo identifier
			} else {
				rep.dp = port
			}
			if r := h.send(rep.frame(t), 0); r.Action != Forward {
				t.Errorf("the reply to the workload's own flow: %+v, want forward", r)
			}
			// A routed pool stays reachable, pools reach each other, and
			// a floating IP is the way in to its workload.
			for _, in := range []flow{
				out(proto, "198.51.100.7", 53, "198.19.0.9", 4000),
				out(proto, "198.19.0.9", 53, inside, 4001),
				out(proto, "198.18.0.9", 53, inside, 4002),
				out(proto, "198.51.100.7", 53, floatPub4, 4003),
			} {
				if r := h.send(in.frame(t), 0); r.Action != Forward {
					t.Errorf("%s -> %s: %+v, want forward", in.src, in.dst, r)
				}
			}
		})
	}
}

// TestNonRoutableInboundNotInside: a node without external addresses or
// floating IPs is inside the data center: a flow from outside every pool
// to a natOutgoing workload is a reply the border has already translated
// back (or a flow within the data center), and passes.
func TestNonRoutableInboundNotInside(t *testing.T) {
	h := newHarness(t, Config{}, &Policy{Pools: []Pool{{Prefix: pool4, NATOutgoing: true}}})
	if r := h.send(out("udp", "198.51.100.7", 53, "198.18.1.1", 4000).frame(t), 0); r.Action != Forward {
		t.Errorf("inside the data center: %+v, want forward", r)
	}
}

// TestQueryNonRoutableInbound: gannet trace's view (Query) says the same
// without counting anything.
func TestQueryNonRoutableInbound(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	fr := out("tcp", "198.51.100.7", 53, "198.18.1.1", 4000).frame(t)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	q := h.tab.Query(fr, &s, 0)
	if q.Commit.Action != Drop || q.Commit.Reason != ReasonNonRoutable {
		t.Errorf("Query: commit %+v, want drop %v", q.Commit, ReasonNonRoutable)
	}
	if n := h.w.Drops(ReasonNonRoutable); n != 0 {
		t.Errorf("Query counted %d drops", n)
	}
}
