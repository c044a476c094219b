import t, { type Test } from 'tap';
import { decode as cborDecode, encode as cborEncode } from 'cbor-x';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import nacl from 'tweetnacl';
import type { MessageHeaders } from '../../agent/codec/envelope.js';
import type { CommandHandler, OpenC2Response, RequestContext } from '../../agent/consumer/consumer.js';
import { signEnvelope } from '../../agent/codec/signing.js';
import { createLogger } from '../../agent/log/logger.js';
import type { DelayedResponses } from '../../agent/transports/alerts.js';
import { startHttpTransport, type HttpTransportOptions } from '../../agent/transports/http.js';
import { until } from '../helpers/until.js';

// Protocol paths over plain HTTP (the Testing target of the HTTPS transfer spec, 4.1);
// TLS and client certificates are in http-tls.test.ts.

const JSON_TYPE = 'application/openc2+json;version=1.0';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

function post(port: number, path: string, body: string | Uint8Array, headers: Record<string, string> = {}, method = 'POST', agent?: Agent): Promise<Reply & { reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': JSON_TYPE, ...headers }, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body: buf, json: () => JSON.parse(buf.toString()), reusedSocket: req.reusedSocket });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A consumer that answers what the test scripts, and remembers what it was asked. */
function scriptedHandler(answer: (command: any) => Promise<OpenC2Response | undefined> | OpenC2Response | undefined) {
  const calls: { command: any; context: RequestContext }[] = [];
  const handler: CommandHandler = {
    async handle(command, context) {
      calls.push({ command, context });
      return answer(command);
    },
  };
  return { handler, calls };
}

function recordingLater(destinations: string[] = ['https']) {
  const delivered: { response: OpenC2Response; headers: MessageHeaders }[] = [];
  const later: DelayedResponses = { destinations, respond: (response, headers) => void delivered.push({ response, headers }) };
  return { later, delivered };
}

async function start(t: Test, overrides: Partial<HttpTransportOptions> & Pick<HttpTransportOptions, 'handler'>) {
  const lines: string[] = [];
  const transport = await startHttpTransport({
    host: '127.0.0.1',
    port: 0,
    deviceId: 'edge-1',
    signing: { trustedKeys: new Map(), required: false, windowMs: 300_000 },
    maxMessageBytes: 2048,
    requestTimeoutMs: 2_000,
    responseDeadlineMs: 2_000,
    later: recordingLater().later,
    logger: createLogger({ level: 'debug', format: 'text', write: (_l, line) => lines.push(line) }),
    ...overrides,
  });
  t.teardown(() => transport.close());
  return { port: transport.address.port, lines };
}

const query = JSON.stringify({ action: 'query', target: { features: ['versions'] } });
const ok = (): OpenC2Response => ({ status: 200, results: { versions: ['1.0'] } });

t.test('POST / with a bare command answers the bare response with 200 and the OpenC2 media type', async (t) => {
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const reply = await post(port, '/', query, { 'content-type': 'application/json' });
  t.equal(reply.status, 200);
  t.same(reply.json(), { status: 200, results: { versions: ['1.0'] } });
  t.equal(reply.headers['content-type'], JSON_TYPE);
  t.equal(reply.headers['cache-control'], 'no-cache');
  t.ok(reply.headers.date, 'Date header (HTTPS transfer 3.4)');
  t.same(calls[0]!.command, JSON.parse(query));
  t.equal(calls[0]!.context.transport, 'http');
  t.equal(calls[0]!.context.producer, undefined, 'plain HTTP without from: no producer');
});

t.test('POST /.well-known/openc2 with an envelope answers an envelope carrying request_id, from and to', async (t) => {
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const envelope = { headers: { request_id: 'd1ac0489', created: Date.now(), from: 'oc2producer' }, body: { openc2: { request: JSON.parse(query) } } };
  const reply = await post(port, '/.well-known/openc2', JSON.stringify(envelope), { 'x-request-id': 'x-abc' });
  t.equal(reply.status, 200);
  const body = reply.json();
  t.same(body.body, { openc2: { response: { status: 200, results: { versions: ['1.0'] } } } });
  t.equal(body.headers.request_id, 'd1ac0489', 'the command request_id wins over X-Request-ID (HTTPS transfer 3.3.3)');
  t.equal(body.headers.from, 'edge-1');
  t.same(body.headers.to, ['oc2producer']);
  t.equal(reply.headers['x-request-id'], 'x-abc', 'X-Request-ID echoed');
  t.same(calls[0]!.context, { transport: 'http', requestId: 'd1ac0489', producer: 'oc2producer' });
});

t.test('a command without request_id gets the X-Request-ID as its response request_id', async (t) => {
  const { handler } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const reply = await post(port, '/.well-known/openc2', JSON.stringify({ body: { openc2: { request: JSON.parse(query) } } }), { 'x-request-id': 'only-in-http' });
  t.equal(reply.json().headers.request_id, 'only-in-http');
  t.equal(reply.headers['x-request-id'], 'only-in-http');
});

t.test('the OpenC2 status is the HTTP status for every status the consumer returns', async (t) => {
  const statuses = [200, 400, 401, 403, 404, 500, 501, 503];
  const { handler } = scriptedHandler((command) => ({ status: command.status, status_text: `status ${command.status}` }));
  const { port } = await start(t, { handler });
  for (const status of statuses) {
    const reply = await post(port, '/', JSON.stringify({ action: 'query', status }));
    t.equal(reply.status, status, `HTTP ${status}`);
    t.same(reply.json(), { status, status_text: `status ${status}` });
  }
});

t.test('102 Processing (response_requested ack) goes out as 202 Accepted with 102 in the body', async (t) => {
  const { handler } = scriptedHandler(() => ({ status: 102 }));
  const { port } = await start(t, { handler });
  const reply = await post(port, '/', JSON.stringify({ action: 'deny', target: {}, args: { response_requested: 'ack' } }));
  t.equal(reply.status, 202);
  t.same(reply.json(), { status: 102 });
});

t.test('response_requested none: 204 and no body', async (t) => {
  const { handler } = scriptedHandler(() => undefined);
  const { port } = await start(t, { handler });
  const reply = await post(port, '/', JSON.stringify({ action: 'deny', target: {}, args: { response_requested: 'none' } }), { 'x-request-id': 'r-none' });
  t.equal(reply.status, 204);
  t.equal(reply.body.length, 0);
  t.equal(reply.headers['x-request-id'], 'r-none');
});

t.test('a consumer that throws gives 500 with a status text, not a dropped connection', async (t) => {
  const { handler } = scriptedHandler(() => {
    throw new Error('boom');
  });
  const { port, lines } = await start(t, { handler });
  const reply = await post(port, '/', query);
  t.equal(reply.status, 500);
  t.same(reply.json(), { status: 500, status_text: 'internal error' });
  t.match(lines.join('\n'), /command failed/);
});

t.test('with signing required, an unsigned command is refused 401 and a signed one runs with its signer as producer', async (t) => {
  const keys = nacl.sign.keyPair();
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler, signing: { trustedKeys: new Map([['oc2producer', keys.publicKey]]), required: true, windowMs: 300_000 } });
  const unsigned = await post(port, '/', query);
  t.equal(unsigned.status, 401);
  t.match(unsigned.json().status_text, /signature: required/);
  const envelope = { headers: { request_id: 's-1', created: Date.now(), from: 'oc2producer' }, body: { openc2: { request: JSON.parse(query) } } };
  const signed = await post(port, '/.well-known/openc2', JSON.stringify(signEnvelope(envelope, 'json', keys.secretKey)));
  t.equal(signed.status, 200);
  t.equal(calls.length, 1);
  t.equal(calls[0]!.context.producer, 'oc2producer');
  const forged = await post(port, '/.well-known/openc2', JSON.stringify(signEnvelope({ ...envelope, headers: { ...envelope.headers, request_id: 's-2' } }, 'json', nacl.sign.keyPair().secretKey)));
  t.equal(forged.status, 401);
  t.equal(forged.json().headers.request_id, 's-2', 'the refusal answers to the request_id');
  t.equal(calls.length, 1, 'nothing unsigned or forged reached the consumer');
});

t.test('CBOR in, CBOR out', async (t) => {
  const { handler } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const envelope = { headers: { request_id: 'c1' }, body: { openc2: { request: JSON.parse(query) } } };
  const reply = await post(port, '/.well-known/openc2', cborEncode(envelope), { 'content-type': 'application/openc2+cbor;version=1.0' });
  t.equal(reply.status, 200);
  t.equal(reply.headers['content-type'], 'application/openc2+cbor;version=1.0');
  const body = cborDecode(reply.body) as any;
  t.equal(body.headers.request_id, 'c1');
  t.same(body.body.openc2.response, { status: 200, results: { versions: ['1.0'] } });
});

t.test('wrong method, path, content type, version, id and body are refused with a 4xx that says why', async (t) => {
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const cases: [string, () => Promise<Reply>, number, RegExp][] = [
    ['GET', () => post(port, '/', '', {}, 'GET'), 405, /method GET not allowed; use POST/],
    ['PUT on the well-known path', () => post(port, '/.well-known/openc2', query, {}, 'PUT'), 405, /method PUT/],
    ['unknown path', () => post(port, '/admin', query), 404, /no OpenC2 endpoint at \/admin/],
    ['text/plain', () => post(port, '/', query, { 'content-type': 'text/plain' }), 415, /content type text\/plain not supported/],
    ['form-encoded (curl without -H)', () => post(port, '/', query, { 'content-type': 'application/x-www-form-urlencoded' }), 415, /not supported/],
    ['another OpenC2 version', () => post(port, '/', query, { 'content-type': 'application/openc2+json;version=2.0' }), 415, /version=2\.0 not supported/],
    ['bad X-Request-ID', () => post(port, '/', query, { 'x-request-id': 'a'.repeat(200) }), 400, /X-Request-ID/],
    ['not JSON', () => post(port, '/', '{"action":'), 400, /not valid JSON/],
    ['an envelope with a response', () => post(port, '/.well-known/openc2', JSON.stringify({ body: { openc2: { response: { status: 200 } } } })), 400, /expected a request, got a response/],
    ['an unknown envelope field', () => post(port, '/.well-known/openc2', JSON.stringify({ body: { openc2: { request: {} } }, extra: 1 })), 400, /extra: unknown field/],
  ];
  for (const [name, run, status, why] of cases) {
    const reply = await run();
    // Errors in an envelope are answered in an envelope.
    const response = reply.json().body?.openc2.response ?? reply.json();
    t.equal(reply.status, status, `${name}: ${status}`);
    t.equal(response.status, status, `${name}: status in the body`);
    t.match(response.status_text, why, `${name}: says why`);
  }
  t.equal((await post(port, '/', '', {}, 'GET')).headers.allow, 'POST', '405 names the allowed method');
  t.equal(calls.length, 0, 'none reached the consumer');
});

t.test('bodies over the size limit are refused with 413, declared or chunked, and the connection closes', async (t) => {
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const big = JSON.stringify({ action: 'query', pad: 'x'.repeat(4096) });
  const declared = await post(port, '/', big);
  t.equal(declared.status, 413);
  t.match(declared.json().status_text, /over the 2048 byte limit/);
  t.equal(declared.headers.connection, 'close');
  const chunked = await new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', headers: { 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), json: () => JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 5; i++) req.write('x'.repeat(1000));
    req.end();
  });
  t.equal(chunked.status, 413);
  t.match(chunked.json().status_text, /over the 2048 byte limit/);
  t.equal(calls.length, 0);
});

t.test('Expect: 100-continue gets 100 for a good request and the refusal, without the body, for a bad one', async (t) => {
  const { handler } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const ask = (path: string, length: number) =>
    new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
      let continued = false;
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': JSON_TYPE, 'content-length': length, expect: '100-continue' } });
      req.on('continue', () => {
        continued = true;
        req.end(query);
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ continued, status: res.statusCode! }));
        if (!continued) req.destroy();
      });
      req.on('error', reject);
    });
  t.same(await ask('/', Buffer.byteLength(query)), { continued: true, status: 200 });
  t.same(await ask('/', 4096), { continued: false, status: 413 });
  t.same(await ask('/nowhere', Buffer.byteLength(query)), { continued: false, status: 404 });
});

t.test('chunked bodies within the limit are accepted (RFC 6546 section 3)', async (t) => {
  const { handler } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const reply = await post(port, '/', query, { 'transfer-encoding': 'chunked' });
  t.equal(reply.status, 200);
});

t.test('connections persist: a second command reuses the socket', async (t) => {
  const { handler } = scriptedHandler(ok);
  const { port } = await start(t, { handler });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await post(port, '/', query, {}, 'POST', agent);
  const second = await post(port, '/', query, {}, 'POST', agent);
  t.equal(first.status, 200);
  t.equal(second.status, 200);
  t.equal(second.reusedSocket, true);
  t.match(first.headers['keep-alive'], /timeout=60/);
});

t.test('a request body that stalls gets 408 with a body, and the connection closes', async (t) => {
  const { handler, calls } = scriptedHandler(ok);
  const { port } = await start(t, { handler, requestTimeoutMs: 200 });
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let text = '';
  socket.on('data', (c) => (text += c.toString()));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: 100\r\n\r\n{"action":`);
  await closed;
  t.match(text, /^HTTP\/1\.1 408 /);
  t.match(text, /did not arrive within 200 ms/);
  t.equal(calls.length, 0);
});

t.test('a command past the response deadline gets 202 + 102 now, and its response goes out later with its request_id', async (t) => {
  let finish!: (r: OpenC2Response) => void;
  const { handler } = scriptedHandler(() => new Promise<OpenC2Response>((resolve) => (finish = resolve)));
  const { later, delivered } = recordingLater(['https', 'mqtt']);
  const { port } = await start(t, { handler, later, responseDeadlineMs: 100 });
  const envelope = { headers: { request_id: 'long-1', from: 'oc2producer' }, body: { openc2: { request: { action: 'update', target: { file: { name: 'rules' } } } } } };
  const reply = await post(port, '/.well-known/openc2', JSON.stringify(envelope));
  t.equal(reply.status, 202);
  const interim = reply.json();
  t.equal(interim.headers.request_id, 'long-1');
  t.equal(interim.body.openc2.response.status, 102);
  t.match(interim.body.openc2.response.status_text, /delivered later through https and mqtt with request_id long-1/);
  t.equal(delivered.length, 0, 'nothing delivered before the command ends');
  finish({ status: 200, status_text: '100000 rules applied' });
  await until(() => delivered.length === 1, 'the delayed response');
  t.same(delivered[0], { response: { status: 200, status_text: '100000 rules applied' }, headers: { request_id: 'long-1', to: ['oc2producer'] } });
});

t.test('an ack that misses the deadline is not delivered again later: the 202 already said 102', async (t) => {
  const { handler } = scriptedHandler(() => new Promise<OpenC2Response>((resolve) => setTimeout(() => resolve({ status: 102 }), 150)));
  const { later, delivered } = recordingLater();
  const { port } = await start(t, { handler, later, responseDeadlineMs: 50 });
  const reply = await post(port, '/', JSON.stringify({ action: 'deny', target: {}, args: { response_requested: 'ack' } }));
  t.equal(reply.status, 202);
  t.equal(reply.json().status, 102);
  await new Promise((resolve) => setTimeout(resolve, 250));
  t.equal(delivered.length, 0);
});

t.test('past the deadline with no alert destination, the 202 says the response will not come', async (t) => {
  const { handler } = scriptedHandler(() => new Promise<OpenC2Response>((resolve) => setTimeout(() => resolve({ status: 200 }), 300)));
  const { later, delivered } = recordingLater([]);
  const { port, lines } = await start(t, { handler, later, responseDeadlineMs: 50 });
  const reply = await post(port, '/', JSON.stringify({ action: 'update', target: {} }));
  t.equal(reply.status, 202);
  t.match(reply.json().status_text, /will not be delivered; query the actuator later/);
  t.ok(reply.headers['x-request-id'], 'a request id is made up so the producer can correlate');
  await until(() => lines.some((l) => /response not delivered/.test(l)), 'the warning');
  t.equal(delivered.length, 0);
});

t.test('when the client hangs up before the response, it is delivered later', async (t) => {
  let finish!: (r: OpenC2Response) => void;
  const { handler, calls } = scriptedHandler(() => new Promise<OpenC2Response>((resolve) => (finish = resolve)));
  const { later, delivered } = recordingLater();
  const { port } = await start(t, { handler, later, responseDeadlineMs: 5_000 });
  const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', headers: { 'content-type': JSON_TYPE, 'x-request-id': 'gone-1' } });
  req.on('error', () => {});
  req.end(query);
  await until(() => calls.length === 1, 'the command to arrive');
  req.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  finish({ status: 200 });
  await until(() => delivered.length === 1, 'the delayed response');
  t.equal(delivered[0]!.headers.request_id, 'gone-1');
});
