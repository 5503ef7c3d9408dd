package main

// gannet lab check and gannet lab diagram: the connectivity matrix run
// with real tools and printed expected against observed, and the picture
// of the lab coloured by the last check.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/lab"
)

func newLabCheckCmd(newLab func(*cobra.Command, bool) (*lab.Lab, error)) *cobra.Command {
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "check [--json FILE]",
		Short: "run the connectivity matrix against the lab; exit non-zero on any mismatch",
		Long: `Runs every cell of the lab's connectivity matrix with real tools — ping and
traceroute in the source's namespace, TCP, HTTP and UDP connections to the
servers, which answer with their name and the source they saw — and compares
it with what the design says: flat IPv4/IPv6, the db policy, SNAT and the
routable range, the floating IP, tenants with the same IPv4 over the core and
their Internet exit. A blocked cell carries gannet trace's reason from the
deciding host. Exits 1 when any cell differs from the design.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLab(cmd, true)
			if err != nil {
				return err
			}
			if s, err := l.ReadState(); err == nil {
				l.Routing = s.Routing
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			rep, err := l.Check(ctx)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			tb := newTable(w, "KIND", "FROM", "TO", "TOOL", "EXPECT", "OBSERVED", "SEEN SOURCE", "RESPONDER", "RESULT", "REASON")
			for _, c := range rep.Cells {
				result := "pass"
				if !c.Pass {
					result = "FAIL"
				}
				tb.row(c.Kind, c.From+" ("+c.FromHost+")", c.To+" ("+c.ToHost+")", c.Tool, c.Expect, c.Observed, c.SeenSource, c.Responder, result, c.Reason)
			}
			tb.flush()
			if jsonPath != "" {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			failed := rep.Failed()
			fmt.Fprintf(w, "\n%d of %d cells as designed in %v\n", len(rep.Cells)-len(failed), len(rep.Cells), time.Since(start).Round(time.Millisecond))
			if len(failed) > 0 {
				for _, c := range failed {
					fmt.Fprintf(cmd.ErrOrStderr(), "FAIL %s %s -> %s %s: expected %s, observed %s: %s\n", c.Kind, c.From, c.To, c.Tool, c.Expect, c.Observed, c.Reason)
				}
				return errors.New("the lab differs from its design (cells marked FAIL)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the matrix as JSON to FILE")
	return cmd
}

func newLabDiagramCmd(newLab func(*cobra.Command, bool) (*lab.Lab, error)) *cobra.Command {
	var svgPath, pngPath string
	cmd := &cobra.Command{
		Use:   "diagram [--svg FILE] [--png FILE]",
		Short: "draw the lab and its last check's results (SVG and PNG)",
		Long: `Draws the lab's hosts, links and workloads with their addresses and spaces,
coloured by the last gannet lab check: a workload outlined green took part only
in cells that passed, red in one that failed; the matrix is listed below.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLab(cmd, false)
			if err != nil {
				return err
			}
			routing := lab.RoutingStatic
			if lab.BIRDInstalled() {
				routing = lab.RoutingBGP
			}
			if s, err := l.ReadState(); err == nil {
				routing = s.Routing
			}
			rep, err := l.LastCheck()
			if err != nil {
				rep = nil
			}
			d := lab.Layout(l.Topo, routing, rep)
			for _, out := range []struct {
				path  string
				write func(io.Writer) error
			}{{svgPath, d.WriteSVG}, {pngPath, d.WritePNG}} {
				if out.path == "" {
					continue
				}
				f, err := os.Create(out.path)
				if err != nil {
					return err
				}
				if err := out.write(f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out.path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&svgPath, "svg", "gannet-lab.svg", "SVG file to write (empty: none)")
	cmd.Flags().StringVar(&pngPath, "png", "gannet-lab.png", "PNG file to write (empty: none)")
	return cmd
}
