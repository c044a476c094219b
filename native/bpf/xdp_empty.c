// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Decides nothing: passes every frame. Used by probe() to learn whether this
 * process may load and attach XDP at all, and by the benchmark as the
 * baseline cost of an XDP program run. */
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_empty(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
