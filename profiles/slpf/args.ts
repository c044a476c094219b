import { DEFAULT_PRIORITY, type Rule } from '../../agent/rules/model.js';
import type { RuleFields } from '../ls/profile.js';
import type { TypeTable } from '../ls/schema.js';
import { invalid } from '../ls/status.js';

/**
 * SLPF Args (SLPF CS01 Table 2.1.3-2), plus two arguments of WD02 (2018) still sent by
 * older producers: `running` (true: not persistent) and `prepend` (accepted by the
 * schema, answered 501 by the pair table: the list order is rule numbers, DESIGN.md section 4).
 */
export const SLPF_ARGS_TYPES: TypeTable = {
  'SLPF-Args': {
    base: 'Map',
    minFields: 1,
    fields: [
      [1024, 'drop_process', 'Drop-Process', '0..1'],
      [1025, 'persistent', 'Boolean', '0..1'],
      [1026, 'direction', 'Direction', '0..1'],
      [1027, 'insert_rule', 'Rule-ID', '0..1'],
      [2, 'running', 'Boolean', '0..1'],
      [4, 'prepend', 'Boolean', '0..1'],
    ],
  },
  'Drop-Process': { base: 'Enumerated', names: ['none', 'reject', 'false_ack'] },
  Direction: { base: 'Enumerated', names: ['both', 'ingress', 'egress'] },
};

interface SlpfArgs {
  drop_process?: Rule['drop'];
  persistent?: boolean;
  running?: boolean;
  direction?: Rule['direction'];
  insert_rule?: number;
}

/** SLPF defaults (SLPF 2.1.3.2): both directions, no notification, persistent; SLPF is stateless. */
export function slpfRuleFields(raw: Readonly<Record<string, unknown>> | undefined): RuleFields {
  const args = (raw ?? {}) as SlpfArgs;
  if (args.running !== undefined && args.persistent !== undefined && args.running === args.persistent) {
    throw invalid('args.slpf.running', `running ${args.running} contradicts persistent ${args.persistent}`);
  }
  return {
    drop: args.drop_process ?? 'none',
    direction: args.direction ?? 'both',
    priority: DEFAULT_PRIORITY,
    logged: false,
    stateful: false,
    persistent: args.persistent ?? (args.running === undefined ? true : !args.running),
    ...(args.insert_rule !== undefined && { insertRule: args.insert_rule }),
  };
}

/** SLPF arguments that rebuild a rule. */
export function slpfDescribeArgs(rule: Rule): Record<string, unknown> {
  return { ...(rule.action === 'deny' && { drop_process: rule.drop }), direction: rule.direction, persistent: rule.persistent };
}
