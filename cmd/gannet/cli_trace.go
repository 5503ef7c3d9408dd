// gannet trace: a packet, described by flags or taken from a capture, goes
// to the running gannet (POST /v1/trace), which runs it through the live
// tables without sending anything; each stage's decision comes back and
// is printed on one aligned line, then the verdict.

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/pcapio"
)

func newTraceCmd(o *apiOpts) *cobra.Command {
	var (
		req    api.TraceRequest
		pcap   string
		packet int
	)
	cmd := &cobra.Command{
		Use:   "trace --in IFACE (--src A --dst B [--proto P] [--sport N] [--dport N] ... | --pcap FILE [--packet N])",
		Short: "run a packet through the live tables without sending it, and show each stage's decision",
		Long: `Builds a packet as if it arrived on interface IFACE — from the flags, or the
Nth packet of a pcap/pcapng capture — and asks the running gannet what it
would do with it: parse, port and address space, anti-spoofing, translation,
conntrack and NAT, policy (which rule decided), route, neighbour, egress.
Nothing is sent and no state changes: no session, counter or ICMP token.

  gannet trace --in tap-web1 --src 10.0.1.5 --dst 192.0.2.80 --proto tcp --dport 443
  gannet trace --in eth0 --pcap dropped.pcap --packet 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if pcap != "" {
				frame, err := pcapFrame(pcap, packet)
				if err != nil {
					return err
				}
				req.Frame = frame
				req.Proto = ""
			} else {
				if cmd.Flags().Changed("packet") {
					return errors.New("--packet picks a packet of --pcap FILE: give --pcap too")
				}
				if req.Src == "" || req.Dst == "" {
					return errors.New("trace needs --src and --dst (or --pcap FILE)")
				}
				for _, f := range []struct{ flag, v string }{{"--src", req.Src}, {"--dst", req.Dst}} {
					if _, err := netip.ParseAddr(f.v); err != nil {
						return fmt.Errorf("%s %q is not an IP address", f.flag, f.v)
					}
				}
				if req.SrcMAC != "" {
					if _, err := net.ParseMAC(req.SrcMAC); err != nil {
						return fmt.Errorf("--src-mac %q is not a MAC address", req.SrcMAC)
					}
				}
			}
			tr, err := c.Trace(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return o.print(w, tr, func() error { return printTrace(w, tr) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.In, "in", "", "the interface the packet arrives on")
	f.StringVar(&req.Src, "src", "", "source address")
	f.StringVar(&req.Dst, "dst", "", "destination address")
	f.StringVar(&req.Proto, "proto", "tcp", "tcp, udp or icmp (ICMPv6 for IPv6 addresses)")
	f.Uint16Var(&req.SrcPort, "sport", 0, "source port (ICMP echo: the identifier); 0 takes a default")
	f.Uint16Var(&req.DstPort, "dport", 0, "destination port")
	f.StringVar(&req.TCPFlags, "flags", "", `TCP flags, like S, SA, A, FA, R (default S)`)
	f.Uint8Var(&req.TTL, "ttl", 0, "TTL or hop limit (default 64)")
	f.IntVar(&req.Length, "len", 0, "payload bytes after the transport header")
	f.Uint8Var(&req.ICMPType, "icmp-type", 0, "ICMP type (default: echo request)")
	f.Uint8Var(&req.ICMPCode, "icmp-code", 0, "ICMP code")
	f.BoolVar(&req.DF, "df", false, "set IPv4 don't-fragment")
	f.StringVar(&req.SrcMAC, "src-mac", "", "source MAC (default: the endpoint's)")
	f.StringVar(&pcap, "pcap", "", "take the packet from this pcap or pcapng file")
	f.IntVar(&packet, "packet", 1, "with --pcap, the packet's number in the file, from 1")
	cmd.MarkFlagRequired("in")
	for _, fl := range []string{"src", "dst", "proto", "sport", "dport", "flags", "ttl", "len", "icmp-type", "icmp-code", "df", "src-mac"} {
		cmd.MarkFlagsMutuallyExclusive("pcap", fl)
	}
	return cmd
}

// pcapFrame returns packet n (from 1) of a capture as an Ethernet frame:
// a bare IP packet gets an Ethernet header with zero MACs.
func pcapFrame(path string, n int) ([]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("--packet %d: packets are numbered from 1", n)
	}
	r, err := pcapio.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for i := 1; ; i++ {
		p, err := r.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s has %s, not %d", path, plural(i-1, "packet", "packets"), n)
		}
		if i < n {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: packet %d: %w", path, n, err)
		}
		if p.Link == pcapio.LinkEthernet {
			return append([]byte(nil), p.Data...), nil
		}
		if len(p.Data) == 0 {
			return nil, fmt.Errorf("%s: packet %d is empty", path, n)
		}
		eth := make([]byte, 14, 14+len(p.Data))
		switch p.Data[0] >> 4 {
		case 4:
			eth[12], eth[13] = 0x08, 0x00
		case 6:
			eth[12], eth[13] = 0x86, 0xdd
		default:
			return nil, fmt.Errorf("%s: packet %d is neither IPv4 nor IPv6", path, n)
		}
		return append(eth, p.Data...), nil
	}
}

func printTrace(w io.Writer, tr *api.Trace) error {
	t := newTable(w, "STAGE", "VERDICT", "DETAIL")
	for _, s := range tr.Steps {
		t.row(s.Stage, s.Verdict, s.Detail)
	}
	if err := t.flush(); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("\nverdict: ")
	b.WriteString(tr.Verdict)
	if tr.Egress != "" {
		b.WriteString(" out of " + tr.Egress)
	}
	if tr.Reason != "" {
		b.WriteString(" (" + tr.Reason + ")")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
