package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl"
)

// gannet run: the daemon. It validates the whole configuration and resolves
// every interface before it attaches anything, forwards until SIGINT or
// SIGTERM, then detaches and prints its final counters.
func newRunCmd() *cobra.Command {
	var (
		cfgPath string
		check   bool
		stats   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "run the forwarding data plane described by a configuration file",
		Long: `Reads the YAML configuration (node, dataplane, ports, addressSpaces,
workloadEndpoints, routes, policy, nat, translation), checks all of it and the
interfaces it names, then attaches the XDP program to every port, opens an
AF_XDP socket per worker and port, and forwards until SIGINT or SIGTERM. On
stop it detaches from every interface, releases every socket and prints the
final counters. A bad configuration is rejected with one line per problem,
each naming its field, and nothing is attached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				return err
			}
			_, plan, err := ctl.ParseConfig(data)
			if err != nil {
				return fmt.Errorf("%s: %w", cfgPath, err)
			}
			if check {
				if err := ctl.Check(plan); err != nil {
					return fmt.Errorf("%s: %w", cfgPath, err)
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration valid\n", cfgPath)
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return ctl.Run(ctx, plan, ctl.RunOptions{Log: cmd.ErrOrStderr(), StatsInterval: stats})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and resolve its interfaces, then exit")
	cmd.Flags().DurationVar(&stats, "stats-interval", 0, "print a line of counters this often (0: only at exit)")
	cmd.MarkFlagRequired("config")
	return cmd
}
