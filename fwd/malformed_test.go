package fwd

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
)

func TestMalformedCounted(t *testing.T) {
	good := spec{srcMAC: macW1, dstMAC: gwMAC, src: w1v4, dst: w2v4, proto: "syn", sport: 1, dport: 2}.frame(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name   string
		frame  []byte
		reason Reason
		parse  pkt.Reason
	}{
		{"runt", good[:10], ReasonMalformed, pkt.ReasonEthernetTruncated},
		{"ipv4 checksum", mutate(func(b []byte) []byte { b[24] ^= 0xff; return b }), ReasonMalformed, pkt.ReasonIPv4Checksum},
		{"ipv4 version", mutate(func(b []byte) []byte { b[14] = 0x55; return b }), ReasonMalformed, pkt.ReasonIPv4Version},
		{"tcp truncated", mutate(func(b []byte) []byte { return b[:14+20+10] }), ReasonMalformed, pkt.ReasonIPv4TotalTruncated},
		{"lldp", mutate(func(b []byte) []byte { b[12], b[13] = 0x88, 0xcc; return b }), ReasonUnsupported, pkt.ReasonEtherTypeUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, twoWorkloads(), peerNeigh)
			h.send(0, tc.frame)
			for i := range h.ports {
				expectFrames(t, "port", h.out(i))
			}
			st := h.stats()
			if st.Drops[tc.reason] != 1 || st.Parse[tc.parse] != 1 || st.Dropped() != 1 {
				t.Errorf("drops %v, want %v with pkt reason %v", nonZero(st), tc.reason, tc.parse)
			}
		})
	}
}

func TestNewTablesErrors(t *testing.T) {
	tr := twoWorkloads
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"endpoint on uplink", func(c *Config) { c.Endpoints[0].Port = 2 }, "fwd: Endpoints[0].Port: port 2 (up) is not a workload port"},
		{"endpoint port out of range", func(c *Config) { c.Endpoints[0].Port = 9 }, "fwd: Endpoints[0].Port: 9 is not a port index (0-2)"},
		{"two endpoints on a port", func(c *Config) { c.Endpoints[1].Port = 0 }, `fwd: Endpoints[1].Port: port 0 (w1) already holds endpoint "w1"`},
		{"duplicate name", func(c *Config) { c.Endpoints[1].Name = "w1" }, `fwd: Endpoints[1].Name: "w1" repeats Endpoints[0]`},
		{"duplicate address", func(c *Config) { c.Endpoints[1].Addrs[0] = w1v4 }, "fwd: Endpoints[1].Addrs[0]: 198.18.0.1 in space 0 repeats Endpoints[0].Addrs[0]"},
		{"undeclared space", func(c *Config) { c.Endpoints[0].Space = 3 }, "fwd: Endpoints[0].Space: address space 3 is not declared"},
		{"translated without xlat", func(c *Config) { c.Spaces = []SpaceConfig{{ID: 3, Translated: true}} }, "fwd: Spaces[0].Translated: space 3 is translated but Config.Xlat is nil"},
		{"translated space 0", func(c *Config) { c.Spaces = []SpaceConfig{{ID: 0, Translated: true}} }, "fwd: Spaces[0].Translated: space 0 is the flat core space and cannot be translated"},
		{"route port", func(c *Config) { c.Routes[0].Port = -1 }, "fwd: Routes[0].Port: -1 is not a port index (0-2)"},
		{"gateway family", func(c *Config) { c.Routes[1].Gateway = netip.MustParseAddr("198.51.100.1") }, "fwd: Routes[1].Gateway: 198.51.100.1: an IPv6 prefix needs an IPv6 gateway"},
		{"multicast gateway", func(c *Config) { c.Routes[0].Gateway = netip.MustParseAddr("ff02::1") }, "fwd: Routes[0].Gateway: ff02::1 is not a unicast address"},
		{"duplicate route", func(c *Config) { c.Routes[1].Prefix = c.Routes[0].Prefix }, "fwd: Routes[1].Prefix: 0.0.0.0/0 in space 0 repeats Routes[0]"},
		{"translate route in ipv4", func(c *Config) {
			c.Routes[0] = RouteConfig{Prefix: c.Routes[0].Prefix, Translate: true, TranslateSpace: 7}
		}, "fwd: Routes[0].Translate: translation routes belong in space 0's IPv6 (core) table"},
		{"mtu", func(c *Config) { c.Ports[0].MTU = 40 }, "fwd: Ports[0].MTU: 40 out of range 68-65535"},
		{"two router addresses", func(c *Config) { c.RouterAddrs = append(c.RouterAddrs, netip.MustParseAddr("192.0.2.9")) }, "fwd: RouterAddrs[2]: 192.0.2.9: only one address per family"},
		{"link-local endpoint address", func(c *Config) { c.Endpoints[0].Addrs[1] = netip.MustParseAddr("fe80::5") }, "fwd: Endpoints[0].Addrs[1]: fe80::5 is not a routable unicast address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tr()
			tc.mod(&c)
			tab, err := NewTables(c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("NewTables() = %v, %v; want error %q", tab, err, tc.want)
			}
		})
	}
}
