import t from 'tap';
import { startAgent } from '../fixtures/consumer-harness.js';

// Actuator specifiers (PF 2.1.4, SLPF 2.1.4) "further refine which Actuator(s) shall execute
// the Action": a command that names another device is not ours, so it is neither done nor
// answered (DESIGN.md section 5); an empty specifier map means every actuator of the profile.

const deny = (actuator: unknown) => ({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, actuator });

t.test('specifiers that name this device: done and answered', async (t) => {
  const agent = await startAgent(t.teardown, { deviceId: 'edge-1' }, { namedGroups: ['perimeter'] });
  for (const specifiers of [{}, { asset_id: 'edge-1' }, { hostname: 'EDGE-1.example' }, { hostname: 'edge-1' }, { named_group: 'perimeter' }, { asset_tuple: ['site-a', 'edge-1'] }, { asset_id: 'edge-1', named_group: 'perimeter' }]) {
    t.equal((await agent.send(deny({ pf: specifiers })))?.status, 200, JSON.stringify(specifiers));
  }
  t.equal(agent.dataplane.rules.length, 7);
});

t.test('specifiers that name another device: not done, no response', async (t) => {
  const agent = await startAgent(t.teardown, { deviceId: 'edge-1' }, { namedGroups: ['perimeter'] });
  for (const specifiers of [{ asset_id: '30' }, { hostname: 'edge-2' }, { named_group: 'network' }, { asset_tuple: ['site-a'] }, { asset_id: 'edge-1', named_group: 'network' }]) {
    t.equal(await agent.send(deny({ pf: specifiers })), undefined, JSON.stringify(specifiers));
  }
  t.equal(await agent.send(deny({ 'x-acme': {} })), undefined, 'a profile this agent does not have');
  t.equal(agent.dataplane.rules.length, 0);
  t.ok(agent.log.some((line) => line.includes('command for another actuator')), 'logged at debug');
});

t.test('response_requested status answers like complete', async (t) => {
  const agent = await startAgent(t.teardown);
  t.same(await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { response_requested: 'status' } }), { status: 200, results: { pf: { rule_number: 1 } } });
});
