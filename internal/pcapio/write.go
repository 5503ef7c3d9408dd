package pcapio

// Writing: gannet capture's stream is a pcap file (nanosecond timestamps,
// Ethernet frames), which tcpdump, Wireshark and Reader read back.

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Writer writes Ethernet frames as a pcap stream.
type Writer struct {
	pw   *pcapgo.Writer
	snap int
}

// NewWriter writes the file header (snap: the most bytes a record
// holds) and returns a writer of records.
func NewWriter(w io.Writer, snap int) (*Writer, error) {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &Writer{pw: pw, snap: snap}, nil
}

// WritePacket writes one frame captured at ts; origLen is its length on
// the wire (data may be cut to the snap length).
func (w *Writer) WritePacket(ts time.Time, data []byte, origLen int) error {
	if len(data) > w.snap {
		data = data[:w.snap]
	}
	return w.pw.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: max(origLen, len(data))}, data)
}
