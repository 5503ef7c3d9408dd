// gannet's side of the benchmark: the `gannet run` configurations of the
// gannet scenarios, generated from the same inputs as the peers' (the lab
// addresses, the ClassBench rules, a full BGP table), as YAML in the shape
// of /work/notes/CONFIG.md (ctl.Config).

package forward

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"

	"go.yaml.in/yaml/v3"

	"github.com/gannet-net/gannet/acl"
)

// GannetKind selects a gannet scenario.
type GannetKind int

const (
	GannetRoute  GannetKind = iota // two uplinks, static routes
	GannetACLBGP                   // the generator is a workload endpoint with the 1k ClassBench rules as egress policy; a full table of routes
	GannetSNAT                     // natOutgoing from the generator's pool to the egress address
	GannetXlat                     // the generator is a workload in a translated space: IPv4 in, IPv6 out
)

// GannetLab names what a gannet config refers to.
type GannetLab struct {
	In, Out string // DUT ingress and egress interfaces
	GenMAC  string // the generator's MAC (a workload endpoint's MAC)
	DUTCPU  int
	Sources []netip.Addr   // the generator's source addresses
	Table   []netip.Prefix // extra routes via the sink (GannetACLBGP: a full table)
	Rules   []acl.Rule     // GannetACLBGP: the rules, the last one the catch-all
	Idle    string         // dataplane.idle: poll (default) or busy
	// FastPath turns dataplane.fastPath on.
	FastPath bool
}

// XlatSpace is the translated address space of GannetXlat.
const XlatSpace = 7

type yamlMap = map[string]any

// GannetConfig returns the YAML configuration of scenario kind.
func GannetConfig(kind GannetKind, l GannetLab) ([]byte, error) {
	sink4, sink6 := AddrSink4.Addr().String(), AddrSink6.Addr().String()
	cfg := yamlMap{
		"node":      yamlMap{"name": "bench-dut", "routerIPv4": AddrDUTIn4.Addr().String(), "routerIPv6": AddrDUTIn6.Addr().String()},
		"dataplane": yamlMap{"cores": []int{l.DUTCPU}, "idle": cmp.Or(l.Idle, "poll")},
	}
	if l.FastPath {
		cfg["dataplane"].(yamlMap)["fastPath"] = "on"
	}
	ports := []yamlMap{{"interface": l.Out, "role": "uplink"}}
	routes := []yamlMap{
		{"prefix": NetBehind4.String(), "via": sink4, "interface": l.Out},
		{"prefix": NetBehind6.String(), "via": sink6, "interface": l.Out},
	}
	endpoint := func(space int) yamlMap {
		var nets []string
		for _, a := range l.Sources {
			nets = append(nets, netip.PrefixFrom(a, a.BitLen()).String())
		}
		ep := yamlMap{"name": "generator", "interface": l.In, "mac": l.GenMAC, "ipNetworks": nets,
			"labels": yamlMap{"role": "generator"}}
		if space != 0 {
			ep["addressSpace"] = space
		}
		return ep
	}
	switch kind {
	case GannetRoute:
		ports = append([]yamlMap{{"interface": l.In, "role": "uplink"}}, ports...)
	case GannetACLBGP:
		cfg["workloadEndpoints"] = []yamlMap{endpoint(0)}
		cfg["dataplane"].(yamlMap)["conntrack"] = yamlMap{"capacity": 65536}
		var egress []yamlMap
		for i, r := range l.Rules {
			action := "Deny"
			if i == len(l.Rules)-1 && isCatchAll(r) {
				action = "Allow"
			}
			egress = append(egress, calicoRule(r, action))
		}
		cfg["policy"] = yamlMap{"policies": []yamlMap{{
			"name": "classbench-acl1-1k", "selector": "role == 'generator'", "types": []string{"Egress"}, "egress": egress,
		}}}

	case GannetSNAT:
		ports = append([]yamlMap{{"interface": l.In, "role": "uplink"}}, ports...)
		cfg["dataplane"].(yamlMap)["conntrack"] = yamlMap{"capacity": 65536}
		cfg["nat"] = yamlMap{
			"ipPools":  []yamlMap{{"cidr": netip.PrefixFrom(l.Sources[0], 24).Masked().String(), "natOutgoing": true}},
			"external": []yamlMap{{"cidr": netip.PrefixFrom(AddrDUTOut4.Addr(), 32).String(), "ports": "1024-65535"}},
		}
	case GannetXlat:
		cfg["addressSpaces"] = []yamlMap{{"id": XlatSpace, "translated": true}}
		cfg["workloadEndpoints"] = []yamlMap{endpoint(XlatSpace)}
		cfg["translation"] = yamlMap{"addressSpaces": map[int]any{XlatSpace: nil}}
		// Translated IPv4 rides the IPv6 core: 64:ff9b:1:7::/96 toward the sink.
		routes = append(routes, yamlMap{"prefix": XlatCore.String(), "via": sink6, "interface": l.Out})
	default:
		return nil, fmt.Errorf("unknown gannet scenario %d", kind)
	}
	cfg["ports"] = ports
	cfg["routes"] = routes
	b, err := yaml.Marshal(cfg)
	if err != nil || kind != GannetACLBGP || len(l.Table) == 0 {
		return b, err
	}
	// A full table is a million routes: written as flow mappings after the
	// rest (top-level keys may come in any order) instead of through
	// yaml.Marshal, which takes many seconds for it.
	delete(cfg, "routes")
	if b, err = yaml.Marshal(cfg); err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(b)
	buf.WriteString("routes:\n")
	for _, r := range routes {
		fmt.Fprintf(buf, "  - {prefix: %q, via: %q, interface: %q}\n", r["prefix"], r["via"], r["interface"])
	}
	for _, p := range l.Table {
		via := sink4
		if p.Addr().Is6() {
			via = sink6
		}
		fmt.Fprintf(buf, "  - {prefix: %q, via: %q, interface: %q}\n", p.String(), via, l.Out)
	}
	return buf.Bytes(), nil
}

// XlatCore is where GannetXlat's translated packets go (the sink blackholes it).
var XlatCore = netip.MustParsePrefix("64:ff9b:1::/48")

// calicoRule renders a ClassBench rule as a Calico-shaped policy rule.
func calicoRule(r acl.Rule, action string) yamlMap {
	m := yamlMap{"action": action}
	if r.ProtoMask == 0xff {
		switch r.Proto {
		case 6:
			m["protocol"] = "TCP"
		case 17:
			m["protocol"] = "UDP"
		case 1:
			m["protocol"] = "ICMP"
		default:
			m["protocol"] = fmt.Sprint(r.Proto)
		}
	}
	side := func(p netip.Prefix, ports acl.PortRange) yamlMap {
		e := yamlMap{}
		if p.Bits() > 0 {
			e["nets"] = []string{p.Masked().String()}
		}
		if ports != acl.AnyPort {
			if ports.Lo == ports.Hi {
				e["ports"] = []string{fmt.Sprint(ports.Lo)}
			} else {
				e["ports"] = []string{fmt.Sprintf("%d:%d", ports.Lo, ports.Hi)}
			}
		}
		return e
	}
	if s := side(r.Src, r.SrcPorts); len(s) > 0 {
		m["source"] = s
	}
	if d := side(r.Dst, r.DstPorts); len(d) > 0 {
		m["destination"] = d
	}
	return m
}

// FullTable returns the prefixes of a BGP table that can be routed toward
// the sink without touching the lab: no default route and nothing that
// overlaps the lab's own networks (where the lab's routes must win).
func FullTable(ps []netip.Prefix) []netip.Prefix {
	lab := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32"), XlatCore}
	var out []netip.Prefix
	for _, p := range ps {
		if p.Bits() == 0 {
			continue
		}
		keep := true
		for _, l := range lab {
			if p.Overlaps(l) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, p)
		}
	}
	return out
}
