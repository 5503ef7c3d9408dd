package main

import "github.com/spf13/cobra"

// newBenchCmd is the parent of the benchmark verbs (gannet bench lpm, acl,
// forward, ...). Each subcommand lives in its own bench_*.go file.
func newBenchCmd() *cobra.Command {
	bench := &cobra.Command{
		Use:   "bench",
		Short: "measure gannet's components side by side with their peers",
	}
	bench.AddCommand(
		// Subcommands are added here, one line each.
		newBenchLPMCmd(),
		newBenchACLCmd(),
		newBenchForwardCmd(),
	)
	return bench
}
