// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Egress enforcement on the clsact/tcx egress hook: drops packets whose first
 * matching rule (pf_match.h) is a deny. Section `classifier` because aya 0.14
 * accepts only that name for TC programs (notes/aya-napi.md section 2). */
#include <linux/pkt_cls.h>

#include "pf_match.h"

/* Enough linear bytes for Ethernet, two VLAN tags, IPv6 with extension headers and ports. */
#define PF_PULL_LEN 128

SEC("classifier")
int tc_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (end - data < PF_PULL_LEN && skb->len > end - data) {
		bpf_skb_pull_data(skb, skb->len < PF_PULL_LEN ? skb->len : PF_PULL_LEN);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	/* TC_ACT_UNSPEC lets later filters (or the next tcx program) still run. */
	return pf_decide(data, end, PF_HOOK_EGRESS, skb->len) == PF_ACT_DENY ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
