// gannet bench forward: the side-by-side forwarding benchmark of
// perf/forward — gannet, the Linux kernel and other forwarders between
// network namespaces, driven by gannet pktgen — as a table, JSON and PNG.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/perf/forward"
	"github.com/gannet-net/gannet/perf/pktgen"
)

func newBenchForwardCmd() *cobra.Command {
	var (
		o     forward.Options
		flows int
		only  string
		out   string
	)
	cmd := &cobra.Command{
		Use:   "forward [--out DIR]",
		Short: "forwarding rate of gannet, Linux, nftables, TAYGA, dpdk-testpmd and an XDP redirect over veth",
		Long: `Builds generator -> DUT -> sink network namespaces over veth pairs (names
with a random suffix, addresses from 198.18.0.0/15 and 2001:db8::/32 only)
for each scenario, runs gannet pktgen with the same packets against it, and
reports packets per second delivered at the sink, loss and the DUT's CPU:
median with min and max over --runs runs after a warm-up, with ratios
against Linux forwarding and the in-kernel XDP redirect ceiling. Peers that
are not installed are skipped with a note (make perf-deps installs them).
Everything it made is removed when it ends or is interrupted. Root only.

Writes forward.txt (the table), forward.json and forward.png to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("bench forward needs root: it creates network namespaces, veth pairs and XDP programs")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Gannet = exe
			if only != "" {
				o.Only = strings.Split(only, ",")
			}
			o.Log = cmd.ErrOrStderr()
			o.Packets = forward.DefaultPackets()
			if flows != 0 {
				if flows < 1 || flows > pktgen.MaxFlows {
					return fmt.Errorf("--flows: %d outside 1..%d", flows, pktgen.MaxFlows)
				}
				o.Packets.Flows = flows
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := forward.Run(ctx, o)
			if err != nil {
				return err
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			if err := writeBenchOutputs(out,
				benchOutput{"forward.txt", rep.WriteTable},
				benchOutput{"forward.json", rep.WriteJSON},
				benchOutput{"forward.png", rep.WritePNG},
			); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s/forward.{txt,json,png}\n", out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&flows, "flows", 0, "flows the generator cycles through (default 256; many flows measure the cost of new and short flows)")
	fl.DurationVar(&o.Duration, "duration", 5*time.Second, "length of one run")
	fl.DurationVar(&o.Warmup, "warmup", 2*time.Second, "traffic before the first run")
	fl.IntVar(&o.Runs, "runs", 3, "runs per scenario (median, min, max reported)")
	fl.IntVar(&o.GenCPU, "gen-cpu", 0, "CPU of the generator (and the sink's stack work)")
	fl.IntVar(&o.DUTCPU, "dut-cpu", 1, "CPU of the device under test")
	fl.StringVar(&only, "only", "", "comma-separated scenario names (default: all)")
	fl.StringVar(&out, "out", "results", "directory for forward.txt, forward.json, forward.png")
	fl.StringVar(&o.GenMode, "gen-mode", "live", "generator engine: live (BPF_PROG_RUN live frames) or xsk (AF_XDP; use it with --rate for a smooth rate)")
	fl.Float64Var(&o.Rate, "rate", 0, "offered packets per second (0: as fast as the generator goes, i.e. overload)")
	fl.StringVar(&o.GannetIdle, "gannet-idle", "poll", "dataplane.idle of the gannet scenarios: poll or busy")
	fl.BoolVar(&o.Generators, "generators", true, "also compare gannet pktgen with dpdk-testpmd txonly, each on one core")
	fl.StringVar(&o.WorkDir, "work-dir", "", "keep every scenario's configs and logs (gannet's final counters, testpmd's output) here (default: a temporary directory, removed)")
	return cmd
}
