package config

// BGP: the bgp section as the operator writes it (shaped after Calico's
// BGPConfiguration, BGPPeer and BGPFilter resources) and its validation
// into a PlanBGP the speaker (ctl/bgp) runs as it is. Defaults are the
// safe ones: nothing learned is imported unless a filter rule accepts it
// (RFC 8212), nothing learned is exported (no transit) unless a rule
// accepts it, the node's own routes are exported, and every peer has a
// prefix limit per family.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gannet-net/gannet/xlat"
)

// BGP is the embedded speaker's configuration; absent, gannet speaks no BGP.
type BGP struct {
	ASNumber int64  `yaml:"asNumber"`
	RouterID string `yaml:"routerID"` // IPv4; default node.routerIPv4
	// ListenPort is the TCP port peers connect to; default 179, 0: do not
	// listen (outbound sessions only).
	ListenPort           *int                     `yaml:"listenPort"`
	Communities          []BGPCommunity           `yaml:"communities"`
	PrefixAdvertisements []BGPPrefixAdvertisement `yaml:"prefixAdvertisements"`
	Peers                []BGPPeer                `yaml:"peers"`
	Filters              []BGPFilter              `yaml:"filters"`
	// IPPools and Blocks aggregate the node's workload routes Calico
	// IPAM's way: the pools are cut into blocks of blockSize, each block
	// belongs to one host (Calico's block affinity), and a host announces
	// its blocks instead of the single addresses inside them; an address
	// of its outside every one of its blocks (borrowed from another
	// host's block, or of no pool) is still announced on its own. The
	// host also routes each block as unreachable (Calico's blackhole
	// route): its workloads' host routes are more specific, and a packet
	// to an unused address of the block is answered Destination
	// Unreachable here instead of following a shorter route (a default
	// from the border) back into the fabric, which would loop it.
	// A pool of a translated space (addressSpace) is IPv4; each of its
	// blocks W.X.Y.Z/n is announced and routed as its RFC 6052 form in
	// the IPv6 core, <prefix>:<ID>::W.X.Y.Z/(96+n).
	// Blocks are named, not derived from the workloads: two hosts whose
	// workloads share a block would otherwise both announce it, and one
	// of them would attract the other's traffic.
	IPPools []BGPIPPool `yaml:"ipPools"`
	// Blocks are the blocks this host owns: each exactly one block of a
	// pool of ipPools (its length is the pool's blockSize).
	Blocks []BGPBlock `yaml:"blocks"`
}

// BGPIPPool is a Calico IPPool as route aggregation sees it: a CIDR of
// one address space cut into blocks of BlockSize bits (Calico's defaults
// are 26 for IPv4 and 122 for IPv6; the pool's own length to 32 or 128
// here).
type BGPIPPool struct {
	CIDR      string `yaml:"cidr"`
	BlockSize int    `yaml:"blockSize"`
	// AddressSpace is the space of the pool's addresses: 0 (default) the
	// flat space, or a translated space (addressSpaces[].translated, an
	// IPv4 pool). Pools of different spaces may overlap — tenants reuse
	// IPv4 ranges — and pools of one space may not.
	AddressSpace int `yaml:"addressSpace"`
}

// BGPBlock is one of the host's blocks: its CIDR alone ("198.18.21.0/26")
// when one address space's pools hold it, or {cidr, addressSpace} to say
// which space's when pools of several spaces do (tenants reusing the
// same IPv4 range).
type BGPBlock struct {
	CIDR string
	// AddressSpace is nil when the block is written as its CIDR alone.
	AddressSpace *int
}

// UnmarshalYAML reads a block as a scalar CIDR or a {cidr, addressSpace}
// mapping, strictly: another key is an error naming its line.
func (b *BGPBlock) UnmarshalYAML(n *yaml.Node) error {
	*b = BGPBlock{}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&b.CIDR)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "cidr":
				if err := v.Decode(&b.CIDR); err != nil {
					return err
				}
			case "addressSpace":
				var id int
				if err := v.Decode(&id); err != nil {
					return err
				}
				b.AddressSpace = &id
			default:
				return fmt.Errorf("line %d: field %s not found in a bgp block (want cidr, addressSpace)", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a bgp block is a CIDR or {cidr, addressSpace}", n.Line)
}

// MarshalYAML writes a block the way it was read.
func (b BGPBlock) MarshalYAML() (any, error) {
	if b.AddressSpace == nil {
		return b.CIDR, nil
	}
	return struct {
		CIDR         string `yaml:"cidr"`
		AddressSpace int    `yaml:"addressSpace"`
	}{b.CIDR, *b.AddressSpace}, nil
}

// BGPCommunity names a community value: "AS:value" (RFC 1997, 16 bits
// each) or "global:local1:local2" (RFC 8092 large, 32 bits each).
type BGPCommunity struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// BGPPrefixAdvertisement attaches communities to the node's routes inside
// CIDR; a community is a name from communities or a literal value.
type BGPPrefixAdvertisement struct {
	CIDR        string   `yaml:"cidr"`
	Communities []string `yaml:"communities"`
}

// BGPPeer is one BGP session.
type BGPPeer struct {
	PeerIP        string `yaml:"peerIP"`
	ASNumber      int64  `yaml:"asNumber"`
	SourceAddress string `yaml:"sourceAddress"` // optional local address of the session
	Password      string `yaml:"password"`      // TCP MD5 (RFC 2385)
	// Timers as Go durations in whole seconds: keepaliveTime default
	// holdTime/3, holdTime default 90s and at least 3s (GoBGP has no
	// hold time 0), maxRestartTime (graceful restart, RFC 4724: how long the peer
	// keeps our routes while gannet restarts) default 120s, 0s: graceful
	// restart off.
	KeepaliveTime  string `yaml:"keepaliveTime"`
	HoldTime       string `yaml:"holdTime"`
	MaxRestartTime string `yaml:"maxRestartTime"`
	// MaxPrefixes bounds the prefixes received per family; exceeding it
	// ends the session (Cease, maximum number of prefixes reached).
	// Default 100000.
	MaxPrefixes *int64 `yaml:"maxPrefixes"`
	BFD         bool   `yaml:"bfd"`
	// Filters are names from bgp.filters, applied in order.
	Filters []string `yaml:"filters"`
	// Families the session carries: ipv4, ipv6; default the family of
	// peerIP. An IPv6 peer carrying ipv4 is RFC 8950 (IPv4 over an
	// IPv6-only core): gannet offers the Extended Next Hop capability
	// for IPv4 unicast with IPv6 next hops, announces its IPv4 routes
	// with the session's IPv6 address as next hop, and forwards the
	// IPv4 routes it learns by their IPv6 next hops (the global one, the
	// link-local one when no global is given). The peer must offer the
	// capability too (BIRD: `extended next hop on` in the ipv4 channel;
	// FRR: `neighbor X capability extended-nexthop`); `gannet bgp peers`
	// says whether it did. An IPv4 peer carrying ipv6 sends and gets
	// IPv4-mapped next hops, which gannet keeps in its RIB but does not
	// forward by.
	Families []string `yaml:"families"`
}

// BGPFilter is an ordered list of rules per direction and family; the
// first rule that matches decides.
type BGPFilter struct {
	Name     string          `yaml:"name"`
	ImportV4 []BGPFilterRule `yaml:"importV4"`
	ImportV6 []BGPFilterRule `yaml:"importV6"`
	ExportV4 []BGPFilterRule `yaml:"exportV4"`
	ExportV6 []BGPFilterRule `yaml:"exportV6"`
}

// BGPFilterRule matches prefixes against CIDR (empty: every prefix of the
// family) with MatchOperator In, NotIn, Equal or NotEqual; PrefixLength
// narrows In and NotIn (default min = the CIDR's length, max = 32 or
// 128). Action is Accept or Reject.
type BGPFilterRule struct {
	CIDR          string           `yaml:"cidr"`
	MatchOperator string           `yaml:"matchOperator"`
	PrefixLength  *BGPPrefixLength `yaml:"prefixLength"`
	Action        string           `yaml:"action"`
}

// BGPPrefixLength bounds the length of a matching prefix.
type BGPPrefixLength struct {
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
}

// BGP defaults and bounds.
const (
	DefaultBGPPort           = 179
	DefaultBGPHoldTime       = 90 * time.Second
	DefaultBGPMaxRestartTime = 120 * time.Second
	DefaultBGPMaxPrefixes    = 100000
	// MaxBGPRestartTime is the largest restart time the graceful restart
	// capability carries (12 bits of seconds).
	MaxBGPRestartTime = 4095 * time.Second
	// MaxBGPPasswordLen is the kernel's TCP MD5 key limit.
	MaxBGPPasswordLen = 80
)

// PlanBGP is a validated bgp section.
type PlanBGP struct {
	ASN        uint32
	RouterID   netip.Addr // IPv4
	ListenPort int        // 0: no listening
	// Advertisements are the prefixAdvertisements with their communities
	// resolved, in file order.
	Advertisements []PlanBGPAdvertisement
	Peers          []PlanBGPPeer
	// Blocks are the host's blocks (bgp.blocks), announced instead of the
	// workload addresses inside them, in file order.
	Blocks []PlanBGPBlock
}

// PlanBGPBlock is one of the host's blocks.
type PlanBGPBlock struct {
	// Block is the block as its pool cuts it, of address space Space.
	Block netip.Prefix
	Space uint16
	// Route is what the host announces and routes as unreachable in the
	// core (space 0): Block itself in the flat space; for a translated
	// space its RFC 6052 form <prefix>:<ID>::W.X.Y.Z/(96+n).
	Route netip.Prefix
}

// InBlock reports whether address a of address space space is inside
// one of the host's blocks.
func (b *PlanBGP) InBlock(space uint16, a netip.Addr) bool {
	for _, p := range b.Blocks {
		if p.Space == space && p.Block.Contains(a) {
			return true
		}
	}
	return false
}

// PlanBGPAdvertisement gives the node's routes inside Prefix communities.
type PlanBGPAdvertisement struct {
	Prefix      netip.Prefix
	Communities []Community
}

// CommunitiesFor returns the communities of every advertisement whose
// prefix contains p, each once, in file order.
func (b *PlanBGP) CommunitiesFor(p netip.Prefix) []Community {
	var out []Community
	for _, a := range b.Advertisements {
		if a.Prefix.Addr().Is4() != p.Addr().Is4() || a.Prefix.Bits() > p.Bits() || !a.Prefix.Contains(p.Addr()) {
			continue
		}
		for _, c := range a.Communities {
			dup := false
			for _, o := range out {
				dup = dup || o == c
			}
			if !dup {
				out = append(out, c)
			}
		}
	}
	return out
}

// Community is a BGP community: standard (RFC 1997, Value[0] is
// AS<<16|value) or large (RFC 8092, Value is global, local1, local2).
type Community struct {
	Large bool
	Value [3]uint32
}

func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("%d:%d:%d", c.Value[0], c.Value[1], c.Value[2])
	}
	return fmt.Sprintf("%d:%d", c.Value[0]>>16, c.Value[0]&0xffff)
}

// ParseCommunity reads "AS:value" or "global:local1:local2".
func ParseCommunity(s string) (Community, error) {
	parts := strings.Split(s, ":")
	var c Community
	switch len(parts) {
	case 2:
		a, err1 := strconv.ParseUint(parts[0], 10, 16)
		b, err2 := strconv.ParseUint(parts[1], 10, 16)
		if err1 != nil || err2 != nil {
			return c, fmt.Errorf("%q: want AS:value with each part 0-65535", s)
		}
		c.Value[0] = uint32(a)<<16 | uint32(b)
	case 3:
		c.Large = true
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return c, fmt.Errorf("%q: want global:local1:local2 with each part 0-4294967295", s)
			}
			c.Value[i] = uint32(v)
		}
	default:
		return c, fmt.Errorf("%q: want AS:value or global:local1:local2", s)
	}
	return c, nil
}

// Family is an address family a session carries (unicast).
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string { return "ipv" + strconv.Itoa(int(f)) }

// PlanBGPPeer is a validated peer with its filters resolved into rule
// lists: the rules of its filters in order, per direction and family.
type PlanBGPPeer struct {
	Addr     netip.Addr
	ASN      uint32
	Source   netip.Addr // invalid: the kernel's choice
	Password string
	// Keepalive and Hold are whole seconds, Hold at least 3s.
	Keepalive, Hold time.Duration
	// RestartTime is the graceful restart time advertised to the peer;
	// 0: graceful restart off.
	RestartTime time.Duration
	MaxPrefixes uint32 // per family, never 0
	BFD         bool
	Families    []Family // at least one, no duplicates, IPv4 first
	// Import and Export are indexed by family: 0 IPv4, 1 IPv6.
	Import, Export [2][]PlanBGPRule
	Filters        []string // names, for display
}

// Imports says whether a route to p learned from this peer is imported:
// the first matching import rule decides; none: rejected (RFC 8212).
func (p *PlanBGPPeer) Imports(prefix netip.Prefix) bool {
	if accept, ok := firstMatch(p.Import[familyIndex(prefix)], prefix); ok {
		return accept
	}
	return false
}

// Exports says whether a route to prefix is sent to this peer: the first
// matching export rule decides; none: only the node's own (local) routes
// are sent, never learned ones.
func (p *PlanBGPPeer) Exports(prefix netip.Prefix, local bool) bool {
	if accept, ok := firstMatch(p.Export[familyIndex(prefix)], prefix); ok {
		return accept
	}
	return local
}

func familyIndex(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

func firstMatch(rules []PlanBGPRule, prefix netip.Prefix) (accept, ok bool) {
	for _, r := range rules {
		if r.Matches(prefix) {
			return r.Accept, true
		}
	}
	return false, false
}

// MatchOperator is how a rule compares a prefix with its CIDR.
type MatchOperator uint8

const (
	// MatchIn: inside the CIDR with a length in [MinLen, MaxLen].
	MatchIn MatchOperator = iota
	// MatchNotIn: not MatchIn.
	MatchNotIn
	// MatchEqual: exactly the CIDR.
	MatchEqual
	// MatchNotEqual: anything but the CIDR.
	MatchNotEqual
)

func (m MatchOperator) String() string {
	return [...]string{"In", "NotIn", "Equal", "NotEqual"}[m]
}

// PlanBGPRule is one filter rule. A rule without a CIDR in the file is
// In 0.0.0.0/0 or ::/0.
type PlanBGPRule struct {
	Prefix         netip.Prefix
	Op             MatchOperator
	MinLen, MaxLen int // In, NotIn
	Accept         bool
}

// Matches is the rule's meaning, the reference the speaker's GoBGP
// policies are tested against. A prefix of the other family never
// matches.
func (r PlanBGPRule) Matches(p netip.Prefix) bool {
	if p.Addr().Is4() != r.Prefix.Addr().Is4() {
		return false
	}
	switch r.Op {
	case MatchEqual:
		return p.Masked() == r.Prefix
	case MatchNotEqual:
		return p.Masked() != r.Prefix
	}
	in := p.Bits() >= r.Prefix.Bits() && r.Prefix.Contains(p.Addr()) && p.Bits() >= r.MinLen && p.Bits() <= r.MaxLen
	return in == (r.Op == MatchIn)
}

func (c *Config) validateBGP(errs *problems, p *Plan) {
	b := c.BGP
	if b == nil {
		return
	}
	pb := &PlanBGP{}
	pb.ASN, _ = asNumber(errs, "bgp.asNumber", b.ASNumber)
	switch {
	case b.RouterID != "":
		pb.RouterID = optionalAddr(errs, "bgp.routerID", b.RouterID, 4)
	case p.Router4.IsValid():
		pb.RouterID = p.Router4
	default:
		errs.addf("bgp.routerID", "missing: set it or node.routerIPv4")
	}
	pb.ListenPort = DefaultBGPPort
	if b.ListenPort != nil {
		pb.ListenPort = *b.ListenPort
		if pb.ListenPort < 0 || pb.ListenPort > 65535 {
			errs.addf("bgp.listenPort", "%d out of range 0-65535 (0: do not listen)", pb.ListenPort)
		}
	}

	named := map[string]Community{}
	for i, cm := range b.Communities {
		f := fmt.Sprintf("bgp.communities[%d]", i)
		switch _, dup := named[cm.Name]; {
		case cm.Name == "":
			errs.addf(f+".name", "missing")
		case dup:
			errs.addf(f+".name", "%q is defined twice", cm.Name)
		case strings.Contains(cm.Name, ":"):
			errs.addf(f+".name", "%q: a name has no colon (values do)", cm.Name)
		}
		v, err := ParseCommunity(cm.Value)
		if err != nil {
			errs.addf(f+".value", "%v", err)
			continue
		}
		named[cm.Name] = v
	}
	for i, a := range b.PrefixAdvertisements {
		f := fmt.Sprintf("bgp.prefixAdvertisements[%d]", i)
		pfx, ok := prefix(errs, f+".cidr", a.CIDR)
		pa := PlanBGPAdvertisement{Prefix: pfx}
		for j, name := range a.Communities {
			if v, found := named[name]; found {
				pa.Communities = append(pa.Communities, v)
				continue
			}
			v, err := ParseCommunity(name)
			if err != nil {
				errs.addf(fmt.Sprintf("%s.communities[%d]", f, j), "%q is neither a name from bgp.communities nor a community value", name)
				ok = false
				continue
			}
			pa.Communities = append(pa.Communities, v)
		}
		if ok {
			pb.Advertisements = append(pb.Advertisements, pa)
		}
	}

	pb.Blocks = b.validateBlocks(errs, p)

	filters := map[string]*BGPFilter{}
	rules := map[string][4][]PlanBGPRule{}
	for i := range b.Filters {
		flt := &b.Filters[i]
		f := fmt.Sprintf("bgp.filters[%d]", i)
		switch {
		case flt.Name == "":
			errs.addf(f+".name", "missing")
		case filters[flt.Name] != nil:
			errs.addf(f+".name", "%q is defined twice", flt.Name)
		}
		var rs [4][]PlanBGPRule
		for k, list := range [4]struct {
			field string
			rules []BGPFilterRule
			bits  int
		}{{"importV4", flt.ImportV4, 32}, {"importV6", flt.ImportV6, 128}, {"exportV4", flt.ExportV4, 32}, {"exportV6", flt.ExportV6, 128}} {
			for j, r := range list.rules {
				if pr, ok := filterRule(errs, fmt.Sprintf("%s.%s[%d]", f, list.field, j), r, list.bits); ok {
					rs[k] = append(rs[k], pr)
				}
			}
		}
		if flt.Name != "" && filters[flt.Name] == nil {
			filters[flt.Name] = flt
			rules[flt.Name] = rs
		}
	}

	seen := map[netip.Addr]string{}
	for i, peer := range b.Peers {
		if pp, ok := bgpPeer(errs, fmt.Sprintf("bgp.peers[%d]", i), peer, rules, seen); ok {
			pb.Peers = append(pb.Peers, pp)
		}
	}
	p.BGP = pb
}

func asNumber(errs *problems, field string, v int64) (uint32, bool) {
	if v < 1 || v > 0xffffffff {
		errs.addf(field, "%d out of range 1-4294967295", v)
		return 0, false
	}
	return uint32(v), true
}

func filterRule(errs *problems, f string, r BGPFilterRule, bits int) (PlanBGPRule, bool) {
	ok := true
	pr := PlanBGPRule{Op: MatchIn}
	if bits == 32 {
		pr.Prefix = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	} else {
		pr.Prefix = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if r.CIDR != "" {
		pfx, good := prefix(errs, f+".cidr", r.CIDR)
		switch {
		case !good:
			ok = false
		case pfx.Addr().Is4In6() || pfx.Addr().BitLen() != bits:
			errs.addf(f+".cidr", "%s is not an IPv%d prefix", pfx, map[int]int{32: 4, 128: 6}[bits])
			ok = false
		default:
			pr.Prefix = pfx
		}
		switch r.MatchOperator {
		case "In":
		case "NotIn":
			pr.Op = MatchNotIn
		case "Equal":
			pr.Op = MatchEqual
		case "NotEqual":
			pr.Op = MatchNotEqual
		case "":
			errs.addf(f+".matchOperator", "missing: a rule with a cidr needs In, NotIn, Equal or NotEqual")
			ok = false
		default:
			errs.addf(f+".matchOperator", "%q: want one of In, NotIn, Equal, NotEqual", r.MatchOperator)
			ok = false
		}
	} else if r.MatchOperator != "" {
		errs.addf(f+".matchOperator", "%q without a cidr: set cidr or leave both out (matches every prefix)", r.MatchOperator)
		ok = false
	}
	pr.MinLen, pr.MaxLen = pr.Prefix.Bits(), bits
	if pl := r.PrefixLength; pl != nil {
		if pr.Op == MatchEqual || pr.Op == MatchNotEqual {
			errs.addf(f+".prefixLength", "only In and NotIn take a prefix length")
			ok = false
		}
		if pl.Min != nil {
			pr.MinLen = *pl.Min
		}
		if pl.Max != nil {
			pr.MaxLen = *pl.Max
		}
		switch {
		case pr.MinLen < pr.Prefix.Bits() || pr.MinLen > bits:
			errs.addf(f+".prefixLength.min", "%d out of range %d-%d", pr.MinLen, pr.Prefix.Bits(), bits)
			ok = false
		case pr.MaxLen < pr.MinLen || pr.MaxLen > bits:
			errs.addf(f+".prefixLength.max", "%d out of range %d-%d", pr.MaxLen, pr.MinLen, bits)
			ok = false
		}
	}
	switch r.Action {
	case "Accept":
		pr.Accept = true
	case "Reject":
	case "":
		errs.addf(f+".action", "missing: want Accept or Reject")
		ok = false
	default:
		errs.addf(f+".action", "%q: want Accept or Reject", r.Action)
		ok = false
	}
	return pr, ok
}

func bgpPeer(errs *problems, f string, peer BGPPeer, rules map[string][4][]PlanBGPRule, seen map[netip.Addr]string) (PlanBGPPeer, bool) {
	ok := true
	pp := PlanBGPPeer{Password: peer.Password, BFD: peer.BFD}
	a, err := netip.ParseAddr(peer.PeerIP)
	switch {
	case peer.PeerIP == "":
		errs.addf(f+".peerIP", "missing")
		ok = false
	case err != nil || a.Zone() != "":
		errs.addf(f+".peerIP", "%q is not an IP address", peer.PeerIP)
		ok = false
	case a.Is4In6():
		errs.addf(f+".peerIP", "%q: write IPv4 addresses in IPv4 form", peer.PeerIP)
		ok = false
	case !a.IsGlobalUnicast():
		errs.addf(f+".peerIP", "%s is not a unicast address a peer can have", a)
		ok = false
	case seen[a] != "":
		errs.addf(f+".peerIP", "%s is already %s", a, seen[a])
		ok = false
	default:
		seen[a] = f
	}
	pp.Addr = a
	var good bool
	if pp.ASN, good = asNumber(errs, f+".asNumber", peer.ASNumber); !good {
		ok = false
	}
	if peer.SourceAddress != "" {
		s, err := netip.ParseAddr(peer.SourceAddress)
		switch {
		case err != nil || s.Zone() != "" || s.Is4In6():
			errs.addf(f+".sourceAddress", "%q is not an IP address", peer.SourceAddress)
			ok = false
		case a.IsValid() && s.Is4() != a.Is4():
			errs.addf(f+".sourceAddress", "%s is not the same family as peerIP %s", s, a)
			ok = false
		}
		pp.Source = s
	}
	if len(peer.Password) > MaxBGPPasswordLen {
		errs.addf(f+".password", "%d bytes, at most %d (the kernel's TCP MD5 key limit)", len(peer.Password), MaxBGPPasswordLen)
		ok = false
	}
	pp.Hold = DefaultBGPHoldTime
	if peer.HoldTime != "" {
		d, good := seconds(errs, f+".holdTime", peer.HoldTime, 65535)
		switch {
		case !good:
			ok = false
		case d < 3*time.Second:
			errs.addf(f+".holdTime", "%q is below 3s", peer.HoldTime)
			ok = false
		}
		pp.Hold = d
	}
	pp.Keepalive = pp.Hold / 3 / time.Second * time.Second
	if peer.KeepaliveTime != "" {
		d, good := seconds(errs, f+".keepaliveTime", peer.KeepaliveTime, 65535)
		switch {
		case !good:
			ok = false
		case d == 0 || d >= pp.Hold:
			errs.addf(f+".keepaliveTime", "%q: want at least 1s and below holdTime (%v)", peer.KeepaliveTime, pp.Hold)
			ok = false
		}
		pp.Keepalive = d
	}
	pp.RestartTime = DefaultBGPMaxRestartTime
	if peer.MaxRestartTime != "" {
		d, good := seconds(errs, f+".maxRestartTime", peer.MaxRestartTime, int64(MaxBGPRestartTime/time.Second))
		if !good {
			ok = false
		}
		pp.RestartTime = d
	}
	pp.MaxPrefixes = DefaultBGPMaxPrefixes
	if peer.MaxPrefixes != nil {
		if m := *peer.MaxPrefixes; m < 1 || m > 0xffffffff {
			errs.addf(f+".maxPrefixes", "%d out of range 1-4294967295 (every peer has a limit)", m)
			ok = false
		} else {
			pp.MaxPrefixes = uint32(m)
		}
	}
	var fams [2]bool
	for j, s := range peer.Families {
		ff := fmt.Sprintf("%s.families[%d]", f, j)
		var k int
		switch s {
		case "ipv4":
			k = 0
		case "ipv6":
			k = 1
		default:
			errs.addf(ff, "%q: want ipv4 or ipv6", s)
			ok = false
			continue
		}
		if fams[k] {
			errs.addf(ff, "%q is listed twice", s)
			ok = false
		}
		fams[k] = true
	}
	if len(peer.Families) == 0 && a.IsValid() {
		fams[familyIndex(netip.PrefixFrom(a, 0))] = true
	}
	if fams[0] {
		pp.Families = append(pp.Families, IPv4)
	}
	if fams[1] {
		pp.Families = append(pp.Families, IPv6)
	}
	for j, name := range peer.Filters {
		rs, found := rules[name]
		if !found {
			errs.addf(fmt.Sprintf("%s.filters[%d]", f, j), "%q is not defined in bgp.filters", name)
			ok = false
			continue
		}
		pp.Import[0] = append(pp.Import[0], rs[0]...)
		pp.Import[1] = append(pp.Import[1], rs[1]...)
		pp.Export[0] = append(pp.Export[0], rs[2]...)
		pp.Export[1] = append(pp.Export[1], rs[3]...)
		pp.Filters = append(pp.Filters, name)
	}
	return pp, ok
}

// seconds reads a duration of whole seconds in 0-max.
func seconds(errs *problems, field, s string, max int64) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		errs.addf(field, "%q is not a duration (e.g. 90s, 2m)", s)
		return 0, false
	case d < 0 || d > time.Duration(max)*time.Second:
		errs.addf(field, "%q out of range 0s-%ds", s, max)
		return 0, false
	case d%time.Second != 0:
		errs.addf(field, "%q: BGP counts whole seconds", s)
		return 0, false
	}
	return d, true
}

// validateBlocks checks bgp.ipPools and bgp.blocks against the address
// spaces, the translation section and the static routes of p, and returns
// the blocks: every pool a masked prefix of a flat or translated space
// (IPv4 then) with a blockSize from its own length to the family's, no two
// pools of one space overlapping; every block a masked prefix inside one
// pool — of the space it names, or of the one space whose pools hold it —
// as long as that pool's blockSize, and listed once. A translated space's
// block needs its space's RFC 6052 prefix to be a /96 (the only length
// that embeds the IPv4 address as the last bits, so that a block is one
// IPv6 prefix) and no EAM entry over it (RFC 7757 maps those addresses
// elsewhere). A block's route must not be a static route's prefix.
func (b *BGP) validateBlocks(errs *problems, p *Plan) []PlanBGPBlock {
	type pool struct {
		idx   int
		pfx   netip.Prefix
		size  int
		space uint16
	}
	kinds := map[uint16]bool{0: false} // declared spaces: translated?
	for _, s := range p.Spaces {
		kinds[s.ID] = s.Translated
	}
	var pools []pool
	for i, ip := range b.IPPools {
		f := fmt.Sprintf("bgp.ipPools[%d]", i)
		pfx, ok := prefix(errs, f+".cidr", ip.CIDR)
		if !ok {
			continue
		}
		translated, declared := kinds[uint16(ip.AddressSpace)]
		switch {
		case ip.AddressSpace < 0 || ip.AddressSpace > xlat.MaxSpaceID:
			errs.addf(f+".addressSpace", "%d out of range 0-%d", ip.AddressSpace, xlat.MaxSpaceID)
			continue
		case !declared:
			errs.addf(f+".addressSpace", "space %d is not declared in addressSpaces", ip.AddressSpace)
			continue
		case ip.AddressSpace != 0 && !translated:
			errs.addf(f+".addressSpace", "space %d is not translated: its addresses mean nothing outside this host, so it has no blocks to announce", ip.AddressSpace)
			continue
		case translated && !pfx.Addr().Is4():
			errs.addf(f+".cidr", "%s: translated space %d is IPv4 only", pfx, ip.AddressSpace)
			continue
		}
		max := pfx.Addr().BitLen()
		if ip.BlockSize < pfx.Bits() || ip.BlockSize > max {
			errs.addf(f+".blockSize", "%d: want %d (the pool's length) to %d", ip.BlockSize, pfx.Bits(), max)
			continue
		}
		for _, o := range pools {
			if o.space == uint16(ip.AddressSpace) && o.pfx.Overlaps(pfx) {
				errs.addf(f+".cidr", "%s overlaps bgp.ipPools[%d] (%s)", pfx, o.idx, o.pfx)
				ok = false
			}
		}
		if ok {
			pools = append(pools, pool{i, pfx, ip.BlockSize, uint16(ip.AddressSpace)})
		}
	}
	statics := map[netip.Prefix]int{}
	for i, r := range p.Routes {
		if r.Space == 0 {
			statics[r.Prefix] = i
		}
	}
	var out []PlanBGPBlock
	seen := map[PlanBGPBlock]int{}
	for i, bl := range b.Blocks {
		f := fmt.Sprintf("bgp.blocks[%d]", i)
		if bl.AddressSpace != nil {
			f += ".cidr"
		}
		blk, ok := prefix(errs, f, bl.CIDR)
		if !ok {
			continue
		}
		// The pools that hold it, of the named space or of any.
		var in []pool
		for _, pl := range pools {
			if bl.AddressSpace != nil && int(pl.space) != *bl.AddressSpace {
				continue
			}
			if pl.pfx.Addr().Is4() == blk.Addr().Is4() && pl.pfx.Bits() <= blk.Bits() && pl.pfx.Contains(blk.Addr()) {
				in = append(in, pl)
			}
		}
		switch {
		case len(in) == 0 && bl.AddressSpace != nil:
			errs.addf(f, "%s is inside no pool of address space %d in bgp.ipPools", blk, *bl.AddressSpace)
			continue
		case len(in) == 0:
			errs.addf(f, "%s is inside no pool of bgp.ipPools", blk)
			continue
		case len(in) > 1:
			// Pools of one space never overlap: these are of several.
			errs.addf(f, "%s is inside pools of address spaces %d (bgp.ipPools[%d]) and %d (bgp.ipPools[%d]): write it as {cidr: %s, addressSpace: N}",
				blk, in[0].space, in[0].idx, in[1].space, in[1].idx, blk)
			continue
		case blk.Bits() != in[0].size:
			errs.addf(f, "%s is not a block of pool %s: its blocks are /%d", blk, in[0].pfx, in[0].size)
			continue
		}
		pb := PlanBGPBlock{Block: blk, Space: in[0].space, Route: blk}
		if pb.Space != 0 {
			if pb.Route, ok = coreBlock(errs, f, p, pb.Space, blk); !ok {
				continue
			}
		}
		if j, dup := seen[pb]; dup {
			errs.addf(f, "%s repeats bgp.blocks[%d]", blk, j)
			continue
		}
		if j, dup := statics[pb.Route]; dup {
			errs.addf(f, "%s is also the prefix of routes[%d]: a block is the host's own", pb.Route, j)
			continue
		}
		seen[pb] = i
		out = append(out, pb)
	}
	return out
}

// coreBlock is the RFC 6052 form of block blk of translated space id in
// the IPv6 core: the space's /96 prefix with blk's address as its last 32
// bits, 96+n bits long. It fails, naming field, when the space's prefix
// is another length or an EAM entry (RFC 7757) maps part of the block
// elsewhere.
func coreBlock(errs *problems, field string, p *Plan, id uint16, blk netip.Prefix) (netip.Prefix, bool) {
	t := p.Translation
	if t == nil {
		return netip.Prefix{}, false // translation's own error says it is missing
	}
	var pfx netip.Prefix
	if s := t.AddressSpaces[int(id)]; s == "" {
		a := netip.MustParsePrefix(xlat.DefaultSpaceBase).Addr().As16()
		a[6], a[7] = byte(id>>8), byte(id)
		pfx = netip.PrefixFrom(netip.AddrFrom16(a), 96)
	} else {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false // translation's own error names it
		}
	}
	if pfx.Bits() != 96 {
		errs.addf(field, "%s: translation.addressSpaces[%d] is %s, a /%d: a block of a translated space needs a /96 RFC 6052 prefix (the IPv4 address its last 32 bits)", blk, id, pfx, pfx.Bits())
		return netip.Prefix{}, false
	}
	for j, e := range t.EAM {
		if e.Space != int(id) {
			continue
		}
		if ep, err := netip.ParsePrefix(e.IPv4); err == nil && ep.Overlaps(blk) {
			errs.addf(field, "%s overlaps translation.eam[%d] (%s), which maps those addresses elsewhere in the core", blk, j, ep)
			return netip.Prefix{}, false
		}
	}
	a := pfx.Addr().As16()
	v4 := blk.Addr().As4()
	copy(a[12:], v4[:])
	return netip.PrefixFrom(netip.AddrFrom16(a), 96+blk.Bits()), true
}
