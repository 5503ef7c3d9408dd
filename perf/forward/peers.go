// Peer configuration text: what each scenario loads into the device under
// test, generated from the same inputs so that the nftables and gannet ACL
// scenarios carry the same rules. Pure functions; the *_linux.go files
// apply them.

package forward

import (
	_ "embed"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/acl/classbench"
)

//go:embed rules/acl1_1k
var acl1k string

// ACLRules returns the ACL scenario's rules: ClassBench acl1_1k, highest
// priority first, the last one the catch-all.
func ACLRules() ([]acl.Rule, error) {
	rs, err := classbench.Parse(strings.NewReader(acl1k))
	if err != nil {
		return nil, fmt.Errorf("embedded acl1_1k: %w", err)
	}
	return rs, nil
}

// isCatchAll reports whether r matches every IPv4 packet.
func isCatchAll(r acl.Rule) bool {
	return r.Src.Bits() == 0 && r.Dst.Bits() == 0 && r.SrcPorts == acl.AnyPort && r.DstPorts == acl.AnyPort && r.ProtoMask == 0
}

// NftRule renders one rule as an nftables match followed by verdict.
func NftRule(r acl.Rule, verdict string) string {
	var b []string
	if r.Src.Bits() > 0 {
		b = append(b, "ip saddr "+r.Src.Masked().String())
	}
	if r.Dst.Bits() > 0 {
		b = append(b, "ip daddr "+r.Dst.Masked().String())
	}
	l4 := "th"
	switch {
	case r.ProtoMask == 0xff && r.Proto == 6:
		l4 = "tcp"
	case r.ProtoMask == 0xff && r.Proto == 17:
		l4 = "udp"
	case r.ProtoMask == 0xff:
		b = append(b, fmt.Sprintf("ip protocol %d", r.Proto))
	case r.ProtoMask != 0:
		b = append(b, fmt.Sprintf("ip protocol & 0x%02x == 0x%02x", r.ProtoMask, r.Proto&r.ProtoMask))
	}
	if l4 != "th" && r.SrcPorts == acl.AnyPort && r.DstPorts == acl.AnyPort {
		b = append(b, "ip protocol "+l4)
	}
	if r.SrcPorts != acl.AnyPort {
		b = append(b, l4+" sport "+nftRange(r.SrcPorts))
	}
	if r.DstPorts != acl.AnyPort {
		b = append(b, l4+" dport "+nftRange(r.DstPorts))
	}
	b = append(b, verdict)
	return strings.Join(b, " ")
}

func nftRange(p acl.PortRange) string {
	if p.Lo == p.Hi {
		return fmt.Sprint(p.Lo)
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// NftACL returns an nftables ruleset (for `nft -f -`) with the rules in
// the forward hook: all but a final catch-all drop, the catch-all (if
// any) accepts; the policy accepts. With conntrack, established and
// related traffic is accepted first, as a stateful firewall does.
func NftACL(rules []acl.Rule, conntrack bool) string {
	var b strings.Builder
	b.WriteString("table ip gbench {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n")
	if conntrack {
		b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
	}
	for i, r := range rules {
		v := "drop"
		if i == len(rules)-1 && isCatchAll(r) {
			v = "accept"
		}
		b.WriteString("\t\t" + NftRule(r, v) + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// NftMasquerade returns a ruleset that source-NATs everything leaving
// through oif to oif's address (conntrack included).
func NftMasquerade(oif string) string {
	return fmt.Sprintf("table ip gbench {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname %q masquerade\n\t}\n}\n", oif)
}

// Tayga describes a TAYGA 4->6 setup: IPv4 packets to Map4 become IPv6
// packets to Map6, their IPv4 sources embedded in Prefix.
type Tayga struct {
	Tun     string
	Addr4   netip.Addr   // TAYGA's own IPv4 address (source of its ICMP)
	Addr6   netip.Addr   // TAYGA's own IPv6 address
	Prefix  netip.Prefix // RFC 6052 prefix for the IPv4 sources; TAYGA refuses 64:ff9b:1::/96 as reserved and private IPv4 under 64:ff9b::/96
	Map4    netip.Addr
	Map6    netip.Addr
	DataDir string
}

// Conf returns tayga.conf.
func (t Tayga) Conf() string {
	return fmt.Sprintf("tun-device %s\nipv4-addr %s\nipv6-addr %s\nprefix %s\nmap %s %s\ndata-dir %s\n",
		t.Tun, t.Addr4, t.Addr6, t.Prefix, t.Map4, t.Map6, t.DataDir)
}

// The lab's addresses (DESIGN.md section 6: benchmarking and documentation
// ranges only, inside the namespaces the harness made).
var (
	AddrGen4    = netip.MustParsePrefix("198.18.0.2/24")  // generator side of the DUT's ingress link
	AddrDUTIn4  = netip.MustParsePrefix("198.18.0.1/24")  // DUT ingress
	AddrDUTOut4 = netip.MustParsePrefix("198.19.0.1/24")  // DUT egress
	AddrSink4   = netip.MustParsePrefix("198.19.0.2/24")  // sink
	NetBehind4  = netip.MustParsePrefix("198.19.1.0/24")  // "behind the sink": routed by the DUT, blackholed by the sink
	AddrGen6    = netip.MustParsePrefix("2001:db8::2/64") // IPv6 of the same links
	AddrDUTIn6  = netip.MustParsePrefix("2001:db8::1/64")
	AddrDUTOut6 = netip.MustParsePrefix("2001:db8:1::1/64")
	AddrSink6   = netip.MustParsePrefix("2001:db8:1::2/64")
	NetBehind6  = netip.MustParsePrefix("2001:db8:2::/64")
	// Translation: IPv4 sources appear as 64:ff9b:1::/96 addresses (RFC 8215
	// local use), the destination 198.19.1.2 as 2001:db8:2::2.
	XlatPrefix = netip.MustParsePrefix("64:ff9b:1::/96")
	XlatDst6   = netip.MustParseAddr("2001:db8:2::2")
	// TaygaPrefix is the RFC 6052 prefix TAYGA accepts for these sources.
	TaygaPrefix = netip.MustParsePrefix("2001:db8:64::/96")
)

// PacketSpec is what every scenario's generator sends (pktgen.Spec fields
// the harness sets; MACs come from the lab).
type PacketSpec struct {
	Src              netip.Addr
	SrcAddrs         int
	SrcPort, DstPort uint16
	Flows            int
	Dst              netip.Addr
	FrameSize        int
}

// DefaultPackets: IPv4 UDP, 64-byte frames, 256 flows from 16 sources.
func DefaultPackets() PacketSpec {
	return PacketSpec{Src: netip.MustParseAddr("198.18.0.16"), SrcAddrs: 16, SrcPort: 1024, DstPort: 9, Flows: 256,
		Dst: netip.MustParseAddr("198.19.1.2"), FrameSize: 64}
}
