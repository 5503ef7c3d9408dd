// gannet bench bgp: perf/bgpbench — a full Internet table from one gobgpd
// peer into gannet and into BIRD 2 + the Linux FIB, side by side.

package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/perf/bgpbench"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

func newBenchBGPCmd() *cobra.Command {
	var (
		o        bgpbench.Options
		prefixes string
		limit    int
		out      string
	)
	cmd := &cobra.Command{
		Use:   "bgp [--out DIR]",
		Short: "a full BGP table into gannet and into BIRD 2 + the Linux FIB: convergence, withdrawal, memory",
		Long: `Builds network namespaces (names with a random suffix, addresses from
198.18.0.0/15 and 2001:db8::/32 only) with one feeder, gobgpd loaded with a
routing table from an MRT file (default: the full Internet table gannet ships,
about 900k IPv4 and 160k IPv6 prefixes), and three receivers fed from it one
after the other over an IPv4 and an IPv6 session each:

  gannet         gannet run with BGP; a route counts once its tables hold it
                 (gannet status: bgp routes)
  BIRD + Linux   BIRD 2 exporting every route into the kernel's FIB; a route
                 counts once the kernel holds it (fib_triestat, rt6_stats)
  GoBGP alone    GoBGP v4 embedded as gannet embeds it (multipath, the
                 best-path watch) with nothing behind it but a count of the
                 prefixes with a best path: the floor of gannet's speaker

For each it reports the time from the sessions coming up until every route
forwards, the time from the feeder shutting the sessions until none is left,
and the peak RSS (with the kernel's slab growth for BIRD + Linux). With
--rate it feeds gannet once more while gannet pktgen sends a stream of
established traffic through it on a configured route, and compares the rate
delivered at a sink while converging with the idle rate.

Needs root and the Debian packages gobgpd and bird2. Everything it made is
removed when it ends or is interrupted. Writes bgp.txt and bgp.json to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("bench bgp needs root: it creates network namespaces, veth pairs and XDP programs")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Gannet = exe
			if prefixes != "" {
				if o.Prefixes, err = lpmbench.LoadFile(prefixes); err != nil {
					return err
				}
				o.Source = prefixes
			} else if o.Prefixes, err = lpmbench.Default(); err != nil {
				return err
			} else {
				o.Source = lpmbench.DefaultSource
			}
			if limit > 0 {
				o.Prefixes = bgpbench.Sample(o.Prefixes, limit)
				o.Source += fmt.Sprintf(", %d sampled", limit)
			}
			o.Log = cmd.ErrOrStderr()
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := bgpbench.Run(ctx, o)
			if err != nil {
				return err
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			if err := writeBenchOutputs(out,
				benchOutput{"bgp.txt", rep.WriteTable},
				benchOutput{"bgp.json", rep.WriteJSON},
			); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s/bgp.{txt,json}\n", out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&prefixes, "prefixes", "", "prefix list file, one CIDR a line, optionally gzipped (default: shipped full table)")
	fl.IntVar(&limit, "limit", 0, "feed only this many prefixes, sampled evenly from the list, both families in proportion (0: all)")
	fl.Float64Var(&o.Rate, "rate", 100000, "packets per second of the established stream through gannet (0: no traffic phase)")
	fl.IntVar(&o.GenCPU, "gen-cpu", 0, "CPU of the stream's generator")
	fl.IntVar(&o.DUTCPU, "dut-cpu", 1, "CPU of gannet's worker")
	fl.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "longest wait for one convergence or withdrawal")
	fl.DurationVar(&o.Poll, "poll", 50*time.Millisecond, "how often the receivers' route counts are read")
	fl.StringVar(&o.WorkDir, "work-dir", "", "keep configs and logs (gannet, gobgpd, BIRD, pktgen) here (default: a temporary directory, removed)")
	fl.IntVar(&o.Runs, "runs", 2, "feeds per receiver, taking turns; the best of each is reported")
	fl.BoolVar(&o.NoBIRD, "no-bird", false, "feed gannet only (no comparison), e.g. with --profile")
	fl.BoolVar(&o.NoSpeaker, "no-gobgp", false, "leave out the floor: GoBGP embedded as gannet embeds it, with nothing behind it")
	fl.BoolVar(&o.Profile, "profile", false, "gannet writes a CPU profile of its run to --work-dir/gannet.cpu.pprof and its live heap at the first convergence to gannet.heap.pprof")
	fl.StringArrayVar(&o.GannetEnv, "gannet-env", nil, "KEY=VALUE added to gannet run's environment (repeatable), e.g. GOGC=200 or GOMEMLIMIT=2GiB")
	fl.StringVar(&out, "out", "results", "directory for bgp.txt and bgp.json")
	return cmd
}

// newBenchBGPSpeakerCmd is the floor receiver of gannet bench bgp, run by
// it inside its namespace: not for operators, so hidden.
func newBenchBGPSpeakerCmd() *cobra.Command {
	var (
		c     bgpbench.SpeakerConfig
		as    uint32
		rid   string
		peers []string
	)
	cmd := &cobra.Command{
		Use:    "bgp-speaker --socket PATH --as N --router-id A --peer ADDR,AS...",
		Short:  "GoBGP embedded as gannet embeds it, with nothing behind it (the floor receiver of gannet bench bgp)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			c.ASN = as
			if c.RouterID, err = netip.ParseAddr(rid); err != nil || !c.RouterID.Is4() {
				return fmt.Errorf("--router-id %q: not an IPv4 address", rid)
			}
			for _, p := range peers {
				a, n, ok := strings.Cut(p, ",")
				addr, err := netip.ParseAddr(a)
				pas, aerr := strconv.ParseUint(n, 10, 32)
				if !ok || err != nil || aerr != nil {
					return fmt.Errorf("--peer %q: want ADDRESS,AS", p)
				}
				c.Peers = append(c.Peers, bgpbench.SpeakerPeer{Addr: addr, ASN: uint32(pas)})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bgpbench.RunSpeaker(ctx, c)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Socket, "socket", "", "unix socket answering GET /state")
	fl.Uint32Var(&as, "as", 0, "AS number")
	fl.StringVar(&rid, "router-id", "", "router ID (IPv4)")
	fl.StringArrayVar(&peers, "peer", nil, "ADDRESS,AS of a peer (repeat)")
	return cmd
}
