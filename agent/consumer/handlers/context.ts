import type { Clock } from '../../rules/clock.js';
import type { RuleStore } from '../../rules/store.js';
import type { ParsedCommand } from '../../../profiles/ls/command.js';
import type { Profile } from '../../../profiles/ls/profile.js';
import type { OpenC2Response } from '../consumer.js';

/** What every handler may use. */
export interface HandlerContext {
  readonly store: RuleStore;
  readonly clock: Clock;
  /** Served profiles, for `query features`. */
  readonly profiles: readonly Profile[];
  /** command_id, or the envelope's request_id in its place (language spec 3.3.1). */
  readonly commandId?: string;
}

/** One handler per pair kind; the command is already valid, handlers never re-check it. */
export type Handler = (command: ParsedCommand, context: HandlerContext) => Promise<OpenC2Response>;
