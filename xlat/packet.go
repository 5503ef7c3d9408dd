package xlat

import "github.com/gannet-net/gannet/pkt"

// The caller-owned per-packet state: where the packet is in its frame, the
// address space, the buffers for fragments, and the scratch summaries the
// translation parses into. One Packet per worker, reused for every packet.

// Packet describes one packet to translate and, afterwards, the result.
//
// Before To6/To4: Buf is the frame memory and the IP packet is
// Buf[Off:Off+Len] (a bare IP header onwards; bytes after the IP length,
// such as Ethernet padding, are ignored). There should be headroom before
// Off: To6 grows the headers by up to 48 bytes for an ICMP error (28 for
// other packets) and an ICMP error sent back needs 28 (IPv4) or 48 (IPv6).
// Space is the address space of an IPv4 packet for To6, and a hint for
// To4 (the space tried first).
//
// MTU is the MTU of the link the translated packet leaves by (the
// egress port's, in the new family), or 0 when the caller does not know
// it: the translator then uses its ipv4MTU/ipv6MTU setting, else
// DefaultMTU. A configured ipv4MTU/ipv6MTU caps it.
//
// After Forward or Reply the packet is at Buf[Off:Off+Len]; To4 sets Space
// to the space the packet was delivered into. After Fragments the packets
// are Frags[:NFrags]: the caller lends the buffers (their capacity is
// used, at least the IPv6 or IPv4 MTU each) and gets them back resliced.
// RouterAnswers: the caller is the router the translator runs in and
// answers a packet too big for the next hop itself, from the address of
// its own it picks for the sender (RFC 1812 4.3.2.4, RFC 4443 2.2): such
// a packet is then verdict TooBig instead of a Reply from
// translatorIPv4/IPv6. After TooBig nothing was written and TooBigMTU is
// the MTU to report to the sender in its own family (Fragmentation Needed
// for To6, Packet Too Big for To4).
type Packet struct {
	Buf      []byte
	Off, Len int
	Space    uint16
	Frags    [][]byte
	MTU      int
	// RouterAnswers: packets too big for MTU are TooBig (see above).
	RouterAnswers bool

	NFrags      int
	Reason      Reason     // why a Drop, a Reply or TooBig
	ParseReason pkt.Reason // with ReasonMalformed/ReasonUnsupported
	TooBigMTU   int        // with TooBig

	mtu int // the next hop's MTU for this call: MTU, capped, or the default

	// Hairpin, set by To4 with Forward: the IPv4 packet is addressed to
	// a host an EAM places on the IPv6 side (RFC 7757 4.2.2). It must
	// not leave as IPv4: hand it to Translator.Hairpin, which translates
	// it back to IPv6 with the addresses that host expects.
	Hairpin bool

	hairpinning bool // To6 is running for Translator.Hairpin

	ipID uint16 // IPv4 Identification generator for To4

	s, in pkt.Summary // the packet, and the packet an ICMP error quotes
}

func (p *Packet) drop(st *Stats, r Reason) Verdict {
	p.Reason = r
	return st.count(p, Drop)
}

// tooBig reports a packet too big for the next hop to a caller that
// answers it itself (RouterAnswers), with mtu to report.
func (p *Packet) tooBig(st *Stats, mtu int) Verdict {
	p.TooBigMTU, p.Reason = mtu, ReasonTooBig
	return st.count(p, TooBig)
}

func (p *Packet) parseFail(st *Stats) Verdict {
	p.ParseReason = p.s.Reason
	if p.s.Verdict == pkt.Unsupported {
		return p.drop(st, ReasonUnsupported)
	}
	return p.drop(st, ReasonMalformed)
}

// start resets the outputs, settles the next hop's MTU (limit: the
// translator's setting for the new family, 0 for none) and returns the
// packet's bytes, or nil when Off/Len do not describe a slice of Buf.
func (p *Packet) start(limit int) []byte {
	p.NFrags, p.Reason, p.ParseReason, p.Hairpin, p.TooBigMTU = 0, ReasonNone, pkt.ReasonNone, false, 0
	p.mtu = p.MTU
	switch {
	case p.mtu <= 0:
		p.mtu = limit
		if p.mtu == 0 {
			p.mtu = DefaultMTU
		}
	case limit > 0:
		p.mtu = min(p.mtu, limit)
	}
	if p.Off < 0 || p.Len < 0 || p.Off+p.Len > len(p.Buf) {
		return nil
	}
	return p.Buf[p.Off : p.Off+p.Len]
}

// HopMTU returns the next hop's MTU the last To6 or To4 call translated
// for: MTU, capped by the translator's setting, or its default. A
// caller that repeats a translation elsewhere (fwd's kernel fast path)
// holds its packets to the same limit.
func (p *Packet) HopMTU() int { return p.mtu }

// nextID returns the Identification of an IPv4 packet made from an IPv6
// packet without a fragment header (RFC 7915 section 5.1: set by a
// fragment identification generator). A counter per worker: unique per
// 65536 packets of that worker, which is what reassembly needs.
func (p *Packet) nextID() uint16 {
	p.ipID++
	return p.ipID
}
