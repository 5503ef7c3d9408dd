// TCP MSS clamping in translated spaces (translation.clampMSS): a SYN or
// SYN-ACK that crosses the translator flows in with the MTU of the core
// link it crosses, and leaves with its MSS option lowered to what fits
// that link once translated (the MTU less an IPv6 and a TCP header), so
// that workloads whose path MTU discovery is broken (ICMP filtered) never
// send a segment too big for the core. The option is rewritten in place
// and the TCP checksum adjusted incrementally (RFC 1624); nothing else in
// the segment changes.

package fwd

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// clampOverhead is what the core adds to an MSS: an IPv6 and a TCP
// header without options.
const clampOverhead = pkt.IPv6Len + pkt.TCPMinLen

// clampFor returns the largest MSS a SYN crossing a core link of mtu may
// carry under setting (xlat.ClampAuto or a ceiling), or 0 for none
// (clamping off, or auto with no MTU known).
func clampFor(setting, mtu int) int {
	limit := setting
	if mtu > clampOverhead+xlat.MinClampMSS {
		if auto := mtu - clampOverhead; limit == xlat.ClampAuto || auto < limit {
			limit = auto
		}
	} else if mtu > 0 {
		limit = xlat.MinClampMSS // a core link this small: the least any host takes
	}
	if limit < 0 {
		return 0
	}
	return limit
}

// clampMSS lowers the MSS of the packet of v, when it is a TCP SYN with
// an MSS option above the limit for a core link of mtu, and counts it.
func (w *Worker) clampMSS(t *Tables, v *view, mtu int) {
	s := v.s
	if s.Proto != pkt.ProtoTCP || s.TCPFlags&pkt.TCPFlagSYN == 0 || s.Flags&pkt.FlagPorts == 0 {
		return
	}
	limit := clampFor(t.clampMSS, mtu)
	if limit == 0 {
		return
	}
	seg := w.mem[v.base+uint64(s.L4Off) : v.base+uint64(s.L3Off)+uint64(s.L3Len)]
	if clampSegment(seg, uint16(limit)) {
		w.c.mssClamped++
	}
}

// clampSegment lowers the MSS option of the TCP segment seg (header
// onward) to limit when it is above it, adjusting the checksum, and
// reports whether it did. A header whose options cannot be walked is
// left alone: the receiving host judges it.
func clampSegment(seg []byte, limit uint16) bool {
	if len(seg) < pkt.TCPMinLen {
		return false
	}
	hl := int(seg[12]>>4) * 4
	if hl < pkt.TCPMinLen || hl > len(seg) {
		return false
	}
	for i := pkt.TCPMinLen; i < hl; {
		switch seg[i] {
		case tcpOptEnd:
			return false
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= hl {
			return false
		}
		l := int(seg[i+1])
		if l < 2 || i+l > hl {
			return false
		}
		if seg[i] == tcpOptMSS && l == 4 {
			old := binary.BigEndian.Uint16(seg[i+2:])
			if old <= limit {
				return false
			}
			binary.BigEndian.PutUint16(seg[i+2:], limit)
			// A field at an odd offset sits across two checksum
			// words, byte-swapped (RFC 1071 2(B)).
			o, n := old, limit
			if (i+2)&1 != 0 {
				o, n = o>>8|o<<8, n>>8|n<<8
			}
			cs := binary.BigEndian.Uint16(seg[pkt.TCPChecksumOff:])
			binary.BigEndian.PutUint16(seg[pkt.TCPChecksumOff:], pkt.ChecksumUpdate16(cs, o, n))
			return true
		}
		i += l
	}
	return false
}

// TCP option kinds (RFC 9293 3.2).
const (
	tcpOptEnd = 0
	tcpOptNOP = 1
	tcpOptMSS = 2
)
