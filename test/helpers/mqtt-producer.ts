import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { decodeMessage, encodeMessage, type Encoding } from '../../agent/codec/codec.js';
import type { MessageHeaders } from '../../agent/codec/envelope.js';
import { signEnvelope } from '../../agent/codec/signing.js';
import { publishProperties, type PublishProperties } from '../../agent/transports/mqtt-topics.js';

/**
 * A test OpenC2 Producer over MQTT v5 (MQTT transfer spec 2.2, 3.2, 3.3): publishes commands
 * framed as the spec says (or deliberately not) and collects responses by request_id.
 */

export interface ReceivedMessage {
  readonly topic: string;
  readonly message: { headers: MessageHeaders; body: { openc2: Record<string, unknown> } };
  readonly properties: PublishProperties;
  readonly encoding: Encoding;
}

export interface SendOptions {
  readonly encoding?: Encoding;
  readonly requestId?: string;
  /** Extra or replacing headers (`to`, `created`, ...). */
  readonly headers?: MessageHeaders;
  /** Ed25519 secret key: signs the envelope with `headers.from` (the producer id) as the key name. */
  readonly sign?: Uint8Array;
  /** Replaces the spec's PUBLISH properties, for malformed-frame tests. */
  readonly properties?: PublishProperties;
  /** Sends these bytes instead of the encoded envelope. */
  readonly payload?: Uint8Array;
}

export class Producer {
  readonly received: ReceivedMessage[] = [];
  /** Received messages by request_id, so benchmarks with many thousands stay linear. */
  readonly #byRequest = new Map<string, ReceivedMessage[]>();
  readonly #waiters = new Set<() => void>();

  private constructor(
    readonly client: MqttClient,
    readonly id: string,
    readonly root: string,
  ) {
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      const properties = (packet.properties ?? {}) as PublishProperties;
      const encoding = (properties.userProperties?.encoding as Encoding | undefined) ?? 'json';
      try {
        const message = decodeMessage(payload, encoding, 1 << 24) as ReceivedMessage['message'];
        const received = { topic, message, properties, encoding };
        this.received.push(received);
        const requestId = message?.headers?.request_id;
        if (typeof requestId === 'string') this.#byRequest.set(requestId, [...(this.#byRequest.get(requestId) ?? []), received]);
      } catch {
        // A test producer sees only what agents publish; undecodable messages are ignored.
      }
      for (const wake of this.#waiters) wake();
    });
  }

  /**
   * Connects and subscribes to `oc2/rsp` and `oc2/rsp/<id>` (spec 3.3: SHALL and SHOULD).
   * `session`: a persistent session (spec 2.9), so responses published while the broker was away reach us.
   */
  static async connect(url: string, id: string, options: { root?: string; tls?: IClientOptions; session?: boolean } = {}): Promise<Producer> {
    const root = options.root ?? 'oc2';
    const session = options.session ? { clientId: `producer-${id}`, clean: false, properties: { sessionExpiryInterval: 300 } } : { clientId: `producer-${id}-${randomUUID().slice(0, 8)}`, clean: true };
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, ...session, reconnectPeriod: 200, ...options.tls });
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await client.subscribeAsync({ [`${root}/rsp`]: { qos: 1 }, [`${root}/rsp/${id}`]: { qos: 1 } });
    return new Producer(client, id, root);
  }

  /** Publishes one command (QoS 1); returns its request_id. */
  async send(topic: string, command: unknown, options: SendOptions = {}): Promise<string> {
    const encoding = options.encoding ?? 'json';
    const requestId = options.requestId ?? randomUUID();
    const envelope = { headers: { request_id: requestId, created: Date.now(), from: this.id, ...options.headers }, body: { openc2: { request: command } } };
    const message = options.sign ? signEnvelope(envelope, encoding, options.sign) : envelope;
    const payload = options.payload ?? encodeMessage(message, encoding);
    await this.client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain: false, properties: options.properties ?? publishProperties('req', encoding) });
    return requestId;
  }

  /** Responses received so far for `requestId`. */
  responsesTo(requestId: string): ReceivedMessage[] {
    return this.#byRequest.get(requestId) ?? [];
  }

  /** Waits (bounded by `timeoutMs`) until `done()` holds for the received messages. */
  async until(done: (received: readonly ReceivedMessage[]) => boolean, timeoutMs = 5000): Promise<void> {
    if (done(this.received)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`producer ${this.id}: condition not met in ${timeoutMs} ms; ${this.received.length} messages received`));
      }, timeoutMs);
      const check = (): void => {
        if (!done(this.received)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  /** The first response to `requestId`, waiting for it (bounded). */
  async response(requestId: string, timeoutMs = 5000): Promise<ReceivedMessage> {
    await this.until(() => this.responsesTo(requestId).length > 0, timeoutMs);
    return this.responsesTo(requestId)[0]!;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
