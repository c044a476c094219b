import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '../helpers/agent.js';
import { createPki } from '../helpers/certs.js';
import { Orchestrator } from '../helpers/orchestrator.js';
import { until } from '../helpers/until.js';

// The shipped bundle with HTTPS + mTLS and alerts to an orchestrator: start and stop
// alerts arrive, also across restarts while the orchestrator was down.

const pki = createPki('openc2-fleet-ca');
const root = mkdtempSync(join(tmpdir(), 'openc2-agent-alerts-'));
t.teardown(() => {
  pki.remove();
  rmSync(root, { recursive: true, force: true });
});
const server = pki.issue('localhost', 'server');
const agentClient = pki.issue('edge-1', 'client');
const producer = pki.issue('producer-1', 'client');

function args(orchestrator: Orchestrator): string[] {
  return [
    'run', '--dataplane', 'sim', '--device-id', 'edge-1', '--state-dir', join(root, 'state'), '--run-dir', join(root, 'run'),
    '--http-listen', '127.0.0.1:0', '--http-tls-cert', server.certFile, '--http-tls-key', server.keyFile, '--http-tls-ca', pki.ca.certFile, '--http-allowed-subjects', 'producer-1',
    '--alerts-url', orchestrator.url, '--alerts-tls-cert', agentClient.certFile, '--alerts-tls-key', agentClient.keyFile, '--alerts-tls-ca', pki.ca.certFile,
  ];
}

function query(port: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/.well-known/openc2', method: 'POST', ca: pki.ca.cert, cert: producer.cert, key: producer.key, headers: { 'content-type': 'application/openc2+json;version=1.0' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ headers: { request_id: 'q-1' }, body: { openc2: { request: { action: 'query', target: { features: ['versions'] } } } } }));
  });
}

t.test('the agent serves HTTPS with mTLS and tells the orchestrator it started and stopped', async (t) => {
  const orchestrator = new Orchestrator(pki);
  await orchestrator.up();
  t.teardown(() => orchestrator.down());
  const agent = startAgent(args(orchestrator));
  t.teardown(() => agent.stop('SIGKILL'));
  const [, port] = await agent.waitFor(/http listening .*port=(\d+) tls=mutual/);
  await until(() => orchestrator.received.length === 1, 'agent_started');
  t.match(orchestrator.notifications[0], { event: 'agent_started', device: 'edge-1' });
  t.equal(orchestrator.received[0]!.client, 'edge-1', 'the agent showed its client certificate');
  const reply = await query(Number(port));
  t.equal(reply.status, 200);
  t.same(reply.body.body.openc2.response, { status: 200, results: { versions: ['1.0'] } });
  t.equal(await agent.stop('SIGTERM'), 0);
  await until(() => orchestrator.received.length === 2, 'agent_stopping');
  t.match(orchestrator.notifications[1], { event: 'agent_stopping', signal: 'SIGTERM' });
});

t.test('alerts of a run while the orchestrator was down arrive after the next start, in order and once', async (t) => {
  const orchestrator = new Orchestrator(pki);
  await orchestrator.up();
  const url = orchestrator.url;
  await orchestrator.down();
  t.teardown(() => orchestrator.down());
  const offline = startAgent(args(orchestrator));
  t.teardown(() => offline.stop('SIGKILL'));
  await offline.waitFor(/ready/);
  await offline.waitFor(/alert destination unreachable/);
  t.equal(await offline.stop('SIGTERM'), 0);
  await orchestrator.up();
  t.equal(orchestrator.url, url, 'back on the same port');
  const online = startAgent(args(orchestrator));
  t.teardown(() => online.stop('SIGKILL'));
  await online.waitFor(/ready/);
  await until(() => orchestrator.received.length >= 3, 'three alerts');
  t.same(orchestrator.notifications.map((n) => n.event), ['agent_started', 'agent_stopping', 'agent_started']);
  t.match(online.output(), /messages from before the restart .*queued=2/);
  t.equal(await online.stop('SIGTERM'), 0);
  await until(() => orchestrator.received.length >= 4, 'the last agent_stopping');
  t.equal(orchestrator.received.length, 4, 'nothing twice');
});
