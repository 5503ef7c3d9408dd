package forward

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/acl"
)

func TestNftRule(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		rule acl.Rule
		want string
	}{
		{"hosts tcp dport", acl.Rule{Src: p("176.19.181.33/32"), Dst: p("90.145.23.162/32"), SrcPorts: acl.AnyPort,
			DstPorts: acl.PortRange{Lo: 1550, Hi: 1550}, Proto: 6, ProtoMask: 0xff},
			"ip saddr 176.19.181.33/32 ip daddr 90.145.23.162/32 tcp dport 1550 drop"},
		{"udp ranges", acl.Rule{Src: p("10.0.0.0/8"), Dst: p("0.0.0.0/0"), SrcPorts: acl.PortRange{Lo: 1024, Hi: 65535},
			DstPorts: acl.PortRange{Lo: 53, Hi: 54}, Proto: 17, ProtoMask: 0xff},
			"ip saddr 10.0.0.0/8 udp sport 1024-65535 udp dport 53-54 drop"},
		{"proto only", acl.Rule{Src: p("0.0.0.0/0"), Dst: p("72.0.0.0/6"), SrcPorts: acl.AnyPort, DstPorts: acl.AnyPort, Proto: 1, ProtoMask: 0xff},
			"ip daddr 72.0.0.0/6 ip protocol 1 drop"},
		{"tcp no ports", acl.Rule{Src: p("0.0.0.0/0"), Dst: p("0.0.0.0/0"), SrcPorts: acl.AnyPort, DstPorts: acl.AnyPort, Proto: 6, ProtoMask: 0xff},
			"ip protocol tcp drop"},
		{"any proto with ports", acl.Rule{Src: p("0.0.0.0/0"), Dst: p("0.0.0.0/0"), SrcPorts: acl.AnyPort, DstPorts: acl.PortRange{Lo: 80, Hi: 80}},
			"th dport 80 drop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NftRule(tc.rule, "drop"); got != tc.want {
				t.Errorf("NftRule(%+v) = %q, want %q", tc.rule, got, tc.want)
			}
		})
	}
}

func TestNftACL(t *testing.T) {
	rules, err := ACLRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 942 || !isCatchAll(rules[len(rules)-1]) {
		t.Fatalf("ACLRules: %d rules, last %+v; want 942 ending in a catch-all", len(rules), rules[len(rules)-1])
	}
	for _, ct := range []bool{false, true} {
		s := NftACL(rules, ct)
		lines := strings.Split(strings.TrimSpace(s), "\n")
		body := 0
		for _, l := range lines {
			if strings.HasSuffix(l, " drop") || strings.HasSuffix(l, " accept") || strings.TrimSpace(l) == "accept" {
				body++
			}
		}
		want := len(rules)
		if ct {
			want += 2
		}
		if body != want {
			t.Errorf("NftACL(conntrack=%v): %d rule lines, want %d", ct, body, want)
		}
		if last := strings.TrimSpace(lines[len(lines)-3]); last != "accept" {
			t.Errorf("NftACL: catch-all rendered as %q, want a bare accept", last)
		}
		if got := strings.Contains(s, "ct state established"); got != ct {
			t.Errorf("NftACL(conntrack=%v) mentions ct state: %v", ct, got)
		}
	}
}

// TestBenchTrafficMatchesOnlyTheCatchAll: the harness's packets must walk
// the whole rule set (the worst case a linear firewall sees) and be
// allowed by the final rule, in nftables and gannet alike.
func TestBenchTrafficMatchesOnlyTheCatchAll(t *testing.T) {
	rules, err := ACLRules()
	if err != nil {
		t.Fatal(err)
	}
	lin, err := acl.NewLinear(rules)
	if err != nil {
		t.Fatal(err)
	}
	spec := DefaultPackets()
	for i := range spec.Flows {
		src, sport := spec.Src, spec.SrcPort+uint16(i/spec.SrcAddrs)
		for range i % spec.SrcAddrs {
			src = src.Next()
		}
		k := acl.Key{Src: src, Dst: spec.Dst, SrcPort: sport, DstPort: spec.DstPort, Proto: 17}
		if idx, ok := lin.Match(&k); !ok || idx != len(rules)-1 {
			t.Fatalf("flow %d %+v matches rule %d (%v), want only the catch-all %d", i, k, idx, ok, len(rules)-1)
		}
	}
}

func TestTaygaConf(t *testing.T) {
	c := Tayga{Tun: "nat64", Addr4: netip.MustParseAddr("198.18.255.1"), Addr6: netip.MustParseAddr("2001:db8:ff::1"),
		Prefix: netip.MustParsePrefix("64:ff9b:1::/96"), Map4: netip.MustParseAddr("198.19.1.2"),
		Map6: netip.MustParseAddr("2001:db8:2::2"), DataDir: "/tmp/x"}
	want := "tun-device nat64\nipv4-addr 198.18.255.1\nipv6-addr 2001:db8:ff::1\nprefix 64:ff9b:1::/96\nmap 198.19.1.2 2001:db8:2::2\ndata-dir /tmp/x\n"
	if got := c.Conf(); got != want {
		t.Errorf("Conf() = %q, want %q", got, want)
	}
}

func TestNftMasquerade(t *testing.T) {
	got := NftMasquerade("do1")
	if !strings.Contains(got, `oifname "do1" masquerade`) || !strings.Contains(got, "hook postrouting") {
		t.Errorf("NftMasquerade = %q", got)
	}
}
