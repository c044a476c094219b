import { DEFAULT_PRIORITY, type Rule } from '../../agent/rules/model.js';
import type { RuleFields } from '../ls/profile.js';
import type { TypeTable } from '../ls/schema.js';

/** PF-Args (PF Table 2.1.3-2), named as in the prose table (the JADN's `PF-ARgs` is a typo). */
export const PF_ARGS_TYPES: TypeTable = {
  'PF-Args': {
    base: 'Map',
    minFields: 1,
    fields: [
      [1, 'drop_process', 'Drop-Process', '0..1'],
      [2, 'persistent', 'Boolean', '0..1'],
      [3, 'direction', 'Direction', '0..1'],
      [4, 'insert_rule', 'Rule-ID', '0..1'],
      [5, 'logged', 'Boolean', '0..1'],
      [6, 'description', 'Description', '0..1'],
      [7, 'stateful', 'Boolean', '0..1'],
      [8, 'priority', 'Priority', '0..1'],
    ],
  },
  'Drop-Process': { base: 'Enumerated', names: ['none', 'reject', 'false_ack'] },
  Direction: { base: 'Enumerated', names: ['both', 'ingress', 'egress'] },
  // Integer{0..*}; capped at 32 bits like rule numbers, as the kernel ranks rules by it.
  Priority: { base: 'Integer', min: 0, max: 0xffffffff },
  // String; capped so that 100k annotated rules still fit a router's memory.
  Description: { base: 'String', maxLength: 256 },
};

interface PfArgs {
  drop_process?: Rule['drop'];
  persistent?: boolean;
  direction?: Rule['direction'];
  insert_rule?: number;
  logged?: boolean;
  description?: string;
  stateful?: boolean;
  priority?: number;
}

/**
 * PF defaults (PF 2.1.3 usage requirements): ingress, no notification to the source,
 * persistent, and stateless because this actuator does both (backwards compatible with SLPF).
 */
export function pfRuleFields(raw: Readonly<Record<string, unknown>> | undefined): RuleFields {
  const args = (raw ?? {}) as PfArgs;
  return {
    drop: args.drop_process ?? 'none',
    direction: args.direction ?? 'ingress',
    priority: args.priority ?? DEFAULT_PRIORITY,
    logged: args.logged ?? false,
    stateful: args.stateful ?? false,
    persistent: args.persistent ?? true,
    ...(args.description !== undefined && { description: args.description }),
    ...(args.insert_rule !== undefined && { insertRule: args.insert_rule }),
  };
}

/** PF arguments that rebuild a rule, as `query pf:rule_number` reports them (PF Appendix E.4.5). */
export function pfDescribeArgs(rule: Rule): Record<string, unknown> {
  return {
    ...(rule.action === 'deny' && { drop_process: rule.drop }),
    direction: rule.direction,
    persistent: rule.persistent,
    priority: rule.priority,
    logged: rule.logged,
    stateful: rule.stateful,
    ...(rule.description !== undefined && { description: rule.description }),
  };
}
