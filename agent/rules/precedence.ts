import type { Rule } from './model.js';

/** Precedence of two rules: lower priority first, then lower number (DESIGN.md section 4: rule numbers are list order). */
export function compareRules(a: Rule, b: Rule): number {
  return a.priority - b.priority || a.number - b.number;
}

/**
 * The enforced rules in precedence order, as the dataplane holds them. Rules mostly
 * arrive with the highest number at the default priority, so most inserts append.
 */
export class PrecedenceList {
  #rules: Rule[] = [];

  get rules(): readonly Rule[] {
    return this.#rules;
  }

  get size(): number {
    return this.#rules.length;
  }

  #position(rule: Rule): number {
    const rules = this.#rules;
    const last = rules[rules.length - 1];
    if (last === undefined || compareRules(last, rule) < 0) return rules.length;
    let low = 0;
    let high = rules.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compareRules(rules[mid]!, rule) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adds `rule` in order; returns the number of the rule it now precedes, if any (the dataplane's `before`). */
  insert(rule: Rule): number | undefined {
    const at = this.#position(rule);
    this.#rules.splice(at, 0, rule);
    return this.#rules[at + 1]?.number;
  }

  /** Removes `rule`; true when it was there. */
  remove(rule: Rule): boolean {
    const at = this.#position(rule);
    if (this.#rules[at]?.number !== rule.number) return false;
    this.#rules.splice(at, 1);
    return true;
  }

  has(rule: Rule): boolean {
    return this.#rules[this.#position(rule)]?.number === rule.number;
  }

  /** Replaces the whole list (restore). */
  reset(rules: readonly Rule[]): void {
    this.#rules = [...rules].sort(compareRules);
  }
}
