package e2e

// Metrics: a real Prometheus (Debian's) scrapes a real `gannet run` in
// namespaces every second while workloads send traffic — forwarded,
// denied by policy, unroutable, source-NATed to a BGP-learned
// destination — and every query of the committed Grafana dashboard
// returns data through Prometheus's HTTP API. The scrape itself passes
// promtool's lint, and metrics.listen follows reloads.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// nsClient is an HTTP client whose connections are made inside ns (a
// socket stays in the namespace it was made in).
func nsClient(ns *netnstest.NS) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
}

func httpGet(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(b), err
}

// startPrometheus runs Prometheus in ns on 127.0.0.1:9090 with its own
// data directory, scraping targets every second; it returns once
// Prometheus is ready.
func startPrometheus(t *testing.T, ns *netnstest.NS, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gannet
    static_configs: [{targets: [%s]}]
`, `"`+strings.Join(targets, `", "`)+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:9090"
	background(t, ns.Command("prometheus", "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn"), "prometheus")
	base := "http://" + addr
	c := nsClient(ns)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := httpGet(c, base+"/-/ready"); err == nil {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// promQuery runs an instant query; it returns the samples' label sets and
// values.
func promQuery(c *http.Client, base, q string) ([]string, error) {
	body, err := httpGet(c, base+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, body)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	var out []string
	for _, s := range r.Data.Result {
		out = append(out, fmt.Sprintf("%v=%v", s.Metric, s.Value[1]))
	}
	return out, nil
}

// dashboardQueries reads every panel's queries out of the committed
// dashboard, keyed by "panel title/refId".
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../deploy/grafana/dashboards/gannet.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	out := map[string]string{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			if len(p.Panels) > 0 {
				t.Fatalf("row %q holds collapsed panels: the test reads top-level panels only", p.Title)
			}
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title+"/"+tg.RefID] = tg.Expr
		}
	}
	return out
}

// grafanaVars replaces the dashboard's variables as Grafana would with
// "All" instances selected.
func grafanaVars(q string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*").Replace(q)
}

// metricsHostConfig: workloads a and b (b's ingress denies UDP to port
// 53), source NAT of the pool to 203.0.113.1, a BGP peer behind the
// uplink, and metrics on loopback.
func metricsHostConfig(uplink, eps, listen string) string {
	return fmt.Sprintf(`
node: {name: m, routerIPv4: 198.18.101.1, routerIPv6: "2001:db8:101::1"}
dataplane: {cores: [0], frames: 4096, conntrack: {capacity: 4096}}
ports: [{interface: %s}]
workloadEndpoints:
%s
policy:
  profiles:
    - {name: open, ingress: [{action: Allow}], egress: [{action: Allow}]}
  policies:
    - name: b-ingress
      selector: app == 'b'
      types: [Ingress]
      ingress:
        - {action: Deny, protocol: UDP, destination: {ports: [53]}}
        - {action: Allow}
nat:
  ipPools: [{cidr: 198.18.21.0/24, natOutgoing: true}]
  external: [{cidr: 203.0.113.1/32}]
bgp:
  asNumber: 64512
  peers:
    - {peerIP: 198.18.101.2, asNumber: 64601, holdTime: 9s, filters: [fabric]}
  filters:
    - name: fabric
      importV4: [{cidr: 198.18.0.0/16, matchOperator: In, action: Accept}]
metrics: {listen: "%s"}
`, uplink, eps, listen)
}

// TestMetricsDashboard: Prometheus scrapes gannet while traffic flows;
// the scrape passes promtool's lint and every dashboard query returns
// data.
func TestMetricsDashboard(t *testing.T) {
	require(t, "prometheus", "promtool", "gobgpd", "gobgp")
	x := netnstest.NewNS(t, "gm")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:21:0a", "198.18.21.10", "")
	b := addWorkload(t, x, "wl-b", "02:00:00:00:21:0b", "198.18.21.11", "")
	r, xif := ecmpRouter(t, x, 1, 64601)
	r.Run("ip", "route", "add", "203.0.113.1/32", "via", "198.18.101.1") // NATed replies
	const listen = "127.0.0.1:9641"
	d := startGannet(t, x, metricsHostConfig(xif, a.endpoint(0, "app: a", "open")+b.endpoint(0, "app: b", "open"), listen))
	client := nsClient(x)

	// BGP up and its route learned: a reaches the router's service,
	// source-NATed.
	deadline := time.Now().Add(30 * time.Second)
	for !a.waitPing(t, ecmpService, time.Second) {
		if time.Now().After(deadline) {
			out, _ := d.cli("bgp", "peers")
			counters, _ := d.cli("counters")
			t.Fatalf("wl-a cannot reach %s over BGP:\n%s\n%s\n%s", ecmpService, out, counters, d.output())
		}
	}
	prom := startPrometheus(t, x, listen)

	// Traffic for a while: a floods b, pings the NATed service, sends UDP
	// that b's policy denies and UDP nobody routes.
	floodB := a.flood(t, b.v4, 800)
	floodSvc := a.flood(t, ecmpService, 400)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var udp [2]net.Conn
	for i, dst := range []string{b.v4 + ":53", "192.0.2.99:9"} {
		if err := a.ns.Do(func() (err error) { udp[i], err = net.Dial("udp", dst); return err }); err != nil {
			t.Fatal(err)
		}
		defer udp[i].Close()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				udp[0].Write([]byte("denied"))
				udp[1].Write([]byte("unroutable"))
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	// Prometheus has the start's apply before the changes below, so the
	// apply panels' rates see them as an increase (under load its first
	// scrape can come seconds late).
	scraped := func(q string) func() string {
		return func() string {
			if res, err := promQuery(client, prom, q); err != nil || len(res) == 0 || allNaN(res) {
				return fmt.Sprintf("%s: %v %v", q, res, err)
			}
			return ""
		}
	}
	waitFor(t, 30*time.Second, "Prometheus scrapes gannet", scraped(`count_over_time(gannet_apply_duration_seconds_count[1m]) >= 2`))
	time.Sleep(3 * time.Second)

	// Changes to time: a reload, an API endpoint, a rejected API write.
	if out, err := d.cli("reload"); err != nil {
		t.Fatalf("gannet reload: %v\n%s", err, out)
	}
	c := addWorkload(t, x, "wl-c", "02:00:00:00:21:0c", "198.18.21.12", "")
	if _, err := d.client().PutEndpoint(context.Background(), api.Endpoint{Name: "wl-c", Interface: c.hostIf, MAC: c.mac, IPNetworks: []string{c.v4 + "/32"}, Profiles: []string{"open"}}); err != nil {
		t.Fatalf("PUT wl-c: %v", err)
	}
	if _, err := d.client().PutEndpoint(context.Background(), api.Endpoint{Name: "wl-d", Interface: c.hostIf, MAC: c.mac, IPNetworks: []string{"198.18.21.0/24"}}); err == nil {
		t.Fatal("PUT of an endpoint with a /24 succeeded")
	}
	// Scraped after the changes: every apply panel has data.
	waitFor(t, 30*time.Second, "Prometheus sees the applies", scraped(`histogram_quantile(0.99, sum by (le) (rate(gannet_apply_duration_seconds_bucket[1m])))`))
	time.Sleep(2 * time.Second)

	t.Run("promtool", func(t *testing.T) {
		body, err := httpGet(client, "http://"+listen+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"gannet_build_info{", "gannet_interface_rx_packets_total{interface=", "bgp_peer_state{",
			"gannet_xsk_fill_ring_empty_total{", `gannet_policy_denied_packets_total{direction="ingress",endpoint="wl-b"}`} {
			if !strings.Contains(body, want) {
				t.Errorf("the scrape has no %s", want)
			}
		}
		// GOMAXPROCS holds a P for the worker beside the control plane's
		// cores; the runtime would otherwise lower it to the control
		// plane's affinity (1 on a 2-CPU host) within a second or two of
		// the start, long past by now.
		if n := runtime.NumCPU(); n >= 2 && !strings.Contains(body, fmt.Sprintf("\ngo_sched_gomaxprocs_threads %d\n", n)) {
			i := strings.Index(body, "\ngo_sched_gomaxprocs_threads ")
			t.Errorf("go_sched_gomaxprocs_threads is not %d (one core runs the worker, %d the rest): %q", n, n-1, body[max(i, 0):min(max(i, 0)+40, len(body))])
		}
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		queries := dashboardQueries(t)
		if len(queries) < 8 {
			t.Fatalf("the dashboard has %d queries", len(queries))
		}
		for name, expr := range queries {
			q := grafanaVars(expr)
			res, err := promQuery(client, prom, q)
			switch {
			case err != nil:
				t.Errorf("%s: %s: %v", name, q, err)
			case len(res) == 0:
				t.Errorf("%s: %s returned no data", name, q)
			case allNaN(res):
				t.Errorf("%s: %s returned only NaN: %v", name, q, res)
			default:
				t.Logf("%s: %v", name, res)
			}
		}
	})

	// The numbers behind a few panels say what the traffic did.
	for q, want := range map[string]func(string) bool{
		`gannet_policy_denied_packets_total{endpoint="wl-b",direction="ingress"} > 10`: nonEmpty,
		`gannet_dropped_packets_total{stage="route",reason="no-route"} > 10`:           nonEmpty,
		`gannet_nat_ports_in_use{address="203.0.113.1"} >= 1`:                          nonEmpty,
		`gannet_conntrack_sessions >= 1`:                                               nonEmpty,
		`gannet_apply_failures_total{source="api"} >= 1`:                               nonEmpty,
		`count(bgp_peer_state{session_state="SESSION_STATE_ESTABLISHED"}) == 1`:        nonEmpty,
		`sum(gannet_interface_tx_packets_total{interface="` + b.hostIf + `"}) > 100`:   nonEmpty,
		`gannet_icmp_sent_total{type="unreachable"} > 10`:                              nonEmpty,
		`gannet_endpoints{state="up"} == 3`:                                            nonEmpty,
		`gannet_routes{space="0",family="ipv4"} > 3`:                                   nonEmpty,
		`gannet_apply_duration_seconds_count >= 3`:                                     nonEmpty,
		`gannet_xdp_packets_total{interface="` + xif + `",action="redirected"} > 0`:    nonEmpty,
		`gannet_interface_up{interface="` + a.hostIf + `",role="workload"} == 1`:       nonEmpty,
	} {
		res, err := promQuery(client, prom, q)
		if err != nil || !want(strings.Join(res, "")) {
			t.Errorf("%s = %v, %v", q, res, err)
		}
	}
	sent, got := floodB()
	t.Logf("wl-a -> wl-b while scraped every second: %d/%d", got, sent)
	if got != sent {
		t.Errorf("wl-a -> wl-b lost %d of %d pings while Prometheus scraped", sent-got, sent)
	}
	if sent, got := floodSvc(); got == 0 {
		t.Errorf("wl-a -> %s (NAT): %d of %d replies", ecmpService, got, sent)
	}
}

func nonEmpty(s string) bool { return s != "" }

func allNaN(res []string) bool {
	for _, r := range res {
		if !strings.HasSuffix(r, "=NaN") {
			return false
		}
	}
	return true
}

// TestMetricsListenReload: metrics.listen follows the file on reload — a
// new address serves and the old one stops; an address that cannot be
// bound rejects the reload, naming the field, and the running server
// keeps serving; an empty one turns metrics off.
func TestMetricsListenReload(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:22:0a", "198.18.22.10", "")
	cfg := func(listen string) string {
		s := fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", ""), "")
		if listen != "" {
			s += fmt.Sprintf("metrics: {listen: %q}\n", listen)
		}
		return s
	}
	d := startGannet(t, host, cfg("127.0.0.1:9641"))
	c := nsClient(host)
	serves := func(addr string) bool {
		body, err := httpGet(c, "http://"+addr+"/metrics")
		return err == nil && strings.Contains(body, "gannet_build_info")
	}
	reload := func(listen string) string {
		t.Helper()
		s := cfg(listen)
		if !strings.Contains(s, "\napi:") {
			s += fmt.Sprintf("\napi:\n  socket: %s\n", d.socket)
		}
		if err := os.WriteFile(d.config, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := d.cli("reload")
		return out
	}
	if !serves("127.0.0.1:9641") {
		t.Fatalf("no metrics on 127.0.0.1:9641:\n%s", d.output())
	}
	if out := reload("[::1]:9642"); !strings.Contains(out, "metrics") {
		t.Errorf("gannet reload to [::1]:9642 does not list the metrics change:\n%s", out)
	}
	if !serves("[::1]:9642") || serves("127.0.0.1:9641") {
		t.Errorf("after a reload to [::1]:9642: new serves %v, old serves %v; want only the new", serves("[::1]:9642"), serves("127.0.0.1:9641"))
	}
	// A port something else holds: rejected, the old server stays.
	var busy net.Listener
	if err := host.Do(func() (err error) { busy, err = net.Listen("tcp", "127.0.0.1:9643"); return err }); err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out := reload("127.0.0.1:9643")
	if !strings.Contains(out, "metrics.listen") || !serves("[::1]:9642") {
		t.Errorf("reload to a bound port: %q, old server serves %v; want an error naming metrics.listen and the old server on", out, serves("[::1]:9642"))
	}
	reload("")
	if serves("[::1]:9642") {
		t.Error("metrics still served after metrics.listen was removed")
	}
}
