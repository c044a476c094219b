import t from 'tap';
import { LinkState } from '../../agent/transports/mqtt-link.js';
import { startMqttAgent, waitForState } from '../helpers/mqtt-agent.js';
import { Producer } from '../helpers/mqtt-producer.js';
import { startMosquitto } from '../helpers/mosquitto.js';

// MQTT transfer spec 2.5 and 2.9: QoS 1 and a persistent session; the agent acknowledges a
// command only after applying it, and the consumer answers a repeated request id from its
// command_id cache, so a broker restart neither loses a queued command nor applies one twice.

t.test('broker stopped and restarted mid-stream: every queued QoS 1 command is applied exactly once', async (t) => {
  const broker = await startMosquitto();
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
  await broker.stop('SIGTERM');
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
  t.comment(`redeliveries answered without applying: ${agent.handled.length - ids.length}`);
});
