// Command gannet is the single gannet binary: the forwarding daemon and the
// tools that go with it. Each verb lives in its own file in this directory.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time by the Makefile (-ldflags -X main.version=...).
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "gannet",
		Short: "userspace AF_XDP forwarding appliance for routed data-center networks",
		Long: `gannet forwards packets between NICs, TAP and veth devices through AF_XDP
sockets: longest-prefix-match routing, per-workload policy, border NAT and
stateless IPv4<->IPv6 translation.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newRunCmd(),
		newCleanupCmd(),
		newGendocsCmd(),
		newPcapCmd(),
		newXlatCmd(),
		newBenchCmd(),
		newPktgenCmd(),
		newLabCmd(),
	)
	root.AddCommand(newAPICmds()...)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the gannet version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "gannet %s\n", version)
			return err
		},
	}
}

func main() {
	if err := raiseCapabilities(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet: making the file's permitted capabilities effective:", err)
	}
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet:", err)
		os.Exit(1)
	}
}
