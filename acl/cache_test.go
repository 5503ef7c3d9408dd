package acl

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// decide evaluates the named endpoint's program for one direction and
// returns the decision with the rule it names.
func decide(cp *CompiledPolicy, ep string, dir PolicyType, k *Key) (Decision, RuleRef) {
	prog := cp.Endpoint(ep).Ingress
	if dir == Egress {
		prog = cp.Endpoint(ep).Egress
	}
	pk := KeyOf(k)
	d := prog.Evaluate(&pk)
	var ref RuleRef
	if d.Rule >= 0 {
		ref = prog.Rules()[d.Rule]
	}
	return d, ref
}

// distinctPrograms counts the programs a compiled policy holds.
func distinctPrograms(cp *CompiledPolicy) int {
	seen := map[*Program]bool{}
	for _, ep := range cp.endpoints {
		seen[ep.Ingress], seen[ep.Egress] = true, true
	}
	return len(seen)
}

// randEdit changes set in place the way an operator or the orchestrator
// does, and says what it did.
func randEdit(rnd *rand.Rand, set *PolicySet, next *int) string {
	apps := []string{"web", "db", "cache"}
	labels := func() map[string]string {
		l := map[string]string{"app": apps[rnd.IntN(3)]}
		if rnd.IntN(2) == 0 {
			l["tier"] = "front"
		}
		return l
	}
	addrs := func() []netip.Addr {
		return []netip.Addr{ip(randAddrs4[rnd.IntN(len(randAddrs4))]), ip(randAddrs6[rnd.IntN(len(randAddrs6))])}
	}
	ep := &set.Endpoints[rnd.IntN(len(set.Endpoints))]
	switch rnd.IntN(9) {
	case 0:
		ep.Labels = labels()
		return "labels of " + ep.Name
	case 1:
		ep.Labels = map[string]string{"rev": fmt.Sprint(rnd.IntN(100))}
		for k, v := range labels() {
			ep.Labels[k] = v
		}
		return "labels (with rev) of " + ep.Name
	case 2:
		ep.Addrs = addrs()
		return "addresses of " + ep.Name
	case 3:
		e := Endpoint{Name: fmt.Sprintf("ep%d", *next), Labels: labels(), Addrs: addrs()}
		*next++
		if rnd.IntN(3) > 0 {
			e.Profiles = []string{[]string{"allow", "deny", "mixed"}[rnd.IntN(3)]}
		}
		set.Endpoints = append(set.Endpoints, e)
		return "added " + e.Name
	case 4:
		if len(set.Endpoints) == 1 {
			return "nothing"
		}
		i := rnd.IntN(len(set.Endpoints))
		name := set.Endpoints[i].Name
		set.Endpoints = append(set.Endpoints[:i:i], set.Endpoints[i+1:]...)
		return "removed " + name
	case 5:
		p := &set.Policies[rnd.IntN(len(set.Policies))]
		if len(p.Ingress) > 0 && rnd.IntN(2) == 0 {
			p.Ingress = append([]PolicyRule(nil), p.Ingress...)
			p.Ingress[rnd.IntN(len(p.Ingress))] = randPolicyRules(rnd, 1)[0]
		} else {
			p.Egress = randPolicyRules(rnd, rnd.IntN(3))
		}
		return "rules of " + p.Name
	case 6:
		p := &set.Profiles[2] // mixed
		p.Ingress = randPolicyRules(rnd, 3)
		return "rules of profile mixed"
	case 7:
		p := &set.Policies[rnd.IntN(len(set.Policies))]
		p.Selector = []string{"", "app == 'web'", "has(tier)", "app in {'db','cache'}", "!has(tier) || app == 'db'"}[rnd.IntN(5)]
		if rnd.IntN(2) == 0 {
			p.Order = ord(float64(rnd.IntN(3)))
		}
		return "selector of " + p.Name
	}
	return "nothing"
}

// TestCompileCachedDifferential applies random sequences of edits and
// checks that compiling with a cache decides every packet as compiling
// without one (and as the interpreter), and that the cache holds exactly
// the latest compile's programs. Deferred, every classifier the cache
// builds starts as a linear scan: it must decide the same before its
// trees are built and after, and TakePending hands over exactly the
// programs built.
func TestCompileCachedDifferential(t *testing.T) {
	rounds, steps := 30, 25
	if testing.Short() {
		rounds = 8
	}
	defer func(n int) { deferMin = n }(deferMin)
	for _, deferred := range []bool{false, true} {
		deferMin = 0
		for seed := range uint64(rounds) {
			rnd := rand.New(rand.NewPCG(seed, 13))
			set := randPolicySet(rnd)
			cache := NewProgramCache()
			cache.SetDefer(deferred)
			next := len(set.Endpoints)
			what := "initial"
			for step := range steps {
				if step > 0 {
					what = randEdit(rnd, set, &next)
				}
				builds := cache.builds
				got, gerr := CompilePolicyCached(set, cache)
				want, werr := CompilePolicy(set)
				if fmt.Sprint(gerr) != fmt.Sprint(werr) {
					t.Fatalf("seed %d step %d (%s): CompilePolicyCached error %v, CompilePolicy error %v", seed, step, what, gerr, werr)
				}
				if gerr != nil {
					continue
				}
				if what == "nothing" && cache.builds != builds {
					t.Errorf("seed %d step %d: recompiling an unchanged set built %d programs, want 0", seed, step, cache.builds-builds)
				}
				if n, w := cache.Len(), distinctPrograms(got); n != w {
					t.Errorf("seed %d step %d (%s): cache holds %d programs, the compile uses %d", seed, step, what, n, w)
				}
				check := func(when string) {
					tw := &interp{set: set}
					for _, ep := range set.Endpoints {
						for _, dir := range []PolicyType{Ingress, Egress} {
							for range 40 {
								k := randPolicyKey(rnd, set, ep, dir)
								gd, gref := decide(got, ep.Name, dir, &k)
								wd, wref := decide(want, ep.Name, dir, &k)
								if gd.Verdict != wd.Verdict || gd.Log != wd.Log || (gd.Rule >= 0) != (wd.Rule >= 0) || gref != wref {
									t.Fatalf("seed %d step %d (%s), %s: %s %s %+v: cached %v log=%v %v, uncached %v log=%v %v",
										seed, step, what, when, ep.Name, dir, k, gd.Verdict, gd.Log, gref, wd.Verdict, wd.Log, wref)
								}
								tv, tl, tref, tok := tw.decide(ep.Name, dir, &k)
								if gd.Verdict != tv || gd.Log != tl || (gd.Rule >= 0) != tok || gref != tref {
									t.Fatalf("seed %d step %d (%s), %s: %s %s %+v: cached %v log=%v %v, interpreter %v log=%v %v",
										seed, step, what, when, ep.Name, dir, k, gd.Verdict, gd.Log, gref, tv, tl, tref)
								}
							}
						}
					}
				}
				if !deferred {
					check("built whole")
					continue
				}
				check("as scans")
				pending := cache.TakePending()
				if len(pending) != cache.builds-builds {
					t.Errorf("seed %d step %d: %d programs pending, %d built", seed, step, len(pending), cache.builds-builds)
				}
				for _, p := range pending {
					if err := p.Optimize(); err != nil {
						t.Fatalf("seed %d step %d: Optimize: %v", seed, step, err)
					}
				}
				check("optimized")
				if p := cache.TakePending(); len(p) != 0 {
					t.Errorf("seed %d step %d: %d programs pending after TakePending", seed, step, len(p))
				}
			}
		}
	}
}

// tierSet is a small compute host: endpoints in apps and tiers, one
// policy per app whose rules allow each tier by selector, and a profile.
func tierSet(n int) *PolicySet {
	apps := []string{"web", "db", "cache"}
	set := &PolicySet{Profiles: []Profile{{Name: "base", Ingress: []PolicyRule{{Action: Allow}}, Egress: []PolicyRule{{Action: Allow}}}}}
	for i := range n {
		set.Endpoints = append(set.Endpoints, Endpoint{
			Name:     fmt.Sprintf("ep%d", i),
			Labels:   map[string]string{"app": apps[i%len(apps)], "tier": fmt.Sprint(i % 4)},
			Addrs:    []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1))},
			Profiles: []string{"base"},
		})
	}
	for a, app := range apps {
		p := Policy{Name: "pol-" + app, Order: ord(float64(a)), Selector: fmt.Sprintf("app == '%s'", app)}
		for r := range 4 {
			p.Ingress = append(p.Ingress, PolicyRule{Action: Allow, Protocol: "TCP",
				Source:      EntityMatch{Selector: fmt.Sprintf("tier == '%d'", r)},
				Destination: EntityMatch{Ports: []string{fmt.Sprint(8000 + r)}}})
		}
		p.Ingress = append(p.Ingress, PolicyRule{Action: Deny, Source: EntityMatch{Nets: []string{"100.64.0.0/10"}}})
		set.Policies = append(set.Policies, p)
	}
	return set
}

// TestProgramCacheHits: only a change to what a program is built from
// builds it again.
func TestProgramCacheHits(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(set *PolicySet)
		builds int // programs built by the second compile
	}{
		{"unchanged", func(*PolicySet) {}, 0},
		{"label no selector reads", func(set *PolicySet) { set.Endpoints[4].Labels["rev"] = "7" }, 0},
		// ep4 (db, tier 0) joins web: the web ingress program exists.
		{"label moves endpoint between programs", func(set *PolicySet) { set.Endpoints[4].Labels["app"] = "web" }, 0},
		{"same addresses by another selector", func(set *PolicySet) {
			set.Policies[1].Ingress[2].Source.Selector = "tier in {'2'}"
		}, 0},
		{"endpoint removed from no selector's set", func(set *PolicySet) {
			set.Endpoints = append(set.Endpoints, Endpoint{Name: "bare", Labels: map[string]string{"app": "web"}, Profiles: []string{"base"}})
		}, 0},
		// ep4 moves from tier 0 to tier 1: every app's ingress program
		// allows tiers 0 and 1 by selector and is built again; egress
		// programs (the profile only) are not.
		{"tier change", func(set *PolicySet) { set.Endpoints[4].Labels["tier"] = "1" }, 3},
		{"address change", func(set *PolicySet) { set.Endpoints[5].Addrs[0] = netip.MustParseAddr("198.18.1.1") }, 3},
		{"rule edit", func(set *PolicySet) { set.Policies[2].Ingress[4].Action = Log }, 1},
		{"new endpoint in a tier", func(set *PolicySet) {
			set.Endpoints = append(set.Endpoints, Endpoint{Name: "new", Labels: map[string]string{"app": "web", "tier": "3"},
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.2.1")}})
		}, 5}, // three ingress programs, and the new endpoint's two (web without a profile)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := tierSet(12)
			cache := NewProgramCache()
			first, err := CompilePolicyCached(set, cache)
			if err != nil {
				t.Fatal(err)
			}
			if cache.builds != distinctPrograms(first) || cache.hits != 0 {
				t.Fatalf("first compile: %d built, %d hits, want %d, 0", cache.builds, cache.hits, distinctPrograms(first))
			}
			tc.edit(set)
			before := cache.builds
			if _, err := CompilePolicyCached(set, cache); err != nil {
				t.Fatal(err)
			}
			if got := cache.builds - before; got != tc.builds {
				t.Errorf("second compile built %d programs, want %d", got, tc.builds)
			}
		})
	}
}

// TestProgramCacheDropsUnused: the cache holds the latest successful
// compile's programs and nothing else; a failed compile keeps them.
func TestProgramCacheDropsUnused(t *testing.T) {
	set := tierSet(12)
	cache := NewProgramCache()
	first, err := CompilePolicyCached(set, cache)
	if err != nil {
		t.Fatal(err)
	}
	webIn := first.Endpoint("ep0").Ingress
	// No endpoint is web any more: its ingress program goes.
	for i := range set.Endpoints {
		if set.Endpoints[i].Labels["app"] == "web" {
			set.Endpoints[i].Labels = map[string]string{"app": "db", "tier": set.Endpoints[i].Labels["tier"]}
		}
	}
	second, err := CompilePolicyCached(set, cache)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cache.Len(), distinctPrograms(second); got != want || got >= distinctPrograms(first) {
		t.Errorf("cache holds %d programs after the second compile, want %d (fewer than %d)", got, want, distinctPrograms(first))
	}
	for _, p := range cache.progs {
		if p == webIn {
			t.Errorf("cache still holds the web ingress program no endpoint uses")
		}
	}
	// A failed compile changes nothing.
	held := cache.Len()
	set.Policies[0].Ingress[0].Protocol = "bogus"
	if _, err := CompilePolicyCached(set, cache); err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("CompilePolicyCached(bad protocol) = %v, want a protocol error", err)
	}
	if cache.Len() != held {
		t.Errorf("a failed compile left %d programs in the cache, want %d", cache.Len(), held)
	}
	// Back to web: built again, not remembered.
	set.Policies[0].Ingress[0].Protocol = "TCP"
	set.Endpoints[0].Labels["app"] = "web"
	before := cache.builds
	if _, err := CompilePolicyCached(set, cache); err != nil {
		t.Fatal(err)
	}
	if cache.builds-before != 1 {
		t.Errorf("bringing web back built %d programs, want 1", cache.builds-before)
	}
}

func TestCanonicalSelector(t *testing.T) {
	tests := []struct{ a, b string }{
		{`tier == '1'`, `tier=="1"`},
		{`app in {'x', 'y'}`, `app in {"y","x","x"}`},
		{`!has(a) && (b != 'c' || d starts with 'e')`, `! has( a ) && (b!="c"||d starts with "e")`},
		{``, `   `},
	}
	for _, tc := range tests {
		ca, cb := canonText(t, tc.a), canonText(t, tc.b)
		if ca != cb {
			t.Errorf("canonical(%q) = %q, canonical(%q) = %q, want equal", tc.a, ca, tc.b, cb)
		}
	}
	if canonText(t, `a == 'b'`) == canonText(t, `a != 'b'`) {
		t.Errorf("== and != have one canonical text")
	}
	if canonText(t, `a == 'b' && (c == 'd' || e == 'f')`) == canonText(t, `(a == 'b' && c == 'd') || e == 'f'`) {
		t.Errorf("grouping lost in the canonical text")
	}
}

func canonText(t *testing.T, s string) string {
	t.Helper()
	sel, err := ParseSelector(s)
	if err != nil {
		t.Fatalf("ParseSelector(%q): %v", s, err)
	}
	var b strings.Builder
	canonical(&b, sel.root)
	return b.String()
}

// bigSet is a compute host's policy: n endpoints in five applications and
// seven tiers, and rules policy rules in policies of 100 (nets, ports, and
// one rule in ten allowing a tier by selector), as in ctl's
// BenchmarkApplyEndpointChange.
func bigSet(n, rules int) *PolicySet {
	apps := []string{"web", "db", "cache", "api", "batch"}
	set := &PolicySet{Profiles: []Profile{{Name: "base", Ingress: []PolicyRule{{Action: Allow}}, Egress: []PolicyRule{{Action: Allow}}}}}
	for i := range n {
		set.Endpoints = append(set.Endpoints, Endpoint{
			Name:     fmt.Sprintf("ep-%d", i),
			Labels:   map[string]string{"app": apps[i%len(apps)], "tier": fmt.Sprint(i % 7)},
			Addrs:    []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}), netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", i+1))},
			Profiles: []string{"base"},
		})
	}
	for p := 0; p*100 < rules; p++ {
		pol := Policy{Name: fmt.Sprintf("pol-%d", p), Order: ord(float64(p)), Selector: fmt.Sprintf("app == '%s'", apps[p%len(apps)]),
			Types: []PolicyType{Ingress, Egress}}
		for r := range min(100, rules-p*100) {
			rule := PolicyRule{Action: Allow, Protocol: "TCP",
				Source:      EntityMatch{Nets: []string{fmt.Sprintf("100.%d.%d.0/24", 64+p%64, r)}},
				Destination: EntityMatch{Ports: []string{fmt.Sprint(1000 + r)}}}
			switch r % 10 {
			case 0:
				rule.Source = EntityMatch{Selector: fmt.Sprintf("tier == '%d'", r%7)}
			case 1:
				rule.Action = Deny
			}
			if r%2 == 0 {
				pol.Ingress = append(pol.Ingress, rule)
			} else {
				pol.Egress = append(pol.Egress, rule)
			}
		}
		set.Policies = append(set.Policies, pol)
	}
	return set
}

// BenchmarkCompilePolicyCached: one endpoint changes on a host with 1,000
// endpoints and 10k rules. "labels": it moves to another application
// (between existing programs); "tier": it moves to another tier, so every
// program with a rule selecting that tier is built again; "uncached": no
// cache.
func BenchmarkCompilePolicyCached(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache bool
		tier  bool
	}{{"labels", true, false}, {"tier", true, true}, {"uncached", false, false}} {
		b.Run(bc.name, func(b *testing.B) {
			set := bigSet(1000, 10000)
			var cache *ProgramCache
			if bc.cache {
				cache = NewProgramCache()
			}
			if _, err := CompilePolicyCached(set, cache); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ep := &set.Endpoints[i%len(set.Endpoints)]
				tier := ep.Labels["tier"]
				if bc.tier {
					tier = fmt.Sprint((i%len(set.Endpoints) + 1 + i/len(set.Endpoints)) % 7)
				}
				ep.Labels = map[string]string{"app": "web", "tier": tier, "rev": fmt.Sprint(i)}
				if _, err := CompilePolicyCached(set, cache); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/compile")
		})
	}
}

// TestOptimizeWhileEvaluating: a program's trees replace its scan while
// other goroutines evaluate it (the race detector watches) and no answer
// changes on the way.
func TestOptimizeWhileEvaluating(t *testing.T) {
	set := tierSet(60)
	want, err := CompilePolicy(set)
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { deferMin = n }(deferMin)
	deferMin = 0
	cache := NewProgramCache()
	cache.SetDefer(true)
	got, err := CompilePolicyCached(set, cache)
	if err != nil {
		t.Fatal(err)
	}
	pending := cache.TakePending()
	if len(pending) == 0 {
		t.Fatal("nothing was built deferred")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 5))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ep := set.Endpoints[rnd.IntN(len(set.Endpoints))]
				k := randPolicyKey(rnd, set, ep, Ingress)
				gd, gref := decide(got, ep.Name, Ingress, &k)
				wd, wref := decide(want, ep.Name, Ingress, &k)
				if gd.Verdict != wd.Verdict || gref != wref {
					errs <- fmt.Sprintf("%s %+v: got %v %v, want %v %v", ep.Name, k, gd.Verdict, gref, wd.Verdict, wref)
					return
				}
			}
		}()
	}
	for _, p := range pending {
		if err := p.Optimize(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}
