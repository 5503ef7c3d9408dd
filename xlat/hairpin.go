package xlat

// Hairpinning of EAM-translated traffic (RFC 7757 section 4): an IPv6
// host reaches another IPv6 host through the IPv4 form of its address.
// Say A is 2001:db8:3::8 by an EAM (IPv4 1.0.0.8) and writes to B through
// the RFC 6052 prefix, to the IPv6 form of B's IPv4 address 1.0.0.9, which
// an EAM gives to B's real address 2001:db8:3::9. To4 makes an IPv4 packet
// 1.0.0.8 -> 1.0.0.9 whose destination is back on the IPv6 side; it sets
// Packet.Hairpin, and Hairpin translates the packet back: the destination
// by its EAM (B's real address), the source by the RFC 6052 prefix, so B
// sees A under the same kind of address A used for B, and B's answers
// hairpin the same way ("intrinsic" hairpinning, 4.2.2). An ICMP error
// about such a packet hairpins when its quoted source came by RFC 6052;
// then the quoted destination goes back by RFC 6052, and so does the
// error's source when it is that quoted destination (the host itself
// answered).

// Hairpin translates to IPv6 the IPv4 packet To4 left in p with
// p.Hairpin set, in address space p.Space, under the hairpinning rules
// above. Verdicts, reasons and fragments are To6's.
func (t *Translator) Hairpin(p *Packet, st *Stats) Verdict {
	p.hairpinning = true
	v := t.To6(p, st)
	p.hairpinning = false
	return v
}
