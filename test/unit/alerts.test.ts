import t, { type Test } from 'tap';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../agent/log/logger.js';
import { startAlerts, UndeliverableError, type AlertSink, type OutboundMessage } from '../../agent/transports/alerts.js';
import { ManualClock } from '../fixtures/consumer-harness.js';
import { until } from '../helpers/until.js';

/** A sink that fails while `failing` is set, and records what it was given and when. */
class ScriptedSink implements AlertSink {
  readonly name = 'test';
  readonly attempts: OutboundMessage[] = [];
  readonly times: number[] = [];
  readonly delivered: OutboundMessage[] = [];
  failing: Error | undefined;

  constructor(private readonly clock: ManualClock) {}

  /** Time between one attempt and the next. */
  get waits(): number[] {
    return this.times.slice(1).map((time, i) => time - this.times[i]!);
  }

  async deliver(message: OutboundMessage): Promise<void> {
    this.attempts.push(message);
    this.times.push(this.clock.now());
    if (this.failing) throw this.failing;
    this.delivered.push(message);
  }
}

function setup(t: Test, options: { maxQueued?: number; random?: () => number; dir?: string } = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-'));
  if (!options.dir) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const clock = new ManualClock(1_700_000_000_000);
  const sink = new ScriptedSink(clock);
  const alerts = startAlerts({
    dir,
    deviceId: 'edge-1',
    maxQueued: options.maxQueued ?? 10,
    sinks: [sink],
    logger: createLogger({ level: 'debug', format: 'text', write: (_l, line) => lines.push(line) }),
    clock,
    retry: { initialMs: 1_000, maxMs: 16_000 },
    random: options.random ?? (() => 0),
  });
  t.teardown(() => alerts.close());
  return { dir, lines, clock, sink, alerts };
}

const numbers = (messages: OutboundMessage[]): unknown[] => messages.map((m) => (m.content as { i: number }).i);

t.test('retries back off exponentially with jitter, up to the cap', async (t) => {
  for (const [random, expected] of [
    [0, [500, 1000, 2000, 4000, 8000, 8000, 8000]],
    [1, [1000, 2000, 4000, 8000, 16000, 16000, 16000]],
  ] as const) {
    const { sink, clock, alerts } = setup(t, { random: () => random });
    sink.failing = new Error('down');
    alerts.notify({ i: 1 });
    for (let round = 0; round < 20 && sink.times.length <= expected.length; round++) {
      await until(() => clock.timers > 0, 'a retry timer');
      await clock.advance(20_000);
    }
    t.same(sink.waits.slice(0, expected.length), expected, `random ${random}: ${random === 0 ? 'half' : 'all'} of each step`);
  }
});

t.test('after an outage the failure count restarts', async (t) => {
  const { sink, clock, alerts } = setup(t);
  sink.failing = new Error('down');
  alerts.notify({ i: 1 });
  for (let n = 0; n < 3; n++) {
    await until(() => clock.timers > 0, 'a retry timer');
    if (n === 2) sink.failing = undefined;
    await clock.advance(20_000);
  }
  await until(() => sink.delivered.length === 1, 'delivery');
  sink.failing = new Error('down again');
  alerts.notify({ i: 2 });
  await until(() => clock.timers > 0, 'a retry timer');
  const attempts = sink.attempts.length;
  await clock.advance(499);
  t.equal(sink.attempts.length, attempts, 'not before 500 ms');
  await clock.advance(1);
  await until(() => sink.attempts.length === attempts + 1, 'the first retry of the new outage, after the shortest wait');
});

t.test('an UndeliverableError drops the message and moves on', async (t) => {
  const { sink, alerts, lines } = setup(t);
  sink.failing = new UndeliverableError('no');
  alerts.notify({ i: 1 });
  await until(() => sink.attempts.length === 1, 'the attempt');
  sink.failing = undefined;
  alerts.notify({ i: 2 });
  await until(() => sink.delivered.length === 1, 'the second');
  t.same(numbers(sink.delivered), [2]);
  t.match(lines.join('\n'), /alert dropped/);
});

t.test('the queue file empties once everything is delivered, and the sequence goes on after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = setup(t, { dir });
  first.alerts.notify({ i: 1 });
  first.alerts.notify({ i: 2 });
  await until(() => first.sink.delivered.length === 2, 'delivery');
  await first.alerts.close();
  t.equal(readFileSync(join(dir, 'test.jsonl'), 'utf8'), '');
  t.equal(readFileSync(join(dir, 'test.sent'), 'utf8'), '2');
  const second = setup(t, { dir });
  second.sink.failing = new Error('down');
  second.alerts.notify({ i: 3 });
  await until(() => second.clock.timers > 0, 'a retry timer');
  t.match(readFileSync(join(dir, 'test.jsonl'), 'utf8'), /^\{"seq":3,/);
});

t.test('a line cut short by a crash is skipped with a warning; the lines around it are kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const message = (seq: number) => JSON.stringify({ seq, message: { kind: 'notification', headers: { request_id: `r${seq}` }, content: { i: seq } } }) + '\n';
  appendFileSync(join(dir, 'test.jsonl'), message(1) + message(2) + '{"seq":3,"mess' + '\n' + message(4));
  const { sink, lines } = setup(t, { dir });
  await until(() => sink.delivered.length === 3, 'the readable ones');
  t.same(numbers(sink.delivered), [1, 2, 4]);
  t.match(lines.join('\n'), /skipped unreadable lines .*lines=1/);
});

t.test('alerts already past their limit on disk are trimmed at start, oldest first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const message = (seq: number) => JSON.stringify({ seq, message: { kind: 'notification', headers: { request_id: `r${seq}` }, content: { i: seq } } }) + '\n';
  appendFileSync(join(dir, 'test.jsonl'), [1, 2, 3, 4, 5].map(message).join(''));
  const { sink } = setup(t, { dir, maxQueued: 2 });
  await until(() => sink.delivered.length === 2, 'the newest two');
  t.same(numbers(sink.delivered), [4, 5]);
});

t.test('without sinks nothing is written and notify does not throw', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-')), 'alerts');
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  const alerts = startAlerts({ dir, deviceId: 'edge-1', maxQueued: 10, sinks: [], logger: createLogger({ level: 'error', format: 'text', write: () => {} }) });
  alerts.notify({ event: 'agent_started' });
  t.same(alerts.destinations, []);
  t.equal(existsSync(dir), false);
  await alerts.close();
});

t.test('after close no more attempts are made; what is queued stays on disk', async (t) => {
  const { sink, clock, alerts, dir } = setup(t);
  sink.failing = new Error('down');
  alerts.notify({ i: 1 });
  await until(() => clock.timers > 0, 'a retry timer');
  await alerts.close();
  t.equal(clock.timers, 0, 'the retry timer is cancelled');
  alerts.notify({ i: 2 });
  await clock.advance(60_000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(sink.attempts.length, 1);
  t.equal(readFileSync(join(dir, 'test.jsonl'), 'utf8').trim().split('\n').length, 2);
});

t.test('a queue folder that cannot be made stops the start with a message naming it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'openc2-alerts-unit-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  appendFileSync(join(root, 'file'), '');
  const dir = join(root, 'file', 'alerts');
  t.throws(() => startAlerts({ dir, deviceId: 'edge-1', maxQueued: 10, sinks: [new ScriptedSink(new ManualClock(0))], logger: createLogger({ level: 'error', format: 'text', write: () => {} }) }), {
    message: `alerts: cannot create the queue folder ${dir} (ENOTDIR); set stateDir to a writable folder`,
  });
});
