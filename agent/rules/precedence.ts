import type { Rule } from './model.js';

/** Precedence of two rules: lower priority first, then lower number (DESIGN.md section 4: rule numbers are list order). */
export function compareRules(a: Rule, b: Rule): number {
  return a.priority - b.priority || a.number - b.number;
}

/** Rules per chunk before it splits: a splice inside one chunk moves at most this many pointers. */
const CHUNK = 512;

/** First index in `rules` whose rule does not precede `rule` (binary search). */
function lowerBound(rules: readonly Rule[], rule: Rule): number {
  let low = 0;
  let high = rules.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareRules(rules[mid]!, rule) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The enforced rules in precedence order, as the dataplane holds them. Kept as a list
 * of sorted chunks so that an insert or removal anywhere in 100k rules moves a few
 * hundred pointers, not the whole list (oldest rules, at the front, expire first).
 */
export class PrecedenceList {
  #chunks: Rule[][] = [];
  #size = 0;

  /** All rules in order (for a whole-generation replace). */
  get rules(): readonly Rule[] {
    return this.#chunks.flat();
  }

  get size(): number {
    return this.#size;
  }

  /** The chunk that holds, or would hold, `rule`, and the position in it. */
  #locate(rule: Rule): [chunk: number, at: number] {
    const chunks = this.#chunks;
    let low = 0;
    let high = chunks.length - 1;
    // First chunk whose last rule does not precede `rule`; the last chunk when all do (append).
    while (low < high) {
      const mid = (low + high) >> 1;
      const chunk = chunks[mid]!;
      if (compareRules(chunk[chunk.length - 1]!, rule) < 0) low = mid + 1;
      else high = mid;
    }
    return [low, lowerBound(chunks[low]!, rule)];
  }

  /** Adds `rule` in order; returns the number of the rule it now precedes, if any (the dataplane's `before`). */
  insert(rule: Rule): number | undefined {
    this.#size++;
    if (this.#chunks.length === 0) {
      this.#chunks.push([rule]);
      return undefined;
    }
    const [index, at] = this.#locate(rule);
    const chunk = this.#chunks[index]!;
    chunk.splice(at, 0, rule);
    const next = chunk[at + 1] ?? this.#chunks[index + 1]?.[0];
    if (chunk.length > 2 * CHUNK) this.#chunks.splice(index + 1, 0, chunk.splice(CHUNK));
    return next?.number;
  }

  /** Removes `rule`; true when it was there. */
  remove(rule: Rule): boolean {
    if (!this.has(rule)) return false;
    const [index, at] = this.#locate(rule);
    const chunk = this.#chunks[index]!;
    chunk.splice(at, 1);
    if (chunk.length === 0) this.#chunks.splice(index, 1);
    this.#size--;
    return true;
  }

  has(rule: Rule): boolean {
    if (this.#chunks.length === 0) return false;
    const [index, at] = this.#locate(rule);
    return this.#chunks[index]![at]?.number === rule.number;
  }

  /** Replaces the whole list (restore). */
  reset(rules: readonly Rule[]): void {
    const sorted = [...rules].sort(compareRules);
    this.#chunks = [];
    for (let i = 0; i < sorted.length; i += CHUNK) this.#chunks.push(sorted.slice(i, i + CHUNK));
    this.#size = sorted.length;
  }
}
