package bgpbench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/lab/namespace"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

// TestRunSmall runs the whole benchmark on 10,000 prefixes of the full
// table, once per receiver, with a short traffic phase, so it cannot rot:
// both receivers install and remove every route, the stream gets through
// gannet, and the report prints. It checks what happened, never how fast.
// Root only; needs gobgpd and bird2.
func TestRunSmall(t *testing.T) {
	if ok, why := namespace.Root(); !ok {
		t.Skip(why)
	}
	if err := Needs(); err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("builds gannet and runs gobgpd, BIRD and gannet for a minute")
	}
	bin := filepath.Join(t.TempDir(), "gannet")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gannet-net/gannet/cmd/gannet").CombinedOutput(); err != nil {
		t.Fatalf("building gannet: %v\n%s", err, out)
	}
	ps, err := lpmbench.Default()
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	work := t.TempDir()
	rep, err := Run(ctx, Options{
		Gannet: bin, Prefixes: Sample(ps, 10000), Source: "10,000 of the full table",
		Runs: 1, Rate: 20000, Timeout: 3 * time.Minute, WorkDir: work, Log: &log, Profile: true,
		GannetEnv: []string{"GODEBUG=gctrace=1"},
	})
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := len(Table(Sample(ps, 10000)))
	if rep.Routes4+rep.Routes6 != want || rep.Routes4 == 0 || rep.Routes6 == 0 {
		t.Errorf("report has %d IPv4 + %d IPv6 routes, want %d of both families", rep.Routes4, rep.Routes6, want)
	}
	if rep.Speaker == nil {
		t.Fatal("no GoBGP-alone result")
	}
	for _, r := range []struct {
		name string
		res  Result
	}{{"gannet", rep.Gannet}, {"BIRD", rep.Kernel}, {"GoBGP alone", *rep.Speaker}} {
		if r.res.Routes != want || r.res.Established <= 0 || r.res.Converged <= 0 || r.res.Withdrawn <= 0 || r.res.PeakRSS == 0 {
			t.Errorf("%s: %+v: want every time and the peak RSS measured", r.name, r.res)
		}
		if r.res.ConvergeCPU <= 0 || r.res.ConvergeCPU > r.res.Converged*time.Duration(runtime.NumCPU()) {
			t.Errorf("%s: CPU time converging %v: want more than none and at most %d CPUs over %v", r.name, r.res.ConvergeCPU, runtime.NumCPU(), r.res.Converged)
		}
	}
	// --gannet-env reaches gannet run (the runtime traces its collections
	// to its log) and is reported.
	if b, _ := os.ReadFile(filepath.Join(work, "gannet.log")); !strings.Contains(string(b), "gc 1 @") {
		t.Errorf("gannet.log has no gctrace line: GannetEnv did not reach gannet run")
	}
	if strings.Join(rep.GannetEnv, " ") != "GODEBUG=gctrace=1" {
		t.Errorf("report's GannetEnv = %q, want [GODEBUG=gctrace=1]", rep.GannetEnv)
	}
	// --profile: gannet's CPU profile at its stop, its heap at the first
	// convergence; both gzipped pprof.
	for _, f := range []string{"gannet.cpu.pprof", "gannet.heap.pprof"} {
		b, err := os.ReadFile(filepath.Join(work, f))
		if err != nil || len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: %d bytes, %v: want a gzipped profile", f, len(b), err)
		}
	}
	if tr := rep.Traffic; tr == nil || tr.Idle <= 0 || tr.Converged <= 0 {
		t.Errorf("traffic phase: %+v: want the idle rate and a convergence under traffic", tr)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"every route forwarding", "every route gone", "CPU time to converge", "peak RSS", "while converging", "GoBGP alone"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("\n%s", table.String())
	// Nothing of the lab is left.
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, ns := range rep.Namespaces {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if len(rep.Namespaces) != 6 {
		t.Errorf("the report names namespaces %v, want 6", rep.Namespaces)
	}
}
