import t from 'tap';
import { startAgent } from '../fixtures/consumer-harness.js';
import { packet, verdict } from '../fixtures/packets.js';

// SLPF CS01 on the same rule model as PF, with the WD02 arguments older producers send.

t.test('slpf direction defaults to both (SLPF 2.1.3.2)', async (t) => {
  const agent = await startAgent(t.teardown);
  t.same(await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, actuator: { slpf: {} } }), { status: 200, results: { slpf: { rule_number: 1 } } });
  const p = packet('tcp', '192.0.2.1:1', '203.0.113.1:80');
  t.equal(verdict(agent.dataplane, p, 'ingress').action, 'deny');
  t.equal(verdict(agent.dataplane, p, 'egress').action, 'deny');
  t.equal(agent.dataplane.rules[0]!.source, 'slpf');
});

t.test('slpf and pf share one rule list and one numbering', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { slpf: { insert_rule: 7 } } });
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { insert_rule: 7 } } }))?.status, 500, 'pf says 500 for a number slpf took');
  t.same(await agent.send({ action: 'delete', target: { 'pf:rule_number': 7 } }), { status: 200 }, 'pf can delete an slpf rule');
});

t.test('slpf insert_rule on a taken number answers 501 (SLPF 2.3.1)', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'allow', target: { ipv6_net: '2001:db8::/32' }, args: { slpf: { insert_rule: 3 } } });
  t.same(await agent.send({ action: 'allow', target: { ipv6_net: '2001:db8::/48' }, args: { slpf: { insert_rule: 3 } } }), { status: 501, status_text: 'Rule number currently in use: 3' });
});

t.test('slpf delete of an unknown rule answers 500 (SLPF 2.3.4.1 MUST)', async (t) => {
  const agent = await startAgent(t.teardown);
  const response = await agent.send({ action: 'delete', target: { 'slpf:rule_number': 42 } });
  t.equal(response?.status, 500);
  t.match(response?.status_text, /not removed/);
});

t.test('WD02 running: true makes the rule non-persistent', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { slpf: { running: true } } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { slpf: { running: false } } });
  t.same(agent.dataplane.rules.map((r) => r.persistent), [false, true]);
});

t.test('an slpf-only agent serves slpf and answers pf commands 501, or ignores them when the actuator is pf', async (t) => {
  const agent = await startAgent(t.teardown, { profiles: ['slpf'] });
  t.same(await agent.send({ action: 'query', target: { features: ['profiles', 'pairs'] } }), {
    status: 200,
    results: {
      profiles: ['slpf'],
      pairs: { allow: ['ipv4_connection', 'ipv6_connection', 'ipv4_net', 'ipv6_net'], deny: ['ipv4_connection', 'ipv6_connection', 'ipv4_net', 'ipv6_net'], query: ['features'], delete: ['slpf:rule_number'] },
    },
  });
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } }))?.status, 200, 'unnamed profile falls back to slpf');
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { direction: 'egress' } } }))?.status, 501);
  t.equal(await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, actuator: { pf: {} } }), undefined, 'another actuator profile: not ours');
  t.equal(agent.dataplane.rules.length, 1);
});
