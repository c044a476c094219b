/**
 * The agent as it ships (dist bundle and .node), end to end on the real kernel: it runs in a
 * namespace the test made, attached to that namespace's veth only, takes OpenC2 commands over
 * HTTP from the peer namespace, and the peer's packets are dropped or pass as the rules say,
 * also while the agent is dead (fail-static) and after it took the pins over again.
 * Documentation addresses only; namespaces, pins and processes removed in teardown.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PIN_ROOT, detachAll } from '../../agent/dataplane/kernel.js';
import { MAX_RULES } from '../../agent/rules/store.js';
import { BUNDLE, startAgent, type AgentProcess } from '../helpers/agent.js';
import { writeHostPortRules } from '../fixtures/rule-records.js';
import { shippedNodeFlags } from '../helpers/shipped-flags.js';
import { runInNs } from '../helpers/netns.js';
import { A4, A6, B4, createVethPair, ping, removeVethPair, vethPairNames, vethPairSkip } from './veth-pair.js';

const skip = vethPairSkip();

const pair = vethPairNames('e');
const instance = `test-agent-${process.pid % 100000}`;
const PORT = 6767;

interface Answer {
  readonly status: number;
  readonly status_text?: string;
  readonly results?: { pf?: { rule_number?: number } };
}

/** A one-shot HTTP client for the peer namespace: POSTs stdin to argv[1], prints the answer's body. */
const POST = `const body = require('node:fs').readFileSync(0);
fetch(process.argv[1], { method: 'POST', headers: { 'content-type': 'application/openc2+json;version=1.0' }, body, signal: AbortSignal.timeout(10000) })
  .then((r) => r.text()).then((text) => process.stdout.write(text));`;

/** POSTs one OpenC2 command from the peer namespace (B) to the agent's listener on A, as an orchestrator there would. */
function command(body: unknown, to: { nsB: string } = pair): Answer {
  const r = runInNs(to.nsB, [process.execPath, '-e', POST, `http://${A4}:${PORT}/`], { input: JSON.stringify(body), timeout: 15_000 });
  if (r.status !== 0) throw new Error(`POST from ${to.nsB} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Answer;
}

/** The agent's arguments on the kernel dataplane of `veth`, listening on A, with its state under `dir`. */
function kernelArgs(veth: string, pins: string, dir: string): string[] {
  return ['run', '--dataplane', 'kernel', '--interfaces', veth, '--instance', pins, '--device-id', 'edge-e2e',
    '--allow-insecure', '--http-listen', `${A4}:${PORT}`, '--http-insecure-bind', '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--log-level', 'info'];
}

t.test('the shipped agent enforces HTTP commands on the kernel dataplane of its own veth', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-agent-kernel-'));
  const agents: AgentProcess[] = [];
  t.teardown(async () => {
    for (const agent of agents) await agent.stop('SIGKILL');
    await detachAll(instance).catch(() => undefined);
    removeVethPair(pair);
    rmSync(dir, { recursive: true, force: true });
  });
  await createVethPair(pair);
  t.ok(ping(pair.nsB, A4), 'baseline: B reaches A');

  const start = async (): Promise<AgentProcess> => {
    const agent = startAgent(kernelArgs(pair.vethA, instance, dir), { netns: pair.nsA });
    agents.push(agent);
    await agent.waitFor(/ready/, 30_000);
    return agent;
  };

  const first = await start();
  t.notMatch(first.output(), /NOTHING IS ENFORCED/, 'the kernel dataplane is enforcing');
  t.ok(existsSync(join(DEFAULT_PIN_ROOT, instance)), 'pins under the instance folder');

  const denied = command({ action: 'deny', target: { ipv4_net: `${B4}/32` }, args: { pf: { persistent: true } } });
  t.equal(denied.status, 200, `deny answered: ${denied.status_text ?? ''}`);
  const number = denied.results?.pf?.rule_number;
  t.type(number, 'number', 'the deny has a rule number');
  t.notOk(ping(pair.nsB, A4, 3), 'B is dropped once the deny is answered');
  t.ok(ping(pair.nsB, A6), 'IPv6 from B still passes: the rule is IPv4 only');
  // The listener is the agent's own control path: anti-lockout keeps it reachable from a denied host.
  t.equal(command({ action: 'query', target: { features: [] } }).status, 200, 'the agent still answers B (anti-lockout)');

  await first.stop('SIGKILL');
  t.notOk(ping(pair.nsB, A4, 3), 'the deny holds with the agent dead (fail-static)');

  const second = await start();
  t.notOk(ping(pair.nsB, A4, 3), 'the deny holds after a restart took the pins over');
  const deleted = command({ action: 'delete', target: { pf: { rule_number: number } } });
  t.equal(deleted.status, 200, `delete answered: ${deleted.status_text ?? ''}`);
  t.ok(ping(pair.nsB, A4, 3), 'B passes again once the delete is answered');
  t.equal(await second.stop('SIGTERM'), 0, 'SIGTERM is a clean exit');

  const detach = spawnSync(process.execPath, [BUNDLE, 'dataplane', 'detach', '--instance', instance], { encoding: 'utf8', timeout: 30_000 });
  t.equal(detach.status, 0, `dataplane detach: ${detach.stdout}${detach.stderr}`);
  t.notOk(existsSync(join(DEFAULT_PIN_ROOT, instance)), 'detach removed the pins');
});

t.test(`a full table (${MAX_RULES} rules) restores on the kernel under the shipped heap flags; one more is refused, not a crash`, { skip }, async (t) => {
  const full = vethPairNames('f');
  const pins = `test-full-${process.pid % 100000}`;
  const dir = mkdtempSync(join(tmpdir(), 'openc2-agent-full-'));
  let agent: AgentProcess | undefined;
  t.teardown(async () => {
    await agent?.stop('SIGKILL');
    await detachAll(pins).catch(() => undefined);
    removeVethPair(full);
    rmSync(dir, { recursive: true, force: true });
  });
  await writeHostPortRules(join(dir, 'state'), MAX_RULES);
  await createVethPair(full);

  agent = startAgent(kernelArgs(full.vethA, pins, dir), { netns: full.nsA, nodeFlags: shippedNodeFlags() });
  await agent.waitFor(/ready/, 120_000);
  t.match(agent.output(), new RegExp(`rules restored .*rules=${MAX_RULES} enforced=${MAX_RULES}`), 'every rule restored and enforced');
  const refused = command({ action: 'deny', target: { ipv4_net: `${B4}/32` } }, full);
  t.equal(refused.status, 500, 'one rule more is refused');
  t.match(refused.status_text, /Rule table full/);
  t.ok(ping(full.nsB, A4), 'B still passes: the refused deny is nowhere');
  t.equal(command({ action: 'delete', target: { pf: { rule_number: 1 } } }, full).status, 200, 'a delete makes room');
  t.equal(command({ action: 'deny', target: { ipv4_net: `${B4}/32` } }, full).status, 200, 'and the deny is taken');
  t.notOk(ping(full.nsB, A4, 3), 'B is dropped');
  t.equal(await agent.stop('SIGTERM'), 0, 'the agent is alive and exits cleanly');
});
