// gannet bench lpm: the route-table benchmark of perf/lpmbench on any
// prefix list, printed as one side-by-side table.

package main

import (
	"net/netip"
	"time"

	"github.com/gannet-net/gannet/perf/lpmbench"
	"github.com/spf13/cobra"
)

func newBenchLPMCmd() *cobra.Command {
	var (
		prefixes string
		duration time.Duration
		pairs    int
		seed     uint64
		rounds   int
	)
	cmd := &cobra.Command{
		Use:   "lpm",
		Short: "compare gannet's route table with bart.Fast on a prefix list",
		Long: `Builds gannet's lpm table and bart.Fast from the same prefix list (one CIDR a
line, optionally gzipped; default: the full Internet table shipped with
gannet), assigns next hops from 16 values, and reports in one table: random
lookups for IPv4 and IPv6, batch lookups, live heap of the full table, build
time, and route updates per second while a reader keeps looking up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ps []netip.Prefix
			var err error
			source := lpmbench.DefaultSource
			if prefixes == "" {
				ps, err = lpmbench.Default()
			} else {
				ps, err = lpmbench.LoadFile(prefixes)
				source = prefixes
			}
			if err != nil {
				return err
			}
			rep := lpmbench.Run(ps, lpmbench.Options{Source: source, Duration: duration, Pairs: pairs, Seed: seed, Rounds: rounds})
			return rep.Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&prefixes, "prefixes", "", "prefix list file, one CIDR a line, optionally gzipped (default: shipped full table)")
	cmd.Flags().DurationVar(&duration, "duration", 500*time.Millisecond, "time per lookup measurement")
	cmd.Flags().IntVar(&pairs, "pairs", 20000, "update pairs (delete+insert) per table")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for keys and updates")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "alternating rounds per lookup metric (median reported)")
	return cmd
}
