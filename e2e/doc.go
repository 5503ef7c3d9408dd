// Package e2e holds gannet's end-to-end tests: real `gannet run` daemons in
// network namespaces the tests create, real workloads (veth pairs into their
// own namespaces, with the kernel's ping, traceroute and TCP), real fabric
// links between gannet hosts. Nothing here is mocked; the tests need root
// and skip with a message naming what is missing otherwise.
//
// The package has no code of its own: it is a test harness over the built
// binary (TestMain builds ./cmd/gannet once into a temporary directory).
package e2e
