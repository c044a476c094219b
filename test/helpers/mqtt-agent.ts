import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AgentConfig } from '../../agent/config/config.js';
import { startConsumer, type CommandHandler, type ConsumerService, type RequestContext } from '../../agent/consumer/consumer.js';
import { SimDataplane } from '../../agent/dataplane/sim-dataplane.js';
import { createLogger } from '../../agent/log/logger.js';
import type { Clock } from '../../agent/rules/clock.js';
import { LinkState } from '../../agent/transports/mqtt-link.js';
import { createMqttTransport, type MqttTransport } from '../../agent/transports/mqtt.js';

/**
 * One agent in-process, as `run()` wires it: config from loadConfig, the real consumer on a
 * SimDataplane, and the MQTT transport. Counts what reached the consumer, per request_id.
 */
export interface MqttAgent {
  readonly config: AgentConfig;
  readonly dataplane: SimDataplane;
  readonly transport: MqttTransport;
  /** Commands the consumer was asked to handle, in order, with their context. */
  readonly handled: { command: unknown; context: RequestContext }[];
  /** Log lines (JSON), warn and above unless `logLevel` says otherwise. */
  readonly log: string[];
  /** Times the consumer handled a command with this request id. */
  applied(requestId: string): number;
  close(): Promise<void>;
}

export interface MqttAgentOptions {
  /** Settings by key, as flags (`mqtt.url`, `deviceId`, ...). */
  readonly settings: Record<string, string | boolean>;
  readonly clock?: Clock;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Skip the consumer (benchmarks of the transport alone). */
  readonly handler?: CommandHandler;
}

/** Resolves when the transport reaches `state`; rejects after `timeoutMs`. */
export function waitForState(transport: MqttTransport, state: LinkState, timeoutMs = 10_000): Promise<void> {
  if (transport.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`mqtt transport did not reach ${state} in ${timeoutMs} ms (now ${transport.state})`));
    }, timeoutMs);
    const off = transport.onState((s) => {
      if (s !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

export async function startMqttAgent(options: MqttAgentOptions): Promise<MqttAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-mqtt-agent-'));
  const flags = new Map<string, string | boolean>([
    ['dataplane', 'sim'],
    ['http.enabled', false],
    ['allowInsecure', true],
    ['stateDir', join(dir, 'state')],
    ['runDir', join(dir, 'run')],
    ['mqtt.healthIntervalSeconds', '0'],
    ...Object.entries(options.settings),
  ]);
  const config = loadConfig({ env: {}, flags });
  const log: string[] = [];
  const logger = createLogger({ level: options.logLevel ?? 'warn', format: 'json', write: (_level, line) => log.push(line) });
  const dataplane = new SimDataplane();
  const consumer: ConsumerService | undefined = options.handler ? undefined : await startConsumer({ config, dataplane, logger });
  const inner = options.handler ?? consumer!;
  const handled: MqttAgent['handled'] = [];
  const handler: CommandHandler = {
    handle(command, context) {
      handled.push({ command, context });
      return inner.handle(command, context);
    },
  };
  const transport = createMqttTransport({ config, logger, backoff: { initialMs: 50, maxMs: 400 }, ...(options.clock ? { clock: options.clock } : {}) });
  transport.start(handler);
  return {
    config,
    dataplane,
    transport,
    handled,
    log,
    applied: (requestId) => handled.filter((h) => h.context.requestId === requestId).length,
    async close() {
      await transport.close();
      await consumer?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
