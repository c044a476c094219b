import type { Direction, DropProcess, Rule, RuleMatch } from '../../agent/rules/model.js';
import type { ErrorCode } from './status.js';
import type { TypeTable } from './schema.js';

/**
 * What an actuator profile declares: its targets (schema + translation into a rule
 * match), its table of (action, target) pairs, and its arguments. `query features`
 * `pairs` and every 501 derive from the pair table (STYLE: openc2-yuuki).
 */

/** One OpenC2 target type: its schema and, for allow/deny targets, its translation into rules. */
export interface TargetType {
  /** Name as in the language spec, or the local name of a profile target (`rule_number`). */
  readonly name: string;
  /** Profile-defined targets are written `nsid:name` (language spec 3.1.4). */
  readonly namespaced: boolean;
  /** Schema type of the target's value. */
  readonly type: string;
  /** Types this target adds to the language ones. */
  readonly types?: TypeTable;
  /** Another accepted spelling of the name (PF's prose uses both `adv_connection` and `advanced_connection`). */
  readonly alias?: string;
  /** The packets the target names; throws CommandError('unsupported') for valid values the rule model cannot express. */
  toMatch?(value: unknown): RuleMatch;
  /** Inverse of toMatch for `query rule_number`: the target value, or undefined when the match is not of this type. */
  fromMatch?(match: RuleMatch): unknown;
}

/** What the consumer does for a pair. */
export type PairHandler = 'rule' | 'delete-rule' | 'query-rule' | 'query-features';

/** One (action, target) cell of a command matrix, with its column of the arguments matrix. */
export interface Pair {
  readonly action: string;
  readonly target: TargetType;
  /** Absent: valid in the profile but not implemented here; answers 501 with `notImplemented`. */
  readonly handler?: PairHandler;
  readonly notImplemented?: string;
  /** Arguments the pair accepts: common ones by name, profile ones as `nsid.name` (PF Table 2.3-2). */
  readonly args: readonly string[];
  /** Status for any other argument: 501 by default (PF 2.3.1), 400 for `query features` (language spec 4.1). */
  readonly otherArgs?: ErrorCode;
}

/** Rule fields a profile's arguments decide, after its defaults. */
export interface RuleFields {
  readonly drop: DropProcess;
  readonly direction: Direction;
  readonly priority: number;
  readonly logged: boolean;
  readonly stateful: boolean;
  readonly persistent: boolean;
  readonly description?: string;
  /** Rule number asked for with `insert_rule`. */
  readonly insertRule?: number;
}

/** An actuator profile: pairs, types and argument handling. */
export interface Profile {
  readonly nsid: 'pf' | 'slpf';
  readonly pairs: readonly Pair[];
  /** Types of the profile: its Args and Specifiers maps and anything they use. */
  readonly types: TypeTable;
  readonly argsType: string;
  readonly specifiersType: string;
  /** Which error a taken `insert_rule` number is (PF 2.3.1: 500, SLPF 2.3.1: 501). */
  readonly ruleNumberInUse: ErrorCode;
  /** Rule fields from the validated profile arguments, with the profile's defaults. */
  ruleFields(args: Readonly<Record<string, unknown>> | undefined): RuleFields;
  /** Profile arguments that rebuild `rule` (for `query rule_number`). */
  describeArgs(rule: Rule): Record<string, unknown>;
}

/** The name a pair's target has in commands and in `query features` `pairs`. */
export function targetName(profile: Pick<Profile, 'nsid'>, target: TargetType): string {
  return target.namespaced ? `${profile.nsid}:${target.name}` : target.name;
}
