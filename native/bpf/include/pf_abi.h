/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI between the BPF programs (xdp_ingress.c, tc_egress.c) and their
 * loader (native/src/abi.rs mirrors every struct and checks sizes at compile
 * time). Keys, values, flag bits and map names live here only.
 *
 * Matching (DESIGN.md section 4): every rule has a rank (lower wins, sparse);
 * the verdict is the matching rule of lowest rank, or pass when none.
 *  - address-only rules: one LPM trie per family, values per side, each entry pre-resolved
 *    by user space to the best rank among all rules whose prefix contains it,
 *    separately for each hook;
 *  - everything else: tuple-space search, one masked hash key space per shape.
 * Two generations of the rule maps exist; pf_gen says which one packets use.
 * Byte order: addresses and ports in keys are network order, everything else host order.
 */
#ifndef PF_ABI_H
#define PF_ABI_H

#include <linux/types.h>

#define PF_HOOK_INGRESS 0
#define PF_HOOK_EGRESS 1
#define PF_FAM_V4 0
#define PF_FAM_V6 1

/* Shapes per (generation, hook, family): bounds the tuple-space walk. */
#define PF_MAX_SHAPES 32
/* Rule maps are sized for this many entries; counters for this many slots. */
#define PF_MAX_ENTRIES 262144
#define PF_MAX_SLOTS 131072
#define PF_MAX_MGMT 1024

/* Counter slots with a fixed meaning; rules use slots from PF_SLOT_FIRST_RULE. */
#define PF_SLOT_MGMT 0     /* passed by anti-lockout */
#define PF_SLOT_DEFAULT 1  /* matched no rule: default pass */
#define PF_SLOT_FIRST_RULE 2

#define PF_RANK_NONE 0xffffffffu

#define PF_ACT_ALLOW 0
#define PF_ACT_DENY 1

/* pf_verdict.flags: reserved for the next dataplane issue (reject, false_ack,
 * logged, stateful); the programs only test PF_ACT_* today. */
#define PF_F_LOGGED (1u << 0)
#define PF_F_STATEFUL (1u << 1)
#define PF_DROP_NONE 0
#define PF_DROP_REJECT 1
#define PF_DROP_FALSE_ACK 2

/* The winning rule of a lookup. 12 bytes. */
struct pf_verdict {
	__u32 rank;   /* PF_RANK_NONE: no rule */
	__u32 slot;   /* counter slot of the rule */
	__u8 action;  /* PF_ACT_* */
	__u8 drop;    /* PF_DROP_* */
	__u8 flags;   /* PF_F_* */
	__u8 pad;
};

/* LPM trie key: pf_l4 inner maps use 4 address bytes, pf_l6 16. */
struct pf_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
struct pf_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

#define PF_SIDE_SRC 0
#define PF_SIDE_DST 1

/* LPM value. One trie per family serves both address sides: the source
 * address reads the [PF_SIDE_SRC] half, the destination the [PF_SIDE_DST]
 * half (an `either` rule is one entry, not two). Per side and hook: the best
 * address-only rule whose prefix contains the entry, and the tuple shapes
 * (bit i = shape i of this hook and family) that hold a key whose prefix on
 * this side contains the entry. The program probes only shapes named by both
 * sides (or wildcard on a side, pf_shape_set), so a packet far from every
 * rule's addresses costs no hash lookup at all. 64 bytes. */
struct pf_lpm_val {
	struct pf_verdict v[2][2]; /* [side][hook] */
	__u32 shapes[2][2];        /* [side][hook] */
};

/* Host entries: an LPM entry of full length (/32, /128) lives in an exact-match
 * hash per family instead of the trie; its value is the same pre-resolved
 * pf_lpm_val. Most block-list entries are hosts, and a hash probe costs the
 * same at any size while a trie walk grows with it. The trie keeps the rest. */
struct pf_host4_key {
	__u8 addr[4];
};
struct pf_host6_key {
	__u8 addr[16];
};

/* A host's pinned tuple key. When exactly one tuple key of a hook has this
 * host as its full-length address on one side and no prefix on the other (a
 * host + port rule, the commonest connection rule), that key's masked
 * protocol and ports and its verdict ride in the host's value: the program
 * compares them instead of probing pf_t4/pf_t6, so such a hit costs one hash
 * lookup, not two. The key stays in the tuple map too; a pin is a copy that
 * user space rewrites with the key. 20 bytes; all zero: no pin. */
struct pf_pin {
	__u8 shape1; /* shape index + 1; 0: no pin */
	__u8 side;   /* PF_SIDE_* on which the key holds this host */
	__u8 proto;  /* the key's fields, masked as the shape masks them */
	__u8 pad;
	__be16 sport;
	__be16 dport;
	struct pf_verdict v;
};

/* Host map value (pf_host4, pf_host6): the LPM value and a pin per hook. 104 bytes. */
struct pf_host_val {
	struct pf_lpm_val lpm;
	struct pf_pin pin[2]; /* [hook] */
};

/* Address filters (pf_filter): one bit per 16-bit fold of an address, per
 * generation, family and kind, so an address whose bit is clear skips a lookup
 * that cannot find anything:
 *  - PF_FILTER_HOST: a host entry with that fold exists. Fold: IPv4, the top
 *    16 bits (the /16); IPv6, x = b[k]^b[k+4]^b[k+8]^b[k+12] for k = 0..3, then
 *    ((x0^x2) << 8) | (x1^x3).
 *  - PF_FILTER_TRIE: a trie entry contains some address with that fold. Fold:
 *    IPv4, the top 16 bits; IPv6, bits 16-31 (bytes 2 and 3). A prefix shorter
 *    than the fold sets every fold it covers.
 * A bit left set after an in-place delete costs one lookup, never a verdict;
 * the next generation is built clean. Index: PF_FILTER(gen, fam, kind) +
 * fold / 32, bit fold % 32. */
#define PF_FILTER_HOST 0
#define PF_FILTER_TRIE 1
#define PF_FILTER_WORDS 2048
#define PF_FILTER(gen, fam, kind) (((((gen) * 2) + (fam)) * 2 + (kind)) * PF_FILTER_WORDS)
/* Nonzero when generation gen's filters are complete. Zero reads as "every bit
 * set": a generation an older agent wrote (no filters; the takeover of an
 * upgrade) is still matched whole. The loader clears both at every start and
 * sets one with the filters of each generation it builds. */
#define PF_FILTER_VALID(gen) (8 * PF_FILTER_WORDS + (gen))

/* Tuple-space keys: the packet's fields ANDed with the shape's masks, plus hook
 * and shape index (two shapes may mask different packets to the same bytes).
 * Addresses are network-order bytes held in __u32 words so masking is word-wise. */
struct pf_tup4_key {
	__u8 hook;
	__u8 shape;
	__u8 proto;
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u32 src[1];
	__u32 dst[1];
};
struct pf_tup6_key {
	__u8 hook;
	__u8 shape;
	__u8 proto;
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u32 src[4];
	__u32 dst[4];
};

/* One shape: the masks a rule's key was built with. User space precomputes the
 * masks so the program builds keys without branches (a per-byte branch made the
 * verifier's state count explode on the 32-shape loop). Port ranges are split
 * into prefixes, so a port mask is a run of leading ones. */
struct pf_shape {
	__u32 best;        /* lowest rank of any key of this shape; lower than real only prunes less */
	__u8 proto_mask;   /* 0xff when the rule tests the protocol */
	__u8 needs_ports;  /* 1 when a port mask is non-zero: portless packets cannot match */
	__be16 sport_mask;
	__be16 dport_mask;
	__u8 pad[2];
	__u32 src_mask[4]; /* network-order bytes; IPv4 uses word 0 */
	__u32 dst_mask[4];
};

/* The shapes of one (generation, hook, family): how many, and which of them
 * have no prefix on a side (those are candidates whatever that side's LPM says). */
struct pf_shape_set {
	__u32 count;
	__u32 wild_src; /* bit i: shape i has source prefix length 0 */
	__u32 wild_dst;
	__u32 pad;
};

/* pf_shapes index: ((gen * 2 + hook) * 2 + fam) * PF_MAX_SHAPES + i.
 * pf_sset index: (gen * 2 + hook) * 2 + fam. */
#define PF_SHAPE_SET(gen, hook, fam) ((((gen) * 2 + (hook)) * 2) + (fam))

/* pf_conf (array[1]): which anti-lockout maps hold entries, so a box without
 * management access configured pays no lookup for it. Written by the loader. */
#define PF_MGMT_V4 (1u << 0)
#define PF_MGMT_V6 (1u << 1)
#define PF_MGMT_PORTS (1u << 2)
struct pf_conf {
	__u32 mgmt; /* PF_MGMT_* */
};

/* Per-CPU counters, one per slot. */
struct pf_counter {
	__u64 packets;
	__u64 bytes;
};

#endif
