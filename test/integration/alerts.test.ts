import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../agent/log/logger.js';
import { createHttpsSink, startAlerts, type Alerts, type HttpsSinkOptions } from '../../agent/transports/alerts.js';
import { createPki } from '../helpers/certs.js';
import { answerEmpty, Orchestrator } from '../helpers/orchestrator.js';
import { ManualClock } from '../fixtures/consumer-harness.js';
import { until } from '../helpers/until.js';

// Alerts to a test orchestrator: a real HTTPS server with mutual TLS on a loopback
// port, which goes down and comes back on the same port.

const pki = createPki('openc2-fleet-ca');
t.teardown(() => pki.remove());
const agentCert = pki.issue('edge-1', 'client');

async function setup(t: Test, options: { maxQueued?: number; sink?: Partial<HttpsSinkOptions>; dir?: string } = {}) {
  const orchestrator = new Orchestrator(pki);
  await orchestrator.up();
  t.teardown(() => orchestrator.down());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'openc2-alerts-'));
  if (!options.dir) t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'text', write: (_l, line) => lines.push(line) });
  const clock = new ManualClock(1_700_000_000_000);
  const open = (): Alerts => {
    const alerts = startAlerts({
      dir,
      deviceId: 'edge-1',
      maxQueued: options.maxQueued ?? 100,
      sinks: [createHttpsSink({ url: orchestrator.url, certFile: agentCert.certFile, keyFile: agentCert.keyFile, caFile: pki.ca.certFile, timeoutMs: 2_000, logger, ...options.sink })],
      logger,
      clock,
      retry: { initialMs: 1_000, maxMs: 8_000 },
      random: () => 0.5,
    });
    t.teardown(() => alerts.close());
    return alerts;
  };
  return { orchestrator, dir, lines, clock, open };
}

/** Fires retry timers until `check` holds: each round waits for the loop to be asleep, then wakes it. */
async function retryUntil(clock: ManualClock, check: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 50 && !check(); round++) {
    await until(() => clock.timers > 0 || check(), `a retry timer (${what})`);
    await clock.advance(10_000);
  }
  await until(check, what);
}

t.test('alerts reach the orchestrator over mutual TLS as OpenC2 notifications, in order', async (t) => {
  const { orchestrator, open } = await setup(t);
  const alerts = open();
  for (let i = 1; i <= 3; i++) alerts.notify({ event: 'rule_expired', rule_number: i });
  await until(() => orchestrator.received.length === 3, 'three alerts');
  t.same(orchestrator.notifications, [1, 2, 3].map((i) => ({ event: 'rule_expired', rule_number: i })));
  const [first] = orchestrator.received;
  t.equal(first!.client, 'edge-1', 'the agent showed its client certificate');
  t.equal(first!.headers['content-type'], 'application/openc2+json;version=1.0');
  t.equal(first!.headers['x-request-id'], first!.message.headers.request_id);
  t.equal(first!.message.headers.from, 'edge-1');
  t.type(first!.message.headers.created, 'number');
  t.equal(new Set(orchestrator.received.map((r) => r.message.headers.request_id)).size, 3, 'each alert has its own request_id');
});

t.test('while the orchestrator is down alerts wait; when it is back each arrives once, in order', async (t) => {
  const { orchestrator, clock, lines, open } = await setup(t);
  const alerts = open();
  alerts.notify({ event: 'n', i: 1 });
  await until(() => orchestrator.received.length === 1, 'the first alert');
  await orchestrator.down();
  for (let i = 2; i <= 5; i++) alerts.notify({ event: 'n', i });
  // A few failed rounds while it is down.
  for (let round = 0; round < 3; round++) {
    await until(() => clock.timers > 0, 'a retry timer');
    await clock.advance(10_000);
  }
  t.equal(orchestrator.received.length, 1, 'nothing arrives while it is down');
  t.equal(lines.filter((l) => /WARN .*alert destination unreachable/.test(l)).length, 1, 'one warning per outage');
  await orchestrator.up();
  await retryUntil(clock, () => orchestrator.received.length >= 5, 'all five alerts');
  t.same(orchestrator.notifications.map((n: any) => n.i), [1, 2, 3, 4, 5]);
  t.match(lines.join('\n'), /alert destination reachable again/);
});

t.test('alerts queued while the orchestrator is down survive an agent restart', async (t) => {
  const { orchestrator, clock, open } = await setup(t);
  await orchestrator.down();
  const before = open();
  before.notify({ event: 'n', i: 1 });
  before.notify({ event: 'n', i: 2 });
  await until(() => clock.timers > 0, 'the first retry timer');
  await before.close();
  const after = open();
  after.notify({ event: 'n', i: 3 });
  await orchestrator.up();
  await retryUntil(clock, () => orchestrator.received.length >= 3, 'three alerts');
  t.same(orchestrator.notifications.map((n: any) => n.i), [1, 2, 3]);
});

t.test('the queue is bounded: beyond maxQueued the oldest alerts are dropped, with a warning', async (t) => {
  const { orchestrator, clock, lines, open } = await setup(t, { maxQueued: 2 });
  await orchestrator.down();
  const alerts = open();
  for (let i = 1; i <= 5; i++) alerts.notify({ event: 'n', i });
  await orchestrator.up();
  await retryUntil(clock, () => orchestrator.received.length >= 2, 'two alerts');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(orchestrator.notifications.map((n: any) => n.i), [4, 5]);
  t.match(lines.join('\n'), /alert queue full: dropping the oldest/);
  t.match(lines.join('\n'), /alert queue drained; alerts were dropped while it was full .*dropped=3/);
});

t.test('an alert the orchestrator refuses with 400 is dropped and the next one still goes', async (t) => {
  const { orchestrator, lines, open } = await setup(t);
  orchestrator.answer = (message, res) => {
    const bad = message.body.openc2.notification.i === 1;
    res.writeHead(bad ? 400 : 200, { 'content-type': 'application/json' });
    res.end(bad ? '{"status":400,"status_text":"unknown event"}' : '{}');
  };
  const alerts = open();
  alerts.notify({ event: 'n', i: 1 });
  alerts.notify({ event: 'n', i: 2 });
  await until(() => orchestrator.received.length === 2, 'both attempts');
  t.same(orchestrator.notifications.map((n: any) => n.i), [1, 2]);
  t.match(lines.join('\n'), /alert dropped: the destination refuses it .*unknown event/);
});

t.test('a redirect is never followed (RFC 6546 section 3): the alert stays queued and is retried', async (t) => {
  const { orchestrator, clock, lines, open } = await setup(t);
  const elsewhere = new Orchestrator(pki);
  await elsewhere.up();
  t.teardown(() => elsewhere.down());
  orchestrator.answer = (_m, res) => {
    res.writeHead(307, { location: elsewhere.url });
    res.end();
  };
  const alerts = open();
  alerts.notify({ event: 'n', i: 1 });
  await until(() => clock.timers > 0, 'a retry timer');
  t.equal(elsewhere.received.length, 0, 'the redirect target saw nothing');
  t.match(lines.join('\n'), /answered 307 to https:\/\/127\.0\.0\.1:\d+\/; redirects are not followed/);
  orchestrator.answer = answerEmpty;
  await retryUntil(clock, () => orchestrator.received.length >= 2, 'the retry');
  t.equal(elsewhere.received.length, 0);
  t.same(orchestrator.notifications.map((n: any) => n.i), [1, 1]);
});

t.test('an agent without a client certificate is refused by the orchestrator; its alerts wait', async (t) => {
  const { orchestrator, clock, lines, open } = await setup(t, { sink: { certFile: undefined, keyFile: undefined } });
  const alerts = open();
  alerts.notify({ event: 'n', i: 1 });
  await until(() => clock.timers > 0, 'a retry timer');
  t.equal(orchestrator.received.length, 0);
  t.match(lines.join('\n'), /alert destination unreachable/);
});

t.test('a delayed command response goes to the orchestrator as an OpenC2 response with its request_id', async (t) => {
  const { orchestrator, open } = await setup(t);
  const alerts = open();
  t.same(alerts.destinations, ['https']);
  alerts.respond({ status: 200, status_text: 'applied' }, { request_id: 'long-1', to: ['producer-1'] });
  await until(() => orchestrator.received.length === 1, 'the response');
  const { message } = orchestrator.received[0]!;
  t.same(message.body, { openc2: { response: { status: 200, status_text: 'applied' } } });
  t.equal(message.headers.request_id, 'long-1');
  t.same(message.headers.to, ['producer-1']);
  t.equal(message.headers.from, 'edge-1');
});

t.test('closing while the orchestrator hangs on an alert takes the grace time, not the request timeout; the alert stays queued', async (t) => {
  const { orchestrator, dir, open } = await setup(t, { sink: { timeoutMs: 30_000 } });
  orchestrator.answer = () => {};
  const alerts = open();
  alerts.notify({ event: 'n', i: 1 });
  await until(() => orchestrator.received.length === 1, 'the attempt');
  const started = Date.now();
  await alerts.close();
  const took = Date.now() - started;
  t.ok(took >= 1_500 && took < 5_000, `closed after ${took} ms`);
  t.match(readFileSync(join(dir, 'https.jsonl'), 'utf8'), /"i":1/);
});
