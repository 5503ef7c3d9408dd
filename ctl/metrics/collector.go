package metrics

// The Collector: at each scrape it takes one Snapshot and makes constant
// metrics of it — every counter summed over the workers here, at read
// time. Metric names follow Prometheus's conventions (gannet_ prefix,
// base units, _total on counters); docs/METRICS.md lists them.

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// Collector is gannet's one prometheus.Collector.
type Collector struct {
	read func() *Snapshot
}

// NewCollector returns a collector over read, which the collector calls
// once per scrape; a nil Snapshot (the daemon stopping) exports nothing.
func NewCollector(read func() *Snapshot) *Collector { return &Collector{read: read} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gannet_"+name, help, labels, nil)
}

var (
	dBuildInfo = desc("build_info", "Always 1; the version of the running gannet is its label.", "version")
	dWorkers   = desc("workers", "Data-plane workers (one per configured core; worker i serves queue i of every port).")

	dIfUp        = desc("interface_up", "1 when the port is attached and its link is up, else 0.", "interface", "role")
	dIfRxPackets = desc("interface_rx_packets_total", "Frames received on the port's queue; queue=\"fast\": frames of offloaded flows the kernel fast path forwarded from the port.", "interface", "queue")
	dIfRxBytes   = desc("interface_rx_bytes_total", "Bytes of the frames received on the port's queue.", "interface", "queue")
	dIfTxPackets = desc("interface_tx_packets_total", "Frames sent on the port's queue (forwarded packets and the router's replies); queue=\"fast\": frames of offloaded flows the kernel fast path redirected into the port.", "interface", "queue")
	dIfTxBytes   = desc("interface_tx_bytes_total", "Bytes of the frames sent on the port's queue.", "interface", "queue")

	dForwarded  = desc("forwarded_packets_total", "Packets routed out of a port (replies excluded).")
	dToHost     = desc("to_host_packets_total", "Workloads' packets delivered into the host stack (endpointToHost: accept), after their egress policy; also counted as forwarded.")
	dDropped    = desc("dropped_packets_total", "Packets dropped, by pipeline stage and reason; every received packet has one outcome, so these sum to all drops.", "stage", "reason")
	dReplies    = desc("gateway_replies_total", "ARP and NDP requests for the gateway address answered in place.", "protocol")
	dParse      = desc("parse_errors_total", "Malformed or unsupported frames (dropped in stage parse), by the header check that failed.", "reason")
	dConntrack  = desc("conntrack_drops_total", "Packets connection tracking or NAT refused, by its reason (held fragments nat gave up on included).", "reason")
	dXlat       = desc("xlat_drops_total", "Packets the 4<->6 translator dropped or answered, by its reason.", "reason")
	dICMPSent   = desc("icmp_sent_total", "ICMP errors the router sent, by kind.", "type")
	dICMPNot    = desc("icmp_suppressed_total", "ICMP errors the router did not send: rate-limited, refused (an error about an error, no room) or no source address.", "reason")
	dFragmented = desc("fragmented_packets_total", "Forwarded packets that left as several fragments (IPv4 over a smaller MTU, or split by the translator).")
	dFragments  = desc("fragments_sent_total", "Fragments the fragmented packets left as.")
	dHeld       = desc("fragments_held_total", "Fragments held because they overtook their datagram's first fragment.")
	dReleased   = desc("fragments_released_total", "Held fragments released once their first fragment was forwarded.")
	dNATCreated = desc("conntrack_sessions_created_total", "Sessions connection tracking created.")
	dLost       = desc("worker_lost_frames_total", "Frames a detached port did not give back to the worker.", "worker")
	dRuleHits   = desc("policy_rule_hits_total", "Packets whose policy decision a rule made (the first rule that matched), by endpoint, direction, its policy or profile, its index and action; rule -1 is the program's default deny. Only rules that decided a packet are exported.", "endpoint", "direction", "policy", "profile", "rule", "action")
	dDenied     = desc("policy_denied_packets_total", "Packets denied by an endpoint's policy: direction egress for what it sent, ingress for what was on its way to it.", "endpoint", "direction")

	dXDP         = desc("xdp_packets_total", "Decisions of the port's XDP program: redirected to gannet's socket, passed to the kernel (pass-*), dropped (drop-*); with the fast path, forwarded in the kernel (fast-hit) and sent on to the socket by reason (fast-*, counted again as redirected).", "interface", "action")
	dFastEvents  = desc("fastpath_events_total", "The kernel fast path's flow table: decisions installed, refused (install-full, install-errors, queue-full: the flow stays on the pipeline) and entries removed (evict-stale: an older generation; evict-ended: conntrack's session ended or expired; evict-idle: no packet for the idle timeout without conntrack) and egress devices taken off (egress-off: it dropped the frames redirected into it), put back (egress-on) and the decisions refused meanwhile (egress-refused).", "event")
	dFastFlows   = desc("fastpath_flows", "Flows installed in the kernel fast path's flow table.")
	dRingDropped = desc("xsk_rx_dropped_total", "Frames the kernel dropped before the socket's rx ring for reasons other than invalid descriptors (XDP_STATISTICS rx_dropped).", "interface", "queue")
	dRingRxInv   = desc("xsk_rx_invalid_descriptors_total", "Frames dropped for invalid fill descriptors (XDP_STATISTICS rx_invalid_descs).", "interface", "queue")
	dRingTxInv   = desc("xsk_tx_invalid_descriptors_total", "Tx descriptors the kernel rejected (XDP_STATISTICS tx_invalid_descs).", "interface", "queue")
	dRingFull    = desc("xsk_rx_ring_full_total", "Frames dropped because the socket's rx ring was full: gannet fell behind (XDP_STATISTICS rx_ring_full).", "interface", "queue")
	dRingFillEm  = desc("xsk_fill_ring_empty_total", "Times the kernel found the fill ring empty: no frame to receive into (XDP_STATISTICS rx_fill_ring_empty_descs).", "interface", "queue")
	dRingTxEm    = desc("xsk_tx_ring_empty_total", "Times the kernel found the tx ring empty on a wakeup (XDP_STATISTICS tx_ring_empty_descs).", "interface", "queue")

	dEndpoints   = desc("endpoints", "Workload endpoints by the state of their port.", "state")
	dRoutes      = desc("routes", "Routes in an address space's forwarding table (configured, endpoint, host and learned), by family.", "space", "family")
	dCTSessions  = desc("conntrack_sessions", "Live sessions in the connection table.")
	dCTCapacity  = desc("conntrack_capacity", "Sessions the connection table holds at most.")
	dNATInUse    = desc("nat_ports_in_use", "External ports reserved on a NAT address (TCP and UDP ports and ICMP identifiers together).", "address")
	dNATRange    = desc("nat_port_range_size", "Ports each protocol may use on a NAT address.", "address")
	dApply       = desc("apply_duration_seconds", "How long applying a change took (start, reload, API write), failures included.")
	dApplyFailed = desc("apply_failures_total", "Changes rejected (the running state kept), by where they came from.", "source")
)

var allDescs = []*prometheus.Desc{dBuildInfo, dWorkers, dIfUp, dIfRxPackets, dIfRxBytes, dIfTxPackets, dIfTxBytes,
	dForwarded, dToHost, dDropped, dReplies, dParse, dConntrack, dXlat, dICMPSent, dICMPNot, dFragmented, dFragments, dHeld,
	dReleased, dNATCreated, dLost, dRuleHits, dDenied, dXDP, dRingDropped, dRingRxInv, dRingTxInv, dRingFull, dRingFillEm,
	dRingTxEm, dFastEvents, dFastFlows, dEndpoints, dRoutes, dCTSessions, dCTCapacity, dNATInUse, dNATRange, dApply, dApplyFailed}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

var icmpSuppressed = [fwd.NumICMP]string{fwd.ICMPRateLimited: "rate-limited", fwd.ICMPRefused: "refused", fwd.ICMPNoSource: "no-source"}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	if s == nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(dBuildInfo, 1, s.Version)
	gauge(dWorkers, float64(len(s.Workers)))

	// The workers' counters, summed here.
	var st fwd.Stats
	for i := range s.Workers {
		st.Add(&s.Workers[i].Stats)
		counter(dLost, s.Workers[i].LostFrames, strconv.Itoa(i))
	}
	counter(dForwarded, st.Forwarded)
	counter(dToHost, st.ToHost)
	for r := fwd.Reason(1); r < fwd.NumReasons; r++ {
		if !r.Answered() {
			counter(dDropped, st.Drops[r], r.Stage().String(), r.String())
		}
	}
	counter(dReplies, st.Drops[fwd.ReasonARPAnswered], "arp")
	counter(dReplies, st.Drops[fwd.ReasonNDPAnswered], "ndp")
	for r := 1; r < pkt.NumReasons; r++ {
		counter(dParse, st.Parse[r], pkt.Reason(r).String())
	}
	for r := 1; r < nat.NumReasons; r++ {
		counter(dConntrack, st.NAT[r], nat.Reason(r).String())
	}
	for r := 1; r < xlat.NumReasons; r++ {
		counter(dXlat, st.Xlat[r], xlat.Reason(r).String())
	}
	for i := range fwd.NumICMPTypes {
		counter(dICMPSent, st.ICMPTypes[i], fwd.ICMPTypeName(i))
	}
	for i, name := range icmpSuppressed {
		if name != "" {
			counter(dICMPNot, st.ICMP[i], name)
		}
	}
	counter(dFragmented, st.Fragmented)
	counter(dFragments, st.Fragments)
	counter(dHeld, st.Held)
	counter(dReleased, st.Released)
	counter(dNATCreated, st.NATCreated)

	for _, ifc := range s.Interfaces {
		up := 0.0
		if ifc.Up {
			up = 1
		}
		gauge(dIfUp, up, ifc.Name, ifc.Role)
		var denied fwd.PortStats
		for q, qs := range ifc.Queues {
			queue := strconv.Itoa(q)
			counter(dIfRxPackets, qs.RxPackets, ifc.Name, queue)
			counter(dIfRxBytes, qs.RxBytes, ifc.Name, queue)
			counter(dIfTxPackets, qs.TxPackets, ifc.Name, queue)
			counter(dIfTxBytes, qs.TxBytes, ifc.Name, queue)
			denied.DeniedEgress += qs.DeniedEgress
			denied.DeniedIngress += qs.DeniedIngress
			if r := qs.Ring; r != nil {
				counter(dRingDropped, r.RxDropped, ifc.Name, queue)
				counter(dRingRxInv, r.RxInvalidDescs, ifc.Name, queue)
				counter(dRingTxInv, r.TxInvalidDescs, ifc.Name, queue)
				counter(dRingFull, r.RxRingFull, ifc.Name, queue)
				counter(dRingFillEm, r.RxFillRingEmptyDescs, ifc.Name, queue)
				counter(dRingTxEm, r.TxRingEmptyDescs, ifc.Name, queue)
			}
		}
		if f := ifc.Fast; f != nil {
			counter(dIfRxPackets, f.RxPackets, ifc.Name, "fast")
			counter(dIfRxBytes, f.RxBytes, ifc.Name, "fast")
			counter(dIfTxPackets, f.TxPackets, ifc.Name, "fast")
			counter(dIfTxBytes, f.TxBytes, ifc.Name, "fast")
		}
		if ifc.Endpoint != "" {
			counter(dDenied, denied.DeniedEgress, ifc.Endpoint, "egress")
			counter(dDenied, denied.DeniedIngress, ifc.Endpoint, "ingress")
		}
		if x := ifc.XDP; x != nil {
			x.Each(ifc.FastPath, func(action string, n uint64) { counter(dXDP, n, ifc.Name, action) })
		}
	}

	states := map[string]int{}
	for _, e := range s.Endpoints {
		states[e.State]++
	}
	for _, state := range EndpointStates {
		gauge(dEndpoints, float64(states[state]), state)
	}
	for _, r := range s.Routes {
		space := strconv.Itoa(int(r.Space))
		gauge(dRoutes, float64(r.V4), space, "ipv4")
		gauge(dRoutes, float64(r.V6), space, "ipv6")
	}
	if fp := s.FastPath; fp != nil {
		fp.Each(func(event string, n uint64) { counter(dFastEvents, n, event) })
		gauge(dFastFlows, float64(fp.Installed))
	}
	if ct := s.Conntrack; ct != nil {
		gauge(dCTSessions, float64(ct.Sessions))
		gauge(dCTCapacity, float64(ct.Capacity))
	}
	for _, a := range s.NAT {
		gauge(dNATInUse, float64(a.InUse), a.Addr.String())
		gauge(dNATRange, float64(a.RangeSize), a.Addr.String())
	}

	for _, r := range s.RuleHits {
		counter(dRuleHits, r.Hits, r.Endpoint, r.Direction, r.Policy, r.Profile, strconv.Itoa(r.Index), r.Action)
	}

	ap := &s.Apply
	buckets := make(map[float64]uint64, len(ApplyBuckets))
	var cum uint64
	for i, le := range ApplyBuckets {
		cum += ap.Buckets[i]
		buckets[le] = cum
	}
	ch <- prometheus.MustNewConstHistogram(dApply, ap.Count, ap.Sum, buckets)
	for _, src := range ApplySources {
		counter(dApplyFailed, ap.Failures[src], src)
	}
}
