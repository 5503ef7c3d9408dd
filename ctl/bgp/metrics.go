package bgp

// GoBGP's own Prometheus collector (peers' states, messages, routes per
// family) over the running server. The server comes and goes with Start,
// Stop and a restarting Apply, so the collector is looked up per scrape
// and the Speaker is an unchecked collector: it describes nothing up
// front.

import (
	"github.com/osrg/gobgp/v4/pkg/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Describe implements prometheus.Collector (unchecked: nothing).
func (s *Speaker) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: GoBGP's metrics of the running
// server, none while it is stopped.
func (s *Speaker) Collect(ch chan<- prometheus.Metric) {
	if srv := s.server(); srv != nil {
		metrics.NewBgpCollector(srv).Collect(ch)
	}
}
