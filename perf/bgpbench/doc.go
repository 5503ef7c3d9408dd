// Package bgpbench is `gannet bench bgp`: a full Internet table fed by one
// gobgpd peer into gannet (`gannet run` with BGP) and, from the same peer
// in the same run, into BIRD 2 programming the Linux kernel's FIB, in
// network namespaces. It measures the time until every route forwards,
// the time until every route is gone after the feeder shuts the session,
// peak memory, and gannet's forwarding rate of established traffic while
// it converges against its idle rate, and prints them side by side. It
// owns the feed (an MRT file), the topology and the report, never the
// speakers.
package bgpbench
