package forward

import (
	"bytes"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestStatOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Stat
	}{
		{"empty", nil, Stat{}},
		{"one", []float64{3}, Stat{3, 3, 3}},
		{"odd", []float64{5, 1, 3}, Stat{3, 1, 5}},
		{"even", []float64{4, 1, 3, 10}, Stat{3.5, 1, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := StatOf(tc.in); got != tc.want {
				t.Errorf("StatOf(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if !cmp.Equal(in, tc.in) {
				t.Errorf("StatOf modified its input: %v", tc.in)
			}
		})
	}
}

func sampleReport() *Report {
	s := func(rx ...float64) []Sample {
		var out []Sample
		for _, v := range rx {
			out = append(out, Sample{TxPPS: 2e6, RxPPS: v, Loss: 1 - v/2e6, DUTCPU: 0.99, GenCPU: 0.9})
		}
		return out
	}
	return &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Setup: Setup{Kernel: "6.18", CPUs: 2, Generator: "gannet pktgen live", Packets: "IPv4 udp 64B",
			Pinning: "generator CPU 0, DUT CPU 1", Sink: "rx counter", Duration: 5 * time.Second, Warmup: 2 * time.Second,
			Runs: 3, LoadBefore: "0.5", LoadAfter: "1.5"},
		Rows: []Row{
			{Name: "linux-forward", Role: RoleBaseline, Detail: "ip_forward", Samples: s(0.9e6, 1.0e6, 0.8e6)},
			{Name: "xdp-redirect", Role: RoleCeiling, Samples: s(2e6, 1.9e6, 2.1e6)},
			{Name: "tayga", Role: RolePeer, Skipped: "tayga not installed (make perf-deps)"},
			{Name: "gannet-route", Role: RoleGannet, Samples: s(1.2e6, 1.3e6, 1.25e6, 1.1e6)},
		},
		Generators: []Row{
			{Name: "gannet pktgen --mode xsk", Role: RoleGannet, Samples: s(1.8e6, 1.9e6, 1.7e6)},
			{Name: "dpdk-testpmd txonly", Role: RoleBaseline, Samples: s(1.2e6, 1.2e6, 1.3e6)},
			{Name: "gannet pktgen --mode live", Role: RoleGannet, Skipped: "failed: no"},
		},
	}
}

func TestFinishRatios(t *testing.T) {
	rep := sampleReport()
	rep.Finish()
	type got struct {
		Name             string
		Median, Min, Max float64
		VsBase, VsCeil   float64
	}
	var out []got
	for _, r := range rep.Rows {
		out = append(out, got{r.Name, r.RxPPS.Median, r.RxPPS.Min, r.RxPPS.Max, r.VsBaseline, r.VsCeiling})
	}
	want := []got{
		{"linux-forward", 0.9e6, 0.8e6, 1e6, 1, 0.9e6 / 2e6},
		{"xdp-redirect", 2e6, 1.9e6, 2.1e6, 2e6 / 0.9e6, 1},
		{"tayga", 0, 0, 0, 0, 0},
		{"gannet-route", 1.225e6, 1.1e6, 1.3e6, 1.225e6 / 0.9e6, 1.225e6 / 2e6},
	}
	if diff := cmp.Diff(want, out, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })); diff != "" {
		t.Errorf("Finish (-want +got):\n%s", diff)
	}

	if got, want := rep.Generators[0].VsBaseline, 1.8/1.2; math.Abs(got-want) > 1e-9 {
		t.Errorf("pktgen vs testpmd = %v, want %v", got, want)
	}

	// Without a baseline no row has a "vs linux" ratio.
	rep = sampleReport()
	rep.Rows[0].Skipped = "failed"
	rep.Finish()
	for _, r := range rep.Rows {
		if r.VsBaseline != 0 {
			t.Errorf("%s: VsBaseline = %v with the baseline skipped, want 0", r.Name, r.VsBaseline)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestWriteTable(t *testing.T) {
	rep := sampleReport()
	rep.Finish()
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	rep.Finish()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if _, err := ReadJSON(strings.NewReader(`{"rows":[{"nmae":"x"}]}`)); err == nil {
		t.Errorf("ReadJSON accepted an unknown field")
	}
}

func TestChart(t *testing.T) {
	rep := sampleReport()
	rep.Finish()
	var b bytes.Buffer
	if err := rep.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	if got := img.Bounds().Dy(); got != chartTop+chartBottom+chartRowH*len(rep.Rows) {
		t.Errorf("chart height %d for %d rows", got, len(rep.Rows))
	}
	// Each bar's colour fills from the axis to its median and no further
	// (sampled one row below the whisker line).
	top := 2.1e6
	plotW := float64(chartWidth - chartLabelW - chartValueW)
	for i, r := range rep.Rows {
		y := chartTop + i*chartRowH + 7
		inside := img.At(chartLabelW+2, y)
		end := chartLabelW + int(r.RxPPS.Median/top*plotW)
		if !r.Ran() {
			if inside != colBackground && inside != colGrid {
				t.Errorf("%s: skipped row has a bar (%v)", r.Name, inside)
			}
			continue
		}
		if want := roleColours[r.Role]; inside != want {
			t.Errorf("%s: bar colour %v, want %v", r.Name, inside, want)
		}
		if c := img.At(end-2, y); c != roleColours[r.Role] {
			t.Errorf("%s: bar ends before its median at x=%d (%v)", r.Name, end, c)
		}
		if c := img.At(end+3, y); c == roleColours[r.Role] {
			t.Errorf("%s: bar runs past its median at x=%d", r.Name, end)
		}
	}
}

func TestParseLinkStats(t *testing.T) {
	in := `[{"ifindex":5,"ifname":"s1","stats64":{"rx":{"bytes":640,"packets":10,"errors":0,"dropped":2,"over_errors":0,"multicast":0},"tx":{"bytes":64,"packets":1,"errors":0,"dropped":3,"carrier_errors":0,"collisions":0}}}]`
	got, err := ParseLinkStats([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := (LinkStats{RxPackets: 10, RxDropped: 2, TxPackets: 1, TxDropped: 3}); got != want {
		t.Errorf("ParseLinkStats = %+v, want %+v", got, want)
	}
	for _, bad := range []string{``, `[]`, `[{}]`, `{"x":1}`} {
		if _, err := ParseLinkStats([]byte(bad)); err == nil {
			t.Errorf("ParseLinkStats(%q) = nil error", bad)
		}
	}
}

func TestParseProcStatAndSample(t *testing.T) {
	a := "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 100 0 50 800 10 5 5 0 0 0\ncpu1 10 0 10 1000 0 0 0 0 0 0\nintr 5\n"
	b := "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 150 0 100 840 10 5 15 0 0 0\ncpu1 110 0 10 1000 0 0 0 0 0 0\n"
	ca, err := ParseProcStat(strings.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ParseProcStat(strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUTimes{Busy: 160, Total: 970, IRQ: 10}); ca[0] != want {
		t.Errorf("cpu0 = %+v, want %+v", ca[0], want)
	}
	t0 := time.Unix(100, 0)
	ra := Reading{At: t0, Gen: LinkStats{TxPackets: 1000}, Sink: LinkStats{RxPackets: 500}, CPUs: ca, GenCPU: 0, DUTCPU: 1, DUTTicks: 1000}
	rb := Reading{At: t0.Add(2 * time.Second), Gen: LinkStats{TxPackets: 4000, TxDropped: 1000}, Sink: LinkStats{RxPackets: 3500}, CPUs: cb, GenCPU: 0, DUTCPU: 1, DUTTicks: 1150}
	got := SampleOf(ra, rb)
	// DUT: 150 task ticks, capped by the 100 busy ticks of CPU 1.
	want := Sample{TxPPS: 2000, RxPPS: 1500, Loss: 0.25, DUTCPU: 1, GenCPU: 110.0 / 150}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })); diff != "" {
		t.Errorf("SampleOf (-want +got):\n%s", diff)
	}
	rb.DUTTicks = 1040 // 40 ticks of 100: under the cap
	if got := SampleOf(ra, rb).DUTCPU; math.Abs(got-0.4) > 1e-9 {
		t.Errorf("DUTCPU = %v, want 0.4", got)
	}
	if _, err := ParseProcStat(strings.NewReader("cpu0 1 2 x 4 5 6 7 8\n")); err == nil {
		t.Errorf("ParseProcStat accepted a bad field")
	}
}

func TestParseTaskTicks(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"9941 (napi/tb-450) S 2 0 0 0 -1 2129984 0 0 0 0 17 42 0 0 20 0 1 0 5 0 0", 59},
		{"77 (a b) c) R 1 77 77 0 -1 4194560 100 0 0 0 3 4 0 0 20 0 1 0 5 0 0", 7},
		{"garbage", 0},
		{"1 (x) S 1 2", 0},
	}
	for _, tc := range tests {
		if got := ParseTaskTicks(tc.in); got != tc.want {
			t.Errorf("ParseTaskTicks(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
