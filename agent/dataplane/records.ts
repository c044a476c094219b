/**
 * Encodes compiled map entries (agent/rules/compile.ts) into the fixed 96-byte
 * records the native module decodes (native/src/records.rs). Layouts of keys
 * and values follow native/bpf/include/pf_abi.h.
 */
import {
  RANK_NONE,
  RANK_STEP,
  SLOT_DEFAULT,
  type MapEntry,
  type RankedRule,
  type RuleSet,
  type ShapeCountEntry,
  type ShapeEntry,
} from '../rules/compile.js';

export const RECORD_LEN = 96;
const KIND = { lpm: 1, tuple: 2, shape: 3, 'shape-count': 4 } as const;
const OP_UPSERT = 1;
const OP_DELETE = 2;
const DROP = { none: 0, reject: 1, false_ack: 2 } as const;
const FLAG_LOGGED = 1;
const FLAG_STATEFUL = 2;

/** pf_verdict (12 bytes) for a rank, or "no rule" for RANK_NONE. */
function writeVerdict(buf: Buffer, at: number, rank: number, byRank: Pick<ReadonlyMap<number, RankedRule>, 'get'>): void {
  const rr = rank === RANK_NONE ? undefined : byRank.get(rank);
  if (rank !== RANK_NONE && !rr) throw new Error(`internal: rank ${rank} has no rule`);
  const slot = rr ? rr.slot : SLOT_DEFAULT;
  // Byte by byte: Buffer#writeUInt32LE's checks cost more than the record at 100k rules.
  buf[at] = rank & 0xff;
  buf[at + 1] = (rank >>> 8) & 0xff;
  buf[at + 2] = (rank >>> 16) & 0xff;
  buf[at + 3] = rank >>> 24;
  buf[at + 4] = slot & 0xff;
  buf[at + 5] = (slot >>> 8) & 0xff;
  buf[at + 6] = (slot >>> 16) & 0xff;
  buf[at + 7] = slot >>> 24;
  if (rr) {
    const r = rr.rule;
    buf[at + 8] = r.action === 'deny' ? 1 : 0;
    buf[at + 9] = DROP[r.drop];
    buf[at + 10] = (r.logged ? FLAG_LOGGED : 0) | (r.stateful ? FLAG_STATEFUL : 0);
  }
}

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
  const buf = Buffer.alloc(set.entryCount() * RECORD_LEN);
  // A fresh compile gives rule i the rank (i + 1) * RANK_STEP: index the rule
  // list directly, fall back to the map for ranks that inserts made.
  const order = set.order;
  const byRank = {
    get(rank: number): RankedRule | undefined {
      const rr = order[rank / RANK_STEP - 1];
      return rr !== undefined && rr.rank === rank ? rr : set.byRank.get(rank);
    },
  };
  let at = 0;
  const one = (e: ShapeEntry | ShapeCountEntry): void => {
    encodeInto(buf, at, e, byRank);
    at += RECORD_LEN;
  };
  set.visit({
    shape: one,
    count: one,
    lpm(family, id, length, n) {
      buf[at] = KIND.lpm;
      buf[at + 1] = OP_UPSERT;
      buf[at + 2] = family === 6 ? 1 : 0;
      buf.writeUInt32LE(length, at + 4);
      // id: address bytes, then the length byte (not part of the key bytes).
      for (let i = 0; i < id.length - 1; i++) buf[at + 8 + i] = id.charCodeAt(i);
      writeLpmValue(buf, at, [n.v0, n.v1, n.v2, n.v3], [n.m0, n.m1, n.m2, n.m3], byRank);
      at += RECORD_LEN;
    },
    tuple(family, key, rank) {
      buf[at] = KIND.tuple;
      buf[at + 1] = OP_UPSERT;
      buf[at + 2] = family === 6 ? 1 : 0;
      // key[0] is the family tag; the rest is the struct pf_tup4_key / pf_tup6_key bytes.
      for (let i = 1; i < key.length; i++) buf[at + 7 + i] = key.charCodeAt(i);
      writeVerdict(buf, at + 48, rank, byRank);
      at += RECORD_LEN;
    },
  });
  return buf;
}

/**
 * struct pf_lpm_val of an LPM record: the four verdicts [side][hook] fill the
 * value area (48..96); the four shape bitmaps ride in the key area after the
 * 16 address bytes (24..40). native/src/records.rs reads them there.
 */
function writeLpmValue(buf: Buffer, at: number, ranks: readonly number[], shapes: readonly number[], byRank: Pick<ReadonlyMap<number, RankedRule>, 'get'>): void {
  for (let i = 0; i < 4; i++) {
    writeVerdict(buf, at + 48 + 12 * i, ranks[i]!, byRank);
    buf.writeUInt32LE(shapes[i]!, at + 24 + 4 * i);
  }
}

/** Encodes entries in order; `byRank` resolves ranks to the rule's slot and action. */
export function encodeRecords(entries: readonly MapEntry[], byRank: ReadonlyMap<number, RankedRule>): Buffer {
  const buf = Buffer.alloc(entries.length * RECORD_LEN);
  entries.forEach((e, i) => encodeInto(buf, i * RECORD_LEN, e, byRank));
  return buf;
}

function encodeInto(buf: Buffer, at: number, e: MapEntry, byRank: Pick<ReadonlyMap<number, RankedRule>, 'get'>): void {
  {
    buf[at] = KIND[e.kind];
    buf[at + 2] = e.family === 6 ? 1 : 0;
    switch (e.kind) {
      case 'lpm':
        buf[at + 1] = e.ranks ? OP_UPSERT : OP_DELETE;
        buf.writeUInt32LE(e.length, at + 4);
        buf.set(e.address, at + 8);
        if (e.ranks) writeLpmValue(buf, at, e.ranks, e.shapes ?? [0, 0, 0, 0], byRank);
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
        if (e.rank !== undefined) writeVerdict(buf, at + 48, e.rank, byRank);
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
  prefixes.forEach((p, i) => {
    const at = i * RECORD_LEN;
    buf[at] = KIND.lpm;
    buf[at + 1] = OP_UPSERT;
    buf[at + 2] = p.family === 6 ? 1 : 0;
    buf.writeUInt32LE(p.length, at + 4);
    buf.set(p.address, at + 8);
  });
  return buf;
}
