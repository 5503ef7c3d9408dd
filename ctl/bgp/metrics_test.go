package bgp

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRetype: GoBGP's metrics that promtool rejects come out renamed or
// retyped with their help, labels and value; the rest pass unchanged.
func TestRetype(t *testing.T) {
	tests := []struct {
		name     string
		typ      prometheus.ValueType
		wantName string
		wantType dto.MetricType
	}{
		{"bgp_peer_flop_count", prometheus.CounterValue, "bgp_peer_flops_total", dto.MetricType_COUNTER},
		{"bgp_peer_out_queue_count", prometheus.CounterValue, "bgp_peer_out_queue", dto.MetricType_GAUGE},
		{"bgp_peer_uptime", prometheus.CounterValue, "bgp_peer_uptime", dto.MetricType_GAUGE},
		{"bgp_received_update_total", prometheus.CounterValue, "bgp_received_update_total", dto.MetricType_COUNTER},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := prometheus.NewDesc(tc.name, `Help with "quotes"`, []string{"peer", "afi"}, nil)
			m := retype(prometheus.MustNewConstMetric(d, tc.typ, 7, "198.18.0.2", "ipv4"))
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(collectorFunc(func(ch chan<- prometheus.Metric) { ch <- m }))
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			if len(mfs) != 1 {
				t.Fatalf("gathered %d families, want 1", len(mfs))
			}
			mf := mfs[0]
			var v float64
			if c := mf.Metric[0].Counter; c != nil {
				v = c.GetValue()
			} else {
				v = mf.Metric[0].GetGauge().GetValue()
			}
			labels := map[string]string{}
			for _, lp := range mf.Metric[0].Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			if mf.GetName() != tc.wantName || mf.GetType() != tc.wantType || mf.GetHelp() != `Help with "quotes"` || v != 7 ||
				labels["peer"] != "198.18.0.2" || labels["afi"] != "ipv4" {
				t.Errorf("retype(%s) = %s %v %q = %v %v; want %s %v with the help, labels and value kept",
					tc.name, mf.GetName(), mf.GetType(), mf.GetHelp(), v, labels, tc.wantName, tc.wantType)
			}
		})
	}
}

// collectorFunc is an unchecked collector of fn's metrics.
type collectorFunc func(chan<- prometheus.Metric)

func (collectorFunc) Describe(chan<- *prometheus.Desc)      {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
