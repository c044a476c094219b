/**
 * One family's tuple-space keys (pf_t4 / pf_t6) as user space keeps them: each
 * key's bytes exactly as struct pf_tup4_key / pf_tup6_key, with the ranks of
 * every rule that produced it (the kernel holds the best). An open-addressing
 * hash table over typed arrays: a Map keyed by strings of the key bytes cost
 * one string and one hash of it per key, ~80k of each per 100k rules.
 */
import type { Family } from './model.js';
import { grow } from './grow.js';
import { EMPTY, RankLists } from './rank-lists.js';
import { RANK_NONE } from './ranks.js';

/** sizeof(struct pf_tup4_key) and sizeof(struct pf_tup6_key) (pf_abi.h). */
const TUPLE_KEY_BYTES = { 4: 16, 6: 40 } as const;

/** A key's ranks are one list whose pairs all carry this bit. */
const ANY = 1;

export class TupleTable {
  /** The key add(), remove() and best() act on: fill it first. */
  readonly key: Uint8Array;
  readonly #keyWords: Uint32Array;
  readonly #bytes: number;
  readonly #words: number;
  /** Keys in insertion order (a removal moves the last key into the hole). */
  #keys = new Uint8Array(0);
  #keyBuffer = new Uint32Array(0);
  #hash = new Uint32Array(0);
  #ranks = new Int32Array(0);
  #size = 0;
  /** Hash buckets: a key's index or EMPTY; linear probing, at most half full. */
  #buckets = new Int32Array(16).fill(EMPTY);
  readonly #lists = new RankLists();

  constructor(readonly family: Family) {
    this.#bytes = TUPLE_KEY_BYTES[family];
    this.#words = this.#bytes / 4;
    this.key = new Uint8Array(this.#bytes);
    this.#keyWords = new Uint32Array(this.key.buffer);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Copies the key at index i (0 <= i < size) to `out` at `at`. Byte by byte:
   * a subarray() view per key to set() from cost more than the copy.
   */
  writeKey(i: number, out: Uint8Array, at: number): void {
    const from = i * this.#bytes;
    for (let b = 0; b < this.#bytes; b++) out[at + b] = this.#keys[from + b]!;
  }

  /** Best rank of the key at index i. */
  bestAt(i: number): number {
    return this.#lists.minAt(this.#ranks[i]!, ANY);
  }

  /** Best rank of `key`; RANK_NONE when no rule has it. */
  best(): number {
    const i = this.#buckets[this.#bucket(this.#hashKey())]!;
    return i === EMPTY ? RANK_NONE : this.bestAt(i);
  }

  /** Adds a rule's rank to `key`; true when the key is new. */
  add(rank: number): boolean {
    const hash = this.#hashKey();
    const b = this.#bucket(hash);
    let i = this.#buckets[b]!;
    if (i === EMPTY) {
      i = this.#size++;
      this.#keys = grow(this.#keys, this.#size * this.#bytes);
      if (this.#keyBuffer.buffer !== this.#keys.buffer) this.#keyBuffer = new Uint32Array(this.#keys.buffer);
      this.#keys.set(this.key, i * this.#bytes);
      this.#hash = grow(this.#hash, this.#size);
      this.#hash[i] = hash;
      this.#ranks = grow(this.#ranks, this.#size);
      this.#ranks[i] = EMPTY;
      this.#buckets[b] = i;
      if (this.#size * 2 > this.#buckets.length) this.#rehash();
    }
    const created = this.#ranks[i] === EMPTY;
    this.#ranks[i] = this.#lists.push(this.#ranks[i]!, ANY, rank);
    return created;
  }

  /** Removes a rule's rank from `key`; the key goes with its last rank. */
  remove(rank: number): void {
    const b = this.#bucket(this.#hashKey());
    const i = this.#buckets[b]!;
    if (i === EMPTY) return;
    this.#ranks[i] = this.#lists.remove(this.#ranks[i]!, ANY, rank);
    if (this.#ranks[i] !== EMPTY) return;
    this.#unlink(b);
    const last = --this.#size;
    if (i === last) return;
    // Keep keys dense: the last key moves into the hole, its bucket follows.
    this.#keys.copyWithin(i * this.#bytes, last * this.#bytes, (last + 1) * this.#bytes);
    this.#hash[i] = this.#hash[last]!;
    this.#ranks[i] = this.#ranks[last]!;
    const mask = this.#buckets.length - 1;
    let at = this.#hash[i]! & mask;
    while (this.#buckets[at] !== last) at = (at + 1) & mask;
    this.#buckets[at] = i;
  }

  /**
   * MurmurHash3 (x86, 32-bit) over the key's words. Each word is mixed before it joins the
   * hash: a multiply alone carries a word's high bits only upwards, and keys that differ in
   * an address's last byte or a port (a rule per host of a /24) then shared a few hundred
   * bucket runs: 61 probes per key on average for 30k such keys, 1.4 with this.
   */
  #hashKey(): number {
    let h = 0;
    for (let i = 0; i < this.#words; i++) {
      let k = Math.imul(this.#keyWords[i]!, 0xcc9e2d51);
      k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
      h ^= k;
      h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    }
    h ^= this.#bytes;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** The bucket holding `key`, or the empty bucket where it would go. */
  #bucket(hash: number): number {
    const mask = this.#buckets.length - 1;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const i = this.#buckets[b]!;
      if (i === EMPTY || (this.#hash[i] === hash && this.#equals(i))) return b;
    }
  }

  #equals(i: number): boolean {
    const from = i * this.#words;
    for (let w = 0; w < this.#words; w++) if (this.#keyBuffer[from + w] !== this.#keyWords[w]) return false;
    return true;
  }

  /** Empties bucket b, shifting later keys of the probe run back so lookups still find them. */
  #unlink(b: number): void {
    const mask = this.#buckets.length - 1;
    let hole = b;
    for (let j = (b + 1) & mask; this.#buckets[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.#hash[this.#buckets[j]!]! & mask;
      // The key at j may move to the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        this.#buckets[hole] = this.#buckets[j]!;
        hole = j;
      }
    }
    this.#buckets[hole] = EMPTY;
  }

  #rehash(): void {
    const buckets = new Int32Array(this.#buckets.length * 2).fill(EMPTY);
    const mask = buckets.length - 1;
    for (let i = 0; i < this.#size; i++) {
      let b = this.#hash[i]! & mask;
      while (buckets[b] !== EMPTY) b = (b + 1) & mask;
      buckets[b] = i;
    }
    this.#buckets = buckets;
  }
}
