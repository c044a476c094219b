import type { Rule } from '../rules/model.js';

/** Traffic the agent must never block: its own control path (DESIGN.md section 4, anti-lockout). */
export interface ManagementAccess {
  /** Prefixes always allowed in both directions, above every rule. */
  readonly prefixes: readonly string[];
  /** Local TCP ports always allowed (HTTP listener, broker port). */
  readonly ports: readonly number[];
}

export interface RuleCounters {
  readonly packets: bigint;
  readonly bytes: bigint;
}

export interface DataplaneStatus {
  readonly kind: 'kernel' | 'sim';
  /** True when packets are really being filtered. */
  readonly enforcing: boolean;
  readonly rules: number;
  readonly interfaces: readonly { readonly name: string; readonly xdpMode?: string; readonly egress?: string }[];
}

/**
 * Where compiled rules are enforced. Rules arrive already in precedence order
 * (priority, then list order); the dataplane never reorders them.
 */
export interface Dataplane {
  /** Replace the whole rule set as one generation: packets see the old set or the new, never a mix. */
  replace(rules: readonly Rule[]): Promise<void>;
  /** Add one rule just before rule `before` in precedence order, or last when `before` is absent. */
  insert(rule: Rule, before?: number): Promise<void>;
  /** Remove one rule by number; unknown numbers are ignored. */
  remove(number: number): Promise<void>;
  counters(number: number): Promise<RuleCounters | undefined>;
  status(): DataplaneStatus;
  /** Stop managing the dataplane; kernel enforcement stays in place (fail-static). */
  close(): Promise<void>;
}
