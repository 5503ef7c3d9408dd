package acl

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
)

// randRules makes rule sets that stress a decision tree: few distinct
// prefixes (so rules nest and overlap), many wildcards, overlapping port
// ranges, exact, any and odd protocol masks, both families and rules that
// apply to both.
func randRules(rnd *rand.Rand, n int, v6 bool) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		r := &rules[i]
		fam6 := v6 && rnd.IntN(2) == 0
		both := rnd.IntN(10) == 0
		if !both {
			r.Src = randPrefix(rnd, fam6)
			r.Dst = randPrefix(rnd, fam6)
			if rnd.IntN(3) == 0 {
				r.Src = netip.Prefix{}
			}
		}
		r.SrcPorts = randPorts(rnd)
		r.DstPorts = randPorts(rnd)
		switch rnd.IntN(6) {
		case 0, 1:
		case 2:
			r.Proto, r.ProtoMask = uint8(rnd.IntN(4)), uint8(rnd.Uint32()) // odd masks
		default:
			r.Proto, r.ProtoMask = []uint8{1, 6, 17, 58}[rnd.IntN(4)], 0xff
		}
	}
	return rules
}

var (
	base4 = []netip.Addr{netip.MustParseAddr("198.18.0.0"), netip.MustParseAddr("198.18.128.0"),
		netip.MustParseAddr("198.19.255.255"), netip.MustParseAddr("100.64.1.1")}
	base6 = []netip.Addr{netip.MustParseAddr("2001:db8::"), netip.MustParseAddr("2001:db8:0:1::"),
		netip.MustParseAddr("2001:db8::1:0:0:1"), netip.MustParseAddr("64:ff9b:1::c612:1")}
)

func randPrefix(rnd *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		a := base6[rnd.IntN(len(base6))].As16()
		a[15] ^= byte(rnd.IntN(4))
		a[rnd.IntN(16)] ^= byte(rnd.IntN(2))
		bits := []int{0, 16, 32, 48, 63, 64, 65, 96, 100, 120, 127, 128}[rnd.IntN(12)]
		p, _ := netip.AddrFrom16(a).Prefix(bits)
		return p
	}
	a := base4[rnd.IntN(len(base4))].As4()
	a[3] ^= byte(rnd.IntN(8))
	bits := []int{0, 1, 8, 15, 16, 17, 24, 28, 30, 31, 32, 32}[rnd.IntN(12)]
	p, _ := netip.AddrFrom4(a).Prefix(bits)
	return p
}

func randPorts(rnd *rand.Rand) PortRange {
	edges := []uint16{0, 1, 53, 79, 80, 81, 443, 1023, 1024, 8080, 65534, 65535}
	switch rnd.IntN(4) {
	case 0, 1:
		return AnyPort
	case 2:
		p := edges[rnd.IntN(len(edges))]
		return PortRange{p, p}
	}
	a, b := edges[rnd.IntN(len(edges))], edges[rnd.IntN(len(edges))]
	return PortRange{min(a, b), max(a, b)}
}

// randKey makes a key near the rules: inside or just outside a random
// rule's box, or fully random.
func randKey(rnd *rand.Rand, rules []Rule) Key {
	var k Key
	r := rules[rnd.IntN(len(rules))]
	fam6 := r.Src.IsValid() && !r.Src.Addr().Is4() || r.Dst.IsValid() && !r.Dst.Addr().Is4() ||
		!r.Src.IsValid() && !r.Dst.IsValid() && rnd.IntN(2) == 0
	k.Src = pointNear(rnd, r.Src, fam6)
	k.Dst = pointNear(rnd, r.Dst, fam6)
	k.SrcPort = portNear(rnd, r.SrcPorts)
	k.DstPort = portNear(rnd, r.DstPorts)
	switch rnd.IntN(3) {
	case 0:
		k.Proto = uint8(rnd.IntN(256))
	default:
		k.Proto = []uint8{0, 1, 2, 3, 6, 17, 58, 255}[rnd.IntN(8)]
	}
	return k
}

func pointNear(rnd *rand.Rand, p netip.Prefix, v6 bool) netip.Addr {
	if !p.IsValid() {
		p = randPrefix(rnd, v6)
	}
	a := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := bits; i < len(a)*8; i++ { // random host bits, sometimes all 0 or all 1
		switch rnd.IntN(4) {
		case 0:
			a[i/8] |= 0x80 >> (i % 8)
		case 1:
			a[i/8] ^= byte(rnd.IntN(2)) << (7 - i%8)
		}
	}
	if bits > 0 && rnd.IntN(5) == 0 { // just outside
		i := bits - 1
		a[i/8] ^= 0x80 >> (i % 8)
	}
	ad, _ := netip.AddrFromSlice(a)
	return ad
}

func portNear(rnd *rand.Rand, r PortRange) uint16 {
	switch rnd.IntN(5) {
	case 0:
		return r.Lo
	case 1:
		return r.Hi
	case 2:
		return r.Lo - 1
	case 3:
		return r.Hi + 1
	}
	return r.Lo + uint16(rnd.IntN(int(r.Hi-r.Lo)+1))
}

// checkAgainstLinear compares every match form of c with the linear scan.
func checkAgainstLinear(t *testing.T, c *Classifier, lin *Linear, keys []Key) {
	t.Helper()
	pks := make([]PacketKey, len(keys))
	for i := range keys {
		pks[i] = KeyOf(&keys[i])
	}
	out := make([]int32, len(keys))
	c.MatchBatch(pks, out)
	bad := 0
	for i := range keys {
		k := &keys[i]
		wi, wok := lin.Match(k)
		gi, gok := c.Match(k)
		pi, pok := c.MatchPacket(&pks[i])
		if gi != wi || gok != wok || pi != wi || pok != wok || int(out[i]) != wi {
			t.Errorf("Match(%+v) = %d %v, MatchPacket = %d %v, MatchBatch = %d; want %d %v",
				*k, gi, gok, pi, pok, out[i], wi, wok)
			if bad++; bad > 10 {
				t.FailNow()
			}
		}
	}
}

func TestClassifierRandomDifferential(t *testing.T) {
	sets := 36
	if testing.Short() {
		sets = 12
	}
	for s := range sets {
		seed := uint64(s)
		rnd := rand.New(rand.NewPCG(seed, 4))
		n := []int{1, 3, 10, 50, 120, 300}[s%6]
		rules := randRules(rnd, n, s%2 == 1)
		for _, binth := range []int{1, 4, defaultBinth} {
			t.Run(fmt.Sprintf("seed%d/n%d/binth%d", seed, n, binth), func(t *testing.T) {
				c, err := compile(rules, binth)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				lin, err := NewLinear(rules)
				if err != nil {
					t.Fatalf("NewLinear: %v", err)
				}
				keys := make([]Key, 2000)
				for i := range keys {
					keys[i] = randKey(rnd, rules)
				}
				checkAgainstLinear(t, c, lin, keys)
			})
		}
	}
}

func TestCompileErrors(t *testing.T) {
	v4 := netip.MustParsePrefix("198.18.0.0/15")
	v6 := netip.MustParsePrefix("2001:db8::/32")
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"mixed families", Rule{Src: v4, Dst: v6, SrcPorts: AnyPort, DstPorts: AnyPort},
			"acl: rule 1: Src 198.18.0.0/15 and Dst 2001:db8::/32 are of different families"},
		{"empty src ports", Rule{Src: v4, SrcPorts: PortRange{10, 9}, DstPorts: AnyPort},
			"acl: rule 1: SrcPorts: Lo 10 > Hi 9"},
		{"empty dst ports", Rule{Dst: v6, SrcPorts: AnyPort, DstPorts: PortRange{2, 1}},
			"acl: rule 1: DstPorts: Lo 2 > Hi 1"},
		{"bad src prefix", Rule{Src: netip.PrefixFrom(netip.MustParseAddr("198.18.0.1"), 33), SrcPorts: AnyPort, DstPorts: AnyPort},
			"acl: rule 1: Src: invalid prefix invalid Prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := []Rule{{Src: v4, SrcPorts: AnyPort, DstPorts: AnyPort}, tc.rule}
			c, err := Compile(rules)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Compile(%+v) = %v, %v; want error %q", tc.rule, c, err, tc.want)
			}
			if _, err := NewLinear(rules); err == nil || err.Error() != tc.want {
				t.Fatalf("NewLinear(%+v) error = %v, want %q", tc.rule, err, tc.want)
			}
		})
	}
}

func TestMatchSummaryICMPInPorts(t *testing.T) {
	rules := []Rule{
		{Src: netip.MustParsePrefix("198.18.0.0/15"), SrcPorts: PortRange{8, 8}, DstPorts: PortRange{0, 0}, Proto: pkt.ProtoICMP, ProtoMask: 0xff},
		{Dst: netip.MustParsePrefix("2001:db8::/32"), SrcPorts: PortRange{128, 128}, DstPorts: AnyPort, Proto: pkt.ProtoICMPv6, ProtoMask: 0xff},
		{SrcPorts: PortRange{0, 0}, DstPorts: PortRange{0, 0}},
		{SrcPorts: AnyPort, DstPorts: AnyPort},
	}
	c, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	echo4 := pkt.Summary{Family: pkt.FamilyIPv4, Proto: pkt.ProtoICMP, ICMPType: 8, Flags: pkt.FlagICMPQuery}
	copy(echo4.Src[:], []byte{198, 18, 0, 1})
	reply4 := echo4
	reply4.ICMPType = 0
	echo6 := pkt.Summary{Family: pkt.FamilyIPv6, Proto: pkt.ProtoICMPv6, ICMPType: 128, ICMPCode: 3}
	echo6.Dst = netip.MustParseAddr("2001:db8::1").As16()
	tcp := pkt.Summary{Family: pkt.FamilyIPv4, Proto: pkt.ProtoTCP, SrcPort: 8, DstPort: 0, Flags: pkt.FlagPorts}
	copy(tcp.Src[:], []byte{198, 18, 0, 1})
	frag := tcp
	frag.Flags = pkt.FlagFragment
	tests := []struct {
		name string
		s    pkt.Summary
		want int
	}{
		{"icmp echo request", echo4, 0},
		{"icmp echo reply", reply4, 2},
		{"icmpv6 echo request any code", echo6, 1},
		{"tcp ports 8->0 is not icmp", tcp, 3},
		{"non-first fragment has no ports", frag, 2},
		{"not ip", pkt.Summary{}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := c.MatchSummary(&tc.s); got != tc.want {
				t.Errorf("MatchSummary(%+v) = %d, want %d", tc.s, got, tc.want)
			}
		})
	}
}

func TestMatchZeroAlloc(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	rules := randRules(rnd, 300, true)
	c, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, 64)
	pks := make([]PacketKey, len(keys))
	for i := range keys {
		keys[i] = randKey(rnd, rules)
		pks[i] = KeyOf(&keys[i])
	}
	out := make([]int32, len(keys))
	var s pkt.Summary
	tests := []struct {
		name string
		f    func()
	}{
		{"Match", func() {
			for i := range keys {
				c.Match(&keys[i])
			}
		}},
		{"MatchPacket", func() {
			for i := range pks {
				c.MatchPacket(&pks[i])
			}
		}},
		{"MatchSummary", func() { c.MatchSummary(&s) }},
		{"MatchBatch", func() { c.MatchBatch(pks, out) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != 0 {
				t.Errorf("%s allocates %v times per run, want 0", tc.name, n)
			}
		})
	}
}

func TestEmptyClassifier(t *testing.T) {
	c, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := Key{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")}
	if i, ok := c.Match(&k); ok || i != -1 {
		t.Errorf("Match(%+v) on no rules = %d %v, want -1 false", k, i, ok)
	}
}

// TestForestManyTrees checks the walk over more trees than lanes (groups of
// treeLanes, the stop on minRule) and batches of them against the linear
// scan: the rules are cut into one small tree each few rules.
func TestForestManyTrees(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		rnd := rand.New(rand.NewPCG(9, 9))
		rules := randRules(rnd, 200, v6)
		var boxes []box
		nd := dims4
		if v6 {
			nd = dims6
		}
		for i := range rules {
			fv4, fv6, err := rules[i].check(i)
			if err != nil {
				t.Fatal(err)
			}
			if v6 && fv6 || !v6 && fv4 {
				boxes = rules[i].toBoxes(boxes, int32(i), v6)
			}
		}
		c := &Classifier{rules: len(rules)}
		fam := &families{}
		c.fam.Store(fam)
		f := &fam.v4
		if v6 {
			f = &fam.v6
		}
		f.nd = nd
		for lo := 0; lo < len(boxes); lo += 5 {
			tr, err := buildTree(nd, 2, 0, boxes[lo:min(len(boxes), lo+5)])
			if err != nil {
				t.Fatal(err)
			}
			if err := f.add(&tr); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(f.roots); n <= 2*treeLanes {
			t.Fatalf("built %d trees, want more than %d", n, 2*treeLanes)
		}
		lin, err := NewLinear(rules)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]Key, 0, 3000)
		for len(keys) < cap(keys) {
			if k := randKey(rnd, rules); k.Src.Is6() == v6 {
				keys = append(keys, k)
			}
		}
		checkAgainstLinear(t, c, lin, keys)
	}
}
