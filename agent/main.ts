import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { signaturePolicy } from './codec/signing.js';
import { ConfigError, loadConfig, parseHostPort, type AgentConfig } from './config/config.js';
import { SETTINGS, envName, flagName } from './config/settings.js';
import { startConsumer } from './consumer/consumer.js';
import { detachAll } from './dataplane/kernel.js';
import { openDataplane, DataplaneUnavailable } from './dataplane/open.js';
import { createLogger } from './log/logger.js';
import { createHttpsSink, startAlerts, type AlertSink } from './transports/alerts.js';
import { startHttpTransport } from './transports/http.js';
import { createMqttTransport } from './transports/mqtt.js';
import { VERSION } from './version.js';

/** CLI entry: wiring only. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config. */

const USAGE = `openc2-agent ${VERSION}: OpenC2 packet-filtering actuator (pf, slpf) enforced with eBPF

Usage:
  openc2-agent run [--config FILE] [--SETTING VALUE ...]   run the agent
  openc2-agent check-config FILE                             validate a config file (and OPENC2_* variables)
  openc2-agent dataplane detach [--instance NAME]            remove all BPF programs, links and pins
  openc2-agent version                                       print the version
  openc2-agent --help

Every setting is a config file key, an OPENC2_* environment variable and a flag
(flags win over the environment, which wins over the file):
${SETTINGS.map((s) => `  --${flagName(s.key).padEnd(30)} ${envName(s.key).padEnd(34)} ${s.doc}`).join('\n')}
`;

const OPTIONS: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string', short: 'c' },
  ...Object.fromEntries(SETTINGS.map((s) => [flagName(s.key), { type: s.type === 'boolean' ? ('boolean' as const) : ('string' as const) }])),
};

class UsageError extends Error {}

function parse(argv: string[]): { command: string[]; values: Record<string, string | boolean | undefined> } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    return { command: positionals, values: values as Record<string, string | boolean | undefined> };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function configFrom(values: Record<string, string | boolean | undefined>, file: string | undefined): AgentConfig {
  const flags = new Map<string, string | boolean>();
  for (const s of SETTINGS) {
    const v = values[flagName(s.key)];
    if (v !== undefined) flags.set(s.key, v);
  }
  const chosen = file ?? process.env.OPENC2_CONFIG;
  return loadConfig({ ...(chosen ? { file: chosen } : {}), env: process.env, flags });
}

async function run(config: AgentConfig): Promise<void> {
  const logger = createLogger(config.log);
  const startedAt = performance.now();
  logger.info('starting', { version: VERSION, device: config.deviceId, pid: process.pid });
  if (config.allowInsecure) logger.warn('allowInsecure is on: plain-text transports are permitted; use only on a trusted network');

  const dataplane = await openDataplane(config, logger);
  const mqtt = config.mqtt.url ? createMqttTransport({ config, logger: logger.child({ component: 'mqtt' }), health: () => ({ dataplane: dataplane.status() }) }) : undefined;
  const alertSinks: AlertSink[] = mqtt ? [mqtt.alertSink] : [];
  if (config.alerts.url) {
    // The agent's client identity: its own alert certificate, else the one it shows the broker.
    alertSinks.push(createHttpsSink({ url: config.alerts.url, certFile: config.alerts.tlsCert ?? config.mqtt.tlsCert, keyFile: config.alerts.tlsKey ?? config.mqtt.tlsKey, caFile: config.alerts.tlsCa, logger: logger.child({ component: 'alerts' }) }));
  }
  const alerts = startAlerts({ dir: join(config.stateDir, 'alerts'), deviceId: config.deviceId, maxQueued: config.alerts.queueSize, sinks: alertSinks, logger: logger.child({ component: 'alerts' }) });
  const consumer = await startConsumer({ config, dataplane, logger, notify: (notification) => alerts.notify(notification) });
  const closers: (() => Promise<void>)[] = [];
  if (config.http.enabled) {
    const { host, port } = parseHostPort(config.http.listen)!;
    const { tlsCert, tlsKey, tlsCa, allowedSubjects } = config.http;
    const http = await startHttpTransport({
      host,
      port,
      ...(tlsCert && tlsKey ? { tls: { certFile: tlsCert, keyFile: tlsKey, caFile: tlsCa, allowedSubjects } } : {}),
      deviceId: config.deviceId,
      signing: signaturePolicy(config.signing),
      maxMessageBytes: config.limits.maxMessageBytes,
      requestTimeoutMs: config.http.requestTimeoutSeconds * 1000,
      responseDeadlineMs: config.http.responseDeadlineSeconds * 1000,
      later: alerts,
      handler: consumer,
      logger: logger.child({ component: 'http' }),
    });
    closers.push(() => http.close());
  }
  if (mqtt) {
    if (config.mqtt.url!.startsWith('mqtt:')) logger.warn('MQTT without TLS: commands and responses travel in plain text (MQTT transfer spec appendix B)');
    mqtt.start(consumer);
    closers.push(() => mqtt.close());
  }
  alerts.notify({ event: 'agent_started', version: VERSION, device: config.deviceId });
  logger.info('ready', { startup_ms: Math.round(performance.now() - startedAt), dataplane: dataplane.status().kind, enforcing: dataplane.status().enforcing });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping; kernel enforcement stays in place', { signal });
    alerts.notify({ event: 'agent_stopping', signal });
    // Listeners first so no command arrives half-way through the state flush.
    void Promise.allSettled(closers.map((close) => close()))
      .then(() => consumer.close())
      .then(() => alerts.close())
      .then(() => dataplane.close())
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err) => {
          logger.error('shutdown failed', { err });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<number> {
  const { command, values } = parse(argv);
  if (values.help || command.length === 0) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const [verb, ...rest] = command;
  switch (verb) {
    case 'version':
      console.log(VERSION);
      return 0;
    case 'check-config': {
      if (rest.length !== 1) throw new UsageError('check-config takes one FILE');
      configFrom(values, rest[0]);
      console.log(`${rest[0]}: ok`);
      return 0;
    }
    case 'dataplane': {
      if (rest.join(' ') !== 'detach') throw new UsageError(`unknown dataplane command ${JSON.stringify(rest.join(' '))}; use: dataplane detach`);
      // Only the instance matters here: a broken config must not stand between an operator and detach.
      const instance = (values.instance as string | undefined) ?? process.env.OPENC2_INSTANCE ?? 'default';
      await detachAll(instance);
      console.log(`dataplane ${instance}: programs detached, links and maps unpinned; nothing is enforced now`);
      return 0;
    }
    case 'run':
      if (rest.length !== 0) throw new UsageError(`run takes no arguments, got ${rest.join(' ')}`);
      await run(configFrom(values, values.config as string | undefined));
      return -1;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command.join(' '))}; see --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`config: ${problem}`);
      process.exitCode = 2;
    } else if (err instanceof UsageError) {
      console.error(`usage: ${err.message}`);
      process.exitCode = 2;
    } else if (err instanceof DataplaneUnavailable) {
      console.error(`dataplane: ${err.message}`);
      process.exitCode = 1;
    } else {
      // Start-up failures (unusable state folder, corrupt rule file, port in use) are the
      // operator's to fix: say what failed, without a stack trace unless debugging.
      console.error(`openc2-agent: ${err instanceof Error ? err.message : String(err)}`);
      if (process.env.OPENC2_LOG_LEVEL === 'debug') console.error(err);
      process.exitCode = 1;
    }
  },
);

