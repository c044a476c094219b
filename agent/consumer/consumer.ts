/**
 * The consumer: takes one decoded OpenC2 command and returns its response.
 * Transports call `handle`; they know bytes and topics, this knows actions.
 */
import { hostname } from 'node:os';
import { compileProfile, type CompiledProfile } from '../../profiles/ls/command.js';
import type { Profile } from '../../profiles/ls/profile.js';
import { pf } from '../../profiles/pf/index.js';
import { slpf } from '../../profiles/slpf/index.js';
import { systemClock, type Clock } from '../rules/clock.js';
import { RuleStore } from '../rules/store.js';
import { Dispatcher } from './dispatch.js';

/** An OpenC2 response (language spec 3.3.2); transports add the envelope. */
export interface OpenC2Response {
  status: number;
  status_text?: string;
  results?: Record<string, unknown>;
}

/** What the transport knows about the command's origin. */
export interface RequestContext {
  readonly transport: 'http' | 'mqtt';
  /** Authenticated producer identity (mTLS subject, envelope `from`), when known. */
  readonly producer?: string;
  readonly requestId?: string;
}

/** What transports call with each decoded command. */
export interface CommandHandler {
  /** Returns undefined when no response is wanted (`response_requested: none`) or the command is for another actuator. */
  handle(command: unknown, context: RequestContext): Promise<OpenC2Response | undefined>;
}

/** A running consumer: handles commands until closed. */
export interface ConsumerService extends CommandHandler {
  /** Stops timers and flushes state; kernel enforcement stays. */
  close(): Promise<void>;
}

/** What `startConsumer` needs; main.ts passes config, dataplane and logger. */
export interface ConsumerOptions {
  readonly config: import('../config/config.js').AgentConfig;
  readonly dataplane: import('../dataplane/dataplane.js').Dataplane;
  readonly logger: import('../log/logger.js').Logger;
  /** Time for rule start/stop; tests pass a manual clock. Default: the system clock. */
  readonly clock?: Clock;
  /** How actuator specifiers name this device beyond `config.deviceId` (PF 2.1.4). */
  readonly actuator?: { readonly hostname?: string; readonly namedGroups?: readonly string[] };
  /** Sends a notification to the orchestrator (alerts); rule start/expiry events go here. */
  readonly notify?: (notification: Record<string, unknown>) => void;
}

/** Every profile the agent has code for, by nsid; `config.profiles` picks the served ones. */
const PROFILES: Readonly<Record<string, Profile>> = { pf, slpf };

/** Restores state into the dataplane and returns the running consumer. */
export async function startConsumer(options: ConsumerOptions): Promise<ConsumerService> {
  const { config, dataplane, logger } = options;
  const clock = options.clock ?? systemClock;
  const store = await RuleStore.open({ dataplane, stateDir: config.stateDir, runDir: config.runDir, logger: logger.child({ component: 'rules' }), clock, ...(options.notify && { onRuleEvent: (event) => options.notify!({ ...event }) }) });
  const profiles = new Map<string, CompiledProfile>(config.profiles.map((nsid) => [nsid, compileProfile(PROFILES[nsid]!)]));
  const dispatcher = new Dispatcher({
    profiles,
    known: Object.keys(PROFILES),
    store,
    clock,
    logger: logger.child({ component: 'consumer' }),
    identity: {
      deviceId: config.deviceId,
      hostname: options.actuator?.hostname ?? hostname(),
      namedGroups: options.actuator?.namedGroups ?? config.namedGroups ?? [],
    },
  });
  return {
    handle: (command, context) => dispatcher.handle(command, context),
    close: () => store.close(),
  };
}
