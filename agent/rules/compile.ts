/**
 * Rule list -> kernel map entries (DESIGN.md section 4). Pure: no I/O; the
 * dataplane encodes the entries (agent/dataplane/records.ts) and writes them.
 *
 * - Every rule gets a sparse rank (lower wins) so an insert rarely renumbers.
 * - Address-only rules (one prefix, no protocol/ports) go to LPM tries per family
 *   and side; `either` goes to both sides. Each trie entry carries, per hook, the
 *   best rank among all rules whose prefix contains it, so one lookup answers.
 * - Everything else goes to tuple space: one key per (address alternative x source
 *   port prefix x destination port prefix), grouped by shape (which fields, how
 *   many bits). A shape lists the masks the kernel applies before its lookup.
 * - insert()/remove() return only the entries that change, ordered so that every
 *   packet sees either the old or the new verdict (shapes before their keys).
 */
import type { Family, PortRange, Prefix, Rule, RuleMatch } from './model.js';
import { lpmSlot, type HostPin, type MapEntry, type ShapeCountEntry, type ShapeEntry, type ShapeMasks, type TupleEntry } from './map-entries.js';
import { LpmTable } from './lpm-table.js';
import { RANK_NONE, RANK_STEP } from './ranks.js';
import { TupleTable } from './tuple-table.js';

export { RANK_NONE, RANK_STEP } from './ranks.js';
export { lpmSlot, type HostPin, type LpmEntry, type MapEntry, type ShapeCountEntry, type ShapeEntry, type ShapeMasks, type TupleEntry } from './map-entries.js';
export type { LpmTable } from './lpm-table.js';
export type { TupleTable } from './tuple-table.js';

/** Shapes per (hook, family); pf_abi.h PF_MAX_SHAPES. */
export const MAX_SHAPES = 32;
/** Counter slots: 0 anti-lockout, 1 default pass; rules from 2 (pf_abi.h). */
export const SLOT_MGMT = 0;
export const SLOT_DEFAULT = 1;
export const FIRST_RULE_SLOT = 2;
export const MAX_SLOTS = 131072;

/** The rule a rank stands for, as the kernel value needs it. */
export interface RankedRule {
  readonly number: number;
  readonly rank: number;
  readonly slot: number;
  readonly rule: Rule;
}

/** Thrown when a rule set cannot be represented (too many shapes or rules). */
export class CompileError extends Error {
  readonly code: 'ERR_TOO_MANY_SHAPES' | 'ERR_TOO_MANY_RULES' | 'ERR_DUPLICATE_RULE';
  constructor(code: CompileError['code'], message: string) {
    super(message);
    this.name = 'CompileError';
    this.code = code;
  }
}

/**
 * Receives every entry of a set without one object per entry (records.ts
 * encodes a whole generation from it): LPM nodes and tuple keys are read
 * through their table.
 */
export interface EntryVisitor {
  shape(e: ShapeEntry): void;
  count(e: ShapeCountEntry): void;
  /** A node of an LPM table (LpmTable.rankOf(), shapesOf(), writeAddress()). */
  lpm(table: LpmTable, node: number): void;
  /** The key at index i of a tuple table (TupleTable.writeKey(), bestAt()). */
  tuple(table: TupleTable, i: number): void;
}

/** Whether the first `length` bits of two addresses are equal. */
function samePrefix(a: Uint8Array, b: Uint8Array, length: number): boolean {
  const whole = length >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.length <= inner.length && samePrefix(outer.address, inner.address, outer.length);
}

/** The smaller of two prefixes when one contains the other; null when disjoint. */
function intersect(a: Prefix | undefined, b: Prefix): Prefix | null {
  if (!a) return b;
  if (contains(a, b)) return b;
  if (contains(b, a)) return a;
  return null;
}

/** Splits an inclusive port range into aligned prefixes (value, bits). */
export function portPrefixes(range: PortRange | undefined): { value: number; length: number }[] {
  if (!range) return [{ value: 0, length: 0 }];
  const out: { value: number; length: number }[] = [];
  let lo = range.low;
  const hi = range.high;
  while (lo <= hi) {
    let size = 1;
    while (size < 65536 && lo % (size * 2) === 0 && lo + size * 2 - 1 <= hi) size *= 2;
    out.push({ value: lo, length: 16 - Math.log2(size) });
    lo += size;
  }
  return out;
}

const SIDES = ['src', 'dst'] as const;

/** Bits of the lpmSlot()s a rule's rank applies to, from its side and hooks. */
function slotBits(side: 'src' | 'dst' | 'either', ingress: boolean, egress: boolean): number {
  const h = (ingress ? 1 : 0) | (egress ? 2 : 0);
  return side === 'src' ? h : side === 'dst' ? h << 2 : h | (h << 2);
}

// ---------- tuple space ----------

interface Shape extends ShapeMasks {
  readonly family: Family;
  readonly hook: 0 | 1;
  index: number;
  best: number;
}

/** One tuple key of a rule, before shape indexes exist. */
export interface TupleTerm {
  readonly src?: Prefix;
  readonly dst?: Prefix;
  readonly protocol?: number;
  readonly srcPort: { value: number; length: number };
  readonly dstPort: { value: number; length: number };
  readonly needsPorts: boolean;
}
/**
 * The address side of an address-only rule (one prefix, no protocol/ports),
 * whose prefix goes to the LPM table; undefined when the rule needs tuple keys.
 * `either`: one entry serves both address sides. Returns no object: 70% of a
 * realistic set are such rules.
 */
export function lpmSide(m: RuleMatch): 'src' | 'dst' | 'either' | undefined {
  if (m.protocol !== undefined || m.srcPorts || m.dstPorts) return undefined;
  if ((m.either ? 1 : 0) + (m.src ? 1 : 0) + (m.dst ? 1 : 0) !== 1) return undefined;
  return m.either ? 'either' : m.src ? 'src' : 'dst';
}

/** The tuple keys of a rule that lpmSide() does not place. */
export function tupleTerms(rule: Rule): TupleTerm[] {
  const m = rule.match;
  // `either` = source OR destination in the prefix (PF 2.3.1.3): two alternatives,
  // each intersected with the rule's own src/dst condition.
  const alternatives: { src: Prefix | undefined; dst: Prefix | undefined }[] = [];
  if (m.either) {
    const s = intersect(m.src, m.either);
    if (s) alternatives.push({ src: s, dst: m.dst });
    const d = intersect(m.dst, m.either);
    if (d) alternatives.push({ src: m.src, dst: d });
  } else {
    alternatives.push({ src: m.src, dst: m.dst });
  }
  const needsPorts = m.srcPorts !== undefined || m.dstPorts !== undefined;
  const sps = portPrefixes(m.srcPorts);
  const dps = portPrefixes(m.dstPorts);
  const terms: TupleTerm[] = [];
  for (const a of alternatives)
    for (const srcPort of sps)
      for (const dstPort of dps) terms.push({ src: a.src, dst: a.dst, protocol: m.protocol, srcPort, dstPort, needsPorts });
  return terms;
}

/** Hook indexes per direction, shared so no rule allocates its own. */
const HOOKS = { ingress: [0], egress: [1], both: [0, 1] } as const;

function ruleHooks(rule: Rule): readonly (0 | 1)[] {
  return HOOKS[rule.direction];
}

const portMask = (len: number): number => (len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff);

function maskedByte(p: Prefix | undefined, i: number): number {
  if (!p) return 0;
  const bits = p.length - i * 8;
  return p.address[i]! & (bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff);
}

/**
 * Writes a term's tuple key (struct pf_tup4_key / pf_tup6_key: hook, shape,
 * proto, pad, sport, dport in network order, src, dst) into the table's key,
 * all but hook and shape, which the caller sets per hook.
 */
function fillKey(table: TupleTable, t: TupleTerm): void {
  const key = table.key;
  const w = table.family === 4 ? 4 : 16;
  const sp = t.srcPort.value & portMask(t.srcPort.length);
  const dp = t.dstPort.value & portMask(t.dstPort.length);
  key[2] = t.protocol ?? 0;
  key[3] = 0;
  key[4] = sp >> 8;
  key[5] = sp & 0xff;
  key[6] = dp >> 8;
  key[7] = dp & 0xff;
  for (let i = 0; i < w; i++) {
    key[8 + i] = maskedByte(t.src, i);
    key[8 + w + i] = maskedByte(t.dst, i);
  }
}

/** A tuple key's bytes as an entry object. */
function tupleEntry(family: Family, key: Uint8Array, rank: number | undefined): TupleEntry {
  const w = family === 4 ? 4 : 16;
  return {
    kind: 'tuple',
    family,
    hook: key[0] as 0 | 1,
    shape: key[1]!,
    protocol: key[2]!,
    srcPort: (key[4]! << 8) | key[5]!,
    dstPort: (key[6]! << 8) | key[7]!,
    src: key.slice(8, 8 + w),
    dst: key.slice(8 + w, 8 + 2 * w),
    ...(rank !== undefined ? { rank } : {}),
  };
}

const familyIndex = (family: Family): 0 | 1 => (family === 6 ? 1 : 0);
/** Index of a (hook, family) shape list. */
const listIndex = (hook: 0 | 1, family: Family): number => hook * 2 + familyIndex(family);

/** A shape's identity as one number: its hook, family and masks (hook in the lowest bit). */
function shapeSig(family: Family, hook: 0 | 1, t: TupleTerm): number {
  const masks = ((((familyIndex(family) * 256 + (t.src?.length ?? 0)) * 256 + (t.dst?.length ?? 0)) * 32 + t.srcPort.length) * 32 + t.dstPort.length) * 4;
  return ((masks + (t.protocol !== undefined ? 2 : 0) + (t.needsPorts ? 1 : 0)) * 2) + hook;
}

/**
 * A compiled rule set with the indexes needed for in-place changes. Build with
 * RuleSet.compile(); read all entries with entries() (or visit()) for a new generation.
 */
export class RuleSet {
  /** Rules in precedence order with their rank and counter slot. */
  readonly order: RankedRule[] = [];
  readonly byNumber = new Map<number, RankedRule>();
  /** LPM tables, IPv4 then IPv6. */
  private readonly lpm = [new LpmTable(4), new LpmTable(6)];
  /** Tuple keys, IPv4 then IPv6. */
  private readonly tuples = [new TupleTable(4), new TupleTable(6)];
  private readonly shapes = new Map<number, Shape>();
  /** Shapes per listIndex(hook, family), in index order. */
  private readonly shapeLists: Shape[][] = [[], [], [], []];
  private readonly freeSlots: number[] = [];
  private nextSlot = FIRST_RULE_SLOT;

  private constructor() {}

  /**
   * Compiles a whole list (already in precedence order). Rules whose number has
   * a slot in `slots` keep it, so counters survive a generation swap.
   */
  static compile(rules: readonly Rule[], slots?: ReadonlyMap<number, number>): RuleSet {
    const set = new RuleSet();
    const keep = new Set<number>();
    for (const r of rules) {
      const s = slots?.get(r.number);
      if (s !== undefined && !keep.has(s)) keep.add(s);
    }
    let next = FIRST_RULE_SLOT;
    let maxSlot = FIRST_RULE_SLOT - 1;
    const used = new Uint8Array(MAX_SLOTS);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (set.byNumber.has(rule.number)) throw new CompileError('ERR_DUPLICATE_RULE', `rule number ${rule.number} appears twice`);
      let slot = slots?.get(rule.number);
      if (slot === undefined || !keep.has(slot)) {
        while (keep.has(next)) next++;
        slot = next++;
      } else keep.delete(slot);
      if (slot >= MAX_SLOTS) throw new CompileError('ERR_TOO_MANY_RULES', `more than ${MAX_SLOTS - FIRST_RULE_SLOT} rules`);
      used[slot] = 1;
      if (slot > maxSlot) maxSlot = slot;
      const rr: RankedRule = { number: rule.number, rank: (i + 1) * RANK_STEP, slot, rule };
      set.order.push(rr);
      set.byNumber.set(rr.number, rr);
      set.placeBulk(rr);
    }
    set.nextSlot = maxSlot + 1;
    for (let s = FIRST_RULE_SLOT; s < set.nextSlot; s++) if (!used[s]) set.freeSlots.push(s);
    for (const t of set.lpm) t.resolveAll();
    return set;
  }

  /** Stores a rule's LPM prefix or tuple keys for compile(), LPM values unresolved. */
  private placeBulk(rr: RankedRule): void {
    const rule = rr.rule;
    const family = rule.match.family;
    const side = lpmSide(rule.match);
    if (side) {
      this.lpm[familyIndex(family)]!.addBulk(rule.match[side]!, slotBits(side, rule.direction !== 'egress', rule.direction !== 'ingress'), rr.rank);
      return;
    }
    const table = this.tuples[familyIndex(family)]!;
    for (const term of tupleTerms(rule)) {
      fillKey(table, term);
      for (const hook of ruleHooks(rule)) {
        // Rules come in rank order, so a shape's first rule is its best and
        // shapes are created in the order of their best rank: the index
        // they get now is already their place in the kernel's walk.
        let shape = this.shapes.get(shapeSig(family, hook, term));
        if (!shape) {
          if (this.shapeLists[listIndex(hook, family)]!.length === MAX_SHAPES)
            throw new CompileError('ERR_TOO_MANY_SHAPES', `more than ${MAX_SHAPES} rule shapes for hook/family ${hook}/${family}; the kernel walks at most ${MAX_SHAPES}`);
          shape = this.addShape(family, hook, term, rr.rank);
        }
        table.key[0] = hook;
        table.key[1] = shape.index;
        this.markPrefixes(shape, term, table.add(rr.rank) ? rr.rank : RANK_NONE, undefined);
      }
    }
  }

  /** A new shape of a term at a hook, last in its list, with best rank `best`. */
  private addShape(family: Family, hook: 0 | 1, t: TupleTerm, best: number): Shape {
    const list = this.shapeLists[listIndex(hook, family)]!;
    const shape = newShape(family, hook, t, list.length, best);
    list.push(shape);
    this.shapes.set(shapeSig(family, hook, t), shape);
    return shape;
  }

  /**
   * Records in the LPM tables that the tuple key's prefixes may match this
   * shape, so the kernel probes the shape only for packets inside them; a new
   * key (`rank` its first rank, else RANK_NONE) of a pinnable shape is also
   * pinned to its host. Bits are never cleared in place (a stale bit costs
   * one lookup, not a verdict).
   */
  private markPrefixes(shape: Shape, t: TupleTerm, rank: number, out: MapEntry[] | undefined): void {
    const bit = (1 << shape.index) >>> 0;
    const table = this.lpm[familyIndex(shape.family)]!;
    const pinned = rank === RANK_NONE ? undefined : pinSide(shape);
    for (const side of SIDES) {
      const prefix = t[side];
      if (!prefix || prefix.length === 0) continue;
      const pin = side === pinned ? hostPin(shape, t, rank) : undefined;
      if (out) table.add(prefix, 0, 0, out, lpmSlot(side, shape.hook), bit, pin);
      else table.addBulk(prefix, 0, 0, lpmSlot(side, shape.hook), bit, pin);
    }
  }

  /**
   * After the best rank of a tuple key changed to `rank` (RANK_NONE: the key
   * went), the pin of its host follows, when its shape is pinnable. Returns
   * the host whose entry must be written, if any.
   */
  private followPin(shape: Shape, t: TupleTerm, rank: number): Prefix | undefined {
    const side = pinSide(shape);
    if (!side) return undefined;
    const table = this.lpm[familyIndex(shape.family)]!;
    const pin = hostPin(shape, t, rank);
    const changed = rank === RANK_NONE ? table.unpin(t[side]!, shape.hook, pin) : table.repin(t[side]!, shape.hook, pin);
    return changed ? t[side] : undefined;
  }

  private shapeCount(family: Family, hook: 0 | 1): ShapeCountEntry {
    const list = this.shapeLists[listIndex(hook, family)]!;
    let wildSrc = 0;
    let wildDst = 0;
    for (const s of list) {
      if (s.srcLength === 0) wildSrc = (wildSrc | (1 << s.index)) >>> 0;
      if (s.dstLength === 0) wildDst = (wildDst | (1 << s.index)) >>> 0;
    }
    return { kind: 'shape-count', family, hook, count: list.length, wildSrc, wildDst };
  }

  /** Adds a rank to the tuple key in `table.key` (of `shape`, from term `t`); appends the entries that change. */
  private addTuple(table: TupleTable, shape: Shape, t: TupleTerm, rank: number, out: MapEntry[]): void {
    const before = table.best();
    const created = table.add(rank);
    if (rank < before) out.push(tupleEntry(table.family, table.key, rank));
    const host = rank < before && !created ? this.followPin(shape, t, rank) : undefined;
    if (host) out.push(this.lpm[familyIndex(shape.family)]!.hostEntry(host)!);
    // After the key: a packet sees the new rule only once key and bits are in.
    this.markPrefixes(shape, t, created ? rank : RANK_NONE, out);
  }

  /**
   * Removes a rank from the tuple key in `table.key`; appends the key's entry
   * when its best changes. Returns the new best (RANK_NONE: the key went;
   * undefined: unchanged), for followPin().
   */
  private removeTuple(table: TupleTable, rank: number, out: MapEntry[]): number | undefined {
    const before = table.best();
    if (before === RANK_NONE) return undefined;
    table.remove(rank);
    const after = table.best();
    if (after === before) return undefined;
    out.push(tupleEntry(table.family, table.key, after === RANK_NONE ? undefined : after));
    return after;
  }

  /**
   * Position in `order` of the rule with this rank; -1 when none. A fresh
   * compile gives rule i the rank (i + 1) * RANK_STEP, so that position is
   * tried first; ranks that inserts made are found by binary search.
   */
  indexOfRank(rank: number): number {
    // Only a multiple of the step names an index: order[1.5] would look up the string "1.5".
    if (rank % RANK_STEP === 0 && this.order[rank / RANK_STEP - 1]?.rank === rank) return rank / RANK_STEP - 1;
    const at = this.lowerBound(rank);
    return this.order[at]?.rank === rank ? at : -1;
  }

  /** First position in `order` whose rank is not below `rank` (order is sorted by rank): no scan of 100k rules per change. */
  private lowerBound(rank: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order[mid]!.rank < rank) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Number of entries visit() produces. */
  entryCount(): number {
    let n = 0;
    for (const t of this.tuples) n += t.size;
    for (const list of this.shapeLists) n += list.length + (list.length > 0 ? 1 : 0);
    for (const t of this.lpm) n += t.size;
    return n;
  }

  /** Host entries that show a pin (records.ts writes each pin record after its host's). */
  pinnedHosts(): number {
    let n = 0;
    for (const t of this.lpm) n += t.pinnedHosts();
    return n;
  }

  /** Every entry of the set, for a fresh generation: shapes, counts, LPM, tuples. */
  visit(v: EntryVisitor): void {
    for (const list of this.shapeLists) {
      for (const s of list) v.shape(shapeEntry(s));
      const first = list[0];
      if (first) v.count(this.shapeCount(first.family, first.hook));
    }
    for (const t of this.lpm) for (let i = 0; i < t.size; i++) v.lpm(t, t.nodeAt(i));
    for (const t of this.tuples) for (let i = 0; i < t.size; i++) v.tuple(t, i);
  }

  /** Every entry of the set as objects (tests; visit() is the fast path). */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    const key = new Uint8Array(40);
    this.visit({
      shape: (e) => out.push(e),
      count: (e) => out.push(e),
      lpm: (table, node) => out.push(table.entry(node)),
      tuple: (table, i) => {
        table.writeKey(i, key, 0);
        out.push(tupleEntry(table.family, key, table.bestAt(i)));
      },
    });
    return out;
  }

  /** Slots used by rules, by rule number. */
  slots(): Map<number, number> {
    return new Map(this.order.map((r) => [r.number, r.slot]));
  }

  /**
   * Adds one rule before rule `before` (or last). Returns the entries to write in
   * order, or null when the change needs a new generation (no rank gap left, or
   * a new shape would overflow the shape array).
   */
  insert(rule: Rule, before?: number): { entries: MapEntry[]; slot: number } | null {
    if (this.byNumber.has(rule.number)) throw new CompileError('ERR_DUPLICATE_RULE', `rule number ${rule.number} already exists`);
    const next = before === undefined ? undefined : this.byNumber.get(before);
    const at = next ? this.lowerBound(next.rank) : this.order.length;
    const lowRank = at === 0 ? 0 : this.order[at - 1]!.rank;
    const highRank = at === this.order.length ? Math.min(lowRank + 2 * RANK_STEP, RANK_NONE) : this.order[at]!.rank;
    const rank = Math.floor((lowRank + highRank) / 2);
    if (rank <= lowRank || rank >= highRank) return null;
    const family = rule.match.family;
    const hooks = ruleHooks(rule);
    const side = lpmSide(rule.match);
    const terms = side ? [] : tupleTerms(rule);
    // Check shape room before touching anything.
    const newSigs = new Set<number>();
    const newPerList = [0, 0, 0, 0];
    for (const term of terms) {
      for (const hook of hooks) {
        const sig = shapeSig(family, hook, term);
        if (this.shapes.has(sig) || newSigs.has(sig)) continue;
        newSigs.add(sig);
        const list = listIndex(hook, family);
        if (this.shapeLists[list]!.length + ++newPerList[list]! > MAX_SHAPES) return null;
      }
    }
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= MAX_SLOTS) throw new CompileError('ERR_TOO_MANY_RULES', `more than ${MAX_SLOTS - FIRST_RULE_SLOT} rules`);
    const rr: RankedRule = { number: rule.number, rank, slot, rule };
    this.order.splice(at, 0, rr);
    this.byNumber.set(rule.number, rr);
    const out: MapEntry[] = [];
    // Shapes (lowered best, appended slots, counts) go first so the keys written
    // after them are searched from the moment they exist.
    for (const term of terms) {
      for (const hook of hooks) {
        const sig = shapeSig(family, hook, term);
        let shape = this.shapes.get(sig);
        if (!shape) {
          shape = this.addShape(family, hook, term, rank);
          out.push(shapeEntry(shape), this.shapeCount(family, hook));
        } else if (rank < shape.best) {
          shape.best = rank;
          out.push(shapeEntry(shape));
        }
      }
    }
    const ingress = rule.direction !== 'egress';
    const egress = rule.direction !== 'ingress';
    if (side) this.lpm[familyIndex(family)]!.add(rule.match[side]!, slotBits(side, ingress, egress), rank, out);
    const table = this.tuples[familyIndex(family)]!;
    for (const term of terms) {
      fillKey(table, term);
      for (const hook of hooks) {
        const shape = this.shapes.get(shapeSig(family, hook, term))!;
        table.key[0] = hook;
        table.key[1] = shape.index;
        this.addTuple(table, shape, term, rank, out);
      }
    }
    return { entries: out, slot };
  }

  /** Removes one rule; unknown numbers give no entries. Shapes stay (their best only prunes less). */
  remove(number: number): MapEntry[] {
    const rr = this.byNumber.get(number);
    if (!rr) return [];
    const rule = rr.rule;
    const family = rule.match.family;
    const hooks = ruleHooks(rule);
    const out: MapEntry[] = [];
    const ingress = rule.direction !== 'egress';
    const egress = rule.direction !== 'ingress';
    const table = this.tuples[familyIndex(family)]!;
    const side = lpmSide(rule.match);
    if (side) this.lpm[familyIndex(family)]!.remove(rule.match[side]!, slotBits(side, ingress, egress), rr.rank, out);
    // Hosts whose pin changed are written once every key of the rule is out:
    // an entry written between the hooks could still pin the rule.
    const hosts: Prefix[] = [];
    for (const term of side ? [] : tupleTerms(rule)) {
      fillKey(table, term);
      for (const hook of hooks) {
        const shape = this.shapes.get(shapeSig(family, hook, term))!;
        table.key[0] = hook;
        table.key[1] = shape.index;
        const best = this.removeTuple(table, rr.rank, out);
        const host = best === undefined ? undefined : this.followPin(shape, term, best);
        if (host && !hosts.includes(host)) hosts.push(host);
      }
    }
    for (const host of hosts) out.push(this.lpm[familyIndex(family)]!.hostEntry(host)!);
    // The rank stops resolving (indexOfRank()) here: no entry written above names it.
    this.order.splice(this.lowerBound(rr.rank), 1);
    this.byNumber.delete(number);
    this.freeSlots.push(rr.slot);
    return out;
  }
}

/**
 * The side whose host a key of this shape can be pinned to (pf_abi.h struct
 * pf_pin): a full-length prefix there and none on the other side.
 */
function pinSide(s: Shape): 'src' | 'dst' | undefined {
  const full = s.family === 4 ? 32 : 128;
  if (s.srcLength === full && s.dstLength === 0) return 'src';
  if (s.dstLength === full && s.srcLength === 0) return 'dst';
  return undefined;
}

/** A term's key in a pinnable shape as a pin: fields masked as fillKey() masks them. */
function hostPin(s: Shape, t: TupleTerm, rank: number): HostPin {
  return {
    head: ((s.index + 1) | ((pinSide(s) === 'dst' ? 1 : 0) << 8) | ((t.protocol ?? 0) << 16)) >>> 0,
    ports: (((t.srcPort.value & portMask(t.srcPort.length)) << 16) | (t.dstPort.value & portMask(t.dstPort.length))) >>> 0,
    rank,
  };
}

function newShape(family: Family, hook: 0 | 1, t: TupleTerm, index: number, best: number): Shape {
  return {
    family,
    hook,
    index,
    best,
    srcLength: t.src?.length ?? 0,
    dstLength: t.dst?.length ?? 0,
    srcPortLength: t.srcPort.length,
    dstPortLength: t.dstPort.length,
    hasProtocol: t.protocol !== undefined,
    needsPorts: t.needsPorts,
  };
}

function shapeEntry(s: Shape): ShapeEntry {
  return {
    kind: 'shape',
    family: s.family,
    hook: s.hook,
    index: s.index,
    best: s.best,
    srcLength: s.srcLength,
    dstLength: s.dstLength,
    srcPortLength: s.srcPortLength,
    dstPortLength: s.dstPortLength,
    hasProtocol: s.hasProtocol,
    needsPorts: s.needsPorts,
  };
}
