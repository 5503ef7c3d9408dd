package pkt

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// checksumNaive is the slow twin of Checksum: RFC 1071 section 4.1, one
// big-endian 16-bit word at a time into a 32-bit accumulator.
func checksumNaive(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
		sum = sum&0xffff + sum>>16
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum&0xffff + sum>>16)
}

func TestChecksumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9100)
	for i := 0; i < 20000; i++ {
		n := r.IntN(len(buf))
		if i < 200 {
			n = i // every small length, odd and even
		}
		off := r.IntN(8) // unaligned starts
		b := buf[off : off+min(n, len(buf)-off)]
		switch r.IntN(3) {
		case 0:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1: // all ones stresses the carries
			for j := range b {
				b[j] = 0xff
			}
		case 2:
			for j := range b {
				b[j] = 0
			}
		}
		initial := uint16(r.Uint32())
		if got, want := Checksum(b, initial), checksumNaive(b, initial); got != want {
			t.Fatalf("Checksum(len %d, off %d, initial %#x) = %#04x, want %#04x", len(b), off, initial, got, want)
		}
	}
}

// TestChecksumRFC1071Example is the worked example of RFC 1071 section 3.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Errorf("Checksum(%x) = %#04x, want 0xddf2", b, got)
	}
}

// TestChecksumUpdates checks every incremental form against a full
// recomputation over random data, including the RFC 1624 corner where the
// data sums to zero.
func TestChecksumUpdates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		b := make([]byte, 40+2*r.IntN(20))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%100 == 0 {
			clear(b)
		}
		cs := ^Checksum(b, 0)
		full := func() uint16 { return ^Checksum(b, 0) }
		equiv := func(a, c uint16) bool { return a == c || (a == 0 && c == 0xffff) || (a == 0xffff && c == 0) }

		off := 2 * r.IntN(len(b)/2-8)
		switch i % 4 {
		case 0:
			old := binary.BigEndian.Uint16(b[off:])
			nw := uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[off:], nw)
			if got := ChecksumUpdate16(cs, old, nw); !equiv(got, full()) {
				t.Fatalf("ChecksumUpdate16 = %#04x, full recompute %#04x", got, full())
			}
		case 1:
			old := binary.BigEndian.Uint32(b[off:])
			nw := r.Uint32()
			binary.BigEndian.PutUint32(b[off:], nw)
			if got := ChecksumUpdate32(cs, old, nw); !equiv(got, full()) {
				t.Fatalf("ChecksumUpdate32 = %#04x, full recompute %#04x", got, full())
			}
		case 2, 3:
			n := 4
			if i%4 == 3 {
				n = 16
			}
			if off+n > len(b) {
				off = len(b) - n
			}
			old := append([]byte(nil), b[off:off+n]...)
			for j := off; j < off+n; j++ {
				b[j] = byte(r.Uint32())
			}
			if got := ChecksumUpdateAddr(cs, old, b[off:off+n]); !equiv(got, full()) {
				t.Fatalf("ChecksumUpdateAddr(%d bytes) = %#04x, full recompute %#04x", n, got, full())
			}
		}
	}
}

func TestPseudoHeaders(t *testing.T) {
	src4, dst4 := []byte{198, 18, 0, 1}, []byte{203, 0, 113, 9}
	want4 := checksumNaive([]byte{198, 18, 0, 1, 203, 0, 113, 9, 0, ProtoUDP, 0x05, 0xdc}, 0)
	if got := PseudoHeaderSum4(src4, dst4, ProtoUDP, 1500); got != want4 {
		t.Errorf("PseudoHeaderSum4 = %#04x, want %#04x", got, want4)
	}
	src6 := []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	dst6 := []byte{0x64, 0xff, 0x9b, 0, 0, 1, 15: 9}
	ph := append(append(append([]byte(nil), src6...), dst6...), 0, 1, 0x00, 0x10, 0, 0, 0, ProtoTCP)
	if got, want := PseudoHeaderSum6(src6, dst6, ProtoTCP, 0x10010), checksumNaive(ph, 0); got != want {
		t.Errorf("PseudoHeaderSum6 = %#04x, want %#04x", got, want)
	}
}

func TestUDPZeroChecksumRules(t *testing.T) {
	// A segment whose checksum computes to zero must be sent as 0xffff.
	seg := make([]byte, 8)
	pseudo := uint16(0xffff) // with an all-zero segment the sum is 0xffff, so ^sum is 0
	if got := TransportChecksum(pseudo, seg); got != 0 {
		t.Fatalf("setup: TransportChecksum = %#x, want 0", got)
	}
	if got := UDPChecksum(pseudo, seg); got != 0xffff {
		t.Errorf("UDPChecksum = %#x, want 0xffff", got)
	}
	binary.BigEndian.PutUint16(seg[UDPChecksumOff:], 0xffff)
	if !VerifyTransport(pseudo, seg) {
		t.Errorf("0xffff in place of a computed zero does not verify")
	}
	if got := UDPChecksumAfterUpdate(0); got != 0xffff {
		t.Errorf("UDPChecksumAfterUpdate(0) = %#x, want 0xffff", got)
	}
}

func TestDecTTL(t *testing.T) {
	frame := frameIPv4TCP(t)
	h := IPv4(frame[EthernetLen:])
	for h.TTL() > 1 {
		h.DecTTL()
		if Checksum(h[:h.HeaderLen()], 0) != 0xffff {
			t.Fatalf("after DecTTL to %d the header checksum does not verify", h.TTL())
		}
	}
}

// TestChecksumDelta: applying a precomputed delta, ~fold(~cs + delta), is the update
// ChecksumUpdateSum makes, and the sum of two deltas applied at once is the two updates
// one after the other (what the kernel fast path relies on).
func TestChecksumDelta(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 24))
	apply := func(cs, d uint16) uint16 { return ^fold32(uint32(^cs) + uint32(d)) }
	for range 100000 {
		cs := uint16(r.Uint32())
		o1, n1 := uint64(r.Uint32()), uint64(r.Uint32())
		o2, n2 := uint64(r.Uint32()>>r.IntN(32)), uint64(r.Uint32()>>r.IntN(32))
		d1, d2 := ChecksumDelta(o1, n1), ChecksumDelta(o2, n2)
		if got, want := apply(cs, d1), ChecksumUpdateSum(cs, fold64(o1), fold64(n1)); got != want {
			t.Fatalf("cs %#x old %#x new %#x: delta gives %#x, ChecksumUpdateSum %#x", cs, o1, n1, got, want)
		}
		two := ChecksumUpdateSum(ChecksumUpdateSum(cs, fold64(o1), fold64(n1)), fold64(o2), fold64(n2))
		if got := apply(cs, fold32(uint32(d1)+uint32(d2))); got != two {
			t.Fatalf("cs %#x: summed deltas give %#x, two updates %#x", cs, got, two)
		}
	}
}
