/**
 * Crafted Ethernet frames for BPF_PROG_TEST_RUN, and random rules/packets for
 * the differential test. Documentation addresses only (DESIGN.md section 7).
 */
import type { Family, PacketHeader, PortRange, Prefix, Rule } from '../../agent/rules/model.js';

export interface FrameOptions {
  /** 802.1Q tags to put before the IP header. */
  readonly vlans?: number;
  /** IPv4 only: a non-first fragment (offset > 0), carrying no L4 header. */
  readonly laterFragment?: boolean;
  /** IPv6 only: a hop-by-hop extension header before the upper layer. */
  readonly hopByHop?: boolean;
}

const PORT_PROTOCOLS = new Set([6, 17, 132]);

/** Builds an Ethernet frame carrying the packet; ports only for TCP/UDP/SCTP. */
export function buildFrame(p: PacketHeader, o: FrameOptions = {}): Buffer {
  const l4 = Buffer.alloc(p.protocol === 6 ? 20 : 8);
  if (PORT_PROTOCOLS.has(p.protocol) && p.srcPort !== undefined) {
    l4.writeUInt16BE(p.srcPort, 0);
    l4.writeUInt16BE(p.dstPort ?? 0, 2);
  }
  if (p.protocol === 6) l4[12] = 5 << 4;
  const vlans = o.vlans ?? 0;
  const eth = Buffer.alloc(14 + vlans * 4);
  eth.fill(0x02, 0, 12);
  for (let i = 0; i < vlans; i++) {
    eth.writeUInt16BE(0x8100, 12 + i * 4);
    eth.writeUInt16BE(100 + i, 14 + i * 4);
  }
  if (p.family === 4) {
    eth.writeUInt16BE(0x0800, 12 + vlans * 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    if (o.laterFragment) ip.writeUInt16BE(185, 6); // offset 185*8 bytes
    ip[8] = 64;
    ip[9] = p.protocol;
    ip.set(p.src, 12);
    ip.set(p.dst, 16);
    return Buffer.concat([eth, ip, o.laterFragment ? Buffer.alloc(8, 0xab) : l4]);
  }
  eth.writeUInt16BE(0x86dd, 12 + vlans * 4);
  const ext = o.hopByHop ? Buffer.from([p.protocol, 0, 1, 4, 0, 0, 0, 0]) : Buffer.alloc(0);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(ext.length + l4.length, 4);
  ip[6] = o.hopByHop ? 0 : p.protocol;
  ip[7] = 64;
  ip.set(p.src, 8);
  ip.set(p.dst, 24);
  return Buffer.concat([eth, ip, ext, l4]);
}

const V4_BASES = [
  [192, 0, 2, 0],
  [198, 51, 100, 0],
  [203, 0, 113, 0],
];

/** Random address near a few documentation networks, so prefixes overlap. */
export function randomAddress(rnd: () => number, family: Family): Uint8Array {
  if (family === 4) {
    const b = V4_BASES[Math.floor(rnd() * V4_BASES.length)]!;
    return Uint8Array.from([b[0]!, b[1]!, b[2]!, Math.floor(rnd() * 8) * (rnd() < 0.5 ? 1 : 32)]);
  }
  const a = new Uint8Array(16);
  a.set([0x20, 0x01, 0x0d, 0xb8, 0, Math.floor(rnd() * 3)]);
  a[15] = Math.floor(rnd() * 8) * (rnd() < 0.5 ? 1 : 32);
  return a;
}

function clearHostBits(a: Uint8Array, length: number): Uint8Array {
  const out = Uint8Array.from(a);
  for (let i = 0; i < out.length; i++) {
    const bits = length - i * 8;
    out[i]! &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

const LENGTHS: Record<Family, number[]> = { 4: [0, 8, 16, 24, 27, 29, 32], 6: [0, 32, 48, 64, 120, 125, 128] };
/** Fewer lengths in connection rules: each combination is a tuple-space shape, and shapes are bounded. */
const TUPLE_LENGTHS: Record<Family, number[]> = { 4: [16, 24, 29, 32], 6: [48, 64, 125, 128] };

function randomPrefix(rnd: () => number, family: Family, tuple = false): Prefix {
  const lengths = (tuple ? TUPLE_LENGTHS : LENGTHS)[family];
  const length = lengths[Math.floor(rnd() * lengths.length)]!;
  return { family, address: clearHostBits(randomAddress(rnd, family), length), length };
}

const PROTOCOLS = [6, 17, 1, 58, 132, 47];
const PORT_RANGES = [
  { low: 53, high: 53 },
  { low: 80, high: 80 },
  { low: 1000, high: 1023 },
  { low: 0, high: 65535 },
];
const PORTS = [53, 80, 443, 1000, 1010, 1023, 1024, 40000, 0];

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** A random rule; `number` is its rule number. */
export function randomRule(rnd: () => number, number: number): Rule {
  const family: Family = rnd() < 0.5 ? 4 : 6;
  const kind = rnd();
  const match: { -readonly [K in keyof Rule['match']]: Rule['match'][K] } = { family };
  if (kind < 0.4) {
    const side = pick(rnd, ['either', 'src', 'dst'] as const);
    match[side] = randomPrefix(rnd, family);
  } else if (kind < 0.55) {
    // A host and a port, the commonest connection rule: the kernel pins such a
    // key to its host's entry (pf_abi.h struct pf_pin) while it is the host's only one.
    // Few hosts, so one often gets several keys (and loses its pin) and keys come and go.
    const side = pick(rnd, ['src', 'dst'] as const);
    const address = randomAddress(rnd, family);
    address[address.length - 1] = pick(rnd, [3, 7, 64]);
    if (family === 4) address.set([198, 51, 100]);
    else address[5] = 0;
    match[side] = { family, address, length: family === 4 ? 32 : 128 };
    match.protocol = pick(rnd, [6, 17]);
    match.dstPorts = pick(rnd, PORT_RANGES.slice(0, 2));
  } else {
    if (rnd() < 0.4) match.either = randomPrefix(rnd, family, true);
    if (rnd() < 0.4) match.src = randomPrefix(rnd, family, true);
    if (rnd() < 0.4) match.dst = randomPrefix(rnd, family, true);
    if (rnd() < 0.6) match.protocol = pick(rnd, PROTOCOLS);
    if (rnd() < 0.2) match.srcPorts = pick(rnd, PORT_RANGES);
    if (rnd() < 0.5) match.dstPorts = pick(rnd, PORT_RANGES);
  }
  return {
    number,
    action: rnd() < 0.6 ? 'deny' : 'allow',
    drop: 'none',
    direction: pick(rnd, ['ingress', 'egress', 'both'] as const),
    match,
    priority: 1000,
    logged: false,
    stateful: false,
    persistent: false,
    source: 'pf',
  };
}

/** A random packet and the frame options that carry it. */
export function randomPacket(rnd: () => number): { packet: PacketHeader; options: FrameOptions } {
  const family: Family = rnd() < 0.5 ? 4 : 6;
  const protocol = pick(rnd, family === 4 ? [6, 17, 132, 1, 47] : [6, 17, 132, 58, 47]);
  const options: FrameOptions = {
    vlans: rnd() < 0.2 ? 1 + Math.floor(rnd() * 2) : 0,
    laterFragment: family === 4 && rnd() < 0.1,
    hopByHop: family === 6 && rnd() < 0.2,
  };
  const ports = PORT_PROTOCOLS.has(protocol) && !options.laterFragment;
  const packet: PacketHeader = {
    family,
    src: randomAddress(rnd, family),
    dst: randomAddress(rnd, family),
    protocol,
    ...(ports ? { srcPort: pick(rnd, PORTS), dstPort: pick(rnd, PORTS) } : {}),
  };
  return { packet, options };
}

/**
 * A packet aimed at one rule: its addresses (an `either` prefix on a random
 * side), protocol and ports where it names them, random elsewhere. Random
 * packets rarely land on a /32 with the right port; these test the exact keys.
 */
export function packetNear(rnd: () => number, rule: Rule): { packet: PacketHeader; options: FrameOptions } {
  const { packet: base } = randomPacket(rnd);
  const m = rule.match;
  const family = m.family;
  const eitherSide = rnd() < 0.5 ? 'src' : 'dst';
  // A prefix shorter than the documentation networks could name other addresses: random ones then.
  const address = (side: 'src' | 'dst'): Uint8Array => {
    const p = m[side] ?? (eitherSide === side ? m.either : undefined);
    return p && p.length >= (family === 4 ? 24 : 32) ? p.address : randomAddress(rnd, family);
  };
  const protocol = m.protocol ?? (base.family === family ? base.protocol : pick(rnd, [6, 17]));
  const ports = PORT_PROTOCOLS.has(protocol);
  const port = (range: PortRange | undefined): number => (range ? range.low + Math.floor(rnd() * (range.high - range.low + 1)) : pick(rnd, PORTS));
  const packet: PacketHeader = {
    family,
    src: address('src'),
    dst: address('dst'),
    protocol,
    ...(ports ? { srcPort: port(m.srcPorts), dstPort: port(m.dstPorts) } : {}),
  };
  return { packet, options: {} };
}

/** XDP_DROP (1) and TC_ACT_SHOT (2) mean deny; anything else passes. */
export function retvalAction(hook: 'ingress' | 'egress', retval: number): 'allow' | 'deny' {
  return (hook === 'ingress' ? retval === 1 : retval === 2) ? 'deny' : 'allow';
}
