package fwd

// The border and the non-routable range, on real frames: a host on the
// Internet side that routes a natOutgoing pool to the border anyway
// reaches none of its workloads — the border drops the packet and counts
// it (nat nonroutable-inbound) — while a routable workload stays
// reachable and the natOutgoing workload's own flows out, and their
// replies, go on.

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/nat"
)

func TestBorderNonRoutableInbound(t *testing.T) {
	tab, err := nat.New(nat.Config{Capacity: 64, Clock: &nat.ManualClock{}, Seed: 1})
	if err != nil {
		t.Fatalf("nat.New: %v", err)
	}
	// W1 is in a natOutgoing pool, W2 in a routable one.
	if err := tab.SetPolicy(&nat.Policy{
		Pools: []nat.Pool{
			{Prefix: netip.PrefixFrom(w1v4, 32), NATOutgoing: true},
			{Prefix: netip.PrefixFrom(w2v4, 32)},
		},
		External: []nat.ExternalPool{{Prefix: netip.PrefixFrom(natPublic, 32)}},
	}); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	c := twoWorkloads()
	c.NAT = tab
	h := newHost(t, c, peerNeigh)
	attacker := natServer

	for i, proto := range []string{"syn", "ack", "udp", "echo"} {
		in := spec{srcMAC: macPeer, dstMAC: macUp, src: attacker, dst: w1v4, proto: proto, sport: 53, dport: uint16(4000 + i), id: 7, payload: []byte("probe")}
		h.send(2, in.frame(t))
		expectFrames(t, proto+" to the non-routable workload", h.out(0))
		expectFrames(t, proto+" answered", h.out(2))
		if st := h.stats(); st.NAT[nat.ReasonNonRoutable] != uint64(i+1) || st.Drops[ReasonConntrack] != uint64(i+1) {
			t.Fatalf("%s: drops %v nat %v, want %d conntrack drops for nonroutable-inbound", proto, nonZero(st), st.NAT, i+1)
		}
	}
	// gannet trace names the reason.
	in := spec{srcMAC: macPeer, dstMAC: macUp, src: attacker, dst: w1v4, proto: "syn", sport: 53, dport: 80}
	if tr := h.tables.Load().Trace(2, in.frame(t), h.neigh.Table); tr.Verdict != "drop" || tr.Reason != ReasonConntrack.String() || !strings.Contains(tr.String(), "nonroutable-inbound") {
		t.Errorf("Trace: %s\nwant a drop naming nonroutable-inbound", tr)
	}

	// The routable workload is reachable from the Internet.
	pub := spec{srcMAC: macPeer, dstMAC: macUp, src: attacker, dst: w2v4, proto: "udp", sport: 53, dport: 4000, payload: []byte("hello")}
	h.send(2, pub.frame(t))
	expectFrames(t, "to the routable workload", h.out(1), pub.hop(gwMAC, macW2).wire(t))

	// W1's own flow out is source-NATed, and the reply comes back to it.
	req := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: attacker, proto: "udp", sport: 5000, dport: 53, payload: []byte("query")}
	h.send(0, req.frame(t))
	got := h.out(2)
	if len(got) != 1 {
		t.Fatalf("W1's flow out: %d frames, want 1 (drops %v)", len(got), nonZero(h.stats()))
	}
	xport := uint16(got[0][34])<<8 | uint16(got[0][35])
	rep := spec{srcMAC: macPeer, dstMAC: macUp, src: attacker, dst: natPublic, proto: "udp", sport: 53, dport: xport, payload: []byte("answer")}
	h.send(2, rep.frame(t))
	want := spec{srcMAC: gwMAC, dstMAC: macW1, src: attacker, dst: w1v4, ttl: 63, proto: "udp", sport: 53, dport: 5000, payload: rep.payload}
	expectFrames(t, "the reply to W1", h.out(0), want.wire(t))
}
