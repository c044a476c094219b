import t from 'tap';
import { MAX_TIMER_DELAY } from '../../agent/rules/clock.js';
import { Schedule } from '../../agent/rules/schedule.js';
import { ManualClock } from '../fixtures/consumer-harness.js';

t.test('one timer, events fire in time order', async (t) => {
  const clock = new ManualClock(1000);
  const fired: number[] = [];
  const schedule = new Schedule(clock, (n) => fired.push(n));
  for (const [n, at] of [[3, 4000], [1, 2000], [2, 3000], [4, 3000]] as const) schedule.add(n, at);
  t.equal(clock.timers, 1, 'one timer for four events');
  await clock.advance(1500);
  t.same(fired, [1], 'at 2500 only the 2000 event');
  await clock.advance(1000);
  t.same(fired.sort(), [1, 2, 4]);
  await clock.advance(1000);
  t.same(fired.length, 4);
  t.equal(clock.timers, 0);
});

t.test('an event further than setTimeout can wait re-arms instead of firing early', async (t) => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const schedule = new Schedule(clock, (n) => fired.push(n));
  schedule.add(1, MAX_TIMER_DELAY + 10);
  await clock.advance(MAX_TIMER_DELAY);
  t.same(fired, [], 'not yet');
  t.equal(clock.timers, 1, 're-armed');
  await clock.advance(10);
  t.same(fired, [1]);
});

t.test('an earlier event re-arms the timer; stop cancels it', async (t) => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const schedule = new Schedule(clock, (n) => fired.push(n));
  schedule.add(1, 5000);
  schedule.add(2, 1000);
  await clock.advance(1000);
  t.same(fired, [2]);
  schedule.stop();
  await clock.advance(10_000);
  t.same(fired, [2], 'stopped');
});
