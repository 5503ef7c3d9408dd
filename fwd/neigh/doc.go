// Package neigh owns the neighbour (IP -> MAC) tables the data path reads when it sends a
// packet to a next hop on an uplink.
//
// A Snapshot is an immutable table keyed by (ifindex, address); a lookup is one map probe
// with a fixed-size key and never allocates. A Cache mirrors the kernel's neighbour table
// for a set of links through netlink (dump, then subscribe to updates), publishes a new
// Snapshot behind an atomic pointer whenever the table changes, and asks the kernel to
// resolve addresses the data path reported as missing.
//
// The package never resolves neighbours itself (it sends no ARP or NDP of its own: the
// kernel does, with its own timers and state machine), never holds packets waiting for
// resolution, and never writes neighbour entries other than the kernel's resolution
// requests.
package neigh
