package nat

// translateFast (checksum deltas computed once per session) against
// translate (sums taken per packet), its slow twin: random packets of
// every translated protocol, random translations, the same bytes and
// summary out of both.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
)

func TestTranslateFastDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	addr := func(v6 bool) string {
		if v6 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rng.IntN(256)), 14: byte(rng.IntN(256)),
				7: byte(rng.IntN(256)), 9: byte(rng.IntN(256))}).String()
		}
		return netip.AddrFrom4([4]byte{198, byte(18 + rng.IntN(2)), byte(rng.IntN(256)), byte(rng.IntN(256))}).String()
	}
	n := 4000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		v6 := rng.IntN(2) == 0
		proto := []string{"tcp", "udp", "ping", "pong"}[rng.IntN(4)]
		f := flow{proto: proto, src: addr(v6), dst: addr(v6), sp: uint16(rng.Uint32()), dp: uint16(rng.Uint32()), flags: "A"}
		if proto == "ping" || proto == "pong" {
			f.dp = 0
		}
		f.payload = make([]byte, rng.IntN(40))
		for j := range f.payload {
			f.payload[j] = byte(rng.Uint32())
		}
		frame := f.frame(t)
		if proto == "udp" && !v6 && rng.IntN(4) == 0 {
			frame[14+20+6], frame[14+20+7] = 0, 0 // no UDP checksum
		}
		var s pkt.Summary
		if v := pkt.Parse(frame, &s); v != pkt.OK {
			t.Fatalf("Parse: %v", v)
		}
		var k key
		if r := keyOf(&s, 0, &k); r != ReasonNone {
			t.Fatalf("keyOf: %v", r)
		}
		// A translation: the reverse of k with some of its fields
		// changed (an ICMP key's zero port stays zero).
		o := k.reverse()
		if rng.IntN(2) == 0 {
			a := mustSummaryAddr(addr(v6))
			o.dst = addrWords(&a)
		}
		if rng.IntN(2) == 0 {
			a := mustSummaryAddr(addr(v6))
			o.src = addrWords(&a)
		}
		sp, dp := o.sport(), o.dport()
		if rng.IntN(2) == 0 && dp != 0 {
			dp = uint16(rng.Uint32()) | 1
		}
		if rng.IntN(2) == 0 && sp != 0 {
			sp = uint16(rng.Uint32()) | 1
		}
		o.m = o.m&^0xffffffff | uint64(sp)<<16 | uint64(dp)
		slow, fast := append([]byte(nil), frame...), append([]byte(nil), frame...)
		ss, sf := s, s
		okS := translate(slow, &ss, &k, &o)
		okF := translateFast(fast, &sf, &k, &o, xlDeltas(&k, &o))
		name := fmt.Sprintf("case %d (%s v6=%v)", i, proto, v6)
		if okS != okF {
			t.Fatalf("%s: translate = %v, translateFast = %v", name, okS, okF)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("%s: frames differ (-translate +translateFast):\n%s", name, diff)
		}
		if ss != sf {
			t.Fatalf("%s: summaries differ: %+v vs %+v", name, ss, sf)
		}
	}
}

// The deltas are what a session stores: both directions, from addSession.
func TestSessionDeltas(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	h.sendOut(out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80))
	s := &h.tab.sess[0]
	k0, k1 := s.loadKey(0), s.loadKey(1)
	want := uint64(xlDeltas(&k0, &k1)) | uint64(xlDeltas(&k1, &k0))<<32
	if got := s.xl.Load(); got != want || got == 0 {
		t.Errorf("session deltas %#x, want %#x (nonzero)", got, want)
	}
}

// negDelta against delta itself: every folded sum against every other
// at the edges (zero, one, all ones, itself, its complement) and against
// random ones. (Every pair was tried once, 2^32 of them; that takes a
// minute.)
func TestNegDelta(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for a := uint64(0); a <= 0xffff; a++ {
		bs := []uint64{0, 1, 0xfffe, 0xffff, a, a ^ 0xffff, a + 1, a - 1}
		for range 8 {
			bs = append(bs, uint64(rng.IntN(0x10000)))
		}
		for _, b := range bs {
			b &= 0xffff
			if got, want := negDelta(delta(a, b), a, b), delta(b, a); got != want {
				t.Fatalf("negDelta(delta(%#x, %#x)) = %#x, want %#x", a, b, got, want)
			}
		}
	}
}

// xlPair against xlDeltas both ways, on random keys of every family and
// protocol (with the small sums and equal keys where the edge cases are).
func TestXLPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	word := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return uint64(rng.IntN(4))
		}
		return rng.Uint64()
	}
	for i := range 200000 {
		fam := []pkt.Family{pkt.FamilyIPv4, pkt.FamilyIPv6}[rng.IntN(2)]
		proto := []uint8{pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMP, pkt.ProtoICMPv6, 47}[rng.IntN(5)]
		mk := func() key {
			k := key{src: [2]uint64{word(), word()}, dst: [2]uint64{word(), word()},
				m: packM(uint16(rng.IntN(3)), fam, proto, uint16(word()), uint16(word()))}
			if fam == pkt.FamilyIPv4 {
				k.src = [2]uint64{k.src[0] & 0xffffffff, 0}
				k.dst = [2]uint64{k.dst[0] & 0xffffffff, 0}
			}
			return k
		}
		k0, k1 := mk(), mk()
		if rng.IntN(8) == 0 {
			k1 = k0.reverse()
		}
		want := uint64(xlDeltas(&k0, &k1)) | uint64(xlDeltas(&k1, &k0))<<32
		if got := xlPair(&k0, &k1); got != want {
			t.Fatalf("case %d: xlPair(%v, %v) = %#x, want %#x", i, k0, k1, got, want)
		}
	}
}

// xlDeltas is the slow twin of xlPair, one direction at a time: the
// checksum deltas of translating a packet of key k to the reverse of o,
// laid out as each half of xlPair.
func xlDeltas(k, o *key) uint32 {
	fam, proto := pkt.Family(k.m>>40), uint8(k.m>>32)
	oldA := sumAddr(k.src, fam) + sumAddr(k.dst, fam)
	newA := sumAddr(o.dst, fam) + sumAddr(o.src, fam)
	oldP := lePort(k.sport()) + lePort(k.dport())
	newP := lePort(o.dport()) + lePort(o.sport())
	var l4 uint16
	switch proto {
	case pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMPv6:
		// An ICMP query key holds the identifier in one port and zero
		// in the other, so the ports' sum is the identifier's.
		l4 = delta(oldA+oldP, newA+newP)
	case pkt.ProtoICMP:
		l4 = delta(oldP, newP)
	}
	var ip uint16
	if fam == pkt.FamilyIPv4 {
		ip = delta(oldA, newA)
	}
	return uint32(ip)<<16 | uint32(l4)
}
