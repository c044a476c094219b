import t from 'tap';
import { startAgent } from '../fixtures/consumer-harness.js';
import { packet, verdict } from '../fixtures/packets.js';

// PF CSD02 section 3.2, consumer conformance clauses 19-36, each through the real
// consumer (validate -> rules -> SimDataplane) with verdicts from the reference matcher.

const ruleNumber = (r: unknown): number => (r as { results: { pf: { rule_number: number } } }).results.pf.rule_number;

t.test('clause 19: query features, response_requested none/ack/complete, absent means complete', async (t) => {
  const agent = await startAgent(t.teardown);
  t.same(await agent.send({ action: 'query', target: { features: [] } }), { status: 200 }, '3.2.1.6 query features');
  t.equal(await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { response_requested: 'none' } }), undefined, '3.2.1.7.1 none: no response');
  t.equal(agent.dataplane.rules.length, 1, '3.2.1.7.1 none: the command is still processed');
  t.same(await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { response_requested: 'ack' } }), { status: 102 }, 'ack: 102');
  t.same(await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } }), { status: 200, results: { pf: { rule_number: 3 } } }, '3.2.1.7.2 absent: complete with rule number');
  t.equal(await agent.send({ action: 'deny', target: { ip_conection: {} }, args: { response_requested: 'none' } }), undefined, 'none supersedes even a 400 (3.2.1.7.1)');
});

t.test('clause 20: deny ipv4_connection drops the matching five-tuple only; allow above it wins', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_connection: { protocol: 'tcp', src_addr: '192.0.2.0/24', dst_port: 22 } } });
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.9:40000', '198.51.100.1:22')).action, 'deny');
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.9:40000', '198.51.100.1:23')).action, 'allow', 'other port passes');
  t.equal(verdict(agent.dataplane, packet('udp', '192.0.2.9:40000', '198.51.100.1:22')).action, 'allow', 'other protocol passes');
  t.equal(verdict(agent.dataplane, packet('tcp', '198.51.100.1:40000', '192.0.2.9:22')).action, 'allow', 'source side only');
  await agent.send({ action: 'allow', target: { ipv4_connection: { src_addr: '192.0.2.9' } }, args: { pf: { priority: 10 } } });
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.9:40000', '198.51.100.1:22')).action, 'allow', 'a higher-precedence allow wins');
});

t.test('clause 21: deny ipv6_connection, icmp means ICMPv6', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv6_connection: { protocol: 'icmp', dst_addr: '2001:db8::/64' } } });
  t.equal(verdict(agent.dataplane, packet('icmpv6', '[2001:db8:1::1]', '[2001:db8::5]')).action, 'deny');
  t.equal(verdict(agent.dataplane, packet('icmp', '[2001:db8:1::1]', '[2001:db8::5]')).action, 'allow', 'protocol 1 is not ICMPv6');
  await agent.send({ action: 'allow', target: { ipv6_connection: { protocol: 'udp', src_port: 53 } } });
  t.equal(agent.dataplane.rules[1]!.action, 'allow');
});

t.test('clause 22: deny ipv4_net drops matching ingress as source or destination', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.7:1', '198.51.100.1:80')).action, 'deny', 'as source');
  t.equal(verdict(agent.dataplane, packet('tcp', '198.51.100.1:80', '192.0.2.7:1')).action, 'deny', 'as destination');
  t.equal(verdict(agent.dataplane, packet('tcp', '198.51.100.1:80', '203.0.113.1:1')).action, 'allow', 'outside the range');
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.7:1', '198.51.100.1:80'), 'egress').action, 'allow', 'default direction is ingress');
  await agent.send({ action: 'allow', target: { ipv4_net: '203.0.113.5' } });
  t.same(agent.dataplane.rules[1]!.match.either?.length, 32, 'a bare address is a /32');
});

t.test('clause 23: deny ipv6_net drops matching ingress', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv6_net: '2001:db8:bad::/48' } });
  t.equal(verdict(agent.dataplane, packet('udp', '[2001:db8:bad::1]:5', '[2001:db8::1]:53')).action, 'deny');
  t.equal(verdict(agent.dataplane, packet('udp', '[2001:db8:600d::1]:5', '[2001:db8::1]:53')).action, 'allow');
});

t.test('clauses 24-26: domain_name, advanced_connection and update file are refused with 501, never 200', async (t) => {
  const agent = await startAgent(t.teardown);
  for (const command of [
    { action: 'deny', target: { domain_name: 'example.com' } },
    { action: 'allow', target: { 'pf:advanced_connection': { network: 'default' } } },
    { action: 'update', target: { file: { name: 'rules.json' } } },
  ]) {
    const response = await agent.send(command);
    t.equal(response?.status, 501, JSON.stringify(command.target));
    t.match(response?.status_text, /not supported/);
  }
  t.equal(agent.dataplane.rules.length, 0);
});

t.test('clause 27: delete pf:rule_number removes the rule from enforcement; unknown numbers answer 500', async (t) => {
  const agent = await startAgent(t.teardown);
  const n = ruleNumber(await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } }));
  t.same(await agent.send({ action: 'delete', target: { 'pf:rule_number': n } }), { status: 200 });
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.7:1', '198.51.100.1:80')).action, 'allow', 'traffic passes again');
  const again = await agent.send({ action: 'delete', target: { 'pf:rule_number': n } });
  t.equal(again?.status, 500);
  t.match(again?.status_text, /Firewall rule not removed or updated/);
});

t.test('clause 28: query pf:rule_number reports what rebuilds the rule; unknown numbers answer 404', async (t) => {
  const agent = await startAgent(t.teardown);
  const n = ruleNumber(await agent.send({ action: 'allow', target: { ipv6_net: '2001:db8::/32' }, args: { duration: 60_000, pf: { logged: false, description: 'lab' } } }));
  const response = await agent.send({ action: 'query', target: { 'pf:rule_number': n } });
  t.same(response, {
    status: 200,
    results: {
      pf: {
        rule_number: n,
        action: 'allow',
        ipv6_net: '2001:db8::/32',
        args: { stop_time: agent.clock.now() + 60_000, direction: 'ingress', persistent: true, priority: 1000, logged: false, stateful: false, description: 'lab' },
      },
    },
  });
  t.equal((await agent.send({ action: 'query', target: { 'pf:rule_number': n + 1 } }))?.status, 404);
});

t.test('clause 29: persistent false survives an agent restart but not a reboot; persistent rules survive both', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { persistent: false } } });
  const restarted = await agent.restart();
  t.same(restarted.dataplane.rules.map((r) => r.number), [1, 2], 'restart keeps both');
  const rebooted = await restarted.restart({ reboot: true });
  t.same(rebooted.dataplane.rules.map((r) => r.number), [1], 'reboot keeps the persistent one');
  t.equal(verdict(rebooted.dataplane, packet('udp', '192.0.2.1:1', '203.0.113.1:2')).action, 'deny');
});

t.test('clause 30: direction picks the hook, never the address side', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { direction: 'egress' } } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { direction: 'both' } } });
  const out = packet('tcp', '203.0.113.1:1', '192.0.2.1:80');
  t.equal(verdict(agent.dataplane, out, 'egress').action, 'deny');
  t.equal(verdict(agent.dataplane, out, 'ingress').action, 'allow');
  const any = packet('tcp', '198.51.100.1:1', '203.0.113.1:80');
  t.equal(verdict(agent.dataplane, any, 'egress').action, 'deny');
  t.equal(verdict(agent.dataplane, any, 'ingress').action, 'deny');
});

t.test('clause 31: drop_process none is the default; reject and false_ack are refused until the dataplane can send them', async (t) => {
  const agent = await startAgent(t.teardown);
  t.equal((await agent.send({ action: 'deny', target: { ipv4_connection: { protocol: 'tcp', dst_port: 23 } }, args: { pf: { drop_process: 'none' } } }))?.status, 200);
  await agent.send({ action: 'deny', target: { ipv4_connection: { protocol: 'tcp', dst_port: 24 } } });
  t.same(agent.dataplane.rules.map((r) => r.drop), ['none', 'none'], 'default none (PF 2.1.3)');
  for (const drop of ['reject', 'false_ack']) {
    t.match(await agent.send({ action: 'deny', target: { ipv4_connection: { protocol: 'tcp', dst_port: 25 } }, args: { pf: { drop_process: drop } } }), {
      status: 501,
      status_text: `Argument not supported: args.pf.drop_process ${drop}`,
    });
  }
  t.equal((await agent.send({ action: 'allow', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { drop_process: 'reject' } } }))?.status, 501);
  t.equal(agent.dataplane.rules.length, 2, 'refused commands added nothing');
});

t.test('clause 32: start_time, stop_time and duration with one timer', async (t) => {
  const agent = await startAgent(t.teardown);
  const now = agent.clock.now();
  const p = packet('tcp', '192.0.2.1:1', '198.51.100.1:80');
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { start_time: now + 1000, duration: 5000 } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { stop_time: now + 3000 } });
  await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' }, args: { duration: 2000 } });
  t.equal(agent.clock.timers, 1, 'one timer for all rules');
  t.same(agent.dataplane.rules.map((r) => r.number), [2, 3], 'the future rule waits');
  await agent.clock.advance(1000);
  t.same(agent.dataplane.rules.map((r) => r.number), [1, 2, 3], 'starts at start_time');
  await agent.clock.advance(1000);
  t.same(agent.dataplane.rules.map((r) => r.number), [1, 2], 'duration alone stops at now + duration');
  await agent.clock.advance(1000);
  t.same(agent.dataplane.rules.map((r) => r.number), [1], 'stop_time alone');
  t.equal(verdict(agent.dataplane, p).action, 'deny');
  await agent.clock.advance(3000);
  t.same(agent.dataplane.rules, [], 'start_time + duration');
  t.equal((await agent.send({ action: 'query', target: { 'pf:rule_number': 1 } }))?.status, 404, 'a stopped rule is gone');
  t.equal(agent.clock.timers, 0, 'no timer left');
});

t.test('clauses 33-34: logged and stateful are refused until the dataplane has them; stateless and unlogged by default', async (t) => {
  const agent = await startAgent(t.teardown);
  t.match(await agent.send({ action: 'allow', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { logged: true } } }), { status: 501, status_text: /^Argument not supported: args\.pf\.logged/ });
  t.match(await agent.send({ action: 'allow', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { stateful: true } } }), { status: 501, status_text: /^Argument not supported: args\.pf\.stateful/ });
  await agent.send({ action: 'allow', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { logged: false, stateful: false } } });
  t.same(agent.dataplane.rules.map((r) => [r.logged, r.stateful]), [[false, false]]);
});

t.test('clause 35: a lower priority value is evaluated first whatever the order of arrival', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  await agent.send({ action: 'allow', target: { ipv4_net: '192.0.2.0/28' }, args: { pf: { priority: 5 } } });
  t.same(agent.dataplane.rules.map((r) => r.number), [2, 1]);
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.3:1', '203.0.113.1:80')).action, 'allow', 'the /28 allow wins');
  t.equal(verdict(agent.dataplane, packet('tcp', '192.0.2.100:1', '203.0.113.1:80')).action, 'deny');
});

t.test('clause 36: insert_rule assigns that number and its list position; a taken number answers 500', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { insert_rule: 10 } } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { insert_rule: 30 } } });
  t.same(await agent.send({ action: 'allow', target: { ipv4_net: '192.0.2.0/25' }, args: { pf: { insert_rule: 5 } } }), { status: 200, results: { pf: { rule_number: 5 } } });
  t.same(agent.dataplane.rules.map((r) => r.number), [5, 10, 30], 'rule 5 goes before 10');
  t.equal(ruleNumber(await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } })), 31, 'new rules append after the highest number');
  const taken = await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' }, args: { pf: { insert_rule: 10 } } });
  t.same(taken, { status: 500, status_text: 'Rule number currently in use: 10' });
  t.equal(agent.dataplane.rules.length, 4, 'nothing added');
});

t.test('clause 36: after insert_rule takes the largest 32-bit number, new rules need insert_rule (500 says so)', async (t) => {
  const agent = await startAgent(t.teardown);
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { pf: { insert_rule: 0xffffffff } } }))?.status, 200);
  const next = await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' } });
  t.equal(next?.status, 500);
  t.match(next?.status_text, /insert_rule/);
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { insert_rule: 5 } } }))?.status, 200);
});
