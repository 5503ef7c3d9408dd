// The report: the receivers side by side, the ratios the goals are
// stated in, and the established stream's rates; as a table and as JSON.

package bgpbench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Goals of issue 14: gannet converges and withdraws at least 3x faster
// than BIRD + Linux and keeps 90% of its established traffic meanwhile.
const (
	GoalSpeedup = 3.0
	GoalTraffic = 0.9
)

// Report is one run.
type Report struct {
	Started time.Time     `json:"started"`
	Source  string        `json:"source"`
	Routes4 int           `json:"ipv4Routes"`
	Routes6 int           `json:"ipv6Routes"`
	Feeder  string        `json:"feeder"`
	BIRD    string        `json:"bird"`
	Inject  time.Duration `json:"injectNs"`
	CPUs    int           `json:"cpus"`
	// GannetEnv is what was added to gannet run's environment
	// (Options.GannetEnv), e.g. a garbage-collector policy.
	GannetEnv  []string `json:"gannetEnv,omitempty"`
	LoadBefore string   `json:"loadBefore"`
	LoadAfter  string   `json:"loadAfter"`
	// Gannet and Kernel are the best runs (shortest convergence) of
	// GannetRuns and KernelRuns, with the processes' peak RSS.
	Gannet     Result   `json:"gannet"`
	Kernel     Result   `json:"birdLinux"`
	GannetRuns []Result `json:"gannetRuns"`
	KernelRuns []Result `json:"birdLinuxRuns"`
	// Speaker is the best run of SpeakerRuns: GoBGP embedded as gannet
	// embeds it, with nothing behind it (the floor of a GoBGP-based
	// gannet); nil when left out.
	Speaker     *Result  `json:"gobgpAlone,omitempty"`
	SpeakerRuns []Result `json:"gobgpAloneRuns,omitempty"`
	Traffic     *Traffic `json:"traffic,omitempty"`
	// Namespaces the run made (and removed).
	Namespaces []string `json:"-"`
}

// Result is one receiver's phase.
type Result struct {
	Routes int `json:"routes"`
	// Established: from the feeder enabling the sessions until both are
	// up. Converged: from the enable until every route forwards. Withdrawn:
	// from the feeder shutting the sessions until no route is left.
	Established time.Duration `json:"establishedNs"`
	Converged   time.Duration `json:"convergedNs"`
	Withdrawn   time.Duration `json:"withdrawnNs"`
	// ConvergeCPU and WithdrawCPU are the CPU time the receiver's
	// control plane used from the enable until every route forwarded and
	// from the shutdown until none was left (cpu_linux.go): what the
	// phases cost whatever else the machine ran.
	ConvergeCPU time.Duration `json:"convergeCPUNs"`
	WithdrawCPU time.Duration `json:"withdrawCPUNs"`
	PeakRSS     uint64        `json:"peakRSS"` // bytes, VmHWM
	// FIBMemory is the kernel memory of the routes (bytes), -1 or 0
	// when not measured; FIBNote says how it was measured.
	FIBMemory int64  `json:"fibMemory,omitempty"`
	FIBNote   string `json:"fibNote,omitempty"`

	enabled, up, converged, disabled, withdrawn time.Time
}

// Traffic is the established stream through gannet while it converges.
type Traffic struct {
	Packets string  `json:"packets"`
	Offered float64 `json:"offered"` // packets/s
	// Delivered rates at the sink, packets/s: idle before the feed,
	// averaged from the feeder's enable until every route forwards
	// (Worst: the lowest 250 ms window), and while the routes go.
	Idle        float64 `json:"idle"`
	Converging  float64 `json:"converging"`
	Worst       float64 `json:"worst"`
	Withdrawing float64 `json:"withdrawing"`
	// gannet's times with the stream running.
	Established time.Duration `json:"establishedNs"`
	Converged   time.Duration `json:"convergedNs"`
	Withdrawn   time.Duration `json:"withdrawnNs"`
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the side-by-side table.
func (r *Report) WriteTable(w io.Writer) error {
	n := r.Routes4 + r.Routes6
	fmt.Fprintf(w, "gannet bench bgp: %s IPv4 + %s IPv6 routes (%s) from one peer, %s\n", thousands(r.Routes4), thousands(r.Routes6), r.Source, r.Feeder)
	fmt.Fprintf(w, "table loaded into the feeder from an MRT file in %v; the receivers were fed in turns, %d times each: the best run of each is shown\n", r.Inject.Round(time.Millisecond), len(r.GannetRuns))
	if len(r.GannetEnv) > 0 {
		fmt.Fprintf(w, "gannet run's environment adds %s\n", strings.Join(r.GannetEnv, " "))
	}
	fmt.Fprintf(w, "%d CPUs shared with other work: load %s before, %s after (ratios from one run are what compares)\n\n", r.CPUs, r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	g, k := r.Gannet, r.Kernel
	// floor is the GoBGP-alone column, when it ran.
	floor := func(f func(Result) string) string {
		if r.Speaker == nil {
			return ""
		}
		return f(*r.Speaker) + "\t"
	}
	head := ""
	if r.Speaker != nil {
		head = "GoBGP alone\t"
	}
	fmt.Fprintf(tw, "\tgannet\t%s + Linux\tratio\tgoal\t%s\n", birdName(r.BIRD), head)
	fmt.Fprintf(tw, "sessions up (from the feeder's enable)\t%s\t%s\t\t\t%s\n", secs(g.Established), secs(k.Established), floor(func(x Result) string { return secs(x.Established) }))
	fmt.Fprintf(tw, "every route forwarding (from the feeder's enable)\t%s\t%s\t%s\t%s\t%s\n", secs(g.Converged), secs(k.Converged), ratio(k.Converged, g.Converged), goal(k.Converged, g.Converged), floor(func(x Result) string { return secs(x.Converged) }))
	fmt.Fprintf(tw, "  routes/s\t%s\t%s\t\t\t%s\n", perSec(n, g.Converged), perSec(n, k.Converged), floor(func(x Result) string { return perSec(n, x.Converged) }))
	fmt.Fprintf(tw, "  each run\t%s\t%s\t\t\t%s\n", eachRun(r.GannetRuns, func(x Result) time.Duration { return x.Converged }), eachRun(r.KernelRuns, func(x Result) time.Duration { return x.Converged }),
		floor(func(Result) string {
			return eachRun(r.SpeakerRuns, func(x Result) time.Duration { return x.Converged })
		}))
	fmt.Fprintf(tw, "every route gone (from the feeder's shutdown)\t%s\t%s\t%s\t%s\t%s\n", secs(g.Withdrawn), secs(k.Withdrawn), ratio(k.Withdrawn, g.Withdrawn), goal(k.Withdrawn, g.Withdrawn), floor(func(x Result) string { return secs(x.Withdrawn) }))
	fmt.Fprintf(tw, "  routes/s\t%s\t%s\t\t\t%s\n", perSec(n, g.Withdrawn), perSec(n, k.Withdrawn), floor(func(x Result) string { return perSec(n, x.Withdrawn) }))
	fmt.Fprintf(tw, "  each run\t%s\t%s\t\t\t%s\n", eachRun(r.GannetRuns, func(x Result) time.Duration { return x.Withdrawn }), eachRun(r.KernelRuns, func(x Result) time.Duration { return x.Withdrawn }),
		floor(func(Result) string {
			return eachRun(r.SpeakerRuns, func(x Result) time.Duration { return x.Withdrawn })
		}))
	fmt.Fprintf(tw, "CPU time to converge (control plane)\t%s\t%s\t%s\t\t%s\n", secs(g.ConvergeCPU), secs(k.ConvergeCPU), ratio(k.ConvergeCPU, g.ConvergeCPU), floor(func(x Result) string { return secs(x.ConvergeCPU) }))
	fmt.Fprintf(tw, "CPU time to withdraw (control plane)\t%s\t%s\t%s\t\t%s\n", secs(g.WithdrawCPU), secs(k.WithdrawCPU), ratio(k.WithdrawCPU, g.WithdrawCPU), floor(func(x Result) string { return secs(x.WithdrawCPU) }))
	fmt.Fprintf(tw, "peak RSS of the process (VmHWM)\t%s\t%s\t\t\t%s\n", mib(int64(g.PeakRSS)), mib(int64(k.PeakRSS)), floor(func(x Result) string { return mib(int64(x.PeakRSS)) }))
	kfib := "not measured"
	if k.FIBMemory > 0 {
		kfib = mib(k.FIBMemory) + " (*)"
	}
	fmt.Fprintf(tw, "kernel FIB memory\t-\t%s\t\t\t%s\n", kfib, floor(func(Result) string { return "-" }))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio: BIRD + Linux's time over gannet's (above 1: gannet is faster).")
	fmt.Fprintln(w, "gannet: routes counted forwarding by its API (bgp routes in gannet status: learned routes its tables hold).")
	fmt.Fprintln(w, "BIRD + Linux: routes counted in the kernel of its namespace (fib_triestat main-table prefixes + rt6_stats entries).")
	if r.Speaker != nil {
		fmt.Fprintln(w, "GoBGP alone: GoBGP v4 embedded as gannet embeds it (multipath, the best-path watch), counting the prefixes with a best path and nothing else: the floor of any gannet built on GoBGP. CPU time: the whole process.")
	}
	fmt.Fprintln(w, "CPU time: gannet's threads but its busy-polling worker; BIRD's process, with the kernel's work in its netlink calls. On a loaded machine the wall-clock times are mostly waiting for a CPU; these are not.")
	if k.FIBNote != "" && k.FIBMemory > 0 {
		fmt.Fprintf(w, "(*) %s.\n", k.FIBNote)
	}
	if t := r.Traffic; t != nil {
		fmt.Fprintf(w, "\nestablished stream through gannet while it converges: %s, offered %s packets/s\n", t.Packets, thousands(int(t.Offered)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "\tpackets/s\tof idle\tgoal\t\n")
		fmt.Fprintf(tw, "idle (before the feed)\t%s\t\t\t\n", thousands(int(t.Idle)))
		fmt.Fprintf(tw, "while converging (average)\t%s\t%s\t%s\t\n", thousands(int(t.Converging)), pct(t.Converging, t.Idle), trafficGoal(t.Converging, t.Idle))
		fmt.Fprintf(tw, "while converging (worst 250 ms)\t%s\t%s\t\t\n", thousands(int(t.Worst)), pct(t.Worst, t.Idle))
		fmt.Fprintf(tw, "while withdrawing (average)\t%s\t%s\t\t\n", thousands(int(t.Withdrawing)), pct(t.Withdrawing, t.Idle))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "gannet's times with the stream running: sessions up %s and every route forwarding %s after the enable, every route gone %s after the shutdown\n",
			secs(t.Established), secs(t.Converged), secs(t.Withdrawn))
	}
	return nil
}

func eachRun(runs []Result, f func(Result) time.Duration) string {
	var out []string
	for _, r := range runs {
		out = append(out, fmt.Sprintf("%.2f", f(r).Seconds()))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

func birdName(v string) string {
	if f := strings.Fields(v); len(f) >= 3 && f[0] == "BIRD" {
		return "BIRD " + f[2]
	}
	return "BIRD"
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func ratio(slow, fast time.Duration) string {
	if fast <= 0 || slow <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(slow)/float64(fast))
}

func goal(slow, fast time.Duration) string {
	if fast <= 0 || slow <= 0 {
		return "-"
	}
	if float64(slow)/float64(fast) >= GoalSpeedup {
		return fmt.Sprintf(">= %.0fx met", GoalSpeedup)
	}
	return fmt.Sprintf(">= %.0fx MISSED", GoalSpeedup)
}

func trafficGoal(v, idle float64) string {
	if idle <= 0 {
		return "-"
	}
	if v/idle >= GoalTraffic {
		return fmt.Sprintf(">= %.0f%% met", 100*GoalTraffic)
	}
	return fmt.Sprintf(">= %.0f%% MISSED", 100*GoalTraffic)
}

func pct(v, of float64) string {
	if of <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v/of)
}

func perSec(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return thousands(int(float64(n) / d.Seconds()))
}

func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
