package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

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
		newBenchBGPCmd(),
		newBenchBGPSpeakerCmd(),
	)
	return bench
}

// benchOutput is one file a bench verb writes into its --out directory.
type benchOutput struct {
	name  string
	write func(io.Writer) error
}

// writeBenchOutputs writes each output to its file in dir.
func writeBenchOutputs(dir string, outs ...benchOutput) error {
	for _, o := range outs {
		f, err := os.Create(filepath.Join(dir, o.name))
		if err != nil {
			return err
		}
		if err := o.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
