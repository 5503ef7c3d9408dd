package acl

import (
	"net/netip"
	"testing"
)

// decodeRules turns fuzz bytes into rules and keys: 15 bytes per rule,
// then 13 bytes per key, all of one family chosen by the first byte.
func decodeRules(data []byte) ([]Rule, []Key) {
	if len(data) < 1 {
		return nil, nil
	}
	v6 := data[0]&1 == 1
	data = data[1:]
	addr := func(b []byte, salt byte) netip.Addr {
		if v6 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			a[4], a[15], a[14] = b[0]&3, b[1], b[0]>>4^salt
			return netip.AddrFrom16(a)
		}
		return netip.AddrFrom4([4]byte{198, 18, b[0] & 3, b[1]})
	}
	bitsOf := func(b byte) int {
		if v6 {
			return int(b) % 129
		}
		return int(b) % 33
	}
	var rules []Rule
	for len(data) >= 15 && len(rules) < 64 {
		b := data[:15]
		data = data[15:]
		r := Rule{ProtoMask: b[13], Proto: b[14]}
		if b[2]%4 != 0 {
			r.Src = netip.PrefixFrom(addr(b[0:2], 0), bitsOf(b[2]))
		}
		if b[5]%4 != 0 {
			r.Dst = netip.PrefixFrom(addr(b[3:5], 1), bitsOf(b[5]))
		}
		lo, hi := uint16(b[6])<<8|uint16(b[7]), uint16(b[8])<<8|uint16(b[9])
		r.SrcPorts = PortRange{min(lo, hi), max(lo, hi)}
		lo, hi = uint16(b[10])<<8|uint16(b[11]), uint16(b[12])
		r.DstPorts = PortRange{min(lo, hi), max(lo, hi)}
		rules = append(rules, r)
	}
	var keys []Key
	for len(data) >= 9 {
		b := data[:9]
		data = data[9:]
		keys = append(keys, Key{Src: addr(b[0:2], 0), Dst: addr(b[2:4], 1),
			SrcPort: uint16(b[4])<<8 | uint16(b[5]), DstPort: uint16(b[6])<<8 | uint16(b[7]), Proto: b[8]})
	}
	return rules, keys
}

// FuzzClassifier: for any rule set and keys, the decision tree (with a
// tiny leaf size, so it splits as much as it can) answers like the
// linear scan.
func FuzzClassifier(f *testing.F) {
	f.Add([]byte("\x00" + "\x01\x05\x1d\x02\x07\x1e\x00\x00\xff\xff\x00\x50\x00\x06\xff" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\xff\x00\x00" +
		"\x01\x05\x02\x07\x10\x00\x00\x50\x06" + "\x01\x06\x02\x07\x10\x00\x00\x51\x11"))
	f.Add([]byte("\x01" + "\x13\x05\x41\x02\x07\x80\x00\x00\xff\xff\x00\x35\x35\x11\xff" +
		"\x01\x05\x05\x02\x07\x06\x00\x00\xff\xff\x00\x00\xff\xf0\x10" +
		"\x13\x05\x02\x07\x10\x00\x00\x35\x11" + "\x01\x06\x02\x07\x10\x00\x00\x51\x1f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, keys := decodeRules(data)
		lin, err := NewLinear(rules)
		if err != nil {
			t.Fatalf("NewLinear: %v", err)
		}
		for _, binth := range []int{1, defaultBinth} {
			c, err := compile(rules, binth)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			for i := range keys {
				wi, wok := lin.Match(&keys[i])
				gi, gok := c.Match(&keys[i])
				if gi != wi || gok != wok {
					t.Fatalf("binth %d: Match(%+v) = %d %v, want %d %v; rules %+v", binth, keys[i], gi, gok, wi, wok, rules)
				}
			}
		}
	})
}
