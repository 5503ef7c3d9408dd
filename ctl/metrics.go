package ctl

// The daemon's side of the metrics endpoint: the snapshot a scrape reads
// (taken on the loop, like every API read, so it never races a change),
// the apply histogram the loop keeps, and the server that metrics.listen
// names. A changed listen address is applied like any other change: the
// new address is bound before anything else changes, so one that cannot
// be bound rejects the change (field metrics.listen) and the old server
// keeps serving; once the change is applied the new server serves and the
// old one closes.

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/bgp"
	"github.com/gannet-net/gannet/ctl/metrics"
)

// metricsState is the loop's: the handler every server serves, the
// running server (nil: none) and the apply histogram.
type metricsState struct {
	handler http.Handler
	addr    netip.AddrPort // the running server's; invalid: none
	srv     *metrics.Server
	apply   metrics.ApplyStats
}

// newMetricsHandler builds the registry: gannet's collector over
// MetricsSnapshot and GoBGP's over whatever speaker runs at scrape time.
func (d *Daemon) newMetricsHandler() (http.Handler, error) {
	reg, err := metrics.NewRegistry(metrics.NewCollector(d.MetricsSnapshot), bgpMetrics{d})
	if err != nil {
		return nil, err
	}
	return metrics.Handler(reg, d.log), nil
}

// MetricsHandler is what the metrics endpoint serves (GET /metrics), for
// a caller that serves it elsewhere.
func (d *Daemon) MetricsHandler() http.Handler { return d.metrics.handler }

// MetricsSnapshot reads what a scrape exports; nil once the daemon is
// stopping.
func (d *Daemon) MetricsSnapshot() *metrics.Snapshot {
	var s *metrics.Snapshot
	d.do(func() { s = d.metricsSnapshot() })
	return s
}

func (d *Daemon) metricsSnapshot() *metrics.Snapshot {
	if d.dp == nil || d.cur == nil {
		return nil
	}
	s := &metrics.Snapshot{Version: d.opts.Version, Workers: metrics.ReadWorkers(d.dp.workers), Apply: d.metrics.apply.Copy()}
	if d.dp.off != nil {
		fs := d.dp.off.Stats()
		s.FastPath = &fs
	}
	for _, pt := range d.sortedPorts() {
		ifc := metrics.Interface{Name: pt.name, Role: "workload", Endpoint: pt.endpoint, Up: pt.up()}
		if pt.uplink {
			ifc.Role = "uplink"
		}
		if pt.attached() {
			socks := make([]metrics.Ringer, len(pt.socks))
			for i, sk := range pt.socks {
				socks[i] = sk
			}
			ifc.Queues = metrics.ReadQueues(d.dp.workers, pt.slot, socks)
			if d.dp.off != nil && pt.ifindex > 0 {
				fs := d.dp.off.PortStats(pt.ifindex)
				ifc.Fast = &fs
			}
			if xs, err := pt.prog.Stats(); err == nil {
				ifc.XDP, ifc.FastPath = &xs, pt.prog.FastPath()
			}
		}
		s.Interfaces = append(s.Interfaces, ifc)
	}
	for _, ep := range d.merged.WorkloadEndpoints {
		e := metrics.Endpoint{Name: ep.Name, State: "missing"}
		if pt, ok := d.ports[ep.Interface]; ok {
			e.State = pt.state()
		}
		s.Endpoints = append(s.Endpoints, e)
	}
	d.cur.tables.RouteCounts(func(space uint16, v4, v6 int) {
		s.Routes = append(s.Routes, metrics.Routes{Space: space, V4: v4, V6: v6})
	})
	slices.SortFunc(s.Routes, func(a, b metrics.Routes) int { return int(a.Space) - int(b.Space) })
	for _, r := range d.ruleHits() {
		if r.Hits > 0 {
			s.RuleHits = append(s.RuleHits, metrics.RuleHit{Endpoint: r.Endpoint, Direction: r.Direction, Policy: r.Policy,
				Profile: r.Profile, Index: r.Index, Action: r.Action, Hits: r.Hits})
		}
	}
	if nt := d.dp.st.nat; nt != nil {
		s.Conntrack = &metrics.Conntrack{Sessions: nt.Len(), Capacity: nt.Capacity()}
		nt.PortsInUse(func(a netip.Addr, inUse, size int) {
			s.NAT = append(s.NAT, metrics.NATAddress{Addr: a, InUse: inUse, RangeSize: size})
		})
	}
	return s
}

// bindMetrics binds the metrics address plan p names when it differs from
// the running one; changed reports whether it does (srv is nil when the
// change turns metrics off). The loop only.
func (d *Daemon) bindMetrics(addr netip.AddrPort) (srv *metrics.Server, changed bool, err error) {
	if addr == d.metrics.addr {
		return nil, false, nil
	}
	if !addr.IsValid() {
		return nil, true, nil
	}
	srv, err = metrics.Listen(addr, d.metrics.handler, d.log)
	if err != nil {
		return nil, false, api.FieldError{Field: "metrics.listen", Message: fmt.Sprintf("cannot listen on %s: %v", addr, err)}
	}
	return srv, true, nil
}

// switchMetrics makes srv (bound to addr; nil: none) the running server.
// The old one closes on its own goroutine: a scrape it is answering waits
// for the loop, which is here.
func (d *Daemon) switchMetrics(srv *metrics.Server, addr netip.AddrPort) {
	old := d.metrics.srv
	d.metrics.srv, d.metrics.addr = srv, addr
	if srv != nil {
		srv.Serve()
		d.log.Info("metrics: serving", "listen", addr.String())
	}
	if old != nil {
		go old.Close()
		if srv == nil {
			d.log.Info("metrics: stopped", "listen", old.Addr().String())
		}
	}
}

// stopMetrics closes the running server (at shutdown, when reads are
// answered no more).
func (d *Daemon) stopMetrics() {
	if d.metrics.srv != nil {
		d.metrics.srv.Close()
		d.metrics.srv, d.metrics.addr = nil, netip.AddrPort{}
	}
}

// bgpMetrics is GoBGP's collector of the speaker running at scrape time
// (none without a bgp section). Unchecked: it describes nothing.
type bgpMetrics struct{ d *Daemon }

func (bgpMetrics) Describe(chan<- *prometheus.Desc) {}

func (b bgpMetrics) Collect(ch chan<- prometheus.Metric) {
	var sp *bgp.Speaker
	b.d.do(func() {
		if b.d.routing != nil {
			sp = b.d.routing.speaker
		}
	})
	if sp != nil {
		sp.Collect(ch)
	}
}
