/**
 * The kernel map entries a compiled rule set consists of, one object each: the
 * contract between agent/rules/compile.ts and agent/dataplane/records.ts for
 * in-place changes (a whole generation is encoded without them).
 */
import type { Family } from './model.js';

/** Index of an LPM value field: [side][hook] flattened (pf_lpm_val). */
export const lpmSlot = (side: 'src' | 'dst', hook: 0 | 1): number => (side === 'dst' ? 2 : 0) + hook;

/**
 * A host's pinned tuple key (struct pf_pin): the one key of a pinnable shape
 * (a full-length prefix on one side, none on the other) at this host, for
 * one hook, so the kernel compares instead of probing the tuple map.
 */
export interface HostPin {
  /** Bytes 0-3 of struct pf_pin, little-endian: shape index + 1, side (0 src, 1 dst), protocol, 0. */
  readonly head: number;
  /** Source port << 16 | destination port, masked as the shape masks them. */
  readonly ports: number;
  /** The key's best rank. */
  readonly rank: number;
}

export interface LpmEntry {
  readonly kind: 'lpm';
  readonly family: Family;
  readonly address: Uint8Array;
  readonly length: number;
  /** Best rank per [side][hook] (lpmSlot: src-ingress, src-egress, dst-ingress, dst-egress); undefined: delete the entry. */
  readonly ranks?: readonly [number, number, number, number];
  /** Per [side][hook]: bit i = tuple shape i has a key whose prefix on that side contains the entry. */
  readonly shapes?: readonly [number, number, number, number];
  /** Host entries only, per hook: the pinned tuple key, or null. */
  readonly pins?: readonly [HostPin | null, HostPin | null];
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
