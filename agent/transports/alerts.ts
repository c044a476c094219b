import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { encodeMessage, MEDIA_TYPE } from '../codec/codec.js';
import { sealEnvelope, type MessageHeaders } from '../codec/envelope.js';
import type { OpenC2Response } from '../consumer/consumer.js';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock } from '../rules/clock.js';
import { TLS_POLICY } from './tls-policy.js';

/**
 * Messages from the agent to the orchestrator that no request is waiting for:
 * alerts (OpenC2 notifications: rule expired, logged rule hit, dataplane fault,
 * agent start/stop) and responses that missed the HTTP deadline (RFC 6546
 * section 3 "callback": 202 first, the reply later). Each destination (a sink:
 * HTTPS to the orchestrator on 6768, MQTT) has its own queue on disk, so a
 * destination that is down delays only itself, and messages survive restarts.
 * Each sink gets every message once and in order while it is reachable; after a
 * crash between delivery and bookkeeping one message may come again with the
 * same `request_id`, which the receiver can use to drop the copy.
 */

/** An OpenC2 notification (language spec 3.2, OpenC2-Event): `{ event: 'rule_expired', ... }`. */
export type Notification = Record<string, unknown>;

/** One message for the orchestrator; `headers.request_id` is always set. */
export interface OutboundMessage {
  readonly kind: 'notification' | 'response';
  readonly headers: MessageHeaders;
  readonly content: unknown;
}

/** A destination for outbound messages: the orchestrator over HTTPS, the broker over MQTT. */
export interface AlertSink {
  /** Short file-safe name, used in logs and as the queue file name: `https`, `mqtt`. */
  readonly name: string;
  /** Resolves once the peer has the message. Rejects to be retried later; rejects with UndeliverableError to drop it. */
  deliver(message: OutboundMessage): Promise<void>;
  /** Releases connections; called by Alerts.close. */
  close?(): Promise<void>;
}

/** The destination refused this message for good (HTTP 4xx): retrying cannot help, so it is dropped. */
export class UndeliverableError extends Error {
  override name = 'UndeliverableError';
  readonly code = 'ALERT_UNDELIVERABLE';
}

/** The queues' place and bound, the sinks, and the retry timing. */
export interface AlertsOptions {
  /** Folder of the queues, `<stateDir>/alerts`; created when a sink exists. */
  readonly dir: string;
  readonly deviceId: string;
  /** Messages kept per sink; beyond it the oldest is dropped (and logged). */
  readonly maxQueued: number;
  readonly sinks: readonly AlertSink[];
  readonly logger: Logger;
  /** Timers of the retry loop and `created` stamps; tests move it by hand. */
  readonly clock?: Clock;
  /** First and largest wait between attempts; doubles in between. */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
  /** Source of the jitter that keeps a fleet from retrying in step; tests pin it. */
  readonly random?: () => number;
}

/** Where responses that missed the HTTP deadline go (what the HTTP transport needs of Alerts). */
export interface DelayedResponses {
  /** Names of the sinks; empty when a delayed response cannot be delivered. */
  readonly destinations: readonly string[];
  /** Queues a command's final response; `headers` carry its request_id and the producer in `to`. */
  respond(response: OpenC2Response, headers: MessageHeaders): void;
}

/** The running alert service: anything in the agent may call `notify`. */
export interface Alerts extends DelayedResponses {
  /** Queues an alert for every sink. Returns at once and never throws: alerting must not break the caller. */
  notify(notification: Notification): void;
  /** Stops retrying, waits for attempts in flight, closes the sinks. Queued messages stay on disk. */
  close(): Promise<void>;
}

interface Entry {
  readonly seq: number;
  readonly message: OutboundMessage;
}

/**
 * One sink's FIFO on disk: `<name>.jsonl` holds `{seq, message}` lines appended as they
 * come, `<name>.sent` the highest sequence number delivered or dropped. Appends are not
 * fsynced: the queue survives agent restarts and crashes, and the flash is spared a
 * sync per alert; a power cut may lose the last few.
 */
class DiskQueue {
  private entries: Entry[] = [];
  private sent = 0;
  private nextSeq = 1;
  /** Lines in the file, pending or not: past twice the limit, the file is rewritten. */
  private lines = 0;
  /** Dropped for lack of room since the queue was last empty. */
  private dropped = 0;
  private readonly file: string;
  private readonly sentFile: string;

  constructor(
    dir: string,
    readonly name: string,
    private readonly limit: number,
    private readonly logger: Logger,
  ) {
    this.file = join(dir, `${name}.jsonl`);
    this.sentFile = join(dir, `${name}.sent`);
    this.load();
  }

  get length(): number {
    return this.entries.length;
  }

  head(): Entry | undefined {
    return this.entries[0];
  }

  push(message: OutboundMessage): void {
    const entry: Entry = { seq: this.nextSeq++, message };
    this.entries.push(entry);
    try {
      appendFileSync(this.file, JSON.stringify(entry) + '\n');
      this.lines++;
    } catch (err) {
      this.logger.error('alert queue: cannot write; the message is kept in memory only', { sink: this.name, file: this.file, err });
    }
    this.trim();
  }

  /** Marks everything up to `seq` delivered (or given up). */
  done(seq: number): void {
    while (this.entries.length > 0 && this.entries[0]!.seq <= seq) this.entries.shift();
    this.markSent(seq);
    if (this.entries.length === 0 && this.dropped > 0) {
      this.logger.warn('alert queue drained; alerts were dropped while it was full', { sink: this.name, dropped: this.dropped });
      this.dropped = 0;
    }
    if (this.entries.length === 0 || this.lines > 2 * this.limit) this.rewrite();
  }

  private load(): void {
    this.sent = Number(readIfExists(this.sentFile)?.trim() || 0) || 0;
    let torn = 0;
    for (const line of (readIfExists(this.file) ?? '').split('\n')) {
      if (line === '') continue;
      this.lines++;
      try {
        const entry = JSON.parse(line) as Entry;
        this.nextSeq = Math.max(this.nextSeq, entry.seq + 1);
        if (entry.seq > this.sent) this.entries.push(entry);
      } catch {
        // A line cut short by a crash in the middle of an append.
        torn++;
      }
    }
    this.nextSeq = Math.max(this.nextSeq, this.sent + 1);
    if (torn > 0) this.logger.warn('alert queue: skipped unreadable lines', { sink: this.name, lines: torn });
    if (this.entries.length > 0) this.logger.info('alert queue: messages from before the restart', { sink: this.name, queued: this.entries.length });
    this.trim();
  }

  private trim(): void {
    const over = this.entries.length - this.limit;
    if (over <= 0) return;
    const dropped = this.entries.splice(0, over);
    this.markSent(dropped.at(-1)!.seq);
    // One warning when dropping starts; the total comes when the queue has drained.
    if (this.dropped === 0) this.logger.warn('alert queue full: dropping the oldest', { sink: this.name, limit: this.limit });
    this.dropped += over;
  }

  private markSent(seq: number): void {
    if (seq <= this.sent) return;
    this.sent = seq;
    this.replace(this.sentFile, String(seq));
  }

  private rewrite(): void {
    this.replace(this.file, this.entries.map((e) => JSON.stringify(e) + '\n').join(''));
    this.lines = this.entries.length;
  }

  /** Write-then-rename, so a crash leaves the old file or the new one, never half of one. */
  private replace(file: string, text: string): void {
    try {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.logger.error('alert queue: cannot write', { sink: this.name, file, err });
    }
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * How long shutdown waits for an alert already on its way: long enough for a healthy
 * orchestrator, short against a hung one (procd kills after 5 s). An alert cut off stays
 * queued and goes again at the next start, with the same request_id.
 */
const CLOSE_GRACE_MS = 2_000;

/** The state of one sink's delivery loop. */
type DeliveryState = 'idle' | 'sending' | 'waiting' | 'closed';

/** Sends one queue's head to its sink until the queue is empty, waiting longer after each failure. */
class Delivery {
  private state: DeliveryState = 'idle';
  private failures = 0;
  private timer: unknown;
  private wake: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly queue: DiskQueue,
    private readonly sink: AlertSink,
    private readonly clock: Clock,
    private readonly retry: { readonly initialMs: number; readonly maxMs: number },
    private readonly random: () => number,
    private readonly logger: Logger,
  ) {}

  kick(): void {
    if (this.state === 'idle' && this.queue.length > 0) this.running = this.run();
  }

  /** Stops; an attempt in flight gets CLOSE_GRACE_MS to finish, then the sink's close cuts it off. */
  async close(): Promise<void> {
    this.state = 'closed';
    this.clock.cancel(this.timer);
    this.wake?.();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
  }

  private async run(): Promise<void> {
    this.state = 'sending';
    for (let entry = this.queue.head(); entry && this.state === 'sending'; entry = this.queue.head()) {
      try {
        await this.sink.deliver(entry.message);
        this.queue.done(entry.seq);
        if (this.failures > 0) this.logger.info('alert destination reachable again', { sink: this.sink.name, queued: this.queue.length });
        this.failures = 0;
      } catch (err) {
        if (err instanceof UndeliverableError) {
          this.logger.error('alert dropped: the destination refuses it', { sink: this.sink.name, request_id: entry.message.headers.request_id, err });
          this.queue.done(entry.seq);
          continue;
        }
        this.failures++;
        const delayMs = this.backoff();
        // One warning per outage; the retries after it only at debug level.
        this.logger[this.failures === 1 ? 'warn' : 'debug']('alert destination unreachable; retrying', { sink: this.sink.name, queued: this.queue.length, retry_ms: delayMs, err });
        await this.pause(delayMs);
      }
    }
    if (this.state === 'sending') this.state = 'idle';
  }

  /** Exponential backoff with equal jitter: half the step fixed, half random. */
  private backoff(): number {
    const step = Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** Math.min(this.failures - 1, 30));
    return Math.round(step / 2 + (step / 2) * this.random());
  }

  private pause(ms: number): Promise<void> {
    if (this.state !== 'sending') return Promise.resolve();
    this.state = 'waiting';
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        if (this.state === 'waiting') this.state = 'sending';
        resolve();
      };
      this.timer = this.clock.schedule(() => this.wake?.(), ms);
    });
  }
}

/** Opens the queues of `sinks` and starts delivering what they hold. */
export function startAlerts(options: AlertsOptions): Alerts {
  const { logger, sinks } = options;
  const clock = options.clock ?? systemClock;
  const retry = options.retry ?? { initialMs: 1_000, maxMs: 300_000 };
  if (sinks.length > 0) {
    try {
      mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new Error(`alerts: cannot create the queue folder ${options.dir} (${(err as NodeJS.ErrnoException).code}); set stateDir to a writable folder`);
    }
  }
  const deliveries = sinks.map((sink) => {
    const queue = new DiskQueue(options.dir, sink.name, options.maxQueued, logger);
    return { queue, delivery: new Delivery(queue, sink, clock, retry, options.random ?? Math.random, logger) };
  });
  function enqueue(message: OutboundMessage): void {
    if (deliveries.length === 0) {
      logger.debug('no alert destination configured; message not sent', { kind: message.kind, content: message.content });
      return;
    }
    for (const { queue, delivery } of deliveries) {
      queue.push(message);
      // After close this does nothing: the message waits on disk for the next start.
      delivery.kick();
    }
  }

  for (const { delivery } of deliveries) delivery.kick();
  return {
    destinations: sinks.map((s) => s.name),
    notify(notification) {
      enqueue({ kind: 'notification', headers: { request_id: randomUUID(), created: clock.now(), from: options.deviceId }, content: notification });
    },
    respond(response, headers) {
      enqueue({ kind: 'response', headers: { ...headers, request_id: headers.request_id ?? randomUUID(), created: clock.now(), from: options.deviceId }, content: response });
    },
    async close() {
      await Promise.all(deliveries.map(({ delivery }) => delivery.close()));
      await Promise.all(sinks.map((sink) => sink.close?.()));
    },
  };
}

/** Where and how to reach the orchestrator's alert listener. */
export interface HttpsSinkOptions {
  /** The orchestrator's alert listener, `https://orchestrator:6768/` (communication-protocols text). */
  readonly url: string;
  /** The agent's client certificate and key (PEM files): the orchestrator authenticates the agent with them. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** CA bundle (PEM file) for the orchestrator's certificate; default the system trust store. */
  readonly caFile?: string;
  /** An attempt with no answer after this long fails and is retried. */
  readonly timeoutMs?: number;
  readonly logger: Logger;
}

/** The orchestrator's answer is `{}` (communication-protocols text); more than this is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** POSTs each message, as an OpenC2 envelope in JSON, to the orchestrator over one kept-alive HTTPS connection. */
export function createHttpsSink(options: HttpsSinkOptions): AlertSink {
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  const timeoutMs = options.timeoutMs ?? 10_000;
  // One socket: messages go one at a time anyway, and order matters.
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 1,
        ...TLS_POLICY,
        ...(options.certFile ? { cert: readFileSync(options.certFile) } : {}),
        ...(options.keyFile ? { key: readFileSync(options.keyFile) } : {}),
        ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
      })
    : undefined;
  const send = (secure ? httpsRequest : httpRequest) as (url: URL, options: RequestOptions, answer: (res: IncomingMessage) => void) => ClientRequest;

  return {
    name: 'https',
    deliver(message) {
      const body = encodeMessage(sealEnvelope(message.kind, message.content, message.headers), 'json');
      return new Promise<void>((resolve, reject) => {
        const req = send(url, {
          method: 'POST',
          ...(agent ? { agent } : {}),
          timeout: timeoutMs,
          headers: {
            'content-type': MEDIA_TYPE.json,
            accept: MEDIA_TYPE.json,
            'cache-control': 'no-cache',
            date: new Date().toUTCString(),
            'x-request-id': message.headers.request_id!,
            'content-length': body.byteLength,
          },
        }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status >= 200 && status < 300) {
              if (!isEmptyMessage(text)) options.logger.debug('orchestrator answered an alert with more than {}', { status, body: text.slice(0, 200) });
              resolve();
            } else if (status >= 300 && status < 400) {
              // RFC 6546 section 3: MUST NOT follow a redirect. Kept and retried: the fix is the agent's alerts.url.
              reject(new Error(`orchestrator answered ${status} to ${res.headers.location ?? '?'}; redirects are not followed, fix alerts.url`));
            } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
              reject(new UndeliverableError(`orchestrator answered ${status}: ${text.slice(0, 200)}`));
            } else {
              reject(new Error(`orchestrator answered ${status}`));
            }
          });
        });
        req.on('timeout', () => req.destroy(new Error(`no answer from the orchestrator within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    async close() {
      agent?.destroy();
    },
  };
}

function isEmptyMessage(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
  } catch {
    return false;
  }
}
