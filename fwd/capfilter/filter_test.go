package capfilter

import (
	"flag"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/internal/fuzzcorpus"
	"github.com/gannet-net/gannet/pkt"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpus")

// sum builds the summary of an IP packet for the tests.
func sum(src, dst string, proto uint8, sport, dport uint16) pkt.Summary {
	s := pkt.Summary{Verdict: pkt.OK, Proto: proto}
	a, b := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if a.Is4() {
		s.Family = pkt.FamilyIPv4
		a4, b4 := a.As4(), b.As4()
		copy(s.Src[:], a4[:])
		copy(s.Dst[:], b4[:])
	} else {
		s.Family = pkt.FamilyIPv6
		s.Src, s.Dst = a.As16(), b.As16()
	}
	if proto == pkt.ProtoTCP || proto == pkt.ProtoUDP {
		s.Flags |= pkt.FlagPorts
		s.SrcPort, s.DstPort = sport, dport
	}
	return s
}

func TestMatch(t *testing.T) {
	tcp := sum("198.18.0.1", "198.18.1.2", pkt.ProtoTCP, 40000, 443)
	icmp := sum("198.18.0.1", "198.18.1.2", pkt.ProtoICMP, 0, 0)
	v6 := sum("2001:db8::1", "2001:db8:1::2", pkt.ProtoUDP, 53, 5353)
	arp := pkt.Summary{Verdict: pkt.OK, Family: pkt.FamilyNone}
	for _, tc := range []struct {
		expr string
		s    pkt.Summary
		want bool
	}{
		{"", arp, true},
		{"host 198.18.0.1", tcp, true},
		{"host 198.18.1.2", tcp, true},
		{"src host 198.18.1.2", tcp, false},
		{"dst host 198.18.1.2", tcp, true},
		{"host 198.18.0.9", tcp, false},
		{"net 198.18.0.0/15", tcp, true},
		{"dst net 198.18.1.0/24", tcp, true},
		{"src net 198.18.1.0/24", tcp, false},
		{"net 198.18.0.0/15", v6, false},
		{"net 2001:db8::/32", v6, true},
		{"src net 2001:db8:1::/48", v6, false},
		{"port 443", tcp, true},
		{"src port 443", tcp, false},
		{"dst port 443", tcp, true},
		{"port 443", icmp, false},
		{"tcp", tcp, true},
		{"udp", tcp, false},
		{"icmp", icmp, true},
		{"proto 1", icmp, true},
		{"proto icmp6", icmp, false},
		{"ip", tcp, true},
		{"ip6", tcp, false},
		{"ip6 and udp", v6, true},
		{"icmp or port 443", tcp, true},
		{"icmp and port 443", tcp, false},
		{"not icmp", tcp, true},
		{"! icmp", icmp, false},
		{"not host 198.18.0.1", arp, true},
		{"host 198.18.0.1", arp, false},
		{"tcp and (port 80 or port 443)", tcp, true},
		{"tcp && !(port 80 || port 443)", tcp, false},
		// and binds tighter than or
		{"udp and port 1 or host 198.18.0.1", tcp, true},
		{"udp and (port 1 or host 198.18.0.1)", tcp, false},
		{"not not tcp", tcp, true},
		{"host ::ffff:198.18.0.1", tcp, true}, // a mapped address is its IPv4 address
	} {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.expr, err)
			}
			if got := f.Match(&tc.s); got != tc.want {
				t.Errorf("Parse(%q).Match = %v, want %v", tc.expr, got, tc.want)
			}
			if got := twinMatch(t, tc.expr, &tc.s); got != tc.want {
				t.Errorf("twin(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"host", "word 2: host wants a value"},
		{"host 1.2.3", `word 2: host "1.2.3" is not an IP address`},
		{"net 10.0.0.0", `is not a prefix`},
		{"port 70000", `port "70000" is not a number`},
		{"proto bogus", `proto "bogus" is not tcp`},
		{"tcp udp", `unexpected "udp"`},
		{"(tcp", "want ) to close ("},
		{"tcp)", `unexpected ")"`},
		{"src tcp", "want host, net or port after src"},
		{"tcp and", "expression ends early"},
		{"frob", `unknown word "frob"`},
		{"tcp & udp", `want "&&"`},
		{strings.Repeat("not ", MaxDepth+1) + "tcp", "nested deeper"},
		{strings.Repeat("tcp or ", MaxTerms) + "tcp", "more than 64 terms"},
		{strings.Repeat("x", 2000), "longer than"},
	} {
		t.Run(tc.expr[:min(len(tc.expr), 30)], func(t *testing.T) {
			f, err := Parse(tc.expr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, %v; want an error containing %q", tc.expr, f, err, tc.want)
			}
		})
	}
}

func TestMatchAllocs(t *testing.T) {
	f, err := Parse("tcp and (dst net 198.18.0.0/15 or port 443) and not host 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	s := sum("198.18.0.1", "198.18.1.2", pkt.ProtoTCP, 40000, 443)
	if n := testing.AllocsPerRun(1000, func() { f.Match(&s) }); n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

// TestMatchRandom compares Match with the twin on random filters and
// packets.
func TestMatchRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		expr := randomExpr(rng, 3)
		f, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", expr, err)
		}
		for range 8 {
			s := randomSummary(rng)
			if got, want := f.Match(&s), twinMatch(t, expr, &s); got != want {
				t.Fatalf("Parse(%q).Match(%+v) = %v, twin says %v", expr, s, got, want)
			}
		}
	}
}

var addrs = []string{"198.18.0.1", "198.18.1.2", "100.64.0.1", "2001:db8::1", "2001:db8:1::2"}
var nets = []string{"198.18.0.0/15", "198.18.1.0/24", "100.64.0.0/10", "0.0.0.0/0", "2001:db8::/32", "2001:db8:1::/48", "::/0", "198.18.0.1/32"}

func randomExpr(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.IntN(3) == 0 {
		sides := []string{"", "src ", "dst "}
		switch rng.IntN(6) {
		case 0:
			return sides[rng.IntN(3)] + "host " + addrs[rng.IntN(len(addrs))]
		case 1:
			return sides[rng.IntN(3)] + "net " + nets[rng.IntN(len(nets))]
		case 2:
			return sides[rng.IntN(3)] + "port " + strconv.Itoa([]int{53, 443, 40000}[rng.IntN(3)])
		case 3:
			return []string{"tcp", "udp", "icmp", "icmp6", "proto 17"}[rng.IntN(5)]
		case 4:
			return []string{"ip", "ip6"}[rng.IntN(2)]
		}
		if depth == 0 {
			return "ip"
		}
		return "(" + randomExpr(rng, depth-1) + ")"
	}
	switch rng.IntN(3) {
	case 0:
		return "not " + randomExpr(rng, depth-1)
	case 1:
		return randomExpr(rng, depth-1) + " and " + randomExpr(rng, depth-1)
	}
	return randomExpr(rng, depth-1) + " or " + randomExpr(rng, depth-1)
}

func randomSummary(rng *rand.Rand) pkt.Summary {
	if rng.IntN(10) == 0 {
		return pkt.Summary{Verdict: pkt.OK}
	}
	v4 := rng.IntN(2) == 0
	pick := func() string {
		if v4 {
			return addrs[rng.IntN(3)]
		}
		return addrs[3+rng.IntN(2)]
	}
	protos := []uint8{pkt.ProtoTCP, pkt.ProtoUDP, pkt.ProtoICMP, pkt.ProtoICMPv6}
	ports := []uint16{53, 443, 40000, 1}
	return sum(pick(), pick(), protos[rng.IntN(4)], ports[rng.IntN(4)], ports[rng.IntN(4)])
}

// twinMatch is the slow twin: a recursive evaluator straight over the
// words of the expression, with netip for addresses and prefixes.
func twinMatch(t testing.TB, expr string, s *pkt.Summary) bool {
	toks, err := tokenize(expr)
	if err != nil {
		t.Fatalf("tokenize(%q) = %v", expr, err)
	}
	if len(toks) == 0 {
		return true
	}
	e := &twin{toks: toks, s: s}
	return e.or()
}

type twin struct {
	toks []string
	i    int
	s    *pkt.Summary
}

func (e *twin) peek() string {
	if e.i < len(e.toks) {
		return e.toks[e.i]
	}
	return ""
}

func (e *twin) or() bool {
	v := e.and()
	for e.peek() == "or" || e.peek() == "||" {
		e.i++
		w := e.and()
		v = v || w
	}
	return v
}

func (e *twin) and() bool {
	v := e.unary()
	for e.peek() == "and" || e.peek() == "&&" {
		e.i++
		w := e.unary()
		v = v && w
	}
	return v
}

func (e *twin) unary() bool {
	switch e.peek() {
	case "not", "!":
		e.i++
		return !e.unary()
	case "(":
		e.i++
		v := e.or()
		e.i++ // )
		return v
	}
	return e.primary()
}

func (e *twin) addrs() (src, dst netip.Addr, ok bool) {
	s := e.s
	switch s.Family {
	case pkt.FamilyIPv4:
		return netip.AddrFrom4([4]byte(s.Src[:4])), netip.AddrFrom4([4]byte(s.Dst[:4])), true
	case pkt.FamilyIPv6:
		return netip.AddrFrom16(s.Src), netip.AddrFrom16(s.Dst), true
	}
	return netip.Addr{}, netip.Addr{}, false
}

func (e *twin) primary() bool {
	w := e.toks[e.i]
	e.i++
	sd := ""
	if w == "src" || w == "dst" {
		sd, w = w, e.toks[e.i]
		e.i++
	}
	src, dst, ip := e.addrs()
	names := map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "sctp": 132}
	either := func(f func(netip.Addr) bool) bool {
		return ip && (sd != "dst" && f(src) || sd != "src" && f(dst))
	}
	if n, ok := names[w]; ok {
		return ip && e.s.Proto == n
	}
	switch w {
	case "ip":
		return e.s.Family == pkt.FamilyIPv4
	case "ip6":
		return e.s.Family == pkt.FamilyIPv6
	}
	arg := e.toks[e.i]
	e.i++
	switch w {
	case "host":
		a := netip.MustParseAddr(arg).Unmap()
		return either(func(x netip.Addr) bool { return x == a })
	case "net":
		p := netip.MustParsePrefix(arg)
		return either(p.Contains)
	case "port":
		n, _ := strconv.Atoi(arg)
		if !ip || e.s.Flags&pkt.FlagPorts == 0 {
			return false
		}
		return sd != "dst" && int(e.s.SrcPort) == n || sd != "src" && int(e.s.DstPort) == n
	case "proto":
		if n, ok := names[arg]; ok {
			return ip && e.s.Proto == n
		}
		n, _ := strconv.Atoi(arg)
		return ip && int(e.s.Proto) == n
	}
	panic("twin: " + w)
}

var seeds = []string{
	"",
	"host 198.18.0.1",
	"src net 2001:db8::/32 and not icmp6",
	"tcp and (port 80 or dst port 443)",
	"!(udp||icmp)&&ip",
	"proto 132 or proto sctp",
	"not not not (ip6)",
	"host",
	"(((",
	"port 99999",
	"net 198.18.0.0/33",
	"host fe80::1%eth0",
}

// FuzzParse: any input either fails to parse or gives a filter whose
// normalized text parses to the same program, and that matches as the
// twin does on a few packets; nothing panics.
func FuzzParse(f *testing.F) {
	if *updateCorpus {
		for i, s := range seeds {
			if err := fuzzcorpus.Write("FuzzParse", "seed-"+strconv.Itoa(i), s); err != nil {
				f.Fatal(err)
			}
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	pkts := []pkt.Summary{
		sum("198.18.0.1", "198.18.1.2", pkt.ProtoTCP, 40000, 443),
		sum("2001:db8::1", "2001:db8:1::2", pkt.ProtoUDP, 53, 5353),
		sum("100.64.0.1", "198.18.0.1", pkt.ProtoICMP, 0, 0),
		{Verdict: pkt.OK},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			return
		}
		again, err := Parse(flt.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its text %q does not parse: %v", expr, flt.String(), err)
		}
		if len(again.prog) != len(flt.prog) {
			t.Fatalf("Parse(%q): %d steps, its text %q %d", expr, len(flt.prog), flt.String(), len(again.prog))
		}
		for i := range pkts {
			if got, want := flt.Match(&pkts[i]), twinMatch(t, expr, &pkts[i]); got != want {
				t.Fatalf("Parse(%q).Match(packet %d) = %v, twin says %v", expr, i, got, want)
			}
		}
	})
}
