// Package forward is the harness behind `gannet bench forward`: it builds a
// generator -> device under test -> sink topology in network namespaces,
// runs each scenario (Linux forwarding, nftables, TAYGA, dpdk-testpmd, an
// in-kernel XDP redirect, gannet) with the same generator and the same
// packets, and reports packets per second delivered at the sink, loss and
// the DUT's CPU: median with min and max over several runs, as a table with
// ratios against the Linux baseline and the XDP ceiling, JSON and a PNG
// chart.
//
// What needs root lives in *_linux.go files; the statistics, the report,
// the chart and the peers' configuration text (nftables rules, TAYGA and
// gannet configs) are plain functions tested without root. The harness
// never sends to an address outside the namespaces it made, and removes
// them when done or interrupted.
package forward
