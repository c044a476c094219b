/**
 * Encodes compiled map entries (agent/rules/compile.ts) into the fixed 96-byte
 * records the native module decodes (native/src/records.rs). Layouts of keys
 * and values follow native/bpf/include/pf_abi.h.
 */
import {
  RANK_NONE,
  SLOT_DEFAULT,
  type HostPin,
  type LpmEntry,
  type MapEntry,
  type RuleSet,
  type ShapeCountEntry,
  type ShapeEntry,
} from '../rules/compile.js';
import type { Rule } from '../rules/model.js';

export const RECORD_LEN = 96;
const KIND = { lpm: 1, tuple: 2, shape: 3, 'shape-count': 4, pins: 5 } as const;
const OP_UPSERT = 1;
const OP_DELETE = 2;
const DROP = { none: 0, reject: 1, false_ack: 2 } as const;
const FLAG_LOGGED = 1;
const FLAG_STATEFUL = 2;

/** Bytes 8..10 of a rule's pf_verdict (action, drop, flags) as one little-endian number. */
function verdictBits(r: Rule): number {
  return (r.action === 'deny' ? 1 : 0) | (DROP[r.drop] << 8) | ((r.logged ? FLAG_LOGGED : 0) | (r.stateful ? FLAG_STATEFUL : 0)) << 16;
}

/**
 * pf_verdict (12 bytes): rank, counter slot, then verdictBits() and a zero pad
 * byte. Through a DataView: Buffer#writeUInt32LE's checks cost more than the
 * record at 100k rules.
 */
function writeVerdict(view: DataView, at: number, rank: number, slot: number, bits: number): void {
  view.setUint32(at, rank, true);
  view.setUint32(at + 4, slot, true);
  view.setUint32(at + 8, bits, true);
}

/** Writes the pf_verdict of a rank at `at`. */
type VerdictWriter = (view: DataView, at: number, rank: number) => void;

/**
 * The VerdictWriter of a rule set: the rule a rank names, or "no rule"
 * (default pass) for RANK_NONE. `bits` caches verdictBits() by position in
 * set.order so each rule's bits are computed once, not once per entry.
 */
function verdictWriter(set: RuleSet, bits?: Uint32Array): VerdictWriter {
  return (view, at, rank) => {
    if (rank === RANK_NONE) return writeVerdict(view, at, rank, SLOT_DEFAULT, 0);
    const i = set.indexOfRank(rank);
    if (i < 0) throw new Error(`internal: rank ${rank} has no rule`);
    const rr = set.order[i]!;
    writeVerdict(view, at, rank, rr.slot, bits ? bits[i]! : verdictBits(rr.rule));
  };
}

/** An upsert record's header: kind, op, family, and the number at 4 (a prefix length; 0 where unused). */
function writeHead(buf: Buffer, view: DataView, at: number, kind: number, family: 4 | 6, n: number): void {
  buf[at] = kind;
  buf[at + 1] = OP_UPSERT;
  buf[at + 2] = family === 6 ? 1 : 0;
  view.setUint32(at + 4, n, true);
}

/** A view of the whole of `buf` for 32-bit writes. */
const viewOf = (buf: Buffer): DataView => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

/** Address mask of `length` leading bits, `width` bytes. */
function maskBytes(length: number, width: number, buf: Buffer, at: number): void {
  for (let i = 0; i < width; i++) {
    const bits = length - i * 8;
    buf[at + i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
}

const portMask = (len: number): number => (len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff);

/**
 * Encodes a whole rule set for a new generation straight from its indexes (no
 * entry objects): the fast path for replace().
 */
export function encodeSet(set: RuleSet): Buffer {
  const buf = Buffer.alloc((set.entryCount() + set.pinnedHosts()) * RECORD_LEN);
  const view = viewOf(buf);
  const order = set.order;
  const bits = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) bits[i] = verdictBits(order[i]!.rule);
  const verdict = verdictWriter(set, bits);
  let at = 0;
  const one = (e: ShapeEntry | ShapeCountEntry): void => {
    encodeInto(buf, view, at, e, verdict);
    at += RECORD_LEN;
  };
  set.visit({
    shape: one,
    count: one,
    lpm(table, node) {
      writeHead(buf, view, at, KIND.lpm, table.family, table.lengthOf(node));
      table.writeAddress(node, view, at + 8);
      for (let i = 0; i < 4; i++) writeLpmSlot(view, at, i, table.rankOf(node, i), table.shapesOf(node, i), verdict);
      at += RECORD_LEN;
      const ingress = table.pinHeadOf(node, 0);
      const egress = table.pinHeadOf(node, 1);
      if (ingress === 0 && egress === 0) return;
      writeHead(buf, view, at, KIND.pins, table.family, table.lengthOf(node));
      table.writeAddress(node, view, at + 8);
      if (ingress !== 0) writePin(view, at, 0, ingress, table.pinPortsOf(node, 0), table.pinRankOf(node, 0), verdict);
      if (egress !== 0) writePin(view, at, 1, egress, table.pinPortsOf(node, 1), table.pinRankOf(node, 1), verdict);
      at += RECORD_LEN;
    },
    tuple(table, i) {
      writeHead(buf, view, at, KIND.tuple, table.family, 0);
      table.writeKey(i, buf, at + 8);
      verdict(view, at + 48, table.bestAt(i));
      at += RECORD_LEN;
    },
  });
  return buf;
}

/**
 * One [side][hook] field (lpmSlot()) of struct pf_lpm_val in an LPM record: the
 * four verdicts fill the value area (48..96); the four shape bitmaps ride in
 * the key area after the 16 address bytes (24..40). native/src/records.rs
 * reads them there.
 */
function writeLpmSlot(view: DataView, at: number, slot: number, rank: number, shapes: number, verdict: VerdictWriter): void {
  verdict(view, at + 48 + 12 * slot, rank);
  view.setUint32(at + 24 + 4 * slot, shapes, true);
}

const HOOKS = [0, 1] as const;

/**
 * One pin (struct pf_pin, HostPin fields) in a pins record: [hook] at 48 + 20
 * * hook; a hook without a pin stays zero. A pins record follows its host's
 * LPM record and repeats its header and address (native/src/records.rs joins them).
 */
function writePin(view: DataView, at: number, hook: 0 | 1, head: number, ports: number, rank: number, verdict: VerdictWriter): void {
  const p = at + 48 + 20 * hook;
  view.setUint32(p, head, true);
  view.setUint32(p + 4, ports);
  verdict(view, p + 8, rank);
}

const hasPins = (e: MapEntry): e is LpmEntry & { pins: readonly [HostPin | null, HostPin | null] } =>
  e.kind === 'lpm' && e.ranks !== undefined && e.pins !== undefined && (e.pins[0] !== null || e.pins[1] !== null);

/** Encodes entries in order; the rule set resolves ranks to the rule's slot and action. */
export function encodeRecords(entries: readonly MapEntry[], set: RuleSet): Buffer {
  const buf = Buffer.alloc((entries.length + entries.filter(hasPins).length) * RECORD_LEN);
  const view = viewOf(buf);
  const verdict = verdictWriter(set);
  let at = 0;
  for (const e of entries) {
    encodeInto(buf, view, at, e, verdict);
    at += RECORD_LEN;
    if (!hasPins(e)) continue;
    writeHead(buf, view, at, KIND.pins, e.family, e.length);
    buf.set(e.address, at + 8);
    for (const hook of HOOKS) {
      const pin = e.pins[hook];
      if (pin) writePin(view, at, hook, pin.head, pin.ports, pin.rank, verdict);
    }
    at += RECORD_LEN;
  }
  return buf;
}

function encodeInto(buf: Buffer, view: DataView, at: number, e: MapEntry, verdict: VerdictWriter): void {
  {
    buf[at] = KIND[e.kind];
    buf[at + 2] = e.family === 6 ? 1 : 0;
    switch (e.kind) {
      case 'lpm':
        buf[at + 1] = e.ranks ? OP_UPSERT : OP_DELETE;
        buf.writeUInt32LE(e.length, at + 4);
        buf.set(e.address, at + 8);
        if (e.ranks) for (let i = 0; i < 4; i++) writeLpmSlot(view, at, i, e.ranks[i]!, e.shapes?.[i] ?? 0, verdict);
        break;
      case 'tuple': {
        buf[at + 1] = e.rank === undefined ? OP_DELETE : OP_UPSERT;
        // struct pf_tup4_key / pf_tup6_key: hook, shape, proto, pad, sport, dport (network order), src, dst.
        const k = at + 8;
        buf[k] = e.hook;
        buf[k + 1] = e.shape;
        buf[k + 2] = e.protocol;
        buf.writeUInt16BE(e.srcPort, k + 4);
        buf.writeUInt16BE(e.dstPort, k + 6);
        buf.set(e.src, k + 8);
        buf.set(e.dst, k + 8 + e.src.length);
        if (e.rank !== undefined) verdict(view, at + 48, e.rank);
        break;
      }
      case 'shape': {
        buf[at + 1] = OP_UPSERT;
        buf.writeUInt32LE((e.hook * 2 + (e.family === 6 ? 1 : 0)) * 32 + e.index, at + 4);
        // struct pf_shape; port masks are network-order bytes.
        const v = at + 48;
        buf.writeUInt32LE(e.best, v);
        buf[v + 4] = e.hasProtocol ? 0xff : 0;
        buf[v + 5] = e.needsPorts ? 1 : 0;
        buf.writeUInt16BE(portMask(e.srcPortLength), v + 6);
        buf.writeUInt16BE(portMask(e.dstPortLength), v + 8);
        maskBytes(e.srcLength, 16, buf, v + 12);
        maskBytes(e.dstLength, 16, buf, v + 28);
        break;
      }
      case 'shape-count':
        buf[at + 1] = OP_UPSERT;
        buf[at + 3] = e.hook;
        buf.writeUInt32LE(e.count, at + 4);
        buf.writeUInt32LE(e.wildSrc, at + 48);
        buf.writeUInt32LE(e.wildDst, at + 52);
        break;
    }
  }
}

/** Anti-lockout prefixes as LPM records ("a.b.c.d/n", "2001:db8::/32"). */
export function encodeManagementPrefixes(prefixes: readonly { family: 4 | 6; address: Uint8Array; length: number }[]): Buffer {
  const buf = Buffer.alloc(prefixes.length * RECORD_LEN);
  const view = viewOf(buf);
  prefixes.forEach((p, i) => {
    const at = i * RECORD_LEN;
    writeHead(buf, view, at, KIND.lpm, p.family, p.length);
    buf.set(p.address, at + 8);
  });
  return buf;
}
