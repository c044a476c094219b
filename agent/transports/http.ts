import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createPlainServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DecodeError, decodeMessage, encodeMessage, MEDIA_TYPE, type Encoding } from '../codec/codec.js';
import { EnvelopeError, openEnvelope, peekHeaders, sealEnvelope, type MessageHeaders } from '../codec/envelope.js';
import { SignatureError, verifyMessage, type SignaturePolicy } from '../codec/signing.js';
import type { CommandHandler, OpenC2Response, RequestContext } from '../consumer/consumer.js';
import type { Logger } from '../log/logger.js';
import type { DelayedResponses } from './alerts.js';
import { commonName, TLS_POLICY } from './tls-policy.js';

/**
 * OpenC2 over HTTP(S): `POST /` on 6767 (communication-protocols text) and
 * `POST /.well-known/openc2` (HTTPS transfer spec 3.2.2), each taking a bare
 * command or the message envelope and answering in kind, in the request's encoding.
 * HTTPS with mutual TLS unless configured otherwise (HTTPS transfer 3.2.3-3.2.4).
 */

/** HTTPS settings; absent means plain HTTP. */
export interface HttpTlsOptions {
  /** Server certificate and key, PEM files. */
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle (PEM file) client certificates must chain to; unset: no client certificates (allowInsecure only). */
  readonly caFile?: string;
  /** Client certificate common names allowed to command; empty: any certificate from the CA. */
  readonly allowedSubjects: readonly string[];
}

/** What the listener needs; main.ts maps the config onto it. */
export interface HttpTransportOptions {
  readonly host: string;
  readonly port: number;
  /** Plain HTTP when unset. */
  readonly tls?: HttpTlsOptions;
  readonly deviceId: string;
  /** Signature checks (DESIGN.md section 5), the same as on MQTT; the consumer refuses repeated request ids. */
  readonly signing: SignaturePolicy;
  readonly maxMessageBytes: number;
  /** Time a client has to send one whole request. */
  readonly requestTimeoutMs: number;
  /** A command still running after this long is answered 202, its response delivered later by `later`. */
  readonly responseDeadlineMs: number;
  readonly later: DelayedResponses;
  readonly handler: CommandHandler;
  readonly logger: Logger;
}

/** A bound listener. */
export interface HttpTransport {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const PATHS = new Set(['/', '/.well-known/openc2']);

/** The client is gone; its response goes through `later`: nothing more to send. */
const DELAYED = Symbol('delayed');

/** Idle persistent connections (RFC 6546 section 3: support and use them) are closed after this. */
const KEEP_ALIVE_MS = 60_000;
/** A router has a handful of producers; the cap keeps a flood from eating a 128 MB box. */
const MAX_CONNECTIONS = 64;

/** Why a request was refused before it reached the consumer; each code has one HTTP status. */
type RefusalCode = 'no-endpoint' | 'method' | 'media-type' | 'too-large' | 'timeout' | 'unauthenticated' | 'subject' | 'request-id';

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  'no-endpoint': 404,
  method: 405,
  'media-type': 415,
  'too-large': 413,
  timeout: 408,
  unauthenticated: 401,
  subject: 403,
  'request-id': 400,
};

class HttpRefusal extends Error {
  override name = 'HttpRefusal';
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/** Picks the encoding from Content-Type; a missing one is JSON, the default serialization (communication-protocols text). */
function encodingOf(contentType: string | undefined): Encoding {
  const [type, ...params] = (contentType ?? 'application/json').split(';').map((p) => p.trim().toLowerCase());
  const version = params.find((p) => p.startsWith('version='))?.slice('version='.length);
  let encoding: Encoding | undefined;
  if (type === 'application/json' || type === 'application/openc2+json') encoding = 'json';
  if (type === 'application/cbor' || type === 'application/openc2+cbor') encoding = 'cbor';
  if (!encoding || (version !== undefined && version !== '1.0' && version !== '"1.0"')) {
    throw new HttpRefusal('media-type', `content type ${contentType} not supported; use ${MEDIA_TYPE.json} or ${MEDIA_TYPE.cbor}`);
  }
  return encoding;
}

function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new HttpRefusal('too-large', `message of ${declared} bytes is over the ${limit} byte limit`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error): void => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      reject(err);
    };
    const timer = setTimeout(() => fail(new HttpRefusal('timeout', `the request body did not arrive within ${timeoutMs} ms`)), timeoutMs);
    // Chunked bodies (RFC 6546 section 3) have no length up front: count as they come.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) fail(new HttpRefusal('too-large', `message is over the ${limit} byte limit`));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', fail);
  });
}

/**
 * HTTP status line for an OpenC2 status: the same code (HTTPS transfer 4.2.1 item 8),
 * except 102 Processing, an interim code that cannot end an HTTP exchange: it goes
 * out as 202 Accepted, with 102 in the body.
 */
function httpStatus(status: number): number {
  if (status === 102) return 202;
  return Number.isInteger(status) && status >= 200 && status < 600 ? status : 500;
}

function send(res: ServerResponse, status: number, body: unknown, encoding: Encoding, requestId: string | undefined, close = false): void {
  const bytes = encodeMessage(body, encoding);
  res.writeHead(status, {
    'content-type': MEDIA_TYPE[encoding],
    'content-length': bytes.byteLength,
    // HTTPS transfer 3.2.1: SHOULD, on every message carrying OpenC2.
    'cache-control': 'no-cache',
    ...(requestId ? { 'x-request-id': requestId } : {}),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(bytes);
}

/** Binds the listener; resolves once it accepts connections. */
export async function startHttpTransport(options: HttpTransportOptions): Promise<HttpTransport> {
  const { handler, logger, tls, later } = options;
  const allowed = new Set(tls?.allowedSubjects.map((s) => s.toLowerCase()));

  /** Runs the command; a consumer failure becomes a 500 response, never a lost request. */
  function execute(command: unknown, context: RequestContext): Promise<OpenC2Response | undefined> {
    return handler.handle(command, context).catch((err: unknown) => {
      logger.error('command failed', { request_id: context.requestId, err });
      return { status: 500, status_text: 'internal error' };
    });
  }

  async function serve(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const headerId = req.headers['x-request-id'];
    const xRequestId = typeof headerId === 'string' ? headerId : undefined;
    if (xRequestId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(xRequestId)) throw new HttpRefusal('request-id', 'X-Request-ID: expected 1-128 visible ASCII characters');
    const path = (req.url ?? '/').split('?')[0]!;
    if (!PATHS.has(path)) throw new HttpRefusal('no-endpoint', `no OpenC2 endpoint at ${path}; use POST / or POST /.well-known/openc2`);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      throw new HttpRefusal('method', `method ${req.method} not allowed; use POST (HTTPS transfer spec 3.2.1)`);
    }
    const encoding = encodingOf(req.headers['content-type']);
    // secureConnection already dropped peers without a certificate from the CA; checked again so that never rests on listener order.
    if (tls?.caFile !== undefined && !(req.socket as TLSSocket).authorized) throw new HttpRefusal('unauthenticated', 'a client certificate from the configured CA is required');
    // The allow-list of RFC 6546 section 4.
    const subject = tls ? commonName((req.socket as TLSSocket).getPeerCertificate()) : undefined;
    if (allowed.size > 0 && !(subject && allowed.has(subject.toLowerCase()))) {
      throw new HttpRefusal('subject', `client certificate subject CN=${subject ?? '(none)'} is not on http.allowedSubjects`);
    }
    // Expect: 100-continue (curl sends it for bodies over 1 KiB): every refusal above went out before the body was sent.
    if (expectsContinue && !(Number(req.headers['content-length']) > options.maxMessageBytes)) res.writeContinue();
    const bytes = await readBody(req, options.maxMessageBytes, options.requestTimeoutMs);

    let enveloped = path !== '/';
    let requestId = xRequestId;
    let producer = subject;
    let response: OpenC2Response | undefined;
    let frame: unknown;
    try {
      frame = decodeMessage(bytes, encoding, options.maxMessageBytes);
      const message = openEnvelope(frame, true);
      enveloped = !message.bare;
      // HTTPS transfer 3.3.3: the command's own id first; X-Request-ID when it has none; one of ours when neither.
      requestId = message.headers.request_id ?? xRequestId ?? randomUUID();
      if (message.kind !== 'request') throw new EnvelopeError(`body.openc2: expected a request, got a ${message.kind}`);
      const { signer } = verifyMessage(message, frame as { headers?: unknown; body?: unknown }, encoding, options.signing, Date.now());
      const from = message.headers.from;
      // With mTLS, `from` is the authenticated peer (HTTPS transfer, revision history v1.0-wd02);
      // another name is taken only when a valid signature authenticates it.
      if (subject !== undefined && from !== undefined && from !== subject && signer === undefined) {
        response = { status: 403, status_text: `headers.from ${JSON.stringify(from)} is not the client certificate subject ${JSON.stringify(subject)}, and the message is not signed by it` };
      } else {
        producer = signer ?? subject ?? from;
        const answered = await answer(message.content, { transport: 'http', requestId, ...(producer ? { producer } : {}) }, res);
        if (answered === DELAYED) return;
        response = answered;
      }
    } catch (err) {
      if (err instanceof DecodeError) response = { status: err.status === 415 ? 400 : err.status, status_text: err.message };
      else if (err instanceof EnvelopeError || err instanceof SignatureError) {
        response = { status: err instanceof SignatureError ? err.status : 400, status_text: err.message };
        // A refused envelope still answers to its request_id when it has a readable one.
        requestId = peekHeaders(frame).request_id ?? requestId;
      } else throw err;
    }
    if (response === undefined) {
      // response_requested none (language spec 3.3.1.4): the command ran, nothing to say.
      res.writeHead(204, { 'cache-control': 'no-cache', ...(requestId ? { 'x-request-id': requestId } : {}) });
      return void res.end();
    }
    const headers: MessageHeaders = { ...(requestId ? { request_id: requestId } : {}), created: Date.now(), from: options.deviceId, ...(producer ? { to: [producer] } : {}) };
    send(res, httpStatus(response.status), enveloped ? sealEnvelope('response', response, headers) : response, encoding, xRequestId ?? requestId);
  }

  /**
   * Waits for the consumer up to the response deadline. Past it the producer gets
   * 202 with `{status: 102}` and the final response goes through `later` (RFC 6546
   * section 3 "callback"), so no connection is held past a client's timeout.
   */
  async function answer(command: unknown, context: RequestContext, res: ServerResponse): Promise<OpenC2Response | undefined | typeof DELAYED> {
    const pending = execute(command, context);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), options.responseDeadlineMs);
    });
    let clientGone = false;
    res.once('close', () => {
      clientGone = !res.writableFinished;
    });
    const done = await Promise.race([pending.then((response) => ({ response })), deadline]);
    clearTimeout(timer);
    if (done && !clientGone) return done.response;
    // The final response goes to the orchestrator, also when the client hung up before it came.
    void pending.then((response) => {
      // Nothing asked for (none), or an ack whose 102 the 202 already carried.
      if (response === undefined || response.status === 102) return;
      if (later.destinations.length > 0) later.respond(response, { request_id: context.requestId!, ...(context.producer ? { to: [context.producer] } : {}) });
      else logger.warn('response not delivered: no alert destination is configured', { request_id: context.requestId, status: response.status });
    });
    if (done) return DELAYED;
    const where = later.destinations.length > 0
      ? `the response will be delivered later through ${later.destinations.join(' and ')} with request_id ${context.requestId}`
      : 'no alert destination is configured, so the response will not be delivered; query the actuator later';
    return { status: 102, status_text: `still processing after ${options.responseDeadlineMs} ms; ${where}` };
  }

  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    serve(req, res, expectsContinue).catch((err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof HttpRefusal) {
        const status = REFUSAL_STATUS[err.code];
        const echo = err.code === 'request-id' ? undefined : (req.headers['x-request-id'] as string | undefined);
        // Unread or half-read bodies cannot be skipped safely: end the connection.
        const close = err.code === 'too-large' || err.code === 'timeout';
        send(res, status, { status, status_text: err.message }, 'json', echo, close);
        if (close) req.resume();
        return;
      }
      logger.error('http request failed', { err });
      send(res, 500, { status: 500, status_text: 'internal error' }, 'json', undefined);
    });
  };

  let server: Server;
  if (tls) {
    const mutual = tls.caFile !== undefined;
    server = createTlsServer({
      ...TLS_POLICY,
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ...(mutual ? { ca: readFileSync(tls.caFile!) } : {}),
      requestCert: mutual,
      // Checked on secureConnection below instead, to log why a peer was refused; it is refused all the same.
      rejectUnauthorized: false,
    }, handle);
    // Prepended, so it runs before the HTTP parser is attached: unauthenticated peers never get to speak HTTP.
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (!mutual || socket.authorized) return;
      const cert = socket.getPeerCertificate();
      const presented = cert && Object.keys(cert).length > 0;
      logger.warn('TLS client refused', {
        peer: socket.remoteAddress,
        reason: presented ? socket.authorizationError : 'no client certificate',
        ...(presented ? { subject: commonName(cert), issuer: (cert.issuer?.CN as string | undefined) ?? '?' } : {}),
      });
      socket.destroy();
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
      logger.warn('TLS handshake failed', { peer: socket.remoteAddress, reason: err.code ?? err.message });
    });
    if (!mutual) logger.warn('HTTPS without client certificates: any client can send commands (allowInsecure)');
  } else {
    server = createPlainServer(handle);
    logger.warn('plain HTTP: commands are neither encrypted nor authenticated; use only on a trusted network', { host: options.host, port: options.port });
  }
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = options.requestTimeoutMs;
  // Node's own check (no body in its 408) only backs up readBody's timer.
  server.requestTimeout = options.requestTimeoutMs + 1_000;
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  logger.info('http listening', { host: address.address, port: address.port, tls: tls ? (tls.caFile ? 'mutual' : 'server-only') : 'off' });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests still running at shutdown get a moment, then their connections go.
        setTimeout(() => server.closeAllConnections(), 1_000).unref();
      }),
  };
}
