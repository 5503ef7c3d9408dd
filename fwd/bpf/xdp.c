//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// xdp.c: the XDP program gannet attaches to each of its ports. Every received frame
// flows through gannet_xdp once: it is either passed to the kernel (traffic the host
// itself must handle, on uplinks only: nothing from a workload port reaches the host
// stack without gannet checking it), redirected to the AF_XDP socket of its receive queue (everything
// gannet forwards), or, when that queue has no socket, passed or dropped by policy.
// Frames too short for the headers they announce are dropped and counted.
//
// The program never decides routing or policy: the pipeline in userspace owns every
// forwarding decision. Without the fast path it only decides who sees the frame. With it
// (fast_path, the section "Fast path" below) it also repeats, for established flows, a
// decision the pipeline made and installed in the flows map: a hit is rewritten and
// redirected to its egress device here; everything else reaches the socket as before.
//
// Build: `make generate` (go generate ./fwd/bpf) runs bpf2go, which needs clang (14 or
// newer) and the libbpf headers (<bpf/bpf_helpers.h>, Debian/Ubuntu package libbpf-dev);
// the generated .o and .go files are committed so building gannet needs neither.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Roles, mirrored by Role in bpf.go.
#define ROLE_UPLINK 0
#define ROLE_WORKLOAD 1

// The per-CPU counters, one per outcome. bpf2go exports this struct to Go, so Stats in
// bpf.go copies the fields by name and a field added here cannot be forgotten there.
struct counters {
	__u64 redirect;          // handed to the queue's AF_XDP socket
	__u64 pass_host;         // destination is one of the host's own addresses
	__u64 pass_arp;          // ARP on an uplink
	__u64 pass_ndp;          // NS/NA/RS/RA/redirect on an uplink
	__u64 pass_link_local;   // IPv6 link-local destination on an uplink
	__u64 pass_multicast;    // IPv4 broadcast/multicast, IPv6 multicast on an uplink
	__u64 pass_other_proto;  // not IPv4/IPv6/ARP (LLDP, LACP, ...) on an uplink
	__u64 pass_no_socket;    // no socket on the queue, policy pass
	__u64 drop_no_socket;    // no socket on the queue, policy drop
	__u64 drop_malformed;    // shorter than the headers it announces, or a bad IP version
	// Fast path (counted only when fast_path is set). A hit is forwarded here and counted
	// only as fast_hit; every miss is counted once by reason and then once more by where
	// to_socket sent it.
	__u64 fast_hit;          // rewritten and redirected to the flow's egress device
	__u64 fast_miss;         // no flow installed for the 5-tuple
	__u64 fast_stale;        // flow installed under an older generation of the tables, or
	                         // the Go side's lease ended
	__u64 fast_tcp_flags;    // TCP SYN, FIN or RST: the pipeline tracks the session's state
	__u64 fast_fragment;     // an IPv4 fragment, or an IPv6 extension header
	__u64 fast_ttl;          // TTL or hop limit <= 1: the pipeline answers Time Exceeded
	__u64 fast_mtu;          // longer than the egress MTU: the pipeline fragments or answers
	__u64 fast_other;        // not plain TCP/UDP the program handles (VLAN tag, IPv4
	                         // options, bad header checksum or lengths, no egress device)
};

struct addr6 {
	__u32 w[4];
};

// Set through the CollectionSpec's variables before load (Load in bpf.go); the verifier
// then prunes the branches of the other role.
volatile const __u8 role = ROLE_UPLINK;
volatile const __u32 no_socket_action = XDP_PASS;
// Whether the program looks established flows up in the flows map (Options.FastPath).
volatile const __u8 fast_path = 0;

// The AF_XDP socket of each receive queue, indexed by rx_queue_index.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// The host's own addresses, in network byte order; values are unused.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} host4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr6);
	__type(value, __u8);
} host6 SEC(".maps");

// One slot of per-CPU counters; Stats in bpf.go sums the CPUs.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} stats SEC(".maps");

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_DSTOPTS_ 60
#define ARP_LEN 28 // Ethernet/IPv4 ARP
#define IPV4_MIN_LEN 20
#define IPV6_LEN 40
#define ICMPV6_ROUTER_SOLICIT 133
#define ICMPV6_REDIRECT 137

// COUNT bumps this CPU's counter named field and evaluates to action.
#define COUNT(field, action)                                                 \
	({                                                                   \
		__u32 zero_ = 0;                                             \
		struct counters *c_ = bpf_map_lookup_elem(&stats, &zero_);   \
		if (c_)                                                      \
			c_->field++;                                         \
		(action);                                                    \
	})
#define PASS(field) COUNT(field, XDP_PASS)
#define DROP_MALFORMED() COUNT(drop_malformed, XDP_DROP)

// to_socket redirects to the queue's socket; bpf_redirect_map returns its flags argument
// (the policy's action) when the queue has no socket. XDP_REDIRECT here means the socket
// was found; the kernel counts a full rx ring afterwards in the socket's rx_dropped.
static __always_inline int to_socket(struct xdp_md *ctx)
{
	int act = bpf_redirect_map(&xsks, ctx->rx_queue_index, no_socket_action);
	if (act == XDP_REDIRECT)
		return COUNT(redirect, act);
	if (act == XDP_DROP)
		return COUNT(drop_no_socket, act);
	return COUNT(pass_no_socket, act);
}

#include "fastpath.h"

// is_ndp reports whether the IPv6 packet at ip6 carries an NDP message (RFC 4861:
// router/neighbour solicitation and advertisement, redirect), looking through at most
// three hop-by-hop, routing or destination-options headers. A fragment or any other
// header ends the search: NDP is never fragmented (RFC 6980).
static __always_inline int is_ndp(void *ip6, void *end, int *malformed)
{
	__u8 nh = ((__u8 *)ip6)[6];
	__u8 *p = (__u8 *)ip6 + IPV6_LEN;

#pragma unroll
	for (int i = 0; i < 3; i++) {
		if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ && nh != IPPROTO_DSTOPTS_)
			break;
		if (p + 2 > (__u8 *)end) {
			*malformed = 1;
			return 0;
		}
		nh = p[0];
		p += ((__u32)p[1] + 1) * 8;
	}
	if (nh != IPPROTO_ICMPV6_)
		return 0;
	if (p + 1 > (__u8 *)end) {
		*malformed = 1;
		return 0;
	}
	return p[0] >= ICMPV6_ROUTER_SOLICIT && p[0] <= ICMPV6_REDIRECT;
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, __u8 *ip, void *end)
{
	if (ip + IPV4_MIN_LEN > (__u8 *)end)
		return DROP_MALFORMED();
	if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5)
		return DROP_MALFORMED();

	__u32 daddr;
	__builtin_memcpy(&daddr, ip + 16, 4);
	// Only uplinks hand the host its own traffic. On a workload port a
	// packet to the host goes to gannet like any other: it checks the
	// source and drops it (endpointToHost), so a workload never reaches
	// the host stack with a forged source or around its policy.
	if (role == ROLE_UPLINK && bpf_map_lookup_elem(&host4, &daddr))
		return PASS(pass_host);
	if (role == ROLE_UPLINK) {
		// 224.0.0.0/4 and the limited broadcast: routing protocols, DHCP, VRRP.
		if ((bpf_ntohl(daddr) >> 28) == 0xe || daddr == 0xffffffff)
			return PASS(pass_multicast);
	}
	if (fast_path) {
		int act = fast_forward(ctx, FP_IPV4);
		if (act >= 0)
			return act;
	}
	return to_socket(ctx);
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, __u8 *ip, void *end)
{
	if (ip + IPV6_LEN > (__u8 *)end)
		return DROP_MALFORMED();
	if ((ip[0] >> 4) != 6)
		return DROP_MALFORMED();

	int malformed = 0;
	int ndp = is_ndp(ip, end, &malformed);
	if (malformed)
		return DROP_MALFORMED();
	if (ndp) {
		// On a workload port the pipeline answers for the gateway fe80::1 itself.
		if (role == ROLE_WORKLOAD)
			return to_socket(ctx);
		return PASS(pass_ndp);
	}

	struct addr6 daddr;
	__builtin_memcpy(&daddr, ip + 24, sizeof(daddr));
	if (role == ROLE_UPLINK && bpf_map_lookup_elem(&host6, &daddr))
		return PASS(pass_host);
	if (role == ROLE_UPLINK) {
		// MLD, router advertisements' multicast and link-local traffic belong to the
		// kernel's own IPv6 stack on the link: gannet never forwards them.
		if (ip[24] == 0xff)
			return PASS(pass_multicast);
		if (ip[24] == 0xfe && (ip[25] & 0xc0) == 0x80)
			return PASS(pass_link_local);
	}
	if (fast_path) {
		int act = fast_forward(ctx, FP_IPV6);
		if (act >= 0)
			return act;
	}
	return to_socket(ctx);
}

SEC("xdp")
int gannet_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return DROP_MALFORMED();
	__u16 proto = eth->h_proto;
	__u8 *l3 = (__u8 *)(eth + 1);

	// Up to two VLAN tags (802.1Q, 802.1ad) are looked through, the same depth as pkt.Parse,
	// so kernel-owned traffic on VLAN subinterfaces still reaches the kernel. Deeper stacks
	// fall to the "other protocol" case below. NICs that strip tags in hardware hand the
	// program untagged frames; the decision is then made on the inner protocol anyway.
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		if (l3 + 4 > (__u8 *)end)
			return DROP_MALFORMED();
		__builtin_memcpy(&proto, l3 + 2, 2);
		l3 += 4;
	}

	if (proto == bpf_htons(ETH_P_IP))
		return handle_ipv4(ctx, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return handle_ipv6(ctx, l3, end);
	if (proto == bpf_htons(ETH_P_ARP)) {
		if (l3 + ARP_LEN > (__u8 *)end)
			return DROP_MALFORMED();
		// On a workload port the pipeline answers for the gateway 169.254.1.1.
		if (role == ROLE_WORKLOAD)
			return to_socket(ctx);
		return PASS(pass_arp);
	}
	// Anything else (LLDP, LACP, a third VLAN tag, ...): the kernel's on an uplink; on a
	// workload port the pipeline drops and counts it, so a workload never reaches the
	// host's stack with protocols gannet does not forward.
	if (role == ROLE_UPLINK)
		return PASS(pass_other_proto);
	return to_socket(ctx);
}
