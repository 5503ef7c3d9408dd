package config

// Metrics: where `gannet run` serves Prometheus's /metrics. Off unless
// the file names an address; an IP literal and a port, so the file alone
// says which interface exposes the counters (the examples use loopback:
// the endpoint has no authentication of its own).

import (
	"net/netip"
)

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is "IP:PORT" ("[IPv6]:PORT") of the HTTP server answering
	// GET /metrics; empty: no server. A change is applied on reload: the
	// new address is bound first, so an address that cannot be bound
	// rejects the change and the old server keeps serving.
	Listen string `yaml:"listen"`
}

// DefaultMetricsPort is the port the examples and error messages use.
const DefaultMetricsPort = 9641

func (c *Config) validateMetrics(errs *problems, p *Plan) {
	s := c.Metrics.Listen
	if s == "" {
		return
	}
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil:
		errs.addf("metrics.listen", "%q: want IP:PORT, such as 127.0.0.1:%d or [::1]:%d", s, DefaultMetricsPort, DefaultMetricsPort)
	case ap.Port() == 0:
		errs.addf("metrics.listen", "%q: port 0: name the port Prometheus scrapes", s)
	case ap.Addr().Zone() != "":
		errs.addf("metrics.listen", "%q: a zoned address; listen on a global or loopback address", s)
	case ap.Addr().IsMulticast():
		errs.addf("metrics.listen", "%q: a multicast address", s)
	default:
		p.MetricsListen = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}

// checkMetrics: the metrics server must not take the port BGP listens on
// (GoBGP listens on every address, so any metrics address collides).
func (c *Config) checkMetrics(errs *problems, p *Plan) {
	if !p.MetricsListen.IsValid() || p.BGP == nil || p.BGP.ListenPort == 0 {
		return
	}
	if int(p.MetricsListen.Port()) == p.BGP.ListenPort {
		errs.addf("metrics.listen", "port %d is bgp.listenPort: BGP listens on it on every address", p.BGP.ListenPort)
	}
}
