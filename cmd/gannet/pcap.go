package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/internal/pcapio"
	"github.com/gannet-net/gannet/pkt"
)

// gannet pcap: what gannet's parser makes of each packet in a capture, one
// line a packet, then the count per verdict and reason.
func newPcapCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pcap FILE",
		Short: "print gannet's parse of every packet in a pcap or pcapng file",
		Long: `Reads a pcap or pcapng capture (Ethernet, raw IP or Linux cooked link types)
and prints, for each packet, its number, capture time, length and the summary
gannet's data path would see: addresses, ports, protocol, TTL, fragment facts,
and the verdict with its reason when the packet would be dropped. Ends with
the number of packets per verdict and reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := pcapio.Open(args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			return printCapture(cmd.OutOrStdout(), r, quiet)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the totals")
	return cmd
}

func printCapture(out io.Writer, r *pcapio.Reader, quiet bool) error {
	w := bufio.NewWriter(out)
	var (
		s       pkt.Summary
		line    []byte
		n       int
		start   int64
		reasons [pkt.NumReasons]int
		skipped int
	)
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		n++
		if errors.Is(err, pcapio.ErrLinkType) {
			skipped++
			if !quiet {
				fmt.Fprintf(w, "%d %v\n", n, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("packet %d: %w", n, err)
		}
		if p.Link == pcapio.LinkEthernet {
			pkt.Parse(p.Data, &s)
		} else {
			pkt.ParseIP(p.Data, &s)
		}
		reasons[s.Reason]++
		if quiet {
			continue
		}
		if n == 1 {
			start = p.Time.UnixMicro()
		}
		line = strconv.AppendInt(line[:0], int64(n), 10)
		line = append(line, ' ')
		line = appendSeconds(line, p.Time.UnixMicro()-start)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(p.OrigLen), 10)
		line = append(line, ' ')
		line = s.AppendText(line)
		line = append(line, '\n')
		w.Write(line)
	}
	fmt.Fprintf(w, "%d packets: %d ok", n, reasons[pkt.ReasonNone])
	for r, c := range reasons {
		if c > 0 && pkt.Reason(r) != pkt.ReasonNone {
			fmt.Fprintf(w, ", %d %s", c, pkt.Reason(r))
		}
	}
	if skipped > 0 {
		fmt.Fprintf(w, ", %d unreadable link type", skipped)
	}
	fmt.Fprintln(w)
	return w.Flush()
}

// appendSeconds appends a microsecond offset as seconds with six decimals.
func appendSeconds(b []byte, us int64) []byte {
	if us < 0 { // captures merged out of time order
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1e6, 10)
	b = append(b, '.')
	frac := strconv.AppendInt(nil, us%1e6+1e6, 10)
	return append(b, frac[1:]...)
}
