import t from 'tap';
import { LinkState } from '../../agent/transports/mqtt-link.js';
import { startMqttAgent, waitForState } from '../helpers/mqtt-agent.js';
import { Producer } from '../helpers/mqtt-producer.js';
import { startMosquitto } from '../helpers/mosquitto.js';

// MQTT transfer spec 2.5 and 2.9: QoS 1 and a persistent session; the agent acknowledges a
// command only after applying it, and the consumer answers a repeated request id from its
// command_id cache, so a broker restart neither loses a queued command nor applies one twice.

// Mosquitto writes its database at shutdown and, with these lines, whenever a subscription, a
// retained message or a queued message changes: a broker killed outright comes back with the
// sessions and queued messages of its last save, as a production broker set up for QoS 1 would.
// Acknowledgements do not trigger a save, so the agent's latest ones are lost with the broker,
// which then delivers those commands again.
const SAVE_ON_CHANGES = ['autosave_interval 1', 'autosave_on_changes true'];

t.test('broker killed and restarted mid-stream: every queued QoS 1 command is applied exactly once', async (t) => {
  const broker = await startMosquitto({ extra: SAVE_ON_CHANGES });
  t.teardown(() => broker.remove());
  const agent = await startMqttAgent({ settings: { 'mqtt.url': broker.url, deviceId: 'restart' } });
  t.teardown(() => agent.close());
  await waitForState(agent.transport, LinkState.Online);
  const producer = await Producer.connect(broker.url, 'orch-restart', { session: true });
  t.teardown(() => producer.close());

  const deny = (i: number): unknown => ({ action: 'deny', target: { ipv4_net: `198.51.100.${i}/32` } });
  const sent: Promise<string>[] = [];
  for (let i = 0; i < 100; i++) sent.push(producer.send('oc2/cmd/device/restart', deny(i), { encoding: i % 2 ? 'cbor' : 'json', requestId: `cmd-${i}` }));
  // Stop while the first batch is still flowing: some are applied, some acknowledged, some queued.
  await producer.until(() => producer.received.length >= 20, 10_000);
  await broker.stop('SIGKILL');
  await waitForState(agent.transport, LinkState.Backoff);
  // Published while the broker is down: MQTT.js keeps them until it is back.
  for (let i = 100; i < 200; i++) sent.push(producer.send('oc2/cmd/device/restart', deny(i), { encoding: i % 2 ? 'cbor' : 'json', requestId: `cmd-${i}` }));
  await new Promise((r) => setTimeout(r, 300));
  await broker.start();
  await waitForState(agent.transport, LinkState.Online, 15_000);
  const ids = await Promise.all(sent);
  await producer.until(() => ids.every((id) => producer.responsesTo(id).length > 0), 20_000);

  t.same(ids.filter((id) => agent.applied(id) === 0), [], 'every command reached the consumer');
  t.equal(agent.dataplane.rules.length, 200, 'one rule per command: none lost, none applied twice');
  t.ok(agent.transport.stats.reconnects >= 1, 'the agent reconnected');
  t.ok(ids.every((id) => producer.responsesTo(id).every((r) => (r.message.body.openc2.response as { status: number }).status === 200)), 'every response is 200');
  // The broker's last save predates some of the agent's acknowledgements: those commands come again.
  const redeliveries = agent.handled.length - ids.length;
  t.ok(redeliveries > 0, `the broker delivered some commands again (${redeliveries}), and they were answered without being applied`);
});

t.test('commands sent while the agent is away wait in its session, through a broker restart, and are applied once each', async (t) => {
  const broker = await startMosquitto({ extra: SAVE_ON_CHANGES });
  t.teardown(() => broker.remove());
  const settings = { 'mqtt.url': broker.url, deviceId: 'away', 'mqtt.presence': false };
  const before = await startMqttAgent({ settings });
  await waitForState(before.transport, LinkState.Online);
  await before.close();
  const producer = await Producer.connect(broker.url, 'orch-away', { session: true });
  t.teardown(() => producer.close());

  // No agent is connected: only the session the agent left behind (clean start off, expiry a day) holds these.
  const ids = await Promise.all(
    Array.from({ length: 50 }, (_, i) => producer.send('oc2/cmd/device/away', { action: 'deny', target: { ipv4_net: `203.0.113.${i}/32` } }, { encoding: i % 2 ? 'cbor' : 'json', requestId: `away-${i}` })),
  );
  await new Promise((r) => setTimeout(r, 200));
  t.same(producer.received, [], 'nothing answered while the agent is away');
  await broker.stop('SIGKILL');
  await broker.start();

  const after = await startMqttAgent({ settings });
  t.teardown(() => after.close());
  await waitForState(after.transport, LinkState.Online, 15_000);
  await producer.until(() => ids.every((id) => producer.responsesTo(id).length > 0), 20_000);
  t.same(ids.filter((id) => after.applied(id) !== 1), [], 'each command queued in the session reached the consumer once');
  t.equal(after.dataplane.rules.length, 50, 'one rule per command');
});
