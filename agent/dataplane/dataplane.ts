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

/**
 * The rule features no dataplane enforces yet (the value layout has room for them):
 * a command asking for one is answered 501 "Argument not supported" (PF 2.3.2) rather
 * than enforced differently without a word. Returns the argument and why, or undefined.
 */
export function unenforcedFeature(rule: Pick<Rule, 'drop' | 'logged' | 'stateful'>): string | undefined {
  if (rule.drop !== 'none') return `drop_process ${rule.drop} (denied packets can only be dropped silently)`;
  if (rule.logged) return 'logged (rule hits are counted, not logged)';
  if (rule.stateful) return 'stateful (rules match packets one at a time)';
  return undefined;
}
