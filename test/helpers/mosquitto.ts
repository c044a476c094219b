import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPki } from './certs.js';

/**
 * A real mosquitto on loopback for tests and benchmarks: a config the test writes, a plain
 * listener, and with a PKI a TLS listener and one that requires client certificates.
 * Persistence is on so a restart keeps sessions and queued QoS 1 messages, as a production
 * broker would. Only the process started here is ever signalled, by its PID.
 */

export const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

export interface Broker {
  /** mqtt://127.0.0.1:port */
  readonly url: string;
  /** mqtts:// listener with the PKI's server certificate; undefined without a PKI. */
  readonly tlsUrl?: string;
  /** mqtts:// listener that also requires a client certificate from the PKI's CA. */
  readonly mtlsUrl?: string;
  readonly pid: number | undefined;
  /** Stops the broker; `SIGTERM` lets it save its database (sessions, queued messages), `SIGKILL` loses what changed since its last save. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same ports with the same config and database. */
  start(): Promise<void>;
  /** The broker's log so far, for failure messages. */
  log(): string;
  /** Stops the broker and removes its folder. */
  remove(): Promise<void>;
}

export interface BrokerOptions {
  readonly pki?: TestPki;
  /**
   * The one TLS version the TLS listeners speak; unset, they take TLS 1.2 and 1.3 (and clients
   * pick 1.3). Mosquitto's `tls_version` is only a minimum, so 1.2 alone is capped through an
   * OpenSSL config of the broker's own.
   */
  readonly tlsOnly?: 'TLSv1.2' | 'TLSv1.3';
  /** The TLS 1.2 cipher suites the TLS listeners offer (OpenSSL names, `:` separated); OpenSSL's default unless set. */
  readonly tlsCiphers?: string;
  /** Lines added to the config (e.g. `max_queued_messages 100000`). */
  readonly extra?: readonly string[];
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startMosquitto(options: BrokerOptions = {}): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-mosquitto-'));
  const port = await freePort();
  const tlsPort = options.pki ? await freePort() : undefined;
  const mtlsPort = options.pki ? await freePort() : undefined;
  const lines = [
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    // Running as root, mosquitto would switch to the `mosquitto` user and lose access to dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'max_queued_messages 200000',
    // As a production broker for OpenC2 should be set: small packets, sent at once.
    'set_tcp_nodelay true',
    ...(options.extra ?? []),
    `listener ${port} 127.0.0.1`,
  ];
  if (options.pki) {
    const server = options.pki.issue('localhost', 'server');
    const tls = [`cafile ${options.pki.ca.certFile}`, `certfile ${server.certFile}`, `keyfile ${server.keyFile}`, `tls_version ${options.tlsOnly === 'TLSv1.3' ? 'tlsv1.3' : 'tlsv1.2'}`];
    if (options.tlsCiphers !== undefined) tls.push(`ciphers ${options.tlsCiphers}`);
    lines.push(`listener ${tlsPort} 127.0.0.1`, ...tls, `listener ${mtlsPort} 127.0.0.1`, ...tls, 'require_certificate true');
  }
  let brokerEnv: NodeJS.ProcessEnv = process.env;
  if (options.tlsOnly === 'TLSv1.2') {
    const openssl = join(dir, 'openssl.cnf');
    writeFileSync(openssl, ['openssl_conf = init', '[init]', 'ssl_conf = ssl', '[ssl]', 'system_default = tls', '[tls]', 'MinProtocol = TLSv1.2', 'MaxProtocol = TLSv1.2', ''].join('\n'));
    brokerEnv = { ...process.env, OPENSSL_CONF: openssl };
  }
  const configFile = join(dir, 'mosquitto.conf');
  writeFileSync(configFile, lines.join('\n') + '\n');
  const logFile = join(dir, 'mosquitto.log');
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  let child: ChildProcess | undefined;
  let stderr = '';

  async function start(): Promise<void> {
    if (child) return;
    stderr = '';
    const started = spawn(MOSQUITTO, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: brokerEnv });
    started.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child = started;
    started.once('exit', () => {
      if (child === started) child = undefined;
    });
    // Bounded wait: 100 tries, 50 ms apart.
    for (let i = 0; i < 100; i++) {
      if (!child) break;
      const ports = [port, tlsPort, mtlsPort].filter((p): p is number => p !== undefined);
      if ((await Promise.all(ports.map(canConnect))).every(Boolean)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop('SIGKILL');
    throw new Error(`mosquitto did not start: ${stderr}\n${log()}`);
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort !== undefined ? { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` } : {}),
    ...(mtlsPort !== undefined ? { mtlsUrl: `mqtts://127.0.0.1:${mtlsPort}` } : {}),
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    log,
    async remove() {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
