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

// synLimit returns the MSS limit for the packet s describes crossing a
// core link of mtu under setting: 0 unless it is a TCP SYN (or SYN-ACK)
// with its header and the clamp applies.
func synLimit(setting int, s *pkt.Summary, mtu int) int {
	if setting == xlat.ClampOff || s.Proto != pkt.ProtoTCP || s.TCPFlags&pkt.TCPFlagSYN == 0 || s.Flags&pkt.FlagPorts == 0 {
		return 0
	}
	return clampFor(setting, mtu)
}

// clampMSS lowers the MSS of the packet of v, when it is a TCP SYN with
// an MSS option above the limit for a core link of mtu, and counts it.
func (w *Worker) clampMSS(t *Tables, v *view, mtu int) {
	s := v.s
	limit := synLimit(t.clampMSS, s, mtu)
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
// reports whether it did.
func clampSegment(seg []byte, limit uint16) bool {
	i := mssOffset(seg)
	if i < 0 {
		return false
	}
	old := binary.BigEndian.Uint16(seg[i:])
	if old <= limit {
		return false
	}
	binary.BigEndian.PutUint16(seg[i:], limit)
	// A field at an odd offset sits across two checksum words,
	// byte-swapped (RFC 1071 2(B)).
	o, n := old, limit
	if i&1 != 0 {
		o, n = o>>8|o<<8, n>>8|n<<8
	}
	cs := binary.BigEndian.Uint16(seg[pkt.TCPChecksumOff:])
	binary.BigEndian.PutUint16(seg[pkt.TCPChecksumOff:], pkt.ChecksumUpdate16(cs, o, n))
	return true
}

// tcpMSS returns the MSS option of the TCP segment seg, 0 without one.
func tcpMSS(seg []byte) uint16 {
	if i := mssOffset(seg); i >= 0 {
		return binary.BigEndian.Uint16(seg[i:])
	}
	return 0
}

// mssOffset returns the offset in seg of the value of the TCP header's
// first MSS option, or -1: none, or an option list that cannot be walked
// (left alone: the receiving host judges it).
func mssOffset(seg []byte) int {
	if len(seg) < pkt.TCPMinLen {
		return -1
	}
	hl := int(seg[12]>>4) * 4
	if hl < pkt.TCPMinLen || hl > len(seg) {
		return -1
	}
	for i := pkt.TCPMinLen; i < hl; {
		switch seg[i] {
		case tcpOptEnd:
			return -1
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= hl {
			return -1
		}
		l := int(seg[i+1])
		if l < 2 || i+l > hl {
			return -1
		}
		if seg[i] == tcpOptMSS && l == 4 {
			return i + 2
		}
		i += l
	}
	return -1
}

// TCP option kinds (RFC 9293 3.2).
const (
	tcpOptEnd = 0
	tcpOptNOP = 1
	tcpOptMSS = 2
)
