import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startAgent } from '../fixtures/consumer-harness.js';

// Rules across agent restarts and reboots: the state files are the truth.

t.test('a pending start_time survives a restart and starts on time', async (t) => {
  const agent = await startAgent(t.teardown);
  const start = agent.clock.now() + 10_000;
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { start_time: start } });
  const restarted = await agent.restart({ advance: 5000 });
  t.same(restarted.dataplane.rules, [], 'not yet in force');
  await restarted.clock.advance(5000);
  t.same(restarted.dataplane.rules.map((r) => r.number), [1], 'in force at start_time');
});

t.test('a rule whose stop_time passed while the agent was down does not come back', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, args: { duration: 1000 } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' } });
  await agent.consumer.close();
  const restarted = await agent.restart({ advance: 2000 });
  t.same(restarted.dataplane.rules.map((r) => r.number), [2]);
  t.equal((await restarted.send({ action: 'query', target: { 'pf:rule_number': 1 } }))?.status, 404);
});

t.test('rule numbers are never reused after a restart, even of deleted rules', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' } });
  await agent.send({ action: 'delete', target: { 'pf:rule_number': 2 } });
  const restarted = await agent.restart();
  t.same(await restarted.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } }), { status: 200, results: { pf: { rule_number: 3 } } });
});

t.test('the same command_id replayed, also after a restart, adds the rule once', async (t) => {
  const agent = await startAgent(t.teardown);
  const command = { action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, command_id: 'c-1' };
  const [a, b] = await Promise.all([agent.send(command), agent.send(command)]);
  t.same(a, b, 'two copies in flight get one answer');
  t.equal(agent.dataplane.rules.length, 1);
  const restarted = await agent.restart();
  t.same(await restarted.send(command), a, 'replay after restart');
  t.equal(restarted.dataplane.rules.length, 1);
  const other = await restarted.send({ ...command, target: { ipv4_net: '198.51.100.0/24' } });
  t.equal(other?.status, 400, 'a different command under the same id is refused');
  t.match(other?.status_text, /command_id/);
});

t.test('request_id stands in for a missing command_id (language spec 3.3.1)', async (t) => {
  const agent = await startAgent(t.teardown);
  const command = { action: 'deny', target: { ipv4_net: '192.0.2.0/24' } };
  await agent.send(command, 'req-1');
  await agent.send(command, 'req-1');
  await agent.send(command, 'req-2');
  t.same(agent.dataplane.rules.map((r) => r.number), [1, 2]);
});

t.test('a torn last journal line (crash mid-append) is ignored on restart', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  await agent.consumer.close();
  await appendFile(join(agent.stateDir, 'rules.journal'), '{"op":"add","rule":{"numb');
  const restarted = await agent.restart();
  t.same(restarted.dataplane.rules.map((r) => r.number), [1]);
  t.notMatch(await readFile(join(restarted.stateDir, 'rules.journal'), 'utf8'), /numb/, 'restart compacts the torn line away');
});

t.test('after close the consumer answers 503 and changes nothing', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.consumer.close();
  const response = await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  t.equal(response?.status, 503);
  t.same(agent.dataplane.rules, []);
});

t.test('a bad journal line followed by more lines is corruption: the consumer refuses to start rather than drop rules', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  await agent.consumer.close();
  await appendFile(join(agent.stateDir, 'rules.journal'), 'garbage\n{"op":"del","number":1}\n');
  await t.rejects(agent.restart(), { message: /rules.journal line 2: .*not valid JSON/ });
});
