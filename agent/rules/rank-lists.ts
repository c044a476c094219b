/**
 * Short lists of (slot bits, rank) pairs in one shared pool of typed arrays:
 * the rules stored at one LPM prefix or one tuple key. Nearly every list holds
 * one pair; a JavaScript array each would cost ~100k small heap objects, and
 * their garbage collection, per 100k-rule generation.
 */
import { grow } from './grow.js';
import { RANK_NONE } from './ranks.js';

/** A list is named by its head: a pair index, or EMPTY. */
export const EMPTY = -1;

export class RankLists {
  #bits = new Uint8Array(1024);
  #rank = new Uint32Array(1024);
  #next = new Int32Array(1024);
  #used = 0;
  /** Freed pairs, chained through #next. */
  #free = EMPTY;

  /** Prepends a pair; returns the new head. */
  push(head: number, bits: number, rank: number): number {
    let p = this.#free;
    if (p !== EMPTY) this.#free = this.#next[p]!;
    else {
      p = this.#used++;
      if (p === this.#rank.length) {
        this.#bits = grow(this.#bits, p + 1);
        this.#rank = grow(this.#rank, p + 1);
        this.#next = grow(this.#next, p + 1);
      }
    }
    this.#bits[p] = bits;
    this.#rank[p] = rank;
    this.#next[p] = head;
    return p;
  }

  /** Removes the first pair equal to (bits, rank); returns the new head. */
  remove(head: number, bits: number, rank: number): number {
    let prev = EMPTY;
    for (let p = head; p !== EMPTY; prev = p, p = this.#next[p]!) {
      if (this.#bits[p] !== bits || this.#rank[p] !== rank) continue;
      const after = this.#next[p]!;
      this.#next[p] = this.#free;
      this.#free = p;
      if (prev === EMPTY) return after;
      this.#next[prev] = after;
      return head;
    }
    return head;
  }

  /** Appends list `tail` after list `head` (merging the rules of duplicate prefixes); returns the head. */
  concat(head: number, tail: number): number {
    if (head === EMPTY) return tail;
    let p = head;
    while (this.#next[p]! !== EMPTY) p = this.#next[p]!;
    this.#next[p] = tail;
    return head;
  }

  /** Best (lowest) rank among pairs whose bits include `bit`; RANK_NONE when none. */
  minAt(head: number, bit: number): number {
    let m = RANK_NONE;
    for (let p = head; p !== EMPTY; p = this.#next[p]!) if (this.#bits[p]! & bit && this.#rank[p]! < m) m = this.#rank[p]!;
    return m;
  }
}
