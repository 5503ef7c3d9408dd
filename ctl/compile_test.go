package ctl

import (
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/nat"
)

// The connection table's refusals (RFC 5508 REQ-8) come from the router's
// addresses, as gannet's other ICMP errors do, with or without a nat
// section; the plan's own policy is not changed.
func TestNATPolicyErrorSource(t *testing.T) {
	r4, r6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")
	section := &nat.Policy{External: []nat.ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.0/28")}}}
	tests := []struct {
		name   string
		plan   config.Plan
		w4, w6 netip.Addr
	}{
		{"conntrack only", config.Plan{Router4: r4, Router6: r6}, r4, r6},
		{"nat section", config.Plan{Router4: r4, NAT: section}, r4, netip.Addr{}},
		{"no router address", config.Plan{NAT: section}, netip.Addr{}, netip.Addr{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := natPolicy(&tc.plan)
			if p.ErrorSource4 != tc.w4 || p.ErrorSource6 != tc.w6 {
				t.Errorf("natPolicy error sources = %v, %v; want %v, %v", p.ErrorSource4, p.ErrorSource6, tc.w4, tc.w6)
			}
			if tc.plan.NAT != nil && (len(p.External) != 1 || tc.plan.NAT.ErrorSource4.IsValid()) {
				t.Errorf("natPolicy = %+v: the nat section lost or changed", p)
			}
		})
	}
}
