import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { generate, type Packet } from 'mqtt-packet';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../rules/clock.js';

/**
 * One MQTT connection and its life: connect, lose, wait, reconnect. The state lives in one
 * enum here, not in MQTT.js's flags; MQTT.js's own fixed-period reconnect is off
 * (`reconnectPeriod: 0`) so that reconnects back off exponentially with jitter on our clock.
 */

/** Where a link is in its life; exactly one at a time. */
export enum LinkState {
  /** Created, not started. */
  Idle = 'idle',
  /** CONNECT sent (or about to be), waiting for CONNACK and the `online` work. */
  Connecting = 'connecting',
  /** Connected, subscribed, serving. */
  Online = 'online',
  /** Connection lost or refused; a reconnect is scheduled. */
  Backoff = 'backoff',
  /** close() called: final messages and DISCONNECT going out. */
  Closing = 'closing',
  Closed = 'closed',
}

/** Reconnect delays: the first, and the ceiling the doubling stops at. */
export interface BackoffOptions {
  /** Delay before the first reconnect, in ms. */
  readonly initialMs: number;
  /** Ceiling of the delay, in ms. */
  readonly maxMs: number;
}

/** Stops a timer; calling it twice is harmless. */
export type CancelTimer = () => void;

/** Calls `fn` every `ms` on `clock` until cancelled. */
export function every(clock: Clock, ms: number, fn: () => void): CancelTimer {
  let stopped = false;
  let handle: unknown;
  const tick = (): void => {
    if (stopped) return;
    handle = clock.schedule(tick, ms);
    fn();
  };
  handle = clock.schedule(tick, ms);
  return () => {
    stopped = true;
    clock.cancel(handle);
  };
}

/** Calls `fn` once after `ms` on `clock` unless cancelled first. */
function after(clock: Clock, ms: number, fn: () => void): CancelTimer {
  const handle = clock.schedule(fn, ms);
  return () => clock.cancel(handle);
}

/** Half a second doubling up to a minute. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 60_000 };

/**
 * Delay before reconnect number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (half fixed, half random) so a fleet that lost its broker at once does not return at once,
 * yet no agent retries in a tight loop. `random` is in [0, 1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}

/** What one link connects to and how it behaves. */
export interface LinkOptions {
  readonly name: string;
  readonly url: string;
  /** MQTT.js options; reconnect and timer options are set here. */
  readonly client: IClientOptions;
  readonly clock: Clock;
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  readonly logger: Logger;
  /** Work to do on each CONNACK before the link counts as online (subscribe, birth). */
  readonly online: (connack: IConnackPacket, client: MqttClient) => Promise<void>;
  /** Last words while still connected, on close (e.g. an offline presence message). */
  readonly farewell?: (client: MqttClient) => Promise<void>;
}

/** Keepalive timer on our clock. MQTT.js pings after two ticks of half the keepalive;
 * ticking at 95% of that puts PINGREQ at 95% of the interval, as MQTT transfer spec 3.4 asks. */
function keepaliveTimer(clock: Clock): { set: (fn: () => void, ms: number) => number; clear: (id: number) => void } {
  const timers = new Map<number, CancelTimer>();
  let next = 0;
  return {
    set(fn, ms) {
      const id = ++next;
      timers.set(id, every(clock, Math.max(1, Math.floor(ms * 0.95)), fn));
      return id;
    },
    clear(id) {
      timers.get(id)?.();
      timers.delete(id);
    },
  };
}

/** MQTT.js's packet writer and what it uses; it has no option for how a packet reaches the socket. */
interface PacketWriter {
  _writePacket(packet: Packet, cb?: () => void): void;
  readonly noop: () => void;
  readonly stream: NodeJS.WritableStream & { cork?(): void; uncork(): void; destroy(err?: Error): void };
  readonly options: IClientOptions;
  emit(event: 'packetsend', packet: Packet): boolean;
}

/**
 * Makes MQTT.js write each packet to its socket as one Buffer. Its writer hands the socket each
 * field as a write of its own (about 20 for an OpenC2 PUBLISH with its properties), each a chunk
 * object the socket holds until the kernel takes it; while a busy broker reads slowly those
 * outlive several scavenges, and in bench:mqtt they were a third of what the agent promoted to
 * the old generation. mqtt-packet's `generate` is the same encoder writing into one Buffer. This
 * replaces the one private method, with its body otherwise unchanged (MQTT.js 5.x client.ts).
 */
function writeWholePackets(client: MqttClient): void {
  const writer = client as unknown as PacketWriter;
  if (typeof writer._writePacket !== 'function') throw new Error('this MQTT.js has no _writePacket: cannot write packets whole');
  writer._writePacket = function (this: PacketWriter, packet, cb) {
    this.emit('packetsend', packet);
    let bytes: Buffer;
    try {
      bytes = generate(packet, this.options);
    } catch (err) {
      // Where MQTT.js's writer would have destroyed the stream on a packet it cannot encode.
      this.stream.destroy(err as Error);
      return;
    }
    // As mqtt-packet does: corked until the next tick, so the packets of one turn (a batch of
    // responses and their PUBACKs) leave in one writev, not one syscall each.
    if (this.stream.cork) {
      this.stream.cork();
      process.nextTick(uncork, this.stream);
    }
    const flushed = this.stream.write(bytes);
    if (!flushed && cb && cb !== this.noop) this.stream.once('drain', cb);
    else if (cb) cb();
  };
}

function uncork(stream: NodeJS.WritableStream & { uncork(): void }): void {
  stream.uncork();
}

/** A connection that keeps itself up until closed. */
export class MqttLink {
  readonly client: MqttClient;
  #state = LinkState.Idle;
  #attempt = 0;
  #cancelReconnect: CancelTimer | undefined;
  readonly #listeners = new Set<(state: LinkState) => void>();
  readonly #options: LinkOptions;

  constructor(options: LinkOptions) {
    this.#options = options;
    this.client = mqtt.connect(options.url, {
      ...options.client,
      // MQTT.js calls its `debug` logger about a dozen times per packet, enabled or not: 4% of
      // the agent's CPU under a stream of commands (bench:mqtt profile). DEBUG=mqttjs* still works.
      ...(process.env.DEBUG?.includes('mqttjs') ? {} : { log: () => {} }),
      // MQTT.js would restart the keepalive timer on every acknowledgement it receives: a timer
      // cancelled and armed per response under a command stream. Off, it pings every interval
      // whether or not other packets went out, which keeps MQTT v5 3.1.2.10 all the same.
      reschedulePings: false,
      reconnectPeriod: 0,
      manualConnect: true,
      timerVariant: keepaliveTimer(options.clock) as unknown as IClientOptions['timerVariant'],
    });
    writeWholePackets(this.client);
    this.client.on('connect', (connack) => this.#onConnect(connack));
    this.client.on('close', () => this.#onClose());
    this.client.on('error', (err) => options.logger.warn('mqtt connection error', { link: options.name, err, attempt: this.#attempt }));
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Calls `listener` on every state change until the returned function is called. */
  onState(listener: (state: LinkState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#state !== LinkState.Idle) return;
    this.#set(LinkState.Connecting);
    this.client.connect();
  }

  /** Sends the farewell while still connected, then disconnects normally; both bounded by `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    if (this.#state === LinkState.Closing || this.#state === LinkState.Closed) return;
    const wasOnline = this.#state === LinkState.Online;
    this.#set(LinkState.Closing);
    this.#cancelReconnect?.();
    let cancelGrace: CancelTimer = () => {};
    const grace = new Promise<void>((resolve) => (cancelGrace = after(this.#options.clock, graceMs, resolve)));
    const farewell = this.#options.farewell;
    if (wasOnline && farewell) await Promise.race([farewell(this.client).catch(() => {}), grace]);
    // A normal DISCONNECT (not forced) keeps the session: the broker queues commands while we are away (spec 2.9).
    const ended = new Promise<boolean>((resolve) => this.client.end(!wasOnline, {}, () => resolve(true)));
    const clean = await Promise.race([ended, grace.then(() => false)]);
    cancelGrace();
    if (!clean) this.client.stream?.destroy();
    this.#set(LinkState.Closed);
  }

  #set(state: LinkState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.logger.debug('mqtt link state', { link: this.#options.name, state });
    for (const listener of this.#listeners) listener(state);
  }

  #onConnect(connack: IConnackPacket): void {
    if (this.#state === LinkState.Closing || this.#state === LinkState.Closed) return;
    // Commands and responses are small packets each answered at once: Nagle's algorithm,
    // meeting the peer's delayed ACK, would hold each one for tens of milliseconds.
    (this.client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.#options.online(connack, this.client).then(
      () => {
        if (this.#state !== LinkState.Connecting) return;
        this.#attempt = 0;
        this.#set(LinkState.Online);
      },
      (err) => {
        this.#options.logger.error('mqtt setup after connect failed; reconnecting', { link: this.#options.name, err });
        // Dropping the stream leads to `close`, and so to a backed-off retry.
        this.client.stream?.destroy();
      },
    );
  }

  #onClose(): void {
    if (this.#state === LinkState.Closing || this.#state === LinkState.Closed || this.#state === LinkState.Backoff) return;
    const delay = backoffDelay(this.#attempt++, this.#options.backoff, this.#options.random());
    if (this.#state === LinkState.Online) this.#options.logger.warn('mqtt connection lost; reconnecting', { link: this.#options.name, delay_ms: delay });
    this.#set(LinkState.Backoff);
    this.#cancelReconnect = after(this.#options.clock, delay, () => {
      this.#cancelReconnect = undefined;
      if (this.#state !== LinkState.Backoff) return;
      this.#set(LinkState.Connecting);
      // Keep both stores: QoS 1 responses not yet acknowledged are sent again on the resumed session.
      this.client.reconnect({ incomingStore: this.client.incomingStore, outgoingStore: this.client.outgoingStore });
    });
  }
}
