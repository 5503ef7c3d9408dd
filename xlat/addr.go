package xlat

import (
	"encoding/binary"
	"net/netip"
)

// RFC 6052 address embedding: an IPv4 address placed into an IPv6 prefix
// of length 32, 40, 48, 56, 64 or 96, skipping bits 64-71 (the "u" octet,
// kept zero for compatibility with the modified EUI-64 format), and the
// reverse. Every allowed length is a whole number of bytes, so both
// directions are byte moves.
//
//	+--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//	|PL| 0-------------32--40--48--56--64--72--80--88--96--104---------|
//	+--+---------------------------------------------------------------+
//	|32|     prefix    |v4(32)         | u | suffix                    |
//	|40|     prefix        |v4(24)     | u |(8)| suffix                |
//	|48|     prefix            |v4(16) | u | (16)  | suffix            |
//	|56|     prefix                |(8)| u |  v4(24)   | suffix        |
//	|64|     prefix                    | u |   v4(32)      | suffix    |
//	|96|     prefix                                    |    v4(32)     |
//	+--+---------------------------------------------------------------+

// uOctet is the byte index of bits 64-71.
const uOctet = 8

// allowedPrefixLen reports whether n is an RFC 6052 prefix length.
func allowedPrefixLen(n int) bool {
	switch n {
	case 32, 40, 48, 56, 64, 96:
		return true
	}
	return false
}

// embed writes into a the address that carries v4 under the RFC 6052
// prefix pfx/plen: prefix bytes, then v4 around the u octet, then a zero
// suffix.
func embed(a *[16]byte, pfx *[16]byte, plen uint8, v4 [4]byte) {
	*a = [16]byte{}
	switch plen {
	case 96:
		copy(a[:12], pfx[:12])
		copy(a[12:], v4[:])
	case 64:
		copy(a[:8], pfx[:8])
		copy(a[9:13], v4[:])
	case 56:
		copy(a[:7], pfx[:7])
		a[7] = v4[0]
		copy(a[9:12], v4[1:])
	case 48:
		copy(a[:6], pfx[:6])
		copy(a[6:8], v4[:2])
		copy(a[9:11], v4[2:])
	case 40:
		copy(a[:5], pfx[:5])
		copy(a[5:8], v4[:3])
		a[9] = v4[3]
	case 32:
		copy(a[:4], pfx[:4])
		copy(a[4:8], v4[:])
	}
}

// extract returns the IPv4 address embedded in a under a prefix of length
// plen. The u octet and the suffix are ignored, as RFC 6052 section 2.2
// asks of a decoder.
func extract(a *[16]byte, plen uint8) (v4 [4]byte) {
	switch plen {
	case 96:
		copy(v4[:], a[12:16])
	case 64:
		copy(v4[:], a[9:13])
	case 56:
		v4[0] = a[7]
		copy(v4[1:], a[9:12])
	case 48:
		copy(v4[:2], a[6:8])
		copy(v4[2:], a[9:11])
	case 40:
		copy(v4[:3], a[5:8])
		v4[3] = a[9]
	case 32:
		copy(v4[:], a[4:8])
	}
	return v4
}

// prefix6 is an IPv6 prefix of at most 96 bits kept as masked integers,
// so a match is two loads, two ANDs and two compares.
type prefix6 struct {
	hi, maskHi uint64 // bits 0-63
	lo, maskLo uint32 // bits 64-95
	len        uint8
}

func makePrefix6(p netip.Prefix) prefix6 {
	a := p.Masked().Addr().As16()
	n := p.Bits()
	var x prefix6
	x.len = uint8(n)
	x.maskHi = ^uint64(0) << max(0, 64-min(n, 64))
	if n == 0 {
		x.maskHi = 0
	}
	if n > 64 {
		x.maskLo = ^uint32(0) << max(0, 96-n)
	}
	x.hi = binary.BigEndian.Uint64(a[:8]) & x.maskHi
	x.lo = binary.BigEndian.Uint32(a[8:12]) & x.maskLo
	return x
}

// match reports whether a lies in the prefix.
func (x *prefix6) match(a *[16]byte) bool {
	return binary.BigEndian.Uint64(a[:8])&x.maskHi == x.hi &&
		binary.BigEndian.Uint32(a[8:12])&x.maskLo == x.lo
}

// wkp is the RFC 6052 well-known prefix 64:ff9b::/96.
var wkp = [16]byte{0x00, 0x64, 0xff, 0x9b}

// nonGlobal4 reports whether an IPv4 address may not be represented under
// the well-known prefix (RFC 6052 section 3.1): the special-use blocks of
// RFC 5735 section 3 (RFC 6890), plus the RFC 6598 shared address space.
func nonGlobal4(a [4]byte) bool {
	switch {
	case a[0] == 0, a[0] == 10, a[0] == 127, a[0] >= 224: // this network, private, loopback, multicast, reserved, broadcast
		return true
	case a[0] == 100 && a[1]&0xc0 == 64: // 100.64.0.0/10 shared address space (RFC 6598)
		return true
	case a[0] == 169 && a[1] == 254: // link local
		return true
	case a[0] == 172 && a[1]&0xf0 == 16: // 172.16.0.0/12 private
		return true
	case a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2): // IETF protocol assignments, TEST-NET-1
		return true
	case a[0] == 192 && a[1] == 168: // private
		return true
	case a[0] == 198 && a[1]&0xfe == 18: // 198.18.0.0/15 benchmarking
		return true
	case a[0] == 198 && a[1] == 51 && a[2] == 100: // TEST-NET-2
		return true
	case a[0] == 203 && a[1] == 0 && a[2] == 113: // TEST-NET-3
		return true
	}
	return false
}

// nonGlobalPrefix4 reports whether any address of p is non-global.
func nonGlobalPrefix4(p netip.Prefix) bool {
	for _, b := range nonGlobalBlocks {
		if p.Overlaps(b) {
			return true
		}
	}
	return false
}

var nonGlobalBlocks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/3"),
}
