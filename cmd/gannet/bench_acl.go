package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannet-net/gannet/acl/classbench"
	"github.com/gannet-net/gannet/perf/aclbench"
	"github.com/spf13/cobra"
)

// newBenchACLCmd measures the acl classifier against a linear scan on
// ClassBench rule sets and, with --peer dpdk, against DPDK's rte_acl
// (dpdk-test-acl) on the same rules and headers.
func newBenchACLCmd() *cobra.Command {
	var rules []string
	var trace, out, saveTrace, peer string
	var minTime time.Duration
	var repeat, peerIter int
	cmd := &cobra.Command{
		Use:   "acl --rules FILE[,FILE...] [--trace FILE] [--out FILE] [--peer dpdk]",
		Short: "classify ClassBench headers with gannet's acl, a linear scan and optionally DPDK's rte_acl",
		Long: `Reads ClassBench filter files, compiles each, and prints compile time,
table memory and lookups per second for gannet's classifier and for a
linear scan. Without --trace it generates 10 headers per rule (the corners
and random points of each rule). --trace reads lines "src dst sport dport
proto ..." with IPv4 addresses as decimal integers. --out writes the 0-based
index of the first matching rule for each header (-1: none), one per line.
--rules may name several files (repeat it or separate with commas); a
directory stands for every ClassBench file in it.

--peer dpdk runs dpdk-test-acl (Debian package dpdk-dev) on one core on the
same rule file and the same headers, checks that its answers equal gannet's,
and prints one side-by-side table over all sets: lookups per second
(gannet one at a time and in batches of 64; rte_acl scalar and its best
SIMD method), build time and runtime memory. rte_acl's build time is the
wall time of a run on the full rule file minus that of a run on its first
rule (the tool does not print it); its memory is the runtime footprint it
logs after its build. --repeat runs every measurement that many times and
reports medians. When dpdk-test-acl is missing the peer columns are
skipped with a note.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := ruleFiles(rules)
			if err != nil {
				return err
			}
			if len(files) > 1 && (trace != "" || out != "" || saveTrace != "") {
				return fmt.Errorf("--trace, --out and --save-trace take one --rules file, got %d", len(files))
			}
			var dpdk *dpdkPeer
			switch peer {
			case "":
			case "dpdk":
				if dpdk, err = newDPDKPeer(peerIter); err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "peer dpdk skipped: %v\n", err)
					dpdk = nil
				} else {
					defer os.RemoveAll(dpdk.dir)
				}
			default:
				return fmt.Errorf("--peer %q: the only peer is dpdk", peer)
			}
			var rows []aclRow
			for _, file := range files {
				row, err := benchACLSet(cmd.OutOrStdout(), file, trace, out, saveTrace, minTime, repeat, dpdk)
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			if dpdk != nil {
				return printACLRows(cmd.OutOrStdout(), rows, repeat)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&rules, "rules", nil, "ClassBench filter files or directories")
	cmd.Flags().StringVar(&trace, "trace", "", "trace file (default: generate headers)")
	cmd.Flags().StringVar(&out, "out", "", "write the first matching rule index per header to this file")
	cmd.Flags().StringVar(&saveTrace, "save-trace", "", "write the headers used as a trace (e.g. for dpdk-test-acl)")
	cmd.Flags().DurationVar(&minTime, "time", time.Second, "how long each lookup loop runs")
	cmd.Flags().StringVar(&peer, "peer", "", `compare with a peer on the same rules and headers: "dpdk" (dpdk-test-acl)`)
	cmd.Flags().IntVar(&repeat, "repeat", 1, "run each measurement this many times and report medians")
	cmd.Flags().IntVar(&peerIter, "peer-iter", 20, "passes over the trace per dpdk-test-acl timing run")
	return cmd
}

// ruleFiles expands directories to the ClassBench files in them (every
// regular file but README*, LICENSE*, and dot files), sorted.
func ruleFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("--rules is required")
	}
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := e.Name()
			if !e.Type().IsRegular() || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "README") || strings.HasPrefix(n, "LICENSE") {
				continue
			}
			files = append(files, filepath.Join(a, n))
		}
	}
	return files, nil
}

// aclRow is one set's line of the side-by-side table.
type aclRow struct {
	name                  string
	rules, headers, trees int
	gannet, batch         float64 // lookups/s, medians
	compile               time.Duration
	memory                int // bytes
	dpdk                  dpdkResult
	dpdkErr               error
}

// benchACLSet measures one rule file: gannet's table, then the peer's.
func benchACLSet(w io.Writer, file, trace, out, saveTrace string, minTime time.Duration, repeat int, dpdk *dpdkPeer) (aclRow, error) {
	rs, hs, err := aclbench.Load(file, trace)
	if err != nil {
		return aclRow{}, err
	}
	if saveTrace != "" {
		if err := writeTraceFile(saveTrace, hs); err != nil {
			return aclRow{}, err
		}
	}
	row := aclRow{name: filepath.Base(file), rules: len(rs), headers: len(hs)}
	var g, b []float64
	var c []time.Duration
	var res *aclbench.Result
	for range max(1, repeat) {
		if res, err = aclbench.Run(aclbench.Config{Rules: rs, Headers: hs, MinTime: minTime}); err != nil {
			return row, err
		}
		g, b, c = append(g, res.Gannet), append(b, res.GannetBatch), append(c, res.Compile)
	}
	res.Gannet, res.GannetBatch, res.Compile = median(g), median(b), median(c)
	row.gannet, row.batch, row.compile = res.Gannet, res.GannetBatch, res.Compile
	row.memory, row.trees = res.Stats.Bytes, res.Stats.Trees
	if err := res.Print(w, row.name); err != nil {
		return row, err
	}
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return row, err
		}
		if err := aclbench.WriteIndices(f, res.Indices); err != nil {
			f.Close()
			return row, err
		}
		if err := f.Close(); err != nil {
			return row, err
		}
	}
	if res.Agree != res.Headers {
		return row, fmt.Errorf("%s: gannet and the linear scan disagree on %d headers", row.name, res.Headers-res.Agree)
	}
	if dpdk != nil {
		row.dpdk, row.dpdkErr = dpdk.run(file, hs, res.Indices, repeat)
		if row.dpdkErr != nil {
			fmt.Fprintf(w, "dpdk-test-acl on %s: %v\n", row.name, row.dpdkErr)
		}
	}
	fmt.Fprintln(w)
	return row, nil
}

func writeTraceFile(path string, hs []classbench.Header) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := classbench.WriteTrace(f, hs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printACLRows writes the side-by-side table.
func printACLRows(w io.Writer, rows []aclRow, repeat int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "gannet vs rte_acl (dpdk-test-acl, one core), M lookups/s; medians of %d run(s)\n", max(1, repeat))
	fmt.Fprintf(bw, "%-10s %6s %5s | %7s %7s | %7s %13s | %9s %9s | %9s %9s | %s\n",
		"set", "rules", "trees", "gannet", "batch", "scalar", "best SIMD", "build", "rte build", "MiB", "rte MiB", "answers")
	for _, r := range rows {
		fmt.Fprintf(bw, "%-10s %6d %5d | %7.2f %7.2f | ", r.name, r.rules, r.trees, r.gannet/1e6, r.batch/1e6)
		d := r.dpdk
		if r.dpdkErr != nil {
			fmt.Fprintf(bw, "rte_acl failed: %v\n", r.dpdkErr)
			continue
		}
		best := "-"
		if d.bestAlg != "" {
			best = fmt.Sprintf("%.2f %s", d.best/1e6, d.bestAlg)
		}
		fmt.Fprintf(bw, "%7.2f %13s | %9s %9s | %9.2f %9.2f | %d/%d equal\n", d.scalar/1e6, best,
			r.compile.Round(time.Millisecond), d.build.Round(time.Millisecond),
			float64(r.memory)/(1<<20), float64(d.memory)/(1<<20), d.agree, r.headers)
	}
	fmt.Fprintln(bw, "gannet = MatchPacket one key at a time, batch = MatchBatch of 64; rte_acl classifies 256 per call.")
	fmt.Fprintln(bw, "MiB: gannet's tables; rte_acl's runtime footprint as its build logs it. rte build: wall-time difference, see --help.")
	return bw.Flush()
}

// dpdkPeer runs dpdk-test-acl.
type dpdkPeer struct {
	bin  string
	iter int
	dir  string // scratch directory for traces
}

// dpdkResult is what one set's runs found.
type dpdkResult struct {
	scalar, best float64 // lookups/s, medians
	bestAlg      string
	build        time.Duration
	memory       int // runtime bytes
	agree        int // headers whose rte_acl answer equals gannet's
}

// dpdkSIMD are the methods tried beside scalar; a method the CPU or the
// build lacks makes the tool fail and is left out.
var dpdkSIMD = []string{"sse", "avx2", "avx512x16", "avx512x32"}

func newDPDKPeer(iter int) (*dpdkPeer, error) {
	bin, err := exec.LookPath("dpdk-test-acl")
	if err != nil {
		return nil, errors.New("dpdk-test-acl not found: install the Debian package dpdk-dev (apt-get install -y dpdk-dev, or make perf-deps)")
	}
	dir, err := os.MkdirTemp("", "gannet-bench-acl-")
	if err != nil {
		return nil, err
	}
	return &dpdkPeer{bin: bin, iter: max(1, iter), dir: dir}, nil
}

var (
	reRate   = regexp.MustCompile(`([0-9.]+) pkt/sec`)
	reTotal  = regexp.MustCompile(`(?m)^total: ([0-9]+) bytes`)
	reResult = regexp.MustCompile(`(?m)^ipv4_5tuple: ([0-9]+), category: 0, result: ([0-9]+)`)
)

// exec runs the tool on rules and trace (n lines). verbose 1 prints only
// the timing; the tool's default prints every header's answer.
func (p *dpdkPeer) exec(rules, trace string, n int, alg string, iter int, answers bool) (string, time.Duration, error) {
	args := []string{"--no-huge", "-m", "4096", "--no-shconf", "-l", "0", "--force-max-simd-bitwidth=512",
		"--log-level=lib.acl:debug", "--",
		"--rulesf=" + rules, "--tracef=" + trace,
		// PEERS.md: tracenum below the trace's line count overruns a buffer.
		"--tracenum=" + strconv.Itoa(max(n, 1)), "--alg=" + alg, "--iter=" + strconv.Itoa(iter)}
	if !answers {
		args = append(args, "--verbose=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	c := exec.CommandContext(ctx, p.bin, args...)
	c.Stdout, c.Stderr = &buf, &buf
	t0 := time.Now()
	err := c.Run()
	el := time.Since(t0)
	if err != nil {
		return buf.String(), el, fmt.Errorf("dpdk-test-acl --alg=%s: %w: %s", alg, err, lastLines(buf.String(), 3))
	}
	return buf.String(), el, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], " / ")
}

// run measures one rule file on the headers gannet classified as want.
func (p *dpdkPeer) run(rules string, hs []classbench.Header, want []int, repeat int) (dpdkResult, error) {
	var r dpdkResult
	trace := filepath.Join(p.dir, filepath.Base(rules)+".trace")
	if err := writeTraceFile(trace, hs); err != nil {
		return r, err
	}
	defer os.Remove(trace)
	// Answers: one pass printing every header's rule as the tool numbers it,
	// which equals gannet's 0-based index (checked on every shipped set).
	outp, _, err := p.exec(rules, trace, len(hs), "scalar", 1, true)
	if err != nil {
		return r, err
	}
	got := make(map[int]int, len(hs))
	for _, m := range reResult.FindAllStringSubmatch(outp, -1) {
		i, _ := strconv.Atoi(m[1])
		v, _ := strconv.Atoi(m[2])
		got[i] = v
	}
	for i, w := range want {
		if v, ok := got[i+1]; ok && v == w {
			r.agree++
		}
	}
	if m := reTotal.FindStringSubmatch(outp); m != nil {
		r.memory, _ = strconv.Atoi(m[1])
	}
	// Rates: scalar and each SIMD method, medians over repeat.
	rate := func(alg string) (float64, error) {
		var v []float64
		for range max(1, repeat) {
			o, _, err := p.exec(rules, trace, len(hs), alg, p.iter, false)
			if err != nil {
				return 0, err
			}
			m := reRate.FindStringSubmatch(o)
			if m == nil {
				return 0, fmt.Errorf("dpdk-test-acl --alg=%s printed no rate: %s", alg, lastLines(o, 3))
			}
			x, _ := strconv.ParseFloat(m[1], 64)
			v = append(v, x)
		}
		return median(v), nil
	}
	if r.scalar, err = rate("scalar"); err != nil {
		return r, err
	}
	for _, alg := range dpdkSIMD {
		if v, err := rate(alg); err == nil && v > r.best {
			r.best, r.bestAlg = v, alg
		}
	}
	// Build time: the full file minus its first rule, one header, one pass;
	// the least of each over max(2, repeat) runs, as start-up is noisy.
	one := filepath.Join(p.dir, filepath.Base(rules)+".one")
	if err := firstLine(rules, one); err != nil {
		return r, err
	}
	defer os.Remove(one)
	oneTrace := filepath.Join(p.dir, filepath.Base(rules)+".onetrace")
	if err := writeTraceFile(oneTrace, hs[:min(1, len(hs))]); err != nil {
		return r, err
	}
	defer os.Remove(oneTrace)
	least := func(file string) (time.Duration, error) {
		best := time.Duration(-1)
		for range max(2, repeat) {
			_, el, err := p.exec(file, oneTrace, 1, "scalar", 1, false)
			if err != nil {
				return 0, err
			}
			if best < 0 || el < best {
				best = el
			}
		}
		return best, nil
	}
	full, err := least(rules)
	if err != nil {
		return r, err
	}
	base, err := least(one)
	if err != nil {
		return r, err
	}
	r.build = max(0, full-base)
	return r, nil
}

func firstLine(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return os.WriteFile(dst, append(line, '\n'), 0o644)
}

func median[T int | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
