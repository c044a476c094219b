import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { decodeMessage, encodeMessage, type Encoding } from '../../agent/codec/codec.js';
import { publishProperties } from '../../agent/transports/mqtt-topics.js';

/**
 * The benchmark's OpenC2 Producer, framed by hand so that it costs the machine as little as an
 * orchestrator on another machine would: MQTT v5 packets made by mqtt-packet and written to a
 * plain socket, responses read for their request_id and status only, nothing kept. MQTT.js,
 * which the test Producer uses, spent 90-180 us of CPU per command here (a clone and a stored
 * copy of every publish, a promise each, every response kept): on 2 cores that was CPU taken
 * from the agent and the broker under test. QoS 1 both ways, within the broker's Receive
 * Maximum; no keepalive (the bench's jobs follow each other closely) and no reconnect: a lost
 * connection or a refused publish fails the job under way.
 */
export class WireProducer {
  readonly #socket: Socket;
  readonly #parser = mqttPacket.parser({ protocolVersion: 5 });
  /** Commands waiting for a response, by request_id: called with the response's status. */
  readonly #waiting = new Map<string, (status: number | undefined) => void>();
  /** PUBLISHes the broker has not acknowledged, and how many it takes at once (CONNACK). */
  #unacked = 0;
  #window = 65_535;
  #nextPacketId = 0;
  /** Publishes held back while the window is full, in order. */
  readonly #held: Buffer[] = [];
  #control: ((packet: Packet) => void) | undefined;
  /** Rejects when the connection is lost or the broker refuses a publish; raced by every wait. */
  readonly #lost: Promise<never>;
  #fail!: (reason: Error) => void;

  private constructor(
    socket: Socket,
    readonly id: string,
  ) {
    this.#socket = socket;
    this.#lost = new Promise<never>((_, reject) => (this.#fail = reject));
    // Nobody may be waiting when it happens.
    this.#lost.catch(() => undefined);
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('connection to the broker closed')));
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      // The PUBACKs of one read leave in one write.
      socket.cork();
      try {
        this.#parser.parse(chunk);
      } finally {
        socket.uncork();
      }
    });
    this.#parser.on('packet', (packet) => this.#receive(packet));
    this.#parser.on('error', (e) => socket.destroy(e));
  }

  /** Connects with a clean session and subscribes to `oc2/rsp/<id>` (where the agent answers a `from`). */
  static async connect(url: string, id: string): Promise<WireProducer> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    const producer = new WireProducer(socket, id);
    const connack = (await producer.#exchange({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: `${id}-${randomUUID().slice(0, 8)}`, keepalive: 0 }, 'connack')) as mqttPacket.IConnackPacket;
    if (connack.reasonCode) throw new Error(`broker refused the connection: reason code ${connack.reasonCode}`);
    producer.#window = connack.properties?.receiveMaximum ?? 65_535;
    const suback = (await producer.#exchange({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `oc2/rsp/${id}`, qos: 1 }] }, 'suback')) as mqttPacket.ISubackPacket;
    if (suback.granted.some((code) => Number(code) >= 0x80)) throw new Error(`broker refused the subscription: ${JSON.stringify(suback.granted)}`);
    return producer;
  }

  /** Publishes one command; resolves with the status of its response, rejects after `timeoutMs` without one. */
  async send(topic: string, command: unknown, encoding: Encoding = 'json', timeoutMs = 10_000): Promise<number | undefined> {
    const requestId = randomUUID();
    const envelope = { headers: { request_id: requestId, created: Date.now(), from: this.id }, body: { openc2: { request: command } } };
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<number | undefined>((resolve, reject) => {
      this.#waiting.set(requestId, resolve);
      timer = setTimeout(() => {
        this.#waiting.delete(requestId);
        reject(new Error(`no response to ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    this.#publish(topic, Buffer.from(encodeMessage(envelope, encoding)), encoding);
    try {
      return await Promise.race([answered, this.#lost]);
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(requestId);
    }
  }

  /**
   * Publishes `count` JSON commands back to back and resolves once each has a response, with how
   * many were not 200. Envelopes are written as text; bounded by `timeoutMs`.
   */
  async pipelined(topic: string, count: number, command: () => unknown, timeoutMs = 300_000): Promise<{ failed: number }> {
    let failed = 0;
    let left = count;
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const answered = (status: number | undefined): void => {
      if (status !== 200) failed++;
      if (--left === 0) done();
    };
    const requestIds: string[] = [];
    this.#socket.cork();
    for (let i = 0; i < count; i++) {
      const requestId = randomUUID();
      requestIds.push(requestId);
      this.#waiting.set(requestId, answered);
      const frame = `{"headers":{"request_id":"${requestId}","created":${Date.now()},"from":"${this.id}"},"body":{"openc2":{"request":${JSON.stringify(command())}}}}`;
      this.#publish(topic, Buffer.from(frame), 'json');
    }
    this.#socket.uncork();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${left} of ${count} commands unanswered after ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([all, expired, this.#lost]);
    } finally {
      clearTimeout(timer);
      for (const requestId of requestIds) this.#waiting.delete(requestId);
    }
    return { failed };
  }

  async close(): Promise<void> {
    this.#socket.end(mqttPacket.generate({ cmd: 'disconnect' }, { protocolVersion: 5 }));
    if (!this.#socket.closed) await once(this.#socket, 'close');
  }

  #publish(topic: string, payload: Buffer, encoding: Encoding): void {
    this.#nextPacketId = (this.#nextPacketId % 65_535) + 1;
    const frame = mqttPacket.generate(
      { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false, messageId: this.#nextPacketId, properties: publishProperties('req', encoding) },
      { protocolVersion: 5 },
    );
    if (this.#unacked < this.#window) {
      this.#unacked++;
      this.#socket.write(frame);
    } else {
      this.#held.push(frame);
    }
  }

  #receive(packet: Packet): void {
    if (packet.cmd === 'puback') {
      if ((packet.reasonCode ?? 0) >= 0x80) this.#fail(new Error(`broker refused publish ${packet.messageId}: reason code ${packet.reasonCode}`));
      const next = this.#held.shift();
      if (next) this.#socket.write(next);
      else this.#unacked--;
      return;
    }
    if (packet.cmd === 'publish') {
      if (packet.qos === 1) this.#socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId! }, { protocolVersion: 5 }));
      // The agent answers in the encoding of the command.
      const encoding: Encoding = packet.properties?.userProperties?.encoding === 'cbor' ? 'cbor' : 'json';
      let message: { headers?: { request_id?: string }; body?: { openc2?: { response?: { status?: number } } } } | undefined;
      try {
        message = decodeMessage(packet.payload as Buffer, encoding, 1 << 20) as typeof message;
      } catch {
        // Not a response of this producer's: nothing waits for it.
        return;
      }
      const requestId = message?.headers?.request_id;
      const answered = requestId === undefined ? undefined : this.#waiting.get(requestId);
      if (answered) {
        this.#waiting.delete(requestId!);
        answered(message?.body?.openc2?.response?.status);
      }
      return;
    }
    this.#control?.(packet);
  }

  /** Sends a control packet and waits for the broker's packet of kind `reply` (bounded: 5 s). */
  async #exchange(packet: Packet, reply: Packet['cmd']): Promise<Packet> {
    const answer = new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${reply} from the broker within 5 s`)), 5_000);
      this.#lost.catch((e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
      this.#control = (p) => {
        if (p.cmd !== reply) return;
        clearTimeout(timer);
        this.#control = undefined;
        resolve(p);
      };
    });
    this.#socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
    return answer;
  }
}
