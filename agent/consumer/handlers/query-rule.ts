import { CommandError } from '../../../profiles/ls/status.js';
import type { Handler } from './context.js';

/**
 * query pf:rule_number (PF 2.3.3.2): what rebuilds the rule, shaped as PF Appendix E.4.5:
 * `{pf: {rule_number, action, <target>: ..., args: {...}}}`.
 */
export const queryRuleHandler: Handler = async (command, { store, profiles }) => {
  const number = command.target as number;
  const record = store.get(number);
  if (!record) throw new CommandError('notFound', `no rule ${number}`);
  const { rule } = record;
  const source = profiles.find((p) => p.nsid === rule.source) ?? command.profile;
  let target: [string, unknown] | undefined;
  for (const pair of source.pairs) {
    const value = pair.target.fromMatch?.(rule.match);
    if (value !== undefined) {
      target = [pair.target.name, value];
      break;
    }
  }
  const args: Record<string, unknown> = {
    ...(rule.start !== undefined && { start_time: rule.start }),
    ...(rule.stop !== undefined && { stop_time: rule.stop }),
    ...source.describeArgs(rule),
  };
  return {
    status: 200,
    results: { [command.profile.nsid]: { rule_number: number, action: rule.action, ...(target && { [target[0]]: target[1] }), args } },
  };
};
