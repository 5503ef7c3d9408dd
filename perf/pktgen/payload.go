// The payload header: the first 16 bytes after the transport header of
// every generated packet, and the receive-side parser that finds it again
// after a forwarder rewrote (or translated) the headers in front of it.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Magic (0x6a7e)        |             Flow              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Transmit time (Unix ns, 64 bits)            |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

package pktgen

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
)

// Magic marks a gannet pktgen payload.
const Magic = 0x6a7e

// PayloadHeaderLen is the length of the payload header.
const PayloadHeaderLen = 16

// Header is a parsed payload header.
type Header struct {
	Flow uint16
	Seq  uint32
	TxNs int64 // transmit time, Unix nanoseconds
}

// ParseFrame parses an Ethernet frame with pkt.Parse into s and returns
// the payload header it carries. ok is false for frames that are not
// well-formed UDP, TCP or ICMP echo packets with a gannet payload header.
// It allocates nothing.
func ParseFrame(frame []byte, s *pkt.Summary) (h Header, ok bool) {
	if pkt.Parse(frame, s) != pkt.OK || s.Flags&pkt.FlagFragment != 0 {
		return Header{}, false
	}
	switch s.Proto {
	case pkt.ProtoUDP, pkt.ProtoTCP:
	case pkt.ProtoICMP, pkt.ProtoICMPv6:
		if s.Flags&pkt.FlagICMPQuery == 0 {
			return Header{}, false
		}
	default:
		return Header{}, false
	}
	end := min(int(s.End()), len(frame))
	off := int(s.PayloadOff)
	if off+PayloadHeaderLen > end {
		return Header{}, false
	}
	return ParsePayload(frame[off:end])
}

// ParsePayload reads a payload header at the start of p.
func ParsePayload(p []byte) (h Header, ok bool) {
	if len(p) < PayloadHeaderLen || binary.BigEndian.Uint16(p) != Magic {
		return Header{}, false
	}
	return Header{
		Flow: binary.BigEndian.Uint16(p[2:]),
		Seq:  binary.BigEndian.Uint32(p[4:]),
		TxNs: int64(binary.BigEndian.Uint64(p[8:])),
	}, true
}
