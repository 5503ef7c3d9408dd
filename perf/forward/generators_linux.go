// The generator comparison: gannet pktgen (AF_XDP and live frames) and
// dpdk-testpmd --forward-mode=txonly over its AF_XDP driver, each sending
// from one core into the same kind of veth pair, measured at the far end
// like the forwarding scenarios.

package forward

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gannet-net/gannet/lab/namespace"
)

// generator is one row of the comparison.
type generator struct {
	name, detail string
	role         Role // the testpmd row is the baseline of "vs testpmd"
	needs        string
	start        func(e *env) (*proc, error)
}

func generators(o *Options) []generator {
	p := o.Packets
	pktgen := func(mode string) func(e *env) (*proc, error) {
		return func(e *env) (*proc, error) {
			return e.background(e.gen, "pktgen-"+mode+".log", "nice", pinned(o.GenCPU,
				o.Gannet, "pktgen", "--mode", mode, "--dev", e.g, "--dst-mac", otherHost,
				"--src", p.Src.String(), "--src-addrs", strconv.Itoa(p.SrcAddrs), "--sport", strconv.Itoa(int(p.SrcPort)),
				"--dst", p.Dst.String(), "--dport", strconv.Itoa(int(p.DstPort)), "--flows", strconv.Itoa(p.Flows),
				"--size", strconv.Itoa(p.FrameSize), "--cores", strconv.Itoa(o.GenCPU), "--duration", "0", "--quiet")...)
		}
	}
	return []generator{
		{name: "gannet pktgen --mode xsk", role: RoleGannet, detail: "AF_XDP (copy mode on veth), one thread", start: pktgen("xsk")},
		{name: "gannet pktgen --mode live", role: RoleGannet, detail: "BPF_PROG_RUN live frames, one thread", start: pktgen("live")},
		{name: "dpdk-testpmd txonly", role: RoleBaseline, needs: "dpdk-testpmd", detail: "--forward-mode=txonly over net_af_xdp, forwarding lcore on the generator CPU",
			start: func(e *env) (*proc, error) {
				return e.background(e.gen, "testpmd-txonly.log", "nice", "-n", strconv.Itoa(benchNice), "dpdk-testpmd",
					"-l", fmt.Sprintf("%d,%d", o.GenCPU, o.DUTCPU), "--main-lcore", strconv.Itoa(o.DUTCPU),
					"--no-pci", "--no-huge", "-m", "1024", "--file-prefix="+e.lab.Name("tx"),
					"--vdev", fmt.Sprintf("net_af_xdp0,iface=%s,queue_count=1", e.g),
					"--", "--forward-mode=txonly", "--auto-start", "--total-num-mbufs=16384", "--stats-period=60",
					fmt.Sprintf("--txpkts=%d", p.FrameSize), "--eth-peer=0,"+otherHost)
			}},
	}
}

// otherHost is the destination MAC of every generator's frames here: not
// the sink's, so the sink's stack drops them at once (PACKET_OTHERHOST).
const otherHost = "02:00:00:00:00:99"

// buildPair makes a generator namespace and a sink namespace joined by one
// veth pair. veth counts a frame as received when the sink's side takes
// it; the sink's stack drops it at once (it is for another host's MAC).
// That work lands on the sending CPU, as everything on veth does, and is
// the same small cost for every generator. GRO on the sink lets frames
// transmitted by XDP (live mode) in.
func buildPair(o *Options, dir string) (*env, error) {
	l, err := namespace.NewScratch()
	if err != nil {
		return nil, err
	}
	e := &env{opts: o, lab: l, dir: dir, g: l.Name("g"), s: l.Name("s")}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if e.gen, err = l.AddNS("gen"); err != nil {
		return nil, err
	}
	if e.sink, err = l.AddNS("snk"); err != nil {
		return nil, err
	}
	if err := l.Veth(e.gen, e.g, e.sink, e.s, 0); err != nil {
		return nil, err
	}
	if err := e.run(e.sink, "ethtool", "-K", e.s, "gro", "on"); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// runGenerators measures each generator: warm-up, then Runs windows.
func runGenerators(ctx context.Context, o *Options) []Row {
	var rows []Row
	for _, g := range generators(o) {
		row := Row{Name: g.name, Role: g.role, Detail: g.detail}
		fmt.Fprintf(o.Log, "generator %s: %s\n", g.name, g.detail)
		if g.needs != "" {
			if _, err := exec.LookPath(g.needs); err != nil {
				row.Skipped = g.needs + " not installed (make perf-deps)"
			}
		}
		if row.Skipped == "" {
			s, err := measureGenerator(ctx, o, g)
			if ctx.Err() != nil {
				return rows
			}
			if err != nil {
				row.Skipped = "failed: " + err.Error()
			}
			row.Samples = s
		}
		if row.Skipped != "" {
			fmt.Fprintf(o.Log, "  skipped: %s\n", row.Skipped)
		}
		rows = append(rows, row)
	}
	return rows
}

func measureGenerator(ctx context.Context, o *Options, g generator) ([]Sample, error) {
	dir := filepath.Join(o.WorkDir, "generator-"+strings.NewReplacer(" ", "", "-", "").Replace(g.name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e, err := buildPair(o, dir)
	if err != nil {
		return nil, err
	}
	defer e.close()
	p, err := g.start(e)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	prev, err := e.read()
	if err != nil {
		return nil, err
	}
	var out []Sample
	for i := range o.Runs {
		if err := sleepCtx(ctx, o.Duration); err != nil {
			return nil, err
		}
		if err := p.Exited(); err != nil {
			return nil, err
		}
		cur, err := e.read()
		if err != nil {
			return nil, err
		}
		s := SampleOf(prev, cur)
		s.DUTCPU = 0 // no DUT here
		fmt.Fprintf(o.Log, "    run %d: sent %s Mpps, delivered %s Mpps, generator CPU %.0f%%\n", i+1, Mpps(s.TxPPS), Mpps(s.RxPPS), 100*s.GenCPU)
		out = append(out, s)
		prev = cur
	}
	return out, nil
}
