package fwd

import (
	"flag"
	"fmt"
	"testing"

	"github.com/gannet-net/gannet/internal/fuzzcorpus"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gopacket/gopacket/layers"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus in testdata/fuzz")

// FuzzPipeline feeds arbitrary frames to a stateful, policed host on any
// of its ports. Invariants: no panic; every frame is still in exactly one
// place; every received frame has exactly one outcome; everything sent
// parses as a well-formed frame.
func FuzzPipeline(f *testing.F) {
	frames, ports := trafficMix(f)
	for i, fr := range frames {
		f.Add(fr, uint8(ports[i]))
	}
	for _, fr := range heldMix(f) {
		f.Add(fr, uint8(0))
	}
	var h *host
	f.Fuzz(func(t *testing.T, frame []byte, port uint8) {
		if h == nil {
			c, _ := policed(t, true)
			h = newHost(t, c, peerNeigh)
		}
		h.t = t
		p := int(port) % len(h.ports)
		if len(frame) > testFrameSize-RxHeadroom {
			frame = frame[:testFrameSize-RxHeadroom]
		}
		if !h.ports[p].Inject(frame) {
			t.Fatalf("Inject refused a %d-byte frame", len(frame))
		}
		h.run()
		for i := range h.ports {
			for _, out := range h.out(i) {
				var s pkt.Summary
				if pkt.Parse(out, &s) != pkt.OK {
					t.Fatalf("port %d sent a frame that does not parse (%v):\n%x\nfrom input on port %d:\n%x", i, s.Reason, out, p, frame)
				}
			}
		}
		h.run()
		checkFrames(t, h)
		checkConservation(t, h.stats())
	})
}

// TestWriteSeedCorpus rewrites testdata/fuzz/FuzzPipeline from the
// traffic mix (go test -run TestWriteSeedCorpus -update-corpus).
func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	frames, ports := trafficMix(t)
	for i, fr := range frames {
		if err := fuzzcorpus.Write("FuzzPipeline", fmt.Sprintf("mix-%02d", i), fr, uint8(ports[i])); err != nil {
			t.Fatal(err)
		}
	}
	for i, fr := range heldMix(t) {
		if err := fuzzcorpus.Write("FuzzPipeline", fmt.Sprintf("held-%02d", i), fr, uint8(0)); err != nil {
			t.Fatal(err)
		}
	}
}

// heldMix is a UDP datagram from W1 to the uplink in three IPv4
// fragments, the later ones first: held, then released by the first.
func heldMix(t testing.TB) [][]byte {
	ip := layers.IPv4{Version: 4, TTL: 64, Id: 0x4646, Protocol: layers.IPProtocolUDP, SrcIP: w1v4.AsSlice(), DstIP: natServer.AsSlice()}
	in := v4Fragments(t, &layers.Ethernet{SrcMAC: macW1, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, udpBody(t, w1v4, natServer, 4000, 5000, 592), thirds...)
	return [][]byte{in[2], in[1], in[0]}
}
