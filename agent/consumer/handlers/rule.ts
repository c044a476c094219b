import { CommandError, invalid } from '../../../profiles/ls/status.js';
import { unenforcedFeature } from '../../dataplane/dataplane.js';
import type { Rule } from '../../rules/model.js';
import { encodeRecord } from '../../rules/persist.js';
import { shapeRule } from '../../rules/rule-shape.js';
import type { NewRule } from '../../rules/store.js';
import type { Handler } from './context.js';

/** Two rules ask for the same thing when all but number and times agree (times may derive from "now"). */
function sameRule(a: Rule, b: NewRule): boolean {
  const strip = (r: NewRule) => JSON.stringify(encodeRecord({ rule: shapeRule({ ...r, number: 0, start: undefined, stop: undefined }) }));
  return strip(a) === strip(b);
}

/**
 * allow / deny of a rule target (PF 2.3.1, 2.3.2; SLPF 2.3.1, 2.3.2): one rule, its
 * number in the results. Start, stop and duration follow language spec 3.3.1.4:
 * stop = start + duration, start defaults to now.
 */
export const ruleHandler: Handler = async (command, { store, clock, commandId }) => {
  const { profile, pair } = command;
  const fields = profile.ruleFields(command.profileArgs);
  const match = pair.target.toMatch!(command.target);
  const now = clock.now();
  const stop = command.stopTime ?? (command.duration !== undefined ? (command.startTime ?? now) + command.duration : undefined);
  const rule: NewRule = {
    action: pair.action as Rule['action'],
    drop: pair.action === 'deny' ? fields.drop : 'none',
    direction: fields.direction,
    match,
    priority: fields.priority,
    logged: fields.logged,
    stateful: fields.stateful,
    persistent: fields.persistent,
    // Absent times and description stay undefined rather than being spread in: a literal
    // with conditional spreads is built key by key, once per command.
    start: command.startTime,
    stop,
    source: profile.nsid,
    description: fields.description,
  };
  const unenforced = unenforcedFeature(rule);
  if (unenforced !== undefined) throw new CommandError('unsupported', `Argument not supported: args.${profile.nsid}.${unenforced}`);
  if (commandId !== undefined) {
    const earlier = store.byCommand(commandId);
    if (earlier) {
      // A replay of a command already done (language spec 3.3.1: command_id identifies the command).
      if (!sameRule(earlier.rule, rule)) throw invalid('command_id', `${JSON.stringify(commandId)} already names another command (rule ${earlier.rule.number})`);
      return { status: 200, results: { [profile.nsid]: { rule_number: earlier.rule.number } } };
    }
  }
  if (stop !== undefined && stop <= now) {
    // The command's whole window is in the past: valid, and nothing is left to enforce.
    return { status: 200, status_text: 'stop time already passed: no rule added' };
  }
  const added = await store.add(rule, { number: fields.insertRule, commandId });
  return { status: 200, results: { [profile.nsid]: { rule_number: added.number } } };
};
