package ctl

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/config"
)

// bigHost is a compute host's desired state: n endpoints in a few
// applications and rules policy rules over them (policies of 100 rules:
// nets, ports and label selectors), with conntrack.
func bigHost(n, rules int) *config.Config {
	c := &config.Config{
		Node:      config.Node{Name: "bench", RouterIPv4: "198.18.0.1", RouterIPv6: "2001:db8::1"},
		Dataplane: config.Dataplane{Conntrack: &config.Conntrack{Capacity: 65536}},
	}
	apps := []string{"web", "db", "cache", "api", "batch"}
	for i := range n {
		c.WorkloadEndpoints = append(c.WorkloadEndpoints, config.WorkloadEndpoint{
			Name: fmt.Sprintf("ep-%d", i), Interface: fmt.Sprintf("gbx%d", i),
			MAC:        fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			IPNetworks: []string{fmt.Sprintf("198.18.%d.%d/32", i/250, i%250+1), fmt.Sprintf("2001:db8:1::%x/128", i+1)},
			Labels:     map[string]string{"app": apps[i%len(apps)], "tier": fmt.Sprint(i % 7)},
			Profiles:   []string{"base"},
		})
	}
	c.Policy.Profiles = []acl.Profile{{Name: "base", Ingress: []acl.PolicyRule{{Action: acl.Allow}}, Egress: []acl.PolicyRule{{Action: acl.Allow}}}}
	for p := 0; p*100 < rules; p++ {
		order := float64(p)
		pol := acl.Policy{Name: fmt.Sprintf("pol-%d", p), Order: &order, Selector: fmt.Sprintf("app == '%s'", apps[p%len(apps)]),
			Types: []acl.PolicyType{"Ingress", "Egress"}}
		for r := range min(100, rules-p*100) {
			rule := acl.PolicyRule{Action: acl.Allow, Protocol: "TCP",
				Source:      acl.EntityMatch{Nets: []string{fmt.Sprintf("100.%d.%d.0/24", 64+p%64, r)}},
				Destination: acl.EntityMatch{Ports: []string{fmt.Sprint(1000 + r)}}}
			switch r % 10 {
			case 0:
				rule.Source = acl.EntityMatch{Selector: fmt.Sprintf("tier == '%d'", r%7)}
			case 1:
				rule.Action = acl.Deny
			}
			if r%2 == 0 {
				pol.Ingress = append(pol.Ingress, rule)
			} else {
				pol.Egress = append(pol.Egress, rule)
			}
		}
		c.Policy.Policies = append(c.Policy.Policies, pol)
	}
	return c
}

// benchDaemon is a daemon with a connection table and no workers: apply
// runs as in gannet run, and the endpoints' interfaces do not exist, so
// ports wait for them (no attach) as on a host where they are coming.
func benchDaemon(tb testing.TB, c *config.Config) *Daemon {
	tb.Helper()
	d, err := New(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := c.Validate()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := newStateful(plan)
	if err != nil {
		tb.Fatal(err)
	}
	d.dp = &dataplane{plan: plan, st: st}
	if res := d.apply("start", c, d.apiEPs); !res.OK {
		tb.Fatalf("start: %v", config.Errors(res.Errors))
	}
	return d
}

// BenchmarkApplyEndpointChange: one endpoint's labels change on a host
// with 1,000 endpoints and 10k policy rules — validate, compile (policy
// programs, routes, NAT policy) and publish. The budget is 50 ms.
// "labels": the endpoint moves to another application, its tier kept (no
// rule's addresses change: programs come from the daemon's cache);
// "tier": it moves to another tier, so the addresses of the rules that
// select tiers change and every program holding one is built again.
// Each apply starts from the base configuration, so the previous
// iteration's endpoint changes back in the same apply. ms/apply is the
// time to publish (programs that had to be built go out as linear scans);
// ms/trees is until the optimizer has built their decision trees as well.
func BenchmarkApplyEndpointChange(b *testing.B) {
	for _, bc := range []struct {
		name string
		tier bool
	}{{"labels", false}, {"tier", true}} {
		b.Run(bc.name, func(b *testing.B) {
			c := bigHost(1000, 10000)
			d := benchDaemon(b, c)
			b.ReportAllocs()
			b.ResetTimer()
			var publish, trees time.Duration
			for i := range b.N {
				next := *c
				next.WorkloadEndpoints = append([]config.WorkloadEndpoint(nil), c.WorkloadEndpoints...)
				j := i % len(next.WorkloadEndpoints)
				ep := next.WorkloadEndpoints[j]
				tier := ep.Labels["tier"]
				if bc.tier {
					tier = fmt.Sprint((j%7 + 1) % 7)
				}
				ep.Labels = map[string]string{"app": "web", "tier": tier, "rev": fmt.Sprint(i)}
				next.WorkloadEndpoints[j] = ep
				t0 := time.Now()
				if res := d.apply("api", &next, d.apiEPs); !res.OK {
					b.Fatalf("apply: %v", config.Errors(res.Errors))
				}
				publish += time.Since(t0)
				d.opt.wait()
				trees += time.Since(t0)
			}
			b.ReportMetric(float64(publish.Microseconds())/1e3/float64(b.N), "ms/apply")
			b.ReportMetric(float64(trees.Microseconds())/1e3/float64(b.N), "ms/trees")
		})
	}
}

// TestApplyKeepsPorts: changing one endpoint recompiles without touching
// the other ports (same slots), and a bad change changes nothing.
func TestApplyKeepsPorts(t *testing.T) {
	c := bigHost(20, 300)
	d := benchDaemon(t, c)
	slots := map[string]int{}
	for name, pt := range d.ports {
		slots[name] = pt.slot
	}
	gen := d.gen
	next := *c
	next.WorkloadEndpoints = append([]config.WorkloadEndpoint(nil), c.WorkloadEndpoints...)
	next.WorkloadEndpoints[3].Labels = map[string]string{"app": "db"}
	next.WorkloadEndpoints = append(next.WorkloadEndpoints[:5], next.WorkloadEndpoints[6:]...) // ep-5 goes
	res := d.apply("reload", &next, d.apiEPs)
	if !res.OK || d.gen != gen+1 {
		t.Fatalf("apply = %+v", res)
	}
	want := []string{"endpoint ep-3 changed", "endpoint ep-5 removed"}
	if got := changeSummary(res.Changes); got != strings.Join(want, ", ") {
		t.Errorf("changes = %s, want %s", got, strings.Join(want, ", "))
	}
	for name, pt := range d.ports {
		if pt.slot != slots[name] {
			t.Errorf("port %s moved from slot %d to %d", name, slots[name], pt.slot)
		}
	}
	if _, ok := d.ports["gbx5"]; ok {
		t.Errorf("the removed endpoint's port is still there")
	}
	// A new endpoint takes the freed slot.
	next2 := next
	next2.WorkloadEndpoints = append(append([]config.WorkloadEndpoint(nil), next.WorkloadEndpoints...), config.WorkloadEndpoint{
		Name: "new", Interface: "gbxnew", MAC: "02:00:00:aa:00:01", IPNetworks: []string{"198.19.0.1/32"}})
	if res := d.apply("api", &next2, d.apiEPs); !res.OK {
		t.Fatalf("adding: %v", config.Errors(res.Errors))
	}
	if d.ports["gbxnew"].slot != slots["gbx5"] {
		t.Errorf("new port in slot %d, want the freed slot %d", d.ports["gbxnew"].slot, slots["gbx5"])
	}
	// A bad change: nothing moves.
	gen = d.gen
	bad := next2
	bad.WorkloadEndpoints = append([]config.WorkloadEndpoint(nil), next2.WorkloadEndpoints...)
	bad.WorkloadEndpoints[0].MAC = "zz"
	res = d.apply("reload", &bad, d.apiEPs)
	if res.OK || d.gen != gen || len(res.Errors) != 1 || res.Errors[0].Field != "workloadEndpoints[0].mac" {
		t.Errorf("bad apply = %+v, generation %d -> %d", res, gen, d.gen)
	}
	// Restart-only settings are refused by name.
	bad = next2
	bad.Dataplane.Cores = []int{0, 1}
	if res := d.apply("reload", &bad, d.apiEPs); res.OK || res.Errors[0].Field != "dataplane.cores" {
		t.Errorf("changing cores = %+v", res)
	}
}
