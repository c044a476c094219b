import { readFileSync } from 'node:fs';
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import { DecodeError, decodeMessage, encodeMessage, type Encoding } from '../codec/codec.js';
import { EnvelopeError, openEnvelope, peekHeaders, sealEnvelope, type MessageHeaders, type OpenedMessage } from '../codec/envelope.js';
import { SignatureError, signaturePolicy, verifyMessage } from '../codec/signing.js';
import type { AgentConfig } from '../config/config.js';
import type { CommandHandler, OpenC2Response } from '../consumer/consumer.js';
import type { Logger } from '../log/logger.js';
import type { AlertSink } from './alerts.js';
import { VERSION } from '../version.js';
import { systemClock, type Clock } from '../rules/clock.js';
import { DEFAULT_BACKOFF, every, LinkState, MqttLink, type BackoffOptions, type CancelTimer } from './mqtt-link.js';
import { publishProperties, readFrameProperties, topicTree, type MessageType, type TopicTree } from './mqtt-topics.js';
import { TLS_POLICY } from './tls-policy.js';

/**
 * OpenC2 over MQTT v5 (MQTT transfer spec v1.0): a consumer that subscribes to its command
 * topics, answers on the response topics in the request's encoding, and keeps its session
 * across broker restarts. Each command is acknowledged (PUBACK) only after it was handled, and
 * the consumer's command_id cache (language spec 3.3.1: command_id defaults to request_id)
 * answers a redelivered command without applying it twice.
 */

/** The agent's config and logger, plus what tests replace: clock, backoff, jitter. */
export interface MqttTransportOptions {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly backoff?: BackoffOptions;
  /** Jitter source in [0, 1); tests pin it. */
  readonly random?: () => number;
  /** Extra fields for health notifications, e.g. the dataplane's status. */
  readonly health?: () => Record<string, unknown>;
}

/** Counters since start, reported in health notifications. */
export interface MqttStats {
  /** Commands handed to the consumer. */
  commands: number;
  /** Frames refused before the consumer: undecodable, malformed, unsigned, wrong `to`. */
  rejected: number;
  /** Connections made after the first. */
  reconnects: number;
}

/** A running MQTT transport: its topics, link state and counters. */
export interface MqttTransport {
  readonly topics: TopicTree;
  /** Alerts and delayed responses to the fleet over the broker (`oc2/rsp`), for startAlerts. */
  readonly alertSink: AlertSink;
  /** Connects and serves commands with `handler`; returns at once, the link keeps retrying while the broker is away. */
  start(handler: CommandHandler): void;
  readonly state: LinkState;
  readonly stats: Readonly<MqttStats>;
  onState(listener: (state: LinkState) => void): () => void;
  /** Publishes offline presence, disconnects normally (the session and its queue stay on the broker). */
  close(): Promise<void>;
}

/**
 * Unacknowledged commands the broker may push at once (MQTT v5 3.1.2.11.3): the depth of the
 * command pipeline. Without it a broker draining a long queue could send 65,535 of them into a
 * 128 MB router's memory.
 */
const RECEIVE_MAXIMUM = 32;

/**
 * Commands taken from MQTT.js in one event-loop turn; the next waits for the next turn. A burst
 * of RECEIVE_MAXIMUM commands taken at once keeps every one of them alive until the last is
 * handled, long enough for a scavenge to copy and promote them all: the shipped agent spent
 * 39% of its time collecting. Eight a turn keeps the window to the broker at RECEIVE_MAXIMUM
 * and responses still leave in batches, for a quarter less CPU per command (bench:mqtt). It
 * also lets timers, HTTP and the dataplane in between bursts.
 */
const COMMANDS_PER_TURN = 8;

/** What goes back for one command: the response (none when not wanted) in the request's encoding. */
interface Answer {
  readonly request: MessageHeaders;
  readonly response: OpenC2Response | undefined;
  readonly encoding: Encoding;
}

/** A command taken from the broker, until its answer and acknowledgement have gone out. */
interface TakenCommand {
  readonly topic: string;
  handled: boolean;
  answer: Answer | undefined;
  /** Ends the delivery: our PUBACK for QoS 1, MQTT.js's callback for QoS 0 and 2. */
  readonly complete: () => void;
}

/**
 * Passed to MQTT.js's handleMessage callback for QoS 1 commands: it takes an error as "do not
 * acknowledge" and reads on, and the transport sends the PUBACK itself once the command is handled.
 */
const ACK_LATER = new Error('acknowledged once handled');

/**
 * The PUBACK of a handled command: reason code 0 (Success) and no properties, which MQTT v5
 * 3.4.2.1 lets a PUBACK omit (Remaining Length 2). MQTT.js has no public manual acknowledgement;
 * these four bytes go on its stream after the response it wrote, in order, as one write instead
 * without a trip through its packet writer.
 */
function puback(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
}

/** Room for topic and properties on top of the largest payload we accept. */
const PACKET_OVERHEAD_BYTES = 65_536;

function connectionOptions(config: AgentConfig, clientId: string): IClientOptions {
  const { mqtt } = config;
  const protocol = new URL(mqtt.url!).protocol;
  const tls = protocol === 'mqtts:';
  return {
    protocolVersion: 5,
    clientId,
    keepalive: mqtt.keepaliveSeconds,
    connectTimeout: 30_000,
    // mqtt-packet's number cache is 65,536 two-byte Buffers (6.6 MB of heap on a 128 MB router,
    // and more for every full GC to mark) to save one small allocation per packet.
    writeCache: false,
    ...(mqtt.username !== undefined ? { username: mqtt.username } : {}),
    ...(mqtt.password !== undefined ? { password: mqtt.password } : {}),
    ...(tls
      ? {
          rejectUnauthorized: true,
          // MQTT transfer spec appendix B: TLS 1.2 or later, the same AEAD-only policy as HTTPS.
          ...TLS_POLICY,
          ...(mqtt.tlsCa !== undefined ? { ca: readFileSync(mqtt.tlsCa) } : {}),
          ...(mqtt.tlsCert !== undefined ? { cert: readFileSync(mqtt.tlsCert), key: readFileSync(mqtt.tlsKey!) } : {}),
        }
      : {}),
  };
}

/** Prepares the transport; nothing connects before `start`, so the alert sink can exist before the consumer. */
export function createMqttTransport(options: MqttTransportOptions): MqttTransport {
  const { config } = options;
  let handler: CommandHandler | undefined;
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const { mqtt } = config;
  const deviceId = config.deviceId;
  const clientId = mqtt.clientId ?? deviceId;
  const topics = topicTree(mqtt.topicPrefix, deviceId, config.profiles);
  const policy = signaturePolicy(config.signing);
  const stats: MqttStats = { commands: 0, rejected: 0, reconnects: 0 };
  const startedAt = clock.now();
  let connects = 0;

  function publish(client: MqttClient, topic: string, msgType: MessageType, encoding: Encoding, message: unknown): void {
    // QoS 1, retain false (spec 3.2). Not awaited: MQTT.js keeps the packet until PUBACK and
    // sends it again on the resumed session if the connection drops first.
    client.publish(topic, encodeMessage(message, encoding), { qos: 1, retain: false, properties: publishProperties(msgType, encoding) }, (err) => {
      if (err) logger.warn('mqtt publish failed', { topic, err });
    });
  }

  function respond(client: MqttClient, answer: Answer): void {
    const { request, response, encoding } = answer;
    if (response === undefined) return;
    // Spec 3.2: `from` is the publisher (us); the request's `request_id` is copied (language spec 3.2).
    // One literal with every header, absent ones undefined (neither encoding writes them): spreading
    // in the optional ones and adding `to` afterwards cost 4% of the agent's CPU in bench:mqtt.
    const headers: MessageHeaders = { request_id: request.request_id, created: clock.now(), from: deviceId, to: request.from !== undefined ? [request.from] : undefined };
    publish(client, topics.responsesFor(request.from), 'rsp', encoding, sealEnvelope('response', response, headers));
  }

  function reject(request: MessageHeaders, status: number, text: string, encoding: Encoding, topic: string): Answer {
    stats.rejected++;
    logger.warn('mqtt command refused', { topic, status, reason: text, request_id: request.request_id, from: request.from });
    return { request, response: { status, status_text: text }, encoding };
  }

  /**
   * One received PUBLISH, from bytes to the answer to publish (none for frames not worth one).
   * Everything up to the consumer's `handle` runs synchronously, so the consumer takes commands
   * in the order they arrived. Never rejects: a bad frame must not stop the link.
   */
  async function receive(packet: IPublishPacket): Promise<Answer | undefined> {
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const framing = readFrameProperties(packet.properties, payload);
    // Never answer a response or notification: two consumers would answer each other forever.
    if (framing.msgType !== undefined && framing.msgType !== 'req') {
      stats.rejected++;
      logger.warn('mqtt message on a command topic is not a request; ignored', { topic, msgType: framing.msgType });
      return undefined;
    }
    const encoding = framing.encoding;
    let frame: unknown;
    try {
      frame = decodeMessage(payload, encoding, config.limits.maxMessageBytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      // Nothing decoded means no request_id to answer with; broadcasting an uncorrelated error to
      // every producer on oc2/rsp would be noise.
      stats.rejected++;
      logger.warn('mqtt frame not decodable; dropped', { topic, bytes: payload.byteLength, encoding, reason: err.message });
      return undefined;
    }
    let message: OpenedMessage;
    try {
      message = openEnvelope(frame, false);
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      return reject(peekHeaders(frame), 400, err.message, encoding, topic);
    }
    const headers = message.headers;
    if (framing.problems.length > 0) return reject(headers, 400, `not an OpenC2 request frame (MQTT transfer spec 3.2): ${framing.problems.join('; ')}`, encoding, topic);
    if (message.kind !== 'request') {
      stats.rejected++;
      logger.warn('mqtt message carries no request; ignored', { topic, kind: message.kind });
      return undefined;
    }
    // `to` narrows a broadcast (spec 2.4.2): on a shared topic another device's command is not
    // ours and needs no answer; on our own device topic it contradicts the topic.
    if (headers.to !== undefined && !headers.to.includes(deviceId)) {
      if (topic === topics.device) return reject(headers, 400, `headers.to does not name this device (${deviceId})`, encoding, topic);
      logger.debug('mqtt command addressed to other devices; skipped', { topic, to: headers.to, request_id: headers.request_id });
      return undefined;
    }
    let signer: string | undefined;
    try {
      signer = verifyMessage(message, frame as { headers?: unknown; body?: unknown }, encoding, policy, clock.now()).signer;
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      return reject(headers, err.status, err.message, encoding, topic);
    }
    stats.commands++;
    let response: OpenC2Response | undefined;
    try {
      response = await handler!.handle(message.content, { transport: 'mqtt', producer: signer ?? headers.from, requestId: headers.request_id });
    } catch (err) {
      logger.error('command failed', { err, request_id: headers.request_id });
      response = { status: 500, status_text: 'internal error' };
    }
    return { request: headers, response, encoding };
  }

  function healthNotification(state: LinkState): Record<string, unknown> {
    const health = { state, version: VERSION, uptime_s: Math.round((clock.now() - startedAt) / 1000), ...stats, ...options.health?.() };
    return sealEnvelope('notification', { event: 'health', ...health }, { created: clock.now(), from: deviceId });
  }

  const link = new MqttLink({
    name: 'openc2',
    url: mqtt.url!,
    client: {
      ...connectionOptions(config, clientId),
      // Spec 2.9 and 3.1: no clean start, so the broker keeps our subscriptions and queues
      // QoS 1 commands while we are away. No will message on this connection (spec 2.8, 3.1).
      clean: false,
      properties: { sessionExpiryInterval: mqtt.sessionExpirySeconds, receiveMaximum: RECEIVE_MAXIMUM, maximumPacketSize: config.limits.maxMessageBytes + PACKET_OVERHEAD_BYTES },
    },
    clock,
    backoff,
    random,
    logger,
    online: async (connack: IConnackPacket, client: MqttClient) => {
      if (connects++ > 0) stats.reconnects++;
      // Spec 3.3 subscription options. With a resumed session the subscriptions exist; asking
      // again with retain handling 1 picks up topic changes without replaying retained messages.
      const rh = connack.sessionPresent ? 1 : 0;
      const granted = await client.subscribeAsync(Object.fromEntries(topics.commands.map((t) => [t, { qos: 2 as const, nl: true, rap: true, rh }])));
      const refused = granted.filter((g) => g.qos > 2);
      if (refused.length > 0) throw new Error(`broker refused subscriptions: ${refused.map((g) => g.topic).join(', ')}`);
      logger.info('mqtt online', { url: redact(mqtt.url!), client_id: clientId, session_present: connack.sessionPresent, topics: topics.commands });
      publish(client, topics.responses, 'ntf', 'json', healthNotification(LinkState.Online));
    },
  });
  // Commands are pipelined: each goes to the consumer as soon as it arrives, so the rule store
  // can batch the journal writes of commands that arrive together instead of the link waiting
  // on every write (and on the thread pool behind it) before reading the next command. What
  // leaves goes out in arrival order: a command's response, then its PUBACK (MQTT v5 4.6 wants
  // PUBACKs in PUBLISH order), each after the earlier command's. Acknowledging only after
  // handling means that if the agent or the connection dies first, the broker delivers the
  // command again (MQTT v5 4.3.2) and the consumer's command_id cache answers the repeat
  // without applying it twice. RECEIVE_MAXIMUM bounds how many are in flight.
  // The order is kept by a queue of taken commands rather than a chain of promises: one promise
  // per command instead of four, and fewer microtask hops.
  const taken: TakenCommand[] = [];
  let drained: (() => void) | undefined;

  /** Sends the answers and acknowledgements of the oldest handled commands, stopping at the first still running. */
  function release(): void {
    while (taken.length > 0 && taken[0]!.handled) {
      const command = taken.shift()!;
      try {
        if (command.answer) respond(link.client, command.answer);
      } catch (err) {
        logger.error('mqtt message handling failed', { err, topic: command.topic });
      }
      command.complete();
    }
    if (taken.length === 0) drained?.();
  }

  let takenThisTurn = 0;
  const nextTurn = () => {
    takenThisTurn = 0;
  };

  let closing = false;

  link.client.handleMessage = (packet, done) => {
    const client = link.client;
    // Commands wait in MQTT.js for their turn; one handed over after its connection dropped, or
    // while the transport closes, could not be acknowledged there: the broker delivers it again.
    if (packet.qos === 1 && (closing || !client.connected)) {
      done(ACK_LATER);
      return;
    }
    if (takenThisTurn++ === 0) setImmediate(nextTurn);
    const stream = client.stream;
    const messageId = packet.messageId!;
    const command: TakenCommand = {
      topic: packet.topic,
      handled: false,
      answer: undefined,
      complete:
        packet.qos === 1
          ? () => {
              // A PUBACK belongs to the connection the command came on; after a reconnect the broker
              // sends the command again and the repeat is answered and acknowledged then.
              if (client.connected && client.stream === stream) stream.write(puback(messageId));
            }
          : // QoS 2 completes with PUBREC/PUBCOMP bookkeeping inside MQTT.js: that one waits its turn.
            () => done(),
    };
    taken.push(command);
    receive(packet).then(
      (answer) => {
        command.answer = answer;
        command.handled = true;
        release();
      },
      (err: unknown) => {
        logger.error('mqtt message handling failed', { err, topic: packet.topic });
        command.handled = true;
        release();
      },
    );
    // An error to MQTT.js's callback skips its own PUBACK and lets it hand over the next packet.
    if (packet.qos !== 1) return;
    if (takenThisTurn < COMMANDS_PER_TURN) done(ACK_LATER);
    else setImmediate(done, ACK_LATER);
  };

  let presence: MqttLink | undefined;
  let stopHealth: CancelTimer | undefined;

  const alertSink: AlertSink = {
    name: 'mqtt',
    async deliver(message) {
      // Rejecting keeps the message in the alert queue until the link is back.
      if (link.state !== LinkState.Online) throw new Error('mqtt link is not online');
      const headers: MessageHeaders = { ...message.headers, created: message.headers.created ?? clock.now(), from: deviceId };
      const topic = message.kind === 'response' ? topics.responsesFor(message.headers.to?.[0]) : topics.responses;
      const msgType: MessageType = message.kind === 'response' ? 'rsp' : 'ntf';
      await link.client.publishAsync(topic, encodeMessage(sealEnvelope(message.kind, message.content, headers), 'json'), {
        qos: 1,
        retain: false,
        properties: publishProperties(msgType, 'json'),
      });
    },
  };

  return {
    topics,
    alertSink,
    start(commandHandler) {
      if (handler) return;
      handler = commandHandler;
      if (mqtt.presence) presence = startPresence(config, clientId, topics, link, { clock, backoff, random, logger });
      if (mqtt.healthIntervalSeconds > 0) {
        stopHealth = every(clock, mqtt.healthIntervalSeconds * 1000, () => {
          if (link.state === LinkState.Online) publish(link.client, topics.responses, 'ntf', 'json', healthNotification(link.state));
        });
      }
      link.start();
    },
    get state() {
      return link.state;
    },
    stats,
    onState: (listener) => link.onState(listener),
    async close() {
      closing = true;
      stopHealth?.();
      // Commands already taken get their response and PUBACK out before the DISCONNECT.
      if (taken.length > 0) await new Promise<void>((resolve) => (drained = resolve));
      await Promise.all([link.close(), presence?.close()]);
    },
  };
}

/** The URL without credentials, for logs. */
function redact(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

/**
 * Presence: MQTT transfer spec 2.8 and 3.1 forbid a will message on the OpenC2 connection, yet a
 * fleet must see a device vanish. A second, session-less connection carries a retained birth
 * (`online`) and a retained last will (`offline`) on `oc2/presence/<device>`; it sends no
 * OpenC2 messages, so the spec's CONNECT rules are kept where they apply.
 * `online` means the device takes commands: it follows the OpenC2 connection (`commands`),
 * so a device whose command link is down while this one stays up reads `offline`.
 */
function startPresence(
  config: AgentConfig,
  clientId: string,
  topics: TopicTree,
  commands: MqttLink,
  deps: { clock: Clock; backoff: BackoffOptions; random: () => number; logger: Logger },
): MqttLink {
  type Presence = 'online' | 'offline';
  const status = (state: Presence): Buffer => Buffer.from(JSON.stringify({ device: config.deviceId, state, created: deps.clock.now(), version: VERSION }));
  const retained = { qos: 1 as const, retain: true, properties: { contentType: 'application/json', payloadFormatIndicator: true } };
  // What this connection last published. Unknown on each new connection: a broker that crashed
  // never sent our will and may still hold `online`, and MQTT.js may have resent an old status.
  let held: Presence | undefined;
  const announce = (client: MqttClient): Promise<void> => {
    const state: Presence = commands.state === LinkState.Online ? 'online' : 'offline';
    if (state === held) return Promise.resolve();
    held = state;
    return client.publishAsync(topics.presence, status(state), retained).then(() => undefined);
  };
  const link = new MqttLink({
    name: 'presence',
    url: config.mqtt.url!,
    client: {
      ...connectionOptions(config, `${clientId}-presence`),
      clean: true,
      will: { topic: topics.presence, payload: status('offline'), ...retained },
    },
    ...deps,
    online: (_connack, client) => {
      held = undefined;
      return announce(client);
    },
    // A normal DISCONNECT discards the will (MQTT v5 3.1.2.5), so say offline ourselves first.
    farewell: async (client) => {
      if (held === 'offline') return;
      held = 'offline';
      await client.publishAsync(topics.presence, status('offline'), retained);
    },
  });
  // Either link may change while the other's change is in flight (a birth awaiting its PUBACK):
  // each change of either one publishes what is true then, if it differs from what is held.
  const refresh = (): void => {
    if (link.state !== LinkState.Online) return;
    announce(link.client).catch((err: unknown) => deps.logger.warn('mqtt presence not published', { err }));
  };
  commands.onState(refresh);
  link.onState(refresh);
  link.start();
  return link;
}
