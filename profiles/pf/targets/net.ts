import type { Family, Prefix, RuleMatch } from '../../../agent/rules/model.js';
import { formatPrefix } from '../../../agent/rules/prefix.js';
import type { TargetType } from '../../ls/profile.js';

/**
 * `ipv4_net` / `ipv6_net`: the range is a source OR destination address (PF 2.3.1.3,
 * 2.3.1.4), so it becomes the rule's `either` prefix; a bare address is a host prefix.
 */
export function netTarget(family: Family): TargetType {
  return {
    name: `ipv${family}_net`,
    namespaced: false,
    type: `IPv${family}-Net`,
    toMatch: (value) => ({ family, either: value as Prefix }),
    fromMatch: (match: RuleMatch) => (match.family === family && match.either ? formatPrefix(match.either) : undefined),
  };
}
