import type { Family, Prefix, RuleMatch } from '../../../agent/rules/model.js';
import { formatPrefix } from '../../../agent/rules/prefix.js';
import type { TargetType } from '../../ls/profile.js';
import { CommandError } from '../../ls/status.js';
import { L4_PROTOCOL } from '../../ls/types.js';

/** The decoded five-tuple of `ipv4_connection` / `ipv6_connection`. */
interface Connection {
  readonly src_addr?: Prefix;
  readonly src_port?: number;
  readonly dst_addr?: Prefix;
  readonly dst_port?: number;
  readonly protocol?: string;
}

/** ICMPv6 is "icmp" in an ipv6_connection (PF 2.1.2, RFC 4443). */
const ICMPV6 = 58;

function protocolNumber(name: string, family: Family): number {
  return name === 'icmp' && family === 6 ? ICMPV6 : L4_PROTOCOL[name]!;
}

function protocolName(number: number): string | undefined {
  if (number === ICMPV6) return 'icmp';
  return Object.keys(L4_PROTOCOL).find((name) => L4_PROTOCOL[name] === number);
}

/**
 * A five-tuple target: absent fields are "any" (PF 2.3.1.1, 2.3.1.2); a port is one
 * port. With ICMP the port fields would be ICMP type and code (PF 2.1.2), which the
 * rule model does not carry: that command is valid but answered 501.
 */
export function connectionTarget(family: Family): TargetType {
  return {
    name: `ipv${family}_connection`,
    namespaced: false,
    type: `IPv${family}-Connection`,
    toMatch(value): RuleMatch {
      const c = value as Connection;
      if (c.protocol === 'icmp' && (c.src_port !== undefined || c.dst_port !== undefined)) {
        throw new CommandError('unsupported', `Argument not supported: ipv${family}_connection with protocol icmp and ports (ICMP type/code matching is not implemented)`);
      }
      return {
        family,
        ...(c.src_addr && { src: c.src_addr }),
        ...(c.dst_addr && { dst: c.dst_addr }),
        ...(c.protocol !== undefined && { protocol: protocolNumber(c.protocol, family) }),
        ...(c.src_port !== undefined && { srcPorts: { low: c.src_port, high: c.src_port } }),
        ...(c.dst_port !== undefined && { dstPorts: { low: c.dst_port, high: c.dst_port } }),
      };
    },
    fromMatch(match) {
      if (match.family !== family || match.either) return undefined;
      const out: Record<string, unknown> = {};
      if (match.src) out.src_addr = formatPrefix(match.src);
      if (match.srcPorts) out.src_port = match.srcPorts.low;
      if (match.dst) out.dst_addr = formatPrefix(match.dst);
      if (match.dstPorts) out.dst_port = match.dstPorts.low;
      if (match.protocol !== undefined) out.protocol = protocolName(match.protocol) ?? match.protocol;
      return out;
    },
  };
}
