import t from 'tap';
import type { OpenC2Response } from '../../agent/consumer/consumer.js';
import { ReplayCache } from '../../agent/consumer/replay.js';

const ok: Promise<OpenC2Response> = Promise.resolve({ status: 200 });

t.test('replay cache answers a repeated command_id and tells whether the command is the same', async (t) => {
  const cache = new ReplayCache(4);
  cache.remember('a', { action: 'deny', target: { ipv4_net: '192.0.2.0/24' } }, ok);
  t.equal(cache.get('a', { target: { ipv4_net: '192.0.2.0/24' }, action: 'deny' })?.same, true, 'key order does not matter');
  t.equal(cache.get('a', { action: 'deny', target: { ipv4_net: '198.51.100.0/24' } })?.same, false);
  t.equal(cache.get('b', {}), undefined);
});

t.test('replay cache forgets the oldest command once more than its capacity are remembered', async (t) => {
  const cache = new ReplayCache(3);
  for (const id of ['a', 'b', 'c', 'd']) cache.remember(id, {}, ok);
  t.equal(cache.get('a', {}), undefined);
  t.ok(cache.get('b', {}) && cache.get('c', {}) && cache.get('d', {}));
});

t.test('replay cache forgets a 5xx answer, and the retry stays remembered past its first slot', async (t) => {
  const cache = new ReplayCache(2);
  cache.remember('a', {}, Promise.resolve({ status: 503 }));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(cache.get('a', {}), undefined, 'a failure of the consumer may succeed on retry');
  cache.remember('a', {}, ok);
  // The next remember overwrites the ring slot of the first, failed, 'a'; the retry keeps its own.
  cache.remember('b', {}, ok);
  t.ok(cache.get('a', {}), 'the retried command is still answered from the cache');
});
