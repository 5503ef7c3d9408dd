package xlat

// Fragmentation of a translated packet that does not fit the next hop:
// IPv6 fragments of a DF=0 IPv4 packet (RFC 7915 section 4 and 6), IPv4
// fragments of an IPv6 fragment or small packet (RFC 7915 section 5). The
// translated packet is first built whole in place, then cut into the
// caller's buffers; each piece repeats the header and carries a multiple
// of 8 bytes except the last.

import "github.com/gannet-net/gannet/pkt"

// chunk6 is the payload per IPv6 fragment: each fits the lowest IPv6
// MTU and the next hop's.
func (t *Translator) chunk6(p *Packet) int { return (min(t.lowest, p.mtu) - ipv6FragLen) &^ 7 }

// chunk4 is the payload per IPv4 fragment: each fits the next hop.
func chunk4(p *Packet) int { return (p.mtu - pkt.IPv4MinLen) &^ 7 }

// fragBuffersFit reports whether p.Frags can take payload bytes cut into
// pieces of chunk under a header of hdr bytes.
func fragBuffersFit(p *Packet, payload, chunk, hdr int) bool {
	if chunk <= 0 {
		return false
	}
	k := (payload + chunk - 1) / chunk
	if k > len(p.Frags) {
		return false
	}
	for i := range k {
		if cap(p.Frags[i]) < hdr+min(chunk, payload-i*chunk) {
			return false
		}
	}
	return true
}

func (t *Translator) fragBuffersFit6(p *Packet, payload int) bool {
	return fragBuffersFit(p, payload, t.chunk6(p), ipv6FragLen)
}

func (t *Translator) fragBuffersFit4(p *Packet, payload int) bool {
	return fragBuffersFit(p, payload, chunk4(p), pkt.IPv4MinLen)
}

// fragment6 cuts the IPv6 packet at Buf[Off:Off+Len], whose header is
// followed by a fragment header, into fragments of at most the lowest
// IPv6 MTU.
func (t *Translator) fragment6(p *Packet, st *Stats) Verdict {
	whole := p.Buf[p.Off : p.Off+p.Len]
	fh := pkt.IPv6Fragment(whole[pkt.IPv6Len:ipv6FragLen])
	next, base, mf, id := fh.NextHeader(), fh.Offset(), fh.MF(), fh.ID()
	payload := whole[ipv6FragLen:]
	chunk := t.chunk6(p)
	k := 0
	for off := 0; off < len(payload); off += chunk {
		piece := payload[off:min(off+chunk, len(payload))]
		f := p.Frags[k][:ipv6FragLen+len(piece)]
		copy(f, whole[:ipv6FragLen])
		copy(f[ipv6FragLen:], piece)
		pkt.IPv6(f).SetPayloadLen(uint16(len(f) - pkt.IPv6Len))
		last := off+len(piece) == len(payload)
		pkt.IPv6Fragment(f[pkt.IPv6Len:]).Set(next, base+uint16(off), mf || !last, id)
		p.Frags[k] = f
		k++
	}
	p.NFrags = k
	return st.count(p, Fragments)
}

// fragment4 cuts the IPv4 packet at Buf[Off:Off+Len] (a 20-byte header,
// DF clear) into fragments of at most the IPv4 MTU.
func (t *Translator) fragment4(p *Packet, st *Stats) Verdict {
	whole := p.Buf[p.Off : p.Off+p.Len]
	h := pkt.IPv4(whole)
	base, mf := h.FragOffset(), h.MF()
	payload := whole[pkt.IPv4MinLen:]
	chunk := chunk4(p)
	k := 0
	for off := 0; off < len(payload); off += chunk {
		piece := payload[off:min(off+chunk, len(payload))]
		f := p.Frags[k][:pkt.IPv4MinLen+len(piece)]
		copy(f, whole[:pkt.IPv4MinLen])
		copy(f[pkt.IPv4MinLen:], piece)
		fh := pkt.IPv4(f)
		fh.SetTotalLen(uint16(len(f)))
		last := off+len(piece) == len(payload)
		fh.SetFragment(false, mf || !last, base+uint16(off))
		fh.SetChecksum(0)
		fh.SetChecksum(fh.ComputeChecksum())
		p.Frags[k] = f
		k++
	}
	p.NFrags = k
	return st.count(p, Fragments)
}
