// Package pktgen owns what gannet's traffic generator sends and what its
// receiver checks: packet templates built once per flow (IPv4 and IPv6;
// UDP, TCP SYN, ICMP echo), the payload header every generated packet
// carries (magic, flow, sequence number, transmit timestamp) with an
// incremental checksum fix so the send loop patches only those fields,
// the receive-side parser, per-flow loss/reorder/duplicate accounting and
// a fixed-bucket latency histogram.
//
// The send and receive paths allocate nothing. Templates are built with
// gopacket, once, off the hot path. The package never touches sockets or
// devices: the AF_XDP and BPF_PROG_RUN engines that move these frames live
// in the *_linux.go files of this package and in cmd/gannet (pktgen verb).
package pktgen
