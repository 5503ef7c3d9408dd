package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl/api"
)

// gannet bgp peers|routes: the embedded BGP speaker, as `gobgp neighbor`
// and `birdc show route` show theirs.
func newBGPCmd(o *apiOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bgp",
		Short: "the BGP speaker: its peers and routes",
	}
	peers := &cobra.Command{
		Use:   "peers",
		Short: "list the BGP sessions: state, uptime, prefixes received, accepted and advertised",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ps, err := c.BGPPeers(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return o.print(w, ps, func() error { return printBGPPeers(w, ps) })
		},
	}
	var peer string
	routes := &cobra.Command{
		Use:   "routes [--peer P] [PREFIX|ADDR]",
		Short: "list BGP paths: the best ones, or one peer's (filtered ones marked)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			rs, err := c.BGPRoutes(cmd.Context(), peer, prefix)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return o.print(w, rs, func() error { return printBGPRoutes(w, rs) })
		},
	}
	routes.Flags().StringVar(&peer, "peer", "", "the paths this peer sent (its adj-rib-in), filtered ones too")
	cmd.AddCommand(peers, routes)
	return cmd
}

func printBGPPeers(w io.Writer, ps []api.BGPPeer) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "no BGP peers")
		return err
	}
	t := newTable(w, "PEER", "AS", "STATE", "UPTIME", "RECEIVED", "ACCEPTED", "ADVERTISED")
	for _, p := range ps {
		var rcv, acc, adv []string
		for _, f := range p.Families {
			rcv = append(rcv, f.Family+" "+strconv.FormatUint(f.Received, 10))
			acc = append(acc, f.Family+" "+strconv.FormatUint(f.Accepted, 10))
			adv = append(adv, f.Family+" "+strconv.FormatUint(f.Advertised, 10))
		}
		state := p.State
		if p.PrefixLimit {
			state += " (prefix limit)"
		}
		switch p.ExtendedNextHop {
		case "negotiated":
			state += " (ipv4 over ipv6 next hops)"
		case "refused":
			state += " (peer refused extended next hop)"
		}
		up := "-"
		if p.UptimeSeconds > 0 {
			up = (time.Duration(p.UptimeSeconds) * time.Second).String()
		}
		t.row(p.Address, strconv.FormatUint(uint64(p.AS), 10), state, up, strings.Join(rcv, ", "), strings.Join(acc, ", "), strings.Join(adv, ", "))
	}
	return t.flush()
}

func printBGPRoutes(w io.Writer, rs []api.BGPRoute) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no BGP routes")
		return err
	}
	t := newTable(w, "PREFIX", "NEXT HOP", "PEER", "AS PATH", "COMMUNITIES", "")
	for _, r := range rs {
		peer := r.Peer
		if peer == "" {
			peer = "local"
		}
		path := make([]string, len(r.ASPath))
		for i, as := range r.ASPath {
			path[i] = strconv.FormatUint(uint64(as), 10)
		}
		mark := ""
		switch {
		case r.Filtered:
			mark = "filtered"
		case r.Best:
			mark = "best"
		}
		t.row(r.Prefix, r.NextHop, peer, strings.Join(path, " "), strings.Join(r.Communities, " "), mark)
	}
	return t.flush()
}
