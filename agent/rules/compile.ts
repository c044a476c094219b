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
import type { Family, Hook, PortRange, Prefix, Rule } from './model.js';

/** Gap between consecutive ranks of a fresh compile; inserts take the midpoint. */
export const RANK_STEP = 4096;
/** No rule (pf_abi.h PF_RANK_NONE). */
export const RANK_NONE = 0xffffffff;
/** Shapes per (hook, family); pf_abi.h PF_MAX_SHAPES. */
export const MAX_SHAPES = 32;
/** Counter slots: 0 anti-lockout, 1 default pass; rules from 2 (pf_abi.h). */
export const SLOT_MGMT = 0;
export const SLOT_DEFAULT = 1;
export const FIRST_RULE_SLOT = 2;
export const MAX_SLOTS = 131072;

export const HOOKS: readonly Hook[] = ['ingress', 'egress'];
const hookIndex = (h: Hook): 0 | 1 => (h === 'ingress' ? 0 : 1);

/** The rule a rank stands for, as the kernel value needs it. */
export interface RankedRule {
  readonly number: number;
  readonly rank: number;
  readonly slot: number;
  readonly rule: Rule;
}

export interface LpmEntry {
  readonly kind: 'lpm';
  readonly family: Family;
  readonly side: 'src' | 'dst';
  readonly address: Uint8Array;
  readonly length: number;
  /** Best rank per hook [ingress, egress]; undefined: delete the entry. */
  readonly ranks?: readonly [number, number];
  /** Per hook: bit i = tuple shape i has a key whose prefix on this side contains the entry. */
  readonly shapes?: readonly [number, number];
}

export interface TupleEntry {
  readonly kind: 'tuple';
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly shape: number;
  readonly protocol: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** Undefined: delete the key. */
  readonly rank?: number;
}

export interface ShapeEntry {
  readonly kind: 'shape';
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly index: number;
  readonly best: number;
  readonly srcLength: number;
  readonly dstLength: number;
  readonly srcPortLength: number;
  readonly dstPortLength: number;
  readonly hasProtocol: boolean;
  readonly needsPorts: boolean;
}

export interface ShapeCountEntry {
  readonly kind: 'shape-count';
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly count: number;
  /** Bit i: shape i has no source (destination) prefix, so it is a candidate for every address. */
  readonly wildSrc: number;
  readonly wildDst: number;
}

export type MapEntry = LpmEntry | TupleEntry | ShapeEntry | ShapeCountEntry;

/** Thrown when a rule set cannot be represented (too many shapes or rules). */
export class CompileError extends Error {
  readonly code: 'ERR_TOO_MANY_SHAPES' | 'ERR_TOO_MANY_RULES' | 'ERR_DUPLICATE_RULE';
  constructor(code: CompileError['code'], message: string) {
    super(message);
    this.name = 'CompileError';
    this.code = code;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function hex(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < a.length; i++) s += HEX[a[i]!];
  return s;
}

/** Address with host bits beyond `length` cleared (or set, for the last address). */
function masked(address: Uint8Array, length: number, fill = false): Uint8Array {
  const out = new Uint8Array(address.length);
  for (let i = 0; i < address.length; i++) {
    const bits = length - i * 8;
    const keep = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    out[i] = (address[i]! & keep) | (fill ? ~keep & 0xff : 0);
  }
  return out;
}

function contains(outer: Prefix, inner: Prefix): boolean {
  if (outer.length > inner.length) return false;
  const a = masked(outer.address, outer.length);
  const b = masked(inner.address, outer.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

// ---------- LPM tables ----------

interface LpmNode {
  readonly address: Uint8Array;
  readonly length: number;
  /** hex(address) + padded length: sorts by address, then ancestors first. */
  readonly sortKey: string;
  /** hex of the prefix's last address, to find descendants. */
  readonly lastHex: string;
  /** Ranks of the rules stored at exactly this prefix, per hook. */
  readonly own: [number[], number[]];
  /** Shapes with a tuple key at exactly this prefix, per hook (bits; never cleared in place). */
  readonly ownShapes: [number, number];
  /** Resolved: best rank per hook, then shape bits per hook, over self and ancestors. */
  val: LpmVal;
}

type LpmVal = [number, number, number, number];
const NO_VAL: LpmVal = [RANK_NONE, RANK_NONE, 0, 0];

function resolve(n: LpmNode, up: LpmVal): LpmVal {
  return [Math.min(minOf(n.own[0]), up[0]), Math.min(minOf(n.own[1]), up[1]), (n.ownShapes[0] | up[2]) >>> 0, (n.ownShapes[1] | up[3]) >>> 0];
}
const sameVal = (a: LpmVal, b: LpmVal): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];

const minOf = (xs: readonly number[]): number => (xs.length === 0 ? RANK_NONE : Math.min(...xs));

class LpmTable {
  readonly nodes = new Map<string, LpmNode>();
  sorted: LpmNode[] = [];
  constructor(
    readonly family: Family,
    readonly side: 'src' | 'dst',
  ) {}

  private node(p: Prefix, create: boolean): LpmNode | undefined {
    const address = masked(p.address, p.length);
    const h = hex(address);
    const sortKey = h + String(p.length).padStart(3, '0');
    let n = this.nodes.get(sortKey);
    if (!n && create) {
      n = { address, length: p.length, sortKey, lastHex: hex(masked(p.address, p.length, true)), own: [[], []], ownShapes: [0, 0], val: NO_VAL };
      this.nodes.set(sortKey, n);
    }
    return n;
  }

  /** Adds ranks without computing values (bulk build; finish with resolveAll()). */
  addBulk(p: Prefix, ranks: readonly (number | undefined)[], shapes?: readonly [number, number]): void {
    const n = this.node(p, true)!;
    for (const h of [0, 1] as const) if (ranks[h] !== undefined) n.own[h].push(ranks[h]!);
    if (shapes) {
      n.ownShapes[0] = (n.ownShapes[0] | shapes[0]) >>> 0;
      n.ownShapes[1] = (n.ownShapes[1] | shapes[1]) >>> 0;
    }
  }

  /** Sorts and pre-resolves every entry: value = best rank over ancestors and self. */
  resolveAll(): void {
    this.sorted = [...this.nodes.values()].sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    this.walk(0, this.sorted.length, undefined, NO_VAL, undefined);
  }

  private index(sortKey: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]!.sortKey < sortKey) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private isInside(outer: LpmNode, inner: LpmNode): boolean {
    const w = outer.lastHex.length;
    const h = inner.sortKey.slice(0, w);
    return inner.length > outer.length && h >= outer.sortKey.slice(0, w) && h <= outer.lastHex;
  }

  /** End (exclusive) of the descendants of sorted[i]. */
  private subtreeEnd(i: number): number {
    const n = this.sorted[i]!;
    let j = i + 1;
    while (j < this.sorted.length && this.isInside(n, this.sorted[j]!)) j++;
    return j;
  }

  /** Recomputes values of sorted[from, to) under a base value; collects changed nodes. */
  private walk(from: number, to: number, root: LpmNode | undefined, base: LpmVal, changed: Set<LpmNode> | undefined): void {
    const stack: LpmNode[] = [];
    for (let i = from; i < to; i++) {
      const n = this.sorted[i]!;
      while (stack.length > 0 && !this.isInside(stack[stack.length - 1]!, n)) stack.pop();
      const up = stack.length > 0 ? stack[stack.length - 1]!.val : root ? root.val : base;
      const v = resolve(n, up);
      if (!sameVal(v, n.val)) {
        n.val = v;
        changed?.add(n);
      }
      stack.push(n);
    }
  }

  /** Value of the nearest stored ancestor of a prefix (strictly shorter). */
  private parentVal(p: Prefix): LpmVal {
    for (let len = p.length - 1; len >= 0; len--) {
      const n = this.node({ family: p.family, address: p.address, length: len }, false);
      if (n) return n.val;
    }
    return NO_VAL;
  }

  /** Adds a rule's ranks (or tuple shape bits) at a prefix; returns the entries that change. */
  add(p: Prefix, ranks: readonly (number | undefined)[], out: MapEntry[], shapes?: readonly [number, number]): void {
    let n = this.node(p, false);
    const changed = new Set<LpmNode>();
    if (!n) {
      n = this.node(p, true)!;
      n.val = this.parentVal(p);
      this.sorted.splice(this.index(n.sortKey), 0, n);
      changed.add(n);
    }
    for (const h of [0, 1] as const) if (ranks[h] !== undefined) n.own[h].push(ranks[h]!);
    if (shapes) {
      n.ownShapes[0] = (n.ownShapes[0] | shapes[0]) >>> 0;
      n.ownShapes[1] = (n.ownShapes[1] | shapes[1]) >>> 0;
    }
    const i = this.index(n.sortKey);
    const v = resolve(n, this.parentVal(p));
    if (!sameVal(v, n.val)) {
      n.val = v;
      changed.add(n);
    }
    this.walk(i + 1, this.subtreeEnd(i), n, n.val, changed);
    for (const c of changed) out.push(this.entry(c));
  }

  /** Removes a rule's ranks from a prefix; returns the entries that change. */
  remove(p: Prefix, ranks: readonly (number | undefined)[], out: MapEntry[]): void {
    const n = this.node(p, false);
    if (!n) return;
    for (const h of [0, 1] as const) {
      const r = ranks[h];
      if (r === undefined) continue;
      const at = n.own[h].indexOf(r);
      if (at >= 0) n.own[h].splice(at, 1);
    }
    const i = this.index(n.sortKey);
    const end = this.subtreeEnd(i);
    const up = this.parentVal(p);
    const changed = new Set<LpmNode>();
    if (n.own[0].length === 0 && n.own[1].length === 0 && n.ownShapes[0] === 0 && n.ownShapes[1] === 0) {
      this.nodes.delete(n.sortKey);
      this.sorted.splice(i, 1);
      out.push({ kind: 'lpm', family: this.family, side: this.side, address: n.address, length: n.length });
      this.walk(i, end - 1, undefined, up, changed);
    } else {
      const v = resolve(n, up);
      if (!sameVal(v, n.val)) {
        n.val = v;
        changed.add(n);
      }
      this.walk(i + 1, end, n, n.val, changed);
    }
    for (const c of changed) out.push(this.entry(c));
  }

  entry(n: LpmNode): LpmEntry {
    return { kind: 'lpm', family: this.family, side: this.side, address: n.address, length: n.length, ranks: [n.val[0], n.val[1]], shapes: [n.val[2], n.val[3]] };
  }
}

// ---------- tuple space ----------

interface Shape {
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly sig: string;
  index: number;
  best: number;
  readonly srcLength: number;
  readonly dstLength: number;
  readonly srcPortLength: number;
  readonly dstPortLength: number;
  readonly hasProtocol: boolean;
  readonly needsPorts: boolean;
}

interface TupleKey {
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly shape: Shape;
  readonly protocol: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

interface TupleNode extends TupleKey {
  readonly ranks: number[];
}

/** One term of a rule: an LPM prefix, or a tuple key before shape indexes exist. */
type Term =
  | { readonly kind: 'lpm'; readonly side: 'src' | 'dst'; readonly prefix: Prefix }
  | {
      readonly kind: 'tuple';
      readonly src?: Prefix;
      readonly dst?: Prefix;
      readonly protocol?: number;
      readonly srcPort: { value: number; length: number };
      readonly dstPort: { value: number; length: number };
      readonly needsPorts: boolean;
    };

/** How one rule maps onto LPM prefixes and tuple keys. */
export function ruleTerms(rule: Rule): Term[] {
  const m = rule.match;
  const addressOnly = m.protocol === undefined && !m.srcPorts && !m.dstPorts;
  const prefixes = [m.either, m.src, m.dst].filter((p) => p !== undefined).length;
  if (addressOnly && prefixes === 1) {
    if (m.either) return [{ kind: 'lpm', side: 'src', prefix: m.either }, { kind: 'lpm', side: 'dst', prefix: m.either }];
    if (m.src) return [{ kind: 'lpm', side: 'src', prefix: m.src }];
    return [{ kind: 'lpm', side: 'dst', prefix: m.dst! }];
  }
  // `either` = source OR destination in the prefix (PF 2.3.1.3): two alternatives,
  // each intersected with the rule's own src/dst condition.
  const alternatives: { src?: Prefix; dst?: Prefix }[] = [];
  if (m.either) {
    const s = intersect(m.src, m.either);
    if (s) alternatives.push({ src: s, ...(m.dst ? { dst: m.dst } : {}) });
    const d = intersect(m.dst, m.either);
    if (d) alternatives.push({ ...(m.src ? { src: m.src } : {}), dst: d });
  } else {
    alternatives.push({ ...(m.src ? { src: m.src } : {}), ...(m.dst ? { dst: m.dst } : {}) });
  }
  const needsPorts = m.srcPorts !== undefined || m.dstPorts !== undefined;
  const terms: Term[] = [];
  for (const a of alternatives)
    for (const sp of portPrefixes(m.srcPorts))
      for (const dp of portPrefixes(m.dstPorts))
        terms.push({ kind: 'tuple', ...a, ...(m.protocol !== undefined ? { protocol: m.protocol } : {}), srcPort: sp, dstPort: dp, needsPorts });
  return terms;
}

function ruleHooks(rule: Rule): (0 | 1)[] {
  return rule.direction === 'both' ? [0, 1] : [hookIndex(rule.direction)];
}

const portMask = (len: number): number => (len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff);

/**
 * A compiled rule set with the indexes needed for in-place changes. Build with
 * RuleSet.compile(); read all entries with entries() for a new generation.
 */
export class RuleSet {
  /** Rules in precedence order with their rank and counter slot. */
  readonly order: RankedRule[] = [];
  readonly byNumber = new Map<number, RankedRule>();
  readonly byRank = new Map<number, RankedRule>();
  private readonly lpm = new Map<string, LpmTable>();
  private readonly tuples = new Map<string, TupleNode>();
  private readonly shapes = new Map<string, Shape>();
  private readonly shapeLists = new Map<string, Shape[]>();
  private readonly freeSlots: number[] = [];
  private nextSlot = FIRST_RULE_SLOT;

  private constructor() {
    for (const f of [4, 6] as const) for (const s of ['src', 'dst'] as const) this.lpm.set(`${f}${s}`, new LpmTable(f, s));
    for (const h of [0, 1]) for (const f of [4, 6]) this.shapeLists.set(`${h}/${f}`, []);
  }

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
    const seen = new Set<number>();
    const ranked: RankedRule[] = rules.map((rule, i) => {
      if (seen.has(rule.number)) throw new CompileError('ERR_DUPLICATE_RULE', `rule number ${rule.number} appears twice`);
      seen.add(rule.number);
      let slot = slots?.get(rule.number);
      if (slot === undefined || !keep.has(slot)) {
        while (keep.has(next)) next++;
        slot = next++;
      } else keep.delete(slot);
      if (slot >= MAX_SLOTS) throw new CompileError('ERR_TOO_MANY_RULES', `more than ${MAX_SLOTS - FIRST_RULE_SLOT} rules`);
      return { number: rule.number, rank: (i + 1) * RANK_STEP, slot, rule };
    });
    const used = new Set(ranked.map((r) => r.slot));
    set.nextSlot = Math.max(FIRST_RULE_SLOT, ...ranked.map((r) => r.slot + 1));
    for (let s = FIRST_RULE_SLOT; s < set.nextSlot; s++) if (!used.has(s)) set.freeSlots.push(s);
    // Shapes first: their best rank decides their order, which names the keys.
    const pending: { rr: RankedRule; hook: 0 | 1; term: Term & { kind: 'tuple' }; sig: string }[] = [];
    for (const rr of ranked) {
      set.order.push(rr);
      set.byNumber.set(rr.number, rr);
      set.byRank.set(rr.rank, rr);
      const hooks = ruleHooks(rr.rule);
      for (const term of ruleTerms(rr.rule)) {
        if (term.kind === 'lpm') {
          const ranks = [hooks.includes(0) ? rr.rank : undefined, hooks.includes(1) ? rr.rank : undefined];
          set.lpm.get(`${rr.rule.match.family}${term.side}`)!.addBulk(term.prefix, ranks);
          continue;
        }
        for (const hook of hooks) {
          const sig = set.shapeSig(rr.rule.match.family, hook, term);
          let shape = set.shapes.get(sig);
          if (!shape) {
            shape = set.newShape(rr.rule.match.family, hook, term, sig);
            set.shapes.set(sig, shape);
          }
          if (rr.rank < shape.best) shape.best = rr.rank;
          pending.push({ rr, hook, term, sig });
        }
      }
    }
    for (const s of set.shapes.values()) set.shapeLists.get(`${s.hook}/${s.family}`)!.push(s);
    for (const [k, list] of set.shapeLists) {
      if (list.length > MAX_SHAPES)
        throw new CompileError('ERR_TOO_MANY_SHAPES', `${list.length} rule shapes for hook/family ${k}; the kernel walks at most ${MAX_SHAPES}`);
      list.sort((a, b) => a.best - b.best);
      list.forEach((s, i) => (s.index = i));
    }
    for (const p of pending) {
      const shape = set.shapes.get(p.sig)!;
      set.addTuple(p.rr.rule.match.family, p.hook, shape, p.term, p.rr.rank, undefined);
      set.markPrefixes(p.rr.rule.match.family, p.hook, shape, p.term, undefined);
    }
    for (const t of set.lpm.values()) t.resolveAll();
    return set;
  }

  /**
   * Records in the LPM tables that the tuple key's prefixes may match this
   * shape, so the kernel probes the shape only for packets inside them. Bits
   * are never cleared in place (a stale bit costs one lookup, not a verdict).
   */
  private markPrefixes(family: Family, hook: 0 | 1, shape: Shape, t: Term & { kind: 'tuple' }, out: MapEntry[] | undefined): void {
    const bit = (1 << shape.index) >>> 0;
    const bits: [number, number] = hook === 0 ? [bit, 0] : [0, bit];
    for (const [side, prefix] of [['src', t.src], ['dst', t.dst]] as const) {
      if (!prefix || prefix.length === 0) continue;
      const table = this.lpm.get(`${family}${side}`)!;
      if (out) table.add(prefix, [], out, bits);
      else table.addBulk(prefix, [], bits);
    }
  }

  private shapeCount(family: Family, hook: 0 | 1): ShapeCountEntry {
    const list = this.shapeLists.get(`${hook}/${family}`)!;
    let wildSrc = 0;
    let wildDst = 0;
    for (const s of list) {
      if (s.srcLength === 0) wildSrc = (wildSrc | (1 << s.index)) >>> 0;
      if (s.dstLength === 0) wildDst = (wildDst | (1 << s.index)) >>> 0;
    }
    return { kind: 'shape-count', family, hook, count: list.length, wildSrc, wildDst };
  }

  private shapeSig(family: Family, hook: 0 | 1, t: Term & { kind: 'tuple' }): string {
    return `${hook}/${family}/${t.src?.length ?? 0}/${t.dst?.length ?? 0}/${t.srcPort.length}/${t.dstPort.length}/${t.protocol !== undefined ? 1 : 0}/${t.needsPorts ? 1 : 0}`;
  }

  private newShape(family: Family, hook: 0 | 1, t: Term & { kind: 'tuple' }, sig: string): Shape {
    return {
      family,
      hook,
      sig,
      index: -1,
      best: RANK_NONE,
      srcLength: t.src?.length ?? 0,
      dstLength: t.dst?.length ?? 0,
      srcPortLength: t.srcPort.length,
      dstPortLength: t.dstPort.length,
      hasProtocol: t.protocol !== undefined,
      needsPorts: t.needsPorts,
    };
  }

  private tupleKey(family: Family, hook: 0 | 1, shape: Shape, t: Term & { kind: 'tuple' }): TupleKey {
    const width = family === 4 ? 4 : 16;
    const zero = new Uint8Array(width);
    return {
      family,
      hook,
      shape,
      protocol: t.protocol ?? 0,
      srcPort: t.srcPort.value & portMask(t.srcPort.length),
      dstPort: t.dstPort.value & portMask(t.dstPort.length),
      src: t.src ? masked(t.src.address, t.src.length) : zero,
      dst: t.dst ? masked(t.dst.address, t.dst.length) : zero,
    };
  }

  private addTuple(family: Family, hook: 0 | 1, shape: Shape, t: Term & { kind: 'tuple' }, rank: number, out: MapEntry[] | undefined): void {
    const k = this.tupleKey(family, hook, shape, t);
    const id = `${shape.sig}|${k.protocol}|${k.srcPort}|${k.dstPort}|${hex(k.src)}|${hex(k.dst)}`;
    let n = this.tuples.get(id);
    if (!n) {
      n = { ...k, ranks: [] };
      this.tuples.set(id, n);
    }
    const before = minOf(n.ranks);
    n.ranks.push(rank);
    if (out && rank < before) out.push(tupleEntry(n, rank));
  }

  private removeTuple(family: Family, hook: 0 | 1, shape: Shape, t: Term & { kind: 'tuple' }, rank: number, out: MapEntry[]): void {
    const k = this.tupleKey(family, hook, shape, t);
    const id = `${shape.sig}|${k.protocol}|${k.srcPort}|${k.dstPort}|${hex(k.src)}|${hex(k.dst)}`;
    const n = this.tuples.get(id);
    if (!n) return;
    const before = minOf(n.ranks);
    const at = n.ranks.indexOf(rank);
    if (at >= 0) n.ranks.splice(at, 1);
    if (n.ranks.length === 0) {
      this.tuples.delete(id);
      out.push(tupleEntry(n, undefined));
    } else if (minOf(n.ranks) !== before) out.push(tupleEntry(n, minOf(n.ranks)));
  }

  /** Every entry of the set, for a fresh generation: shapes, counts, LPM, tuples. */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const list of this.shapeLists.values()) {
      for (const s of list) out.push(shapeEntry(s));
      const first = list[0];
      if (first) out.push(this.shapeCount(first.family, first.hook));
    }
    for (const t of this.lpm.values()) for (const n of t.sorted) out.push(t.entry(n));
    for (const n of this.tuples.values()) out.push(tupleEntry(n, minOf(n.ranks)));
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
    let at = before === undefined ? -1 : this.order.findIndex((r) => r.number === before);
    if (at < 0) at = this.order.length;
    const lowRank = at === 0 ? 0 : this.order[at - 1]!.rank;
    const highRank = at === this.order.length ? Math.min(lowRank + 2 * RANK_STEP, RANK_NONE) : this.order[at]!.rank;
    const rank = Math.floor((lowRank + highRank) / 2);
    if (rank <= lowRank || rank >= highRank) return null;
    const hooks = ruleHooks(rule);
    const terms = ruleTerms(rule);
    // Check shape room before touching anything.
    const newSigs = new Set<string>();
    const newPerList = new Map<string, number>();
    for (const term of terms) {
      if (term.kind !== 'tuple') continue;
      for (const hook of hooks) {
        const sig = this.shapeSig(rule.match.family, hook, term);
        if (this.shapes.has(sig) || newSigs.has(sig)) continue;
        newSigs.add(sig);
        const key = `${hook}/${rule.match.family}`;
        const count = (newPerList.get(key) ?? 0) + 1;
        newPerList.set(key, count);
        if (this.shapeLists.get(key)!.length + count > MAX_SHAPES) return null;
      }
    }
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= MAX_SLOTS) throw new CompileError('ERR_TOO_MANY_RULES', `more than ${MAX_SLOTS - FIRST_RULE_SLOT} rules`);
    const rr: RankedRule = { number: rule.number, rank, slot, rule };
    this.order.splice(at, 0, rr);
    this.byNumber.set(rule.number, rr);
    this.byRank.set(rank, rr);
    const out: MapEntry[] = [];
    // Shapes (lowered best, appended slots, counts) go first so the keys written
    // after them are searched from the moment they exist.
    for (const term of terms) {
      if (term.kind !== 'tuple') continue;
      for (const hook of hooks) {
        const sig = this.shapeSig(rule.match.family, hook, term);
        let shape = this.shapes.get(sig);
        if (!shape) {
          shape = this.newShape(rule.match.family, hook, term, sig);
          const list = this.shapeLists.get(`${hook}/${rule.match.family}`)!;
          shape.index = list.length;
          shape.best = rank;
          list.push(shape);
          this.shapes.set(sig, shape);
          out.push(shapeEntry(shape), this.shapeCount(shape.family, hook));
        } else if (rank < shape.best) {
          shape.best = rank;
          out.push(shapeEntry(shape));
        }
      }
    }
    for (const term of terms) {
      if (term.kind === 'lpm') {
        const ranks = [hooks.includes(0) ? rank : undefined, hooks.includes(1) ? rank : undefined];
        this.lpm.get(`${rule.match.family}${term.side}`)!.add(term.prefix, ranks, out);
      } else {
        for (const hook of hooks) {
          const shape = this.shapes.get(this.shapeSig(rule.match.family, hook, term))!;
          this.addTuple(rule.match.family, hook, shape, term, rank, out);
          // After the key: a packet sees the new rule only once key and bits are in.
          this.markPrefixes(rule.match.family, hook, shape, term, out);
        }
      }
    }
    return { entries: out, slot };
  }

  /** Removes one rule; unknown numbers give no entries. Shapes stay (their best only prunes less). */
  remove(number: number): MapEntry[] {
    const rr = this.byNumber.get(number);
    if (!rr) return [];
    const rule = rr.rule;
    const hooks = ruleHooks(rule);
    const out: MapEntry[] = [];
    for (const term of ruleTerms(rule)) {
      if (term.kind === 'lpm') {
        const ranks = [hooks.includes(0) ? rr.rank : undefined, hooks.includes(1) ? rr.rank : undefined];
        this.lpm.get(`${rule.match.family}${term.side}`)!.remove(term.prefix, ranks, out);
      } else {
        for (const hook of hooks) this.removeTuple(rule.match.family, hook, this.shapes.get(this.shapeSig(rule.match.family, hook, term))!, term, rr.rank, out);
      }
    }
    this.order.splice(this.order.indexOf(rr), 1);
    this.byNumber.delete(number);
    // The rank stays resolvable until no entry can name it: entries written
    // above no longer do, so it can go now.
    this.byRank.delete(rr.rank);
    this.freeSlots.push(rr.slot);
    return out;
  }
}

function tupleEntry(n: TupleKey, rank: number | undefined): TupleEntry {
  return {
    kind: 'tuple',
    family: n.family,
    hook: n.hook,
    shape: n.shape.index,
    protocol: n.protocol,
    srcPort: n.srcPort,
    dstPort: n.dstPort,
    src: n.src,
    dst: n.dst,
    ...(rank !== undefined ? { rank } : {}),
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
