import t from 'tap';
import { request } from 'node:https';
import { createLogger } from '../../agent/log/logger.js';
import { startHttpTransport } from '../../agent/transports/http.js';
import { loadFixture, mismatches } from '../fixtures/commands.js';
import { ManualClock, startAgent } from '../fixtures/consumer-harness.js';
import { createPki } from '../helpers/certs.js';

// The shared command fixtures (PF Appendix E, SLPF Annex A, bad input) over HTTPS with
// mutual TLS into the real consumer: the same cases the MQTT and consumer suites run.
// Each case gets a fresh agent; the envelope goes to /.well-known/openc2 and, for the
// examples, the bare command to / as well.

const pki = createPki();
t.teardown(() => pki.remove());
const server = pki.issue('localhost', 'server');
const producer = pki.issue('producer-1', 'client');

function post(port: number, path: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca: pki.ca.cert, cert: producer.cert, key: producer.key, headers: { 'content-type': 'application/openc2+json;version=1.0' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, body: text === '' ? undefined : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

for (const file of ['pf-appendix-e', 'slpf-annex-a', 'bad-input']) {
  const fixture = loadFixture(file);
  const forms = file === 'bad-input' ? (['envelope'] as const) : (['envelope', 'bare'] as const);
  t.test(file, async (t) => {
    for (const example of fixture.cases) {
      for (const form of forms) {
        t.test(`${example.name} (${form})`, async (t) => {
          const agent = await startAgent(t.teardown, { deviceId: fixture.agent.deviceId }, { namedGroups: [...fixture.agent.namedGroups], clock: new ManualClock(fixture.agent.now) });
          const http = await startHttpTransport({
            host: '127.0.0.1',
            port: 0,
            tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: pki.ca.certFile, allowedSubjects: ['producer-1'] },
            deviceId: fixture.agent.deviceId,
            signing: { trustedKeys: new Map(), required: false, windowMs: 300_000 },
            maxMessageBytes: 1 << 20,
            requestTimeoutMs: 5_000,
            responseDeadlineMs: 5_000,
            later: { destinations: [], respond: () => {} },
            handler: agent.consumer,
            logger: createLogger({ level: 'error', format: 'text', write: () => {} }),
          });
          t.teardown(() => http.close());
          const port = http.address.port;
          let id = 0;
          const send = (command: unknown) =>
            form === 'bare'
              ? post(port, '/', command).then((r) => ({ status: r.status, response: r.body }))
              : post(port, '/.well-known/openc2', { headers: { request_id: `fx-${++id}` }, body: { openc2: { request: command } } }).then((r) => {
                  if (r.body !== undefined) t.equal(r.body.headers.request_id, `fx-${id}`, 'the response carries the request_id');
                  return { status: r.status, response: r.body?.body.openc2.response };
                });
          for (const [i, setup] of (example.setup ?? []).entries()) {
            const { response } = await send(setup);
            t.equal(response?.status, 200, `setup ${i} succeeds: ${JSON.stringify(response)}`);
          }
          const { status, response } = await send(example.command);
          t.same(mismatches(response, example.expect), [], JSON.stringify(response));
          const expected = example.expect === null ? 204 : example.expect.status === 102 ? 202 : example.expect.status;
          t.equal(status, expected, `HTTP ${expected}`);
        });
      }
    }
  });
}
