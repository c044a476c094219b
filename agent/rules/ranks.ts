/**
 * Ranks: where a rule stands in the one ordered list (DESIGN.md section 4),
 * as the kernel compares them. Lower wins.
 */

/** Gap between consecutive ranks of a fresh compile; inserts take the midpoint. */
export const RANK_STEP = 4096;
/** No rule (pf_abi.h PF_RANK_NONE). */
export const RANK_NONE = 0xffffffff;
