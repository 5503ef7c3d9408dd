package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gannet-net/gannet/ctl/metrics"
)

// gather collects c and returns every sample as "name{k=v,...}" -> value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[mf.GetName()+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum{"+strings.Join(labels, ",")+"}"] = m.GetHistogram().GetSampleSum()
				for _, b := range m.GetHistogram().GetBucket() {
					out[mf.GetName()+"_bucket{le="+trimFloat(b.GetUpperBound())+"}"] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestCollectorValues drives traffic through a real worker — forwarded,
// denied by a's egress policy, TTL exhausted, without a route, malformed
// — and checks that every metric the collector makes of it says what was
// driven.
func TestCollectorValues(t *testing.T) {
	h := newTestHost(t)
	const fwdN, deniedN, ttlN, noRouteN = 7, 3, 2, 4
	var sent int
	for range fwdN {
		sent += h.send(t, 0, udp(t, addrB, 5000, 64, 100))[1]
	}
	if sent != fwdN {
		t.Fatalf("forwarded %d of %d", sent, fwdN)
	}
	for range deniedN {
		h.send(t, 0, udp(t, addrB, 53, 64, 10))
	}
	for range ttlN {
		h.send(t, 0, udp(t, addrB, 5000, 1, 10))
	}
	for range noRouteN {
		h.send(t, 0, udp(t, netip.MustParseAddr("203.0.113.9"), 5000, 64, 10))
	}
	h.send(t, 0, udp(t, addrB, 5000, 64, 10)[:20]) // cut inside the IPv4 header

	snap := h.snapshot()
	snap.Apply.Observe("start", 3*time.Millisecond, true)
	snap.Apply.Observe("reload", 40*time.Millisecond, false)
	snap.Apply.Fail("reload")
	snap.Conntrack = &metrics.Conntrack{Sessions: 5, Capacity: 1024}
	snap.NAT = []metrics.NATAddress{{Addr: netip.MustParseAddr("203.0.113.1"), InUse: 12, RangeSize: 64512}}
	snap.RuleHits = []metrics.RuleHit{{Endpoint: "a", Direction: "egress", Policy: "p", Index: 2, Action: "Allow", Hits: 9},
		{Endpoint: "a", Direction: "egress", Index: -1, Action: "Deny", Hits: 3}}
	got := gather(t, metrics.NewCollector(func() *metrics.Snapshot { return snap }))

	rx := float64(fwdN + deniedN + ttlN + noRouteN + 1)
	want := map[string]float64{
		"gannet_build_info{version=test}":                                                                  1,
		"gannet_workers{}":                                                                                 1,
		"gannet_forwarded_packets_total{}":                                                                 fwdN,
		"gannet_interface_rx_packets_total{interface=gw-a,queue=0}":                                        rx,
		"gannet_interface_tx_packets_total{interface=gw-b,queue=0}":                                        fwdN,
		"gannet_interface_tx_bytes_total{interface=gw-b,queue=0}":                                          fwdN * (14 + 20 + 8 + 100),
		"gannet_interface_tx_packets_total{interface=gw-a,queue=0}":                                        ttlN + noRouteN, // the ICMP errors back to a
		"gannet_interface_rx_packets_total{interface=gw-b,queue=0}":                                        0,
		"gannet_dropped_packets_total{reason=policy-egress,stage=policy}":                                  deniedN,
		"gannet_dropped_packets_total{reason=ttl-exceeded,stage=forward}":                                  ttlN,
		"gannet_dropped_packets_total{reason=no-route,stage=route}":                                        noRouteN,
		"gannet_dropped_packets_total{reason=malformed,stage=parse}":                                       1,
		"gannet_dropped_packets_total{reason=tx-full,stage=tx}":                                            0,
		"gannet_parse_errors_total{reason=ipv4-header-truncated}":                                          0,
		"gannet_policy_denied_packets_total{direction=egress,endpoint=a}":                                  deniedN,
		"gannet_policy_denied_packets_total{direction=ingress,endpoint=b}":                                 0,
		"gannet_icmp_sent_total{type=time-exceeded}":                                                       ttlN,
		"gannet_icmp_sent_total{type=unreachable}":                                                         noRouteN,
		"gannet_icmp_sent_total{type=too-big}":                                                             0,
		"gannet_icmp_suppressed_total{reason=rate-limited}":                                                0,
		"gannet_endpoints{state=up}":                                                                       2,
		"gannet_endpoints{state=missing}":                                                                  0,
		"gannet_routes{family=ipv4,space=0}":                                                               3, // a's and b's host routes, the router's address
		"gannet_routes{family=ipv6,space=0}":                                                               1, // the gateway's link-local address
		"gannet_conntrack_sessions{}":                                                                      5,
		"gannet_conntrack_capacity{}":                                                                      1024,
		"gannet_nat_ports_in_use{address=203.0.113.1}":                                                     12,
		"gannet_nat_port_range_size{address=203.0.113.1}":                                                  64512,
		"gannet_apply_duration_seconds_count{}":                                                            2,
		"gannet_apply_duration_seconds_bucket{le=0.001}":                                                   0,
		"gannet_apply_duration_seconds_bucket{le=0.005}":                                                   1,
		"gannet_apply_duration_seconds_bucket{le=0.05}":                                                    2,
		"gannet_apply_failures_total{source=reload}":                                                       2,
		"gannet_apply_failures_total{source=api}":                                                          0,
		"gannet_worker_lost_frames_total{worker=0}":                                                        0,
		"gannet_policy_rule_hits_total{action=Allow,direction=egress,endpoint=a,policy=p,profile=,rule=2}": 9,
		"gannet_policy_rule_hits_total{action=Deny,direction=egress,endpoint=a,policy=,profile=,rule=-1}":  3,
	}
	// The truncated frame's parse reason is whichever check caught it:
	// all parse errors together are the one malformed frame.
	var parse float64
	for k, v := range got {
		if strings.HasPrefix(k, "gannet_parse_errors_total{") {
			parse += v
		}
	}
	if parse != 1 {
		t.Errorf("parse errors sum to %v, want 1", parse)
	}
	delete(want, "gannet_parse_errors_total{reason=ipv4-header-truncated}")
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing", k)
			continue
		}
		if g != w {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	// Every received packet has one outcome: forwarded or one drop.
	var drops float64
	for k, v := range got {
		if strings.HasPrefix(k, "gannet_dropped_packets_total{") {
			drops += v
		}
	}
	if drops+fwdN != rx {
		t.Errorf("drops %v + forwarded %d = %v, want the %v received", drops, fwdN, drops+fwdN, rx)
	}
}

// TestCollectorStopping: a nil snapshot (the daemon stopping) exports
// nothing and fails nothing.
func TestCollectorStopping(t *testing.T) {
	if got := gather(t, metrics.NewCollector(func() *metrics.Snapshot { return nil })); len(got) != 0 {
		t.Errorf("collected %v from a stopping daemon, want nothing", got)
	}
}

// TestApplyStats: Observe files each duration under the first bucket
// that holds it, and Copy shares nothing.
func TestApplyStats(t *testing.T) {
	var a metrics.ApplyStats
	for _, d := range []time.Duration{0, time.Millisecond, 1500 * time.Microsecond, 20 * time.Second} {
		a.Observe("api", d, true)
	}
	a.Observe("api", 3*time.Millisecond, false)
	var want [len(metrics.ApplyBuckets)]uint64
	want[0], want[1], want[2] = 2, 1, 1 // the 20 s one is only in +Inf
	if a.Buckets != want || a.Count != 5 || a.Failures["api"] != 1 {
		t.Errorf("ApplyStats = %+v, want buckets %v, count 5, one api failure", a, want)
	}
	c := a.Copy()
	a.Fail("api")
	if c.Failures["api"] != 1 {
		t.Errorf("Copy shares its failures with the original")
	}
}

// TestScrapeLint serves a real scrape — the collector over a worker that
// forwarded and dropped traffic, with the Go and process collectors — and
// runs promtool check metrics on it: no lint finding.
func TestScrapeLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	h := newTestHost(t)
	h.send(t, 0, udp(t, addrB, 5000, 64, 100), udp(t, addrB, 53, 64, 10))
	snap := h.snapshot()
	snap.Apply.Observe("start", time.Millisecond, true)
	snap.Conntrack = &metrics.Conntrack{Sessions: 1, Capacity: 1024}
	snap.NAT = []metrics.NATAddress{{Addr: netip.MustParseAddr("2001:db8::1"), InUse: 1, RangeSize: 64512}}
	reg, err := metrics.NewRegistry(metrics.NewCollector(func() *metrics.Snapshot { return snap }))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	body := scrape(t, srv.URL+"/metrics")
	if !strings.Contains(body, "gannet_forwarded_packets_total 1\n") {
		t.Fatalf("scrape lacks gannet_forwarded_packets_total 1:\n%s", body)
	}
	out, err := lint(promtool, body)
	if err != nil || out != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// Only /metrics is served.
	if resp, err := http.Get(srv.URL + "/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / = %v, %v; want 404", resp, err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// lint runs promtool check metrics on an exposition and returns what it
// said; it exits non-zero on a lint finding.
func lint(promtool, body string) (string, error) {
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestScrapeWhileForwarding: scrapes taken while the worker forwards on
// its own goroutine read published counters only (the race detector
// watches), each no smaller than the one before, and the last one after
// the worker stopped says every packet was forwarded.
func TestScrapeWhileForwarding(t *testing.T) {
	h := newTestHost(t)
	if err := h.w.Start(); err != nil {
		t.Fatal(err)
	}
	frame := udp(t, addrB, 5000, 64, 18)
	const total = 20000
	done := make(chan int)
	go func() {
		sent, drained := 0, 0
		for drained < total {
			for sent < total && sent-drained < ringSize/2 && h.ports[0].Inject(frame) {
				sent++
			}
			drained += h.ports[1].Drain(nil)
		}
		done <- drained
	}()
	c := metrics.NewCollector(func() *metrics.Snapshot { return h.snapshot() })
	key := "gannet_forwarded_packets_total{}"
	last := 0.0
	for range 50 {
		got := gather(t, c)[key]
		if got < last {
			t.Fatalf("%s went from %v to %v", key, last, got)
		}
		last = got
	}
	drained := <-done
	if err := h.w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := gather(t, c)
	if got[key] != total || drained != total || got["gannet_interface_tx_packets_total{interface=gw-b,queue=0}"] != total {
		t.Errorf("after %d packets: %s = %v, gw-b tx %v, drained %d", total, key, got[key], got["gannet_interface_tx_packets_total{interface=gw-b,queue=0}"], drained)
	}
}
