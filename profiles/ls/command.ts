import type { Pair, Profile } from './profile.js';
import { targetName } from './profile.js';
import { isObject, validate, type Field, type TypeTable } from './schema.js';
import { CommandError, invalid } from './status.js';
import { LS_TYPES, TARGETS } from './types.js';

/**
 * The OpenC2-Command (language spec 3.3.1) checked once at the boundary, against the
 * language types and the types of the profile it addresses. Handlers never re-check.
 */

/** Response-Type (language spec 3.4.2.15). */
export type ResponseType = 'none' | 'ack' | 'status' | 'complete';

/** A command that passed validation: its pair in the profile's matrix and typed parts. */
export interface ParsedCommand {
  readonly profile: Profile;
  readonly pair: Pair;
  /** The validated target value (Net values are `Prefix`). */
  readonly target: unknown;
  readonly commandId?: string;
  readonly responseRequested: ResponseType;
  readonly startTime?: number;
  readonly stopTime?: number;
  readonly duration?: number;
  /** The profile's own arguments (`args.pf` / `args.slpf`). */
  readonly profileArgs?: Readonly<Record<string, unknown>>;
  /** Actuator specifiers when the command named an actuator. */
  readonly specifiers?: Readonly<Record<string, unknown>>;
}

/** The command names an actuator profile this consumer does not serve: it is for another actuator. */
export interface NotOurs {
  readonly notOurs: string;
}

/** A profile ready to validate commands: its one type table with Target, Args and Actuator built. */
export interface CompiledProfile {
  readonly profile: Profile;
  readonly table: TypeTable;
  /** The pair table by `action target`. */
  readonly pairs: ReadonlyMap<string, Pair>;
}

const COMMON_ARGS: { readonly base: 'Map'; readonly minFields: number; readonly fields: readonly Field[] } = {
  base: 'Map',
  minFields: 1,
  fields: [
    [1, 'start_time', 'Date-Time', '0..1'],
    [2, 'stop_time', 'Date-Time', '0..1'],
    [3, 'duration', 'Duration', '0..1'],
    [4, 'response_requested', 'Response-Type', '0..1'],
  ],
};

/** Builds the type table of one profile: language types, target types, and the profile's Args and Actuator. */
export function compileProfile(profile: Profile): CompiledProfile {
  const targets = [...new Map(profile.pairs.map((p) => [targetName(profile, p.target), p.target])).entries()];
  const aliases: Record<string, string> = {};
  for (const [name, target] of targets) if (target.alias) aliases[`${profile.nsid}:${target.alias}`] = name;
  const table: TypeTable = {
    ...LS_TYPES,
    ...Object.assign({}, ...targets.map(([, t]) => t.types ?? {})),
    ...profile.types,
    Target: { base: 'Choice', fields: targets.map(([name, t], i) => [i + 1, name, t.type, '1'] as const), aliases },
    Args: { ...COMMON_ARGS, fields: [...COMMON_ARGS.fields, [1034, profile.nsid, profile.argsType, '0..1']] },
    Actuator: { base: 'Choice', fields: [[1034, profile.nsid, profile.specifiersType, '1']] },
    'OpenC2-Command': {
      base: 'Record',
      fields: [
        [1, 'action', 'Action', '1'],
        [2, 'target', 'Target', '1'],
        [3, 'args', 'Args', '0..1'],
        [4, 'actuator', 'Actuator', '0..1'],
        [5, 'command_id', 'Command-ID', '0..1'],
      ],
    },
  };
  const pairs = new Map(profile.pairs.map((p) => [`${p.action} ${targetName(profile, p.target)}`, p]));
  return { profile, table, pairs };
}

/** `{"pf": {"rule_number": 5}}` (PF Appendix E.1.5 style) is `{"pf:rule_number": 5}` (language spec 3.1.4). */
function normalizeTarget(target: unknown, nsids: readonly string[]): unknown {
  if (!isObject(target)) return target;
  const keys = Object.keys(target);
  if (keys.length !== 1 || !nsids.includes(keys[0]!)) return target;
  const inner = target[keys[0]!];
  if (!isObject(inner) || Object.keys(inner).length !== 1) return target;
  const [name, value] = Object.entries(inner)[0]!;
  return { [`${keys[0]}:${name}`]: value };
}

/**
 * Which profile a command addresses, from its actuator, its extended arguments and an
 * extended target; `fallback` when it names none. Every place must agree.
 */
function addressedProfile(command: Record<string, unknown>, known: readonly string[], fallback: string): { nsid: string; byActuator: boolean } {
  const named: [string, string][] = [];
  if (isObject(command.actuator)) for (const key of Object.keys(command.actuator)) named.push([key, `actuator.${key}`]);
  if (isObject(command.args)) for (const key of Object.keys(command.args)) if (known.includes(key)) named.push([key, `args.${key}`]);
  if (isObject(command.target)) {
    for (const key of Object.keys(command.target)) {
      const colon = key.indexOf(':');
      if (colon > 0) named.push([key.slice(0, colon), `target.${key}`]);
      else if (known.includes(key)) named.push([key, `target.${key}`]);
    }
  }
  const nsids = [...new Set(named.map(([nsid]) => nsid))];
  if (nsids.length > 1) throw invalid('', `command mixes profiles ${nsids.join(' and ')} (${named.map(([, where]) => where).join(', ')})`);
  const byActuator = named.some(([, where]) => where.startsWith('actuator.'));
  return { nsid: nsids[0] ?? fallback, byActuator };
}

/**
 * Validates one decoded command. `profiles` are the served ones by nsid; `known` every
 * nsid this agent has code for (a known but disabled profile answers 501 unless the
 * actuator names it, which makes the command another actuator's).
 */
export function parseCommand(raw: unknown, profiles: ReadonlyMap<string, CompiledProfile>, known: readonly string[], fallback: string): ParsedCommand | NotOurs {
  if (!isObject(raw)) throw invalid('', 'expected a command object');
  const { nsid, byActuator } = addressedProfile(raw, known, fallback);
  const compiled = profiles.get(nsid);
  if (!compiled) {
    if (byActuator) return { notOurs: nsid };
    throw new CommandError('unsupported', `profile ${nsid} is not supported by this actuator`);
  }
  const { profile, table, pairs } = compiled;
  const target = normalizeTarget(raw.target, known);
  const command = target === raw.target ? raw : { ...raw, target };
  rejectForeignTarget(command.target, table);
  const valid = validate(command, 'OpenC2-Command', table, '') as {
    action: string;
    target: Record<string, unknown>;
    args?: Record<string, unknown> & { start_time?: number; stop_time?: number; duration?: number; response_requested?: ResponseType };
    actuator?: Record<string, Record<string, unknown>>;
    command_id?: string;
  };
  const name = Object.keys(valid.target)[0]!;
  const pair = pairs.get(`${valid.action} ${name}`);
  if (!pair) throw new CommandError('unsupported', `Command not supported: ${valid.action} ${name}`);
  const args = valid.args ?? {};
  checkArgs(pair, profile.nsid, args);
  const { start_time, stop_time, duration } = args;
  if (start_time !== undefined && stop_time !== undefined && duration !== undefined) {
    throw invalid('args', 'start_time, stop_time and duration together: only two of the three are allowed (language spec 3.3.1.4)');
  }
  if (start_time !== undefined && stop_time !== undefined && stop_time <= start_time) {
    throw invalid('args.stop_time', `${stop_time} is not after start_time ${start_time}`);
  }
  return {
    profile,
    pair,
    target: valid.target[name],
    responseRequested: args.response_requested ?? 'complete',
    ...(valid.command_id !== undefined && { commandId: valid.command_id }),
    ...(start_time !== undefined && { startTime: start_time }),
    ...(stop_time !== undefined && { stopTime: stop_time }),
    ...(duration !== undefined && { duration }),
    ...(args[profile.nsid] !== undefined && { profileArgs: args[profile.nsid] as Record<string, unknown> }),
    ...(valid.actuator !== undefined && { specifiers: valid.actuator[profile.nsid] }),
  };
}

/** A target the language (or another profile) defines but this profile does not serve is 501, not 400. */
function rejectForeignTarget(target: unknown, table: TypeTable): void {
  if (!isObject(target) || Object.keys(target).length !== 1) return;
  const name = Object.keys(target)[0]!;
  const choice = table.Target as { fields: readonly (readonly [number, string, string, string])[]; aliases?: Record<string, string> };
  if (choice.fields.some((f) => f[1] === name) || choice.aliases?.[name]) return;
  if ((TARGETS as readonly string[]).includes(name) || name.includes(':')) {
    throw new CommandError('unsupported', `Target type not supported: ${name}`);
  }
}

/** Arguments outside the pair's column of the arguments matrix: 501 "Argument not supported" (PF 2.3.1-2.3.5). */
function checkArgs(pair: Pair, nsid: string, args: Record<string, unknown>): void {
  const refused: string[] = [];
  for (const key of Object.keys(args)) {
    if (key !== nsid) {
      if (!pair.args.includes(key)) refused.push(key);
      continue;
    }
    for (const name of Object.keys(args[key] as object)) if (!pair.args.includes(`${nsid}.${name}`)) refused.push(`${nsid}.${name}`);
  }
  if (refused.length === 0) return;
  const code = pair.otherArgs ?? 'unsupported';
  const text = `Argument not supported: ${refused.map((r) => `args.${r}`).join(', ')} with ${pair.action} ${pair.target.namespaced ? `${nsid}:` : ''}${pair.target.name}`;
  throw new CommandError(code, text);
}
