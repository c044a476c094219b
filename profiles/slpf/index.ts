import type { Pair, Profile } from '../ls/profile.js';
import { SPECIFIERS_TYPES } from '../pf/specifiers.js';
import { features } from '../pf/targets/features.js';
import { file } from '../pf/targets/file.js';
import { ipv4Connection } from '../pf/targets/ipv4-connection.js';
import { ipv4Net } from '../pf/targets/ipv4-net.js';
import { ipv6Connection } from '../pf/targets/ipv6-connection.js';
import { ipv6Net } from '../pf/targets/ipv6-net.js';
import { ruleNumber } from '../pf/targets/rule-number.js';
import { slpfDescribeArgs, SLPF_ARGS_TYPES, slpfRuleFields } from './args.js';

const TEMPORAL = ['response_requested', 'start_time', 'stop_time', 'duration'];
const ALLOW_ARGS = [...TEMPORAL, 'slpf.persistent', 'slpf.running', 'slpf.direction', 'slpf.insert_rule'];
const DENY_ARGS = [...ALLOW_ARGS, 'slpf.drop_process'];

/**
 * The SLPF command matrix (SLPF CS01 Table 2.3-1, 2.3-2), on the same targets and rule
 * model as PF. `delete` with `start_time` (a deferred delete) is valid SLPF that this
 * agent answers 501, like `update file`.
 */
export const SLPF_PAIRS: readonly Pair[] = [
  ...[ipv4Connection, ipv6Connection, ipv4Net, ipv6Net].flatMap((target): Pair[] => [
    { action: 'allow', target, handler: 'rule', args: ALLOW_ARGS },
    { action: 'deny', target, handler: 'rule', args: DENY_ARGS },
  ]),
  { action: 'query', target: features, handler: 'query-features', args: ['response_requested'], otherArgs: 'invalid' },
  { action: 'delete', target: ruleNumber, handler: 'delete-rule', args: ['response_requested'] },
  { action: 'update', target: file, notImplemented: 'Command not supported: update file (rule-set files are not implemented)', args: ['response_requested'] },
];

/** The Stateless Packet Filtering profile, nsid `slpf`, mapped onto the PF rule model. */
export const slpf: Profile = {
  nsid: 'slpf',
  pairs: SLPF_PAIRS,
  types: { ...SLPF_ARGS_TYPES, ...SPECIFIERS_TYPES },
  argsType: 'SLPF-Args',
  specifiersType: 'Specifiers',
  ruleNumberInUse: 'ruleInUseSlpf',
  ruleFields: slpfRuleFields,
  describeArgs: slpfDescribeArgs,
};
