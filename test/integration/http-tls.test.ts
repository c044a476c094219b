import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import type { CommandHandler, RequestContext } from '../../agent/consumer/consumer.js';
import nacl from 'tweetnacl';
import { signEnvelope } from '../../agent/codec/signing.js';
import { createLogger } from '../../agent/log/logger.js';
import { startHttpTransport, type HttpTlsOptions } from '../../agent/transports/http.js';
import { createPki, type IssuedCert } from '../helpers/certs.js';
import { until } from '../helpers/until.js';

// HTTPS with mutual TLS (HTTPS transfer spec 3.2.3-3.2.4, RFC 6546 section 4), with
// certificates from a throw-away CA made by the test.

const pki = createPki('openc2-fleet-ca');
const otherPki = createPki('someone-else-ca');
t.teardown(() => {
  pki.remove();
  otherPki.remove();
});
const server = pki.issue('localhost', 'server');
const producer = pki.issue('producer-1', 'client');
const stranger = pki.issue('producer-2', 'client');
const forged = otherPki.issue('producer-1', 'client');

const signingKeys = nacl.sign.keyPair();

const JSON_TYPE = 'application/openc2+json;version=1.0';
const query = JSON.stringify({ action: 'query', target: { features: ['versions'] } });

const contexts: RequestContext[] = [];
const handler: CommandHandler = {
  async handle(_command, context) {
    contexts.push(context);
    return { status: 200, results: { versions: ['1.0'] } };
  },
};

async function start(t: Test, tls: Partial<HttpTlsOptions> = {}) {
  const lines: string[] = [];
  const transport = await startHttpTransport({
    host: '127.0.0.1',
    port: 0,
    tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: pki.ca.certFile, allowedSubjects: ['producer-1'], ...tls },
    deviceId: 'edge-1',
    signing: { trustedKeys: new Map([['relayed-producer', signingKeys.publicKey]]), required: false, windowMs: 300_000 },
    maxMessageBytes: 4096,
    requestTimeoutMs: 2_000,
    responseDeadlineMs: 2_000,
    later: { destinations: [], respond: () => {} },
    handler,
    logger: createLogger({ level: 'debug', format: 'text', write: (_l, line) => lines.push(line) }),
  });
  t.teardown(() => transport.close());
  return { port: transport.address.port, lines };
}

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  json(): any;
}

function post(port: number, client: IssuedCert | undefined, body = query, extra: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/.well-known/openc2',
      method: 'POST',
      ca: pki.ca.cert,
      agent: false,
      headers: { 'content-type': JSON_TYPE },
      ...(client ? { cert: client.cert, key: client.key } : {}),
      ...extra,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: () => JSON.parse(Buffer.concat(chunks).toString()) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('a client certificate from the CA with an allowed subject is served, and its subject is the producer', async (t) => {
  const { port, lines } = await start(t);
  contexts.length = 0;
  const envelope = { headers: { request_id: 'tls-1' }, body: { openc2: { request: JSON.parse(query) } } };
  const reply = await post(port, producer, JSON.stringify(envelope));
  t.equal(reply.status, 200);
  t.same(reply.json().body.openc2.response, { status: 200, results: { versions: ['1.0'] } });
  t.same(reply.json().headers.to, ['producer-1'], 'the response is addressed to the authenticated producer');
  t.same(contexts, [{ transport: 'http', requestId: 'tls-1', producer: 'producer-1' }]);
  t.match(lines.join('\n'), /http listening .*tls=mutual/);
});

t.test('an envelope whose from is not the certificate subject is refused with 403', async (t) => {
  const { port } = await start(t);
  const envelope = { headers: { request_id: 'tls-2', from: 'someone-else' }, body: { openc2: { request: JSON.parse(query) } } };
  const reply = await post(port, producer, JSON.stringify(envelope));
  t.equal(reply.status, 403);
  t.match(reply.json().body.openc2.response.status_text, /headers.from "someone-else" is not the client certificate subject "producer-1", and the message is not signed by it/);
  const same = await post(port, producer, JSON.stringify({ ...envelope, headers: { request_id: 'tls-3', from: 'producer-1' } }));
  t.equal(same.status, 200, 'a from that matches is fine');
});

t.test('a from other than the certificate subject is accepted when a trusted signature authenticates it', async (t) => {
  const { port } = await start(t);
  contexts.length = 0;
  const envelope = { headers: { request_id: 'tls-4', created: Date.now(), from: 'relayed-producer' }, body: { openc2: { request: JSON.parse(query) } } };
  const reply = await post(port, producer, JSON.stringify(signEnvelope(envelope, 'json', signingKeys.secretKey)));
  t.equal(reply.status, 200);
  t.same(reply.json().headers.to, ['relayed-producer']);
  t.equal(contexts[0]!.producer, 'relayed-producer', 'the signer is the producer');
});

t.test('a certificate from the CA whose subject is not on the allow-list gets 403 saying so', async (t) => {
  const { port } = await start(t);
  contexts.length = 0;
  const reply = await post(port, stranger);
  t.equal(reply.status, 403);
  t.same(reply.json(), { status: 403, status_text: 'client certificate subject CN=producer-2 is not on http.allowedSubjects' });
  t.equal(contexts.length, 0);
});

t.test('with an empty allow-list any certificate from the CA is served', async (t) => {
  const { port } = await start(t, { allowedSubjects: [] });
  t.equal((await post(port, stranger)).status, 200);
});

t.test('a certificate from another CA is refused in the handshake, and the refusal is logged', async (t) => {
  const { port, lines } = await start(t);
  contexts.length = 0;
  await t.rejects(post(port, forged));
  await until(() => lines.some((l) => /TLS client refused/.test(l)), 'the log line');
  t.match(lines.join('\n'), /TLS client refused .*reason=UNABLE_TO_VERIFY_LEAF_SIGNATURE subject=producer-1 issuer=someone-else-ca/);
  t.equal(contexts.length, 0);
});

t.test('a client without a certificate is refused in the handshake', async (t) => {
  const { port, lines } = await start(t);
  contexts.length = 0;
  await t.rejects(post(port, undefined));
  await until(() => lines.some((l) => /TLS client refused/.test(l)), 'the log line');
  t.match(lines.join('\n'), /TLS client refused peer=127\.0\.0\.1 reason="no client certificate"/);
  t.equal(contexts.length, 0);
});

t.test('plain HTTP to the TLS port gets no HTTP answer', async (t) => {
  const { port, lines } = await start(t);
  contexts.length = 0;
  const outcome = await new Promise<string>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'POST', headers: { 'content-type': JSON_TYPE } }, (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
    req.end(query);
  });
  t.match(outcome, /^error /, outcome);
  t.equal(contexts.length, 0);
  await until(() => lines.some((l) => /TLS handshake failed/.test(l)), 'the log line');
});

t.test('TLS 1.1 is refused; TLS 1.2 and 1.3 are served', async (t) => {
  const { port } = await start(t);
  await t.rejects(post(port, producer, query, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
  t.equal((await post(port, producer, query, { maxVersion: 'TLSv1.2' })).status, 200);
  t.equal((await post(port, producer, query, { minVersion: 'TLSv1.3' })).status, 200);
});

t.test('a TLS 1.2 client offering only CBC suites (RFC 7540 Appendix A) is refused', async (t) => {
  const { port } = await start(t);
  await t.rejects(post(port, producer, query, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }));
});

t.test('HTTPS without a CA (allowInsecure) serves clients without certificates and warns', async (t) => {
  const { port, lines } = await start(t, { caFile: undefined, allowedSubjects: [] });
  t.equal((await post(port, undefined)).status, 200);
  t.match(lines.join('\n'), /HTTPS without client certificates: any client can send commands/);
});
