// Package bgp is gannet's BGP speaker: an embedded GoBGP v4 server (no gRPC
// listener) behind a small API the daemon drives. It announces and
// withdraws the node's own routes, turns the config's peers and filters
// into GoBGP neighbors and policies, and hands the best paths it learns
// (multipath: every equal next hop) to one callback, in order. It never
// touches the forwarding tables: what to do with a learned route is the
// daemon's.
package bgp

import _ "github.com/osrg/gobgp/v4/pkg/server" // the embedded speaker
