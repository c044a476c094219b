import type { Pair, Profile, TargetType } from '../ls/profile.js';
import { pfDescribeArgs, PF_ARGS_TYPES, pfRuleFields } from './args.js';
import { SPECIFIERS_TYPES } from './specifiers.js';
import { advancedConnection } from './targets/advanced-connection.js';
import { domainName } from './targets/domain-name.js';
import { features } from './targets/features.js';
import { file } from './targets/file.js';
import { ipv4Connection } from './targets/ipv4-connection.js';
import { ipv4Net } from './targets/ipv4-net.js';
import { ipv6Connection } from './targets/ipv6-connection.js';
import { ipv6Net } from './targets/ipv6-net.js';
import { ruleNumber } from './targets/rule-number.js';

/** Arguments of allow and deny (PF Table 2.3-2); `description` is in PF-Args though the matrix omits it. */
const TEMPORAL = ['response_requested', 'start_time', 'stop_time', 'duration'];
const ALLOW_ARGS = [...TEMPORAL, ...['persistent', 'direction', 'insert_rule', 'logged', 'stateful', 'priority', 'description'].map((a) => `pf.${a}`)];
const DENY_ARGS = [...ALLOW_ARGS, 'pf.drop_process'];

/** Targets of allow/deny this agent turns into rules, and those it validates then answers 501. */
const RULE_TARGETS: readonly TargetType[] = [ipv4Connection, ipv6Connection, ipv4Net, ipv6Net];
const NOT_YET: readonly [TargetType, string][] = [
  [domainName, 'Target type not supported: domain_name (filtering by name is not implemented)'],
  [advancedConnection, 'Target type not supported: pf:advanced_connection (network tags and applications are not implemented)'],
];

/** The PF command matrix (PF Table 2.3-1) with the arguments of Table 2.3-2. */
export const PF_PAIRS: readonly Pair[] = [
  ...RULE_TARGETS.flatMap((target): Pair[] => [
    { action: 'allow', target, handler: 'rule', args: ALLOW_ARGS },
    { action: 'deny', target, handler: 'rule', args: DENY_ARGS },
  ]),
  ...NOT_YET.flatMap(([target, notImplemented]): Pair[] => [
    { action: 'allow', target, notImplemented, args: ALLOW_ARGS },
    { action: 'deny', target, notImplemented, args: DENY_ARGS },
  ]),
  { action: 'query', target: features, handler: 'query-features', args: ['response_requested'], otherArgs: 'invalid' },
  { action: 'query', target: ruleNumber, handler: 'query-rule', args: ['response_requested'] },
  { action: 'delete', target: ruleNumber, handler: 'delete-rule', args: ['response_requested'] },
  { action: 'update', target: file, notImplemented: 'Command not supported: update file (rule-set files are not implemented)', args: ['response_requested'] },
];

/** The Packet Filtering profile, nsid `pf` (PF CSD02 section 2). */
export const pf: Profile = {
  nsid: 'pf',
  pairs: PF_PAIRS,
  types: { ...PF_ARGS_TYPES, ...SPECIFIERS_TYPES },
  argsType: 'PF-Args',
  specifiersType: 'Specifiers',
  ruleNumberInUse: 'ruleInUse',
  ruleFields: pfRuleFields,
  describeArgs: pfDescribeArgs,
};
