package pktgen

import (
	"flag"
	"testing"

	"github.com/gannet-net/gannet/internal/fuzzcorpus"
	"github.com/gannet-net/gannet/pkt"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

// seedFrames returns one stamped frame of every family and protocol.
func seedFrames(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, s := range specs() {
		if s.FrameSize > 200 {
			continue
		}
		f, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.Size())
		f.Write(b, 1, 12345, 1_700_000_000_000_000_000)
		out[specName(s)] = b
	}
	return out
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, f := range seedFrames(t) {
		if err := fuzzcorpus.Write("FuzzParseFrame", flatName(name), f); err != nil {
			t.Fatal(err)
		}
	}
}

func flatName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

// FuzzParseFrame: ParseFrame never panics, and whatever it accepts carries
// the magic at the payload offset pkt.Parse found, and round-trips through
// a template of the same shape.
func FuzzParseFrame(f *testing.F) {
	for _, b := range seedFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var s pkt.Summary
		h, ok := ParseFrame(frame, &s)
		if !ok {
			return
		}
		p := frame[s.PayloadOff:]
		got, ok2 := ParsePayload(p)
		if !ok2 || got != h {
			t.Fatalf("ParseFrame(%x) = %+v but ParsePayload at %d = %+v, %v", frame, h, s.PayloadOff, got, ok2)
		}
		// The same header stamped into a fresh template parses back.
		src, dst := s.SrcAddr(), s.DstAddr()
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return
		}
		fr, err := Build(Spec{Src: src, Dst: dst, Flows: int(h.Flow) + 1, SrcAddrs: 1, SrcPort: 1})
		if err != nil {
			return
		}
		b := make([]byte, fr.Size())
		fr.Write(b, int(h.Flow), h.Seq, h.TxNs)
		var s2 pkt.Summary
		if back, ok := ParseFrame(b, &s2); !ok || back != h {
			t.Fatalf("round trip of %+v = %+v, %v", h, back, ok)
		}
	})
}
