import t from 'tap';
import { copyFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NATIVE_BASENAME, platformSuffix } from '../../agent/dataplane/binding.js';
import { BUNDLE, runAgent, startAgent } from '../helpers/agent.js';

// The shipped layout: one folder holding only the bundle and the native module, no node_modules.
const shipped = mkdtempSync(join(tmpdir(), 'openc2-shipped-'));
t.teardown(() => rmSync(shipped, { recursive: true, force: true }));
const dist = dirname(BUNDLE);
// This machine's module: dist/ may also hold cross-built ones for other CPUs.
const nativeFile = `${NATIVE_BASENAME}.${platformSuffix()}.node`;
if (!existsSync(join(dist, nativeFile))) throw new Error(`no ${nativeFile} in ${dist}: run npm run build`);
copyFileSync(BUNDLE, join(shipped, 'openc2-agent.mjs'));
copyFileSync(join(dist, nativeFile), join(shipped, nativeFile));
chmodSync(shipped, 0o755);
const agentFile = join(shipped, 'openc2-agent.mjs');
const opts = { cwd: shipped, script: agentFile };

async function queryFeatures(port: number, features: string[]): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/openc2+json;version=1.0' },
    body: JSON.stringify({ action: 'query', target: { features } }),
  });
  return { status: res.status, body: await res.json() };
}

t.test('the bundle runs from a folder holding only itself and the .node, and answers query features', async (t) => {
  t.same(readdirSync(shipped).sort(), ['openc2-agent.mjs', nativeFile].sort());
  const agent = startAgent(['run', '--dataplane', 'sim', '--allow-insecure', '--http-listen', '127.0.0.1:0', '--state-dir', join(shipped, 'state'), '--run-dir', join(shipped, 'run')], opts);
  t.teardown(() => agent.stop('SIGKILL'));
  const [, port] = await agent.waitFor(/http listening .*port=(\d+)/);
  await agent.waitFor(/ready/);
  const { status, body } = await queryFeatures(Number(port), ['versions']);
  t.equal(status, 200);
  t.same(body, { status: 200, results: { versions: ['1.0'] } });
  t.match(agent.output(), /NOTHING IS ENFORCED/, 'sim mode says so at start');
  t.equal(await agent.stop('SIGTERM'), 0, 'SIGTERM is a clean exit');
  t.match(agent.output(), /stopping; kernel enforcement stays in place/);
});

t.test('version prints the package version', async (t) => {
  const { code, output } = await runAgent(['version'], opts);
  t.equal(code, 0);
  t.match(output.trim(), /^\d+\.\d+\.\d+$/);
});

t.test('bad config gives one line per problem and exit code 2', async (t) => {
  const file = join(shipped, 'bad.json');
  writeFileSync(file, JSON.stringify({ dataplane: 'ebpf', mqtt: { keepaliveSeconds: 0 } }));
  const { code, output } = await runAgent(['check-config', file], opts);
  t.equal(code, 2);
  t.same(output.trim().split('\n').sort(), ['config: dataplane: "ebpf" is not one of kernel, sim', 'config: mqtt.keepaliveSeconds: 0 is below 1']);
});

t.test('a good config file checks out', async (t) => {
  const file = join(shipped, 'good.json');
  writeFileSync(file, JSON.stringify({ deviceId: 'edge-1', allowInsecure: true, interfaces: ['wan'] }));
  const { code, output } = await runAgent(['check-config', file], opts);
  t.equal(code, 0, output);
});

t.test('unknown flags and commands are refused with exit code 2', async (t) => {
  const flag = await runAgent(['run', '--no-such-flag'], opts);
  t.equal(flag.code, 2);
  t.match(flag.output, /usage: Unknown option '--no-such-flag'/);
  const verb = await runAgent(['launch'], opts);
  t.equal(verb.code, 2);
  t.match(verb.output, /unknown command "launch"/);
});

const notRoot = process.getuid?.() !== 0 && 'needs root to drop to an unprivileged user';
t.test('without the rights to load BPF the kernel dataplane refuses to start and says why', { skip: notRoot }, async (t) => {
  const { code, output } = await runAgent(['run', '--allow-insecure', '--http-listen', '127.0.0.1:0', '--state-dir', join(shipped, 'state2'), '--run-dir', join(shipped, 'run2')], { ...opts, uid: 65534, gid: 65534 });
  t.equal(code, 1);
  t.match(output, /dataplane: cannot load BPF programs: .*Operation not permitted.*--dataplane sim/, 'the kernel refused, not a missing module');
});

t.test('kernel mode leaves its pins in place on SIGTERM, and dataplane detach removes them', { skip: notRoot }, async (t) => {
  const instance = `cli-test-${process.pid}`;
  const pins = `/sys/fs/bpf/openc2/${instance}`;
  t.teardown(() => runAgent(['dataplane', 'detach', '--instance', instance], opts));
  const agent = startAgent(['run', '--allow-insecure', '--http-listen', '127.0.0.1:0', '--instance', instance, '--state-dir', join(shipped, 'state3'), '--run-dir', join(shipped, 'run3')], opts);
  t.teardown(() => agent.stop('SIGKILL'));
  await agent.waitFor(/ready .*dataplane=kernel/, 30_000);
  t.equal(await agent.stop('SIGTERM'), 0);
  t.ok(existsSync(pins), 'pins outlive the agent (fail-static)');
  const detach = await runAgent(['dataplane', 'detach', '--instance', instance], opts);
  t.equal(detach.code, 0, detach.output);
  t.match(detach.output, /nothing is enforced now/);
  t.notOk(existsSync(pins), 'no pins left');
});
