package bgp

// GoBGP's own Prometheus collector (peers' states, messages, routes per
// family) over the running server. The server comes and goes with Start,
// Stop and a restarting Apply, so the collector is looked up per scrape
// and the Speaker is an unchecked collector: it describes nothing up
// front.
//
// GoBGP declares some per-peer gauges as counters and names two metrics
// with a _count suffix, which Prometheus reserves for histograms and
// summaries; promtool's lint rejects both. Those are re-emitted with the
// type they have (gauges) and, for the two, a name that lint accepts
// (retyped below); every other metric passes through as GoBGP made it.

import (
	"regexp"
	"strconv"

	"github.com/osrg/gobgp/v4/pkg/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// retyped maps GoBGP's metric names that fail promtool's lint to what is
// exported instead.
var retyped = map[string]struct {
	name string
	typ  prometheus.ValueType
}{
	"bgp_peer_out_queue_count":   {"bgp_peer_out_queue", prometheus.GaugeValue},
	"bgp_peer_flop_count":        {"bgp_peer_flops_total", prometheus.CounterValue},
	"bgp_peer_uptime":            {"bgp_peer_uptime", prometheus.GaugeValue},
	"bgp_peer_send_community":    {"bgp_peer_send_community", prometheus.GaugeValue},
	"bgp_peer_remove_private_as": {"bgp_peer_remove_private_as", prometheus.GaugeValue},
	"bgp_peer_password_set":      {"bgp_peer_password_set", prometheus.GaugeValue},
	"bgp_peer_type":              {"bgp_peer_type", prometheus.GaugeValue},
}

// Describe implements prometheus.Collector (unchecked: nothing).
func (s *Speaker) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: GoBGP's metrics of the running
// server (retyped where lint requires), none while it is stopped.
func (s *Speaker) Collect(ch chan<- prometheus.Metric) {
	srv := s.server()
	if srv == nil {
		return
	}
	in := make(chan prometheus.Metric)
	go func() {
		metrics.NewBgpCollector(srv).Collect(in)
		close(in)
	}()
	for m := range in {
		ch <- retype(m)
	}
}

// GoBGP's descriptors are unexported: their name and help are read from
// Desc.String ("Desc{fqName: "...", help: "...", ...}").
var (
	fqName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	helpText = regexp.MustCompile(`help: "((?:[^"\\]|\\.)*)"`)
)

// retype re-emits m under retyped's name and type when it is one of
// those; otherwise it returns m.
func retype(m prometheus.Metric) prometheus.Metric {
	match := fqName.FindStringSubmatch(m.Desc().String())
	if match == nil {
		return m
	}
	to, ok := retyped[match[1]]
	if !ok {
		return m
	}
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		return prometheus.NewInvalidMetric(m.Desc(), err)
	}
	var v float64
	switch {
	case pb.Counter != nil:
		v = pb.Counter.GetValue()
	case pb.Gauge != nil:
		v = pb.Gauge.GetValue()
	case pb.Untyped != nil:
		v = pb.Untyped.GetValue()
	default:
		return m
	}
	names := make([]string, len(pb.Label))
	values := make([]string, len(pb.Label))
	for i, lp := range pb.Label {
		names[i], values[i] = lp.GetName(), lp.GetValue()
	}
	help := "GoBGP's " + match[1]
	if h := helpText.FindStringSubmatch(m.Desc().String()); h != nil {
		if u, err := strconv.Unquote(`"` + h[1] + `"`); err == nil {
			help = u
		}
	}
	d := prometheus.NewDesc(to.name, help, names, nil)
	return prometheus.MustNewConstMetric(d, to.typ, v, values...)
}
