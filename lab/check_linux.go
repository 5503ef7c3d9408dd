package lab

// Running the matrix: ping and traceroute are the system's tools run in
// the source's namespace; TCP, HTTP and UDP are real sockets opened
// inside it. A cell that should pass is tried a few times (a neighbour
// may still be resolving); a cell that should be blocked gets one honest
// timeout. Every blocked cell asks the deciding gannet why (gannet trace:
// the packet run through its live tables, nothing sent).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/lab/namespace"
)

// Check runs every probe of the lab's matrix and saves the report under
// the state directory (what `lab diagram` colours by).
func (l *Lab) Check(ctx context.Context) (*Report, error) {
	if _, err := l.ReadState(); err != nil {
		return nil, err
	}
	if problems := l.Problems(); len(problems) > 0 {
		return nil, fmt.Errorf("the lab is incomplete: %s (gannet lab up rebuilds it)", strings.Join(problems, "; "))
	}
	probes := l.Topo.Probes()
	rep := &Report{Cells: make([]Cell, len(probes))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 12)
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Cells[i] = l.run(ctx, p)
		}()
	}
	wg.Wait()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.Paths.Check(), append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	return rep, nil
}

// LastCheck reads the report the last check saved.
func (l *Lab) LastCheck() (*Report, error) {
	b, err := os.ReadFile(l.Paths.Check())
	if err != nil {
		return nil, err
	}
	var r Report
	return &r, json.Unmarshal(b, &r)
}

// result is what a tool observed.
type result struct {
	ok        bool
	responder string
	seen      string
	hops      []netip.Addr
	detail    string // what the tool said when it failed
}

func (l *Lab) run(ctx context.Context, p Probe) Cell {
	t := l.Topo
	c := Cell{
		Kind: p.Kind, From: p.From, FromHost: t.where(p.From),
		To: p.To + "@" + p.Addr.String(), ToHost: t.where(p.To),
		Tool: p.ToolName(), Expect: Blocked,
	}
	if p.Expect {
		c.Expect = Reachable
	}
	ns, _ := t.Namespace(p.From)
	attempts := 1
	if p.Expect {
		attempts = 3
	}
	var before uint64
	var countErr error
	if p.DropAt != "" {
		before, countErr = l.dropCount(ctx, p.DropAt, p.DropReason)
	}
	var r result
	for i := 0; i < attempts; i++ {
		r = probe(ctx, ns, p)
		if p.Tool == ToolTraceroute {
			// Reaching the far end is not enough: every hop must show.
			r.ok = hopList(r.hops) == hopList(p.WantHops)
		}
		if r.ok {
			break
		}
	}
	c.Observed, c.Responder, c.SeenSource = Blocked, r.responder, r.seen
	if r.ok {
		c.Observed = Reachable
	}
	var why []string
	if p.Tool == ToolTraceroute {
		c.Expect, c.Observed = hopList(p.WantHops), hopList(r.hops)
		c.Pass = c.Expect == c.Observed
		if !c.Pass {
			why = append(why, "hops differ")
		}
	} else {
		c.Pass = c.Expect == c.Observed
		if r.ok && p.Port() != 0 && r.responder != p.To {
			c.Pass = false
			why = append(why, fmt.Sprintf("answered by %s, want %s", r.responder, p.To))
		}
		if r.ok && p.WantSource.IsValid() {
			ap, err := netip.ParseAddrPort(r.seen)
			if err != nil || !p.WantSource.Contains(ap.Addr().Unmap()) {
				c.Pass = false
				why = append(why, fmt.Sprintf("seen from %s, want %s", r.seen, p.WantSource))
			}
		}
	}
	if p.DropAt != "" {
		// Blocked is not enough: the cell proves which gannet dropped
		// the packets and why, by its counter.
		after, err := l.dropCount(ctx, p.DropAt, p.DropReason)
		switch {
		case countErr != nil || err != nil:
			c.Pass = false
			why = append(why, fmt.Sprintf("%s: gannet counters: %v", p.DropAt, errors.Join(countErr, err)))
		case after <= before:
			c.Pass = false
			why = append(why, fmt.Sprintf("%s counted no %s drop", p.DropAt, p.DropReason))
		default:
			why = append(why, fmt.Sprintf("%s dropped it: %s (+%d)", p.DropAt, p.DropReason, after-before))
		}
	}
	if !r.ok {
		if r.detail != "" {
			why = append(why, r.detail)
		}
		if denial := l.explain(ctx, p); denial != "" {
			why = append(why, denial)
		}
	}
	c.Reason = strings.Join(why, "; ")
	return c
}

// probe runs p's tool once in namespace ns.
func probe(ctx context.Context, ns string, p Probe) result {
	const timeout = 1500 * time.Millisecond
	switch p.Tool {
	case ToolPing:
		args := []string{"-c", "1", "-W", "1"}
		if p.Addr.Is6() {
			args = append(args, "-6")
		}
		out, err := namespace.RunContext(ctx, ns, "ping", append(args, p.Addr.String())...)
		if err == nil {
			return result{ok: true}
		}
		return result{detail: pingComplaint(out)}
	case ToolTraceroute:
		args := []string{"-n", "-q", "1", "-N", "1", "-w", "1", "-m", "6"}
		if p.Addr.Is6() {
			args = append(args, "-6")
		}
		out, err := namespace.RunContext(ctx, ns, "traceroute", append(args, p.Addr.String())...)
		if err != nil {
			return result{detail: strings.TrimSpace(out)}
		}
		hops := parseTraceroute(out)
		return result{ok: len(hops) > 0 && hops[len(hops)-1] == p.Addr, hops: hops}
	}
	addr := net.JoinHostPort(p.Addr.String(), strconv.Itoa(p.Port()))
	var conn net.Conn
	err := namespace.Do(ns, func() (err error) {
		d := net.Dialer{Timeout: timeout}
		network := "tcp"
		if p.Tool == ToolUDP {
			network = "udp"
		}
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return result{detail: err.Error()}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	var body []byte
	switch p.Tool {
	case ToolHTTP:
		if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: "+p.Addr.String()+"\r\n\r\n"); err != nil {
			return result{detail: err.Error()}
		}
		all, err := io.ReadAll(conn)
		if err != nil && len(all) == 0 {
			return result{detail: err.Error()}
		}
		if i := bytes.Index(all, []byte("\r\n\r\n")); i >= 0 {
			body = all[i+4:]
		}
	case ToolTCP:
		body, err = io.ReadAll(conn)
		if err != nil && len(body) == 0 {
			return result{detail: err.Error()}
		}
	case ToolUDP:
		if _, err := conn.Write([]byte("who are you?")); err != nil {
			return result{detail: err.Error()}
		}
		buf := make([]byte, 2048)
		n, err := conn.Read(buf)
		if err != nil {
			return result{detail: "udp: " + err.Error()}
		}
		body = buf[:n]
	}
	var a Answer
	if err := json.Unmarshal(bytes.TrimSpace(body), &a); err != nil {
		return result{detail: fmt.Sprintf("unreadable answer %q", body)}
	}
	return result{ok: true, responder: a.Responder, seen: a.SeenSource}
}

// pingComplaint is the line of ping's output that says why it failed.
func pingComplaint(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "From ") || strings.Contains(line, "unreachable") || strings.Contains(line, "connect:") {
			return "ping: " + strings.TrimPrefix(strings.TrimSpace(line), "ping: ")
		}
	}
	return "ping: no reply"
}

// parseTraceroute reads traceroute -n -q 1's hop list; a hop that did not
// answer is the invalid address.
func parseTraceroute(out string) []netip.Addr {
	var hops []netip.Addr
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			hops = append(hops, netip.Addr{})
			continue
		}
		hops = append(hops, a)
	}
	return hops
}

// explain asks gannet why p's packet does not get through: a trace on
// the source's host (in on its workload port), then, when that host
// forwards it to the core, on the host of the destination (in on its
// uplink). A probe from the Internet has no gannet at its source: the
// border is asked as the Internet would reach it.
func (l *Lab) explain(ctx context.Context, p Probe) string {
	t := l.Topo
	req := api.TraceRequest{Src: "", Dst: p.Addr.String(), Proto: "icmp"}
	switch p.Tool {
	case ToolHTTP, ToolTCP:
		req.Proto, req.DstPort, req.SrcPort = "tcp", uint16(p.Port()), 40000
	case ToolUDP:
		req.Proto, req.DstPort, req.SrcPort = "udp", uint16(p.Port()), 40000
	case ToolTraceroute:
		return ""
	}
	var host string
	if w, ok := t.Workload(p.From); ok {
		host, req.In = w.Host, w.HostIf()
		req.Src = w.IPv4.String()
		if p.Addr.Is6() {
			req.Src = w.IPv6.String()
		}
	} else if n, ok := t.Node(p.From); ok && n.Role == RoleInternet {
		if !l.internetRoutes(p.Addr) {
			return fmt.Sprintf("the Internet has no route to %s: it routes only %v to the border", p.Addr, t.InternetRoutes())
		}
		host, req.In, req.Src = "border", t.ExternalIf, n.IPv4.String()
	} else {
		return ""
	}
	var steps []string
	for hop := 0; hop < 2 && host != ""; hop++ {
		tr, err := api.NewClient(l.Paths.Socket(host)).Trace(ctx, req)
		if err != nil {
			return strings.Join(append(steps, fmt.Sprintf("%s: gannet trace: %v", host, err)), "; ")
		}
		if tr.Verdict != "forward" || tr.Egress != t.Uplink {
			steps = append(steps, fmt.Sprintf("%s: %s", host, describe(tr)))
			break
		}
		steps = append(steps, fmt.Sprintf("%s: forward out of %s", host, tr.Egress))
		// On to the host that owns the destination, in on its uplink.
		next := ""
		if w, ok := t.Workload(p.To); ok && w.Space == 0 {
			next = w.Host
		}
		if next == "" || next == host {
			break
		}
		host, req.In = next, t.Uplink
	}
	return strings.Join(steps, "; ")
}

// internetRoutes reports whether the Internet's routing table sends a
// packet for a to the border.
func (l *Lab) internetRoutes(a netip.Addr) bool {
	t := l.Topo
	for _, p := range append(t.InternetRoutes(), t.External) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dropCount is how many packets gannet on node has dropped for reason
// (a counter label as gannet counters shows it, e.g.
// nat/nonroutable-inbound).
func (l *Lab) dropCount(ctx context.Context, node, reason string) (uint64, error) {
	c, err := api.NewClient(l.Paths.Socket(node)).Counters(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range c.Drops {
		if d.Reason == reason {
			return d.Packets, nil
		}
	}
	return 0, nil
}

// describe is a trace's verdict with the detail of the step that decided
// it.
func describe(tr *api.Trace) string {
	s := tr.Verdict
	if tr.Reason != "" {
		s += " (" + tr.Reason + ")"
	}
	// The step that dropped it, after the last that found nothing (a
	// missing route says more than the drop that follows it).
	var none, drop string
	for _, st := range tr.Steps {
		switch st.Verdict {
		case "none":
			none = st.Detail
		case "drop":
			drop = st.Detail
		}
	}
	for _, d := range []string{none, drop} {
		if d != "" {
			s += ": " + d
		}
	}
	return s
}
