package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl"
	"github.com/gannet-net/gannet/ctl/config"
)

// gannet cleanup: what a stopped gannet leaves on purpose — its XDP
// programs pinned on every port, failing closed until the next start —
// removed for good.
func newCleanupCmd() *cobra.Command {
	var cfgPath, pinPath, stateDir string
	cmd := &cobra.Command{
		Use:   "cleanup [--config FILE] [--pin-path DIR] [--state-dir DIR]",
		Short: "detach the XDP programs a stopped gannet left pinned in this network namespace, and remove its state",
		Long: `gannet run pins its XDP programs (dataplane.pinPath, default /sys/fs/bpf/gannet) so
that a stop or a crash leaves every port failing closed — workload and transit
traffic dropped, the host's own traffic still reaching it — and the next start
takes them over without a gap. cleanup detaches those programs and removes their
pins, for this network namespace: run it when gannet is not coming back (the
package's removal does). It also removes the connection table a stopped gannet
leaves for the next start (dataplane.stateDir, default /run/gannet), and refuses
to while a gannet holds it. The directories are --pin-path and --state-dir, else
the configuration's dataplane.pinPath and dataplane.stateDir, else the defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pinPath == "" || stateDir == "" {
				fromCfg := config.Plan{PinPath: config.DefaultPinPath, StateDir: config.DefaultStateDir}
				if cfgPath != "" {
					data, err := os.ReadFile(cfgPath)
					if err != nil {
						return err
					}
					_, plan, err := config.ParseConfig(data)
					if err != nil {
						return fmt.Errorf("%s: %w", cfgPath, err)
					}
					fromCfg = *plan
				}
				if pinPath == "" {
					pinPath = fromCfg.PinPath
				}
				if stateDir == "" {
					stateDir = fromCfg.StateDir
				}
			}
			removed, err := ctl.Cleanup(pinPath)
			for _, name := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "detached %s\n", name)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "nothing pinned under %s for this network namespace\n", pinPath)
			}
			files, serr := ctl.CleanupState(stateDir)
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", f)
			}
			return errors.Join(err, serr)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file whose dataplane.pinPath and stateDir to clean")
	cmd.Flags().StringVar(&pinPath, "pin-path", "", "pin directory (overrides the configuration)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory (overrides the configuration)")
	return cmd
}
