package ctl

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
)

const apiTestConfig = `
node: {name: api-test, routerIPv4: 198.18.0.1}
dataplane: {conntrack: {capacity: 1024}}
workloadEndpoints:
  - {name: web, interface: gatweb0, mac: "02:00:00:00:00:0a", ipNetworks: [198.18.1.10/32], labels: {app: web}, profiles: [open]}
  - {name: db, interface: gatdb0, mac: "02:00:00:00:00:0b", ipNetworks: [198.18.1.11/32], labels: {app: db}, profiles: [open]}
policy:
  profiles: [{name: open, ingress: [{action: Allow}], egress: [{action: Allow}]}]
  policies:
    - name: db-ingress
      selector: app == 'db'
      types: [Ingress]
      ingress: [{action: Allow, protocol: TCP, destination: {ports: ["5432"]}}]
`

// apiDaemon runs a daemon with no workers (its interfaces do not exist:
// every port waits for its interface) and serves its API over HTTP.
func apiDaemon(t *testing.T) (*Daemon, *httptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gannet.yaml")
	if err := os.WriteFile(path, []byte(apiTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.ParseConfig([]byte(apiTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	d := benchDaemon(t, c)
	d.opts.ConfigPath, d.opts.Version = path, "test"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.loop(ctx); close(done) }()
	srv := httptest.NewServer(d.handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return d, srv, path
}

// call makes one request and decodes the answer into out (when non-nil).
func call(t *testing.T, srv *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func fields(e api.ErrorBody) []string {
	var out []string
	for _, fe := range e.Errors {
		out = append(out, fe.Field)
	}
	return out
}

func TestAPIEndpoints(t *testing.T) {
	_, srv, _ := apiDaemon(t)
	var eps []api.Endpoint
	if code := call(t, srv, "GET", "/v1/endpoints", "", &eps); code != 200 || len(eps) != 2 || eps[0].Source != "file" || eps[0].State != "missing" {
		t.Fatalf("GET /v1/endpoints = %d %+v", code, eps)
	}
	const cache = `{"name": "cache", "interface": "gatcache0", "mac": "02:00:00:00:00:0c", "ipNetworks": ["198.18.1.12/32"], "labels": {"app": "cache"}}`
	var got api.Endpoint
	if code := call(t, srv, "PUT", "/v1/endpoints/cache", cache, &got); code != 201 || got.Source != "api" || got.Name != "cache" {
		t.Fatalf("PUT (create) = %d %+v, want 201", code, got)
	}
	if code := call(t, srv, "PUT", "/v1/endpoints/cache", cache, &got); code != 200 {
		t.Errorf("PUT (replace) = %d, want 200", code)
	}
	tests := []struct {
		name, path, body string
		code             int
		fields           []string
	}{
		{"name differs from the path", "/v1/endpoints/other", cache, 400, []string{"name"}},
		{"unknown field", "/v1/endpoints/cache", `{"name": "cache", "macc": "x"}`, 400, []string{""}},
		{"bad mac", "/v1/endpoints/x", `{"name": "x", "interface": "gatx0", "mac": "zz", "ipNetworks": ["198.18.1.13/32"]}`, 422, []string{"mac"}},
		{"two problems", "/v1/endpoints/x", `{"name": "x", "interface": "gatx0", "mac": "zz", "ipNetworks": ["198.18.1.0/24"]}`, 422, []string{"mac", "ipNetworks[0]"}},
		{"address taken", "/v1/endpoints/x", `{"name": "x", "interface": "gatx0", "mac": "02:00:00:00:00:0d", "ipNetworks": ["198.18.1.10/32"]}`, 422, []string{"ipNetworks[0]"}},
		{"file endpoint", "/v1/endpoints/web", `{"name": "web", "interface": "gatweb0", "mac": "02:00:00:00:00:0a", "ipNetworks": ["198.18.1.10/32"]}`, 422, []string{"name"}},
		{"read-only field", "/v1/endpoints/x", `{"name": "x", "interface": "gatx0", "mac": "02:00:00:00:00:0d", "ipNetworks": ["198.18.1.13/32"], "state": "up"}`, 400, []string{"source"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e api.ErrorBody
			code := call(t, srv, "PUT", tc.path, tc.body, &e)
			if code != tc.code {
				t.Errorf("PUT %s = %d, want %d (%+v)", tc.path, code, tc.code, e)
			}
			if diff := cmp.Diff(tc.fields, fields(e)); diff != "" {
				t.Errorf("error fields (-want +got):\n%s\n%+v", diff, e)
			}
		})
	}
	// Nothing of the refused writes took.
	if code := call(t, srv, "GET", "/v1/endpoints", "", &eps); code != 200 || len(eps) != 3 {
		t.Errorf("after the refused writes: %d endpoints, want 3", len(eps))
	}
	var e api.ErrorBody
	if code := call(t, srv, "DELETE", "/v1/endpoints/web", "", &e); code != 409 || !strings.Contains(e.Errors[0].Message, "configuration file") {
		t.Errorf("DELETE of a file endpoint = %d %+v, want 409", code, e)
	}
	if code := call(t, srv, "DELETE", "/v1/endpoints/cache", "", nil); code != 204 {
		t.Errorf("DELETE = %d, want 204", code)
	}
	if code := call(t, srv, "DELETE", "/v1/endpoints/cache", "", nil); code != 404 {
		t.Errorf("DELETE again = %d, want 404", code)
	}
	if code := call(t, srv, "GET", "/v1/endpoints/cache", "", nil); code != 404 {
		t.Errorf("GET of a deleted endpoint = %d, want 404", code)
	}
}

func TestAPIReload(t *testing.T) {
	_, srv, path := apiDaemon(t)
	var st api.Status
	call(t, srv, "GET", "/v1/status", "", &st)
	gen := st.Generation
	// An API endpoint whose name the file then also uses: the reload
	// names the file's entry.
	call(t, srv, "PUT", "/v1/endpoints/cache", `{"name": "cache", "interface": "gatcache0", "mac": "02:00:00:00:00:0c", "ipNetworks": ["198.18.1.12/32"]}`, nil)
	clash := apiTestConfig + "  - {name: cache, interface: gatc2, mac: '02:00:00:00:00:0e', ipNetworks: [198.18.1.14/32]}\n"
	clash = strings.Replace(clash, "policy:", "policyX:", 1) // and an unknown field
	os.WriteFile(path, []byte(clash), 0o644)
	var res api.ApplyResult
	if code := call(t, srv, "POST", "/v1/reload", "", &res); code != 422 || res.OK || len(res.Errors) == 0 {
		t.Fatalf("reload of a bad file = %d %+v, want 422", code, res)
	}
	// Valid YAML, but the name clashes.
	os.WriteFile(path, []byte(strings.Replace(apiTestConfig, "ipNetworks: [198.18.1.11/32]", "ipNetworks: [198.18.1.11/32]}\n  - {name: cache, interface: gatc2, mac: '02:00:00:00:00:0e', ipNetworks: [198.18.1.14/32]", 1)), 0o644)
	if code := call(t, srv, "POST", "/v1/reload", "", &res); code != 422 || len(res.Errors) != 1 || res.Errors[0].Field != "workloadEndpoints[2].name" {
		t.Fatalf("reload with a name the API also uses = %d %+v", code, res)
	}
	call(t, srv, "GET", "/v1/status", "", &st)
	if st.Generation != gen+1 || st.LastApply == nil || st.LastApply.OK {
		t.Errorf("after refused reloads: generation %d (want %d, the PUT's), last apply %+v", st.Generation, gen+1, st.LastApply)
	}
	// A good change: the policy's port.
	os.WriteFile(path, []byte(strings.Replace(apiTestConfig, `"5432"`, `"5433"`, 1)), 0o644)
	if code := call(t, srv, "POST", "/v1/reload", "", &res); code != 200 || !res.OK {
		t.Fatalf("good reload = %d %+v", code, res)
	}
	if diff := cmp.Diff([]api.Change{{Kind: "policy", Name: "db-ingress", Op: "changed"}}, res.Changes); diff != "" {
		t.Errorf("reload changes (-want +got):\n%s", diff)
	}
	var pol api.Policy
	if code := call(t, srv, "GET", "/v1/policy/db", "", &pol); code != 200 || !pol.IngressPolicy || len(pol.Ingress) == 0 || !strings.Contains(strings.Join(pol.Ingress, "\n"), "db-ingress") {
		t.Errorf("GET /v1/policy/db = %d %+v", code, pol)
	}
	if code := call(t, srv, "GET", "/v1/policy/nope", "", nil); code != 404 {
		t.Errorf("policy of an unknown endpoint = %d, want 404", code)
	}
}

func TestAPIRoutesAndTrace(t *testing.T) {
	_, srv, _ := apiDaemon(t)
	var routes []api.Route
	if code := call(t, srv, "GET", "/v1/routes?space=0", "", &routes); code != 200 || len(routes) != 2 {
		t.Fatalf("routes = %d %+v", code, routes)
	}
	want := api.Route{Space: 0, Prefix: "198.18.1.10/32", Kind: "endpoint", Interface: "gatweb0", Endpoint: "web", Down: true}
	if diff := cmp.Diff(want, routes[0]); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
	var lk api.Lookup
	if code := call(t, srv, "GET", "/v1/routes/lookup?space=0&addr=198.18.1.11", "", &lk); code != 200 || !lk.Found || lk.Route.Endpoint != "db" {
		t.Errorf("lookup = %d %+v", code, lk)
	}
	if code := call(t, srv, "GET", "/v1/routes/lookup?space=0&addr=203.0.113.1", "", &lk); code != 200 || lk.Found {
		t.Errorf("lookup of an unrouted address = %d %+v", code, lk)
	}
	var e api.ErrorBody
	if code := call(t, srv, "GET", "/v1/routes/lookup?addr=nope", "", &e); code != 400 || e.Errors[0].Field != "addr" {
		t.Errorf("lookup of a bad address = %d %+v", code, e)
	}
	if code := call(t, srv, "GET", "/v1/routes?space=x", "", &e); code != 400 || e.Errors[0].Field != "space" {
		t.Errorf("routes of a bad space = %d %+v", code, e)
	}
	// A trace through the live tables: web's interface is missing, so db
	// is down and the packet would be answered unreachable.
	var tr api.Trace
	if code := call(t, srv, "POST", "/v1/trace", `{"in": "gatweb0", "src": "198.18.1.10", "dst": "198.18.1.11", "proto": "tcp", "dstPort": 5432}`, &tr); code != 200 || tr.Verdict == "" || len(tr.Steps) == 0 {
		t.Errorf("trace = %d %+v", code, tr)
	}
	t.Logf("trace: %+v", tr)
	for _, tc := range []struct{ body, field string }{
		{`{"in": "nope", "src": "198.18.1.10", "dst": "198.18.1.11"}`, "in"},
		{`{"in": "gatweb0", "src": "x", "dst": "198.18.1.11"}`, "src"},
		{`{"in": "gatweb0", "src": "198.18.1.10", "dst": "198.18.1.11", "proto": "sctp"}`, "proto"},
		{`{"in": "gatweb0", "src": "198.18.1.10", "dst": "198.18.1.11", "tcpFlags": "SZ"}`, "tcpFlags"},
	} {
		if code := call(t, srv, "POST", "/v1/trace", tc.body, &e); code != 400 || e.Errors[0].Field != tc.field {
			t.Errorf("trace %s = %d %+v, want 400 naming %s", tc.body, code, e, tc.field)
		}
	}
	var c api.Counters
	if code := call(t, srv, "GET", "/v1/counters", "", &c); code != 200 || len(c.Ports) != 2 {
		t.Errorf("counters = %d %+v", code, c)
	}
	var s api.Sessions
	if code := call(t, srv, "GET", "/v1/sessions?limit=5", "", &s); code != 200 || s.Capacity != 1024 {
		t.Errorf("sessions = %d %+v", code, s)
	}
	if code := call(t, srv, "GET", "/v1/sessions?limit=0", "", &e); code != 400 || e.Errors[0].Field != "limit" {
		t.Errorf("sessions limit 0 = %d %+v", code, e)
	}
}
