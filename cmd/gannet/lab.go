package main

// gannet lab: the whole data-center network on this machine — two compute
// hosts and a border running gannet under a BIRD route reflector, the
// Internet behind the border, workloads covering the design — built,
// listed, entered, checked, drawn and removed. The lab package does the
// work; this file is its command line.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/lab"
	"github.com/gannet-net/gannet/lab/namespace"
)

func newLabCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "build, check and draw a small data center of gannet hosts in network namespaces",
		Long: `gannet lab builds, in network namespaces on this machine, a small
data center: an IPv6 core with a BIRD 2 route reflector (static routes when
BIRD is not installed), two compute hosts and a border each running gannet run
with a generated configuration, an "Internet" behind the border, and workloads
covering the design — flat IPv4 and IPv6, natOutgoing and routable ranges, a
policy, a floating IP, two tenants with the same IPv4 addresses over the core,
and the same IPv4 on two workloads of one host.

  sudo gannet lab up         build it (does nothing if it is up)
  sudo gannet lab check      the connectivity matrix, expected against observed
  sudo gannet lab diagram    a picture of it (SVG and PNG)
  sudo gannet lab exec web -- ping 198.18.22.20
  sudo gannet lab down       remove everything it made

The namespaces are named gl-NAME (gl-web, gl-h1, ...) for the lab under the
default --dir, and gl-XXXXXX-NAME for a lab under any other directory (XXXXXX
from a hash of the directory), so several labs can be up at once; status,
exec and down find a lab's namespaces from its --dir.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", lab.DefaultDir, "the lab's state directory (configurations, pid files, logs)")
	// newLab is the lab under --dir; root says the verb changes or probes
	// the lab, which needs root and the lab's tools.
	newLab := func(cmd *cobra.Command, root bool) (*lab.Lab, error) {
		if root {
			if err := lab.Preflight(); err != nil {
				return nil, err
			}
		}
		bin, err := os.Executable()
		if err != nil {
			return nil, err
		}
		return lab.New(dir, bin, cmd.ErrOrStderr()), nil
	}
	var routing string
	up := &cobra.Command{
		Use:   "up",
		Short: "build the lab, or do nothing if it is up (root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLab(cmd, false)
			if err != nil {
				return err
			}
			switch routing {
			case "auto":
			case string(lab.RoutingBGP):
				if !lab.BIRDInstalled() {
					return errors.New("--routing bgp needs BIRD 2 (apt-get install bird2)")
				}
				l.Routing = lab.RoutingBGP
			case string(lab.RoutingStatic):
				l.Routing = lab.RoutingStatic
			default:
				return fmt.Errorf("--routing %q: want auto, bgp or static", routing)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := l.Up(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab up under %s (%s routing, ready in %v); next: gannet lab check\n", dir, s.Routing, s.Converged.Round(time.Millisecond))
			return nil
		},
	}
	up.Flags().StringVar(&routing, "routing", "auto", "auto (BIRD when installed), bgp or static")
	down := &cobra.Command{
		Use:   "down",
		Short: "remove the lab: daemons, XDP programs, namespaces, links and files (root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLab(cmd, true)
			if err != nil {
				return err
			}
			if err := l.Down(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab under %s removed\n", dir)
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "list the lab's nodes, daemons and workloads with their addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLab(cmd, false)
			if err != nil {
				return err
			}
			s, err := l.ReadState()
			if err != nil {
				return err
			}
			l.Routing = s.Routing
			return printLabStatus(cmd, l, s)
		},
	}
	exe := &cobra.Command{
		Use:   "exec NODE -- COMMAND [ARG...]",
		Short: "run a command in a lab node's or workload's namespace",
		Long: `Runs COMMAND inside the namespace of NODE (a host, core, inet, or a workload
name from gannet lab status). On a gannet host, GANNET_SOCKET points at that
host's API, so "gannet lab exec h1 -- gannet status" asks h1's gannet.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := newLab(cmd, true)
			if err != nil {
				return err
			}
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: gannet lab exec NODE -- COMMAND [ARG...]")
			}
			ns, ok := l.Topo.Namespace(args[0])
			if !ok || !namespace.Exists(ns) {
				return fmt.Errorf("no lab node or workload %q (gannet lab status lists them)", args[0])
			}
			c := exec.Command("ip", append([]string{"netns", "exec", ns}, args[1:]...)...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			c.Env = os.Environ()
			if n, ok := l.Topo.Node(args[0]); ok && n.Runs() {
				c.Env = append(c.Env, "GANNET_SOCKET="+l.Paths.Socket(n.Name))
			}
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				os.Exit(ee.ExitCode())
			}
			return err
		},
	}
	var name string
	serve := &cobra.Command{
		Use:    "serve --name NAME",
		Short:  "the lab's server: HTTP, TCP and UDP answers naming NAME and the source it saw",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return lab.Serve(ctx, name)
		},
	}
	serve.Flags().StringVar(&name, "name", "", "the name the server answers with")
	cmd.AddCommand(up, down, status, exe, serve, newLabCheckCmd(newLab), newLabDiagramCmd(newLab))
	return cmd
}

// printLabStatus lists the nodes with their daemons and the workloads
// with their addresses.
func printLabStatus(cmd *cobra.Command, l *lab.Lab, s *lab.State) error {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "lab under %s, %s routing, built %s, ready in %v\n\n", l.Paths.Dir, s.Routing, s.Built.Format(time.RFC3339), s.Converged.Round(time.Millisecond))
	daemons := l.Daemons()
	tb := newTable(w, "NODE", "ROLE", "NAMESPACE", "IPV4", "IPV6", "DAEMONS")
	for _, n := range l.Topo.Nodes {
		v6 := ""
		if n.IPv6.IsValid() {
			v6 = n.IPv6.String()
		}
		tb.row(n.Name, string(n.Role), nsState(n.Namespace()), n.IPv4.String(), v6, strings.Join(daemons[n.Name], ", "))
	}
	tb.flush()
	fmt.Fprintln(w)
	floating := map[string]string{}
	for _, f := range l.Topo.Floating {
		floating[f.Workload] = f.Public.String()
	}
	tb = newTable(w, "WORKLOAD", "HOST", "SPACE", "IPV4", "IPV6", "FLOATING", "LABELS", "SERVER")
	for _, wl := range l.Topo.Workloads {
		v6 := ""
		if wl.IPv6.IsValid() {
			v6 = wl.IPv6.String()
		}
		space := "flat"
		if wl.Space != 0 {
			space = fmt.Sprintf("%d (%s)", wl.Space, lab.CoreAddress(wl.Space, wl.IPv4))
		}
		var labels []string
		for k, v := range wl.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		tb.row(wl.Name, wl.Host, space, wl.IPv4.String(), v6, floating[wl.Name], strings.Join(labels, ","), strings.Join(daemons[wl.Name], ", "))
	}
	tb.flush()
	if problems := l.Problems(); len(problems) > 0 {
		return fmt.Errorf("the lab is incomplete: %s (gannet lab up rebuilds it)", strings.Join(problems, "; "))
	}
	return nil
}

func nsState(ns string) string {
	if namespace.Exists(ns) {
		return ns
	}
	return ns + " (missing)"
}
