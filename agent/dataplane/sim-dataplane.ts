import type { Rule } from '../rules/model.js';
import type { Dataplane, DataplaneStatus, RuleCounters } from './dataplane.js';

/**
 * `--dataplane sim`: keeps the rule list in memory and enforces nothing.
 * Verdicts for a packet come from `simulate(dataplane.rules, ...)`.
 */
export class SimDataplane implements Dataplane {
  #rules: Rule[] = [];

  /** The rules in precedence order, as the kernel would hold them. */
  get rules(): readonly Rule[] {
    return this.#rules;
  }

  async replace(rules: readonly Rule[]): Promise<void> {
    this.#rules = [...rules];
  }

  async insert(rule: Rule, before?: number): Promise<void> {
    const at = before === undefined ? -1 : this.#rules.findIndex((r) => r.number === before);
    if (at < 0) this.#rules.push(rule);
    else this.#rules.splice(at, 0, rule);
  }

  async remove(number: number): Promise<void> {
    const at = this.#rules.findIndex((r) => r.number === number);
    if (at >= 0) this.#rules.splice(at, 1);
  }

  async counters(number: number): Promise<RuleCounters | undefined> {
    // No packets cross a simulated dataplane: a known rule has seen none.
    return this.#rules.some((r) => r.number === number) ? { packets: 0n, bytes: 0n } : undefined;
  }

  status(): DataplaneStatus {
    return { kind: 'sim', enforcing: false, rules: this.#rules.length, interfaces: [] };
  }

  async close(): Promise<void> {}
}
