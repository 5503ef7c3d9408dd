// Package lab owns gannet's network-namespace lab: a typed model of a
// small data center (nodes, links, workloads), each gannet host's
// configuration generated from it as ctl/config values, and the plumbing
// that builds it on one machine — named namespaces (gl-*), veth pairs,
// BIRD and `gannet run` daemons tracked by pid files under a state
// directory — then checks it with real tools and draws it. It never
// touches an interface or namespace it did not make, and uses only the
// benchmarking and documentation address ranges. The plumbing it stands
// on — namespaces, veth pairs, commands and code run inside — is
// lab/namespace, which any package's tests may import.
package lab
