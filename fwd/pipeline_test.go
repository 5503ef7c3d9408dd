package fwd

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dump is a readable form of a frame for failure messages.
func dump(f []byte) string {
	return gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Dump()
}

// expectFrames compares what a port sent with want, byte for byte.
func expectFrames(t *testing.T, what string, got [][]byte, want ...[]byte) {
	t.Helper()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("got:\n%s", dump(g))
		}
		t.Fatalf("%s: sent %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: frame %d differs\ngot:\n%s\nwant:\n%s", what, i, dump(got[i]), dump(want[i]))
		}
	}
}

func TestRouteBetweenWorkloads(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		proto    string
	}{
		{"ipv4 echo", w1v4, w2v4, "echo"},
		{"ipv6 echo", w1v6, w2v6, "echo"},
		{"ipv4 udp", w1v4, w2v4, "udp"},
		{"ipv6 tcp", w1v6, w2v6, "syn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, twoWorkloads(), peerNeigh)
			req := spec{srcMAC: macW1, dstMAC: gwMAC, src: tc.src, dst: tc.dst, proto: tc.proto, id: 7, seq: 1, sport: 1000, dport: 2000, payload: []byte("ping")}
			h.send(0, req.frame(t))
			expectFrames(t, "w2", h.out(1), req.hop(gwMAC, macW2).wire(t))

			rep := spec{srcMAC: macW2, dstMAC: gwMAC, src: tc.dst, dst: tc.src, proto: "echo-reply", id: 7, seq: 1, payload: []byte("ping")}
			h.send(1, rep.frame(t))
			expectFrames(t, "w1", h.out(0), rep.hop(gwMAC, macW1).wire(t))

			st := h.stats()
			if st.Forwarded != 2 || st.Dropped() != 0 {
				t.Errorf("Forwarded = %d, Dropped = %d, want 2, 0 (drops %v)", st.Forwarded, st.Dropped(), nonZero(st))
			}
		})
	}
}

func TestRouteToUplink(t *testing.T) {
	for _, dst := range []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8:77::9")} {
		t.Run(dst.String(), func(t *testing.T) {
			h := newHost(t, twoWorkloads(), peerNeigh)
			src := w1v4
			if dst.Is6() {
				src = w1v6
			}
			req := spec{srcMAC: macW1, dstMAC: gwMAC, src: src, dst: dst, proto: "udp", sport: 1, dport: 2}
			h.send(0, req.frame(t))
			expectFrames(t, "uplink", h.out(2), req.hop(macUp, macPeer).wire(t))
			// And back from the fabric to the workload.
			back := spec{srcMAC: macPeer, dstMAC: macUp, src: dst, dst: src, proto: "udp", sport: 2, dport: 1, ttl: 30}
			h.send(2, back.frame(t))
			expectFrames(t, "w1", h.out(0), back.hop(gwMAC, macW1).wire(t))
		})
	}
}

// nonZero lists the non-zero drop counters by name.
func nonZero(s Stats) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range s.Drops {
		if n != 0 {
			m[Reason(r).String()] = n
		}
	}
	for r, n := range s.Parse {
		if n != 0 {
			m[fmt.Sprintf("parse/%d", r)] = n
		}
	}
	return m
}

var _ = cmp.Diff
