// The API verbs: gannet status, endpoints, routes, sessions, counters,
// policy and reload ask the running daemon (gannet run) over its unix
// socket with ctl/api's Client and print its answer — a table for people,
// or the API object itself with -o json|yaml. Endpoint changes live in
// cli_endpoint.go, trace in cli_trace.go, the formatting in output.go.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/ctl/api"
)

// apiOpts are the flags every API verb takes.
type apiOpts struct {
	socket string
	output string
}

// newAPICmds returns the verbs that talk to a running gannet.
func newAPICmds() []*cobra.Command {
	o := &apiOpts{}
	cmds := []*cobra.Command{
		newStatusCmd(o),
		newEndpointsCmd(o),
		newEndpointCmd(o),
		newRoutesCmd(o),
		newSessionsCmd(o),
		newCountersCmd(o),
		newPolicyCmd(o),
		newReloadCmd(o),
		newTraceCmd(o),
		newBGPCmd(o),
		newCaptureCmd(o),
	}
	socket := os.Getenv("GANNET_SOCKET")
	if socket == "" {
		socket = api.DefaultSocket
	}
	for _, c := range cmds {
		c.PersistentFlags().StringVar(&o.socket, "socket", socket, "the API socket of gannet run (env GANNET_SOCKET)")
		c.PersistentFlags().StringVarP(&o.output, "output", "o", outTable, "output format: table, json or yaml")
	}
	return cmds
}

// client checks the flags and returns a client for the socket.
func (o *apiOpts) client() (*api.Client, error) {
	if err := checkOutput(o.output); err != nil {
		return nil, err
	}
	if o.socket == "" {
		return nil, errors.New("--socket is empty: give the path of gannet run's API socket (api.socket in the configuration)")
	}
	return api.NewClient(o.socket), nil
}

// print writes v as JSON or YAML when -o asks for it, else calls table.
func (o *apiOpts) print(w io.Writer, v any, table func() error) error {
	if o.output == outTable {
		return table()
	}
	return printObject(w, o.output, v)
}

func newStatusCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "show what the running gannet is doing: version, uptime, workers, ports, last change",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return o.print(w, st, func() error { return printStatus(w, st) })
		},
	}
}

func printStatus(w io.Writer, st *api.Status) error {
	kv := newTable(w)
	kv.row("version", st.Version)
	kv.row("node", st.Node)
	uptime := showSeconds(st.UptimeSeconds)
	if !st.Started.IsZero() {
		uptime += " (since " + showTime(st.Started) + ")"
	}
	kv.row("uptime", uptime)
	kv.row("config", st.Config)
	kv.row("generation", strconv.FormatUint(st.Generation, 10))
	kv.row("workers", showWorkers(st.Workers))
	if b := st.BGP; b != nil {
		kv.row("bgp routes", fmt.Sprintf("%d forwarding, %d in the RIB, %d reconciled", b.Routes, b.RIB, b.Reconciled))
	}
	if err := kv.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(st.Ports) == 0 {
		fmt.Fprintln(w, "no ports")
	} else {
		t := newTable(w, "INTERFACE", "ROLE", "ENDPOINT", "STATE", "MTU", "XDP", "XSK")
		for _, p := range st.Ports {
			xsk := p.XSKMode
			if p.Copying {
				xsk += " (copying)"
			}
			t.row(p.Interface, p.Role, p.Endpoint, p.State, showInt(p.MTU), p.XDPMode, xsk)
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, p := range st.Ports {
			if p.Error != "" {
				fmt.Fprintf(w, "%s: %s\n", p.Interface, p.Error)
			}
		}
	}

	fmt.Fprintln(w)
	a := st.LastApply
	if a == nil {
		_, err := fmt.Fprintln(w, "no change applied yet")
		return err
	}
	fmt.Fprintf(w, "last apply: %s at %s (%s): ", a.Source, showTime(a.Time), showSeconds(a.DurationSeconds))
	if !a.OK {
		fmt.Fprintf(w, "failed, nothing changed (%s)\n", plural(len(a.Errors), "error", "errors"))
		for _, fe := range a.Errors {
			fmt.Fprintf(w, "  %s\n", fe.Error())
		}
		return nil
	}
	fmt.Fprintf(w, "ok, generation %d, %s\n", a.Generation, plural(len(a.Changes), "change", "changes"))
	return printChanges(w, a.Changes, "  ")
}

// showWorkers: "2 on CPUs 2,3", with the frames detached ports lost.
func showWorkers(ws []api.Worker) string {
	if len(ws) == 0 {
		return "none"
	}
	cpus := make([]string, len(ws))
	var lost uint64
	for i, wk := range ws {
		cpus[i] = strconv.Itoa(wk.CPU)
		lost += wk.LostFrames
	}
	s := strconv.Itoa(len(ws)) + " on CPU"
	if len(ws) > 1 {
		s += "s"
	}
	s += " " + strings.Join(cpus, ",")
	if lost > 0 {
		s += ", " + strconv.FormatUint(lost, 10) + " frames lost by detached ports"
	}
	return s
}

func printChanges(w io.Writer, cs []api.Change, indent string) error {
	if len(cs) == 0 {
		return nil
	}
	t := newTable(w)
	for _, ch := range cs {
		t.row(indent+ch.Kind, ch.Name, ch.Op)
	}
	return t.flush()
}

func newEndpointsCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "endpoints [NAME]",
		Short: "list the workload endpoints (from the file and from the API), or show one",
		Long: `Lists the workload endpoints the running gannet has: each one's interface,
address space, addresses, the state of its interface, and where it came from
(file: the configuration; api: gannet endpoint apply). With NAME, shows that
one; "-o yaml" prints it in the shape "gannet endpoint apply -f" takes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				ep, err := c.Endpoint(cmd.Context(), args[0])
				if err != nil {
					return endpointError(args[0], err)
				}
				return o.print(w, ep, func() error { return printEndpoints(w, []api.Endpoint{*ep}) })
			}
			eps, err := c.Endpoints(cmd.Context())
			if err != nil {
				return err
			}
			if eps == nil {
				eps = []api.Endpoint{}
			}
			return o.print(w, eps, func() error { return printEndpoints(w, eps) })
		},
	}
}

func printEndpoints(w io.Writer, eps []api.Endpoint) error {
	if len(eps) == 0 {
		_, err := fmt.Fprintln(w, "no endpoints")
		return err
	}
	t := newTable(w, "NAME", "INTERFACE", "SPACE", "ADDRESSES", "STATE", "SOURCE")
	for _, ep := range eps {
		t.row(ep.Name, ep.Interface, strconv.Itoa(ep.AddressSpace), strings.Join(ep.IPNetworks, ","), ep.State, ep.Source)
	}
	return t.flush()
}

func newRoutesCmd(o *apiOpts) *cobra.Command {
	var space int
	cmd := &cobra.Command{
		Use:   "routes [--space N] [ADDR]",
		Short: "list the routing tables, or look up the route an address takes",
		Long: `Lists every address space's routes (only space N's with --space), or, with
ADDR, the route a packet to ADDR takes in space N (0 unless --space says).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				if _, err := netip.ParseAddr(args[0]); err != nil {
					return fmt.Errorf("%q is not an IP address: gannet routes ADDR looks up one address", args[0])
				}
				l, err := c.Lookup(cmd.Context(), space, args[0])
				if err != nil {
					return err
				}
				return o.print(w, l, func() error { return printLookup(w, l) })
			}
			var sp *int
			if cmd.Flags().Changed("space") {
				sp = &space
			}
			rs, err := c.Routes(cmd.Context(), sp)
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []api.Route{}
			}
			return o.print(w, rs, func() error { return printRoutes(w, rs, sp) })
		},
	}
	cmd.Flags().IntVar(&space, "space", 0, "address space")
	return cmd
}

var routeHeader = []string{"SPACE", "PREFIX", "KIND", "VIA", "INTERFACE", "ENDPOINT", "STATE"}

func routeRow(r *api.Route) []string {
	via := r.Via
	if r.Kind == "translate" {
		via = "space " + strconv.Itoa(int(r.TranslateSpace))
	}
	state := "up"
	if r.Down {
		state = "down"
	}
	return []string{strconv.Itoa(int(r.Space)), r.Prefix, r.Kind, via, r.Interface, r.Endpoint, state}
}

func printRoutes(w io.Writer, rs []api.Route, space *int) error {
	if len(rs) == 0 {
		msg := "no routes"
		if space != nil {
			msg += " in space " + strconv.Itoa(*space)
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	}
	t := newTable(w, routeHeader...)
	for i := range rs {
		t.row(routeRow(&rs[i])...)
	}
	return t.flush()
}

func printLookup(w io.Writer, l *api.Lookup) error {
	if !l.Found || l.Route == nil {
		_, err := fmt.Fprintf(w, "no route to %s in space %d\n", l.Addr, l.Space)
		return err
	}
	t := newTable(w, append([]string{"ADDR"}, routeHeader...)...)
	t.row(append([]string{l.Addr}, routeRow(l.Route)...)...)
	return t.flush()
}

func newSessionsCmd(o *apiOpts) *cobra.Command {
	var (
		addr  string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "sessions [--addr A] [--limit N]",
		Short: "list conntrack/NAT sessions, both directions, with state and time left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if addr != "" {
				if _, err := netip.ParseAddr(addr); err != nil {
					return fmt.Errorf("--addr %q is not an IP address", addr)
				}
			}
			ss, err := c.Sessions(cmd.Context(), addr, limit)
			if err != nil {
				return err
			}
			if ss.Sessions == nil {
				ss.Sessions = []api.Session{}
			}
			w := cmd.OutOrStdout()
			return o.print(w, ss, func() error { return printSessions(w, ss, addr, limit) })
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "only sessions with this address on either side, either direction")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many sessions")
	return cmd
}

// showEnd is one end of a tuple: 10.0.0.1:443, [2001:db8::1]:443, or the
// bare address without ports.
func showEnd(addr string, port uint16, ports bool) string {
	if !ports {
		return addr
	}
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]"
	}
	return addr + ":" + strconv.Itoa(int(port))
}

func showTuple(t api.Tuple) string {
	ports := t.SrcPort != 0 || t.DstPort != 0
	return showEnd(t.Src, t.SrcPort, ports) + " -> " + showEnd(t.Dst, t.DstPort, ports)
}

func printSessions(w io.Writer, ss *api.Sessions, addr string, limit int) error {
	if len(ss.Sessions) == 0 {
		msg := "no sessions"
		if addr != "" {
			msg += " with " + addr
		}
		_, err := fmt.Fprintf(w, "%s (%d in the table of %d)\n", msg, ss.Total, ss.Capacity)
		return err
	}
	t := newTable(w, "PROTO", "SPACE", "ORIGINAL", "REPLY", "STATE", "EXPIRES")
	for _, s := range ss.Sessions {
		space := strconv.Itoa(int(s.Original.Space))
		if s.Reply.Space != s.Original.Space {
			space += "->" + strconv.Itoa(int(s.Reply.Space))
		}
		t.row(s.Original.Proto, space, showTuple(s.Original), showTuple(s.Reply), s.State, showSeconds(s.ExpiresSeconds))
	}
	if err := t.flush(); err != nil {
		return err
	}
	more := ""
	if limit > 0 && len(ss.Sessions) >= limit {
		more = "; --limit shows more"
	}
	_, err := fmt.Fprintf(w, "%s shown, %d in the table of %d%s\n", plural(len(ss.Sessions), "session", "sessions"), ss.Total, ss.Capacity, more)
	return err
}

func newPolicyCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "policy ENDPOINT",
		Short: "show an endpoint's compiled policy, rule by rule in evaluation order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			p, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return endpointError(args[0], err)
			}
			w := cmd.OutOrStdout()
			return o.print(w, p, func() error { return printPolicy(w, p) })
		},
	}
}

func printPolicy(w io.Writer, p *api.Policy) error {
	if p.HostEndpoint != "" {
		fmt.Fprintf(w, "%s is the host endpoint of uplink %s: its programs police traffic forwarded through it (applyOnForward)\n", p.Endpoint, p.HostEndpoint)
	}
	for _, d := range []struct {
		name   string
		policy bool
		rules  []string
		hits   []uint64
		deny   uint64
	}{{"ingress", p.IngressPolicy, p.Ingress, p.IngressHits, p.IngressDefaultDeny}, {"egress", p.EgressPolicy, p.Egress, p.EgressHits, p.EgressDefaultDeny}} {
		switch {
		case !d.policy:
			fmt.Fprintf(w, "%s of %s: no policy, everything passes\n", d.name, p.Endpoint)
			continue
		case len(d.rules) == 0:
			fmt.Fprintf(w, "%s of %s: policy with no rules\n", d.name, p.Endpoint)
			continue
		}
		fmt.Fprintf(w, "%s of %s: %s in order\n", d.name, p.Endpoint, plural(len(d.rules), "rule", "rules"))
		withHits := len(d.hits) == len(d.rules)
		var t *table
		if withHits {
			t = newTable(w, "  #", "RULE", "HITS")
		} else {
			t = newTable(w)
		}
		for i, r := range d.rules {
			if withHits {
				t.row("  "+strconv.Itoa(i+1), r, strconv.FormatUint(d.hits[i], 10))
			} else {
				t.row("  "+strconv.Itoa(i+1), r)
			}
		}
		if withHits {
			t.row("  -", "default deny (nothing allowed it)", strconv.FormatUint(d.deny, 10))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

func newReloadCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "re-read the configuration file and apply what changed (as SIGHUP does)",
		Long: `Asks gannet run to re-read its configuration file, compare it with what runs
and apply only the difference; prints what changed. A file with errors
changes nothing: reload prints every problem by field and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Reload(cmd.Context())
			w := cmd.OutOrStdout()
			var apiErr *api.Error
			if err != nil && (res == nil || !errors.As(err, &apiErr)) {
				return err
			}
			if o.output != outTable {
				if perr := printObject(w, o.output, res); perr != nil {
					return perr
				}
			}
			if err != nil || !res.OK {
				return reloadFailed(res)
			}
			if o.output != outTable {
				return nil
			}
			if len(res.Changes) == 0 {
				_, err := fmt.Fprintf(w, "reload ok: no changes (generation %d)\n", res.Generation)
				return err
			}
			fmt.Fprintf(w, "reload ok: generation %d, %s (%s)\n", res.Generation,
				plural(len(res.Changes), "change", "changes"), showSeconds(res.DurationSeconds))
			return printChanges(w, res.Changes, "  ")
		},
	}
}

func reloadFailed(res *api.Reload) error {
	var b strings.Builder
	b.WriteString("reload failed, nothing changed: fix the configuration file and run gannet reload again")
	for _, fe := range res.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return errors.New(b.String())
}

func newCountersCmd(o *apiOpts) *cobra.Command {
	var watch string
	cmd := &cobra.Command{
		Use:   "counters [--watch [INTERVAL]]",
		Short: "show the forwarding counters: totals, drops by stage and reason, ICMP, ports, XDP",
		Long: `Shows every worker's counters summed. With --watch, redraws them every
INTERVAL (1s unless given: --watch 5s, --watch=500ms) with rates per second,
until interrupted; with -o json it prints one JSON object a line instead.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !cmd.Flags().Changed("watch") {
				if len(args) > 0 {
					return fmt.Errorf("unexpected argument %q: counters takes none (an interval goes with --watch)", args[0])
				}
				cs, err := c.Counters(cmd.Context())
				if err != nil {
					return err
				}
				return o.print(w, cs, func() error { return printCounters(w, cs, nil, 0) })
			}
			if len(args) == 1 {
				watch = args[0]
			}
			every, err := parseInterval(watch)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return watchCounters(ctx, c, w, o.output, every)
		},
	}
	cmd.Flags().StringVar(&watch, "watch", "", "redraw every INTERVAL with rates per second")
	cmd.Flags().Lookup("watch").NoOptDefVal = "1s"
	return cmd
}

// parseInterval takes a Go duration (500ms, 2s) or a number of seconds.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("--watch %q: not an interval (like 1s, 500ms or 2)", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 100*time.Millisecond {
		return 0, fmt.Errorf("--watch %s: the interval must be at least 100ms", s)
	}
	return d, nil
}

// watchFrames, when not zero, ends a watch after that many frames (tests).
var watchFrames int

func watchCounters(ctx context.Context, c *api.Client, w io.Writer, format string, every time.Duration) error {
	clear := false
	if f, ok := w.(*os.File); ok && format == outTable {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			clear = true
		}
	}
	var (
		prev     *api.Counters
		prevTime time.Time
		tick     = time.NewTicker(every)
	)
	defer tick.Stop()
	for frame := 1; ; frame++ {
		cs, err := c.Counters(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		switch format {
		case outJSON:
			if err := printJSONLine(w, cs); err != nil {
				return err
			}
		case outYAML:
			fmt.Fprintln(w, "---")
			if err := printObject(w, outYAML, cs); err != nil {
				return err
			}
		default:
			if clear {
				io.WriteString(w, "\x1b[H\x1b[2J")
			} else if frame > 1 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "every %s, %s (Ctrl-C stops)\n\n", every, now.In(displayLocation).Format("15:04:05"))
			if err := printCounters(w, cs, prev, now.Sub(prevTime)); err != nil {
				return err
			}
		}
		prev, prevTime = cs, now
		if watchFrames > 0 && frame >= watchFrames {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// printCounters prints cs; with prev, dt ago, it adds rates per second.
func printCounters(w io.Writer, cs, prev *api.Counters, dt time.Duration) error {
	watch := prev != nil && dt > 0
	secs := dt.Seconds()
	rate := func(cur, old uint64) float64 {
		if cur < old { // the daemon restarted
			return 0
		}
		return float64(cur-old) / secs
	}

	// TO HOST (endpointToHost: accept; part of FORWARDED) only when
	// there is any, so hosts that never deliver to themselves keep the
	// narrow table.
	toHost := cs.ToHost > 0 || (watch && prev.ToHost > 0)
	top := []string{"RX PACKETS", "TX PACKETS", "TX BYTES", "FORWARDED"}
	totals := []string{u64(cs.RxPackets), u64(cs.TxPackets), showBytes(cs.TxBytes), u64(cs.Forwarded)}
	var rates []string
	if watch {
		rates = []string{showRate(rate(cs.RxPackets, prev.RxPackets), "pkt"), showRate(rate(cs.TxPackets, prev.TxPackets), "pkt"),
			showRate(8*rate(cs.TxBytes, prev.TxBytes), "bit"), showRate(rate(cs.Forwarded, prev.Forwarded), "pkt")}
	}
	if toHost {
		top, totals = append(top, "TO HOST"), append(totals, u64(cs.ToHost))
		if watch {
			rates = append(rates, showRate(rate(cs.ToHost, prev.ToHost), "pkt"))
		}
	}
	top, totals = append(top, "DROPPED"), append(totals, u64(cs.Dropped))
	if watch {
		rates = append(rates, showRate(rate(cs.Dropped, prev.Dropped), "pkt"))
		top = append([]string{""}, top...)
	}
	t := newTable(w, top...)
	if !watch {
		t.row(totals...)
	} else {
		t.row(append([]string{"total"}, totals...)...)
		t.row(append([]string{"per second"}, rates...)...)
	}
	if err := t.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(cs.Drops) == 0 {
		fmt.Fprintln(w, "no drops")
	} else {
		h := []string{"STAGE", "REASON", "PACKETS"}
		if watch {
			h = append(h, "PER SECOND")
		}
		t = newTable(w, h...)
		for _, d := range cs.Drops {
			row := []string{d.Stage, d.Reason, u64(d.Packets)}
			if watch {
				var old uint64
				for _, p := range prev.Drops {
					if p.Stage == d.Stage && p.Reason == d.Reason {
						old = p.Packets
					}
				}
				row = append(row, showPerSecond(rate(d.Packets, old)))
			}
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	if len(cs.ICMP) > 0 {
		fmt.Fprintln(w)
		h := []string{"ICMP ERRORS", "PACKETS"}
		if watch {
			h = append(h, "PER SECOND")
		}
		t = newTable(w, h...)
		for _, k := range sortedKeys(cs.ICMP) {
			row := []string{k, u64(cs.ICMP[k])}
			if watch {
				row = append(row, showPerSecond(rate(cs.ICMP[k], prev.ICMP[k])))
			}
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	if len(cs.FastPath) > 0 {
		fmt.Fprintln(w)
		h := []string{"FAST PATH", "COUNT"}
		if watch {
			h = append(h, "PER SECOND")
		}
		t = newTable(w, h...)
		for _, k := range sortedKeys(cs.FastPath) {
			row := []string{k, u64(cs.FastPath[k])}
			if watch {
				row = append(row, showPerSecond(rate(cs.FastPath[k], prev.FastPath[k])))
			}
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, ifc := range cs.FastPathOff {
			fmt.Fprintf(w, "%s is off the fast path: it drops the frames redirected into it; turn GRO on at its other end (ethtool -K <dev> gro on in the workload)\n", ifc)
		}
	}

	if len(cs.Ports) > 0 {
		fmt.Fprintln(w)
		if !watch {
			t = newTable(w, "INTERFACE", "RX PACKETS", "RX BYTES", "TX PACKETS", "TX BYTES")
			for _, p := range cs.Ports {
				t.row(p.Interface, u64(p.RxPackets), showBytes(p.RxBytes), u64(p.TxPackets), showBytes(p.TxBytes))
			}
		} else {
			t = newTable(w, "INTERFACE", "RX PKT/S", "RX BIT/S", "TX PKT/S", "TX BIT/S")
			for _, p := range cs.Ports {
				var old api.PortCounters
				for _, q := range prev.Ports {
					if q.Interface == p.Interface {
						old = q
					}
				}
				t.row(p.Interface, showPerSecond(rate(p.RxPackets, old.RxPackets)), showPerSecond(8*rate(p.RxBytes, old.RxBytes)),
					showPerSecond(rate(p.TxPackets, old.TxPackets)), showPerSecond(8*rate(p.TxBytes, old.TxBytes)))
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	if len(cs.XDP) > 0 {
		fmt.Fprintln(w)
		var decisions []string
		for _, x := range cs.XDP {
			for k := range x.Decisions {
				if !slices.Contains(decisions, k) {
					decisions = append(decisions, k)
				}
			}
		}
		slices.Sort(decisions)
		h := []string{"INTERFACE"}
		for _, d := range decisions {
			col := "XDP " + strings.ToUpper(d)
			if watch {
				col += "/S"
			}
			h = append(h, col)
		}
		t = newTable(w, h...)
		for _, x := range cs.XDP {
			row := []string{x.Interface}
			var old map[string]uint64
			if watch {
				for _, q := range prev.XDP {
					if q.Interface == x.Interface {
						old = q.Decisions
					}
				}
			}
			for _, d := range decisions {
				if watch {
					row = append(row, showPerSecond(rate(x.Decisions[d], old[d])))
				} else {
					row = append(row, u64(x.Decisions[d]))
				}
			}
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

func sortedKeys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// endpointError adds what to do next to a 404 about an endpoint.
func endpointError(name string, err error) error {
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status == 404 {
		return fmt.Errorf("endpoint %s: %w; gannet endpoints lists them", name, err)
	}
	if errors.As(err, &apiErr) {
		return fmt.Errorf("endpoint %s: %w", name, err)
	}
	return err
}
