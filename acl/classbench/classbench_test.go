package classbench

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/acl"
	"github.com/google/go-cmp/cmp"
)

// Sets are the ClassBench rule sets shipped in acl/testdata/classbench.
var Sets = []string{"acl1_1k", "fw1_1k", "ipc1_1k",
	"acl1_10k", "acl2_10k", "acl3_10k", "acl4_10k", "acl5_10k",
	"fw1_10k", "fw2_10k", "fw3_10k", "fw4_10k", "fw5_10k", "ipc1_10k", "ipc2_10k"}

func loadSet(t testing.TB, name string) []acl.Rule {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "classbench", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return rules
}

func TestParseLine(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name, line string
		want       acl.Rule
		err        string
	}{
		{"acl line", "@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t0x0000/0x0200\t",
			acl.Rule{Src: p("176.19.181.33/32"), Dst: p("90.145.23.162/32"), SrcPorts: acl.AnyPort,
				DstPorts: acl.PortRange{Lo: 1550, Hi: 1550}, Proto: 6, ProtoMask: 0xff}, ""},
		{"no spaces around colon, no flags, host bits masked", "@10.1.2.3/8 0.0.0.0/0 1:2 3:4 0x00/0x00",
			acl.Rule{Src: p("10.0.0.0/8"), Dst: p("0.0.0.0/0"), SrcPorts: acl.PortRange{Lo: 1, Hi: 2},
				DstPorts: acl.PortRange{Lo: 3, Hi: 4}}, ""},
		{"missing @", "10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 4 0x00/0x00", acl.Rule{}, "filter does not start with '@'"},
		{"bad source", "@10.0.0.0/33 0.0.0.0/0 1 : 2 3 : 4 0x00/0x00", acl.Rule{},
			`source: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
		{"ipv6 destination", "@10.0.0.0/8 ::/0 1 : 2 3 : 4 0x00/0x00", acl.Rule{}, `destination: "::/0" is not an IPv4 prefix`},
		{"empty port range", "@10.0.0.0/8 0.0.0.0/0 5 : 2 3 : 4 0x00/0x00", acl.Rule{}, "source port: range 5 : 2 is empty"},
		{"port too big", "@10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 65536 0x00/0x00", acl.Rule{},
			`destination port: high port "65536": strconv.ParseUint: parsing "65536": value out of range`},
		{"protocol without mask", "@10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 4 0x06", acl.Rule{}, `protocol: want value/mask, got "0x06"`},
		{"bad flags", "@10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 4 0x06/0xff 0x10000/0", acl.Rule{},
			`flags: value "0x10000": strconv.ParseUint: parsing "0x10000": value out of range`},
		{"too few fields", "@10.0.0.0/8 0.0.0.0/0 1 : 2", acl.Rule{}, "want 9 or 10 fields (src dst sport dport proto [flags]), got 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLine(tc.line)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseLine(%q) error = %v, want %q", tc.line, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tc.line, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseLine(%q) (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

func TestParseErrorNamesLine(t *testing.T) {
	in := "@10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 4 0x00/0x00\n\n@10.0.0.0/8 0.0.0.0/0 1 : 2 3 : 4 0x00\n"
	rules, err := Parse(strings.NewReader(in))
	want := `classbench: line 3: protocol: want value/mask, got "0x00"`
	if err == nil || err.Error() != want || rules != nil {
		t.Fatalf("Parse = %v, %v; want nil, %q", rules, err, want)
	}
}

func TestShippedSetsRoundTrip(t *testing.T) {
	for _, name := range Sets {
		t.Run(name, func(t *testing.T) {
			rules := loadSet(t, name)
			var buf bytes.Buffer
			if err := Format(&buf, rules); err != nil {
				t.Fatal(err)
			}
			again, err := Parse(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rules, again, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Parse(Format(%s)) (-want +got):\n%s", name, diff)
			}
		})
	}
}

// TestShippedSetsDifferential checks the classifier against the linear
// scan on generated headers for every shipped set.
func TestShippedSetsDifferential(t *testing.T) {
	for _, name := range Sets {
		t.Run(name, func(t *testing.T) {
			rules := loadSet(t, name)
			c, err := acl.Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			lin, err := acl.NewLinear(rules)
			if err != nil {
				t.Fatal(err)
			}
			per := 10
			hs := Generate(rules, per, rand.New(rand.NewPCG(7, 7)))
			if len(hs) != per*len(rules) {
				t.Fatalf("Generate made %d headers, want %d", len(hs), per*len(rules))
			}
			limit := 20000
			if testing.Short() || raceEnabled {
				limit = 3000
			}
			hs = hs[:min(len(hs), limit)]
			pks := make([]acl.PacketKey, len(hs))
			for i, h := range hs {
				pks[i] = h.PacketKey()
			}
			batch := make([]int32, len(hs))
			c.MatchBatch(pks, batch)
			for i, h := range hs {
				if got, _ := c.MatchPacket(&pks[i]); int(batch[i]) != got {
					t.Fatalf("MatchBatch: header %d %+v = %d, MatchPacket = %d", i, h, batch[i], got)
				}
			}
			for _, h := range hs {
				k := h.Key()
				pk := h.PacketKey()
				want, wok := lin.Match(&k)
				got, ok := c.MatchPacket(&pk)
				if got != want || ok != wok {
					t.Fatalf("MatchPacket(%+v) = %d %v, want %d %v", h, got, ok, want, wok)
				}
				if !ok {
					t.Fatalf("header %+v matches no rule; every set ends with a catch-all", h)
				}
			}
		})
	}
}

func TestTraceRoundTrip(t *testing.T) {
	rules := loadSet(t, "acl1_1k")
	hs := Generate(rules, 3, rand.New(rand.NewPCG(1, 1)))
	var buf bytes.Buffer
	if err := WriteTrace(&buf, hs); err != nil {
		t.Fatal(err)
	}
	got, err := ParseTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hs, got); diff != "" {
		t.Errorf("ParseTrace(WriteTrace) (-want +got):\n%s", diff)
	}
	_, err = ParseTrace(strings.NewReader("1 2 3 4 6 0\n1 2 3 70000 6\n"))
	want := `classbench: trace line 2: dport: strconv.ParseUint: parsing "70000": value out of range`
	if err == nil || err.Error() != want {
		t.Errorf("ParseTrace error = %v, want %q", err, want)
	}
}

// FuzzParse: whatever Parse accepts formats and parses back to the same
// rules, compiles, and classifies like the linear scan.
func FuzzParse(f *testing.F) {
	f.Add("@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t0x0000/0x0200\t\n")
	f.Add("@10.0.0.0/8 0.0.0.0/0 1:2 3:4 0x00/0x00\n@0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x11/0xF0\n")
	f.Add("@1.2.3.4/33 0.0.0.0/0 1 : 2 3 : 4 0x00/0x00")
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Format(&buf, rules); err != nil {
			t.Fatalf("Format: %v", err)
		}
		again, err := Parse(&buf)
		if err != nil {
			t.Fatalf("Parse(Format(%q)): %v", buf.String(), err)
		}
		if diff := cmp.Diff(rules, again, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Fatalf("Parse(Format) (-want +got):\n%s", diff)
		}
		c, err := acl.Compile(rules)
		if err != nil {
			t.Fatalf("Compile(%v): %v", rules, err)
		}
		lin, _ := acl.NewLinear(rules)
		for _, h := range Generate(rules, 4, rand.New(rand.NewPCG(1, 2))) {
			k := h.Key()
			want, _ := lin.Match(&k)
			if got, _ := c.Match(&k); got != want {
				t.Fatalf("Match(%+v) = %d, want %d", h, got, want)
			}
		}
	})
}
