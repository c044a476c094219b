// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Ingress enforcement: drops frames whose first matching rule (pf_match.h) is a
 * deny, passes everything else to the stack, including non-IP frames (ARP, LLDP). */
#include "pf_match.h"

SEC("xdp")
int xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	return pf_decide(data, end, PF_HOOK_INGRESS, end - data) == PF_ACT_DENY ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
