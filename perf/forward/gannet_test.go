package forward

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

func testLab(t *testing.T, table bool) GannetLab {
	rules, err := ACLRules()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPackets()
	l := GannetLab{In: "di0", Out: "do0", GenMAC: "02:00:00:00:00:01", DUTCPU: 1, Rules: rules}
	a := p.Src
	for range p.SrcAddrs {
		l.Sources = append(l.Sources, a)
		a = a.Next()
	}
	if table {
		ps, err := lpmbench.Default()
		if err != nil {
			t.Fatal(err)
		}
		// The full table is exercised by bench forward itself; 20k
		// prefixes keep this test quick under -race.
		ps = ps[:20000]
		l.Table = FullTable(ps)
	}
	return l
}

// TestGannetConfigsValidate: every generated config passes gannet's own
// strict parser and validation (config.ParseConfig), and says what the
// scenario means.
func TestGannetConfigsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind GannetKind
		want []string // substrings of the YAML
	}{
		{"route", GannetRoute, []string{"interface: di0", "198.19.1.0/24"}},
		{"acl-bgp", GannetACLBGP, []string{"classbench-acl1-1k", "action: Deny", "action: Allow", "conntrack"}},
		{"snat", GannetSNAT, []string{"natOutgoing: true", "198.19.0.1/32"}},
		{"xlat", GannetXlat, []string{"translated: true", "64:ff9b:1::/48"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLab(t, tc.kind == GannetACLBGP)
			b, err := GannetConfig(tc.kind, l)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("config lacks %q", w)
				}
			}
			_, plan, err := config.ParseConfig(b)
			if err != nil {
				t.Fatalf("config.ParseConfig: %v", err)
			}
			if tc.kind == GannetACLBGP {
				if plan.Policy == nil {
					t.Errorf("no policy compiled")
				}
				if want := len(l.Table) + 2; len(plan.Routes) != want {
					t.Errorf("plan has %d routes, want the table's %d and the lab's 2", len(plan.Routes), want)
				}
			}
		})
	}
}

func TestFullTableAvoidsTheLab(t *testing.T) {
	ps := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.0.0.0/7"),
		netip.MustParsePrefix("1.0.0.0/24"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("2a00::/12"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
	}
	got := FullTable(ps)
	want := []netip.Prefix{netip.MustParsePrefix("1.0.0.0/24"), netip.MustParsePrefix("2a00::/12")}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("FullTable = %v, want %v", got, want)
	}
}
