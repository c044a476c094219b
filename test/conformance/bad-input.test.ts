import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadFixture, mismatches } from '../fixtures/commands.js';
import { ManualClock, startAgent, type Agent } from '../fixtures/consumer-harness.js';

const fixture = loadFixture('bad-input');

/** Everything a command could change: enforced rules, held rules, both journals. */
async function ruleState(agent: Agent): Promise<string> {
  const journal = (dir: string) => readFile(join(dir, 'rules.journal'), 'utf8').catch(() => '');
  return JSON.stringify({
    enforced: agent.dataplane.rules.map((r) => [r.number, r.action, r.direction, r.priority]),
    persistent: await journal(agent.stateDir),
    volatile: await journal(agent.runDir),
  });
}

t.test('bad input suite has at least 100 cases', async (t) => {
  t.ok(fixture.cases.length >= 100, `${fixture.cases.length} cases`);
});

t.test('malformed and unsupported commands answer their exact status and change no rule', async (t) => {
  const agent = await startAgent(t.teardown, { deviceId: fixture.agent.deviceId }, { namedGroups: [...fixture.agent.namedGroups], clock: new ManualClock(fixture.agent.now) });
  // A baseline of persistent, volatile and scheduled rules the bad commands must leave alone.
  for (const command of [
    { action: 'deny', target: { ipv4_net: '198.51.100.0/24' } },
    { action: 'allow', target: { ipv6_connection: { protocol: 'tcp', dst_port: 443 } }, args: { pf: { persistent: false } } },
    { action: 'deny', target: { ipv4_connection: { protocol: 'udp', dst_port: 53 } }, args: { start_time: fixture.agent.now + 60_000 } },
    { action: 'deny', target: { ipv4_net: '203.0.113.0/24' }, args: { slpf: { direction: 'egress' } } },
  ]) {
    t.equal((await agent.send(command))?.status, 200, `baseline ${JSON.stringify(command.target)}`);
  }
  t.equal(agent.dataplane.rules.length, 3, 'baseline: three rules in force, one scheduled');
  const before = await ruleState(agent);
  for (const example of fixture.cases) {
    const response = await agent.send(example.command);
    t.same(mismatches(response, example.expect), [], `${example.name}: ${JSON.stringify(response)}`);
    t.equal(await ruleState(agent), before, `${example.name}: rule set unchanged`);
  }
});
