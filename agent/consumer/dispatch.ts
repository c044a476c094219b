import { parseCommand, type CompiledProfile, type ParsedCommand, type ResponseType } from '../../profiles/ls/command.js';
import type { PairHandler, Profile } from '../../profiles/ls/profile.js';
import { isObject } from '../../profiles/ls/schema.js';
import { CommandError, type ErrorCode } from '../../profiles/ls/status.js';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../rules/clock.js';
import { RuleError, type RuleErrorCode } from '../rules/errors.js';
import type { RuleStore } from '../rules/store.js';
import { notForUs, type ActuatorIdentity } from './actuator.js';
import type { CommandHandler, OpenC2Response, RequestContext } from './consumer.js';
import type { Handler } from './handlers/context.js';
import { deleteRuleHandler } from './handlers/delete-rule.js';
import { queryFeaturesHandler } from './handlers/query-features.js';
import { queryRuleHandler } from './handlers/query-rule.js';
import { ruleHandler } from './handlers/rule.js';
import { ReplayCache } from './replay.js';

const HANDLERS: Record<PairHandler, Handler> = {
  rule: ruleHandler,
  'delete-rule': deleteRuleHandler,
  'query-rule': queryRuleHandler,
  'query-features': queryFeaturesHandler,
};

/** Rule engine errors as command errors (one table; PF 2.3.1, 2.3.4.1). */
function fromRuleError(err: RuleError, command: ParsedCommand): CommandError {
  const codes: Record<RuleErrorCode, ErrorCode> = {
    'number-in-use': command.profile.ruleNumberInUse,
    'numbers-exhausted': 'internal',
    'rules-full': 'internal',
    'unknown-rule': 'notRemoved',
    dataplane: 'internal',
    storage: 'internal',
    closed: 'unavailable',
  };
  const text = err.code === 'unknown-rule' ? `Firewall rule not removed or updated: ${err.message}` : err.message;
  return new CommandError(codes[err.code], text);
}

/** response_requested as far as it can be read from a command that failed validation. */
function requestedOf(raw: unknown): ResponseType {
  const args = isObject(raw) && isObject(raw.args) ? raw.args : undefined;
  const value = args?.response_requested;
  return value === 'none' || value === 'ack' || value === 'status' ? value : 'complete';
}

/** What the dispatcher works with; built once by `startConsumer`. */
export interface DispatcherOptions {
  readonly profiles: ReadonlyMap<string, CompiledProfile>;
  /** Every nsid the agent has code for, served or not. */
  readonly known: readonly string[];
  readonly store: RuleStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly identity: ActuatorIdentity;
}

/**
 * One command in, one response out: validate once, find the pair, run its handler,
 * shape the response for response_requested. Never throws: every failure is a status.
 */
export class Dispatcher implements CommandHandler {
  readonly #options: DispatcherOptions;
  readonly #served: readonly Profile[];
  readonly #fallback: string;
  readonly #replays = new ReplayCache();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#served = [...options.profiles.values()].map((c) => c.profile);
    // A command that names no profile is PF's when PF is served (the newer text), else SLPF's.
    this.#fallback = options.profiles.has('pf') ? 'pf' : this.#served[0]?.nsid ?? 'pf';
  }

  async handle(raw: unknown, context: RequestContext): Promise<OpenC2Response | undefined> {
    const { logger } = this.#options;
    let requested = requestedOf(raw);
    let response: OpenC2Response;
    try {
      const parsed = parseCommand(raw, this.#options.profiles, this.#options.known, this.#fallback);
      if ('notOurs' in parsed) {
        logger.debug('command for another actuator profile, ignored', { profile: parsed.notOurs, requestId: context.requestId });
        return undefined;
      }
      requested = parsed.responseRequested;
      const other = notForUs(parsed.specifiers, this.#options.identity);
      if (other !== undefined) {
        logger.debug('command for another actuator, ignored', { specifier: other, requestId: context.requestId });
        return undefined;
      }
      response = await this.#run(parsed, raw, context);
    } catch (err) {
      response = this.#failure(err, context);
    }
    return this.#shape(response, requested);
  }

  /** Runs a valid command once per command_id (language spec 3.3.1: request_id stands in for it). */
  #run(command: ParsedCommand, raw: unknown, context: RequestContext): Promise<OpenC2Response> {
    const pair = command.pair;
    if (!pair.handler) return Promise.reject(new CommandError('unsupported', pair.notImplemented ?? 'Command not supported'));
    const commandId = command.commandId ?? context.requestId;
    if (commandId === undefined) return this.#call(pair.handler, command, undefined, context);
    const earlier = this.#replays.get(commandId, raw);
    if (earlier) {
      if (!earlier.same) return Promise.reject(new CommandError('invalid', `command_id: ${JSON.stringify(commandId)} already names another command`));
      return earlier.response;
    }
    const response = this.#call(pair.handler, command, commandId, context);
    this.#replays.remember(commandId, raw, response);
    return response;
  }

  /** Runs the pair's handler; resolves with a failure's status too, so the replay cache sees every outcome as a response. */
  async #call(handler: PairHandler, command: ParsedCommand, commandId: string | undefined, context: RequestContext): Promise<OpenC2Response> {
    const { store, clock } = this.#options;
    try {
      return await HANDLERS[handler](command, { store, clock, profiles: this.#served, commandId });
    } catch (err) {
      return this.#failure(err instanceof RuleError ? fromRuleError(err, command) : err, context);
    }
  }

  #failure(err: unknown, context: RequestContext): OpenC2Response {
    if (err instanceof CommandError) {
      if (err.status >= 500) this.#options.logger.warn('command failed', { status: err.status, reason: err.message, requestId: context.requestId });
      return { status: err.status, status_text: err.message };
    }
    // A bug, not a producer error: answer 500 and keep serving.
    this.#options.logger.error('command crashed', { err, stack: (err as Error)?.stack, requestId: context.requestId });
    return { status: 500, status_text: `internal error: ${(err as Error)?.message ?? String(err)}` };
  }

  /** response_requested (language spec 3.3.1.4, PF clause 19 3.2.1.7): none -> nothing, ack -> 102 once accepted. */
  #shape(response: OpenC2Response, requested: ResponseType): OpenC2Response | undefined {
    if (requested === 'none') return undefined;
    if (requested === 'ack' && response.status < 300) return { status: 102 };
    return response;
  }
}
