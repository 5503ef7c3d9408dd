// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// fastpath.h: the kernel tier of gannet's forwarding, included by xdp.c. The pipeline in
// userspace decides every flow; once it has fully decided an established TCP or UDP flow
// (route, policy verdict, NAT mapping, neighbour) it installs the result in the flows map,
// and this code repeats that decision for the flow's later packets without the AF_XDP
// socket: rewrite the Ethernet header, decrement the TTL or hop limit, apply the NAT
// rewrite with the checksum deltas the pipeline computed, and redirect to the egress
// device through the egress devmap. A flow out of a translated address space across the
// IPv6 core (FP_XLAT46) has its IPv4 header replaced by the IPv6 header xlat's To6
// writes: the frame grows 20 bytes at the front (bpf_xdp_adjust_head), the payload
// stays put, and one precomputed delta patches the L4 checksum for NAT and for the
// pseudo-header's new addresses. The other direction, an answer from the core into a
// space (FP_XLAT64), has its IPv6 header replaced by the IPv4 header xlat's To4 writes:
// the frame shrinks 20 bytes at the front, the IPv4 header checksum is computed here,
// and the IPv4 Identification comes from this program's own generator (xlat_id), a
// counter per CPU as the pipeline's is a counter per worker (RFC 7915 5.1).
//
// Anything the decision does not cover goes to the socket exactly as without the fast
// path, counted by reason: a miss, an entry of an older generation of the tables (every
// publish of routes, policy, endpoints or NAT bumps the generation, so a stale decision
// is never applied), TCP SYN/FIN/RST (conntrack follows the session's state), fragments
// and IPv6 extension headers, TTL <= 1 (Time Exceeded), a packet over the egress MTU
// (for a translated flow: one To6 or To4 would fragment or answer), a translated UDP datagram
// without a checksum (To6 computes it over the whole datagram), and anything unusual (VLAN tags, IPv4 options, a bad IPv4 header checksum, lengths that
// do not add up, a frame to another MAC than the one the flow was decided for, an egress
// device without a devmap entry). The output frame is byte for byte what the pipeline
// would have sent (fwd's differential test runs both).
//
// Checksums: the deltas are ones' complement sums over the frame's 16-bit words read in
// memory order (little-endian on the bpfel target, the only one gannet builds), which is
// how nat computes them; the ones' complement sum does not depend on byte order (RFC 1071
// section 2(B)). Applying the pipeline's updates one after the other (NAT, then the TTL)
// or their sum at once gives the same field: folding is associative for these sums.

#define FP_IPV4 4
#define FP_IPV6 6

// flow.flags
#define FP_REWRITE 1 // NAT changed the tuple: write src/dst/ports and patch the L4 checksum
#define FP_XLAT46 2  // 4->6 out of a translated space: the IPv4 header becomes an IPv6 one
#define FP_XLAT64 4  // 6->4 into a translated space: the IPv6 header becomes an IPv4 one

// To4 sets DF on a translated packet longer than this (the IPv6 minimum MTU less the 20
// bytes the header shrinks by, RFC 7915 5.1) and leaves shorter ones fragmentable.
#define XLAT64_DF_LIMIT (1280 - XLAT_GROWTH)

// A translated packet's header grows by this much (IPv6 header minus IPv4 header).
#define XLAT_GROWTH (IPV6_LEN - IPV4_MIN_LEN)

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN_ 0x01
#define TCP_SYN_ 0x02
#define TCP_RST_ 0x04

// A flow as the packet arrives: the ingress device and the 5-tuple before any rewrite.
// IPv4 addresses are in the first word of src and dst, the rest zero. Ports are in
// network byte order. Mirrored by FlowKey in fastpath.go.
struct flow_key {
	__u32 ifindex;
	__u8 family; // FP_IPV4 or FP_IPV6
	__u8 proto;  // IPPROTO_TCP_ or IPPROTO_UDP_
	__u16 pad;
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
};

// What the pipeline decided for the flow, and what the program counts for it. The Go
// side writes every field but last_seen, packets and bytes, which it reads back (the
// program updates the counters atomically: CPUs share the entry). Mirrored by Flow in
// fastpath.go.
struct flow {
	__u32 gen;     // the generation of the tables the decision was made under
	__u32 egress;  // egress ifindex, a key of the egress devmap
	__u8 dmac[6];  // Ethernet destination out (the neighbour's or endpoint's MAC)
	__u8 smac[6];  // Ethernet source out
	__u8 in_mac[6]; // Ethernet destination the flow arrives with (gateway or port MAC)
	__u16 mtu;     // longest IP packet (as it arrives) the decision covers
	__u8 flags;
	__u8 pad;
	__u16 mtu_frag; // FP_XLAT46: longest IPv4 packet without DF (the translator fragments
	                // longer ones to the lowest IPv6 MTU); mtu is then the limit with DF
	__u32 src[4];  // the tuple out (FP_REWRITE; FP_XLAT46: the IPv6 addresses; FP_XLAT64:
	               // the IPv4 addresses, in the first word)
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u16 l3_delta; // IPv4 header checksum delta of the address rewrite, memory order
	__u16 l4_delta; // TCP/UDP checksum delta of the address and port rewrite (FP_XLAT46,
	                // FP_XLAT64: and of the pseudo-header's addresses changing family)
	__u64 last_seen; // bpf_ktime_get_ns of the last packet forwarded here
	__u64 packets;
	__u64 bytes;     // IP bytes (the L3 length), as conntrack counts them
};

// Capacity is set by the Go side before load (Options.FastPath); the maps are shared by
// the programs of every port.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

// The current generation of the tables, bumped by the Go side on every publish, and the
// lease the Go side renews while it runs: once gannet stops or hangs, no decision is
// applied after the lease ends (every frame goes to the socket, whose absence the
// no-socket policy handles: fail closed). Mirrored by xdpFpGen.
struct fp_gen {
	__u32 gen;
	__u32 pad;
	__u64 expires; // bpf_ktime_get_ns after which no entry applies
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_gen);
} generation SEC(".maps");

// The IPv4 Identification generator of 6->4 translation in the kernel (RFC 7915 5.1: "set
// according to a Fragment Identification generator"): a counter per CPU, incremented per
// translated packet, so IDs repeat on a CPU only after 65536 of its packets, which is what
// reassembly needs (and RFC 6864 4.1 asks nothing of atomic datagrams). The pipeline's
// generator is a counter per worker; the two never share packets of a flow at once.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xlat_id SEC(".maps");

// The devices flows may leave by, keyed by ifindex.
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} egress SEC(".maps");

// csum_fold folds a sum of 16-bit words to 16 bits with end-around carry.
static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

// fast_l4 writes the flow's ports into the TCP/UDP header at l4 and patches its checksum
// with the flow's delta. It returns -1 only if the frame is shorter than the headers
// fast_forward checked, which cannot happen.
static __always_inline int fast_l4(__u8 *l4, void *end, struct flow *f, __u8 proto)
{
	if (l4 + 8 > (__u8 *)end)
		return -1;
	__builtin_memcpy(l4, &f->sport, 2);
	__builtin_memcpy(l4 + 2, &f->dport, 2);
	if (proto == IPPROTO_TCP_) {
		if (l4 + 20 > (__u8 *)end)
			return -1;
		__u16 *c = (__u16 *)(l4 + 16);
		*c = ~csum_fold((__u64)(__u16)~*c + f->l4_delta);
		return 0;
	}
	__u16 *c = (__u16 *)(l4 + 6);
	// Zero is "no checksum" and stays; a computed zero is sent as all ones (RFC 768).
	if (*c != 0) {
		__u16 v = ~csum_fold((__u64)(__u16)~*c + f->l4_delta);
		*c = v ? v : 0xffff;
	}
	return 0;
}

// fast_rewrite turns the frame (trimmed to its IP packet) into the one the pipeline
// would send for flow f. It returns -1 only if the frame is shorter than the headers
// fast_forward checked, which cannot happen.
static __always_inline int fast_rewrite(struct xdp_md *ctx, struct flow *f, int family, __u8 proto, __u8 ttl)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = (__u8 *)(eth + 1);
	__u8 *l4;
	int rewrite = f->flags & FP_REWRITE;

	if (family == FP_IPV4) {
		if (ip + IPV4_MIN_LEN > (__u8 *)end)
			return -1;
		__u16 *w = (__u16 *)ip;
		if (rewrite) {
			__builtin_memcpy(ip + 12, &f->src[0], 4);
			__builtin_memcpy(ip + 16, &f->dst[0], 4);
		}
		ip[8] = ttl - 1;
		// The TTL is the low byte of the word TTL|protocol read in memory order: the
		// word drops by one, so ~old + new = 0xfffe (RFC 1624 eqn. 3).
		w[5] = ~csum_fold((__u64)(__u16)~w[5] + f->l3_delta + 0xfffe);
		l4 = ip + IPV4_MIN_LEN;
	} else {
		if (ip + IPV6_LEN > (__u8 *)end)
			return -1;
		if (rewrite) {
			__builtin_memcpy(ip + 8, f->src, 16);
			__builtin_memcpy(ip + 24, f->dst, 16);
		}
		ip[7] = ttl - 1;
		l4 = ip + IPV6_LEN;
	}
	__builtin_memcpy(eth->h_dest, f->dmac, 6);
	__builtin_memcpy(eth->h_source, f->smac, 6);
	if (!rewrite)
		return 0;
	return fast_l4(l4, end, f, proto);
}

// fast_xlat46 turns the frame of a flow out of a translated space (trimmed to its IPv4
// packet, then grown XLAT_GROWTH bytes at the front) into the IPv6 one xlat's To6 makes
// and the pipeline sends (RFC 7915 4.1): traffic class = TOS, flow label 0, payload
// length = total length - 20, next header = protocol, hop limit = TTL - 1 (the router's
// hop), the RFC 6052 / EAM addresses the pipeline mapped, the payload where it was. tos,
// ttl, l3len and proto were read from the IPv4 header before the head moved over it.
static __always_inline int fast_xlat46(struct xdp_md *ctx, struct flow *f, __u8 proto, __u8 tos, __u8 ttl,
				       __u32 l3len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = (__u8 *)(eth + 1);

	if (ip + IPV6_LEN > (__u8 *)end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->dmac, 6);
	__builtin_memcpy(eth->h_source, f->smac, 6);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	ip[0] = 0x60 | (tos >> 4);
	ip[1] = (__u8)(tos << 4);
	ip[2] = 0;
	ip[3] = 0;
	*(__u16 *)(ip + 4) = bpf_htons((__u16)(l3len - IPV4_MIN_LEN));
	ip[6] = proto;
	ip[7] = ttl - 1;
	__builtin_memcpy(ip + 8, f->src, 16);
	__builtin_memcpy(ip + 24, f->dst, 16);
	return fast_l4(ip + IPV6_LEN, end, f, proto);
}

// fast_xlat64 turns the frame of an answer from the core into a translated space
// (trimmed to its IPv6 packet, then shrunk XLAT_GROWTH bytes at the front) into the IPv4
// one xlat's To4 makes and the pipeline sends (RFC 7915 5.1): TOS = traffic class, total
// length = payload length + 20, Identification from *id, DF when longer than
// XLAT64_DF_LIMIT, TTL = hop limit - 1 (the router's hop), protocol = next header, the
// addresses the pipeline mapped (and NATed), the header checksum computed, the payload
// where it was. tos, ttl, l3len and proto were read from the IPv6 header before the head
// moved over it.
static __always_inline int fast_xlat64(struct xdp_md *ctx, struct flow *f, __u8 proto, __u8 tos, __u8 ttl,
				       __u32 l3len, __u32 *id)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = (__u8 *)(eth + 1);
	__u32 total = l3len - XLAT_GROWTH;

	if (ip + IPV4_MIN_LEN > (__u8 *)end)
		return -1;
	__builtin_memcpy(eth->h_dest, f->dmac, 6);
	__builtin_memcpy(eth->h_source, f->smac, 6);
	eth->h_proto = bpf_htons(ETH_P_IP);
	__u16 *w = (__u16 *)ip;
	ip[0] = 0x45;
	ip[1] = tos;
	w[1] = bpf_htons((__u16)total);
	w[2] = bpf_htons((__u16)++*id);
	w[3] = total > XLAT64_DF_LIMIT ? bpf_htons(0x4000) : 0;
	ip[8] = ttl - 1;
	ip[9] = proto;
	w[5] = 0;
	__builtin_memcpy(ip + 12, &f->src[0], 4);
	__builtin_memcpy(ip + 16, &f->dst[0], 4);
	__u64 sum = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	w[5] = ~csum_fold(sum);
	return fast_l4(ip + IPV4_MIN_LEN, end, f, proto);
}

// FP_MISS counts a miss by reason and sends the frame on to to_socket.
#define FP_MISS(field) COUNT(field, -1)

// fast_forward forwards the frame of an established flow the pipeline installed and
// returns the XDP action, or -1 when the frame must go to the pipeline.
static __always_inline int fast_forward(struct xdp_md *ctx, int family)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct flow_key k = {};
	__u32 l3len, l4off;
	__u8 ttl, tos = 0, df = 0;

	if ((void *)(eth + 1) > end)
		return -1;
	// Tagged frames: the pipeline sends untagged ones; not worth a second layout here.
	if (eth->h_proto != bpf_htons(family == FP_IPV4 ? ETH_P_IP : ETH_P_IPV6))
		return FP_MISS(fast_other);
	__u8 *ip = (__u8 *)(eth + 1);
	__u32 avail = (__u32)((long)end - (long)ip);

	k.ifindex = ctx->ingress_ifindex;
	k.family = family;
	if (family == FP_IPV4) {
		if (ip + IPV4_MIN_LEN > (__u8 *)end)
			return -1;
		if (ip[0] != 0x45)
			return FP_MISS(fast_other); // options (or a malformed header)
		__u16 *w = (__u16 *)ip;
		__u64 sum = 0;
#pragma unroll
		for (int i = 0; i < 10; i++)
			sum += w[i];
		if (csum_fold(sum) != 0xffff)
			return FP_MISS(fast_other); // the pipeline drops it as malformed
		if (w[3] & bpf_htons(0x3fff))
			return FP_MISS(fast_fragment); // MF or an offset
		l3len = bpf_ntohs(w[1]);
		tos = ip[1];
		df = (ip[6] & 0x40) != 0;
		ttl = ip[8];
		k.proto = ip[9];
		__builtin_memcpy(&k.src[0], ip + 12, 4);
		__builtin_memcpy(&k.dst[0], ip + 16, 4);
		l4off = IPV4_MIN_LEN;
	} else {
		if (ip + IPV6_LEN > (__u8 *)end)
			return -1;
		l3len = IPV6_LEN + bpf_ntohs(*(__u16 *)(ip + 4));
		tos = (__u8)(ip[0] << 4) | (ip[1] >> 4); // the traffic class
		k.proto = ip[6];
		ttl = ip[7];
		__builtin_memcpy(k.src, ip + 8, 16);
		__builtin_memcpy(k.dst, ip + 24, 16);
		l4off = IPV6_LEN;
		if (k.proto == IPPROTO_HOPOPTS_ || k.proto == IPPROTO_ROUTING_ || k.proto == IPPROTO_DSTOPTS_ ||
		    k.proto == 44 /* fragment */)
			return FP_MISS(fast_fragment);
	}
	if (l3len < l4off || l3len > avail)
		return FP_MISS(fast_other);
	if (k.proto != IPPROTO_TCP_ && k.proto != IPPROTO_UDP_)
		return FP_MISS(fast_other);

	__u8 *l4 = ip + l4off;
	__u32 seg = l3len - l4off;
	if (k.proto == IPPROTO_TCP_) {
		if (l4 + 20 > (__u8 *)end || seg < 20)
			return FP_MISS(fast_other);
		__u32 doff = (l4[12] >> 4) * 4;
		if (doff < 20 || doff > seg)
			return FP_MISS(fast_other);
		if (l4[13] & (TCP_SYN_ | TCP_FIN_ | TCP_RST_))
			return FP_MISS(fast_tcp_flags);
	} else {
		if (l4 + 8 > (__u8 *)end || seg < 8)
			return FP_MISS(fast_other);
		__u32 ulen = bpf_ntohs(*(__u16 *)(l4 + 4));
		if (ulen < 8 || ulen > seg)
			return FP_MISS(fast_other);
	}
	__builtin_memcpy(&k.sport, l4, 2);
	__builtin_memcpy(&k.dport, l4 + 2, 2);
	if (ttl <= 1)
		return FP_MISS(fast_ttl);

	struct flow *f = bpf_map_lookup_elem(&flows, &k);
	if (!f)
		return FP_MISS(fast_miss);
	__u32 zero = 0;
	struct fp_gen *gen = bpf_map_lookup_elem(&generation, &zero);
	__u64 now = bpf_ktime_get_ns();
	if (!gen || f->gen != gen->gen || now > gen->expires)
		return FP_MISS(fast_stale);
	int xlat = f->flags & FP_XLAT46;
	int xlat64 = f->flags & FP_XLAT64;
	if (xlat || xlat64) {
		// The key's family is the one the flow arrives in. A zero UDP checksum: To6
		// computes the whole checksum (RFC 7915 4.5), which a per-flow delta cannot give;
		// in IPv6 it is not a valid checksum at all, and the pipeline judges it.
		if (family != (xlat ? FP_IPV4 : FP_IPV6) || (k.proto == IPPROTO_UDP_ && *(__u16 *)(l4 + 6) == 0))
			return FP_MISS(fast_other);
	}
	// A translated packet without DF that outgrows the lowest IPv6 MTU is fragmented by
	// the translator (mtu_frag); with DF, one that outgrows the next hop is answered.
	// 6->4: mtu is the IPv4 next hop's limit in IPv6 terms; To4 fragments a longer packet
	// or answers it (its DF follows from its length), either way the pipeline's.
	if (l3len > (xlat && !df ? f->mtu_frag : f->mtu))
		return FP_MISS(fast_mtu);
	__u32 d4, m4;
	__u16 d2, m2;
	__builtin_memcpy(&d4, eth->h_dest, 4);
	__builtin_memcpy(&d2, eth->h_dest + 4, 2);
	__builtin_memcpy(&m4, f->in_mac, 4);
	__builtin_memcpy(&m2, f->in_mac + 4, 2);
	if (d4 != m4 || d2 != m2)
		return FP_MISS(fast_other);
	__u32 out = f->egress;
	if (!bpf_map_lookup_elem(&egress, &out))
		return FP_MISS(fast_other);
	__u32 *id = 0;
	if (xlat64 && !(id = bpf_map_lookup_elem(&xlat_id, &zero)))
		return FP_MISS(fast_other); // cannot happen: an array's slot is always there

	// A translated packet's header grows by 20 bytes into the headroom (4->6) or shrinks
	// by 20 at the front (6->4); the payload stays where it is. Done first so that a
	// frame the head cannot move in goes to the pipeline as it came.
	int shift = xlat ? -XLAT_GROWTH : xlat64 ? XLAT_GROWTH : 0;
	if (shift && bpf_xdp_adjust_head(ctx, shift) != 0)
		return FP_MISS(fast_other);
	// The pipeline sends the IP packet and nothing after it (Ethernet padding, trailing
	// bytes): trim the same, before anything is rewritten.
	if (avail > l3len && bpf_xdp_adjust_tail(ctx, -(int)(avail - l3len)) != 0) {
		if (shift)
			bpf_xdp_adjust_head(ctx, -shift); // give the frame back as it came
		return FP_MISS(fast_other);
	}

	// Decided: from here on the frame is the pipeline's output.
	f->last_seen = now;
	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, l3len);
	int err;
	if (xlat)
		err = fast_xlat46(ctx, f, k.proto, tos, ttl, l3len);
	else if (xlat64)
		err = fast_xlat64(ctx, f, k.proto, tos, ttl, l3len, id);
	else
		err = fast_rewrite(ctx, f, family, k.proto, ttl);
	if (err != 0)
		return DROP_MALFORMED(); // lengths were checked above: cannot happen
	return COUNT(fast_hit, bpf_redirect_map(&egress, out, 0));
}
