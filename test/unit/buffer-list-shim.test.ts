import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import bl from 'bl';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { publishProperties } from '../../agent/transports/mqtt-topics.js';
import { BUNDLE } from '../helpers/agent.js';
import { prng } from '../helpers/prng.js';

// The bundle gives mqtt-packet's parser build/shims/buffer-list.cjs instead of bl: it must answer
// every call that parser makes exactly as bl does, wherever the socket happened to cut the bytes.
const require = createRequire(import.meta.url);
const shim = require('../../build/shims/buffer-list.cjs') as () => ByteList;

interface ByteList {
  length: number;
  append(chunk: Buffer): unknown;
  consume(bytes: number): unknown;
  readUInt8(offset: number): number;
  readUInt16BE(offset: number): number;
  readUInt32BE(offset: number): number;
  slice(start?: number, end?: number): Buffer;
  toString(encoding?: BufferEncoding, start?: number, end?: number): string;
}

/** Whole numbers below `below` from prng(seed), so a failure names a seed that repeats it. */
function random(seed: number): (below: number) => number {
  const next = prng(seed);
  return (below) => Math.floor(next() * below);
}

/** What a call gave: its value, or that it threw a RangeError. */
function outcome(call: () => unknown): unknown {
  try {
    const value = call();
    return Buffer.isBuffer(value) ? `bytes ${value.toString('hex')}` : value;
  } catch (err) {
    return `threw ${(err as Error).name}`;
  }
}

t.test('every read answers as bl does, across chunk edges and after consumes', async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed);
    const ours = shim();
    const theirs = bl() as unknown as ByteList;
    for (let step = 0; step < 60; step++) {
      const op = next(10);
      if (op < 3) {
        const chunk = Buffer.from(Array.from({ length: next(9) }, () => next(256)));
        ours.append(chunk);
        theirs.append(chunk);
      } else if (op === 3) {
        const bytes = next(ours.length + 3) - 1;
        ours.consume(bytes);
        theirs.consume(bytes);
      }
      if (ours.length !== theirs.length) {
        t.fail(`seed ${seed} step ${step}: length ${ours.length}, bl ${theirs.length}`);
        return;
      }
      if (op <= 3) continue;
      // Offsets and bounds from the start of the list to just past its end, as the parser reads.
      const a = next(ours.length + 3);
      const b = a + next(ours.length + 3 - a);
      const calls: [string, (list: ByteList) => unknown][] = [
        [`readUInt8(${a})`, (l) => l.readUInt8(a)],
        [`readUInt16BE(${a})`, (l) => l.readUInt16BE(a)],
        [`readUInt32BE(${a})`, (l) => l.readUInt32BE(a)],
        [`slice(${a}, ${b})`, (l) => l.slice(a, b)],
        [`slice(${a})`, (l) => l.slice(a)],
        [`toString('utf8', ${a}, ${b})`, (l) => l.toString('utf8', a, b)],
      ];
      const [name, call] = calls[op - 4]!;
      const expected = outcome(() => call(theirs));
      const got = outcome(() => call(ours));
      if (got !== expected) {
        t.fail(`seed ${seed} step ${step}: ${name} gave ${String(got)}, bl ${String(expected)}`);
        return;
      }
      checked++;
    }
  }
  t.ok(checked > 5000, `${checked} reads compared`);
});

t.test("mqtt-packet's parser reads the same packets through it, however the stream is cut", async (t) => {
  const packets: Packet[] = [
    { cmd: 'connack', sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 20, topicAliasMaximum: 10 } },
    { cmd: 'suback', messageId: 1, granted: [1, 1, 2, 0x80] },
    ...Array.from({ length: 40 }, (_, i): Packet => {
      const payload = i % 3 === 0 ? Buffer.alloc(300 + i * 37, i) : Buffer.from(JSON.stringify({ action: 'deny', n: i, text: 'é€😀'.repeat(i % 5) }));
      return { cmd: 'publish', topic: `oc2/cmd/device/router-${i}`, payload, qos: (i % 3) as 0 | 1 | 2, messageId: i % 3 ? i + 1 : undefined, retain: false, dup: false, properties: publishProperties(i % 2 ? 'req' : 'rsp', i % 2 ? 'json' : 'cbor') } as Packet;
    }),
    { cmd: 'puback', messageId: 7, reasonCode: 0 },
    { cmd: 'puback', messageId: 8, reasonCode: 0x87, properties: { reasonString: 'not authorized' } },
    { cmd: 'pingresp' },
    { cmd: 'disconnect', reasonCode: 0x8e },
  ];
  const stream = Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 5 })));

  /** Parses `stream` cut into the chunks `cuts` gives, with `list` as the parser's byte list (bl when undefined). */
  function parse(cuts: (below: number) => number, list?: ByteList): unknown[] {
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    if (list) (parser as unknown as { _list: ByteList })._list = list;
    const out: unknown[] = [];
    parser.on('packet', (p) => out.push(p));
    parser.on('error', (e) => out.push(`error ${e.message}`));
    for (let at = 0; at < stream.length; ) {
      const size = 1 + cuts(200);
      parser.parse(stream.subarray(at, at + size));
      at += size;
    }
    return out;
  }

  const reference = parse(() => stream.length);
  t.equal(reference.length, packets.length, 'bl reads every packet');
  for (let seed = 1; seed <= 50; seed++) {
    const got = parse(random(seed), shim());
    t.strictSame(got, reference, `cut by seed ${seed}`);
  }
});

t.test('the bundle carries the shim in place of bl', async (t) => {
  const bundle = readFileSync(BUNDLE, 'utf8');
  t.match(bundle, 'buffer-list: append takes a Buffer', "the shim's code is in the bundle");
  t.notMatch(bundle, '_reverseOffset', "bl's BufferList is not");
});
