import t from 'tap';
import { backoffDelay, every, LinkState, MqttLink } from '../../agent/transports/mqtt-link.js';
import { createLogger } from '../../agent/log/logger.js';
import { ManualClock, settle } from '../fixtures/consumer-harness.js';
import { freePort } from '../helpers/mosquitto.js';

t.test('backoff doubles from the initial delay up to the cap, with half of each delay random', async (t) => {
  const options = { initialMs: 500, maxMs: 60_000 };
  t.same([0, 1, 2, 3].map((n) => backoffDelay(n, options, 0)), [250, 500, 1000, 2000]);
  t.same([0, 1, 2, 3].map((n) => backoffDelay(n, options, 0.999999)), [500, 1000, 2000, 4000]);
  t.equal(backoffDelay(20, options, 0), 30_000);
  t.equal(backoffDelay(1000, options, 0.999999), 60_000, 'huge attempt counts stay at the cap');
});

t.test('every() repeats on the injected clock until cancelled', async (t) => {
  const clock = new ManualClock(0);
  let ticks = 0;
  const stop = every(clock, 100, () => ticks++);
  await clock.advance(350);
  t.equal(ticks, 3);
  stop();
  await clock.advance(1000);
  t.equal(ticks, 3);
  t.equal(clock.timers, 0);
});

t.test('a refused connection backs off, and the reconnect waits for the injected clock', async (t) => {
  const port = await freePort();
  const clock = new ManualClock(0);
  const states: LinkState[] = [];
  const link = new MqttLink({
    name: 'test',
    url: `mqtt://127.0.0.1:${port}`,
    client: { protocolVersion: 5, clientId: 'backoff-test', connectTimeout: 2000 },
    clock,
    backoff: { initialMs: 1000, maxMs: 8000 },
    random: () => 0,
    logger: createLogger({ level: 'error', format: 'json', write: () => {} }),
    online: async () => {},
  });
  t.teardown(() => link.close(10));
  link.onState((s) => states.push(s));
  link.start();
  const deadline = Date.now() + 5000;
  while (link.state !== LinkState.Backoff && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(link.state, LinkState.Backoff);
  await clock.advance(499);
  t.equal(link.state, LinkState.Backoff, 'no reconnect before the delay (500 ms with random 0)');
  await clock.advance(1);
  t.same(states.slice(0, 3), [LinkState.Connecting, LinkState.Backoff, LinkState.Connecting]);
  while (link.state !== LinkState.Backoff && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await clock.advance(999);
  t.equal(link.state, LinkState.Backoff, 'the second delay doubles');
  await clock.advance(1);
  await settle();
  t.equal(states.filter((s) => s === LinkState.Connecting).length, 3, 'the third attempt started');
});
