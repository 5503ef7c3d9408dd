package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl"
	"github.com/gannet-net/gannet/ctl/config"
)

// gannet run: the daemon. It validates the whole configuration and
// resolves its uplinks before it attaches anything, forwards until SIGINT
// or SIGTERM, applies the file again on SIGHUP (or `gannet reload`),
// serves the local API, then detaches and prints its final counters.
func newRunCmd() *cobra.Command {
	var (
		cfgPath   string
		check     bool
		logFormat string
		logLevel  string
		pinPath   string
		stateDir  string
		cpuProf   string
		heapProf  string
	)
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "run the forwarding daemon described by a configuration file",
		Long: `Reads the YAML configuration (node, dataplane, ports, addressSpaces,
workloadEndpoints, routes, policy, nat, translation, api, bgp, metrics), checks all of it,
starts one worker per configured core, attaches the XDP program and an AF_XDP
socket per worker to every uplink and workload interface, and forwards until
SIGINT or SIGTERM.

While it runs:
  SIGHUP or 'gannet reload'  re-reads the file and applies only what changed;
                             a bad file changes nothing and is reported,
                             field by field, in the log and 'gannet status'
  the local API              on api.socket (default /run/gannet/gannet.sock):
                             'gannet status', 'gannet endpoints', ...
  metrics                    Prometheus metrics at /metrics on metrics.listen
                             (e.g. 127.0.0.1:9641; docs/METRICS.md)
  interface events           a workload interface that vanishes is marked
                             down (its traffic answered unreachable) and
                             attached again when it comes back

On stop it releases every socket and prints the final counters; its XDP
programs stay pinned (dataplane.pinPath), so the ports fail closed until the next
start takes them over, or 'gannet cleanup' removes them. The connection table
(sessions, NAT mappings) lives in a file under dataplane.stateDir (default
/run/gannet): a stop, a crash or an upgrade keeps every session, and the next
start adopts them (or logs why it starts empty). A bad configuration at start is rejected with one line per
problem, each naming its field, and nothing is attached. With NOTIFY_SOCKET
set (systemd Type=notify-reload) it reports READY=1, RELOADING=1, STOPPING=1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			if check {
				data, err := os.ReadFile(cfgPath)
				if err != nil {
					return err
				}
				c, _, err := config.ParseConfig(data)
				if err != nil {
					return fmt.Errorf("%s: %w", cfgPath, err)
				}
				if err := ctl.Check(c); err != nil {
					return fmt.Errorf("%s: %w", cfgPath, err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration valid\n", cfgPath)
				return err
			}
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if heapProf != "" {
				usr1 := make(chan os.Signal, 1)
				signal.Notify(usr1, syscall.SIGUSR1)
				defer signal.Stop(usr1)
				go serveSignals(ctx, usr1, func() {
					if err := writeHeapProfile(heapProf); err != nil {
						log.Warn("--heap-profile", "err", err)
					}
				})
			}
			d, err := ctl.New(ctl.Options{ConfigPath: cfgPath, Version: version, Log: log, Counters: cmd.ErrOrStderr(), PinPath: pinPath, StateDir: stateDir})
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return d.Run(ctx, func() { go serveSignals(ctx, hup, func() { d.Reload() }) })
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and resolve its interfaces, then exit")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&pinPath, "pin-path", "", "where to pin the XDP programs (overrides dataplane.pinPath)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where the connection table outlives the process (overrides dataplane.stateDir)")
	cmd.Flags().StringVar(&cpuProf, "cpu-profile", "", "write a CPU profile (pprof) of the whole run to this file when it stops")
	cmd.Flags().StringVar(&heapProf, "heap-profile", "", "on SIGUSR1, write a heap profile (pprof, live objects after a collection) to this file")
	cmd.MarkFlagRequired("config")
	return cmd
}

// newLogger makes the daemon's slog logger: one line per control event.
func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q: want text or json", format)
}

// serveSignals calls fn for each signal ch delivers until ctx ends.
func serveSignals(ctx context.Context, ch <-chan os.Signal, fn func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			fn()
		}
	}
}

// writeHeapProfile writes the live heap, after a collection, to path
// through a temporary file: a reader waiting for path never sees half a
// profile.
func writeHeapProfile(path string) error {
	runtime.GC()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
