/**
 * Encodes compiled map entries (agent/rules/compile.ts) into the fixed 96-byte
 * records the native module decodes (native/src/records.rs). Layouts of keys
 * and values follow native/bpf/include/pf_abi.h.
 */
import {
  RANK_NONE,
  SLOT_DEFAULT,
  type MapEntry,
  type RankedRule,
} from '../rules/compile.js';

export const RECORD_LEN = 96;
const KIND = { lpm: 1, tuple: 2, shape: 3, 'shape-count': 4 } as const;
const OP_UPSERT = 1;
const OP_DELETE = 2;
const DROP = { none: 0, reject: 1, false_ack: 2 } as const;
const FLAG_LOGGED = 1;
const FLAG_STATEFUL = 2;

/** pf_verdict (12 bytes) for a rank, or "no rule" for RANK_NONE. */
function writeVerdict(buf: Buffer, at: number, rank: number, byRank: ReadonlyMap<number, RankedRule>): void {
  const rr = rank === RANK_NONE ? undefined : byRank.get(rank);
  if (rank !== RANK_NONE && !rr) throw new Error(`internal: rank ${rank} has no rule`);
  buf.writeUInt32LE(rank, at);
  buf.writeUInt32LE(rr ? rr.slot : SLOT_DEFAULT, at + 4);
  buf[at + 8] = rr?.rule.action === 'deny' ? 1 : 0;
  buf[at + 9] = rr ? DROP[rr.rule.drop] : 0;
  buf[at + 10] = rr ? (rr.rule.logged ? FLAG_LOGGED : 0) | (rr.rule.stateful ? FLAG_STATEFUL : 0) : 0;
}

/** Address mask of `length` leading bits, `width` bytes. */
function maskBytes(length: number, width: number, buf: Buffer, at: number): void {
  for (let i = 0; i < width; i++) {
    const bits = length - i * 8;
    buf[at + i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
}

const portMask = (len: number): number => (len === 0 ? 0 : (0xffff << (16 - len)) & 0xffff);

/** Encodes entries in order; `byRank` resolves ranks to the rule's slot and action. */
export function encodeRecords(entries: readonly MapEntry[], byRank: ReadonlyMap<number, RankedRule>): Buffer {
  const buf = Buffer.alloc(entries.length * RECORD_LEN);
  entries.forEach((e, i) => {
    const at = i * RECORD_LEN;
    buf[at] = KIND[e.kind];
    buf[at + 2] = e.family === 6 ? 1 : 0;
    switch (e.kind) {
      case 'lpm':
        buf[at + 1] = e.ranks ? OP_UPSERT : OP_DELETE;
        buf[at + 3] = e.side === 'dst' ? 1 : 0;
        buf.writeUInt32LE(e.length, at + 4);
        buf.set(e.address, at + 8);
        if (e.ranks) {
          writeVerdict(buf, at + 48, e.ranks[0], byRank);
          writeVerdict(buf, at + 60, e.ranks[1], byRank);
          buf.writeUInt32LE(e.shapes?.[0] ?? 0, at + 72);
          buf.writeUInt32LE(e.shapes?.[1] ?? 0, at + 76);
        }
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
  });
  return buf;
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
