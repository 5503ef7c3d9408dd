package lab

// The check's matrix: what the design says should happen between the
// lab's workloads and the Internet, one cell per (kind, from, to, tool).
// The expectations are derived from the topology, never from the running
// configuration, so a configuration that drifts from the design fails a
// cell. check_linux.go runs the cells with real tools.

import (
	"fmt"
	"net/netip"
	"strings"
)

// Cell kinds.
const (
	KindFlatV4        = "flat-v4"
	KindFlatV6        = "flat-v6"
	KindPolicyAllow   = "policy-allow"
	KindPolicyDeny    = "policy-deny"
	KindSNAT          = "snat"
	KindFloatingIP    = "floating-ip"
	KindRoutableIn    = "routable-inbound"
	KindNonRoutableIn = "nonroutable-inbound"
	KindTenant        = "tenant"
	KindTenantInet    = "tenant-internet"
	KindSameIPLocal   = "same-ip-local"
)

// Tools a cell runs.
const (
	ToolPing       = "ping"       // ICMP echo (ping or ping -6)
	ToolTraceroute = "traceroute" // hop list (traceroute -n, UDP probes)
	ToolHTTP       = "http"       // HTTP GET on HTTPPort
	ToolTCP        = "tcp"        // TCP connect on DBPort, read the greeting
	ToolUDP        = "udp"        // UDP datagram to EchoPort, read the answer
)

// Expectations.
const (
	Reachable = "reachable"
	Blocked   = "blocked"
)

// Cell is one line of the matrix: what was tried, what the design
// expects, what happened and why.
type Cell struct {
	Kind     string `json:"kind"`
	From     string `json:"from"`
	FromHost string `json:"fromHost"`
	// To is the name of the workload or node meant to answer and the
	// address dialled, as NAME@ADDRESS (the address shows a floating IP
	// or a tenant's reused IPv4).
	To     string `json:"to"`
	ToHost string `json:"toHost"`
	// Tool is ping, traceroute, http/PORT, tcp/PORT or udp/PORT.
	Tool string `json:"tool"`
	// Expect and Observed are reachable or blocked; for traceroute, the
	// hop list.
	Expect   string `json:"expect"`
	Observed string `json:"observed"`
	// SeenSource is the source address:port the far side saw.
	SeenSource string `json:"seenSource"`
	// Responder is the name the far side answered with.
	Responder string `json:"responder"`
	Pass      bool   `json:"pass"`
	// Reason explains a denial (from gannet trace on the deciding host)
	// or a mismatch.
	Reason string `json:"reason"`
}

// Report is the check's result as `--json FILE` writes it.
type Report struct {
	Cells []Cell `json:"cells"`
}

// Failed returns the cells that did not pass.
func (r *Report) Failed() []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// Probe is one cell to run.
type Probe struct {
	Kind string
	From string // a workload or node
	To   string // the workload or node meant to answer
	Addr netip.Addr
	Tool string
	// Expect is whether the packets should get through.
	Expect bool
	// WantSource, when set, is where the far side must see the
	// connection from (a prefix, so an SNAT pool works too).
	WantSource netip.Prefix
	// WantHops is traceroute's expected hop list.
	WantHops []netip.Addr
	// DropAt and DropReason, when set, name the gannet node that must
	// drop the packets and the counter it must count them under (as
	// gannet counters labels it): the cell passes only if that counter
	// grew while the tool ran.
	DropAt, DropReason string
}

// DropNonRoutable is the counter a border drops a flow from the Internet
// to a non-routable (natOutgoing) workload under.
const DropNonRoutable = "nat/nonroutable-inbound"

// InternetRoutes are the prefixes the Internet routes to the border: its
// public ranges (the SNAT pool, the floating IPs, the routable range) and,
// as an attacker would, the non-routable range, which the border itself
// must keep out.
func (t *Topology) InternetRoutes() []netip.Prefix {
	return []netip.Prefix{t.SNATPool, t.FloatingPool, t.Routable, t.NonRoutable}
}

// Port is the port the probe's tool uses (0 for ping and traceroute).
func (p Probe) Port() int {
	switch p.Tool {
	case ToolHTTP:
		return HTTPPort
	case ToolTCP:
		return DBPort
	case ToolUDP:
		return EchoPort
	}
	return 0
}

// ToolName is the tool as a cell shows it: http/80, tcp/5432, ping.
func (p Probe) ToolName() string {
	name := p.Tool
	if p.Addr.Is6() && (p.Tool == ToolPing || p.Tool == ToolTraceroute) {
		name += "6"
	}
	if port := p.Port(); port != 0 {
		name += fmt.Sprintf("/%d", port)
	}
	return name
}

// Probes is the matrix the design asks for on topology t.
func (t *Topology) Probes() []Probe {
	wl := func(n string) Workload { w, _ := t.Workload(n); return w }
	node := func(n string) Node { x, _ := t.Node(n); return x }
	host32 := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
	web, app, db, pub, fip := wl("web"), wl("app"), wl("db"), wl("pub"), wl("fip")
	t7a, t8a, t7b, t8b, t7c := wl("t7a"), wl("t8a"), wl("t7b"), wl("t8b"), wl("t7c")
	inet := node("inet")
	h1, h2 := node(web.Host), node(app.Host)
	var floating netip.Addr
	for _, f := range t.Floating {
		if f.Workload == fip.Name {
			floating = f.Public
		}
	}
	reach := func(kind, from, to string, addr netip.Addr, tool string, src netip.Prefix) Probe {
		return Probe{Kind: kind, From: from, To: to, Addr: addr, Tool: tool, Expect: true, WantSource: src}
	}
	block := func(kind, from, to string, addr netip.Addr, tool string) Probe {
		return Probe{Kind: kind, From: from, To: to, Addr: addr, Tool: tool}
	}
	nonRoutable := func(from, to string, addr netip.Addr, tool string) Probe {
		p := block(KindNonRoutableIn, from, to, addr, tool)
		p.DropAt, p.DropReason = t.NodesWith(RoleBorder)[0].Name, DropNonRoutable
		return p
	}
	trace := func(kind, from, to string, addr netip.Addr, hops ...netip.Addr) Probe {
		return Probe{Kind: kind, From: from, To: to, Addr: addr, Tool: ToolTraceroute, Expect: true, WantHops: hops}
	}
	return []Probe{
		// Flat space, across the core, both families: no NAT inside the
		// data center (the far side sees the workload's own address),
		// and each gannet is a hop.
		reach(KindFlatV4, web.Name, app.Name, app.IPv4, ToolPing, netip.Prefix{}),
		reach(KindFlatV4, web.Name, app.Name, app.IPv4, ToolHTTP, host32(web.IPv4)),
		reach(KindFlatV4, app.Name, web.Name, web.IPv4, ToolUDP, host32(app.IPv4)),
		trace(KindFlatV4, web.Name, app.Name, app.IPv4, h1.IPv4, h2.IPv4, app.IPv4),
		reach(KindFlatV6, web.Name, app.Name, app.IPv6, ToolPing, netip.Prefix{}),
		reach(KindFlatV6, web.Name, app.Name, app.IPv6, ToolHTTP, host32(web.IPv6)),
		reach(KindFlatV6, app.Name, web.Name, web.IPv6, ToolUDP, host32(app.IPv6)),
		trace(KindFlatV6, web.Name, app.Name, app.IPv6, h1.IPv6, h2.IPv6, app.IPv6),
		// Only web reaches db, only on TCP 5432; the replies pass.
		reach(KindPolicyAllow, web.Name, db.Name, db.IPv4, ToolTCP, host32(web.IPv4)),
		reach(KindPolicyAllow, web.Name, db.Name, db.IPv6, ToolTCP, host32(web.IPv6)),
		block(KindPolicyDeny, app.Name, db.Name, db.IPv4, ToolTCP),
		block(KindPolicyDeny, pub.Name, db.Name, db.IPv6, ToolTCP),
		block(KindPolicyDeny, web.Name, db.Name, db.IPv4, ToolHTTP),
		block(KindPolicyDeny, web.Name, db.Name, db.IPv4, ToolPing),
		// The non-routable range reaches the Internet through SNAT to
		// the border's pool; the routable range keeps its address.
		reach(KindSNAT, web.Name, inet.Name, inet.IPv4, ToolHTTP, t.SNATPool),
		reach(KindSNAT, web.Name, inet.Name, inet.IPv4, ToolUDP, t.SNATPool),
		reach(KindSNAT, app.Name, inet.Name, inet.IPv4, ToolPing, netip.Prefix{}),
		reach(KindSNAT, pub.Name, inet.Name, inet.IPv4, ToolHTTP, host32(pub.IPv4)),
		// The Internet reaches the routable range, not the other: it
		// routes the non-routable range to the border too, and the
		// border drops and counts what comes in for a workload there
		// (on another host, or its own).
		reach(KindRoutableIn, inet.Name, pub.Name, pub.IPv4, ToolHTTP, host32(inet.IPv4)),
		reach(KindRoutableIn, inet.Name, pub.Name, pub.IPv4, ToolPing, netip.Prefix{}),
		nonRoutable(inet.Name, web.Name, web.IPv4, ToolHTTP),
		nonRoutable(inet.Name, app.Name, app.IPv4, ToolPing),
		nonRoutable(inet.Name, fip.Name, fip.IPv4, ToolUDP),
		// A floating IP both ways: the Internet reaches fip at the
		// public address, and fip's connections out come from it.
		reach(KindFloatingIP, inet.Name, fip.Name, floating, ToolHTTP, host32(inet.IPv4)),
		reach(KindFloatingIP, inet.Name, fip.Name, floating, ToolPing, netip.Prefix{}),
		reach(KindFloatingIP, fip.Name, inet.Name, inet.IPv4, ToolHTTP, host32(floating)),
		// Tenants 7 and 8 use the same IPv4 on both hosts; each reaches
		// its own peer across the IPv6 core, untranslated at both ends.
		reach(KindTenant, t7a.Name, t7b.Name, t7b.IPv4, ToolHTTP, host32(t7a.IPv4)),
		reach(KindTenant, t8a.Name, t8b.Name, t8b.IPv4, ToolHTTP, host32(t8a.IPv4)),
		reach(KindTenant, t7b.Name, t7a.Name, t7a.IPv4, ToolUDP, host32(t7b.IPv4)),
		reach(KindTenant, t8b.Name, t8a.Name, t8a.IPv4, ToolPing, netip.Prefix{}),
		// Tenant 7 has an exit at the border (6->4, then SNAT); tenant 8
		// has none.
		reach(KindTenantInet, t7a.Name, inet.Name, inet.IPv4, ToolHTTP, t.SNATPool),
		reach(KindTenantInet, t7b.Name, inet.Name, inet.IPv4, ToolPing, netip.Prefix{}),
		block(KindTenantInet, t8a.Name, inet.Name, inet.IPv4, ToolHTTP),
		// t7a and t8a share 100.64.0.10 on h1: t7c, in space 7 on the
		// same host, reaches t7a there.
		reach(KindSameIPLocal, t7c.Name, t7a.Name, t7a.IPv4, ToolHTTP, host32(t7c.IPv4)),
		reach(KindSameIPLocal, t7c.Name, t7a.Name, t7a.IPv4, ToolUDP, host32(t7c.IPv4)),
	}
}

// where is the node a workload or node lives on: a workload's host, or
// the node itself.
func (t *Topology) where(name string) string {
	if w, ok := t.Workload(name); ok {
		return w.Host
	}
	return name
}

// hopList is traceroute's hops as a cell shows them.
func hopList(hops []netip.Addr) string {
	s := make([]string, len(hops))
	for i, h := range hops {
		if h.IsValid() {
			s[i] = h.String()
		} else {
			s[i] = "*"
		}
	}
	return strings.Join(s, " ")
}
