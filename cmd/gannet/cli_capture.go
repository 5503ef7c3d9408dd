// gannet capture: the frames of one of gannet's interfaces, copied by the
// workers (forwarded frames never reach the kernel, so tcpdump on the
// interface sees none of them) and streamed by the daemon as pcap, to a
// file or to stdout for tcpdump or Wireshark.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl/api"
)

func newCaptureCmd(o *apiOpts) *cobra.Command {
	var req api.CaptureRequest
	var file string
	cmd := &cobra.Command{
		Use:   "capture -i INTERFACE -w FILE|- [flags] [FILTER...]",
		Short: "copy an interface's frames from the data path into a pcap stream (tcpdump, Wireshark)",
		Long: `Copies the frames gannet receives on (rx) and sends out of (tx) one of its
interfaces into a pcap file, or to stdout with -w - for a reader:

  gannet capture -i gw-web -w - | tcpdump -n -r -
  gannet capture -i gw-web -d rx -c 100 -w web.pcap tcp and port 443

rx frames are as they arrived, tx frames as they leave. The filter (--filter,
or the words after the flags) is a small tcpdump-like language:

  [src|dst] host ADDR    [src|dst] net PREFIX    [src|dst] port N
  proto tcp|udp|icmp|icmp6|sctp|N    tcp  udp  icmp  icmp6  ip  ip6
  and (&&)  or (||)  not (!)  ( )

The capture runs until -c frames were written, Ctrl-C, or the interface goes
away; then it reports on stderr how many frames were written and how many the
workers' rings had to drop (a capture never slows forwarding down: when the
reader falls behind, frames are lost, counted). At most 8 captures run at once.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Interface == "" {
				return errors.New("--interface (-i) is required: gannet status lists the interfaces")
			}
			if file == "" {
				return errors.New("--write (-w) is required: a file name, or - for stdout")
			}
			if len(args) > 0 {
				if req.Filter != "" {
					return errors.New("give the filter either with --filter or after the flags, not both")
				}
				req.Filter = strings.Join(args, " ")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var out io.Writer = cmd.OutOrStdout()
			if file != "-" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := c.Capture(ctx, req, out)
			if err != nil {
				var apiErr *api.Error
				if errors.As(err, &apiErr) && apiErr.Status == 404 {
					return fmt.Errorf("%w; gannet status lists the interfaces", err)
				}
				return err
			}
			if !res.Complete && ctx.Err() == nil && !errors.Is(cmd.Context().Err(), context.Canceled) {
				return errors.New("capture: the stream ended early (did gannet run stop?)")
			}
			if res.Complete {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s captured, %s dropped by the rings\n", plural(res.Captured, "frame", "frames"), plural(int(res.Dropped), "frame", "frames"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&req.Interface, "interface", "i", "", "the interface (a port of gannet's)")
	f.StringVarP(&req.Direction, "direction", "d", "both", "rx, tx or both")
	f.StringVarP(&req.Filter, "filter", "f", "", "filter expression (see above)")
	f.IntVarP(&req.Count, "count", "c", 0, "stop after this many frames (0: until Ctrl-C)")
	f.IntVarP(&req.Snap, "snaplen", "s", 0, "bytes kept of each frame (0: whole frames)")
	f.StringVarP(&file, "write", "w", "", "pcap file to write, - for stdout")
	return cmd
}
