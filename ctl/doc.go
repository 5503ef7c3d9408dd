// Package ctl is gannet's control plane: the configuration model and its
// validation, the daemon behind `gannet run` that turns a validated
// configuration into data-plane tables, ports and workers, and stops them
// cleanly.
//
// ctl owns what runs on the slow path: reading files, resolving interfaces,
// loading the XDP program, creating sockets, starting workers, publishing
// table snapshots. It never touches a packet; the data plane (fwd) does, and
// learns everything it needs from the snapshots ctl publishes.
//
// Validation happens in full before anything is attached: a bad file is
// rejected with one line per problem, each naming its field
// (`workloadEndpoints[1].mac: "zz" is not an Ethernet MAC address`), and the
// running system is untouched.
package ctl
