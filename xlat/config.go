package xlat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Configuration: the YAML `translation` section as the daemon and
// `gannet xlat` read it, and its validation. Values stay strings here so
// every error can name the field and the text it did not like; New turns a
// valid Config into a Translator.

// Config is the translation section of gannet's configuration.
//
//	pool6: 64:ff9b::/96            # RFC 6052 prefix of address space 0 (optional)
//	addressSpaces:                 # ID (1-65535) -> RFC 6052 prefix
//	  7: 64:ff9b:1:7::/96
//	  8:                           # empty: the default 64:ff9b:1:<ID>::/96
//	eam:                           # RFC 7757 explicit address mappings
//	  - {ipv4: 198.51.100.0/24, ipv6: "2001:db8:100::/120", space: 0}
//	rfc6791v4: [192.0.2.1/32]      # sources for ICMPv4 errors from untranslatable IPv6 hosts
//	rfc6791v6: ["2001:db8:ffff::1/128"]
//	lowestIPv6MTU: 1280            # DF=0 IPv4 packets are fragmented to fit this
//	ipv4MTU: 1500                  # optional cap on the IPv4 next hop's MTU
//	ipv6MTU: 1500                  # optional cap on the IPv6 next hop's MTU
//	amendUDPZeroChecksum: true     # compute a zero IPv4 UDP checksum (else refuse)
//	translatorIPv4: 198.51.100.1   # the translator's own addresses: the source of
//	translatorIPv6: "2001:db8::1"  # the ICMP errors it originates
//	clampMSS: auto                 # TCP MSS clamp: auto, off (default), or a ceiling
//
// The next hop's MTU is the caller's (Packet.MTU: gannet run passes the
// egress port's MTU, which follows the interface). ipv4MTU and ipv6MTU,
// when set, only lower it; when the caller passes none (gannet xlat)
// they are the MTU, and DefaultMTU when unset.
type Config struct {
	Pool6                string         `yaml:"pool6"`
	AddressSpaces        map[int]string `yaml:"addressSpaces"`
	EAM                  []EAMEntry     `yaml:"eam"`
	RFC6791v4            []string       `yaml:"rfc6791v4"`
	RFC6791v6            []string       `yaml:"rfc6791v6"`
	LowestIPv6MTU        int            `yaml:"lowestIPv6MTU"`
	IPv4MTU              int            `yaml:"ipv4MTU"`
	IPv6MTU              int            `yaml:"ipv6MTU"`
	AmendUDPZeroChecksum *bool          `yaml:"amendUDPZeroChecksum"`
	// TranslatorIPv4 and TranslatorIPv6 are the translator's own
	// addresses (in gannet run, the router's): the source of the ICMP
	// errors it originates (Fragmentation Needed, Packet Too Big, a
	// refused zero-checksum UDP datagram, ...), and of a translated ICMP
	// error whose source has no form in the other family when the RFC
	// 6791 pool of that family is empty (RFC 6791 section 4).
	TranslatorIPv4 string `yaml:"translatorIPv4"`
	TranslatorIPv6 string `yaml:"translatorIPv6"`
	// ClampMSS lowers the MSS option of TCP SYN and SYN-ACK segments that
	// cross the translator, for workloads that cannot do path MTU
	// discovery (ICMP filtered): "auto" to what fits the link the
	// translated traffic crosses (its MTU less 60: an IPv6 and a TCP
	// header; gannet run clamps in translated spaces, by the port's MTU),
	// a number to at most that as well, "off" or unset for none.
	ClampMSS string `yaml:"clampMSS"`
}

// MSS clamp settings (Translator.ClampMSS).
const (
	ClampOff  = 0  // no clamping
	ClampAuto = -1 // to the link's MTU less 60
	// MinClampMSS is RFC 879's default MSS, which every host accepts;
	// MaxClampMSS the largest a 16-bit IP length leaves.
	MinClampMSS = 536
	MaxClampMSS = 65535 - 40
)

// EAMEntry maps an IPv4 prefix of an address space to an IPv6 prefix with
// at least as many host bits (RFC 7757 section 3.2): the IPv4 suffix
// follows the IPv6 prefix, and further IPv6 bits are zero.
type EAMEntry struct {
	IPv4  string `yaml:"ipv4"`
	IPv6  string `yaml:"ipv6"`
	Space int    `yaml:"space"`
}

// Defaults.
const (
	DefaultMTU = 1500
	// DefaultSpaceBase is where an address space without a prefix of its
	// own lives: ID at bits 48-63, giving 64:ff9b:1:<ID>::/96 (RFC 8215
	// local-use prefix, DESIGN.md section 1).
	DefaultSpaceBase = "64:ff9b:1::/48"
	MaxSpaceID       = 0xffff
	minIPv4MTU       = 68 // RFC 791
)

// ParseConfig reads a YAML translation section strictly: an unknown field
// is an error naming it. It validates what it read.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("xlat config: %w", err)
	}
	if _, err := New(c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports the first problem with c, naming the field.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// compiled is a Config checked and turned into typed values.
type compiled struct {
	spaces []spaceConf // space 0 first when pool6 is set, then by ID
	eam    []eamConf
	pool4  []netip.Prefix
	pool6  []netip.Prefix
	lowest int
	mtu4   int
	mtu6   int
	amend  bool
	self4  netip.Addr // translatorIPv4, invalid when unset
	self6  netip.Addr
	clamp  int // ClampOff, ClampAuto or a ceiling
}

type spaceConf struct {
	id     uint16
	prefix netip.Prefix
}

type eamConf struct {
	v4    netip.Prefix
	v6    netip.Prefix
	space uint16
}

// rfc6052Prefix parses and checks an RFC 6052 prefix for field.
func rfc6052Prefix(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%s: %q is not an IPv6 prefix: %v", field, s, err)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return p, fmt.Errorf("%s: %q is not an IPv6 prefix", field, s)
	}
	if !allowedPrefixLen(p.Bits()) {
		return p, fmt.Errorf("%s: prefix length /%d not allowed (RFC 6052 allows /32, /40, /48, /56, /64, /96)", field, p.Bits())
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%s: %s has bits set after the prefix length (want %s)", field, p, p.Masked())
	}
	if p.Addr().As16()[uOctet] != 0 {
		return p, fmt.Errorf("%s: %s has a non-zero u-octet (bits 64-71 must be zero, RFC 6052 section 2.2)", field, p)
	}
	return p, nil
}

func (c Config) compile() (compiled, error) {
	var k compiled
	ids := make(map[uint16]bool)
	if c.Pool6 != "" {
		p, err := rfc6052Prefix("pool6", c.Pool6)
		if err != nil {
			return k, err
		}
		k.spaces = append(k.spaces, spaceConf{0, p})
	}
	ids[0] = true
	keys := make([]int, 0, len(c.AddressSpaces))
	for id := range c.AddressSpaces {
		keys = append(keys, id)
	}
	sort.Ints(keys)
	base := netip.MustParsePrefix(DefaultSpaceBase).Addr().As16()
	for _, id := range keys {
		field := fmt.Sprintf("addressSpaces[%d]", id)
		if id < 1 || id > MaxSpaceID {
			return k, fmt.Errorf("%s: address space ID %d out of range 1-%d (space 0 is pool6)", field, id, MaxSpaceID)
		}
		s := c.AddressSpaces[id]
		var p netip.Prefix
		if s == "" {
			a := base
			a[6], a[7] = byte(id>>8), byte(id)
			p = netip.PrefixFrom(netip.AddrFrom16(a), 96)
		} else {
			var err error
			if p, err = rfc6052Prefix(field, s); err != nil {
				return k, err
			}
		}
		k.spaces = append(k.spaces, spaceConf{uint16(id), p})
		ids[uint16(id)] = true
	}
	for i, a := range k.spaces {
		for _, b := range k.spaces[:i] {
			if a.prefix.Overlaps(b.prefix) {
				return k, fmt.Errorf("%s: prefix %s overlaps %s of %s: IPv6 addresses would not tell the spaces apart",
					spaceField(a.id), a.prefix, b.prefix, spaceField(b.id))
			}
		}
	}

	for i, e := range c.EAM {
		field := fmt.Sprintf("eam[%d]", i)
		v4, err := netip.ParsePrefix(e.IPv4)
		if err != nil || !v4.Addr().Is4() {
			return k, fmt.Errorf("%s.ipv4: %q is not an IPv4 prefix", field, e.IPv4)
		}
		v6, err := netip.ParsePrefix(e.IPv6)
		if err != nil || !v6.Addr().Is6() || v6.Addr().Is4In6() {
			return k, fmt.Errorf("%s.ipv6: %q is not an IPv6 prefix", field, e.IPv6)
		}
		if v4.Masked() != v4 {
			return k, fmt.Errorf("%s.ipv4: %s has bits set after the prefix length (want %s)", field, v4, v4.Masked())
		}
		if v6.Masked() != v6 {
			return k, fmt.Errorf("%s.ipv6: %s has bits set after the prefix length (want %s)", field, v6, v6.Masked())
		}
		if 32-v4.Bits() > 128-v6.Bits() {
			// RFC 7757 3.2: the IPv4 suffix goes right after the IPv6
			// prefix; an IPv6 prefix with more suffix bits leaves the
			// rest zero (and ignored on the way back), one with fewer
			// cannot hold every address of the IPv4 prefix.
			return k, fmt.Errorf("%s: %s has %d host bits but %s only %d: the IPv6 prefix cannot hold every address of the IPv4 prefix (RFC 7757 section 3.2)",
				field, v4, 32-v4.Bits(), v6, 128-v6.Bits())
		}
		if e.Space < 0 || e.Space > MaxSpaceID || !ids[uint16(e.Space)] {
			return k, fmt.Errorf("%s.space: address space %d is not configured", field, e.Space)
		}
		if netip.PrefixFrom(netip.AddrFrom16(wkp), 96).Overlaps(v6) && nonGlobalPrefix4(v4) {
			return k, fmt.Errorf("%s: non-global IPv4 %s must not be mapped under the well-known prefix 64:ff9b::/96 (RFC 6052 section 3.1)", field, v4)
		}
		for j, o := range k.eam {
			if o.space == uint16(e.Space) && o.v4 == v4 {
				return k, fmt.Errorf("%s.ipv4: %s in space %d repeats eam[%d]", field, v4, e.Space, j)
			}
			if o.v6 == v6 {
				return k, fmt.Errorf("%s.ipv6: %s repeats eam[%d]", field, v6, j)
			}
		}
		k.eam = append(k.eam, eamConf{v4, v6, uint16(e.Space)})
	}

	for i, s := range c.RFC6791v4 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err != nil || !p.Addr().Is4() {
			return k, fmt.Errorf("rfc6791v4[%d]: %q is not an IPv4 address or prefix", i, s)
		}
		k.pool4 = append(k.pool4, p.Masked())
	}
	for i, s := range c.RFC6791v6 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return k, fmt.Errorf("rfc6791v6[%d]: %q is not an IPv6 address or prefix", i, s)
		}
		k.pool6 = append(k.pool6, p.Masked())
	}

	k.lowest, k.mtu4, k.mtu6 = c.LowestIPv6MTU, c.IPv4MTU, c.IPv6MTU
	if k.lowest == 0 {
		k.lowest = 1280
	}
	if k.lowest < 1280 || k.lowest > 65535 {
		return k, fmt.Errorf("lowestIPv6MTU: %d out of range 1280-65535 (RFC 8200 minimum MTU)", k.lowest)
	}
	// 0: no cap (the caller's next-hop MTU, else DefaultMTU).
	if k.mtu4 != 0 && (k.mtu4 < minIPv4MTU || k.mtu4 > 65535) {
		return k, fmt.Errorf("ipv4MTU: %d out of range %d-65535", k.mtu4, minIPv4MTU)
	}
	if k.mtu6 != 0 && (k.mtu6 < 1280 || k.mtu6 > 65535) {
		return k, fmt.Errorf("ipv6MTU: %d out of range 1280-65535 (RFC 8200 minimum MTU)", k.mtu6)
	}
	k.amend = c.AmendUDPZeroChecksum == nil || *c.AmendUDPZeroChecksum
	if c.TranslatorIPv4 != "" {
		a, err := netip.ParseAddr(c.TranslatorIPv4)
		if err != nil || !a.Is4() {
			return k, fmt.Errorf("translatorIPv4: %q is not an IPv4 address", c.TranslatorIPv4)
		}
		if b := a.As4(); b[0] == 0 || b[0] == 127 || b[0] >= 224 {
			// pkt.BuildICMPv4Error's own rule for a unique host (RFC
			// 1812 section 4.3.2.7, 5.3.7): an error must not come from
			// "this network", loopback, multicast or class E.
			return k, fmt.Errorf("translatorIPv4: %s is not a unicast host address", a)
		}
		k.self4 = a
	}
	if c.TranslatorIPv6 != "" {
		a, err := netip.ParseAddr(c.TranslatorIPv6)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return k, fmt.Errorf("translatorIPv6: %q is not an IPv6 address", c.TranslatorIPv6)
		}
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
			return k, fmt.Errorf("translatorIPv6: %s is not a unicast address", a)
		}
		k.self6 = a
	}
	switch c.ClampMSS {
	case "", "off":
		k.clamp = ClampOff
	case "auto":
		k.clamp = ClampAuto
	default:
		n, err := strconv.Atoi(c.ClampMSS)
		if err != nil || n < MinClampMSS || n > MaxClampMSS {
			return k, fmt.Errorf("clampMSS: %q is not auto, off or an MSS in %d-%d", c.ClampMSS, MinClampMSS, MaxClampMSS)
		}
		k.clamp = n
	}
	if len(k.spaces) == 0 && len(k.eam) == 0 {
		return k, errors.New("pool6, addressSpaces, eam: nothing to translate with; set at least one")
	}
	return k, nil
}

func spaceField(id uint16) string {
	if id == 0 {
		return "pool6"
	}
	return fmt.Sprintf("addressSpaces[%d]", id)
}
