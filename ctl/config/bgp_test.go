package config

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const bgpExample = `
node: {routerIPv4: 198.18.0.1}
bgp:
  asNumber: 64512
  communities: [{name: lab, value: "64512:100"}, {name: big, value: "64512:1:2"}]
  prefixAdvertisements: [{cidr: 198.18.1.0/24, communities: [lab, "65000:7"]}, {cidr: 198.18.0.0/16, communities: [big, lab]}]
  peers:
    - peerIP: 198.18.250.1
      asNumber: 64500
      sourceAddress: 198.18.250.2
      password: secret
      keepaliveTime: 10s
      holdTime: 30s
      maxRestartTime: 60s
      maxPrefixes: 1000
      bfd: true
      filters: [from-core, no-default]
    - peerIP: 2001:db8:250::1
      asNumber: 4200000000
      families: [ipv4, ipv6]
  filters:
    - name: from-core
      importV4: [{cidr: 198.18.0.0/15, matchOperator: In, prefixLength: {max: 32}, action: Accept}]
      importV6: [{cidr: "2001:db8::/32", matchOperator: NotIn, action: Reject}, {action: Accept}]
      exportV4: [{cidr: 0.0.0.0/0, matchOperator: Equal, action: Reject}]
    - name: no-default
      importV4: [{cidr: 0.0.0.0/0, matchOperator: Equal, action: Reject}]
`

func TestBGPConfig(t *testing.T) {
	_, p, err := ParseConfig([]byte(bgpExample))
	if err != nil {
		t.Fatalf("ParseConfig = %v", err)
	}
	lab := Community{Value: [3]uint32{64512<<16 | 100}}
	big := Community{Large: true, Value: [3]uint32{64512, 1, 2}}
	want := &PlanBGP{
		ASN:        64512,
		RouterID:   netip.MustParseAddr("198.18.0.1"),
		ListenPort: 179,
		Advertisements: []PlanBGPAdvertisement{
			{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Communities: []Community{lab, {Value: [3]uint32{65000<<16 | 7}}}},
			{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Communities: []Community{big, lab}},
		},
		Peers: []PlanBGPPeer{
			{
				Addr: netip.MustParseAddr("198.18.250.1"), ASN: 64500, Source: netip.MustParseAddr("198.18.250.2"),
				Password: "secret", Keepalive: 10 * time.Second, Hold: 30 * time.Second, RestartTime: time.Minute,
				MaxPrefixes: 1000, BFD: true, Families: []Family{IPv4},
				Import: [2][]PlanBGPRule{
					{
						{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Op: MatchIn, MinLen: 15, MaxLen: 32, Accept: true},
						{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Op: MatchEqual, MinLen: 0, MaxLen: 32},
					},
					{
						{Prefix: netip.MustParsePrefix("2001:db8::/32"), Op: MatchNotIn, MinLen: 32, MaxLen: 128},
						{Prefix: netip.MustParsePrefix("::/0"), Op: MatchIn, MinLen: 0, MaxLen: 128, Accept: true},
					},
				},
				Export:  [2][]PlanBGPRule{{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Op: MatchEqual, MinLen: 0, MaxLen: 32}}},
				Filters: []string{"from-core", "no-default"},
			},
			{
				Addr: netip.MustParseAddr("2001:db8:250::1"), ASN: 4200000000,
				Keepalive: 30 * time.Second, Hold: 90 * time.Second, RestartTime: 120 * time.Second,
				MaxPrefixes: 100000, Families: []Family{IPv4, IPv6},
			},
		},
	}
	if diff := cmp.Diff(want, p.BGP, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParseConfig(bgpExample).BGP (-want +got):\n%s", diff)
	}
	if got, want := p.BGP.CommunitiesFor(netip.MustParsePrefix("198.18.1.5/32")), []Community{lab, {Value: [3]uint32{65000<<16 | 7}}, big}; !cmp.Equal(got, want) {
		t.Errorf("CommunitiesFor(198.18.1.5/32) = %v, want %v", got, want)
	}
	if got := p.BGP.CommunitiesFor(netip.MustParsePrefix("2001:db8::1/128")); len(got) != 0 {
		t.Errorf("CommunitiesFor(2001:db8::1/128) = %v, want none", got)
	}
	if lab.String() != "64512:100" || big.String() != "64512:1:2" {
		t.Errorf("String() = %s, %s", lab, big)
	}

	// Safe defaults: the first peer imports what its rules accept only;
	// the second, with no filters, imports nothing and exports only the
	// node's own routes.
	p1, p2 := &p.BGP.Peers[0], &p.BGP.Peers[1]
	for _, tc := range []struct {
		peer   *PlanBGPPeer
		prefix string
		want   bool
	}{
		{p1, "198.18.5.0/24", true},
		{p1, "198.19.0.1/32", true},
		{p1, "0.0.0.0/0", false},
		{p1, "203.0.113.0/24", false},
		{p1, "2001:db8:1::/48", true},
		{p1, "2001:db9::/32", false},
		{p2, "198.18.5.0/24", false},
		{p2, "2001:db8:1::/48", false},
	} {
		if got := tc.peer.Imports(netip.MustParsePrefix(tc.prefix)); got != tc.want {
			t.Errorf("peer %s Imports(%s) = %v, want %v", tc.peer.Addr, tc.prefix, got, tc.want)
		}
	}
	if !p2.Exports(netip.MustParsePrefix("198.18.1.1/32"), true) || p2.Exports(netip.MustParsePrefix("198.18.1.1/32"), false) {
		t.Errorf("default export: local routes only")
	}
	if p1.Exports(netip.MustParsePrefix("0.0.0.0/0"), true) {
		t.Errorf("export rule Equal 0.0.0.0/0 Reject did not reject the default route")
	}
}

func TestBGPConfigDefaults(t *testing.T) {
	_, p, err := ParseConfig([]byte("node: {routerIPv4: 198.18.0.9}\nbgp: {asNumber: 65000, listenPort: 0, peers: [{peerIP: '2001:db8::2', asNumber: 65001}]}"))
	if err != nil {
		t.Fatalf("ParseConfig = %v", err)
	}
	b := p.BGP
	if b.RouterID != netip.MustParseAddr("198.18.0.9") || b.ListenPort != 0 {
		t.Errorf("routerID %v listenPort %d, want node.routerIPv4 and 0", b.RouterID, b.ListenPort)
	}
	pp := b.Peers[0]
	if pp.Hold != 90*time.Second || pp.Keepalive != 30*time.Second || pp.RestartTime != 120*time.Second ||
		pp.MaxPrefixes != DefaultBGPMaxPrefixes || !cmp.Equal(pp.Families, []Family{IPv6}) {
		t.Errorf("peer defaults = %+v", pp)
	}
	if _, p, _ := ParseConfig([]byte("node: {routerIPv4: 198.18.0.9}")); p.BGP != nil {
		t.Errorf("no bgp section: Plan.BGP = %+v, want nil", p.BGP)
	}
}

// TestBGPBlocks: bgp.ipPools and bgp.blocks give the plan the host's
// blocks, of both families.
func TestBGPBlocks(t *testing.T) {
	_, p, err := ParseConfig([]byte(`node: {routerIPv4: 198.18.0.9}
bgp:
  asNumber: 65000
  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}, {cidr: "2001:db8:40::/48", blockSize: 122}]
  blocks: [198.18.21.0/26, 198.18.21.192/26, "2001:db8:40::40/122"]
`))
	if err != nil {
		t.Fatalf("ParseConfig = %v", err)
	}
	flat := func(s string) PlanBGPBlock {
		return PlanBGPBlock{Block: netip.MustParsePrefix(s), Route: netip.MustParsePrefix(s)}
	}
	want := []PlanBGPBlock{flat("198.18.21.0/26"), flat("198.18.21.192/26"), flat("2001:db8:40::40/122")}
	if diff := cmp.Diff(want, p.BGP.Blocks, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Blocks (-want +got):\n%s", diff)
	}
	for a, in := range map[string]bool{"198.18.21.10": true, "198.18.21.200": true, "198.18.21.64": false, "2001:db8:40::7f": true, "2001:db8:40::80": false, "198.51.100.1": false} {
		if got := p.BGP.InBlock(0, netip.MustParseAddr(a)); got != in {
			t.Errorf("InBlock(0, %s) = %v, want %v", a, got, in)
		}
	}
}

// TestBGPBlocksTranslated: a pool of a translated space cuts IPv4 blocks
// whose route is their RFC 6052 form in the core,
// <prefix>:<ID>::W.X.Y.Z/(96+n); tenants' pools may overlap, a block in
// pools of two spaces names its space, and one of a single space's pools
// needs no name.
func TestBGPBlocksTranslated(t *testing.T) {
	_, p, err := ParseConfig([]byte(`node: {routerIPv4: 198.18.0.9, routerIPv6: "2001:db8::9"}
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
translation:
  addressSpaces: {7: "", 8: "2001:db8:8::/96"}
bgp:
  asNumber: 65000
  ipPools:
    - {cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}
    - {cidr: 100.64.0.0/16, blockSize: 28, addressSpace: 8}
    - {cidr: 100.65.0.0/16, blockSize: 24, addressSpace: 8}
    - {cidr: 100.64.0.0/16, blockSize: 26}
  blocks:
    - {cidr: 100.64.1.0/26, addressSpace: 7}
    - {cidr: 100.64.1.16/28, addressSpace: 8}
    - 100.65.3.0/24
    - {cidr: 100.64.1.0/26, addressSpace: 0}
`))
	if err != nil {
		t.Fatalf("ParseConfig = %v", err)
	}
	pp := netip.MustParsePrefix
	want := []PlanBGPBlock{
		{Block: pp("100.64.1.0/26"), Space: 7, Route: pp("64:ff9b:1:7::100.64.1.0/122")},
		{Block: pp("100.64.1.16/28"), Space: 8, Route: pp("2001:db8:8::100.64.1.16/124")},
		{Block: pp("100.65.3.0/24"), Space: 8, Route: pp("2001:db8:8::100.65.3.0/120")},
		{Block: pp("100.64.1.0/26"), Space: 0, Route: pp("100.64.1.0/26")},
	}
	if diff := cmp.Diff(want, p.BGP.Blocks, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Blocks (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		space uint16
		a     string
		in    bool
	}{{7, "100.64.1.9", true}, {8, "100.64.1.9", false}, {8, "100.64.1.20", true}, {0, "100.64.1.9", true}, {7, "100.65.3.1", false}, {8, "100.65.3.1", true}} {
		if got := p.BGP.InBlock(tc.space, netip.MustParseAddr(tc.a)); got != tc.in {
			t.Errorf("InBlock(%d, %s) = %v, want %v", tc.space, tc.a, got, tc.in)
		}
	}
	// As written, read back the same (the lab and tools write configs).
	c, _, _ := ParseConfig([]byte("node: {routerIPv4: 198.18.0.9}\nbgp: {asNumber: 1, ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}], blocks: [198.18.21.0/26]}\n"))
	c.BGP.Blocks = append(c.BGP.Blocks, BGPBlock{CIDR: "198.18.22.0/26", AddressSpace: new(int)})
	out, err := yaml.Marshal(c.BGP.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "- 198.18.21.0/26\n- cidr: 198.18.22.0/26\n  addressSpace: 0\n"; got != want {
		t.Errorf("Marshal(blocks) = %q, want %q", got, want)
	}
}

func TestBGPConfigErrors(t *testing.T) {
	const base = "node: {routerIPv4: 198.18.0.1}\nbgp:\n  asNumber: 64512\n"
	const xbase = "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: ''}}\n" + base
	const peer = base + "  peers:\n    - {peerIP: 198.18.250.1, asNumber: 64500}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", base + "  peer: []\n", []string{"field peer not found"}},
		{"as number", "node: {routerIPv4: 198.18.0.1}\nbgp: {asNumber: 0}", []string{"bgp.asNumber: 0 out of range 1-4294967295"}},
		{"as number too big", "node: {routerIPv4: 198.18.0.1}\nbgp: {asNumber: 4294967296}", []string{"bgp.asNumber: 4294967296 out of range"}},
		{"router id missing", "bgp: {asNumber: 1}", []string{"bgp.routerID: missing: set it or node.routerIPv4"}},
		{"router id v6", "bgp: {asNumber: 1, routerID: '2001:db8::1'}", []string{`bgp.routerID: "2001:db8::1" is not an IPv4 address`}},
		{"listen port", base + "  listenPort: 70000\n", []string{"bgp.listenPort: 70000 out of range 0-65535"}},
		{"community value", base + "  communities: [{name: a, value: '70000:1'}]\n", []string{`bgp.communities[0].value: "70000:1": want AS:value`}},
		{"community twice", base + "  communities: [{name: a, value: '1:1'}, {name: a, value: '1:2'}]\n", []string{`bgp.communities[1].name: "a" is defined twice`}},
		{"advertisement community", base + "  prefixAdvertisements: [{cidr: 198.18.1.0/24, communities: [nope]}]\n", []string{`bgp.prefixAdvertisements[0].communities[0]: "nope" is neither a name`}},
		{"advertisement cidr", base + "  prefixAdvertisements: [{cidr: 198.18.1.1/24}]\n", []string{"bgp.prefixAdvertisements[0].cidr: 198.18.1.1/24 has host bits set"}},
		{"peer ip", base + "  peers: [{peerIP: nope, asNumber: 1}]\n", []string{`bgp.peers[0].peerIP: "nope" is not an IP address`}},
		{"peer ip missing", base + "  peers: [{asNumber: 1}]\n", []string{"bgp.peers[0].peerIP: missing"}},
		{"peer twice", peer + "    - {peerIP: 198.18.250.1, asNumber: 64501}\n", []string{"bgp.peers[1].peerIP: 198.18.250.1 is already bgp.peers[0]"}},
		{"peer as", base + "  peers: [{peerIP: 198.18.250.1}]\n", []string{"bgp.peers[0].asNumber: 0 out of range"}},
		{"source family", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, sourceAddress: '2001:db8::1'}]\n", []string{"bgp.peers[0].sourceAddress: 2001:db8::1 is not the same family as peerIP 198.18.250.1"}},
		{"password", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, password: " + strings.Repeat("x", 81) + "}]\n", []string{"bgp.peers[0].password: 81 bytes, at most 80"}},
		{"hold time", peer + "    - {peerIP: 198.18.250.2, asNumber: 1, holdTime: 2s}\n", []string{`bgp.peers[1].holdTime: "2s" is below 3s`}},
		{"hold time zero", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, holdTime: 0s}]\n", []string{`bgp.peers[0].holdTime: "0s" is below 3s`}},
		{"hold time fraction", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, holdTime: 3.5s}]\n", []string{`bgp.peers[0].holdTime: "3.5s": BGP counts whole seconds`}},
		{"hold time text", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, holdTime: long}]\n", []string{`bgp.peers[0].holdTime: "long" is not a duration`}},
		{"keepalive above hold", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, holdTime: 9s, keepaliveTime: 9s}]\n", []string{`bgp.peers[0].keepaliveTime: "9s": want at least 1s and below holdTime (9s)`}},
		{"restart time", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, maxRestartTime: 2h}]\n", []string{`bgp.peers[0].maxRestartTime: "2h" out of range 0s-4095s`}},
		{"max prefixes", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, maxPrefixes: 0}]\n", []string{"bgp.peers[0].maxPrefixes: 0 out of range 1-4294967295 (every peer has a limit)"}},
		{"family", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, families: [ipv4, ipv4, l2vpn]}]\n", []string{`bgp.peers[0].families[1]: "ipv4" is listed twice`, `bgp.peers[0].families[2]: "l2vpn": want ipv4 or ipv6`}},
		{"undefined filter", base + "  peers: [{peerIP: 198.18.250.1, asNumber: 1, filters: [nope]}]\n", []string{`bgp.peers[0].filters[0]: "nope" is not defined in bgp.filters`}},
		{"filter name", base + "  filters: [{importV4: []}]\n", []string{"bgp.filters[0].name: missing"}},
		{"filter twice", base + "  filters: [{name: f}, {name: f}]\n", []string{`bgp.filters[1].name: "f" is defined twice`}},
		{"rule family", base + "  filters: [{name: f, importV4: [{cidr: '2001:db8::/32', matchOperator: In, action: Accept}]}]\n", []string{"bgp.filters[0].importV4[0].cidr: 2001:db8::/32 is not an IPv4 prefix"}},
		{"rule operator", base + "  filters: [{name: f, exportV6: [{cidr: '2001:db8::/32', matchOperator: Within, action: Accept}]}]\n", []string{`bgp.filters[0].exportV6[0].matchOperator: "Within": want one of In, NotIn, Equal, NotEqual`}},
		{"rule operator missing", base + "  filters: [{name: f, importV4: [{cidr: 198.18.0.0/15, action: Accept}]}]\n", []string{"bgp.filters[0].importV4[0].matchOperator: missing"}},
		{"rule operator without cidr", base + "  filters: [{name: f, importV4: [{matchOperator: In, action: Accept}]}]\n", []string{`bgp.filters[0].importV4[0].matchOperator: "In" without a cidr`}},
		{"rule action", base + "  filters: [{name: f, importV4: [{cidr: 198.18.0.0/15, matchOperator: In, action: Allow}]}]\n", []string{`bgp.filters[0].importV4[0].action: "Allow": want Accept or Reject`}},
		{"rule action missing", base + "  filters: [{name: f, importV6: [{}]}]\n", []string{"bgp.filters[0].importV6[0].action: missing"}},
		{"rule length min", base + "  filters: [{name: f, importV4: [{cidr: 198.18.0.0/15, matchOperator: In, prefixLength: {min: 8}, action: Accept}]}]\n", []string{"bgp.filters[0].importV4[0].prefixLength.min: 8 out of range 15-32"}},
		{"rule length max", base + "  filters: [{name: f, importV4: [{cidr: 198.18.0.0/15, matchOperator: In, prefixLength: {min: 24, max: 33}, action: Accept}]}]\n", []string{"bgp.filters[0].importV4[0].prefixLength.max: 33 out of range 24-32"}},
		{"pool cidr", base + "  ipPools: [{cidr: 198.18.16.1/20, blockSize: 26}]\n", []string{"bgp.ipPools[0].cidr: 198.18.16.1/20 has host bits set"}},
		{"pool block size missing", base + "  ipPools: [{cidr: 198.18.16.0/20}]\n", []string{"bgp.ipPools[0].blockSize: 0: want 20 (the pool's length) to 32"}},
		{"pool block size v6", base + "  ipPools: [{cidr: '2001:db8:40::/48', blockSize: 129}]\n", []string{"bgp.ipPools[0].blockSize: 129: want 48 (the pool's length) to 128"}},
		{"pools overlap", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}, {cidr: 198.18.21.0/24, blockSize: 28}]\n", []string{"bgp.ipPools[1].cidr: 198.18.21.0/24 overlaps bgp.ipPools[0] (198.18.16.0/20)"}},
		{"block outside pools", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: [198.18.40.0/26]\n", []string{"bgp.blocks[0]: 198.18.40.0/26 is inside no pool of bgp.ipPools"}},
		{"block size", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: [198.18.21.0/24]\n", []string{"bgp.blocks[0]: 198.18.21.0/24 is not a block of pool 198.18.16.0/20: its blocks are /26"}},
		{"block host bits", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: [198.18.21.1/26]\n", []string{"bgp.blocks[0]: 198.18.21.1/26 has host bits set"}},
		{"block twice", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: [198.18.21.0/26, 198.18.21.0/26]\n", []string{"bgp.blocks[1]: 198.18.21.0/26 repeats bgp.blocks[0]"}},
		{"block family", base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: ['2001:db8::/122']\n", []string{"bgp.blocks[0]: 2001:db8::/122 is inside no pool of bgp.ipPools"}},
		{"pool space undeclared", base + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 9}]\n", []string{"bgp.ipPools[0].addressSpace: space 9 is not declared in addressSpaces"}},
		{"pool space not translated", "addressSpaces: [{id: 9}]\n" + base + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 9}]\n", []string{"bgp.ipPools[0].addressSpace: space 9 is not translated"}},
		{"pool space range", base + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 70000}]\n", []string{"bgp.ipPools[0].addressSpace: 70000 out of range 0-65535"}},
		{"pool translated v6", xbase + "  ipPools: [{cidr: '2001:db8::/48', blockSize: 122, addressSpace: 7}]\n", []string{"bgp.ipPools[0].cidr: 2001:db8::/48: translated space 7 is IPv4 only"}},
		{"pools overlap in a space", xbase + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}, {cidr: 100.64.0.0/24, blockSize: 26, addressSpace: 7}]\n", []string{"bgp.ipPools[1].cidr: 100.64.0.0/24 overlaps bgp.ipPools[0] (100.64.0.0/16)"}},
		{"block ambiguous", xbase + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}, {cidr: 100.64.0.0/16, blockSize: 26}]\n  blocks: [100.64.1.0/26]\n",
			[]string{"bgp.blocks[0]: 100.64.1.0/26 is inside pools of address spaces 7 (bgp.ipPools[0]) and 0 (bgp.ipPools[1]): write it as {cidr: 100.64.1.0/26, addressSpace: N}"}},
		{"block of no pool of its space", xbase + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}]\n  blocks: [{cidr: 100.64.1.0/26, addressSpace: 0}]\n", []string{"bgp.blocks[0].cidr: 100.64.1.0/26 is inside no pool of address space 0 in bgp.ipPools"}},
		{"block twice in a space", xbase + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}]\n  blocks: [100.64.1.0/26, {cidr: 100.64.1.0/26, addressSpace: 7}]\n", []string{"bgp.blocks[1].cidr: 100.64.1.0/26 repeats bgp.blocks[0]"}},
		{"block field", xbase + "  blocks: [{cidr: 100.64.1.0/26, space: 7}]\n", []string{"field space not found in a bgp block"}},
		{"block shape", xbase + "  blocks: [[100.64.1.0/26]]\n", []string{"a bgp block is a CIDR or {cidr, addressSpace}"}},
		{"block prefix length", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: '2001:db8:7::/64'}}\n" + base + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}]\n  blocks: [100.64.1.0/26]\n",
			[]string{"bgp.blocks[0]: 100.64.1.0/26: translation.addressSpaces[7] is 2001:db8:7::/64, a /64: a block of a translated space needs a /96"}},
		{"block eam", "addressSpaces: [{id: 7, translated: true}]\ntranslation: {addressSpaces: {7: ''}, eam: [{ipv4: 100.64.1.8/29, ipv6: '2001:db8:e::/125', space: 7}]}\n" + base + "  ipPools: [{cidr: 100.64.0.0/16, blockSize: 26, addressSpace: 7}]\n  blocks: [100.64.1.0/26]\n",
			[]string{"bgp.blocks[0]: 100.64.1.0/26 overlaps translation.eam[0] (100.64.1.8/29)"}},
		{"block is a static route", "ports: [{interface: up0, role: uplink}]\nroutes: [{prefix: 198.18.21.0/26, interface: up0}]\n" + base + "  ipPools: [{cidr: 198.18.16.0/20, blockSize: 26}]\n  blocks: [198.18.21.0/26]\n",
			[]string{"bgp.blocks[0]: 198.18.21.0/26 is also the prefix of routes[0]"}},
		{"rule length equal", base + "  filters: [{name: f, importV4: [{cidr: 198.18.0.0/15, matchOperator: Equal, prefixLength: {max: 24}, action: Accept}]}]\n", []string{"bgp.filters[0].importV4[0].prefixLength: only In and NotIn take a prefix length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig(%q) = nil, want errors %q", tc.yaml, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseConfig(%q) = %v, want %q", tc.yaml, err, w)
				}
			}
		})
	}
}

// TestBGPRuleMatches checks Matches against a naive twin that spells out
// each operator over random prefixes.
func TestBGPRuleMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randPrefix := func(v4 bool) netip.Prefix {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.IntN(4)) // few distinct values, so prefixes nest often
		}
		if v4 {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), r.IntN(33)).Masked()
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
	}
	for range 20000 {
		v4 := r.IntN(2) == 0
		rule := PlanBGPRule{Prefix: randPrefix(v4), Op: MatchOperator(r.IntN(4))}
		bits := rule.Prefix.Addr().BitLen()
		rule.MinLen = rule.Prefix.Bits() + r.IntN(bits-rule.Prefix.Bits()+1)
		rule.MaxLen = rule.MinLen + r.IntN(bits-rule.MinLen+1)
		p := randPrefix(r.IntN(8) != 0 == v4)
		want := false
		if p.Addr().Is4() == v4 {
			inside := p.Bits() >= rule.Prefix.Bits() && netip.PrefixFrom(p.Addr(), rule.Prefix.Bits()).Masked() == rule.Prefix
			inRange := p.Bits() >= rule.MinLen && p.Bits() <= rule.MaxLen
			switch rule.Op {
			case MatchIn:
				want = inside && inRange
			case MatchNotIn:
				want = !(inside && inRange)
			case MatchEqual:
				want = p == rule.Prefix
			case MatchNotEqual:
				want = p != rule.Prefix
			}
		}
		if got := rule.Matches(p); got != want {
			t.Fatalf("%+v.Matches(%s) = %v, want %v", rule, p, got, want)
		}
	}
}
