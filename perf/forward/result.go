// Results: every run of a scenario yields a Sample; a Row summarises a
// scenario's samples (median, min, max); a Report holds the rows and how
// they were measured, and computes the ratios against the Linux baseline
// and the in-kernel XDP ceiling.

package forward

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Sample is one measured run of a scenario.
type Sample struct {
	TxPPS  float64 `json:"txPps"`  // packets per second the generator sent
	RxPPS  float64 `json:"rxPps"`  // packets per second delivered at the sink
	Loss   float64 `json:"loss"`   // 1 - rx/tx over the run
	DUTCPU float64 `json:"dutCpu"` // busy share of the DUT's CPU, 0..1 (user+system+softirq+irq)
	GenCPU float64 `json:"genCpu"` // busy share of the generator's CPU, 0..1
}

// Stat is the median, minimum and maximum of one figure over the runs.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// StatOf summarises xs; the median of an even count is the mean of the
// middle two. An empty xs gives zeros.
func StatOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// Role says how a row is used in the ratios.
type Role string

const (
	RoleBaseline Role = "baseline" // Linux ip_forward: every row's "vs linux" divides by it
	RoleCeiling  Role = "ceiling"  // in-kernel XDP redirect: "vs xdp" divides by it
	RolePeer     Role = "peer"
	RoleGannet   Role = "gannet"
)

// Row is one scenario's outcome.
type Row struct {
	Name    string   `json:"name"`
	Role    Role     `json:"role"`
	Detail  string   `json:"detail,omitempty"`  // what runs in the DUT, in a few words
	Skipped string   `json:"skipped,omitempty"` // why the scenario did not run (not installed, failed)
	Samples []Sample `json:"samples,omitempty"`
	RxPPS   Stat     `json:"rxPps"`
	TxPPS   Stat     `json:"txPps"`
	Loss    Stat     `json:"loss"`
	DUTCPU  Stat     `json:"dutCpu"`
	GenCPU  Stat     `json:"genCpu"`
	// VsBaseline and VsCeiling are median rx pps over the baseline's and
	// the ceiling's; zero when either side did not run.
	VsBaseline float64 `json:"vsBaseline,omitempty"`
	VsCeiling  float64 `json:"vsCeiling,omitempty"`
}

// Summarize fills the row's statistics from its samples.
func (r *Row) Summarize() {
	pick := func(f func(Sample) float64) Stat {
		xs := make([]float64, len(r.Samples))
		for i, s := range r.Samples {
			xs[i] = f(s)
		}
		return StatOf(xs)
	}
	r.RxPPS = pick(func(s Sample) float64 { return s.RxPPS })
	r.TxPPS = pick(func(s Sample) float64 { return s.TxPPS })
	r.Loss = pick(func(s Sample) float64 { return s.Loss })
	r.DUTCPU = pick(func(s Sample) float64 { return s.DUTCPU })
	r.GenCPU = pick(func(s Sample) float64 { return s.GenCPU })
}

// Ran reports whether the row has measurements.
func (r *Row) Ran() bool { return r.Skipped == "" && len(r.Samples) > 0 }

// Setup says how the numbers were measured.
type Setup struct {
	Kernel     string        `json:"kernel"`
	CPUs       int           `json:"cpus"`
	Generator  string        `json:"generator"` // mode and packets
	Packets    string        `json:"packets"`
	Pinning    string        `json:"pinning"`
	GenCPU     int           `json:"genCpu"`
	DUTCPU     int           `json:"dutCpu"`
	Sink       string        `json:"sink"`
	Duration   time.Duration `json:"duration"`
	Warmup     time.Duration `json:"warmup"`
	Runs       int           `json:"runs"`
	LoadBefore string        `json:"loadBefore"` // /proc/loadavg when the benchmark started
	LoadAfter  string        `json:"loadAfter"`
}

// Report is a whole benchmark.
type Report struct {
	Started time.Time `json:"started"`
	Setup   Setup     `json:"setup"`
	Rows    []Row     `json:"rows"`
	// Generators compares the generators, each sending from one core into
	// a veth pair: RxPPS is what arrived at the far end, VsBaseline is
	// relative to the RoleBaseline row (dpdk-testpmd txonly).
	Generators []Row `json:"generators,omitempty"`
}

// Finish summarises every row and computes the ratios.
func (rep *Report) Finish() {
	finish(rep.Rows)
	finish(rep.Generators)
}

func finish(rows []Row) {
	var base, ceil float64
	for i := range rows {
		r := &rows[i]
		r.Summarize()
		if !r.Ran() {
			continue
		}
		switch r.Role {
		case RoleBaseline:
			base = r.RxPPS.Median
		case RoleCeiling:
			ceil = r.RxPPS.Median
		}
	}
	for i := range rows {
		r := &rows[i]
		r.VsBaseline, r.VsCeiling = 0, 0
		if !r.Ran() {
			continue
		}
		if base > 0 {
			r.VsBaseline = r.RxPPS.Median / base
		}
		if ceil > 0 {
			r.VsCeiling = r.RxPPS.Median / ceil
		}
	}
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(r io.Reader) (*Report, error) {
	var rep Report
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&rep); err != nil {
		return nil, fmt.Errorf("forward report: %w", err)
	}
	return &rep, nil
}

// Mpps formats packets per second in millions with three decimals.
func Mpps(pps float64) string { return fmt.Sprintf("%.3f", pps/1e6) }

func pct(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// WriteTable prints the setup and one line per scenario.
func (rep *Report) WriteTable(w io.Writer) error {
	s := rep.Setup
	var b strings.Builder
	fmt.Fprintf(&b, "gannet bench forward — %s, kernel %s, %d CPUs\n", rep.Started.Format(time.RFC3339), s.Kernel, s.CPUs)
	fmt.Fprintf(&b, "generator: %s\npackets:   %s\npinning:   %s\nsink:      %s\n", s.Generator, s.Packets, s.Pinning, s.Sink)
	fmt.Fprintf(&b, "runs:      %d x %v after %v warm-up; median (min-max)\nload:      before %s, after %s\n\n",
		s.Runs, s.Duration, s.Warmup, s.LoadBefore, s.LoadAfter)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trx Mpps\t(min-max)\ttx Mpps\tloss\tDUT CPU\tgen CPU\tvs linux\tvs xdp")
	var notes []string
	for _, r := range rep.Rows {
		if !r.Ran() {
			fmt.Fprintf(tw, "%s\tskipped\n", r.Name)
			notes = append(notes, fmt.Sprintf("%s: %s", r.Name, r.Skipped))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t(%s-%s)\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name,
			Mpps(r.RxPPS.Median), Mpps(r.RxPPS.Min), Mpps(r.RxPPS.Max), Mpps(r.TxPPS.Median),
			pct(r.Loss.Median), pct(r.DUTCPU.Median), pct(r.GenCPU.Median), ratio(r.VsBaseline), ratio(r.VsCeiling))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		if _, err := fmt.Fprintf(w, "\nskipped:\n  %s\n", strings.Join(notes, "\n  ")); err != nil {
			return err
		}
	}
	if len(rep.Generators) > 0 {
		fmt.Fprintf(w, "\ngenerators (one core each, into a veth pair whose far end drops the frames, addressed to another MAC, at once):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "generator\tdelivered Mpps\t(min-max)\tsent Mpps\tgen CPU\tvs testpmd")
		for _, r := range rep.Generators {
			if !r.Ran() {
				fmt.Fprintf(tw, "%s\tskipped: %s\n", r.Name, r.Skipped)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t(%s-%s)\t%s\t%s\t%s\n", r.Name, Mpps(r.RxPPS.Median), Mpps(r.RxPPS.Min), Mpps(r.RxPPS.Max),
				Mpps(r.TxPPS.Median), pct(r.GenCPU.Median), ratio(r.VsBaseline))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var details []string
	for _, r := range rep.Rows {
		if r.Detail != "" {
			details = append(details, fmt.Sprintf("%s: %s", r.Name, r.Detail))
		}
	}
	if len(details) > 0 {
		_, err := fmt.Fprintf(w, "\nscenarios:\n  %s\n", strings.Join(details, "\n  "))
		return err
	}
	return nil
}
