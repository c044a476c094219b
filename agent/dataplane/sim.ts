import type { Hook, PacketHeader, Prefix, PortRange, Rule, RuleMatch, Verdict } from '../rules/model.js';

/**
 * The reference matcher: the executable definition of a verdict (DESIGN.md section 4).
 * The kernel programs must agree with it for every packet; tests compare the two.
 */

/** True when the first `prefix.length` bits of `address` equal the prefix. */
export function prefixContains(prefix: Prefix, address: Uint8Array): boolean {
  if (address.length !== prefix.address.length) return false;
  const whole = prefix.length >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== prefix.address[i]) return false;
  const rest = prefix.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === (prefix.address[whole]! & mask);
}

function portIn(range: PortRange | undefined, port: number | undefined): boolean {
  if (range === undefined) return true;
  // A packet without ports (ICMP, non-first fragment) cannot satisfy a port condition.
  return port !== undefined && port >= range.low && port <= range.high;
}

/** Whether one rule's match conditions hold for a packet, ignoring direction. */
export function matches(match: RuleMatch, packet: PacketHeader): boolean {
  if (match.family !== packet.family) return false;
  if (match.either && !prefixContains(match.either, packet.src) && !prefixContains(match.either, packet.dst)) return false;
  if (match.src && !prefixContains(match.src, packet.src)) return false;
  if (match.dst && !prefixContains(match.dst, packet.dst)) return false;
  if (match.protocol !== undefined && match.protocol !== packet.protocol) return false;
  return portIn(match.srcPorts, packet.srcPort) && portIn(match.dstPorts, packet.dstPort);
}

/** Whether a rule is enforced at a hook. */
export function appliesAt(rule: Rule, hook: Hook): boolean {
  return rule.direction === 'both' || rule.direction === hook;
}

/**
 * Verdict for one packet at one hook: the first rule in precedence order that
 * applies at the hook and matches; a packet no rule matches passes.
 */
export function simulate(rules: readonly Rule[], packet: PacketHeader, hook: Hook): Verdict {
  for (const rule of rules) {
    if (appliesAt(rule, hook) && matches(rule.match, packet)) return { action: rule.action, rule: rule.number };
  }
  return { action: 'allow' };
}
