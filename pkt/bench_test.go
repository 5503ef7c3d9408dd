package pkt

import "testing"

func benchParse(b *testing.B, frame []byte) {
	var s Summary
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		Parse(frame, &s)
	}
	if s.Verdict != OK {
		b.Fatalf("Parse verdict %v (%v)", s.Verdict, s.Reason)
	}
}

func BenchmarkParseIPv4TCP(b *testing.B) { benchParse(b, frameIPv4TCP(b)) }
func BenchmarkParseIPv6UDP(b *testing.B) { benchParse(b, frameIPv6UDP(b)) }

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 40, 64, 576, 1500, 9000} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				Checksum(buf, 0)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
