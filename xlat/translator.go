package xlat

import (
	"encoding/binary"
	"net/netip"
)

// The compiled translator and its address mapping: which IPv6 address an
// IPv4 address of a space becomes and back, EAM first (RFC 7757 section
// 3.2), then the space's RFC 6052 prefix. A Translator is immutable once
// New returns, so workers share it and the control plane replaces it whole.

// Translator translates packets under one configuration. It is safe for
// concurrent use; per-packet scratch lives in Packet, counters in Stats.
type Translator struct {
	spaces   []space // sorted by prefix length, longest first, for To4 lookups
	spaceIdx []int32 // ID -> index+1 into spaces; 0: not configured

	eam     []eam
	eam4Len []uint8           // distinct IPv4 prefix lengths, longest first
	eam4    map[eam4Key]int32 // (space, len, masked IPv4) -> index into eam
	eam6Len []uint8           // distinct IPv6 prefix lengths, longest first
	eam6    map[eam6Key]int32 // (len, masked IPv6) -> index into eam

	pool4 []netip.Prefix
	pool6 []netip.Prefix

	lowest int // lowest IPv6 MTU: DF=0 IPv4 packets fragment to this
	mtu4   int // cap on the IPv4 next hop's MTU (Packet.MTU), 0: none
	mtu6   int // cap on the IPv6 next hop's MTU, 0: none
	amend  bool

	self4    [4]byte  // translatorIPv4
	self6    [16]byte // translatorIPv6
	hasSelf4 bool
	hasSelf6 bool
	clamp    int
}

type space struct {
	id     uint16
	has    bool // has an RFC 6052 prefix (false: EAM only)
	wkp    bool // prefix is 64:ff9b::/96: no non-global IPv4
	prefix prefix6
	pfx    [16]byte
}

type eam struct {
	v4     uint32 // masked
	v4len  uint8
	v6     [16]byte // masked
	v6len  uint8
	space  uint16
	suffix uint32 // IPv4 host-bit mask
	shift  uint8  // IPv6 suffix bits beyond the IPv4 suffix: where it sits in the IPv6 address
}

type eam4Key struct {
	space uint16
	len   uint8
	addr  uint32
}

type eam6Key struct {
	len    uint8
	hi, lo uint64
}

// New validates c and compiles it.
func New(c Config) (*Translator, error) {
	k, err := c.compile()
	if err != nil {
		return nil, err
	}
	t := &Translator{pool4: k.pool4, pool6: k.pool6, lowest: k.lowest, mtu4: k.mtu4, mtu6: k.mtu6, amend: k.amend, clamp: k.clamp}
	if k.self4.IsValid() {
		t.self4, t.hasSelf4 = k.self4.As4(), true
	}
	if k.self6.IsValid() {
		t.self6, t.hasSelf6 = k.self6.As16(), true
	}
	maxID := 0
	for _, s := range k.spaces {
		maxID = max(maxID, int(s.id))
	}
	for _, e := range k.eam {
		maxID = max(maxID, int(e.space))
	}
	t.spaceIdx = make([]int32, maxID+1)
	add := func(id uint16) *space {
		if t.spaceIdx[id] == 0 {
			t.spaces = append(t.spaces, space{id: id})
			t.spaceIdx[id] = int32(len(t.spaces))
		}
		return &t.spaces[t.spaceIdx[id]-1]
	}
	for _, s := range k.spaces {
		sp := add(s.id)
		sp.has = true
		sp.prefix = makePrefix6(s.prefix)
		sp.pfx = s.prefix.Addr().As16()
		sp.wkp = s.prefix == netip.PrefixFrom(netip.AddrFrom16(wkp), 96)
	}
	for _, e := range k.eam {
		add(e.space) // an EAM may name space 0 without pool6
	}
	// Longest prefix first so that To4's walk finds the longest match;
	// prefixes of different spaces never overlap (compile checks), so
	// the order only matters for speed. Re-index after sorting.
	sortSpaces(t.spaces)
	for i := range t.spaces {
		t.spaceIdx[t.spaces[i].id] = int32(i + 1)
	}

	if len(k.eam) > 0 {
		t.eam4 = make(map[eam4Key]int32)
		t.eam6 = make(map[eam6Key]int32)
	}
	for i, e := range k.eam {
		hostBits := 32 - e.v4.Bits()
		x := eam{
			v4: binary.BigEndian.Uint32(e.v4.Addr().AsSlice()), v4len: uint8(e.v4.Bits()),
			v6: e.v6.Addr().As16(), v6len: uint8(e.v6.Bits()), space: e.space,
			suffix: uint32(uint64(1)<<hostBits - 1),
			shift:  uint8(128 - e.v6.Bits() - hostBits),
		}
		t.eam = append(t.eam, x)
		t.eam4[eam4Key{x.space, x.v4len, x.v4}] = int32(i)
		t.eam6[eam6Key{x.v6len, binary.BigEndian.Uint64(x.v6[:8]), binary.BigEndian.Uint64(x.v6[8:])}] = int32(i)
		t.eam4Len = insertLen(t.eam4Len, x.v4len)
		t.eam6Len = insertLen(t.eam6Len, x.v6len)
	}
	return t, nil
}

func sortSpaces(s []space) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].prefix.len > s[j-1].prefix.len; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// insertLen adds n to the descending list l if it is not there.
func insertLen(l []uint8, n uint8) []uint8 {
	for _, x := range l {
		if x == n {
			return l
		}
	}
	l = append(l, n)
	for j := len(l) - 1; j > 0 && l[j] > l[j-1]; j-- {
		l[j], l[j-1] = l[j-1], l[j]
	}
	return l
}

// space returns the configured space id, or nil.
func (t *Translator) space(id uint16) *space {
	if int(id) >= len(t.spaceIdx) || t.spaceIdx[id] == 0 {
		return nil
	}
	return &t.spaces[t.spaceIdx[id]-1]
}

// map46 writes into out the IPv6 address of IPv4 address a in space sp.
func (t *Translator) map46(sp *space, a [4]byte, out *[16]byte) Reason {
	return t.map46x(sp, a, out, true)
}

// map46x is map46, with the EAM table consulted only when useEAM (a
// hairpinned packet's addresses that came by RFC 6052 go back that way,
// RFC 7757 4.2.2).
func (t *Translator) map46x(sp *space, a [4]byte, out *[16]byte, useEAM bool) Reason {
	if useEAM && len(t.eam) > 0 {
		v := binary.BigEndian.Uint32(a[:])
		if e := t.eam4Lookup(sp.id, v); e != nil {
			*out = e.v6
			orShifted(out, uint64(v&e.suffix), uint(e.shift))
			return ReasonNone
		}
	}
	if !sp.has {
		return ReasonSrcUntranslatable
	}
	if sp.wkp && nonGlobal4(a) {
		return ReasonNonGlobalWKP
	}
	embed(out, &sp.pfx, sp.prefix.len, a)
	return ReasonNone
}

// Dst6 returns the IPv6 address To6 gives IPv4 destination a of address
// space id (EAM first, then the space's RFC 6052 prefix), and false when
// To6 would drop the packet for its destination. A router uses it to find
// the IPv6 next hop, and its MTU (Packet.MTU), before it translates.
func (t *Translator) Dst6(id uint16, a [4]byte) (out [16]byte, ok bool) {
	sp := t.space(id)
	if sp == nil {
		return out, false
	}
	return out, t.map46(sp, a, &out) == ReasonNone
}

// map64dst finds the space and IPv4 address of IPv6 destination a: an EAM
// match first, then the space whose RFC 6052 prefix holds it. hint is
// tried first (the caller's guess, usually right).
func (t *Translator) map64dst(a *[16]byte, hint uint16) (*space, [4]byte, Reason) {
	if len(t.eam) > 0 {
		if e := t.eam6Lookup(a); e != nil {
			return t.space(e.space), t.eamTo4(e, a), ReasonNone
		}
	}
	if sp := t.space(hint); sp != nil && sp.has && sp.prefix.match(a) {
		return t.finish64(sp, a)
	}
	for i := range t.spaces {
		sp := &t.spaces[i]
		if sp.has && sp.prefix.match(a) {
			return t.finish64(sp, a)
		}
	}
	return nil, [4]byte{}, ReasonDstUntranslatable
}

func (t *Translator) finish64(sp *space, a *[16]byte) (*space, [4]byte, Reason) {
	v4 := extract(a, sp.prefix.len)
	if sp.wkp && nonGlobal4(v4) {
		return nil, v4, ReasonNonGlobalWKP
	}
	return sp, v4, ReasonNone
}

// map64src maps IPv6 source a within space sp.
func (t *Translator) map64src(sp *space, a *[16]byte) ([4]byte, Reason) {
	if len(t.eam) > 0 {
		if e := t.eam6Lookup(a); e != nil {
			if e.space != sp.id {
				return [4]byte{}, ReasonSrcUntranslatable
			}
			return t.eamTo4(e, a), ReasonNone
		}
	}
	if !sp.has || !sp.prefix.match(a) {
		return [4]byte{}, ReasonSrcUntranslatable
	}
	v4 := extract(a, sp.prefix.len)
	if sp.wkp && nonGlobal4(v4) {
		return v4, ReasonNonGlobalWKP
	}
	return v4, ReasonNone
}

// eam4Lookup returns the longest EAM entry of space id holding IPv4
// address v, or nil.
func (t *Translator) eam4Lookup(id uint16, v uint32) *eam {
	for _, l := range t.eam4Len {
		m := ^uint32(0) << (32 - uint(l))
		if l == 0 {
			m = 0
		}
		if i, ok := t.eam4[eam4Key{id, l, v & m}]; ok {
			return &t.eam[i]
		}
	}
	return nil
}

// hairpin64 reports whether an IPv6 address a that To4 mapped to v4 in
// space id by the RFC 6052 prefix (not by an EAM) names, in IPv4, a host
// an EAM puts on the IPv6 side (RFC 7757 4.2.2, "intrinsic" hairpinning):
// the IPv4 packet must be translated back rather than sent to IPv4.
func (t *Translator) hairpin64(id uint16, a *[16]byte, v4 [4]byte) bool {
	return len(t.eam) > 0 && t.eam6Lookup(a) == nil && t.eam4Lookup(id, binary.BigEndian.Uint32(v4[:])) != nil
}

func (t *Translator) eam6Lookup(a *[16]byte) *eam {
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	for _, l := range t.eam6Len {
		mh, ml := mask128(l)
		if i, ok := t.eam6[eam6Key{l, hi & mh, lo & ml}]; ok {
			return &t.eam[i]
		}
	}
	return nil
}

func (t *Translator) eamTo4(e *eam, a *[16]byte) (v4 [4]byte) {
	binary.BigEndian.PutUint32(v4[:], e.v4|uint32(shiftedOut(a, uint(e.shift)))&e.suffix)
	return v4
}

// orShifted ORs x<<shift into the 128-bit address a.
func orShifted(a *[16]byte, x uint64, shift uint) {
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	if shift >= 64 {
		hi |= x << (shift - 64)
	} else {
		lo |= x << shift
		if shift > 0 {
			hi |= x >> (64 - shift)
		}
	}
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
}

// shiftedOut returns the low 64 bits of the 128-bit address a >> shift.
func shiftedOut(a *[16]byte, shift uint) uint64 {
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	if shift >= 64 {
		return hi >> (shift - 64)
	}
	if shift == 0 {
		return lo
	}
	return lo>>shift | hi<<(64-shift)
}

func mask128(l uint8) (hi, lo uint64) {
	switch {
	case l == 0:
		return 0, 0
	case l <= 64:
		return ^uint64(0) << (64 - uint(l)), 0
	}
	return ^uint64(0), ^uint64(0) << (128 - uint(l))
}

// pick4 returns an address of the RFC 6791 IPv4 pool for an ICMP error
// whose real source, key, has no IPv4 form. RFC 6791 section 4 recommends
// a random choice; a hash of the source spreads the errors of different
// hosts over the pool without per-packet state.
func (t *Translator) pick4(key *[16]byte) ([4]byte, bool) {
	if len(t.pool4) == 0 {
		return [4]byte{}, false
	}
	h := hash16(key)
	p := t.pool4[h%uint32(len(t.pool4))]
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	size := uint64(1) << (32 - p.Bits())
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], base+uint32(uint64(h>>8)%size))
	return a, true
}

// pick6 is pick4 for the RFC 6791 IPv6 pool (4->6 errors whose IPv4
// source has no IPv6 form).
func (t *Translator) pick6(key [4]byte) ([16]byte, bool) {
	if len(t.pool6) == 0 {
		return [16]byte{}, false
	}
	var k [16]byte
	copy(k[:], key[:])
	h := hash16(&k)
	p := t.pool6[h%uint32(len(t.pool6))]
	a := p.Addr().As16()
	if p.Bits() < 128 {
		hostBits := min(32, 128-p.Bits())
		low := binary.BigEndian.Uint32(a[12:]) | (h>>8)&uint32(uint64(1)<<hostBits-1)
		binary.BigEndian.PutUint32(a[12:], low)
	}
	return a, true
}

func hash16(k *[16]byte) uint32 {
	x := binary.LittleEndian.Uint64(k[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(k[8:])*0xc2b2ae3d27d4eb4f
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return uint32(x >> 32)
}

// ClampMSS returns the clampMSS setting: ClampOff, ClampAuto or the
// largest MSS a SYN may carry. The translator does not clamp: the router
// that runs it knows the links (Config.ClampMSS).
func (t *Translator) ClampMSS() int { return t.clamp }

// LowestIPv6MTU returns the lowestIPv6MTU setting: To6 fragments an IPv4
// packet without DF whose IPv6 form is longer (RFC 7915 4, 6).
func (t *Translator) LowestIPv6MTU() int { return t.lowest }

// Spaces returns the configured address space IDs (0 when pool6 or an EAM
// names it), for the control plane and tools.
func (t *Translator) Spaces() []uint16 {
	ids := make([]uint16, 0, len(t.spaces))
	for _, s := range t.spaces {
		ids = append(ids, s.id)
	}
	return ids
}
