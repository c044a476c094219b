/**
 * The consumer: takes one decoded OpenC2 command and returns its response.
 * Transports call `handle`; they know bytes and topics, this knows actions.
 */

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

export interface CommandHandler {
  /** Returns undefined when no response is wanted (`response_requested: none`). */
  handle(command: unknown, context: RequestContext): Promise<OpenC2Response | undefined>;
}

/** Language-spec core only: `query features` with `versions`. The profile work replaces this. */
export class Consumer implements CommandHandler {
  async handle(command: unknown): Promise<OpenC2Response | undefined> {
    const c = command as { action?: unknown; target?: { features?: unknown } };
    if (c?.action === 'query' && c.target && Array.isArray(c.target.features)) {
      const results: Record<string, unknown> = {};
      if (c.target.features.includes('versions')) results.versions = ['1.0'];
      return Object.keys(results).length ? { status: 200, results } : { status: 200 };
    }
    return { status: 501, status_text: 'command not implemented' };
  }
}

/** A running consumer: handles commands until closed. */
export interface ConsumerService extends CommandHandler {
  /** Stops timers and flushes state; kernel enforcement stays. */
  close(): Promise<void>;
}

export interface ConsumerOptions {
  readonly config: import('../config/config.js').AgentConfig;
  readonly dataplane: import('../dataplane/dataplane.js').Dataplane;
  readonly logger: import('../log/logger.js').Logger;
}

/** Restores state into the dataplane and returns the running consumer. */
export async function startConsumer(_options: ConsumerOptions): Promise<ConsumerService> {
  const consumer = new Consumer();
  return { handle: (command, context) => consumer.handle(command), close: async () => {} };
}
