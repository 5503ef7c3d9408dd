package ctl

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
)

// TestRuleHitsCarriedOver: an apply that keeps an endpoint's policy keeps
// its hit counters (the same fwd.RuleHits in the new tables); one that
// changes the policy starts new ones; RuleHits lists every rule and the
// default deny of every program.
func TestRuleHitsCarriedOver(t *testing.T) {
	c := bigHost(3, 2)
	d := benchDaemon(t, c)
	before := map[string][2]*fwd.RuleHits{}
	for k, v := range d.dp.st.hits.byEP {
		before[k] = v
	}
	if len(before) != 3 {
		t.Fatalf("counters for %d endpoints, want 3", len(before))
	}

	// An unrelated change (another endpoint's MTU): every program kept.
	next := *c
	next.WorkloadEndpoints = append([]config.WorkloadEndpoint(nil), c.WorkloadEndpoints...)
	next.WorkloadEndpoints[2].MTU = 1400
	if res := d.apply("reload", &next, d.apiEPs); !res.OK {
		t.Fatalf("reload: %v", config.Errors(res.Errors))
	}
	for name, h := range before {
		if d.dp.st.hits.byEP[name] != h {
			t.Errorf("%s: counters replaced by a change that kept its policy", name)
		}
	}
	// pol-0 selects app == 'web' (ep-0): its programs change, the others'
	// do not.
	next.Policy.Policies = append([]acl.Policy(nil), c.Policy.Policies...)
	next.Policy.Policies[0].Ingress = append(next.Policy.Policies[0].Ingress, acl.PolicyRule{Action: acl.Log})
	if res := d.apply("reload", &next, d.apiEPs); !res.OK {
		t.Fatalf("reload: %v", config.Errors(res.Errors))
	}
	if d.dp.st.hits.byEP["ep-0"][0] == before["ep-0"][0] {
		t.Errorf("ep-0's ingress counters kept across a change of its policy")
	}
	if d.dp.st.hits.byEP["ep-1"] != before["ep-1"] {
		t.Errorf("ep-1's counters replaced by a change of another endpoint's policy")
	}

	var ep0in []api.RuleHits
	for _, h := range d.ruleHits() {
		if h.Endpoint == "ep-0" && h.Direction == "ingress" {
			ep0in = append(ep0in, h)
		}
	}
	want := []api.RuleHits{
		{Endpoint: "ep-0", Direction: "ingress", Policy: "pol-0", Index: 0, Action: "Allow"},
		{Endpoint: "ep-0", Direction: "ingress", Policy: "pol-0", Index: 1, Action: "Log"},
		{Endpoint: "ep-0", Direction: "ingress", Profile: "base", Index: 0, Action: "Allow"},
		{Endpoint: "ep-0", Direction: "ingress", Index: -1, Action: "Deny"},
	}
	if diff := cmp.Diff(want, ep0in); diff != "" {
		t.Errorf("RuleHits of ep-0 ingress (-want +got):\n%s", diff)
	}
}
