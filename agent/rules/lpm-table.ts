/**
 * One family's LPM trie (pf_l4 / pf_l6) as user space keeps it: every stored
 * prefix in address order, ancestors before descendants so a subtree is
 * contiguous, with the rules stored at it and its value pre-resolved over its
 * ancestors (native/README.md, Matching). Prefixes live in typed arrays, one
 * row per node, not one object with a string id in a Map each: at 100k rules
 * those objects made compile spend most of its time allocating and collecting.
 */
import type { Family, Prefix } from './model.js';
import type { HostPin, LpmEntry, MapEntry } from './map-entries.js';
import { grow } from './grow.js';
import { EMPTY, RankLists } from './rank-lists.js';
import { RANK_NONE } from './ranks.js';

/** Value fields per node: one per lpmSlot() ([side][hook]). */
const SLOTS = 4;
/** No node (no stored ancestor). */
const NONE = -1;

/** Rows #sortByKey() can number: the low 32 bits of its key hold the length (0-32) above the row. */
const KEYED_ROWS = 2 ** 26;
/** Which 32-bit half of a 64-bit number holds its low bits on this host. */
const LOW_HALF = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;

/** The `bits` leading bits of a 32-bit word set (0 <= bits <= 32). */
const wordMask = (bits: number): number => (bits >= 32 ? 0xffffffff : bits <= 0 ? 0 : ~(0xffffffff >>> bits) >>> 0);

export class LpmTable {
  /** 32-bit words per address, most significant first, so numeric order is address order. */
  readonly #words: number;
  #addr: Uint32Array;
  #length = new Uint8Array(0);
  /** Rules stored at exactly this prefix: (bits of the lpmSlot()s a rank applies to, rank). */
  #own = new Int32Array(0);
  /** Shapes with a tuple key at exactly this prefix, per lpmSlot() (never cleared in place). */
  #bits = new Uint32Array(0);
  /** Resolved value: best rank and shape bits over ancestors and self, per lpmSlot(). */
  #rank = new Uint32Array(0);
  #shapes = new Uint32Array(0);
  /**
   * Pins per [node][hook] (pf_abi.h struct pf_pin): how many tuple keys of a
   * pinnable shape this host has, and the first of them (HostPin head, ports,
   * best rank; head 0 once that key is gone). A host shows the pin while its
   * key is the only one.
   */
  #pinCount = new Int32Array(0);
  #pinHead = new Uint32Array(0);
  #pinPorts = new Uint32Array(0);
  #pinRank = new Uint32Array(0);
  #rows = 0;
  #freeRows: number[] = [];
  /** Stored prefixes per length: finding an ancestor skips lengths nothing has. */
  readonly #perLength = new Uint32Array(129);
  /** Rows in address order (ancestors first). */
  #sorted: Int32Array = new Int32Array(0);
  #size = 0;
  readonly #lists = new RankLists();
  /** A prefix being looked up, masked to its length. */
  readonly #probe = new Uint32Array(4);
  #probeLength = 0;
  /** Ancestors of the node being resolved: at most one per prefix length. */
  readonly #stack = new Int32Array(129);
  /**
   * The rows addBulk() made last, newest at #recentAt. A tuple rule marks the
   * same prefixes once per port prefix and hook (up to 24 times for a port
   * range on both sides); a row per mark was most of the rows, sorting and
   * merging at 100k rules. Four: a rule's keys name at most four prefixes
   * (src and dst of both `either` alternatives).
   */
  readonly #recent = new Int32Array(4).fill(NONE);
  #recentAt = 0;

  constructor(readonly family: Family) {
    this.#words = family === 4 ? 1 : 4;
    this.#addr = new Uint32Array(0);
  }

  /** Number of entries (prefixes) in the trie. */
  get size(): number {
    return this.#size;
  }

  /** The node at position i of address order (0 <= i < size). */
  nodeAt(i: number): number {
    return this.#sorted[i]!;
  }

  lengthOf(node: number): number {
    return this.#length[node]!;
  }

  /** Best rank of a node at one lpmSlot(); RANK_NONE when no rule applies. */
  rankOf(node: number, slot: number): number {
    return this.#rank[node * SLOTS + slot]!;
  }

  /** Shape bits of a node at one lpmSlot(). */
  shapesOf(node: number, slot: number): number {
    return this.#shapes[node * SLOTS + slot]!;
  }

  /** Whether a node is a host (full-length prefix): only hosts carry pins. */
  isHost(node: number): boolean {
    return this.#length[node] === this.#words * 32;
  }

  /** HostPin.head of the pin a node shows for one hook; 0: none. */
  pinHeadOf(node: number, hook: 0 | 1): number {
    const at = node * 2 + hook;
    return this.#pinCount[at] === 1 ? this.#pinHead[at]! : 0;
  }

  /** HostPin.ports of a node's pin (pinHeadOf() not 0). */
  pinPortsOf(node: number, hook: 0 | 1): number {
    return this.#pinPorts[node * 2 + hook]!;
  }

  /** HostPin.rank of a node's pin (pinHeadOf() not 0). */
  pinRankOf(node: number, hook: 0 | 1): number {
    return this.#pinRank[node * 2 + hook]!;
  }

  /** Number of hosts showing a pin at either hook. */
  pinnedHosts(): number {
    let n = 0;
    for (let i = 0; i < this.#size; i++) {
      const node = this.#sorted[i]!;
      if (this.pinHeadOf(node, 0) !== 0 || this.pinHeadOf(node, 1) !== 0) n++;
    }
    return n;
  }

  /** The pin a node shows for one hook as an object, or null. */
  #pinOf(node: number, hook: 0 | 1): HostPin | null {
    const head = this.pinHeadOf(node, hook);
    return head === 0 ? null : { head, ports: this.pinPortsOf(node, hook), rank: this.pinRankOf(node, hook) };
  }

  /** Writes a node's address bytes (network order, 4 or 16) at `at`. */
  writeAddress(node: number, out: DataView, at: number): void {
    for (let i = 0; i < this.#words; i++) out.setUint32(at + 4 * i, this.#addr[node * this.#words + i]!);
  }

  /**
   * Adds a rank (for the lpmSlot() bits `slots`, 0: none) or shape bits at one
   * slot, with the new tuple key they come from when it can be pinned to this
   * host (the hook is shapeSlot's), without resolving (bulk build; finish with
   * resolveAll()).
   */
  addBulk(p: Prefix, slots: number, rank: number, shapeSlot = 0, shapeBits = 0, pin?: HostPin): void {
    this.#setProbe(p.address, p.length);
    const n = this.#recentRow();
    this.#store(n, slots, rank, shapeSlot, shapeBits);
    if (pin) this.#pin(n * 2 + (shapeSlot & 1), pin);
  }

  /**
   * A recent bulk row of the probe's prefix, else a new one. Only the newest
   * row of a prefix is ever recent, so what it collects stays in the order
   * resolveAll() merges rows in (the first pinned key shows).
   */
  #recentRow(): number {
    for (const r of this.#recent) if (r !== NONE && this.#compareProbe(r) === 0) return r;
    const n = this.#newRow();
    this.#recentAt = (this.#recentAt + 1) % this.#recent.length;
    this.#recent[this.#recentAt] = n;
    return n;
  }

  /** Sorts the bulk-added rows, merges rows of the same prefix and resolves every value. */
  resolveAll(): void {
    // Merging frees rows, which in-place changes reuse.
    this.#recent.fill(NONE);
    const rows = this.#rows <= KEYED_ROWS && this.#words === 1 ? this.#sortByKey() : this.#sortByCompare();
    // Merged in place: a row is kept at or before where it was read.
    let size = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const last = size > 0 ? rows[size - 1]! : NONE;
      if (last !== NONE && this.#compare(last, r) === 0) {
        this.#own[last] = this.#lists.concat(this.#own[last]!, this.#own[r]!);
        for (let s = 0; s < SLOTS; s++) this.#bits[last * SLOTS + s] = (this.#bits[last * SLOTS + s]! | this.#bits[r * SLOTS + s]!) >>> 0;
        for (let h = 0; h < 2; h++) {
          const to = last * 2 + h;
          const from = r * 2 + h;
          if (this.#pinCount[to] === 0) {
            this.#pinHead[to] = this.#pinHead[from]!;
            this.#pinPorts[to] = this.#pinPorts[from]!;
            this.#pinRank[to] = this.#pinRank[from]!;
          }
          this.#pinCount[to]! += this.#pinCount[from]!;
        }
        this.#freeRow(r);
      } else rows[size++] = r;
    }
    this.#sorted = rows;
    this.#size = size;
    this.#walk(0, size, NONE, undefined);
  }

  /**
   * Adds a rule's rank (or tuple shape bits, with a pin as addBulk() takes
   * it) at a prefix; appends the entries that change. A host's first pinned
   * key shows its pin, a second hides it.
   */
  add(p: Prefix, slots: number, rank: number, out: MapEntry[], shapeSlot = 0, shapeBits = 0, pin?: HostPin): void {
    let n = this.#find(p);
    const fresh = n === NONE;
    if (fresh) {
      const at = this.#lowerBound();
      n = this.#newRow();
      this.#sorted = grow(this.#sorted, this.#size + 1);
      this.#sorted.copyWithin(at + 1, at, this.#size);
      this.#sorted[at] = n;
      this.#size++;
    }
    this.#store(n, slots, rank, shapeSlot, shapeBits);
    const repinned = pin !== undefined && this.#pin(n * 2 + (shapeSlot & 1), pin) <= 2;
    const i = this.#position(n);
    const changed: number[] = [];
    if (this.#resolve(n, this.#parent(p, i)) || fresh || repinned) changed.push(n);
    this.#walk(i + 1, this.#subtreeEnd(i), n, changed);
    for (const c of changed) out.push(this.entry(c));
  }

  /** Removes a rule's rank from a prefix; appends the entries that change. */
  remove(p: Prefix, slots: number, rank: number, out: MapEntry[]): void {
    const n = this.#find(p);
    if (n === NONE) return;
    this.#own[n] = this.#lists.remove(this.#own[n]!, slots, rank);
    const i = this.#position(n);
    const end = this.#subtreeEnd(i);
    const up = this.#parent(p, i);
    const changed: number[] = [];
    let bits = 0;
    for (let s = 0; s < SLOTS; s++) bits |= this.#bits[n * SLOTS + s]!;
    if (this.#own[n] === EMPTY && bits === 0) {
      out.push({ kind: 'lpm', family: this.family, address: this.#addressBytes(n), length: this.#length[n]! });
      this.#sorted.copyWithin(i, i + 1, this.#size);
      this.#size--;
      this.#freeRow(n);
      this.#walk(i, end - 1, up, changed);
    } else {
      if (this.#resolve(n, up)) changed.push(n);
      this.#walk(i + 1, end, n, changed);
    }
    for (const c of changed) out.push(this.entry(c));
  }

  /** In place: the best rank of a pinnable key at host `p` changed; true when the host shows that key (its entry must be written). */
  repin(p: Prefix, hook: 0 | 1, pin: HostPin): boolean {
    const n = this.#find(p);
    if (n === NONE) return false;
    const at = n * 2 + hook;
    if (this.#pinHead[at] !== pin.head || this.#pinPorts[at] !== pin.ports) return false;
    this.#pinRank[at] = pin.rank;
    return this.#pinCount[at] === 1;
  }

  /**
   * In place: a pinnable key at host `p` is gone. True when the host's pin
   * goes or shows again: the caller appends hostEntry() once the rule's
   * other keys are out too.
   */
  unpin(p: Prefix, hook: 0 | 1, pin: HostPin): boolean {
    const n = this.#find(p);
    if (n === NONE) return false;
    const at = n * 2 + hook;
    const shown = this.pinHeadOf(n, hook) !== 0;
    this.#pinCount[at]!--;
    if (this.#pinHead[at] === pin.head && this.#pinPorts[at] === pin.ports) this.#pinHead[at] = 0;
    return shown || this.pinHeadOf(n, hook) !== 0;
  }

  /** The entry of the host at `p` as it stands (after unpin()). */
  hostEntry(p: Prefix): LpmEntry | undefined {
    const n = this.#find(p);
    return n === NONE ? undefined : this.entry(n);
  }

  /** Counts a pinnable key at [node][hook] index `at`, the first one as the pin; returns the count. */
  #pin(at: number, pin: HostPin): number {
    const count = ++this.#pinCount[at]!;
    if (count === 1) {
      this.#pinHead[at] = pin.head;
      this.#pinPorts[at] = pin.ports;
      this.#pinRank[at] = pin.rank;
    }
    return count;
  }

  /** A node as an entry object (in-place changes, tests). */
  entry(node: number): LpmEntry {
    const address = this.#addressBytes(node);
    const v = (s: number): number => this.rankOf(node, s);
    const m = (s: number): number => this.shapesOf(node, s);
    const entry: LpmEntry = { kind: 'lpm', family: this.family, address, length: this.#length[node]!, ranks: [v(0), v(1), v(2), v(3)], shapes: [m(0), m(1), m(2), m(3)] };
    return this.isHost(node) ? { ...entry, pins: [this.#pinOf(node, 0), this.#pinOf(node, 1)] } : entry;
  }

  /** A node's address bytes in network order, as entry objects carry them. */
  #addressBytes(node: number): Uint8Array {
    const address = new Uint8Array(this.#words * 4);
    this.writeAddress(node, new DataView(address.buffer), 0);
    return address;
  }

  #store(n: number, slots: number, rank: number, shapeSlot: number, shapeBits: number): void {
    if (slots !== 0) this.#own[n] = this.#lists.push(this.#own[n]!, slots, rank);
    if (shapeBits !== 0) this.#bits[n * SLOTS + shapeSlot] = (this.#bits[n * SLOTS + shapeSlot]! | shapeBits) >>> 0;
  }

  /** A row for the probe's prefix, with nothing stored and nothing resolved. */
  #newRow(): number {
    let n = this.#freeRows.pop();
    if (n === undefined) {
      n = this.#rows++;
      this.#addr = grow(this.#addr, this.#rows * this.#words);
      this.#length = grow(this.#length, this.#rows);
      this.#own = grow(this.#own, this.#rows);
      this.#bits = grow(this.#bits, this.#rows * SLOTS);
      this.#rank = grow(this.#rank, this.#rows * SLOTS);
      this.#shapes = grow(this.#shapes, this.#rows * SLOTS);
      this.#pinCount = grow(this.#pinCount, this.#rows * 2);
      this.#pinHead = grow(this.#pinHead, this.#rows * 2);
      this.#pinPorts = grow(this.#pinPorts, this.#rows * 2);
      this.#pinRank = grow(this.#pinRank, this.#rows * 2);
    }
    for (let i = 0; i < this.#words; i++) this.#addr[n * this.#words + i] = this.#probe[i]!;
    this.#length[n] = this.#probeLength;
    this.#perLength[this.#probeLength]!++;
    this.#own[n] = EMPTY;
    for (let s = 0; s < SLOTS; s++) {
      this.#bits[n * SLOTS + s] = 0;
      this.#rank[n * SLOTS + s] = RANK_NONE;
      this.#shapes[n * SLOTS + s] = 0;
    }
    for (let h = 0; h < 2; h++) {
      this.#pinCount[n * 2 + h] = 0;
      this.#pinHead[n * 2 + h] = 0;
    }
    return n;
  }

  #freeRow(n: number): void {
    this.#perLength[this.#length[n]!]!--;
    this.#freeRows.push(n);
  }

  /** Sets the probe to the first `length` bits of an address. */
  #setProbe(address: Uint8Array, length: number): void {
    for (let i = 0; i < this.#words; i++) {
      const w = ((address[4 * i]! << 24) | (address[4 * i + 1]! << 16) | (address[4 * i + 2]! << 8) | address[4 * i + 3]!) >>> 0;
      this.#probe[i] = w & wordMask(length - 32 * i);
    }
    this.#probeLength = length;
  }

  /** All rows in address order, ancestors first, rows of one prefix in row order. */
  #sortByCompare(): Int32Array {
    const rows = new Int32Array(this.#rows);
    for (let r = 0; r < this.#rows; r++) rows[r] = r;
    return rows.sort((a, b) => this.#compare(a, b));
  }

  /**
   * #sortByCompare() for IPv4: each row as one 64-bit number (address, then
   * length, then row) sorted natively, ~5x faster than a comparator called
   * ~2M times per 100k rules. An IPv6 address does not fit such a number.
   */
  #sortByKey(): Int32Array {
    const keys = new BigUint64Array(this.#rows);
    const halves = new Uint32Array(keys.buffer);
    for (let r = 0; r < this.#rows; r++) {
      halves[2 * r + LOW_HALF] = (this.#length[r]! * KEYED_ROWS + r) >>> 0;
      halves[2 * r + 1 - LOW_HALF] = this.#addr[r]!;
    }
    keys.sort();
    const rows = new Int32Array(this.#rows);
    for (let i = 0; i < this.#rows; i++) rows[i] = halves[2 * i + LOW_HALF]! % KEYED_ROWS;
    return rows;
  }

  /** Address order, then shorter (ancestors) first. */
  #compare(a: number, b: number): number {
    for (let i = 0; i < this.#words; i++) {
      const x = this.#addr[a * this.#words + i]!;
      const y = this.#addr[b * this.#words + i]!;
      if (x !== y) return x < y ? -1 : 1;
    }
    return this.#length[a]! - this.#length[b]!;
  }

  #compareProbe(a: number): number {
    for (let i = 0; i < this.#words; i++) {
      const x = this.#addr[a * this.#words + i]!;
      const y = this.#probe[i]!;
      if (x !== y) return x < y ? -1 : 1;
    }
    return this.#length[a]! - this.#probeLength;
  }

  /** First position in address order not before the probe. */
  #lowerBound(): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#compareProbe(this.#sorted[mid]!) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The node of exactly this prefix, or NONE; leaves the probe set to it. */
  #find(p: Prefix, length = p.length): number {
    this.#setProbe(p.address, length);
    const at = this.#lowerBound();
    return at < this.#size && this.#compareProbe(this.#sorted[at]!) === 0 ? this.#sorted[at]! : NONE;
  }

  /** Position of a stored node in address order. */
  #position(n: number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#compare(this.#sorted[mid]!, n) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The nearest stored ancestor (strictly shorter) of prefix p, stored at
   * position i, or NONE. Ancestors precede p, and the subtree of the nearest
   * one runs up to p, so it also contains the node just before p: it is no
   * longer than that node nor than the bits the two share. Probing only those
   * lengths that some prefix has keeps an IPv6 /128 from costing 127 lookups.
   */
  #parent(p: Prefix, i: number): number {
    if (i === 0) return NONE;
    const before = this.#sorted[i - 1]!;
    const n = this.#sorted[i]!;
    for (let length = Math.min(p.length - 1, this.#length[before]!, this.#shared(before, n)); length >= 0; length--) {
      if (this.#perLength[length] === 0) continue;
      const a = this.#find(p, length);
      if (a !== NONE) return a;
    }
    return NONE;
  }

  /** Number of leading address bits two nodes share. */
  #shared(a: number, b: number): number {
    for (let i = 0; i < this.#words; i++) {
      const x = this.#addr[a * this.#words + i]! ^ this.#addr[b * this.#words + i]!;
      if (x !== 0) return 32 * i + Math.clz32(x);
    }
    return 32 * this.#words;
  }

  /** Whether `inner` is a strict sub-prefix of `outer`. */
  #inside(outer: number, inner: number): boolean {
    const length = this.#length[outer]!;
    if (this.#length[inner]! <= length) return false;
    for (let i = 0; i < this.#words && length > 32 * i; i++) {
      const x = this.#addr[outer * this.#words + i]!;
      const y = this.#addr[inner * this.#words + i]!;
      if (((x ^ y) & wordMask(length - 32 * i)) !== 0) return false;
    }
    return true;
  }

  /** End (exclusive) of the descendants of the node at position i. */
  #subtreeEnd(i: number): number {
    const n = this.#sorted[i]!;
    let j = i + 1;
    while (j < this.#size && this.#inside(n, this.#sorted[j]!)) j++;
    return j;
  }

  /** Recomputes a node's value from its own ranks and bits under node `up` (NONE: nothing above); true when it changed. */
  #resolve(n: number, up: number): boolean {
    let changed = false;
    for (let s = 0; s < SLOTS; s++) {
      const above = up === NONE ? RANK_NONE : this.#rank[up * SLOTS + s]!;
      const rank = Math.min(this.#lists.minAt(this.#own[n]!, 1 << s), above);
      const shapes = (this.#bits[n * SLOTS + s]! | (up === NONE ? 0 : this.#shapes[up * SLOTS + s]!)) >>> 0;
      if (rank === this.#rank[n * SLOTS + s] && shapes === this.#shapes[n * SLOTS + s]) continue;
      this.#rank[n * SLOTS + s] = rank;
      this.#shapes[n * SLOTS + s] = shapes;
      changed = true;
    }
    return changed;
  }

  /** Recomputes the values at positions [from, to) under node `root` (NONE: nothing above); collects the nodes that changed. */
  #walk(from: number, to: number, root: number, changed: number[] | undefined): void {
    const stack = this.#stack;
    let depth = 0;
    for (let i = from; i < to; i++) {
      const n = this.#sorted[i]!;
      while (depth > 0 && !this.#inside(stack[depth - 1]!, n)) depth--;
      if (this.#resolve(n, depth > 0 ? stack[depth - 1]! : root) && changed) changed.push(n);
      stack[depth++] = n;
    }
  }
}
