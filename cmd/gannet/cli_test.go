package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/pcapio"
)

func init() { displayLocation = time.UTC }

// The fake daemon's objects: a compute host with an uplink, three
// workloads (one whose interface is missing, one whose attach failed),
// NAT and a translated space.

var (
	cliStarted = time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)

	cliStatus = api.Status{
		Version:       "0.9.0",
		Node:          "compute-7",
		Started:       cliStarted,
		UptimeSeconds: 11045.4,
		Config:        "/etc/gannet/gannet.yaml",
		Workers:       []api.Worker{{Index: 0, CPU: 2}, {Index: 1, CPU: 3}},
		Ports: []api.Port{
			{Interface: "eth0", Role: "uplink", Ifindex: 2, State: "up", MTU: 9000, XDPMode: "native", XSKMode: "zerocopy"},
			{Interface: "tap-web1", Role: "workload", Endpoint: "web-1", Ifindex: 7, State: "up", MTU: 1500, XDPMode: "generic", XSKMode: "copy"},
			{Interface: "tap-web2", Role: "workload", Endpoint: "web-2", Ifindex: 8, State: "down", MTU: 1500, XDPMode: "generic", XSKMode: "copy", Copying: true},
			{Interface: "tap-db1", Role: "workload", Endpoint: "db-1", State: "missing"},
			{Interface: "tap-cache1", Role: "workload", Endpoint: "cache-1", Ifindex: 9, State: "error", MTU: 1500, Error: "attach XDP program: device or resource busy (retrying)"},
		},
		Generation: 42,
		LastApply: &api.ApplyResult{
			Source: "api", Time: time.Date(2025, 6, 2, 11, 3, 0, 0, time.UTC), DurationSeconds: 0.0123,
			OK: true, Generation: 42,
			Changes: []api.Change{{Kind: "endpoint", Name: "web-2", Op: "added"}, {Kind: "port", Name: "tap-web2", Op: "added"}},
		},
	}

	cliEndpoints = []api.Endpoint{
		{Name: "web-1", Interface: "tap-web1", MAC: "02:00:00:00:01:05", IPNetworks: []string{"10.0.1.5/32", "fd00:1::5/128"},
			Labels: map[string]string{"app": "web", "tier": "front"}, Profiles: []string{"web"}, Source: "file", State: "up"},
		{Name: "web-2", Interface: "tap-web2", MAC: "02:00:00:00:01:06", IPNetworks: []string{"10.0.1.6/32"},
			Labels: map[string]string{"app": "web"}, Profiles: []string{"web"}, MTU: 1500, Source: "api", State: "down"},
		{Name: "db-1", Interface: "tap-db1", MAC: "02:00:00:00:02:07", IPNetworks: []string{"10.0.2.7/32"}, AddressSpace: 1,
			Labels: map[string]string{"app": "db"}, Source: "file", State: "missing"},
	}

	cliRoutes = []api.Route{
		{Space: 0, Prefix: "0.0.0.0/0", Kind: "gateway", Via: "192.0.2.1", Interface: "eth0"},
		{Space: 0, Prefix: "10.0.1.5/32", Kind: "endpoint", Interface: "tap-web1", Endpoint: "web-1"},
		{Space: 0, Prefix: "10.0.1.6/32", Kind: "endpoint", Interface: "tap-web2", Endpoint: "web-2", Down: true},
		{Space: 0, Prefix: "192.0.2.0/24", Kind: "connected", Interface: "eth0"},
		{Space: 0, Prefix: "::/0", Kind: "gateway", Via: "fe80::1", Interface: "eth0"},
		{Space: 0, Prefix: "fd00:1::5/128", Kind: "endpoint", Interface: "tap-web1", Endpoint: "web-1"},
		{Space: 1, Prefix: "10.0.2.7/32", Kind: "endpoint", Interface: "tap-db1", Endpoint: "db-1", Down: true},
		{Space: 1, Prefix: "64:ff9b::/96", Kind: "translate", TranslateSpace: 0},
	}

	cliSessions = api.Sessions{Total: 1204, Capacity: 262144, Sessions: []api.Session{
		{Original: api.Tuple{Proto: "tcp", Src: "10.0.1.5", Dst: "203.0.113.9", SrcPort: 40112, DstPort: 443},
			Reply: api.Tuple{Proto: "tcp", Src: "203.0.113.9", Dst: "198.51.100.7", SrcPort: 443, DstPort: 61000},
			State: "established", ExpiresSeconds: 7199.2},
		{Original: api.Tuple{Proto: "udp", Src: "fd00:1::5", Dst: "2001:db8:53::1", SrcPort: 53000, DstPort: 53},
			Reply: api.Tuple{Proto: "udp", Src: "2001:db8:53::1", Dst: "fd00:1::5", SrcPort: 53, DstPort: 53000},
			State: "replied", ExpiresSeconds: 28.5},
		{Original: api.Tuple{Proto: "icmp", Src: "10.0.1.5", Dst: "192.0.2.9"},
			Reply: api.Tuple{Proto: "icmp", Src: "192.0.2.9", Dst: "10.0.1.5"},
			State: "new", ExpiresSeconds: 29},
		{Original: api.Tuple{Space: 1, Proto: "udp", Src: "10.0.2.7", Dst: "192.0.2.50", SrcPort: 5000, DstPort: 123},
			Reply: api.Tuple{Space: 0, Proto: "udp", Src: "192.0.2.50", Dst: "198.51.100.8", SrcPort: 123, DstPort: 5000},
			State: "replied", ExpiresSeconds: 112},
	}}

	cliCounters = api.Counters{
		RxPackets: 48213377, TxPackets: 48190022, TxBytes: 41234567890, Forwarded: 48190022, ToHost: 812, Dropped: 23355,
		Drops: []api.Drop{
			{Stage: "parse", Reason: "bad-ihl", Packets: 12},
			{Stage: "anti-spoof", Reason: "spoofed-source", Packets: 3},
			{Stage: "policy", Reason: "policy-deny", Packets: 23000},
			{Stage: "route", Reason: "no-route", Packets: 340},
		},
		ICMP: map[string]uint64{"sent": 340, "rate-limited": 12},
		Ports: []api.PortCounters{
			{Interface: "eth0", RxPackets: 24100000, RxBytes: 20612345678, TxPackets: 24090000, TxBytes: 20600000000},
			{Interface: "tap-web1", RxPackets: 24113377, RxBytes: 20622222212, TxPackets: 24100022, TxBytes: 20634567890},
			{Interface: "tap-web2", RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0},
		},
		XDP: []api.XDPCounters{
			{Interface: "eth0", Decisions: map[string]uint64{"redirect": 24100000, "pass": 1211}},
			{Interface: "tap-web1", Decisions: map[string]uint64{"redirect": 24113377, "pass": 40}},
		},
	}

	cliPolicy = api.Policy{
		Endpoint: "web-1",
		Ingress: []string{
			"allow tcp from 10.0.0.0/8 to port 443  [policy web-ingress, rule allow-https]",
			"allow icmp type 8  [policy web-ingress, rule allow-ping]",
			"deny  [policy web-ingress, end of tier]",
		},
		IngressPolicy:      true,
		IngressHits:        []uint64{1203, 57, 0},
		IngressDefaultDeny: 12,
	}

	cliHostPolicy = api.Policy{
		Endpoint: "core", HostEndpoint: "eth0",
		Ingress:       []string{"allow from 203.0.113.2/32  [policy core-forward]"},
		Egress:        []string{},
		IngressPolicy: true, IngressHits: []uint64{18}, IngressDefaultDeny: 4,
	}

	cliReload = api.Reload{
		Source: "reload", Time: time.Date(2025, 6, 2, 11, 10, 0, 0, time.UTC), DurationSeconds: 0.0081,
		OK: true, Generation: 43,
		Changes: []api.Change{
			{Kind: "endpoint", Name: "db-2", Op: "added"},
			{Kind: "policy", Name: "web-ingress", Op: "changed"},
			{Kind: "route", Name: "203.0.113.0/24", Op: "removed"},
		},
	}

	cliReloadFailed = api.Reload{
		Source: "reload", Time: time.Date(2025, 6, 2, 11, 12, 0, 0, time.UTC), DurationSeconds: 0.0011,
		Generation: 43,
		Errors: []api.FieldError{
			{Field: "workloadEndpoints[2].mac", Message: `"02:00:00:00:02" is not a MAC address`},
			{Field: "policies[0].ingress[1].ports[0]", Message: "70000 is not a port"},
		},
	}

	cliTrace = api.Trace{
		Steps: []api.TraceStep{
			{Stage: "parse", Verdict: "ok", Detail: "IPv4 TCP 10.0.1.5:40112 -> 203.0.113.9:443 flags S ttl 64 len 40"},
			{Stage: "port", Verdict: "ok", Detail: "workload port tap-web1, endpoint web-1, space 0"},
			{Stage: "anti-spoof", Verdict: "ok", Detail: "source 10.0.1.5 is endpoint web-1's"},
			{Stage: "route", Verdict: "ok", Detail: "203.0.113.9 in space 0 via 0.0.0.0/0: gateway 192.0.2.1 on eth0"},
			{Stage: "conntrack", Verdict: "ok", Detail: "new session: source NAT 10.0.1.5:40112 -> 198.51.100.7:61000"},
			{Stage: "policy", Verdict: "ok", Detail: "egress of web-1: no policy"},
			{Stage: "neighbour", Verdict: "ok", Detail: "192.0.2.1 is at 02:42:c0:00:02:01"},
			{Stage: "forward", Verdict: "ok", Detail: "out of eth0, ttl 63"},
		},
		Verdict: "forward",
		Egress:  "eth0",
	}
)

// fakeDaemon serves the fixture objects on a unix socket and records
// every request.
type fakeDaemon struct {
	empty   bool // answer empty lists and a zero state
	failing bool // reload fails, status shows the failed apply, counters are forbidden

	mu   sync.Mutex
	reqs []fakeReq
}

type fakeReq struct {
	Method, Path, Query string
	Body                []byte
}

func (f *fakeDaemon) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeDaemon) serve(t *testing.T) string {
	t.Helper()
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, code int, errs ...api.FieldError) {
		reply(w, code, api.ErrorBody{Errors: errs})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := cliStatus
		if f.failing {
			la := cliReloadFailed
			st.LastApply = &la
		}
		if f.empty {
			st.Ports, st.LastApply = nil, nil
		}
		reply(w, 200, st)
	})
	mux.HandleFunc("GET /v1/endpoints", func(w http.ResponseWriter, r *http.Request) {
		if f.empty {
			reply(w, 200, []api.Endpoint{})
			return
		}
		reply(w, 200, cliEndpoints)
	})
	mux.HandleFunc("GET /v1/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, ep := range cliEndpoints {
			if ep.Name == r.PathValue("name") {
				reply(w, 200, ep)
				return
			}
		}
		fail(w, 404, api.FieldError{Field: "name", Message: fmt.Sprintf("no endpoint %q", r.PathValue("name"))})
	})
	mux.HandleFunc("PUT /v1/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		var ep api.Endpoint
		dec := json.NewDecoder(bytes.NewReader(f.requests()[len(f.requests())-1].Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ep); err != nil {
			fail(w, 400, api.FieldError{Message: "body: " + err.Error()})
			return
		}
		switch {
		case ep.Name != r.PathValue("name"):
			fail(w, 400, api.FieldError{Field: "name", Message: "differs from the path"})
		case ep.Name == "bad-1":
			fail(w, 422,
				api.FieldError{Field: "ipNetworks[0]", Message: `"10.0.1.300/32" is not a prefix`},
				api.FieldError{Field: "mac", Message: "is required"})
		case ep.Name == "web-1" || ep.Name == "web-2":
			reply(w, 200, ep)
		default:
			reply(w, 201, ep)
		}
	})
	mux.HandleFunc("DELETE /v1/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		switch name := r.PathValue("name"); name {
		case "web-2":
			w.WriteHeader(204)
		case "web-1":
			fail(w, 409, api.FieldError{Field: "name", Message: `endpoint "web-1" is defined in the configuration file: remove it there and run gannet reload`})
		default:
			fail(w, 404, api.FieldError{Field: "name", Message: fmt.Sprintf("no endpoint %q made through the API", name)})
		}
	})
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, r *http.Request) {
		rs := []api.Route{}
		for _, rt := range cliRoutes {
			if f.empty {
				break
			}
			if s := r.URL.Query().Get("space"); s == "" || s == fmt.Sprint(rt.Space) {
				rs = append(rs, rt)
			}
		}
		reply(w, 200, rs)
	})
	mux.HandleFunc("GET /v1/routes/lookup", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		l := api.Lookup{Addr: q.Get("addr")}
		fmt.Sscan(q.Get("space"), &l.Space)
		switch {
		case l.Space == 0 && l.Addr == "10.0.1.5":
			l.Found, l.Route = true, &cliRoutes[1]
		case l.Space == 0 && !strings.Contains(l.Addr, ":"):
			l.Found, l.Route = true, &cliRoutes[0]
		}
		reply(w, 200, l)
	})
	mux.HandleFunc("GET /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		ss := cliSessions
		if f.empty {
			ss.Total, ss.Sessions = 0, []api.Session{}
		}
		if r.URL.Query().Get("limit") == "2" {
			ss.Sessions = ss.Sessions[:2]
		}
		reply(w, 200, ss)
	})
	mux.HandleFunc("GET /v1/counters", func(w http.ResponseWriter, r *http.Request) {
		if f.failing {
			fail(w, 403, api.FieldError{Message: "uid 1000 is neither root nor in group gannet"})
			return
		}
		if f.empty {
			reply(w, 200, api.Counters{Drops: []api.Drop{}, ICMP: map[string]uint64{}, Ports: []api.PortCounters{}})
			return
		}
		reply(w, 200, cliCounters)
	})
	mux.HandleFunc("GET /v1/policy/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		if !f.empty && r.PathValue("endpoint") == "core" {
			reply(w, 200, cliHostPolicy)
			return
		}
		if f.empty || r.PathValue("endpoint") != "web-1" {
			reply(w, 200, api.Policy{Endpoint: r.PathValue("endpoint"), Ingress: []string{}, Egress: []string{}})
			return
		}
		reply(w, 200, cliPolicy)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case f.failing:
			reply(w, 422, cliReloadFailed)
		case f.empty:
			reply(w, 200, api.Reload{Source: "reload", OK: true, Generation: 42, Time: cliStarted})
		default:
			reply(w, 200, cliReload)
		}
	})
	mux.HandleFunc("POST /v1/trace", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, cliTrace)
	})

	sock := filepath.Join(t.TempDir(), "gannet.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, fakeReq{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body})
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// runCLI runs gannet with args and --socket sock and returns its stdout
// and what main would print on stderr.
func runCLI(t *testing.T, sock string, stdin io.Reader, args ...string) (stdout, stderr string) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if stdin != nil {
		root.SetIn(stdin)
	}
	root.SetArgs(append(args, "--socket", sock))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(&errOut, "gannet:", err)
	}
	return out.String(), errOut.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestCLI -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("gannet output differs from %s (-want +got):\n%s", path, diff)
	}
}

// TestCLIGolden runs each verb against the fake daemon and compares its
// stdout with testdata/cli/NAME.golden (go test -update rewrites them).
func TestCLIGolden(t *testing.T) {
	full, empty, failing := &fakeDaemon{}, &fakeDaemon{empty: true}, &fakeDaemon{failing: true}
	socks := map[*fakeDaemon]string{full: full.serve(t), empty: empty.serve(t), failing: failing.serve(t)}
	tests := []struct {
		name string
		fake *fakeDaemon
		args []string
	}{
		{"status", full, []string{"status"}},
		{"status-json", full, []string{"status", "-o", "json"}},
		{"status-yaml", full, []string{"status", "-o", "yaml"}},
		{"status-apply-failed", failing, []string{"status"}},
		{"status-empty", empty, []string{"status"}},
		{"endpoints", full, []string{"endpoints"}},
		{"endpoints-json", full, []string{"endpoints", "-o", "json"}},
		{"endpoints-yaml", full, []string{"endpoints", "-o", "yaml"}},
		{"endpoints-empty", empty, []string{"endpoints"}},
		{"endpoints-empty-json", empty, []string{"endpoints", "-o", "json"}},
		{"endpoint-one", full, []string{"endpoints", "web-1"}},
		{"endpoint-one-yaml", full, []string{"endpoints", "web-1", "-o", "yaml"}},
		{"routes", full, []string{"routes"}},
		{"routes-json", full, []string{"routes", "-o", "json"}},
		{"routes-yaml", full, []string{"routes", "-o", "yaml"}},
		{"routes-space", full, []string{"routes", "--space", "1"}},
		{"routes-empty", empty, []string{"routes", "--space", "3"}},
		{"routes-lookup", full, []string{"routes", "10.0.1.5"}},
		{"routes-lookup-json", full, []string{"routes", "203.0.113.9", "-o", "json"}},
		{"routes-lookup-miss", full, []string{"routes", "--space", "1", "8.8.8.8"}},
		{"sessions", full, []string{"sessions"}},
		{"sessions-json", full, []string{"sessions", "-o", "json"}},
		{"sessions-limit", full, []string{"sessions", "--addr", "10.0.1.5", "--limit", "2"}},
		{"sessions-empty", empty, []string{"sessions", "--addr", "10.9.9.9"}},
		{"counters", full, []string{"counters"}},
		{"counters-json", full, []string{"counters", "-o", "json"}},
		{"counters-yaml", full, []string{"counters", "-o", "yaml"}},
		{"counters-empty", empty, []string{"counters"}},
		{"policy", full, []string{"policy", "web-1"}},
		{"policy-json", full, []string{"policy", "web-1", "-o", "json"}},
		{"policy-none", full, []string{"policy", "db-1"}},
		{"policy-host-endpoint", full, []string{"policy", "core"}},
		{"reload", full, []string{"reload"}},
		{"reload-json", full, []string{"reload", "-o", "json"}},
		{"reload-no-changes", empty, []string{"reload"}},
		{"trace", full, []string{"trace", "--in", "tap-web1", "--src", "10.0.1.5", "--dst", "203.0.113.9", "--proto", "tcp", "--dport", "443", "--sport", "40112"}},
		{"trace-json", full, []string{"trace", "--in", "tap-web1", "--src", "10.0.1.5", "--dst", "203.0.113.9", "--dport", "443", "-o", "json"}},
		{"trace-yaml", full, []string{"trace", "--in", "tap-web1", "--src", "10.0.1.5", "--dst", "203.0.113.9", "--dport", "443", "-o", "yaml"}},
		{"endpoint-delete", full, []string{"endpoint", "delete", "web-2"}},
		{"endpoint-delete-json", full, []string{"endpoint", "delete", "web-2", "-o", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr := runCLI(t, socks[tc.fake], nil, tc.args...)
			if stderr != "" {
				t.Errorf("gannet %s: stderr %q, want none", strings.Join(tc.args, " "), stderr)
			}
			checkGolden(t, tc.name, stdout)
		})
	}
}

// TestCLICountersWatch renders the watch view of two snapshots two
// seconds apart, and runs --watch for two frames.
func TestCLICountersWatch(t *testing.T) {
	next := cliCounters
	next.RxPackets += 2_000_000
	next.TxPackets += 1_999_000
	next.TxBytes += 2_500_000_000
	next.Forwarded += 1_999_000
	next.Dropped += 1000
	next.Drops = append([]api.Drop(nil), cliCounters.Drops...)
	next.Drops[2].Packets += 998
	next.Drops = append(next.Drops, api.Drop{Stage: "xlat", Reason: "too-big", Packets: 2})
	next.ICMP = map[string]uint64{"sent": 342, "rate-limited": 12}
	next.Ports = append([]api.PortCounters(nil), cliCounters.Ports...)
	next.Ports[0].RxPackets += 1_000_000
	next.Ports[0].RxBytes += 1_250_000_000
	next.Ports[1].TxPackets += 999_000
	next.Ports[1].TxBytes += 1_248_750_000
	next.XDP = []api.XDPCounters{
		{Interface: "eth0", Decisions: map[string]uint64{"redirect": 25100000, "pass": 1215}},
		{Interface: "tap-web1", Decisions: map[string]uint64{"redirect": 25113377, "pass": 40}},
	}
	var b bytes.Buffer
	if err := printCounters(&b, &next, &cliCounters, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "counters-watch", b.String())

	f := &fakeDaemon{}
	sock := f.serve(t)
	watchFrames = 2
	defer func() { watchFrames = 0 }()
	stdout, stderr := runCLI(t, sock, nil, "counters", "--watch", "100ms")
	if stderr != "" || strings.Count(stdout, "every 100ms") != 2 || strings.Count(stdout, "per second") != 1 {
		t.Errorf("gannet counters --watch 100ms: stdout\n%s\nstderr %q; want two frames, the second with rates", stdout, stderr)
	}
	stdout, _ = runCLI(t, sock, nil, "counters", "--watch=100ms", "-o", "json")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 || !json.Valid([]byte(lines[1])) {
		t.Errorf("gannet counters --watch=100ms -o json: %q, want two JSON lines", stdout)
	}
}

// TestCLIErrors checks what an operator sees when something is wrong:
// the message main prints on stderr, with the fake's socket as SOCK.
func TestCLIErrors(t *testing.T) {
	full, failing := &fakeDaemon{}, &fakeDaemon{failing: true}
	socks := map[*fakeDaemon]string{full: full.serve(t), failing: failing.serve(t)}
	dir := t.TempDir()
	missing := filepath.Join(dir, "gannet.sock")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badApply := write("bad.yaml", `
- name: web-3
  interface: tap-web3
  mac: "02:00:00:00:01:07"
  ipNetworks: [10.0.1.7/32]
- name: bad-1
  interface: tap-bad1
  ipNetworks: [10.0.1.300/32]
`)
	typo := write("typo.yaml", "name: web-3\ninterface: tap-web3\nipNetwork: [10.0.1.7/32]\n")
	noName := write("noname.json", `[{"name":"web-3","interface":"tap-web3"},{"interface":"tap-web4"}]`)
	jsonTypo := write("typo.json", `{"name":"web-3","interfaces":"tap-web3"}`)

	tests := []struct {
		name       string
		fake       *fakeDaemon // nil: no daemon at all
		args       []string
		wantStdout string
		wantErr    string
	}{
		{"daemon not running", nil, []string{"status"}, "",
			"gannet: cannot reach SOCK: is gannet run running? (dial unix SOCK: connect: no such file or directory)\n"},
		{"daemon not running apply", nil, []string{"endpoint", "apply", "-f", typo + ".missing"}, "",
			"gannet: open " + typo + ".missing: no such file or directory\n"},
		{"403", failing, []string{"counters"}, "",
			"gannet: permission denied on SOCK: run as root or as a member of the socket's group (api.group in the configuration)\n"},
		{"apply 422", full, []string{"endpoint", "apply", "-f", badApply}, "endpoint web-3 created\n",
			"gannet: endpoint bad-1: 2 problems (422 Unprocessable Entity):\n  ipNetworks[0]: \"10.0.1.300/32\" is not a prefix\n  mac: is required\n"},
		{"apply 422 json", full, []string{"endpoint", "apply", "-f", badApply, "-o", "json"},
			`[
  {
    "name": "web-3",
    "result": "created"
  },
  {
    "name": "bad-1",
    "result": "failed",
    "errors": [
      {
        "field": "ipNetworks[0]",
        "message": "\"10.0.1.300/32\" is not a prefix"
      },
      {
        "field": "mac",
        "message": "is required"
      }
    ]
  }
]
`,
			"gannet: endpoint bad-1: 2 problems (422 Unprocessable Entity):\n  ipNetworks[0]: \"10.0.1.300/32\" is not a prefix\n  mac: is required\n"},
		{"apply unknown field", full, []string{"endpoint", "apply", "-f", typo}, "",
			"gannet: " + typo + ": line 3: unknown field \"ipNetwork\" in an endpoint\n"},
		{"apply json unknown field", full, []string{"endpoint", "apply", "-f", jsonTypo}, "",
			"gannet: " + jsonTypo + ": value 1: json: unknown field \"interfaces\"\n"},
		{"apply no name", full, []string{"endpoint", "apply", "-f", noName}, "",
			"gannet: " + noName + ": endpoint 2 has no name\n"},
		{"apply no file", full, []string{"endpoint", "apply"}, "",
			"gannet: required flag(s) \"filename\" not set\n"},
		{"reload 422", failing, []string{"reload"}, "",
			"gannet: reload failed, nothing changed: fix the configuration file and run gannet reload again\n" +
				"  workloadEndpoints[2].mac: \"02:00:00:00:02\" is not a MAC address\n" +
				"  policies[0].ingress[1].ports[0]: 70000 is not a port\n"},
		{"reload 422 json", failing, []string{"reload", "-o", "json"},
			`{
  "source": "reload",
  "time": "2025-06-02T11:12:00Z",
  "durationSeconds": 0.0011,
  "ok": false,
  "generation": 43,
  "errors": [
    {
      "field": "workloadEndpoints[2].mac",
      "message": "\"02:00:00:00:02\" is not a MAC address"
    },
    {
      "field": "policies[0].ingress[1].ports[0]",
      "message": "70000 is not a port"
    }
  ]
}
`,
			"gannet: reload failed, nothing changed: fix the configuration file and run gannet reload again\n" +
				"  workloadEndpoints[2].mac: \"02:00:00:00:02\" is not a MAC address\n" +
				"  policies[0].ingress[1].ports[0]: 70000 is not a port\n"},
		{"delete 404", full, []string{"endpoint", "delete", "web-9"}, "",
			"gannet: endpoint web-9: name: no endpoint \"web-9\" made through the API (404 Not Found); gannet endpoints lists them\n"},
		{"delete file endpoint", full, []string{"endpoint", "delete", "web-2", "web-1"}, "endpoint web-2 deleted\n",
			"gannet: endpoint web-1: name: endpoint \"web-1\" is defined in the configuration file: remove it there and run gannet reload (409 Conflict)\n"},
		{"endpoint 404", full, []string{"endpoints", "web-9"}, "",
			"gannet: endpoint web-9: name: no endpoint \"web-9\" (404 Not Found); gannet endpoints lists them\n"},
		{"bad output", full, []string{"status", "-o", "xml"}, "",
			"gannet: unknown output format \"xml\": use -o table, json or yaml\n"},
		{"routes bad addr", full, []string{"routes", "10.0.0.300"}, "",
			"gannet: \"10.0.0.300\" is not an IP address: gannet routes ADDR looks up one address\n"},
		{"trace no dst", full, []string{"trace", "--in", "tap-web1", "--src", "10.0.1.5"}, "",
			"gannet: trace needs --src and --dst (or --pcap FILE)\n"},
		{"trace no in", full, []string{"trace", "--src", "10.0.1.5", "--dst", "10.0.1.6"}, "",
			"gannet: required flag(s) \"in\" not set\n"},
		{"trace pcap too short", full, []string{"trace", "--in", "eth0", "--pcap", "testdata/sample.pcap", "--packet", "99"}, "",
			"gannet: testdata/sample.pcap has 8 packets, not 99\n"},
		{"watch bad interval", full, []string{"counters", "--watch", "soon"}, "",
			"gannet: --watch \"soon\": not an interval (like 1s, 500ms or 2)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := missing
			if tc.fake != nil {
				sock = socks[tc.fake]
			}
			stdout, stderr := runCLI(t, sock, nil, tc.args...)
			stderr = strings.ReplaceAll(stderr, sock, "SOCK")
			if diff := cmp.Diff(tc.wantErr, stderr); diff != "" {
				t.Errorf("gannet %s: stderr (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
			if diff := cmp.Diff(tc.wantStdout, stdout); diff != "" {
				t.Errorf("gannet %s: stdout (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}
}

// TestCLIEndpointApply applies a YAML list, a JSON object and a
// configuration's workloadEndpoints (from stdin) and checks what the
// daemon received.
func TestCLIEndpointApply(t *testing.T) {
	dir := t.TempDir()
	yamlList := filepath.Join(dir, "web.yaml")
	os.WriteFile(yamlList, []byte(`# two web workloads
- name: web-2
  interface: tap-web2
  mac: "02:00:00:00:01:06"
  ipNetworks: [10.0.1.6/32, "fd00:1::6/128"]
  labels: {app: web}
  profiles: [web]
  source: api   # read only, as "gannet endpoints -o yaml" prints it: dropped
  state: down
- name: web 3/x
  interface: tap-web3
  mac: "02:00:00:00:01:07"
  ipNetworks: [10.0.1.7/32]
  addressSpace: 2
  mtu: 1400
`), 0o644)
	jsonOne := filepath.Join(dir, "db.json")
	os.WriteFile(jsonOne, []byte(`{
	"name": "db-2",
	"interface": "tap-db2",
	"mac": "02:00:00:00:02:08",
	"ipNetworks": ["10.0.2.8/32"],
	"addressSpace": 1,
	"labels": {"app": "db"}
}`), 0o644)
	stdin := "workloadEndpoints:\n  - name: cache-1\n    interface: tap-cache1\n    mac: \"02:00:00:00:03:01\"\n    ipNetworks: [10.0.3.1/32]\n---\nname: cache-2\ninterface: tap-cache2\nmac: \"02:00:00:00:03:02\"\nipNetworks: [10.0.3.2/32]\n"

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantStdout string
		wantPaths  []string
		wantBodies []api.Endpoint
	}{
		{"yaml list", []string{"endpoint", "apply", "-f", yamlList},
			"", "endpoint web-2 configured\nendpoint web 3/x created\n",
			[]string{"/v1/endpoints/web-2", "/v1/endpoints/web%203%2Fx"},
			[]api.Endpoint{
				{Name: "web-2", Interface: "tap-web2", MAC: "02:00:00:00:01:06", IPNetworks: []string{"10.0.1.6/32", "fd00:1::6/128"},
					Labels: map[string]string{"app": "web"}, Profiles: []string{"web"}},
				{Name: "web 3/x", Interface: "tap-web3", MAC: "02:00:00:00:01:07", IPNetworks: []string{"10.0.1.7/32"}, AddressSpace: 2, MTU: 1400},
			}},
		{"json object", []string{"endpoint", "apply", "-f", jsonOne},
			"", "endpoint db-2 created\n",
			[]string{"/v1/endpoints/db-2"},
			[]api.Endpoint{{Name: "db-2", Interface: "tap-db2", MAC: "02:00:00:00:02:08", IPNetworks: []string{"10.0.2.8/32"},
				AddressSpace: 1, Labels: map[string]string{"app": "db"}}}},
		{"stdin documents", []string{"endpoint", "apply", "-f", "-"},
			stdin, "endpoint cache-1 created\nendpoint cache-2 created\n",
			[]string{"/v1/endpoints/cache-1", "/v1/endpoints/cache-2"},
			[]api.Endpoint{
				{Name: "cache-1", Interface: "tap-cache1", MAC: "02:00:00:00:03:01", IPNetworks: []string{"10.0.3.1/32"}},
				{Name: "cache-2", Interface: "tap-cache2", MAC: "02:00:00:00:03:02", IPNetworks: []string{"10.0.3.2/32"}},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDaemon{}
			sock := f.serve(t)
			stdout, stderr := runCLI(t, sock, strings.NewReader(tc.stdin), tc.args...)
			if stderr != "" {
				t.Errorf("stderr %q, want none", stderr)
			}
			if diff := cmp.Diff(tc.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			var paths []string
			var bodies []api.Endpoint
			for _, r := range f.requests() {
				if r.Method != http.MethodPut {
					t.Errorf("request %s %s, want only PUTs", r.Method, r.Path)
					continue
				}
				paths = append(paths, r.Path)
				var ep api.Endpoint
				dec := json.NewDecoder(bytes.NewReader(r.Body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ep); err != nil {
					t.Errorf("PUT %s body %s: %v", r.Path, r.Body, err)
				}
				bodies = append(bodies, ep)
			}
			if diff := cmp.Diff(tc.wantPaths, paths); diff != "" {
				t.Errorf("PUT paths (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBodies, bodies); diff != "" {
				t.Errorf("PUT bodies (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCLITraceRequest checks the trace request the flags and a pcap make.
func TestCLITraceRequest(t *testing.T) {
	r, err := pcapio.Open("testdata/sample.pcap")
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	second, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	frame2 := append([]byte(nil), second.Data...)
	r.Close()

	tests := []struct {
		name string
		args []string
		want api.TraceRequest
	}{
		{"flags", []string{"trace", "--in", "tap-web1", "--src", "10.0.1.5", "--dst", "2001:db8::9", "--proto", "udp",
			"--sport", "5000", "--dport", "53", "--ttl", "3", "--len", "100", "--df", "--src-mac", "02:00:00:00:01:05"},
			api.TraceRequest{In: "tap-web1", Src: "10.0.1.5", Dst: "2001:db8::9", Proto: "udp", SrcPort: 5000, DstPort: 53,
				TTL: 3, Length: 100, DF: true, SrcMAC: "02:00:00:00:01:05"}},
		{"icmp", []string{"trace", "--in", "eth0", "--src", "203.0.113.9", "--dst", "10.0.1.5", "--proto", "icmp",
			"--icmp-type", "3", "--icmp-code", "4"},
			api.TraceRequest{In: "eth0", Src: "203.0.113.9", Dst: "10.0.1.5", Proto: "icmp", ICMPType: 3, ICMPCode: 4}},
		{"tcp flags", []string{"trace", "--in", "eth0", "--src", "203.0.113.9", "--dst", "198.51.100.7", "--dport", "61000", "--sport", "443", "--flags", "SA"},
			api.TraceRequest{In: "eth0", Src: "203.0.113.9", Dst: "198.51.100.7", Proto: "tcp", SrcPort: 443, DstPort: 61000, TCPFlags: "SA"}},
		{"pcap", []string{"trace", "--in", "eth0", "--pcap", "testdata/sample.pcap", "--packet", "2"},
			api.TraceRequest{In: "eth0", Frame: frame2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDaemon{}
			sock := f.serve(t)
			stdout, stderr := runCLI(t, sock, nil, tc.args...)
			if stderr != "" || !strings.Contains(stdout, "verdict: forward out of eth0") {
				t.Errorf("gannet %s: stdout %q stderr %q", strings.Join(tc.args, " "), stdout, stderr)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/v1/trace" {
				t.Fatalf("requests %+v, want one POST /v1/trace", reqs)
			}
			var got api.TraceRequest
			if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("trace request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCLIEnvSocket: GANNET_SOCKET is the default --socket.
func TestCLIEnvSocket(t *testing.T) {
	f := &fakeDaemon{}
	sock := f.serve(t)
	t.Setenv("GANNET_SOCKET", sock)
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"endpoints"})
	if err := root.Execute(); err != nil || !strings.HasPrefix(out.String(), "NAME") {
		t.Errorf("GANNET_SOCKET=%s gannet endpoints = %q, %v", sock, out.String(), err)
	}
}
