import t from 'tap';
import { LinkState } from '../../agent/transports/mqtt-link.js';
import { loadFixture, mismatches } from '../fixtures/commands.js';
import { ManualClock, startAgent } from '../fixtures/consumer-harness.js';
import { startMqttAgent, waitForState } from '../helpers/mqtt-agent.js';
import { Producer } from '../helpers/mqtt-producer.js';
import { startMosquitto } from '../helpers/mosquitto.js';

// The shared command fixtures (PF Appendix E, SLPF Annex A, bad input) over MQTT into the real
// consumer: the same cases the HTTP and consumer suites run. Each case gets a fresh agent on
// its own device topic; the examples run in JSON and CBOR, the bad input in JSON.

const broker = await startMosquitto();
t.teardown(() => broker.remove());
const producer = await Producer.connect(broker.url, 'fixtures');
t.teardown(() => producer.close());
let serial = 0;

for (const file of ['pf-appendix-e', 'slpf-annex-a', 'bad-input']) {
  const fixture = loadFixture(file);
  const encodings = file === 'bad-input' ? (['json'] as const) : (['json', 'cbor'] as const);
  t.test(file, async (t) => {
    for (const example of fixture.cases) {
      for (const encoding of encodings) {
        t.test(`${example.name} (${encoding})`, async (t) => {
          const n = ++serial;
          const agent = await startAgent(t.teardown, { deviceId: fixture.agent.deviceId }, { namedGroups: [...fixture.agent.namedGroups], clock: new ManualClock(fixture.agent.now) });
          // A client id per case, no session kept: nothing of one case can reach the next.
          const mqtt = await startMqttAgent({
            settings: { 'mqtt.url': broker.url, deviceId: fixture.agent.deviceId, 'mqtt.clientId': `fx-${n}`, 'mqtt.sessionExpirySeconds': '0', 'mqtt.presence': false },
            handler: agent.consumer,
            logLevel: 'error',
          });
          t.teardown(() => mqtt.close());
          await waitForState(mqtt.transport, LinkState.Online);
          const topic = `oc2/cmd/device/${fixture.agent.deviceId}`;
          const send = async (command: unknown, requestId: string) => {
            await producer.send(topic, command, { encoding, requestId });
            // A query behind it proves the command was processed before we look for its answer.
            const marker = await producer.send(topic, { action: 'query', target: { features: [] } }, { requestId: `${requestId}-marker` });
            await producer.response(marker);
            const answers = producer.responsesTo(requestId);
            t.ok(answers.length <= 1, 'at most one response');
            if (answers[0]) t.equal(answers[0].encoding, encoding, 'answered in the encoding of the request');
            return answers[0]?.message.body.openc2.response as Parameters<typeof mismatches>[0];
          };
          for (const [i, setup] of (example.setup ?? []).entries()) {
            const response = await send(setup, `fx-${n}-setup-${i}`);
            t.equal(response?.status, 200, `setup ${i} succeeds: ${JSON.stringify(response)}`);
          }
          const response = await send(example.command, `fx-${n}`);
          t.same(mismatches(response, example.expect), [], JSON.stringify(response));
        });
      }
    }
  });
}
