package pcapio

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestWriteRead: what Writer writes, Reader reads back: frames, cut
// frames with their wire length, nanosecond timestamps.
func TestWriteRead(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, 8)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 123456789)
	frames := [][]byte{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {1, 2, 3}}
	for i, f := range frames {
		if err := w.WritePacket(ts.Add(time.Duration(i)), f, len(f)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Time time.Time
		Data []byte
		Orig int
	}
	var got []rec
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		if p.Link != LinkEthernet {
			t.Errorf("link %v, want Ethernet", p.Link)
		}
		got = append(got, rec{p.Time.UTC(), bytes.Clone(p.Data), p.OrigLen})
	}
	want := []rec{{ts.UTC(), frames[0][:8], 10}, {ts.Add(1).UTC(), frames[1], 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}
