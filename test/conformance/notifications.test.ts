import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../agent/config/config.js';
import { startConsumer } from '../../agent/consumer/consumer.js';
import { SimDataplane } from '../../agent/dataplane/sim-dataplane.js';
import { ManualClock, quietLogger, TEST_EPOCH } from '../fixtures/consumer-harness.js';

async function consumerWith(t: { teardown(fn: () => unknown): void }, config: Partial<AgentConfig>) {
  const root = await mkdtemp(join(tmpdir(), 'openc2-notify-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const clock = new ManualClock(TEST_EPOCH);
  const notifications: Record<string, unknown>[] = [];
  const dataplane = new SimDataplane();
  const consumer = await startConsumer({
    config: { deviceId: 'edge-1', profiles: ['pf', 'slpf'], namedGroups: [], stateDir: join(root, 'state'), runDir: join(root, 'run'), ...config } as AgentConfig,
    dataplane,
    logger: quietLogger(),
    clock,
    notify: (n) => notifications.push(n),
  });
  t.teardown(() => consumer.close());
  return { consumer, clock, notifications, dataplane };
}

t.test('a rule that starts later and one that expires are reported to the orchestrator', async (t) => {
  const { consumer, clock, notifications, dataplane } = await consumerWith(t, {});
  const later = await consumer.handle({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { start_time: TEST_EPOCH + 1000, duration: 5000 } }, { transport: 'mqtt' });
  t.equal(later?.status, 200);
  t.same(notifications, [], 'nothing happens before start_time');
  await clock.advance(1000);
  t.same(notifications, [{ event: 'rule_started', rule: 1 }]);
  t.equal(dataplane.rules.length, 1);
  await clock.advance(5000);
  t.same(notifications, [{ event: 'rule_started', rule: 1 }, { event: 'rule_expired', rule: 1 }]);
  t.equal(dataplane.rules.length, 0, 'the expired rule left the dataplane');
});

t.test('a command naming a configured named_group is ours; another group is not', async (t) => {
  const { consumer, dataplane } = await consumerWith(t, { namedGroups: ['perimeter'] });
  const ours = await consumer.handle({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, actuator: { pf: { named_group: 'perimeter' } } }, { transport: 'mqtt' });
  t.equal(ours?.status, 200);
  const theirs = await consumer.handle({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' }, actuator: { pf: { named_group: 'core' } } }, { transport: 'mqtt' });
  t.equal(theirs, undefined, 'another actuator\'s command gets no answer');
  t.equal(dataplane.rules.length, 1);
});
