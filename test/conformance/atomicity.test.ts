import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Rule } from '../../agent/rules/model.js';
import { SimDataplane } from '../../agent/dataplane/sim-dataplane.js';
import { RuleFile } from '../../agent/rules/persist.js';
import { MAX_RULES } from '../../agent/rules/store.js';
import { startAgent } from '../fixtures/consumer-harness.js';
import { writeHostPortRules } from '../fixtures/rule-records.js';

// Never a half-applied rule set: a change the dataplane or the disk refuses is undone everywhere.

/** A SimDataplane whose next insert or remove fails, like a full kernel map. */
class FailingDataplane extends SimDataplane {
  failNext = false;
  override async insert(rule: Rule, before?: number): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('map full (E2BIG)');
    }
    return super.insert(rule, before);
  }
  override async remove(number: number): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('map busy (EBUSY)');
    }
    return super.remove(number);
  }
}

const journal = (dir: string) => readFile(join(dir, 'rules.journal'), 'utf8').catch(() => '');

t.test('a dataplane that refuses a rule: 500, nothing stored, nothing journaled, the number stays free', async (t) => {
  const dataplane = new FailingDataplane();
  const agent = await startAgent(t.teardown, {}, { dataplane });
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  const before = await journal(agent.stateDir);
  dataplane.failNext = true;
  const response = await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { insert_rule: 7 } } });
  t.equal(response?.status, 500);
  t.match(response?.status_text, /Rule not implemented: map full/);
  t.same(dataplane.rules.map((r) => r.number), [1]);
  t.equal(await journal(agent.stateDir), before, 'no journal line');
  t.equal((await agent.send({ action: 'query', target: { 'pf:rule_number': 7 } }))?.status, 404);
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' }, args: { pf: { insert_rule: 7 } } }))?.status, 200, 'a retry succeeds');
});

t.test('a dataplane that refuses a removal: 500 "not removed", the rule stays everywhere', async (t) => {
  const dataplane = new FailingDataplane();
  const agent = await startAgent(t.teardown, {}, { dataplane });
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  dataplane.failNext = true;
  const response = await agent.send({ action: 'delete', target: { 'pf:rule_number': 1 } });
  t.equal(response?.status, 500);
  t.match(response?.status_text, /Firewall rule not removed or updated/);
  t.same(dataplane.rules.map((r) => r.number), [1]);
  t.equal((await agent.send({ action: 'query', target: { 'pf:rule_number': 1 } }))?.status, 200);
  const restarted = await agent.restart();
  t.same(restarted.dataplane.rules.map((r) => r.number), [1], 'still there after a restart');
});

t.test('a journal write that fails: 500, and the change is undone in the dataplane', async (t) => {
  const agent = await startAgent(t.teardown);
  await agent.send({ action: 'deny', target: { ipv4_net: '192.0.2.0/24' } });
  const append = RuleFile.prototype.append;
  t.teardown(() => {
    RuleFile.prototype.append = append;
  });
  RuleFile.prototype.append = () => Promise.reject(new Error('EIO'));
  const added = await agent.send({ action: 'deny', target: { ipv4_net: '198.51.100.0/24' } });
  t.equal(added?.status, 500);
  t.match(added?.status_text, /rule 2 not saved: EIO/);
  t.same(agent.dataplane.rules.map((r) => r.number), [1], 'the new rule is out again');
  const deleted = await agent.send({ action: 'delete', target: { 'pf:rule_number': 1 } });
  t.equal(deleted?.status, 500);
  t.same(agent.dataplane.rules.map((r) => r.number), [1], 'the deleted rule is back');
  RuleFile.prototype.append = append;
  const restarted = await agent.restart();
  t.same(restarted.dataplane.rules.map((r) => r.number), [1], 'disk and dataplane agree after a restart');
});

t.test('a state directory that cannot be created: the consumer refuses to start', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'openc2-atomicity-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'file'), '');
  await t.rejects(startAgent(t.teardown, {}, { dirs: { stateDir: join(root, 'file', 'state'), runDir: join(root, 'run') } }), { code: 'ENOTDIR' });
});

t.test(`a full rule table: rule ${MAX_RULES + 1} is refused with 500 "Rule table full", nothing stored; a delete makes room`, async (t) => {
  const agent = await startAgent(t.teardown);
  /** The i-th of MAX_RULES distinct rules: 256 sources times 512 ports. */
  const deny = (i: number) => ({ action: 'deny', target: { ipv4_connection: { protocol: 'tcp', src_addr: `198.51.100.${i % 256}/32`, dst_port: 1 + Math.floor(i / 256) } } });
  let refused = 0;
  for (let i = 0; i < MAX_RULES; i += 1000) {
    const batch = await Promise.all(Array.from({ length: Math.min(1000, MAX_RULES - i) }, (_, j) => agent.send(deny(i + j))));
    refused += batch.filter((r) => r?.status !== 200).length;
  }
  t.equal(refused, 0, `all ${MAX_RULES} rules taken`);
  const before = await journal(agent.runDir);
  const full = await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } });
  t.equal(full?.status, 500);
  t.match(full?.status_text, /Rule table full: this agent holds at most 131070 rules/);
  t.equal(agent.dataplane.rules.length, MAX_RULES, 'nothing more in the dataplane');
  t.equal(await journal(agent.runDir), before, 'nothing more on disk');
  t.notOk(agent.log.some((line) => line.includes('command crashed')), 'a refusal, not a crash');

  // A delete whose journal write fails puts its rule back, so its place is not free until the write is done.
  const append = RuleFile.prototype.append;
  t.teardown(() => {
    RuleFile.prototype.append = append;
  });
  RuleFile.prototype.append = function (entry) {
    return entry.op === 'del' ? new Promise((_, reject) => setTimeout(() => reject(new Error('EIO')), 20)) : append.call(this, entry);
  };
  const [failedDelete, racingAdd] = await Promise.all([agent.send({ action: 'delete', target: { 'pf:rule_number': 1 } }), agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } })]);
  RuleFile.prototype.append = append;
  t.equal(failedDelete?.status, 500, 'the delete that could not be saved fails');
  t.equal(racingAdd?.status, 500, 'an add racing it finds the table still full');
  t.equal(agent.dataplane.rules.length, MAX_RULES, 'rule 1 is back and nothing else came in');

  t.equal((await agent.send({ action: 'delete', target: { 'pf:rule_number': 1 } }))?.status, 200);
  t.equal((await agent.send({ action: 'deny', target: { ipv4_net: '203.0.113.0/24' } }))?.status, 200, 'room again after a delete');
});

t.test(`rule files holding more than ${MAX_RULES} rules: the consumer refuses to start and says why`, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'openc2-atomicity-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dirs = { stateDir: join(root, 'state'), runDir: join(root, 'run') };
  await writeHostPortRules(dirs.stateDir, MAX_RULES + 1);
  await t.rejects(startAgent(t.teardown, {}, { dirs }), /the rule files hold 131071 rules in force or scheduled, more than the 131070 this agent holds/);
});
