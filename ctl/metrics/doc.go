// Package metrics owns gannet's Prometheus exposition: a Snapshot of what
// the daemon knows (the workers' counters, its ports and their sockets,
// endpoints, routes, connection table, NAT ports, applies), one Collector
// that turns a Snapshot into metrics at scrape time, and the HTTP server
// that answers GET /metrics.
//
// Counters are data (DESIGN 3b): workers count into plain per-worker
// arrays and publish them once per batch; a scrape reads and sums them.
// Nothing here is called per packet, and no metric object is kept for a
// counter the data path owns — each scrape makes constant metrics from
// the copy it read. The daemon (ctl) takes the Snapshot on its loop, so
// a scrape never races a change; this package never touches the daemon's
// state itself and never changes anything.
package metrics
