/** Rule mixes for the dataplane benchmarks (test/bench/dataplane.ts). */
import type { Family, Prefix, Rule } from '../../agent/rules/model.js';
import { shapeRule } from '../../agent/rules/rule-shape.js';
import { prng } from '../helpers/prng.js';

const rnd = prng(42);

/** Random address inside 198.0.0.0/8 or 2001:db8::/32 so /8-/32 prefixes vary. */
export function v4(): Uint8Array {
  return Uint8Array.from([198, Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]);
}
export function v6(): Uint8Array {
  const a = new Uint8Array(16);
  a.set([0x20, 0x01, 0x0d, 0xb8]);
  for (let i = 4; i < 16; i++) a[i] = Math.floor(rnd() * 256);
  return a;
}
export function prefix(family: Family, length: number): Prefix {
  const address = family === 4 ? v4() : v6();
  for (let i = 0; i < address.length; i++) {
    const bits = length - i * 8;
    address[i]! &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return { family, address, length };
}

/** What realisticMix() builds, for the benchmark's output and native/README.md. */
export const REALISTIC_MIX =
  '70% address-only (either; 80% hosts /32|/128, 20% nets /16-/31|/48-/127), 30% connection rules ' +
  '(tcp 70%/udp 30%; one prefix side: 60% dst host, 40% src /24|/64; dst port: 90% one port, 10% a range ' +
  'from {1024-65535, 6000-6063, 8000-8099, 33434-33523}); 70% IPv4, direction both';

const RANGES = [
  { low: 1024, high: 65535 },
  { low: 6000, high: 6063 },
  { low: 8000, high: 8099 },
  { low: 33434, high: 33523 },
];

/**
 * Rules are built through shapeRule(), as the agent's rule store builds every
 * rule it holds, so compile() reads the same objects here as in the agent.
 *
 * A rule set shaped like real firewalls: mostly address block lists; the
 * connection rules mostly one service port on one host or from one network.
 */
export function realisticMix(n: number): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const family: Family = rnd() < 0.7 ? 4 : 6;
    const base = { number: i + 1, drop: 'none' as const, direction: 'both' as const, priority: 1000, logged: false, stateful: false, persistent: false, source: 'pf' as const };
    if (rnd() < 0.7) {
      const host = family === 4 ? 32 : 128;
      const net = family === 4 ? 16 + Math.floor(rnd() * 16) : 48 + Math.floor(rnd() * 80);
      rules.push(shapeRule({ ...base, action: 'deny', match: { family, either: prefix(family, rnd() < 0.8 ? host : net) } }));
    } else {
      const port = 1 + Math.floor(rnd() * 9999);
      const dstPorts = rnd() < 0.9 ? { low: port, high: port } : RANGES[Math.floor(rnd() * RANGES.length)]!;
      const side = rnd() < 0.6 ? { dst: prefix(family, family === 4 ? 32 : 128) } : { src: prefix(family, family === 4 ? 24 : 64) };
      rules.push(shapeRule({ ...base, action: rnd() < 0.8 ? 'deny' : 'allow', match: { family, ...side, protocol: rnd() < 0.7 ? 6 : 17, dstPorts } }));
    }
  }
  return rules;
}

/** The earlier stress mix: half address-only prefixes, half 5-tuples, 30% of them with 1024-65535. */
export function mix(n: number): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const family: Family = rnd() < 0.7 ? 4 : 6;
    const base = { number: i + 1, drop: 'none' as const, direction: 'both' as const, priority: 1000, logged: false, stateful: false, persistent: false, source: 'pf' as const };
    if (rnd() < 0.5) {
      const length = family === 4 ? 8 + Math.floor(rnd() * 25) : 32 + Math.floor(rnd() * 97);
      const len = rnd() < 0.8 ? (family === 4 ? 32 : 128) : length;
      rules.push(shapeRule({ ...base, action: 'deny', match: { family, either: prefix(family, Math.max(len, family === 4 ? 16 : 48)) } }));
    } else {
      const dport = rnd() < 0.7 ? { low: 1 + Math.floor(rnd() * 9999), high: 0 } : { low: 1024, high: 65535 };
      if (dport.high === 0) dport.high = dport.low;
      rules.push(shapeRule({
        ...base,
        action: rnd() < 0.8 ? 'deny' : 'allow',
        match: {
          family,
          ...(rnd() < 0.5 ? { src: prefix(family, family === 4 ? 24 : 64) } : {}),
          dst: prefix(family, family === 4 ? (rnd() < 0.5 ? 24 : 32) : rnd() < 0.5 ? 64 : 128),
          protocol: rnd() < 0.7 ? 6 : 17,
          dstPorts: dport,
        },
      }));
    }
  }
  return rules;
}
