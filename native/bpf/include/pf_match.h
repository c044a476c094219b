/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps and the matcher shared by xdp_ingress.c and tc_egress.c. Each object
 * declares the maps; LIBBPF_PIN_BY_NAME makes the loader create them once under
 * /sys/fs/bpf/openc2/<instance>/ and both programs (and a restarted agent) open
 * the same pins. Layouts: pf_abi.h.
 */
#ifndef PF_MATCH_H
#define PF_MATCH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "pf_abi.h"

/* Active generation (0 or 1) of the rule maps. Key 0. Written by the loader
 * after the other generation is complete: the one update that switches rule sets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_gen SEC(".maps");

/* Rule maps, per family: an array of two maps (index: generation)
 * whose slots user space fills with freshly created maps. Building a
 * generation never has to empty the old maps key by key: the loader creates
 * new inner maps, fills them (batched), stores them in the inactive slot and
 * switches pf_gen; the replaced maps are freed by the kernel when their last
 * reference goes. Map-in-map lookups: kernel 4.12+. LPM tries need
 * BPF_F_NO_PREALLOC (kernel lpm_trie.c refuses preallocation); inner maps
 * must match the template (type, key/value size, flags). Inner sizes are
 * given as numbers: clang emits the key/value types of an inner definition as
 * BTF forward declarations, which aya cannot size. */
#define PF_GENERATIONS(name, inner_type, keytype, valtype)             \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);               \
		__uint(max_entries, 2);                                 \
		__type(key, __u32);                                     \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                    \
		__array(values, struct {                                \
			__uint(type, inner_type);                       \
			__uint(max_entries, PF_MAX_ENTRIES);            \
			__uint(map_flags, BPF_F_NO_PREALLOC);           \
			__uint(key_size, sizeof(keytype));              \
			__uint(value_size, sizeof(valtype));            \
		});                                                     \
	} name SEC(".maps")
PF_GENERATIONS(pf_l4, BPF_MAP_TYPE_LPM_TRIE, struct pf_lpm4_key, struct pf_lpm_val);
PF_GENERATIONS(pf_l6, BPF_MAP_TYPE_LPM_TRIE, struct pf_lpm6_key, struct pf_lpm_val);

/* Host entries per family (same two-slot scheme), with their pins; pf_abi.h. */
PF_GENERATIONS(pf_host4, BPF_MAP_TYPE_HASH, struct pf_host4_key, struct pf_host_val);
PF_GENERATIONS(pf_host6, BPF_MAP_TYPE_HASH, struct pf_host6_key, struct pf_host_val);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8 * PF_FILTER_WORDS + 2);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_filter SEC(".maps");

/* Tuple-space keys per family (same two-slot scheme); value: best rule for that key. */
PF_GENERATIONS(pf_t4, BPF_MAP_TYPE_HASH, struct pf_tup4_key, struct pf_verdict);
PF_GENERATIONS(pf_t6, BPF_MAP_TYPE_HASH, struct pf_tup6_key, struct pf_verdict);

/* Shapes of each (generation, hook, family), ordered by best rank at build time;
 * index and count: PF_SHAPE_SET in pf_abi.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8 * PF_MAX_SHAPES);
	__type(key, __u32);
	__type(value, struct pf_shape);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_shapes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct pf_shape_set);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_sset SEC(".maps");

/* Which anti-lockout maps are in use (struct pf_conf), key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_conf);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_conf SEC(".maps");

/* Per-rule counters by slot (PF_SLOT_* in pf_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PF_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct pf_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_cnt SEC(".maps");

/* Anti-lockout: management prefixes (value unused) and local TCP ports (key
 * network order), allowed above every rule in both directions. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PF_MAX_MGMT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pf_lpm4_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_m4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PF_MAX_MGMT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pf_lpm6_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_m6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PF_MAX_MGMT);
	__type(key, __be16);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pf_mport SEC(".maps");

/* What the matcher reads from a packet. */
struct pf_pkt {
	__u8 fam;
	__u8 proto;
	__u8 has_ports; /* 0 for portless protocols, truncated headers, non-first fragments */
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u32 src[4]; /* network-order bytes; IPv4 uses word 0 */
	__u32 dst[4];
};

#define PF_IPPROTO_SCTP 132
#define PF_IPPROTO_UDPLITE 136

/* Protocols whose first 4 L4 bytes are source and destination port. */
static __always_inline int pf_proto_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == PF_IPPROTO_SCTP ||
	       proto == PF_IPPROTO_UDPLITE;
}

static __always_inline void pf_read_ports(struct pf_pkt *p, void *l4, void *end)
{
	__be16 *ports = l4;

	if (!pf_proto_has_ports(p->proto) || (void *)(ports + 2) > end)
		return;
	p->sport = ports[0];
	p->dport = ports[1];
	p->has_ports = 1;
}

/* Parses Ethernet, up to two VLAN tags (802.1Q/802.1ad), IPv4 or IPv6 with its
 * extension headers. Returns 0 for IP packets, -1 for anything else (passed). */
static __always_inline int pf_parse(void *data, void *end, struct pf_pkt *p)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__be16 type;

	if (cur > end)
		return -1;
	type = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		/* struct vlan_hdr is kernel-internal: TCI then encapsulated type. */
		__be16 *vlan = cur;
		if ((void *)(vlan + 2) > end)
			return -1;
		type = vlan[1];
		cur = vlan + 2;
	}

	if (type == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return -1;
		p->fam = PF_FAM_V4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->src, &ip->saddr, 4);
		__builtin_memcpy(p->dst, &ip->daddr, 4);
		/* Non-first fragments carry no L4 header: match on addresses and protocol only. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;
		pf_read_ports(p, cur + ip->ihl * 4, end);
		return 0;
	}
	if (type == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > end)
			return -1;
		p->fam = PF_FAM_V6;
		__builtin_memcpy(p->src, &ip6->saddr, 16);
		__builtin_memcpy(p->dst, &ip6->daddr, 16);
		__u8 next = ip6->nexthdr;
		cur = ip6 + 1;
		/* RFC 8200 section 4: walk a bounded number of extension headers to the upper layer. */
#pragma unroll
		for (int i = 0; i < 6; i++) {
			__u8 *ext = cur;
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
				break;
			if ((void *)(ext + 8) > end)
				return -1;
			if (next == IPPROTO_FRAGMENT) {
				__be16 off = *(__be16 *)(ext + 2);
				next = ext[0];
				cur = ext + 8;
				if (off & bpf_htons(0xfff8)) {
					p->proto = next;
					return 0;
				}
				continue;
			}
			__u32 len = next == IPPROTO_AH ? ((__u32)ext[1] + 2) * 4 : ((__u32)ext[1] + 1) * 8;
			next = ext[0];
			cur = ext + len;
		}
		p->proto = next;
		pf_read_ports(p, cur, end);
		return 0;
	}
	return -1;
}

static __always_inline void pf_take(struct pf_verdict *best, const struct pf_verdict *v)
{
	if (v && v->rank < best->rank)
		*best = *v;
}

static __always_inline int pf_management(const struct pf_pkt *p, __u32 hook, __u32 in_use)
{
	if (p->fam == PF_FAM_V4 && (in_use & PF_MGMT_V4)) {
		struct pf_lpm4_key k = {.prefixlen = 32};
		__builtin_memcpy(k.addr, p->src, 4);
		if (bpf_map_lookup_elem(&pf_m4, &k))
			return 1;
		__builtin_memcpy(k.addr, p->dst, 4);
		if (bpf_map_lookup_elem(&pf_m4, &k))
			return 1;
	} else if (p->fam == PF_FAM_V6 && (in_use & PF_MGMT_V6)) {
		struct pf_lpm6_key k = {.prefixlen = 128};
		__builtin_memcpy(k.addr, p->src, 16);
		if (bpf_map_lookup_elem(&pf_m6, &k))
			return 1;
		__builtin_memcpy(k.addr, p->dst, 16);
		if (bpf_map_lookup_elem(&pf_m6, &k))
			return 1;
	}
	if ((in_use & PF_MGMT_PORTS) && p->proto == IPPROTO_TCP && p->has_ports) {
		/* The agent's listeners: local port is the destination coming in, the source going out. */
		__be16 port = hook == PF_HOOK_INGRESS ? p->dport : p->sport;
		if (bpf_map_lookup_elem(&pf_mport, &port))
			return 1;
	}
	return 0;
}

/* The filter bit of an address (pf_abi.h): may a lookup of that kind find it?
 * Always yes while the generation's filters are not valid. */
static __always_inline int pf_maybe(const __u32 *addr, __u32 gen, __u32 fam, __u32 kind, int valid)
{
	__u32 fold;

	if (!valid)
		return 1;

	if (fam == PF_FAM_V4) {
		fold = bpf_ntohl(addr[0]) >> 16;
	} else if (kind == PF_FILTER_HOST) {
		__u32 x = bpf_ntohl(addr[0] ^ addr[1] ^ addr[2] ^ addr[3]);
		fold = ((x >> 16) ^ x) & 0xffff;
	} else {
		fold = bpf_ntohl(addr[0]) & 0xffff;
	}
	__u32 idx = PF_FILTER(gen, fam, kind) + fold / 32;
	__u32 *word = bpf_map_lookup_elem(&pf_filter, &idx);

	return word && (*word >> (fold % 32)) & 1;
}

/* Scratch for the tuple search: the parsed packet in, the best verdict in and
 * out. Per CPU and per hook (key = hook), so an egress run on a CPU never shares
 * a slot with an ingress run there. */
struct pf_scratch {
	struct pf_pkt pkt;
	struct pf_verdict best;
	__u32 src_shapes; /* shapes the source address can match (LPM value) */
	__u32 dst_shapes;
	__u32 cand;       /* shapes to probe */
	/* [side]: the pin of that address's host entry when it holds the host on that side */
	struct pf_pin pin[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pf_scratch);
} pf_scratch SEC(".maps");

/* The LPM value of one address on one side: its host entry if there is one (a
 * full-length prefix is the longest match), else the trie's longest prefix.
 * A host entry's pin for this hook is copied to *pin when it holds the host
 * on this side; *pin is cleared otherwise. fam and side are constants at
 * every call, so only one key type is built. */
static __always_inline struct pf_lpm_val *pf_addr(void *hosts, void *trie, const __u32 *addr, __u32 gen, __u32 fam,
						  __u32 hook, __u32 side, int valid, struct pf_pin *pin)
{
	struct pf_host_val *h = 0;

	pin->shape1 = 0;
	if (hosts && pf_maybe(addr, gen, fam, PF_FILTER_HOST, valid))
		h = bpf_map_lookup_elem(hosts, addr);
	if (h) {
		struct pf_pin *hp = hook == PF_HOOK_INGRESS ? &h->pin[PF_HOOK_INGRESS] : &h->pin[PF_HOOK_EGRESS];
		if (hp->shape1 && hp->side == side)
			*pin = *hp;
		return &h->lpm;
	}
	if (!trie || !pf_maybe(addr, gen, fam, PF_FILTER_TRIE, valid))
		return 0;
	if (fam == PF_FAM_V4) {
		struct pf_lpm4_key k = {.prefixlen = 32};
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(trie, &k);
	}
	struct pf_lpm6_key k = {.prefixlen = 128};
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(trie, &k);
}

/* Both addresses' LPM values: address-only verdicts into s->best, shape bits
 * and pins into s. */
static __always_inline void pf_lpm_lookup(struct pf_scratch *s, __u32 gen, __u32 hook)
{
	const struct pf_pkt *p = &s->pkt;
	struct pf_verdict *best = &s->best;
	struct pf_lpm_val *sv, *dv;
	__u32 vidx = PF_FILTER_VALID(gen & 1);
	__u32 *vword = bpf_map_lookup_elem(&pf_filter, &vidx);
	int valid = vword && *vword;

	if (p->fam == PF_FAM_V4) {
		void *hosts = bpf_map_lookup_elem(&pf_host4, &gen);
		void *trie = bpf_map_lookup_elem(&pf_l4, &gen);
		sv = pf_addr(hosts, trie, p->src, gen, PF_FAM_V4, hook, PF_SIDE_SRC, valid, &s->pin[PF_SIDE_SRC]);
		dv = pf_addr(hosts, trie, p->dst, gen, PF_FAM_V4, hook, PF_SIDE_DST, valid, &s->pin[PF_SIDE_DST]);
	} else {
		void *hosts = bpf_map_lookup_elem(&pf_host6, &gen);
		void *trie = bpf_map_lookup_elem(&pf_l6, &gen);
		sv = pf_addr(hosts, trie, p->src, gen, PF_FAM_V6, hook, PF_SIDE_SRC, valid, &s->pin[PF_SIDE_SRC]);
		dv = pf_addr(hosts, trie, p->dst, gen, PF_FAM_V6, hook, PF_SIDE_DST, valid, &s->pin[PF_SIDE_DST]);
	}
	/* hook is 0 or 1; the explicit branches keep the verifier's bounds simple. */
	if (hook == PF_HOOK_INGRESS) {
		pf_take(best, sv ? &sv->v[PF_SIDE_SRC][PF_HOOK_INGRESS] : 0);
		pf_take(best, dv ? &dv->v[PF_SIDE_DST][PF_HOOK_INGRESS] : 0);
		s->src_shapes = sv ? sv->shapes[PF_SIDE_SRC][PF_HOOK_INGRESS] : 0;
		s->dst_shapes = dv ? dv->shapes[PF_SIDE_DST][PF_HOOK_INGRESS] : 0;
	} else {
		pf_take(best, sv ? &sv->v[PF_SIDE_SRC][PF_HOOK_EGRESS] : 0);
		pf_take(best, dv ? &dv->v[PF_SIDE_DST][PF_HOOK_EGRESS] : 0);
		s->src_shapes = sv ? sv->shapes[PF_SIDE_SRC][PF_HOOK_EGRESS] : 0;
		s->dst_shapes = dv ? dv->shapes[PF_SIDE_DST][PF_HOOK_EGRESS] : 0;
	}
}

/* One tuple probe: shape i of the packet's (generation, hook, family) set,
 * skipped when its best rank cannot beat what is already found or it needs
 * ports the packet lacks, answered from a pin (pf_abi.h) when an address's
 * host entry has one for the shape. */
#define PF_PROBE(KEYTYPE, WORDS, tmap, i)                                                     \
	do {                                                                                  \
		__u32 idx = base + (i);                                                       \
		struct pf_shape *sh = bpf_map_lookup_elem(&pf_shapes, &idx);                  \
		if (!sh || sh->best >= best->rank || (sh->needs_ports && !p->has_ports))       \
			break;                                                                \
		KEYTYPE k = {                                                                 \
			.hook = hook,                                                         \
			.shape = (i),                                                         \
			.proto = p->proto & sh->proto_mask,                                   \
			.sport = p->sport & sh->sport_mask,                                   \
			.dport = p->dport & sh->dport_mask,                                   \
		};                                                                            \
		struct pf_pin *pin = s->pin[PF_SIDE_DST].shape1 == (i) + 1   ? &s->pin[PF_SIDE_DST] \
				     : s->pin[PF_SIDE_SRC].shape1 == (i) + 1 ? &s->pin[PF_SIDE_SRC] \
									     : 0;                   \
		if (pin) {                                                                    \
			/* The shape's only key at this host: compare, no probe. */           \
			if (pin->proto == k.proto && pin->sport == k.sport && pin->dport == k.dport) \
				pf_take(best, &pin->v);                                       \
			break;                                                                \
		}                                                                             \
		_Pragma("unroll") for (int w = 0; w < WORDS; w++) {                           \
			k.src[w] = p->src[w] & sh->src_mask[w];                               \
			k.dst[w] = p->dst[w] & sh->dst_mask[w];                               \
		}                                                                             \
		pf_take(best, bpf_map_lookup_elem(tmap, &k));                                 \
	} while (0)

/* Tuple-space search: one masked lookup per candidate shape. Candidates are
 * the shapes both address sides allow (the LPM values name the shapes whose
 * keys contain the address; shapes without a prefix on a side always qualify),
 * minus those whose best rank cannot beat what is already found. Shapes are
 * sorted by best rank when a generation is built; every candidate is tried: a
 * shape appended in place may be out of order. */
#define PF_TUPLE_LOOKUP(KEYTYPE, WORDS, OUTER)                                          \
	void *tmap = bpf_map_lookup_elem(&OUTER, &gen);                                      \
	if (!tmap)                                                                            \
		return 0;                                                                     \
	for (__u32 i = 0; i < PF_MAX_SHAPES; i++) {                                           \
		if (!cand)                                                                    \
			break;                                                                \
		if (!(cand & (1u << i)))                                                      \
			continue;                                                             \
		cand &= ~(1u << i);                                                           \
		PF_PROBE(KEYTYPE, WORDS, tmap, i);                                            \
	}

/* A global (non-static) function: the verifier checks it once on its own
 * (kernel 5.6+, needs the BTF from -g) instead of once per parser path, which
 * kept the shape loop from exploding the verifier's state count. */
__attribute__((noinline)) int pf_tuples(__u32 hook, __u32 gen)
{
	__u32 slot = hook & 1;
	struct pf_scratch *s = bpf_map_lookup_elem(&pf_scratch, &slot);
	if (!s)
		return 0;
	struct pf_pkt *p = &s->pkt;
	struct pf_verdict *best = &s->best;
	__u32 cand = s->cand;
	gen &= 1;
	__u32 base = PF_SHAPE_SET(gen & 1, hook & 1, p->fam & 1) * PF_MAX_SHAPES;

	if (p->fam == PF_FAM_V4) {
		PF_TUPLE_LOOKUP(struct pf_tup4_key, 1, pf_t4)
	} else {
		PF_TUPLE_LOOKUP(struct pf_tup6_key, 4, pf_t6)
	}
	return 0;
}

/* The index of the one set bit of a power of two, without a loop. */
static __always_inline __u32 pf_bit_index(__u32 bit)
{
	return !!(bit & 0xffff0000u) << 4 | !!(bit & 0xff00ff00u) << 3 | !!(bit & 0xf0f0f0f0u) << 2 |
	       !!(bit & 0xccccccccu) << 1 | !!(bit & 0xaaaaaaaau);
}

/* The tuple search of pf_decide. A single candidate shape, the common case
 * near one rule, is probed right here: calling pf_tuples costs more than the
 * probe itself. */
static __always_inline void pf_search(struct pf_scratch *s, __u32 hook, __u32 gen)
{
	__u32 cand = s->cand;
	struct pf_pkt *p = &s->pkt;
	struct pf_verdict *best = &s->best;

	if (!cand)
		return;
	if (cand & (cand - 1)) {
		pf_tuples(hook, gen);
		return;
	}
	__u32 base = PF_SHAPE_SET(gen & 1, hook & 1, p->fam & 1) * PF_MAX_SHAPES;
	__u32 i = pf_bit_index(cand);
	if (p->fam == PF_FAM_V4) {
		void *tmap = bpf_map_lookup_elem(&pf_t4, &gen);
		if (tmap)
			PF_PROBE(struct pf_tup4_key, 1, tmap, i);
	} else {
		void *tmap = bpf_map_lookup_elem(&pf_t6, &gen);
		if (tmap)
			PF_PROBE(struct pf_tup6_key, 4, tmap, i);
	}
}

static __always_inline void pf_count(__u32 slot, __u64 len)
{
	struct pf_counter *c = bpf_map_lookup_elem(&pf_cnt, &slot);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* The verdict for one frame at one hook: PF_ACT_ALLOW or PF_ACT_DENY. Every
 * IP packet leaves through the one pf_count() below. */
static __always_inline int pf_decide(void *data, void *end, __u32 hook, __u64 len)
{
	__u32 zero = 0;
	struct pf_scratch *s = bpf_map_lookup_elem(&pf_scratch, &hook);

	if (!s)
		return PF_ACT_ALLOW;
	struct pf_pkt *p = &s->pkt;
	struct pf_verdict *best = &s->best;
	__builtin_memset(p, 0, sizeof(*p));
	best->rank = PF_RANK_NONE;
	best->slot = PF_SLOT_DEFAULT;
	best->action = PF_ACT_ALLOW;
	if (pf_parse(data, end, p) < 0)
		return PF_ACT_ALLOW;
	struct pf_conf *conf = bpf_map_lookup_elem(&pf_conf, &zero);
	__u32 mgmt = conf ? conf->mgmt : 0;
	if (mgmt && pf_management(p, hook, mgmt)) {
		best->slot = PF_SLOT_MGMT;
	} else {
		__u32 *g = bpf_map_lookup_elem(&pf_gen, &zero);
		__u32 gen = g && *g ? 1 : 0;
		pf_lpm_lookup(s, gen, hook);
		__u32 set = PF_SHAPE_SET(gen, hook & 1, p->fam & 1);
		struct pf_shape_set *ss = bpf_map_lookup_elem(&pf_sset, &set);
		s->cand = ss ? (s->src_shapes | ss->wild_src) & (s->dst_shapes | ss->wild_dst) : 0;
		/* Nothing to probe (a miss far from every rule) costs nothing more. */
		pf_search(s, hook, gen);
	}
	pf_count(best->slot, len);
	return best->action;
}

#endif
