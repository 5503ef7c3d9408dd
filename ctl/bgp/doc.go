// Package bgp is gannet's BGP speaker: an embedded GoBGP v4 server (no gRPC
// listener) behind a small API the daemon drives. It announces and
// withdraws the node's own routes, turns the config's peers and filters
// into GoBGP neighbors and policies, and hands the best paths it learns
// (multipath: every equal next hop) to one callback, in order. It never
// touches the forwarding tables: what to do with a learned route is the
// daemon's.
//
// Sockets belong to the network namespace of the thread that opens them,
// and GoBGP opens its listener and connections on goroutines of its own:
// run the whole process in the namespace the sessions live in.
package bgp
