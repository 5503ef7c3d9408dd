// Rules flow in here from callers (the policy compiler, ClassBench files,
// tests) and leave as boxes: one uint32 range per dimension, the form the
// decision tree and the leaf checks work on.

package acl

import (
	"fmt"
	"net/netip"
)

// PortRange is an inclusive range of ports. The zero value matches port 0
// only; use AnyPort for "any port".
type PortRange struct{ Lo, Hi uint16 }

// AnyPort matches every port.
var AnyPort = PortRange{0, 65535}

// Contains reports whether p lies in r.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// Rule is one classifier rule. A packet matches when every field matches.
//
// Src and Dst are prefixes of one address family; the zero netip.Prefix
// means "any address" (of the family of the other prefix, or of both
// families when both are zero). Host bits in a prefix are ignored.
// Proto/ProtoMask match when key.Proto&ProtoMask == Proto&ProtoMask, so a
// mask of 0 matches every protocol and 0xff one protocol.
//
// For ICMP (protocol 1) and ICMPv6 (58) packets the data-path keys carry the
// ICMP type in SrcPort and the code in DstPort (see PacketKey), so a rule
// on ICMP type t and code c is SrcPorts {t, t}, DstPorts {c, c}.
type Rule struct {
	Src, Dst           netip.Prefix
	SrcPorts, DstPorts PortRange
	Proto, ProtoMask   uint8
}

// Key is a packet's 5-tuple in netip form (control paths, tests, tools).
// Src and Dst must be of one family; a key mixing families matches nothing.
type Key struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Dimensions of a box. IPv4 uses 5: src, dst, sport, dport, proto. IPv6
// splits each address into four 32-bit words (a prefix is a product of
// ranges over the words: exact, then one partial word, then wildcards), so
// both families share one uint32 tree: 4+4+3 = 11 dimensions.
const (
	dims4   = 5
	dims6   = 11
	maxDims = 16 // key arrays are [maxDims]uint32 so that k[d&15] needs no bounds check
)

type rng struct{ lo, hi uint32 }

// box is one rectangle of a rule. A rule with a non-contiguous protocol
// mask becomes several boxes with the same rule index.
type box struct {
	r    [dims6]rng
	rule int32
}

// check validates r and returns which families it applies to.
func (r *Rule) check(i int) (v4, v6 bool, err error) {
	sv, dv := r.Src.IsValid(), r.Dst.IsValid()
	if !sv && r.Src != (netip.Prefix{}) {
		return false, false, fmt.Errorf("acl: rule %d: Src: invalid prefix %v", i, r.Src)
	}
	if !dv && r.Dst != (netip.Prefix{}) {
		return false, false, fmt.Errorf("acl: rule %d: Dst: invalid prefix %v", i, r.Dst)
	}
	if r.SrcPorts.Lo > r.SrcPorts.Hi {
		return false, false, fmt.Errorf("acl: rule %d: SrcPorts: Lo %d > Hi %d", i, r.SrcPorts.Lo, r.SrcPorts.Hi)
	}
	if r.DstPorts.Lo > r.DstPorts.Hi {
		return false, false, fmt.Errorf("acl: rule %d: DstPorts: Lo %d > Hi %d", i, r.DstPorts.Lo, r.DstPorts.Hi)
	}
	switch {
	case sv && dv:
		if r.Src.Addr().Is4() != r.Dst.Addr().Is4() {
			return false, false, fmt.Errorf("acl: rule %d: Src %v and Dst %v are of different families", i, r.Src, r.Dst)
		}
		return r.Src.Addr().Is4(), !r.Src.Addr().Is4(), nil
	case sv:
		return r.Src.Addr().Is4(), !r.Src.Addr().Is4(), nil
	case dv:
		return r.Dst.Addr().Is4(), !r.Dst.Addr().Is4(), nil
	}
	return true, true, nil
}

// protoRanges returns the protocol values a proto/mask pair matches as
// maximal runs of consecutive values.
func protoRanges(proto, mask uint8) []rng {
	if mask == 0 {
		return []rng{{0, 255}}
	}
	var out []rng
	for v := 0; v < 256; v++ {
		if uint8(v)&mask != proto&mask {
			continue
		}
		if n := len(out); n > 0 && out[n-1].hi+1 == uint32(v) {
			out[n-1].hi++
			continue
		}
		out = append(out, rng{uint32(v), uint32(v)})
	}
	return out
}

// prefixRanges4 returns the range a v4 prefix covers (the zero prefix: all).
func prefixRange4(p netip.Prefix) rng {
	if !p.IsValid() {
		return rng{0, ^uint32(0)}
	}
	a := p.Masked().Addr().As4()
	lo := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	return rng{lo, lo | hostMask32(p.Bits())}
}

// prefixRanges6 writes the four per-word ranges of a v6 prefix into out.
func prefixRanges6(p netip.Prefix, out []rng) {
	if !p.IsValid() {
		for i := range 4 {
			out[i] = rng{0, ^uint32(0)}
		}
		return
	}
	a := p.Masked().Addr().As16()
	bits := p.Bits()
	for i := range 4 {
		w := uint32(a[4*i])<<24 | uint32(a[4*i+1])<<16 | uint32(a[4*i+2])<<8 | uint32(a[4*i+3])
		b := min(max(bits-32*i, 0), 32)
		out[i] = rng{w, w | hostMask32(b)}
	}
}

// hostMask32 is the mask of the host bits of a /bits word.
func hostMask32(bits int) uint32 {
	if bits >= 32 {
		return 0
	}
	return ^uint32(0) >> bits
}

// toBoxes appends the boxes of rule i for one family to dst.
func (r *Rule) toBoxes(dst []box, i int32, v6 bool) []box {
	var b box
	b.rule = i
	var n int
	if v6 {
		prefixRanges6(r.Src, b.r[0:4])
		prefixRanges6(r.Dst, b.r[4:8])
		n = 8
	} else {
		b.r[0] = prefixRange4(r.Src)
		b.r[1] = prefixRange4(r.Dst)
		n = 2
	}
	b.r[n] = rng{uint32(r.SrcPorts.Lo), uint32(r.SrcPorts.Hi)}
	b.r[n+1] = rng{uint32(r.DstPorts.Lo), uint32(r.DstPorts.Hi)}
	for _, pr := range protoRanges(r.Proto, r.ProtoMask) {
		b.r[n+2] = pr
		dst = append(dst, b)
	}
	return dst
}
