package acl

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ord(f float64) *float64 { return &f }
func ip(s string) netip.Addr { return netip.MustParseAddr(s) }
func intp(i int) *int        { return &i }

// The endpoints every semantics test uses.
var testEndpoints = []Endpoint{
	{Name: "web", Labels: map[string]string{"app": "web", "tier": "front"}, Addrs: []netip.Addr{ip("198.18.0.10"), ip("2001:db8::10")}, Profiles: []string{"open"}},
	{Name: "db", Labels: map[string]string{"app": "db"}, Addrs: []netip.Addr{ip("198.18.0.20"), ip("2001:db8::20")}, Profiles: []string{"closed"}},
	{Name: "bare", Addrs: []netip.Addr{ip("198.18.0.30")}},
}

var testProfiles = []Profile{
	{Name: "open", Ingress: []PolicyRule{{Action: Allow}}, Egress: []PolicyRule{{Action: Allow}}},
	{Name: "closed"},
}

func tcpKey(src, dst string, dport uint16) Key {
	return Key{Src: ip(src), Dst: ip(dst), SrcPort: 40000, DstPort: dport, Proto: 6}
}

func TestPolicySemantics(t *testing.T) {
	tests := []struct {
		name     string
		policies []Policy
		ep       string
		dir      PolicyType
		key      Key
		want     Verdict
		wantLog  bool
		wantRule string // RuleRef.String(), or "" for default deny
	}{
		{name: "no policy: profile allows", ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80),
			want: Accept, wantRule: `profile "open" Ingress[0]`},
		{name: "no policy, empty profile: denied", ep: "db", dir: Ingress, key: tcpKey("198.18.0.10", "198.18.0.20", 5432),
			want: Drop},
		{name: "no policy, no profile: denied", ep: "bare", dir: Egress, key: tcpKey("198.18.0.30", "198.18.0.10", 80),
			want: Drop},
		{name: "policy applies: default deny beats profile",
			policies: []Policy{{Name: "p", Selector: "app == 'web'", Ingress: []PolicyRule{{Action: Allow, Protocol: "TCP", Destination: EntityMatch{Ports: []string{"443"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop},
		{name: "policy allows port",
			policies: []Policy{{Name: "p", Selector: "app == 'web'", Ingress: []PolicyRule{{Action: Allow, Protocol: "TCP", Destination: EntityMatch{Ports: []string{"80", "8000:8100"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 8080), want: Accept, wantRule: `policy "p" Ingress[0]`},
		{name: "ingress-only policy leaves egress to profile",
			policies: []Policy{{Name: "p", Selector: "all()", Ingress: []PolicyRule{{Action: Deny}}}},
			ep:       "web", dir: Egress, key: tcpKey("198.18.0.10", "198.18.0.20", 80), want: Accept, wantRule: `profile "open" Egress[0]`},
		{name: "lower order first",
			policies: []Policy{
				{Name: "a-allow", Order: ord(200), Ingress: []PolicyRule{{Action: Allow}}},
				{Name: "b-deny", Order: ord(100), Ingress: []PolicyRule{{Action: Deny}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop, wantRule: `policy "b-deny" Ingress[0]`},
		{name: "no order comes last",
			policies: []Policy{
				{Name: "a-deny", Ingress: []PolicyRule{{Action: Deny}}},
				{Name: "z-allow", Order: ord(1e6), Ingress: []PolicyRule{{Action: Allow}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `policy "z-allow" Ingress[0]`},
		{name: "equal order: by name",
			policies: []Policy{
				{Name: "b", Order: ord(1), Ingress: []PolicyRule{{Action: Allow}}},
				{Name: "a", Order: ord(1), Ingress: []PolicyRule{{Action: Deny}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop, wantRule: `policy "a" Ingress[0]`},
		{name: "unmatched policy falls through to next",
			policies: []Policy{
				{Name: "a", Order: ord(1), Ingress: []PolicyRule{{Action: Deny, Source: EntityMatch{Nets: []string{"203.0.113.0/24"}}}}},
				{Name: "b", Order: ord(2), Ingress: []PolicyRule{{Action: Allow}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `policy "b" Ingress[0]`},
		{name: "pass skips later policies to profile",
			policies: []Policy{
				{Name: "a", Order: ord(1), Ingress: []PolicyRule{{Action: Pass, Source: EntityMatch{Selector: "app == 'db'"}}}},
				{Name: "b", Order: ord(2), Ingress: []PolicyRule{{Action: Deny}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `profile "open" Ingress[0]`},
		{name: "pass not matching: later deny applies",
			policies: []Policy{
				{Name: "a", Order: ord(1), Ingress: []PolicyRule{{Action: Pass, Source: EntityMatch{Selector: "app == 'db'"}}}},
				{Name: "b", Order: ord(2), Ingress: []PolicyRule{{Action: Deny}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.30", "198.18.0.10", 80), want: Drop, wantRule: `policy "b" Ingress[0]`},
		{name: "pass to empty profile: denied",
			policies: []Policy{{Name: "a", Selector: "app == 'db'", Ingress: []PolicyRule{{Action: Pass}}}},
			ep:       "db", dir: Ingress, key: tcpKey("198.18.0.10", "198.18.0.20", 80), want: Drop},
		{name: "log continues and marks",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Log, Protocol: "TCP"}, {Action: Allow}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantLog: true, wantRule: `policy "a" Ingress[1]`},
		{name: "log after deciding rule is not reached",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow}, {Action: Log}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `policy "a" Ingress[0]`},
		{name: "log in policy skipped by pass is not reached",
			policies: []Policy{
				{Name: "a", Order: ord(1), Ingress: []PolicyRule{{Action: Pass}}},
				{Name: "b", Order: ord(2), Ingress: []PolicyRule{{Action: Log}}},
			},
			ep: "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `profile "open" Ingress[0]`},
		{name: "log then default deny",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Log}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop, wantLog: true},
		{name: "notNets excludes",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Nets: []string{"198.18.0.0/24"}, NotNets: []string{"198.18.0.16/29"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop},
		{name: "notNets lets the rest through",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Nets: []string{"198.18.0.0/24"}, NotNets: []string{"198.18.0.16/29"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.30", "198.18.0.10", 80), want: Accept, wantRule: `policy "a" Ingress[0]`},
		{name: "notNets only, other family allowed",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{NotNets: []string{"198.18.0.0/15"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("2001:db8::20", "2001:db8::10", 80), want: Accept, wantRule: `policy "a" Ingress[0]`},
		{name: "v4 nets do not match v6",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Nets: []string{"0.0.0.0/0"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("2001:db8::20", "2001:db8::10", 80), want: Drop},
		{name: "notPorts",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Protocol: "tcp", Destination: EntityMatch{NotPorts: []string{"22", "6000:6063"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 6010), want: Drop},
		{name: "notPorts removing every port matches nothing",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Protocol: "tcp", Destination: EntityMatch{Ports: []string{"80"}, NotPorts: []string{"80"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop},
		{name: "notPorts alone removing every port matches nothing",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Protocol: "tcp", Source: EntityMatch{NotPorts: []string{"0:65535"}}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Drop},
		{name: "notProtocol",
			policies: []Policy{{Name: "a", Egress: []PolicyRule{{Action: Allow, NotProtocol: "UDP"}}}},
			ep:       "web", dir: Egress, key: Key{Src: ip("198.18.0.10"), Dst: ip("198.18.0.20"), SrcPort: 5, DstPort: 53, Proto: 17}, want: Drop},
		{name: "icmp type and code",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Protocol: "ICMP", ICMP: &ICMPMatch{Type: intp(8), Code: intp(0)}}}}},
			ep:       "web", dir: Ingress, key: Key{Src: ip("198.18.0.20"), Dst: ip("198.18.0.10"), SrcPort: 8, Proto: 1}, want: Accept, wantRule: `policy "a" Ingress[0]`},
		{name: "notICMP",
			policies: []Policy{{Name: "a", Ingress: []PolicyRule{{Action: Allow, Protocol: "ICMPv6", NotICMP: &ICMPMatch{Type: intp(128)}}}}},
			ep:       "web", dir: Ingress, key: Key{Src: ip("2001:db8::20"), Dst: ip("2001:db8::10"), SrcPort: 128, DstPort: 3, Proto: 58}, want: Drop},
		{name: "source selector resolves to endpoint addresses",
			policies: []Policy{{Name: "a", Selector: "has(tier)", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Selector: "app in {'db', 'cache'}"}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("2001:db8::20", "2001:db8::10", 80), want: Accept, wantRule: `policy "a" Ingress[0]`},
		{name: "source selector: other address denied",
			policies: []Policy{{Name: "a", Selector: "has(tier)", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Selector: "app in {'db', 'cache'}"}}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.30", "198.18.0.10", 80), want: Drop},
		{name: "selector not matching endpoint: policy does not apply",
			policies: []Policy{{Name: "a", Selector: "app == 'web' && !has(tier)", Ingress: []PolicyRule{{Action: Deny}}}},
			ep:       "web", dir: Ingress, key: tcpKey("198.18.0.20", "198.18.0.10", 80), want: Accept, wantRule: `profile "open" Ingress[0]`},
		{name: "egress types default from egress rules",
			policies: []Policy{{Name: "a", Egress: []PolicyRule{{Action: Deny, Protocol: "UDP"}}}},
			ep:       "web", dir: Egress, key: tcpKey("198.18.0.10", "198.18.0.20", 80), want: Drop},
		{name: "explicit egress type with no rules denies",
			policies: []Policy{{Name: "a", Types: []PolicyType{Egress}}},
			ep:       "web", dir: Egress, key: tcpKey("198.18.0.10", "198.18.0.20", 80), want: Drop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := &PolicySet{Policies: tc.policies, Profiles: testProfiles, Endpoints: testEndpoints}
			cp, err := CompilePolicy(set)
			if err != nil {
				t.Fatalf("CompilePolicy: %v", err)
			}
			ep := cp.Endpoint(tc.ep)
			prog := ep.Ingress
			if tc.dir == Egress {
				prog = ep.Egress
			}
			pk := KeyOf(&tc.key)
			d := prog.Evaluate(&pk)
			rule := ""
			if d.Rule >= 0 {
				rule = prog.Rules()[d.Rule].String()
			}
			if d.Verdict != tc.want || d.Log != tc.wantLog || rule != tc.wantRule {
				t.Errorf("Evaluate(%+v) = %v log=%v rule=%q, want %v log=%v rule=%q", tc.key, d.Verdict, d.Log, rule, tc.want, tc.wantLog, tc.wantRule)
			}
			wv, wl, _, _ := (&interp{set: set}).decide(tc.ep, tc.dir, &tc.key)
			if wv != tc.want || wl != tc.wantLog {
				t.Errorf("twin decide(%+v) = %v log=%v, want %v log=%v", tc.key, wv, wl, tc.want, tc.wantLog)
			}
		})
	}
}

func TestCheckConnState(t *testing.T) {
	cp, err := CompilePolicy(&PolicySet{
		Policies:  []Policy{{Name: "deny-all", Ingress: []PolicyRule{{Action: Deny}}}},
		Profiles:  testProfiles,
		Endpoints: testEndpoints,
	})
	if err != nil {
		t.Fatal(err)
	}
	prog := cp.Endpoint("web").Ingress
	k := tcpKey("198.18.0.20", "198.18.0.10", 80)
	pk := KeyOf(&k)
	tests := []struct {
		state ConnState
		want  Decision
	}{
		{ConnNew, Decision{Verdict: Drop, Rule: 0}},
		{ConnEstablished, Decision{Verdict: Accept, Rule: RuleConnTrack}},
		{ConnRelated, Decision{Verdict: Accept, Rule: RuleConnTrack}},
		{ConnInvalid, Decision{Verdict: Drop, Rule: RuleInvalidState}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.state), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, prog.Check(tc.state, &pk)); diff != "" {
				t.Errorf("Check(%d) (-want +got):\n%s", tc.state, diff)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { prog.Check(ConnNew, &pk) }); n != 0 {
		t.Errorf("Check allocates %v times, want 0", n)
	}
}

func TestCompilePolicyErrors(t *testing.T) {
	ok := PolicyRule{Action: Allow}
	tests := []struct {
		name string
		set  PolicySet
		want string
	}{
		{"bad cidr", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{ok, {Action: Allow, Source: EntityMatch{Nets: []string{"198.18.0.0/33"}}}}}}},
			`acl: policy "p": ingress[1]: source.nets[0]: "198.18.0.0/33" is not a CIDR or an address`},
		{"bad notNets", PolicySet{Policies: []Policy{{Name: "p", Egress: []PolicyRule{{Action: Deny, Destination: EntityMatch{NotNets: []string{"x"}}}}}}},
			`acl: policy "p": egress[0]: destination.notNets[0]: "x" is not a CIDR or an address`},
		{"empty port range", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Protocol: "TCP", Destination: EntityMatch{Ports: []string{"90:80"}}}}}}},
			`acl: policy "p": ingress[0]: destination.ports[0]: "90:80": range is empty`},
		{"port out of range", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Protocol: "UDP", Source: EntityMatch{NotPorts: []string{"70000"}}}}}}},
			`acl: policy "p": ingress[0]: source.notPorts[0]: "70000" is not a port or a lo:hi range (named ports are not supported)`},
		{"ports without protocol", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Destination: EntityMatch{Ports: []string{"80"}}}}}}},
			`acl: policy "p": ingress[0]: destination.ports: needs protocol TCP, UDP, SCTP or UDPLite`},
		{"policy selector syntax", PolicySet{Policies: []Policy{{Name: "p", Selector: "app == web"}}},
			`acl: policy "p": selector: at offset 7: want a quoted string`},
		{"rule selector syntax", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Source: EntityMatch{Selector: "has(app"}}}}}},
			`acl: policy "p": ingress[0]: source.selector: at offset 7: want ')' after has(app`},
		{"bad action", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: "Accept"}}}}},
			`acl: policy "p": ingress[0]: action: "Accept" is not Allow, Deny, Log or Pass`},
		{"bad protocol", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Protocol: "TPC"}}}}},
			`acl: policy "p": ingress[0]: protocol: "TPC" is not a protocol name or a number 0-255`},
		{"icmp without protocol", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, ICMP: &ICMPMatch{Type: intp(8)}}}}}},
			`acl: policy "p": ingress[0]: icmp: needs protocol ICMP or ICMPv6`},
		{"icmp type range", PolicySet{Policies: []Policy{{Name: "p", Ingress: []PolicyRule{{Action: Allow, Protocol: "ICMP", ICMP: &ICMPMatch{Type: intp(255)}}}}}},
			`acl: policy "p": ingress[0]: icmp: type 255 is not in 0-254`},
		{"bad type", PolicySet{Policies: []Policy{{Name: "p", Types: []PolicyType{"ingress"}}}},
			`acl: policy "p": types[0]: "ingress" is not Ingress or Egress`},
		{"duplicate policy", PolicySet{Policies: []Policy{{Name: "p"}, {Name: "p"}}}, `acl: policy "p": name used twice`},
		{"profile rule", PolicySet{Profiles: []Profile{{Name: "x", Egress: []PolicyRule{{Action: Allow, IPVersion: 5}}}}},
			`acl: profile "x": egress[0]: ipVersion: 5 is not 4 or 6`},
		{"unknown profile", PolicySet{Endpoints: []Endpoint{{Name: "e", Profiles: []string{"nope"}}}},
			`acl: endpoint "e": profiles[0]: no profile "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := CompilePolicy(&tc.set)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("CompilePolicy = %v, %v; want error %q", cp, err, tc.want)
			}
			if cp != nil {
				t.Errorf("CompilePolicy returned a policy with its error")
			}
		})
	}
}

func TestSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "k8s.io/ns": "prod-eu"}
	tests := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"all()", true},
		{"app == 'web'", true},
		{`app == "db"`, false},
		{"app != 'db'", true},
		{"missing != 'x'", true},
		{"app in {'db', 'web'}", true},
		{"app in {}", false},
		{"app not in {'web'}", false},
		{"missing not in {'web'}", true},
		{"has(tier)", true},
		{"!has(tier)", false},
		{"has(app) && !has(missing)", true},
		{"app == 'db' || tier == 'front'", true},
		{"app == 'db' || tier == 'back' && has(app)", false},
		{"!(app == 'db' || tier == 'back')", true},
		{"k8s.io/ns starts with 'prod'", true},
		{"k8s.io/ns ends with 'eu'", true},
		{"k8s.io/ns contains 'd-e'", true},
		{"((app == 'web'))", true},
	}
	for _, tc := range tests {
		t.Run(tc.sel, func(t *testing.T) {
			s, err := ParseSelector(tc.sel)
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tc.sel, err)
			}
			if got := s.Matches(labels); got != tc.want {
				t.Errorf("ParseSelector(%q).Matches = %v, want %v", tc.sel, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"app ==", "app = 'x'", "has(", "app in {'a' 'b'}", "(app == 'x'", "app == 'x' &&", "all(", "'x' == app", "app == 'x' garbage"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzSelector(f *testing.F) {
	for _, s := range []string{"app == 'web' && !has(x)", "a in {'b','c'} || !(d not in {})", "k starts with \"p\"", "all()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		// A parsed selector evaluates without panicking, and its
		// negation parses and disagrees with it.
		l := map[string]string{"a": "b", "app": "web"}
		neg, err := ParseSelector("!(" + s + ")")
		if err != nil {
			if strings.TrimSpace(s) == "" {
				return
			}
			t.Fatalf("ParseSelector(!(%s)): %v", s, err)
		}
		if neg.Matches(l) == sel.Matches(l) {
			t.Fatalf("!(%s) matches like %s", s, s)
		}
	})
}

// TestPolicyRandomDifferential compiles random policy sets and compares
// every decision with the interpreter.
func TestPolicyRandomDifferential(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for seed := range uint64(rounds) {
		rnd := rand.New(rand.NewPCG(seed, 9))
		set := randPolicySet(rnd)
		cp, err := CompilePolicy(set)
		if err != nil {
			t.Fatalf("seed %d: CompilePolicy: %v", seed, err)
		}
		tw := &interp{set: set}
		for range 300 {
			ep := set.Endpoints[rnd.IntN(len(set.Endpoints))]
			dir := []PolicyType{Ingress, Egress}[rnd.IntN(2)]
			k := randPolicyKey(rnd, set, ep, dir)
			prog := cp.Endpoint(ep.Name).Ingress
			if dir == Egress {
				prog = cp.Endpoint(ep.Name).Egress
			}
			pk := KeyOf(&k)
			d := prog.Evaluate(&pk)
			wv, wl, wref, wok := tw.decide(ep.Name, dir, &k)
			var gref RuleRef
			if d.Rule >= 0 {
				gref = prog.Rules()[d.Rule]
			}
			if d.Verdict != wv || d.Log != wl || (d.Rule >= 0) != wok || gref != wref {
				t.Fatalf("seed %d: %s %s %+v: got %v log=%v %v, want %v log=%v %v", seed, ep.Name, dir, k, d.Verdict, d.Log, gref, wv, wl, wref)
			}
			if d.Log && prog.Rules()[d.LogRule] != tw.lastLog {
				t.Fatalf("seed %d: %s %s %+v: logged by %v, want %v", seed, ep.Name, dir, k, prog.Rules()[d.LogRule], tw.lastLog)
			}
		}
	}
}

var randAddrs4 = []string{"198.18.0.1", "198.18.0.2", "198.18.1.1", "100.64.0.1", "203.0.113.9"}
var randAddrs6 = []string{"2001:db8::1", "2001:db8::2", "2001:db8:1::1", "64:ff9b:1::1"}
var randNets = []string{"198.18.0.0/24", "198.18.0.0/15", "198.18.0.2/32", "100.64.0.0/10", "0.0.0.0/0",
	"2001:db8::/32", "2001:db8::/64", "2001:db8::2/128", "::/0", "64:ff9b:1::/48"}

func randPolicySet(rnd *rand.Rand) *PolicySet {
	set := &PolicySet{}
	apps := []string{"web", "db", "cache"}
	for i := range 5 {
		e := Endpoint{Name: fmt.Sprintf("ep%d", i), Labels: map[string]string{"app": apps[rnd.IntN(3)]}}
		if rnd.IntN(2) == 0 {
			e.Labels["tier"] = "front"
		}
		e.Addrs = []netip.Addr{ip(randAddrs4[i]), ip(randAddrs6[i%len(randAddrs6)])}
		if rnd.IntN(3) > 0 {
			e.Profiles = []string{[]string{"allow", "deny", "mixed"}[rnd.IntN(3)]}
		}
		set.Endpoints = append(set.Endpoints, e)
	}
	set.Profiles = []Profile{
		{Name: "allow", Ingress: []PolicyRule{{Action: Allow}}, Egress: []PolicyRule{{Action: Allow}}},
		{Name: "deny"},
		{Name: "mixed", Ingress: randPolicyRules(rnd, 3), Egress: randPolicyRules(rnd, 3)},
	}
	for i := range 1 + rnd.IntN(4) {
		p := Policy{Name: fmt.Sprintf("pol%d", i)}
		if rnd.IntN(3) > 0 {
			p.Order = ord(float64(rnd.IntN(3)))
		}
		p.Selector = []string{"", "app == 'web'", "has(tier)", "app in {'db','cache'}", "!has(tier) || app == 'db'"}[rnd.IntN(5)]
		p.Ingress = randPolicyRules(rnd, rnd.IntN(5))
		p.Egress = randPolicyRules(rnd, rnd.IntN(3))
		if rnd.IntN(3) == 0 {
			p.Types = []PolicyType{Ingress, Egress}
		}
		set.Policies = append(set.Policies, p)
	}
	return set
}

func randPolicyRules(rnd *rand.Rand, n int) []PolicyRule {
	rules := make([]PolicyRule, n)
	for i := range rules {
		r := &rules[i]
		r.Action = []Action{Allow, Deny, Log, Pass, Allow}[rnd.IntN(5)]
		switch rnd.IntN(6) {
		case 0:
			r.Protocol = "TCP"
			r.Destination.Ports = []string{"80", "1000:2000"}[:1+rnd.IntN(2)]
			if rnd.IntN(2) == 0 {
				r.Source.NotPorts = []string{"1500:1600"}
			}
			if rnd.IntN(8) == 0 {
				// notPorts covering every port the rule names: it matches nothing.
				r.Destination.NotPorts = []string{"0:2000"}
			}
		case 1:
			r.Protocol = "ICMP"
			r.ICMP = &ICMPMatch{Type: intp(8)}
			if rnd.IntN(2) == 0 {
				r.ICMP.Code = intp(0)
			}
		case 2:
			r.Protocol = "ICMPv6"
			r.NotICMP = &ICMPMatch{Type: intp(128), Code: intp(rnd.IntN(2))}
		case 3:
			r.NotProtocol = "UDP"
		case 4:
			r.Protocol = "UDP"
		}
		if rnd.IntN(5) == 0 && r.ICMP == nil && r.NotICMP == nil {
			r.IPVersion = []int{4, 6}[rnd.IntN(2)]
		}
		for _, e := range []*EntityMatch{&r.Source, &r.Destination} {
			switch rnd.IntN(5) {
			case 0:
				e.Nets = []string{randNets[rnd.IntN(len(randNets))], randNets[rnd.IntN(len(randNets))]}
			case 1:
				e.NotNets = []string{randNets[rnd.IntN(len(randNets))]}
			case 2:
				e.Selector = []string{"app == 'db'", "has(tier)", "all()"}[rnd.IntN(3)]
			case 3:
				e.NotSelector = "app == 'web'"
			}
		}
	}
	return rules
}

func randPolicyKey(rnd *rand.Rand, set *PolicySet, ep Endpoint, dir PolicyType) Key {
	v6 := rnd.IntN(2) == 0
	pick := func() netip.Addr {
		if v6 {
			return ip(randAddrs6[rnd.IntN(len(randAddrs6))])
		}
		return ip(randAddrs4[rnd.IntN(len(randAddrs4))])
	}
	local := ep.Addrs[0]
	if v6 {
		local = ep.Addrs[1]
	}
	k := Key{Src: pick(), Dst: local}
	if dir == Egress {
		k.Src, k.Dst = local, pick()
	}
	switch rnd.IntN(4) {
	case 0:
		k.Proto = 6
	case 1:
		k.Proto = 17
	case 2:
		k.Proto = 1
		if v6 {
			k.Proto = 58
		}
	default:
		k.Proto = uint8(rnd.IntN(256))
	}
	ports := []uint16{0, 1, 8, 80, 128, 999, 1000, 1550, 2000, 2001}
	k.SrcPort, k.DstPort = ports[rnd.IntN(len(ports))], ports[rnd.IntN(len(ports))]
	return k
}
