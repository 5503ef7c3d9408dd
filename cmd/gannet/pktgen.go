// gannet pktgen: the traffic generator of perf/pktgen on a device — AF_XDP
// or BPF_PROG_RUN live frames out, AF_XDP in — with one line a second and
// a summary (text, and JSON with --json).

package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/perf/pktgen"
)

func newPktgenCmd() *cobra.Command {
	var (
		dev, rxDev, mode, proto, src, dst, srcMAC, dstMAC, cores, rxCores, xskMode, jsonOut string
		srcAddrs, flows, size, burst                                                        int
		sport, dport                                                                        uint16
		rate                                                                                float64
		count                                                                               uint64
		duration                                                                            time.Duration
		quiet                                                                               bool
	)
	cmd := &cobra.Command{
		Use:   "pktgen --dev IFACE | --rx-dev IFACE [flags]",
		Short: "send and receive test traffic (AF_XDP or BPF_PROG_RUN live frames)",
		Long: `Sends IPv4 or IPv6 UDP, TCP SYN or ICMP echo packets out of --dev, and/or
receives on --rx-dev. Every packet carries a payload header (flow, sequence
number, CLOCK_MONOTONIC transmit time); the receiver counts what arrives,
checks sequence numbers for loss, reordering and duplicates and measures
one-way latency (sender and receiver on one machine).

Modes: xsk sends through AF_XDP sockets, one per core on queues 0..n-1
(copy mode on veth); live runs the frames through BPF_PROG_RUN with
BPF_F_TEST_XDP_LIVE_FRAMES (kernel 5.18+), an XDP program stamping each copy
and transmitting it with XDP_TX, as xdp-trafficgen does. Frames sent into a
veth by live mode are dropped unless the peer has an XDP program or GRO on.

One line a second: tx and rx rate, loss, CPU of this process. Root only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("pktgen needs root (AF_XDP sockets, XDP programs)")
			}
			if dev == "" && rxDev == "" {
				return fmt.Errorf("--dev or --rx-dev is required")
			}
			p, err := pktgen.ParseProto(proto)
			if err != nil {
				return fmt.Errorf("--proto: %w", err)
			}
			spec := pktgen.Spec{Proto: p, SrcAddrs: srcAddrs, SrcPort: sport, DstPort: dport, Flows: flows, FrameSize: size}
			if spec.Src, err = netip.ParseAddr(src); err != nil {
				return fmt.Errorf("--src: %w", err)
			}
			if spec.Dst, err = netip.ParseAddr(dst); err != nil {
				return fmt.Errorf("--dst: %w", err)
			}
			cfg := pktgen.Config{Mode: mode, Rate: rate, Count: count, Duration: duration, Burst: burst}
			if cfg.TxCores, err = parseCPUList(cores); err != nil {
				return fmt.Errorf("--cores: %w", err)
			}
			if cfg.RxCores, err = parseCPUList(rxCores); err != nil {
				return fmt.Errorf("--rx-cores: %w", err)
			}
			switch xskMode {
			case "auto":
				cfg.XSKMode = xsk.ModeAuto
			case "copy":
				cfg.XSKMode = xsk.ModeCopy
			case "zerocopy":
				cfg.XSKMode = xsk.ModeZeroCopy
			default:
				return fmt.Errorf("--xsk-mode %q: want auto, copy or zerocopy", xskMode)
			}
			if dev != "" {
				ifc, err := net.InterfaceByName(dev)
				if err != nil {
					return fmt.Errorf("--dev: %w", err)
				}
				cfg.TxIfindex = ifc.Index
				spec.SrcMAC = ifc.HardwareAddr
				if srcMAC != "" {
					if spec.SrcMAC, err = net.ParseMAC(srcMAC); err != nil {
						return fmt.Errorf("--src-mac: %w", err)
					}
				}
				if dstMAC == "" {
					return fmt.Errorf("--dst-mac is required with --dev (the next hop's MAC)")
				}
				if spec.DstMAC, err = net.ParseMAC(dstMAC); err != nil {
					return fmt.Errorf("--dst-mac: %w", err)
				}
			}
			if rxDev != "" {
				ifc, err := net.InterfaceByName(rxDev)
				if err != nil {
					return fmt.Errorf("--rx-dev: %w", err)
				}
				cfg.RxIfindex = ifc.Index
			}
			if cfg.Frames, err = pktgen.Build(spec); err != nil {
				return err
			}
			if !quiet {
				cfg.Live = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := pktgen.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if err := sum.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if jsonOut != "" {
				f, err := os.Create(jsonOut)
				if err != nil {
					return err
				}
				if err := sum.WriteJSON(f); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dev, "dev", "", "device to send on")
	fl.StringVar(&rxDev, "rx-dev", "", "device to receive on (AF_XDP; an XDP program is attached while running)")
	fl.StringVar(&mode, "mode", "xsk", "sending engine: xsk (AF_XDP) or live (BPF_PROG_RUN live frames)")
	fl.StringVar(&proto, "proto", "udp", "udp, tcp-syn or icmp-echo")
	fl.StringVar(&src, "src", "198.18.0.2", "first source address")
	fl.StringVar(&dst, "dst", "198.19.0.2", "destination address")
	fl.IntVar(&srcAddrs, "src-addrs", 1, "distinct source addresses (flows cycle through them, then through ports)")
	fl.Uint16Var(&sport, "sport", 1024, "first source port (ICMP: echo identifier)")
	fl.Uint16Var(&dport, "dport", 9, "destination port")
	fl.IntVar(&flows, "flows", 1, "number of flows")
	fl.IntVar(&size, "size", 64, "frame size in bytes without FCS")
	fl.StringVar(&srcMAC, "src-mac", "", "source MAC (default: the device's)")
	fl.StringVar(&dstMAC, "dst-mac", "", "destination MAC (the next hop)")
	fl.Float64Var(&rate, "rate", 0, "packets per second in total (0: as fast as possible)")
	fl.Uint64Var(&count, "count", 0, "packets to send (0: until --duration or interrupted)")
	fl.DurationVar(&duration, "duration", 10*time.Second, "how long to send (0: until --count or interrupted)")
	fl.StringVar(&cores, "cores", "0", "CPUs of the sending threads, e.g. 0 or 0,1 or 0-3 (AF_XDP: queue i per CPU i of the list)")
	fl.StringVar(&rxCores, "rx-cores", "0", "CPUs of the receiving threads (queue i per CPU i of the list)")
	fl.StringVar(&xskMode, "xsk-mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.IntVar(&burst, "burst", 0, "live mode: packets per BPF_PROG_RUN call (default 262144; each call costs milliseconds of kernel setup)")
	fl.StringVar(&jsonOut, "json", "", "also write the summary as JSON to this file")
	fl.BoolVar(&quiet, "quiet", false, "no line a second")
	return cmd
}

// parseCPUList parses "0", "0,2", "0-3" or "0-1,4".
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU range %q", part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
