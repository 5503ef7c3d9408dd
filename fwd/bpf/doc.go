// Package bpf owns gannet's XDP program (xdp.c) and its maps: it decides, per received
// frame, whether the kernel gets it (traffic the host itself must handle: its own
// addresses, and on uplinks ARP, NDP, link-local and multicast traffic) or the AF_XDP
// socket of the receiving queue (everything gannet forwards), and what happens when that
// queue has no socket (pass or drop). It counts every outcome per CPU.
//
// One Program serves one interface. The package never opens sockets (fwd/xsk does), never
// forwards, rewrites or polices a frame, and never changes a device's configuration other
// than attaching and detaching its own program.
//
// xdp.c is compiled by bpf2go; the object and its Go wrapper (xdp_bpfel.o, xdp_bpfel.go) are
// committed and reproduced by `make generate` (see gen.go for what that needs).
package bpf
