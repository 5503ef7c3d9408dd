package xlat

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error
	}{
		{"pool6-length", func(c *Config) { c.Pool6 = "2001:db8::/33" }, []string{"pool6", "/33", "not allowed"}},
		{"pool6-not-ipv6", func(c *Config) { c.Pool6 = "192.0.2.0/24" }, []string{"pool6", "not an IPv6 prefix"}},
		{"pool6-host-bits", func(c *Config) { c.Pool6 = "2001:db8::1/96" }, []string{"pool6", "bits set after"}},
		{"pool6-u-octet", func(c *Config) { c.Pool6 = "2001:db8:0:0:100::/96" }, []string{"pool6", "u-octet"}},
		{"space-id-zero", func(c *Config) { c.AddressSpaces = map[int]string{0: ""} }, []string{"addressSpaces[0]", "out of range"}},
		{"space-id-big", func(c *Config) { c.AddressSpaces = map[int]string{65536: ""} }, []string{"addressSpaces[65536]", "out of range"}},
		{"space-length", func(c *Config) { c.AddressSpaces = map[int]string{3: "64:ff9b:1:3::/80"} }, []string{"addressSpaces[3]", "/80"}},
		{"space-u-octet", func(c *Config) { c.AddressSpaces = map[int]string{3: "64:ff9b:1:3:ff00::/96"} }, []string{"addressSpaces[3]", "u-octet"}},
		{"space-overlap", func(c *Config) { c.AddressSpaces = map[int]string{3: "2001:db8:46::/96"} }, []string{"addressSpaces[3]", "overlaps", "pool6"}},
		{"eam-suffix", func(c *Config) { c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/124"}} }, []string{"eam[0]", "8 host bits", "only 4"}},
		{"translator-ipv4-not-v4", func(c *Config) { c.TranslatorIPv4 = "2001:db8::1" }, []string{"translatorIPv4", "not an IPv4 address"}},
		{"translator-ipv4-loopback", func(c *Config) { c.TranslatorIPv4 = "127.0.0.1" }, []string{"translatorIPv4", "unicast"}},
		{"translator-ipv4-multicast", func(c *Config) { c.TranslatorIPv4 = "224.0.0.1" }, []string{"translatorIPv4", "unicast"}},
		{"translator-ipv6-not-v6", func(c *Config) { c.TranslatorIPv6 = "192.0.2.1" }, []string{"translatorIPv6", "not an IPv6 address"}},
		{"translator-ipv6-mapped", func(c *Config) { c.TranslatorIPv6 = "::ffff:192.0.2.1" }, []string{"translatorIPv6", "not an IPv6 address"}},
		{"translator-ipv6-multicast", func(c *Config) { c.TranslatorIPv6 = "ff02::1" }, []string{"translatorIPv6", "unicast"}},
		{"translator-ipv6-unspecified", func(c *Config) { c.TranslatorIPv6 = "::" }, []string{"translatorIPv6", "unicast"}},
		{"eam-bad-ipv4", func(c *Config) { c.EAM = []EAMEntry{{IPv4: "2001:db8::/120", IPv6: "2001:db8:100::/120"}} }, []string{"eam[0].ipv4"}},
		{"eam-space", func(c *Config) { c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/120", Space: 9}} }, []string{"eam[0].space", "9"}},
		{"eam-wkp-private", func(c *Config) { c.EAM = []EAMEntry{{IPv4: "10.0.0.0/24", IPv6: "64:ff9b::/120"}} }, []string{"eam[0]", "non-global", "64:ff9b::/96"}},
		{"eam-repeat", func(c *Config) {
			c.EAM = []EAMEntry{{IPv4: "198.51.100.0/24", IPv6: "2001:db8:100::/120"}, {IPv4: "198.51.100.0/24", IPv6: "2001:db8:200::/120"}}
		}, []string{"eam[1].ipv4", "repeats eam[0]"}},
		{"rfc6791v4", func(c *Config) { c.RFC6791v4 = []string{"2001:db8::1"} }, []string{"rfc6791v4[0]"}},
		{"rfc6791v6", func(c *Config) { c.RFC6791v6 = []string{"192.0.2.1"} }, []string{"rfc6791v6[0]"}},
		{"lowest-mtu", func(c *Config) { c.LowestIPv6MTU = 1000 }, []string{"lowestIPv6MTU", "1000"}},
		{"ipv4-mtu", func(c *Config) { c.IPv4MTU = 67 }, []string{"ipv4MTU", "67"}},
		{"ipv6-mtu", func(c *Config) { c.IPv6MTU = 70000 }, []string{"ipv6MTU", "70000"}},
		{"clamp-word", func(c *Config) { c.ClampMSS = "on" }, []string{"clampMSS", `"on"`, "auto, off"}},
		{"clamp-small", func(c *Config) { c.ClampMSS = "535" }, []string{"clampMSS", "535", "536-65495"}},
		{"clamp-big", func(c *Config) { c.ClampMSS = "65496" }, []string{"clampMSS", "65496"}},
		{"nothing", func(c *Config) { *c = Config{} }, []string{"nothing to translate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error with %q", c, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
	if err := baseConfig().Validate(); err != nil {
		t.Errorf("Validate(baseConfig) = %v, want nil", err)
	}
}

func TestParseConfig(t *testing.T) {
	good := `
pool6: 2001:db8:46::/96
addressSpaces:
  7:
  8: 64:ff9b:1:8::/96
eam:
  - {ipv4: 198.51.100.0/24, ipv6: "2001:db8:100::/120", space: 7}
rfc6791v4: [192.0.2.1]
rfc6791v6: ["2001:db8:ffff::/120"]
lowestIPv6MTU: 1280
ipv4MTU: 1500
ipv6MTU: 9000
amendUDPZeroChecksum: false
translatorIPv4: 198.51.100.1
translatorIPv6: "2001:db8::1"
`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	tr, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if tr.amend || tr.mtu6 != 9000 || len(tr.eam) != 1 || tr.space(7) == nil || tr.space(8) == nil || tr.space(0) == nil {
		t.Errorf("compiled %+v: amend %v mtu6 %d eam %d", c, tr.amend, tr.mtu6, len(tr.eam))
	}
	if !tr.hasSelf4 || !tr.hasSelf6 || tr.self4 != [4]byte{198, 51, 100, 1} || tr.self6 != netip.MustParseAddr("2001:db8::1").As16() {
		t.Errorf("translator addresses %v %v / %v %v, want 198.51.100.1 and 2001:db8::1", tr.hasSelf4, tr.self4, tr.hasSelf6, tr.self6)
	}
	if got, want := tr.space(7).pfx, space7.Addr().As16(); got != want {
		t.Errorf("space 7 prefix %x, want %x (the 64:ff9b:1:<ID>::/96 default)", got, want)
	}
	for _, tc := range []struct {
		yaml string
		want int
	}{
		{"", ClampOff}, {"clampMSS: off", ClampOff}, {"clampMSS: auto", ClampAuto}, {"clampMSS: 1360", 1360}, {"clampMSS: 536", 536},
	} {
		c, err := ParseConfig([]byte("pool6: 2001:db8::/96\n" + tc.yaml + "\n"))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", tc.yaml, err)
		}
		if tr, _ := New(c); tr.ClampMSS() != tc.want {
			t.Errorf("%q: ClampMSS() = %d, want %d", tc.yaml, tr.ClampMSS(), tc.want)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"pool6: 2001:db8::/96\nmtu: 1500\n", "mtu"},
		{"pool6: 2001:db8::/96\neam:\n  - {ipv4: 198.51.100.0/24, ipv6: \"2001:db8::/120\", spcae: 1}\n", "spcae"},
		{"pool6: [1]\n", "line 1"},
	} {
		if _, err := ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error naming %q", tc.yaml, err, tc.want)
		}
	}
}
