package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gannet-net/gannet/acl/classbench"
	"github.com/gannet-net/gannet/perf/aclbench"
	"github.com/spf13/cobra"
)

// newBenchACLCmd measures the acl classifier against a linear scan on a
// ClassBench rule set.
func newBenchACLCmd() *cobra.Command {
	var rules, trace, out, saveTrace string
	var minTime time.Duration
	cmd := &cobra.Command{
		Use:   "acl --rules FILE [--trace FILE] [--out FILE]",
		Short: "classify ClassBench headers with gannet's acl and a linear scan",
		Long: `Reads a ClassBench filter file, compiles it, and prints compile time,
table memory and lookups per second for gannet's classifier and for a
linear scan. Without --trace it generates 10 headers per rule (the corners
and random points of each rule). --trace reads lines "src dst sport dport
proto ..." with IPv4 addresses as decimal integers. --out writes the 0-based
index of the first matching rule for each header (-1: none), one per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rules == "" {
				return fmt.Errorf("--rules is required")
			}
			rs, hs, err := aclbench.Load(rules, trace)
			if err != nil {
				return err
			}
			if saveTrace != "" {
				f, err := os.Create(saveTrace)
				if err != nil {
					return err
				}
				if err := classbench.WriteTrace(f, hs); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			res, err := aclbench.Run(aclbench.Config{Rules: rs, Headers: hs, MinTime: minTime})
			if err != nil {
				return err
			}
			if err := res.Print(cmd.OutOrStdout(), filepath.Base(rules)); err != nil {
				return err
			}
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				if err := aclbench.WriteIndices(f, res.Indices); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if res.Agree != res.Headers {
				return fmt.Errorf("gannet and the linear scan disagree on %d headers", res.Headers-res.Agree)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rules, "rules", "", "ClassBench filter file")
	cmd.Flags().StringVar(&trace, "trace", "", "trace file (default: generate headers)")
	cmd.Flags().StringVar(&out, "out", "", "write the first matching rule index per header to this file")
	cmd.Flags().StringVar(&saveTrace, "save-trace", "", "write the headers used as a trace (e.g. for dpdk-test-acl)")
	cmd.Flags().DurationVar(&minTime, "time", time.Second, "how long each lookup loop runs")
	return cmd
}
