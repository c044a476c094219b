import nacl from 'tweetnacl';
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { encodeMessage } from '../../agent/codec/codec.js';
import { createLogger } from '../../agent/log/logger.js';
import { LinkState, MqttLink } from '../../agent/transports/mqtt-link.js';
import { ManualClock } from '../fixtures/consumer-harness.js';
import { publishProperties } from '../../agent/transports/mqtt-topics.js';
import { createPki } from '../helpers/certs.js';
import { startMqttAgent, waitForState, type MqttAgent, type MqttAgentOptions } from '../helpers/mqtt-agent.js';
import { Producer } from '../helpers/mqtt-producer.js';
import { startMosquitto, type BrokerOptions } from '../helpers/mosquitto.js';

// One broker with plain, TLS and mutual-TLS listeners serves every test but the restart test.
const pki = createPki();
t.teardown(() => pki.remove());
const broker = await startMosquitto({ pki });
t.teardown(() => broker.remove());

async function agent(t: Test, settings: MqttAgentOptions['settings'], rest: Omit<MqttAgentOptions, 'settings'> = {}): Promise<MqttAgent> {
  const started = await startMqttAgent({ settings: { 'mqtt.url': broker.url, ...settings }, ...rest });
  t.teardown(() => started.close());
  await waitForState(started.transport, LinkState.Online);
  return started;
}

async function producer(t: Test, id: string, url = broker.url): Promise<Producer> {
  const p = await Producer.connect(url, id);
  t.teardown(() => p.close());
  return p;
}

const QUERY = { action: 'query', target: { features: ['versions', 'profiles'] } };
const DENY = { action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { response_requested: 'complete' } };
const ALLOW = { action: 'allow', target: { ipv4_connection: { protocol: 'tcp', dst_addr: '203.0.113.0/24', dst_port: 443 } } };

for (const encoding of ['json', 'cbor'] as const) {
  t.test(`${encoding}: allow, deny, query and delete round trip, answered in ${encoding} on oc2/rsp/<producer>`, async (t) => {
    const a = await agent(t, { deviceId: `rt-${encoding}` });
    const p = await producer(t, `orch-${encoding}`);
    const deny = await p.response(await p.send(`oc2/cmd/device/rt-${encoding}`, DENY, { encoding }));
    t.equal(deny.topic, `oc2/rsp/orch-${encoding}`);
    t.equal(deny.encoding, encoding);
    t.same(deny.properties, { payloadFormatIndicator: encoding === 'json', contentType: 'application/openc2', userProperties: { msgType: 'rsp', encoding } });
    t.match(deny.message.headers, { from: `rt-${encoding}`, to: [`orch-${encoding}`] });
    const denied = deny.message.body.openc2.response as { status: number; results: { pf: { rule_number: number } } };
    t.equal(denied.status, 200);
    const allow = (await p.response(await p.send('oc2/cmd/ap/pf', ALLOW, { encoding }))).message.body.openc2.response as { status: number };
    t.equal(allow.status, 200);
    t.equal(a.dataplane.rules.length, 2, 'both rules reached the dataplane');
    const query = (await p.response(await p.send('oc2/cmd/all', QUERY, { encoding }))).message.body.openc2.response as { status: number; results: { profiles: string[] } };
    t.same(query, { status: 200, results: { versions: ['1.0'], profiles: ['pf', 'slpf'] } });
    const del = { action: 'delete', target: { pf: { rule_number: denied.results.pf.rule_number } } };
    const deleted = (await p.response(await p.send('oc2/cmd/ap/pf', del, { encoding }))).message.body.openc2.response as { status: number };
    t.equal(deleted.status, 200);
    t.equal(a.dataplane.rules.length, 1, 'the deleted rule left the dataplane');
  });
}

t.test('the same command decodes identically from JSON and CBOR', async (t) => {
  const a = await agent(t, { deviceId: 'same' });
  const p = await producer(t, 'orch-same');
  const command = { action: 'deny', target: { ipv6_connection: { protocol: 'udp', src_addr: '2001:db8::/32', src_port: 53 } }, args: { duration: 60000, pf: { direction: 'ingress' } } };
  await p.response(await p.send('oc2/cmd/device/same', command, { encoding: 'json' }));
  await p.response(await p.send('oc2/cmd/device/same', command, { encoding: 'cbor' }));
  t.equal(a.handled.length, 2);
  t.same(a.handled[0]!.command, a.handled[1]!.command);
  t.same(a.handled[1]!.command, command);
});

t.test('a command on oc2/cmd/all reaches every agent; each answers', async (t) => {
  const agents = await Promise.all(['fan-1', 'fan-2', 'fan-3'].map((id) => agent(t, { deviceId: id })));
  const p = await producer(t, 'orch-fan');
  const id = await p.send('oc2/cmd/all', QUERY);
  await p.until(() => p.responsesTo(id).length === 3);
  t.same(p.responsesTo(id).map((r) => r.message.headers.from).sort(), ['fan-1', 'fan-2', 'fan-3']);
  for (const a of agents) t.equal(a.applied(id), 1);
});

t.test('device topics and `to` isolate devices: a command for another device is not applied', async (t) => {
  const mine = await agent(t, { deviceId: 'iso-a' });
  const other = await agent(t, { deviceId: 'iso-b', profiles: 'slpf' });
  const p = await producer(t, 'orch-iso');
  const direct = await p.send('oc2/cmd/device/iso-a', DENY);
  const addressed = await p.send('oc2/cmd/all', DENY, { headers: { to: ['iso-a'] } });
  const pfOnly = await p.send('oc2/cmd/ap/pf', ALLOW);
  await p.until(() => [direct, addressed, pfOnly].every((id) => p.responsesTo(id).length === 1));
  // A round trip on the other agent proves its earlier messages were processed, not pending.
  await p.response(await p.send('oc2/cmd/device/iso-b', QUERY));
  t.equal(mine.dataplane.rules.length, 3);
  t.equal(other.dataplane.rules.length, 0);
  t.same(other.handled.map((h) => (h.command as { action: string }).action), ['query'], 'iso-b saw only its own query');
  t.same([direct, addressed, pfOnly].map((id) => p.responsesTo(id)[0]!.message.headers.from), ['iso-a', 'iso-a', 'iso-a']);
});

t.test('a repeated request id is applied once and answered again with the first response', async (t) => {
  const a = await agent(t, { deviceId: 'dup' });
  const p = await producer(t, 'orch-dup');
  const id = await p.send('oc2/cmd/device/dup', DENY);
  await p.send('oc2/cmd/device/dup', DENY, { requestId: id });
  await p.until(() => p.responsesTo(id).length === 2);
  t.equal(a.dataplane.rules.length, 1, 'one rule');
  t.same(p.responsesTo(id)[1]!.message.body, p.responsesTo(id)[0]!.message.body, 'the same answer twice');
});

t.test('a burst of pipelined commands is applied in arrival order: rule numbers and responses follow the publishes', async (t) => {
  const a = await agent(t, { deviceId: 'burst' });
  const p = await producer(t, 'orch-burst');
  // More than the agent takes in one turn and more than its receive window, published without waiting.
  const denies = Array.from({ length: 100 }, (_, i) => ({ action: 'deny', target: { ipv4_net: `198.51.100.${i}/32` } }));
  const ids = await Promise.all(denies.map((deny) => p.send('oc2/cmd/device/burst', deny)));
  await p.until(() => ids.every((id) => p.responsesTo(id).length > 0), 10_000);
  const numbers = ids.map((id) => (p.responsesTo(id)[0]!.message.body as { openc2: { response: { status: number; results?: { pf?: { rule_number?: number } } } } }).openc2.response);
  t.ok(numbers.every((r) => r.status === 200), 'every command answered 200');
  const ruleNumbers = numbers.map((r) => r.results?.pf?.rule_number);
  t.same(ruleNumbers, [...ruleNumbers].sort((x, y) => x! - y!), 'rule numbers ascend in publish order');
  t.equal(new Set(ruleNumbers).size, 100, 'one rule per command');
  const answered = p.received.map((m) => m.message.headers.request_id).filter((id) => ids.includes(id as string));
  t.same(answered, ids, 'responses arrive in publish order, each once');
  t.equal(a.dataplane.rules.length, 100, 'all 100 rules in the dataplane');
});

t.test('bad frames get an error response or a log line, and the agent keeps serving', async (t) => {
  const a = await agent(t, { deviceId: 'bad', 'limits.maxMessageBytes': '2048' });
  const p = await producer(t, 'orch-bad');
  const topic = 'oc2/cmd/device/bad';
  const status = async (id: string): Promise<{ status: number; status_text: string }> => (await p.response(id)).message.body.openc2.response as { status: number; status_text: string };

  await p.send(topic, QUERY, { payload: Buffer.from('{not json') });
  await p.send(topic, QUERY, { encoding: 'cbor', payload: Buffer.from([0xff, 0xfe, 0x00]) });
  await p.send(topic, QUERY, { payload: Buffer.from(JSON.stringify({ headers: { request_id: 'big', from: 'orch-bad' }, body: { openc2: { request: { action: 'query', target: { features: [] }, pad: 'x'.repeat(4096) } } } })) });
  const wrongType = await p.send(topic, QUERY, { properties: { ...publishProperties('req', 'json'), contentType: 'application/json' } });
  t.match(await status(wrongType), { status: 400, status_text: /Content Type "application\/json" is not application\/openc2/ });
  const noEncoding = await p.send(topic, QUERY, { properties: { contentType: 'application/openc2', userProperties: { msgType: 'req' } } });
  t.match(await status(noEncoding), { status: 400, status_text: /encoding is missing/ });
  const noBody = 'no-body';
  await p.send(topic, QUERY, { payload: Buffer.from(JSON.stringify({ headers: { request_id: noBody, from: 'orch-bad' } })) });
  t.match(await status(noBody), { status: 400, status_text: /body/ });
  const wrongTo = await p.send(topic, QUERY, { headers: { to: ['someone-else'] } });
  t.match(await status(wrongTo), { status: 400, status_text: /headers.to/ });
  // A response published on a command topic is never answered (two consumers would loop).
  await p.client.publishAsync(topic, Buffer.from(encodeMessage({ headers: { request_id: 'rsp', from: 'x' }, body: { openc2: { response: { status: 200 } } } }, 'json')), { qos: 1, properties: publishProperties('rsp', 'json') });

  const good = await p.send(topic, QUERY);
  t.equal((await status(good)).status, 200, 'still serving after bad frames');
  t.equal(a.handled.length, 1, 'only the good command reached the consumer');
  t.equal(p.responsesTo('rsp').length, 0);
  t.equal(p.responsesTo('big').length, 0, 'an oversize frame is not parsed, so not answered');
  const logged = a.log.join('\n');
  t.match(logged, /not valid JSON/);
  t.match(logged, /not valid CBOR/);
  t.match(logged, /over the 2048 byte limit/);
  t.match(logged, /not a request; ignored/);
  t.equal(a.transport.state, LinkState.Online);
});

t.test('signed commands: JWS and COSE verify, tampering and unknown keys get 401, a replay is not applied', async (t) => {
  const orch = nacl.sign.keyPair();
  const stranger = nacl.sign.keyPair();
  const a = await agent(t, { deviceId: 'signed', 'signing.required': true, 'signing.trustedKeys': `orch-sig=${Buffer.from(orch.publicKey).toString('base64')}` });
  const p = await producer(t, 'orch-sig');
  const topic = 'oc2/cmd/device/signed';
  const status = async (id: string): Promise<number> => ((await p.response(id)).message.body.openc2.response as { status: number }).status;
  for (const encoding of ['json', 'cbor'] as const) {
    t.equal(await status(await p.send(topic, DENY, { encoding, sign: orch.secretKey })), 200, `${encoding} signed by a trusted key`);
    t.equal(await status(await p.send(topic, DENY, { encoding, sign: stranger.secretKey })), 401, `${encoding} signed by another key`);
    t.equal(await status(await p.send(topic, DENY, { encoding })), 401, `${encoding} unsigned while signing is required`);
    t.equal(await status(await p.send(topic, DENY, { encoding, sign: orch.secretKey, headers: { created: Date.now() - 3_600_000 } })), 401, `${encoding} created an hour ago`);
  }
  // Tampering: sign one command, send another under the same signature.
  const { signEnvelope } = await import('../../agent/codec/signing.js');
  const signed = signEnvelope({ headers: { request_id: 'tampered', created: Date.now(), from: 'orch-sig' }, body: { openc2: { request: DENY } } }, 'json', orch.secretKey);
  const forged = { ...signed, body: { openc2: { request: ALLOW } } };
  await p.send(topic, ALLOW, { payload: encodeMessage(forged, 'json') });
  t.equal(await status('tampered'), 401);
  // Replay: the same signed bytes again are answered from the consumer's command_id cache, not applied again.
  const replayed = encodeMessage(signEnvelope({ headers: { request_id: 'replayed', created: Date.now(), from: 'orch-sig' }, body: { openc2: { request: ALLOW } } }, 'json', orch.secretKey), 'json');
  await p.send(topic, ALLOW, { payload: replayed });
  await p.send(topic, ALLOW, { payload: replayed });
  await p.until(() => p.responsesTo('replayed').length === 2);
  t.equal(a.dataplane.rules.length, 3, 'two signed denies and one allow');
});

t.test('health: a notification at connect and on the interval, framed as msgType ntf', async (t) => {
  const p = await producer(t, 'orch-health');
  await agent(t, { deviceId: 'healthy', 'mqtt.healthIntervalSeconds': '1' });
  await p.until((r) => r.filter((m) => m.message.headers.from === 'healthy').length >= 2, 5000);
  const health = p.received.filter((m) => m.message.headers.from === 'healthy');
  t.equal(health[0]!.topic, 'oc2/rsp');
  t.same(health[0]!.properties.userProperties, { msgType: 'ntf', encoding: 'json' });
  t.match(health[1]!.message.body.openc2.notification, { event: 'health', state: 'online', commands: 0 });
});

/**
 * The presence changes published for `device`, in order, as a watcher subscribed before the
 * agent starts sees them: repeats of one state count once, and an `offline` before the first
 * `online` (the presence connection came up before the command connection) is left out.
 * `count(n)` waits (5 s at most) until there are n changes.
 */
async function watchPresence(t: Test, device: string): Promise<{ changes: () => string[]; count: (n: number) => Promise<void> }> {
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `presence-watcher-${device}` });
  t.teardown(() => watcher.endAsync(true));
  const states: string[] = [];
  watcher.on('message', (_topic, payload) => states.push((JSON.parse(payload.toString()) as { state: string }).state));
  await watcher.subscribeAsync(`oc2/presence/${device}`, { qos: 1 });
  const changes = (): string[] => states.filter((state, i) => state !== states[i - 1]).filter((state, i) => i > 0 || state === 'online');
  const count = async (n: number): Promise<void> => {
    for (let i = 0; i < 250 && changes().length < n; i++) await new Promise((r) => setTimeout(r, 20));
  };
  return { changes, count };
}

t.test('presence: retained online after connect, offline after a clean close', async (t) => {
  const presence = await watchPresence(t, 'present');
  const a = await startMqttAgent({ settings: { 'mqtt.url': broker.url, deviceId: 'present' } });
  await waitForState(a.transport, LinkState.Online);
  await presence.count(1);
  await a.close();
  await presence.count(2);
  t.same(presence.changes(), ['online', 'offline']);
});

t.test('presence follows the command connection: offline while only the presence connection is up', async (t) => {
  const presence = await watchPresence(t, 'followed');
  const a = await startMqttAgent({ settings: { 'mqtt.url': broker.url, deviceId: 'followed' } });
  await waitForState(a.transport, LinkState.Online);
  await presence.count(1);
  // Another client with the command connection's client id takes its session over (MQTT v5
  // 3.1.4): the agent's command connection drops, its presence connection stays.
  const intruder = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'followed', clean: false, reconnectPeriod: 0 });
  await presence.count(2);
  await intruder.endAsync(true);
  await waitForState(a.transport, LinkState.Online);
  await presence.count(3);
  await a.close();
  await presence.count(4);
  t.same(presence.changes(), ['online', 'offline', 'online', 'offline'], 'offline while commands cannot reach the agent, online once they can again');
});

t.test('TLS versions and suites: TLS 1.3 alone, TLS 1.2 alone with AEAD suites; a TLS 1.2 broker with CBC suites only is refused', async (t) => {
  const client = pki.issue('router-versions', 'client');
  const tlsSettings = { 'mqtt.tlsCa': pki.ca.certFile, 'mqtt.tlsCert': client.certFile, 'mqtt.tlsKey': client.keyFile };
  const reach = async (options: Omit<BrokerOptions, 'pki'>, deviceId: string): Promise<MqttAgent> => {
    const only = await startMosquitto({ pki, ...options });
    t.teardown(() => only.remove());
    const a = await startMqttAgent({ settings: { 'mqtt.url': only.mtlsUrl!, deviceId, ...tlsSettings } });
    t.teardown(() => a.close());
    return a;
  };
  const tls13 = await reach({ tlsOnly: 'TLSv1.3' }, 'tls13');
  await waitForState(tls13.transport, LinkState.Online);
  const tls12 = await reach({ tlsOnly: 'TLSv1.2' }, 'tls12');
  await waitForState(tls12.transport, LinkState.Online);
  // TLS 1.2 suites without AEAD (CBC here, for the broker's ECDSA key) are on the RFC 7540 Appendix A block list that MQTT transfer spec appendix B forbids; the agent offers none.
  const cbc = await reach({ tlsOnly: 'TLSv1.2', tlsCiphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }, 'tls12-cbc');
  await waitForState(cbc.transport, LinkState.Backoff);
  t.match(cbc.log.join('\n'), /handshake failure|no shared cipher|sslv3 alert/i, 'the handshake fails for want of a shared suite');
  t.not(cbc.transport.state, LinkState.Online);
});

t.test('TLS: server verified against the CA; client certificates for mutual TLS; a wrong CA is refused', async (t) => {
  const client = pki.issue('router-1', 'client');
  const tlsAgent = await agent(t, { deviceId: 'tls', 'mqtt.url': broker.tlsUrl!, 'mqtt.tlsCa': pki.ca.certFile });
  const mtlsAgent = await agent(t, { deviceId: 'mtls', 'mqtt.url': broker.mtlsUrl!, 'mqtt.tlsCa': pki.ca.certFile, 'mqtt.tlsCert': client.certFile, 'mqtt.tlsKey': client.keyFile });
  const p = await producer(t, 'orch-tls');
  const id = await p.send('oc2/cmd/all', QUERY);
  await p.until(() => p.responsesTo(id).length === 2);
  t.equal(tlsAgent.applied(id) + mtlsAgent.applied(id), 2);

  const otherPki = createPki('other-ca');
  t.teardown(() => otherPki.remove());
  const wrongCa = await startMqttAgent({ settings: { 'mqtt.url': broker.tlsUrl!, deviceId: 'wrong-ca', 'mqtt.tlsCa': otherPki.ca.certFile } });
  t.teardown(() => wrongCa.close());
  const noCert = await startMqttAgent({ settings: { 'mqtt.url': broker.mtlsUrl!, deviceId: 'no-cert', 'mqtt.tlsCa': pki.ca.certFile } });
  t.teardown(() => noCert.close());
  await waitForState(wrongCa.transport, LinkState.Backoff);
  await waitForState(noCert.transport, LinkState.Backoff);
  await new Promise((r) => setTimeout(r, 300));
  t.not(wrongCa.transport.state, LinkState.Online);
  t.not(noCert.transport.state, LinkState.Online);
  t.match(wrongCa.log.join('\n'), /certificate/i);
});

t.test('alert sink: delivers notifications and delayed responses once PUBACKed, refuses while offline', async (t) => {
  const a = await agent(t, { deviceId: 'alerting' });
  const p = await producer(t, 'orch-alerts');
  await a.transport.alertSink.deliver({ kind: 'notification', headers: { request_id: 'alert-1' }, content: { event: 'rule_matched' } });
  await a.transport.alertSink.deliver({ kind: 'response', headers: { request_id: 'late-1', to: ['orch-alerts'] }, content: { status: 200 } });
  const alert = await p.response('alert-1');
  t.equal(alert.topic, 'oc2/rsp');
  t.same(alert.properties.userProperties, { msgType: 'ntf', encoding: 'json' });
  t.match(alert.message, { headers: { from: 'alerting' }, body: { openc2: { notification: { event: 'rule_matched' } } } });
  const late = await p.response('late-1');
  t.equal(late.topic, 'oc2/rsp/orch-alerts');
  t.same(late.properties.userProperties, { msgType: 'rsp', encoding: 'json' });
  await a.close();
  await t.rejects(a.transport.alertSink.deliver({ kind: 'notification', headers: { request_id: 'alert-2' }, content: {} }), /not online/);
});

t.test('keepalive: PINGREQ at 95% of an idle keepalive interval (MQTT transfer spec 3.4), timed by the injected clock', async (t) => {
  const clock = new ManualClock(0);
  const link = new MqttLink({
    name: 'keepalive',
    url: broker.url,
    client: { protocolVersion: 5, clientId: 'keepalive-test', keepalive: 100 },
    clock,
    backoff: { initialMs: 1000, maxMs: 1000 },
    random: () => 0,
    logger: createLogger({ level: 'error', format: 'json', write: () => {} }),
    online: async () => {},
  });
  t.teardown(() => link.close(100));
  const pings: number[] = [];
  link.client.on('packetsend', (packet) => {
    if (packet.cmd === 'pingreq') pings.push(clock.now());
  });
  const online = new Promise<void>((resolve) => link.onState((s) => s === LinkState.Online && resolve()));
  link.start();
  await online;
  const start = clock.now();
  await clock.advance(94_990);
  t.same(pings, [], 'no ping before 95% of 100 s');
  await clock.advance(10);
  t.same(pings, [start + 95_000]);
});
