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

/** Index of an LPM value field: [side][hook] flattened (pf_lpm_val). */
export const lpmSlot = (side: 'src' | 'dst', hook: 0 | 1): number => (side === 'dst' ? 2 : 0) + hook;

export interface LpmEntry {
  readonly kind: 'lpm';
  readonly family: Family;
  readonly address: Uint8Array;
  readonly length: number;
  /** Best rank per [side][hook] (lpmSlot: src-ingress, src-egress, dst-ingress, dst-egress); undefined: delete the entry. */
  readonly ranks?: readonly [number, number, number, number];
  /** Per [side][hook]: bit i = tuple shape i has a key whose prefix on that side contains the entry. */
  readonly shapes?: readonly [number, number, number, number];
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

/** Which fields a tuple-space shape masks, and how far: what all its keys share. */
export interface ShapeMasks {
  readonly srcLength: number;
  readonly dstLength: number;
  readonly srcPortLength: number;
  readonly dstPortLength: number;
  readonly hasProtocol: boolean;
  readonly needsPorts: boolean;
}

export interface ShapeEntry extends ShapeMasks {
  readonly kind: 'shape';
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly index: number;
  readonly best: number;
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

/**
 * Receives every entry of a set without one object per entry (records.ts
 * encodes a whole generation from it). Addresses and tuple keys come as
 * latin1 strings of their bytes: `id` the prefix; `key` the tuple key
 * (pf_tup4_key / pf_tup6_key) bytes after a one-character family tag.
 */
export interface EntryVisitor {
  shape(e: ShapeEntry): void;
  count(e: ShapeCountEntry): void;
  /** `id`: address bytes (4 or 16) then one length byte, latin1; ranks and shapes per lpmSlot(). */
  lpm(family: Family, id: string, length: number, n: LpmVal): void;
  tuple(family: Family, key: string, rank: number): void;
}

// Prefixes and keys are held as latin1 strings of their bytes: one small flat
// string instead of a typed array (a Uint8Array costs ~200 bytes of heap and
// GC time; 100k rules made compile spend most of its time collecting).
const SCRATCH: Record<number, number[]> = { 4: [0, 0, 0, 0, 0], 16: new Array<number>(17).fill(0) };

/**
 * Prefix id: the address bytes with host bits cleared, then the length, as
 * latin1. Ids sort by address, then shorter (ancestors) first.
 */
function prefixId(address: Uint8Array, length: number): string {
  const out = SCRATCH[address.length]!;
  for (let i = 0; i < address.length; i++) {
    const bits = length - i * 8;
    out[i] = address[i]! & (bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff);
  }
  out[address.length] = length;
  return String.fromCharCode.apply(null, out);
}

const bytesOf = (s: string, from = 0): Uint8Array => Uint8Array.from(Buffer.from(s.slice(from), 'latin1'));

function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.length <= inner.length && prefixId(outer.address, outer.length) === prefixId(inner.address, outer.length);
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

/** Resolved value of an LPM entry: best rank and shape bits per lpmSlot(). */
export interface LpmVal {
  v0: number;
  v1: number;
  v2: number;
  v3: number;
  m0: number;
  m1: number;
  m2: number;
  m3: number;
}
const NO_VAL: LpmVal = { v0: RANK_NONE, v1: RANK_NONE, v2: RANK_NONE, v3: RANK_NONE, m0: 0, m1: 0, m2: 0, m3: 0 };

interface LpmNode extends LpmVal {
  /** prefixId(): masked address bytes then length, latin1. */
  readonly id: string;
  /** Numeric sort key from the leading bytes (exact for IPv4; IPv6 ties fall back to id). */
  readonly key: number;
  readonly length: number;
  /** Rules stored at exactly this prefix: pairs of (bits of lpmSlot()s it applies to; rank). */
  own: number[] | null;
  /** Shapes with a tuple key at exactly this prefix, per lpmSlot() (never cleared in place). */
  b0: number;
  b1: number;
  b2: number;
  b3: number;
}

function minOf(xs: readonly number[] | null): number {
  if (!xs) return RANK_NONE;
  let m = RANK_NONE;
  for (const x of xs) if (x < m) m = x;
  return m;
}

/** Best rank among (hook bits, rank) pairs that apply at a hook bit. */
function minAt(own: readonly number[] | null, bit: number): number {
  if (!own) return RANK_NONE;
  let m = RANK_NONE;
  for (let i = 0; i < own.length; i += 2) if (own[i]! & bit && own[i + 1]! < m) m = own[i + 1]!;
  return m;
}

/** Sort order: by address, then ancestors (shorter) first; a subtree is then contiguous. */
const order = (a: LpmNode, b: LpmNode): number => a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** IPv4: address * 64 + length (exact order). IPv6: the first 6 bytes (a monotone prefix of the id). */
function sortKey(id: string): number {
  if (id.length === 5) return (((id.charCodeAt(0) * 256 + id.charCodeAt(1)) * 256 + id.charCodeAt(2)) * 256 + id.charCodeAt(3)) * 64 + id.charCodeAt(4);
  let k = 0;
  for (let i = 0; i < 6; i++) k = k * 256 + id.charCodeAt(i);
  return k;
}

/** Whether `inner` is a strict sub-prefix of `outer`. */
function isInside(outer: LpmNode, inner: LpmNode): boolean {
  if (inner.length <= outer.length) return false;
  const a = outer.id;
  const b = inner.id;
  const full = outer.length >> 3;
  for (let i = 0; i < full; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  const rest = outer.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return a.charCodeAt(full) === (b.charCodeAt(full) & mask);
}

/** Recomputes a node's value from its own ranks and bits under `up`; true when it changed. */
function resolve(n: LpmNode, up: LpmVal): boolean {
  const v0 = Math.min(minAt(n.own, 1), up.v0);
  const v1 = Math.min(minAt(n.own, 2), up.v1);
  const v2 = Math.min(minAt(n.own, 4), up.v2);
  const v3 = Math.min(minAt(n.own, 8), up.v3);
  const m0 = (n.b0 | up.m0) >>> 0;
  const m1 = (n.b1 | up.m1) >>> 0;
  const m2 = (n.b2 | up.m2) >>> 0;
  const m3 = (n.b3 | up.m3) >>> 0;
  if (v0 === n.v0 && v1 === n.v1 && v2 === n.v2 && v3 === n.v3 && m0 === n.m0 && m1 === n.m1 && m2 === n.m2 && m3 === n.m3) return false;
  n.v0 = v0;
  n.v1 = v1;
  n.v2 = v2;
  n.v3 = v3;
  n.m0 = m0;
  n.m1 = m1;
  n.m2 = m2;
  n.m3 = m3;
  return true;
}

const copyVal = (n: LpmVal, up: LpmVal): void => {
  n.v0 = up.v0;
  n.v1 = up.v1;
  n.v2 = up.v2;
  n.v3 = up.v3;
  n.m0 = up.m0;
  n.m1 = up.m1;
  n.m2 = up.m2;
  n.m3 = up.m3;
};

/** Bits of the lpmSlot()s a rule's rank applies to, from its side and hooks. */
function slotBits(side: 'src' | 'dst' | 'either', ingress: boolean, egress: boolean): number {
  const h = (ingress ? 1 : 0) | (egress ? 2 : 0);
  return side === 'src' ? h : side === 'dst' ? h << 2 : h | (h << 2);
}

function remove1(xs: number[] | null, r: number | undefined): void {
  if (!xs || r === undefined) return;
  const at = xs.indexOf(r);
  if (at >= 0) xs.splice(at, 1);
}

/** Removes a (hook bits, rank) pair. */
function removePair(own: number[] | null, bits: number, rank: number): void {
  if (!own) return;
  for (let i = 0; i < own.length; i += 2)
    if (own[i] === bits && own[i + 1] === rank) {
      own.splice(i, 2);
      return;
    }
}

/** One trie per family; each entry holds values for both address sides. */
class LpmTable {
  readonly nodes = new Map<string, LpmNode>();
  sorted: LpmNode[] = [];
  constructor(readonly family: Family) {}

  private node(address: Uint8Array, length: number, create: boolean): LpmNode | undefined {
    const id = prefixId(address, length);
    let n = this.nodes.get(id);
    if (!n && create) {
      n = { id, key: sortKey(id), length, own: null, b0: 0, b1: 0, b2: 0, b3: 0, v0: RANK_NONE, v1: RANK_NONE, v2: RANK_NONE, v3: RANK_NONE, m0: 0, m1: 0, m2: 0, m3: 0 };
      this.nodes.set(id, n);
    }
    return n;
  }

  /** Stores a rule's rank for the lpmSlot()s in `slots` (0: none), or shape bits at one slot. */
  private own(n: LpmNode, slots: number, rank: number, shapeSlot: number, shapeBits: number): void {
    if (slots !== 0) (n.own ??= []).push(slots, rank);
    if (shapeBits === 0) return;
    if (shapeSlot === 0) n.b0 = (n.b0 | shapeBits) >>> 0;
    else if (shapeSlot === 1) n.b1 = (n.b1 | shapeBits) >>> 0;
    else if (shapeSlot === 2) n.b2 = (n.b2 | shapeBits) >>> 0;
    else n.b3 = (n.b3 | shapeBits) >>> 0;
  }

  /** Adds a rank (or shape bits) without computing values (bulk build; finish with resolveAll()). */
  addBulk(p: Prefix, slots: number, rank: number, shapeSlot = 0, shapeBits = 0): void {
    this.own(this.node(p.address, p.length, true)!, slots, rank, shapeSlot, shapeBits);
  }

  /** Sorts and pre-resolves every entry: value = best rank and shape bits over ancestors and self. */
  resolveAll(): void {
    this.sorted = [...this.nodes.values()].sort(order);
    this.walk(0, this.sorted.length, undefined, NO_VAL, undefined);
  }

  private index(n: LpmNode): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(this.sorted[mid]!, n) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** End (exclusive) of the descendants of sorted[i]. */
  private subtreeEnd(i: number): number {
    const n = this.sorted[i]!;
    let j = i + 1;
    while (j < this.sorted.length && isInside(n, this.sorted[j]!)) j++;
    return j;
  }

  /** Recomputes values of sorted[from, to) under a base value; collects changed nodes. */
  private walk(from: number, to: number, root: LpmNode | undefined, base: LpmVal, changed: Set<LpmNode> | undefined): void {
    const stack: LpmNode[] = [];
    for (let i = from; i < to; i++) {
      const n = this.sorted[i]!;
      while (stack.length > 0 && !isInside(stack[stack.length - 1]!, n)) stack.pop();
      const up = stack.length > 0 ? stack[stack.length - 1]! : root ?? base;
      if (resolve(n, up) && changed) changed.add(n);
      stack.push(n);
    }
  }

  /** Value of the nearest stored ancestor of a prefix (strictly shorter). */
  private parentVal(p: Prefix): LpmVal {
    for (let len = p.length - 1; len >= 0; len--) {
      const n = this.node(p.address, len, false);
      if (n) return n;
    }
    return NO_VAL;
  }

  /** Adds a rule's rank (or tuple shape bits) at a prefix; appends the entries that change. */
  add(p: Prefix, slots: number, rank: number, out: MapEntry[], shapeSlot = 0, shapeBits = 0): void {
    let n = this.node(p.address, p.length, false);
    const changed = new Set<LpmNode>();
    if (!n) {
      n = this.node(p.address, p.length, true)!;
      copyVal(n, this.parentVal(p));
      this.sorted.splice(this.index(n), 0, n);
      changed.add(n);
    }
    this.own(n, slots, rank, shapeSlot, shapeBits);
    const i = this.index(n);
    if (resolve(n, this.parentVal(p))) changed.add(n);
    this.walk(i + 1, this.subtreeEnd(i), n, n, changed);
    for (const c of changed) out.push(this.entry(c));
  }

  /** Removes a rule's rank from a prefix; appends the entries that change. */
  remove(p: Prefix, slots: number, rank: number, out: MapEntry[]): void {
    const n = this.node(p.address, p.length, false);
    if (!n) return;
    removePair(n.own, slots, rank);
    const i = this.index(n);
    const end = this.subtreeEnd(i);
    const up = this.parentVal(p);
    const changed = new Set<LpmNode>();
    if (!n.own?.length && n.b0 === 0 && n.b1 === 0 && n.b2 === 0 && n.b3 === 0) {
      this.nodes.delete(n.id);
      this.sorted.splice(i, 1);
      out.push({ kind: 'lpm', family: this.family, address: bytesOf(n.id).subarray(0, -1), length: n.length });
      this.walk(i, end - 1, undefined, up, changed);
    } else {
      if (resolve(n, up)) changed.add(n);
      this.walk(i + 1, end, n, n, changed);
    }
    for (const c of changed) out.push(this.entry(c));
  }

  entry(n: LpmNode): LpmEntry {
    return lpmEntry(this.family, n.id, n.length, n);
  }
}

function lpmEntry(family: Family, id: string, length: number, n: LpmVal): LpmEntry {
  return { kind: 'lpm', family, address: bytesOf(id).subarray(0, -1), length, ranks: [n.v0, n.v1, n.v2, n.v3], shapes: [n.m0, n.m1, n.m2, n.m3] };
}

// ---------- tuple space ----------

interface Shape extends ShapeMasks {
  readonly family: Family;
  readonly hook: 0 | 1;
  readonly sig: string;
  index: number;
  best: number;
}

export interface LpmTerm {
  readonly kind: 'lpm';
  /** `either`: one entry serves both address sides. */
  readonly side: 'src' | 'dst' | 'either';
  readonly prefix: Prefix;
}
export interface TupleTerm {
  readonly kind: 'tuple';
  readonly src?: Prefix;
  readonly dst?: Prefix;
  readonly protocol?: number;
  readonly srcPort: { value: number; length: number };
  readonly dstPort: { value: number; length: number };
  readonly needsPorts: boolean;
}
/** One term of a rule: an LPM prefix, or a tuple key before shape indexes exist. */
export type Term = LpmTerm | TupleTerm;

/** How one rule maps onto LPM prefixes and tuple keys. */
export function ruleTerms(rule: Rule): Term[] {
  const m = rule.match;
  const addressOnly = m.protocol === undefined && !m.srcPorts && !m.dstPorts;
  const prefixes = (m.either ? 1 : 0) + (m.src ? 1 : 0) + (m.dst ? 1 : 0);
  if (addressOnly && prefixes === 1) {
    if (m.either) return [{ kind: 'lpm', side: 'either', prefix: m.either }];
    if (m.src) return [{ kind: 'lpm', side: 'src', prefix: m.src }];
    return [{ kind: 'lpm', side: 'dst', prefix: m.dst! }];
  }
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
  const terms: Term[] = [];
  for (const a of alternatives)
    for (const srcPort of sps)
      for (const dstPort of dps) terms.push({ kind: 'tuple', src: a.src, dst: a.dst, protocol: m.protocol, srcPort, dstPort, needsPorts });
  return terms;
}

function ruleHooks(rule: Rule): (0 | 1)[] {
  return rule.direction === 'both' ? [0, 1] : [hookIndex(rule.direction)];
}


const portMask = (len: number): number => (len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff);

/** The tuple key's bytes (pf_tup4_key / pf_tup6_key) as latin1, after a family tag. */
function tupleId(family: Family, hook: 0 | 1, shape: number, t: TupleTerm): string {
  const w = family === 4 ? 4 : 16;
  const sp = t.srcPort.value & portMask(t.srcPort.length);
  const dp = t.dstPort.value & portMask(t.dstPort.length);
  const key = family === 4 ? KEY4 : KEY6;
  key[0] = hook;
  key[1] = shape;
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
  return (family === 4 ? '4' : '6') + String.fromCharCode.apply(null, key);
}
const KEY4 = new Array<number>(16).fill(0);
const KEY6 = new Array<number>(40).fill(0);

function maskedByte(p: Prefix | undefined, i: number): number {
  if (!p) return 0;
  const bits = p.length - i * 8;
  return p.address[i]! & (bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff);
}

function tupleEntry(id: string, rank: number | undefined): TupleEntry {
  const family: Family = id[0] === '4' ? 4 : 6;
  const w = family === 4 ? 4 : 16;
  const b = bytesOf(id, 1);
  return {
    kind: 'tuple',
    family,
    hook: b[0] as 0 | 1,
    shape: b[1]!,
    protocol: b[2]!,
    srcPort: (b[4]! << 8) | b[5]!,
    dstPort: (b[6]! << 8) | b[7]!,
    src: b.slice(8, 8 + w),
    dst: b.slice(8 + w, 8 + 2 * w),
    ...(rank !== undefined ? { rank } : {}),
  };
}

/**
 * A compiled rule set with the indexes needed for in-place changes. Build with
 * RuleSet.compile(); read all entries with entries() (or visit()) for a new generation.
 */
export class RuleSet {
  /** Rules in precedence order with their rank and counter slot. */
  readonly order: RankedRule[] = [];
  readonly byNumber = new Map<number, RankedRule>();
  readonly byRank = new Map<number, RankedRule>();
  /** LPM tables, IPv4 then IPv6. */
  private readonly lpm: LpmTable[] = [new LpmTable(4), new LpmTable(6)];
  /** Tuple key (tupleId) -> rank, or ranks when several rules share the key. */
  private readonly tuples = new Map<string, number | number[]>();
  private readonly shapes = new Map<string, Shape>();
  private readonly shapeLists = new Map<string, Shape[]>();
  private readonly freeSlots: number[] = [];
  private nextSlot = FIRST_RULE_SLOT;

  private constructor() {
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
    let maxSlot = FIRST_RULE_SLOT - 1;
    const used = new Uint8Array(MAX_SLOTS);
    // Shapes first: their best rank decides their order, which names the keys.
    const pendingRank: number[] = [];
    const pendingHook: (0 | 1)[] = [];
    const pendingTerm: TupleTerm[] = [];
    const pendingShape: Shape[] = [];
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
      set.byRank.set(rr.rank, rr);
      const hooks = ruleHooks(rule);
      const ingress = rule.direction !== 'egress';
      const egress = rule.direction !== 'ingress';
      const family = rule.match.family;
      for (const term of ruleTerms(rule)) {
        if (term.kind === 'lpm') {
          set.lpm[family === 6 ? 1 : 0]!.addBulk(term.prefix, slotBits(term.side, ingress, egress), rr.rank);
          continue;
        }
        for (const hook of hooks) {
          const sig = shapeSig(family, hook, term);
          let shape = set.shapes.get(sig);
          if (!shape) {
            shape = newShape(family, hook, term, sig);
            set.shapes.set(sig, shape);
          }
          if (rr.rank < shape.best) shape.best = rr.rank;
          pendingRank.push(rr.rank);
          pendingHook.push(hook);
          pendingTerm.push(term);
          pendingShape.push(shape);
        }
      }
    }
    set.nextSlot = maxSlot + 1;
    for (let s = FIRST_RULE_SLOT; s < set.nextSlot; s++) if (!used[s]) set.freeSlots.push(s);
    for (const s of set.shapes.values()) set.shapeLists.get(`${s.hook}/${s.family}`)!.push(s);
    for (const [k, list] of set.shapeLists) {
      if (list.length > MAX_SHAPES)
        throw new CompileError('ERR_TOO_MANY_SHAPES', `${list.length} rule shapes for hook/family ${k}; the kernel walks at most ${MAX_SHAPES}`);
      list.sort((a, b) => a.best - b.best);
      list.forEach((s, i) => (s.index = i));
    }
    for (let i = 0; i < pendingRank.length; i++) {
      const shape = pendingShape[i]!;
      const term = pendingTerm[i]!;
      set.addTuple(tupleId(shape.family, shape.hook, shape.index, term), pendingRank[i]!, undefined);
      set.markPrefixes(shape, term, undefined);
    }
    for (const t of set.lpm) t.resolveAll();
    return set;
  }

  /**
   * Records in the LPM tables that the tuple key's prefixes may match this
   * shape, so the kernel probes the shape only for packets inside them. Bits
   * are never cleared in place (a stale bit costs one lookup, not a verdict).
   */
  private markPrefixes(shape: Shape, t: TupleTerm, out: MapEntry[] | undefined): void {
    const bit = (1 << shape.index) >>> 0;
    const table = this.lpm[shape.family === 6 ? 1 : 0]!;
    for (const side of ['src', 'dst'] as const) {
      const prefix = t[side];
      if (!prefix || prefix.length === 0) continue;
      if (out) table.add(prefix, 0, 0, out, lpmSlot(side, shape.hook), bit);
      else table.addBulk(prefix, 0, 0, lpmSlot(side, shape.hook), bit);
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

  private addTuple(id: string, rank: number, out: MapEntry[] | undefined): void {
    const cur = this.tuples.get(id);
    if (cur === undefined) {
      this.tuples.set(id, rank);
      if (out) out.push(tupleEntry(id, rank));
      return;
    }
    const before = typeof cur === 'number' ? cur : minOf(cur);
    if (typeof cur === 'number') this.tuples.set(id, [cur, rank]);
    else cur.push(rank);
    if (out && rank < before) out.push(tupleEntry(id, rank));
  }

  private removeTuple(id: string, rank: number, out: MapEntry[]): void {
    const cur = this.tuples.get(id);
    if (cur === undefined) return;
    const ranks = typeof cur === 'number' ? [cur] : cur;
    const before = minOf(ranks);
    remove1(ranks, rank);
    if (ranks.length === 0) {
      this.tuples.delete(id);
      out.push(tupleEntry(id, undefined));
      return;
    }
    this.tuples.set(id, ranks.length === 1 ? ranks[0]! : ranks);
    const after = minOf(ranks);
    if (after !== before) out.push(tupleEntry(id, after));
  }

  /** Number of entries visit() produces. */
  entryCount(): number {
    let n = this.tuples.size;
    for (const list of this.shapeLists.values()) n += list.length + (list.length > 0 ? 1 : 0);
    for (const t of this.lpm) n += t.sorted.length;
    return n;
  }

  /** Every entry of the set, for a fresh generation: shapes, counts, LPM, tuples. */
  visit(v: EntryVisitor): void {
    for (const list of this.shapeLists.values()) {
      for (const s of list) v.shape(shapeEntry(s));
      const first = list[0];
      if (first) v.count(this.shapeCount(first.family, first.hook));
    }
    for (const t of this.lpm) for (const n of t.sorted) v.lpm(t.family, n.id, n.length, n);
    for (const [id, r] of this.tuples) v.tuple(id[0] === '4' ? 4 : 6, id, typeof r === 'number' ? r : minOf(r));
  }

  /** Every entry of the set as objects (tests; visit() is the fast path). */
  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    this.visit({
      shape: (e) => out.push(e),
      count: (e) => out.push(e),
      lpm: (family, id, length, n) => out.push(lpmEntry(family, id, length, n)),
      tuple: (_family, id, rank) => out.push(tupleEntry(id, rank)),
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
    let at = before === undefined ? -1 : this.order.indexOf(this.byNumber.get(before)!);
    if (at < 0) at = this.order.length;
    const lowRank = at === 0 ? 0 : this.order[at - 1]!.rank;
    const highRank = at === this.order.length ? Math.min(lowRank + 2 * RANK_STEP, RANK_NONE) : this.order[at]!.rank;
    const rank = Math.floor((lowRank + highRank) / 2);
    if (rank <= lowRank || rank >= highRank) return null;
    const family = rule.match.family;
    const hooks = ruleHooks(rule);
    const terms = ruleTerms(rule);
    // Check shape room before touching anything.
    const newSigs = new Set<string>();
    const newPerList = new Map<string, number>();
    for (const term of terms) {
      if (term.kind !== 'tuple') continue;
      for (const hook of hooks) {
        const sig = shapeSig(family, hook, term);
        if (this.shapes.has(sig) || newSigs.has(sig)) continue;
        newSigs.add(sig);
        const key = `${hook}/${family}`;
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
        const sig = shapeSig(family, hook, term);
        let shape = this.shapes.get(sig);
        if (!shape) {
          shape = newShape(family, hook, term, sig);
          const list = this.shapeLists.get(`${hook}/${family}`)!;
          shape.index = list.length;
          shape.best = rank;
          list.push(shape);
          this.shapes.set(sig, shape);
          out.push(shapeEntry(shape), this.shapeCount(family, hook));
        } else if (rank < shape.best) {
          shape.best = rank;
          out.push(shapeEntry(shape));
        }
      }
    }
    const ingress = rule.direction !== 'egress';
    const egress = rule.direction !== 'ingress';
    for (const term of terms) {
      if (term.kind === 'lpm') {
        this.lpm[family === 6 ? 1 : 0]!.add(term.prefix, slotBits(term.side, ingress, egress), rank, out);
      } else {
        for (const hook of hooks) {
          const shape = this.shapes.get(shapeSig(family, hook, term))!;
          this.addTuple(tupleId(family, hook, shape.index, term), rank, out);
          // After the key: a packet sees the new rule only once key and bits are in.
          this.markPrefixes(shape, term, out);
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
    const family = rule.match.family;
    const hooks = ruleHooks(rule);
    const out: MapEntry[] = [];
    const ingress = rule.direction !== 'egress';
    const egress = rule.direction !== 'ingress';
    for (const term of ruleTerms(rule)) {
      if (term.kind === 'lpm') {
        this.lpm[family === 6 ? 1 : 0]!.remove(term.prefix, slotBits(term.side, ingress, egress), rr.rank, out);
      } else {
        for (const hook of hooks) {
          const shape = this.shapes.get(shapeSig(family, hook, term))!;
          this.removeTuple(tupleId(family, hook, shape.index, term), rr.rank, out);
        }
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

function shapeSig(family: Family, hook: 0 | 1, t: TupleTerm): string {
  return `${hook}/${family}/${t.src?.length ?? 0}/${t.dst?.length ?? 0}/${t.srcPort.length}/${t.dstPort.length}/${t.protocol !== undefined ? 1 : 0}/${t.needsPorts ? 1 : 0}`;
}

function newShape(family: Family, hook: 0 | 1, t: TupleTerm, sig: string): Shape {
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
