import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DecodeError, decodeMessage, encodeMessage, MEDIA_TYPE, type Encoding } from '../codec/codec.js';
import { EnvelopeError, openEnvelope, sealEnvelope } from '../codec/envelope.js';
import type { CommandHandler, OpenC2Response } from '../consumer/consumer.js';
import type { Logger } from '../log/logger.js';

/**
 * OpenC2 over HTTP: `POST /` on 6767 with a bare command (communication-protocols text)
 * and `POST /.well-known/openc2` with the message envelope (HTTPS transfer spec 3.3-3.4).
 */

export interface HttpTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly handler: CommandHandler;
  readonly logger: Logger;
}

export interface HttpTransport {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const PATHS = new Set(['/', '/.well-known/openc2']);

/** Picks the encoding from Content-Type; undefined when it is not one we speak. */
function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type === 'application/openc2+json') return 'json';
  if (type === 'application/cbor' || type === 'application/openc2+cbor') return 'cbor';
  return undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new DecodeError(`message is over the ${limit} byte limit`, 413));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** OpenC2 status to HTTP status line: the HTTPS transfer spec carries the OpenC2 status in both. */
function send(res: ServerResponse, status: number, body: unknown, encoding: Encoding, requestId?: string): void {
  const bytes = encodeMessage(body, encoding);
  res.writeHead(status >= 200 && status < 600 ? status : 500, {
    'content-type': encoding === 'json' ? MEDIA_TYPE.json : MEDIA_TYPE.cbor,
    'content-length': bytes.byteLength,
    date: new Date().toUTCString(),
    ...(requestId ? { 'x-request-id': requestId } : {}),
  });
  res.end(bytes);
}

export async function startHttpTransport(options: HttpTransportOptions): Promise<HttpTransport> {
  const { handler, logger } = options;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headerId = req.headers['x-request-id'];
    const xRequestId = typeof headerId === 'string' ? headerId : undefined;
    const path = (req.url ?? '/').split('?')[0]!;
    if (!PATHS.has(path)) return send(res, 404, { status: 404, status_text: `no OpenC2 endpoint at ${path}; use POST / or POST /.well-known/openc2` }, 'json', xRequestId);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(res, 405, { status: 405, status_text: `method ${req.method} not allowed; use POST` }, 'json', xRequestId);
    }
    const encoding = encodingOf(req.headers['content-type']);
    if (!encoding) return send(res, 415, { status: 415, status_text: `content type ${req.headers['content-type']} not supported; use ${MEDIA_TYPE.json} or ${MEDIA_TYPE.cbor}` }, 'json', xRequestId);
    let response: OpenC2Response | undefined;
    let requestId = xRequestId;
    let enveloped = path !== '/';
    try {
      const frame = decodeMessage(await readBody(req, options.maxMessageBytes), encoding, options.maxMessageBytes);
      const message = openEnvelope(frame, true);
      enveloped = !message.bare;
      requestId = message.headers.request_id ?? xRequestId;
      if (message.kind !== 'request') throw new EnvelopeError(`body.openc2: expected a request, got a ${message.kind}`);
      response = await handler.handle(message.content, { transport: 'http', ...(requestId ? { requestId } : {}) });
    } catch (err) {
      if (err instanceof DecodeError) response = { status: err.status === 415 ? 400 : err.status, status_text: err.message };
      else if (err instanceof EnvelopeError) response = { status: 400, status_text: err.message };
      else {
        logger.error('command failed', { err });
        response = { status: 500, status_text: 'internal error' };
      }
    }
    if (response === undefined) {
      res.writeHead(204, requestId ? { 'x-request-id': requestId } : {});
      return void res.end();
    }
    const body = enveloped ? sealEnvelope('response', response, { ...(requestId ? { request_id: requestId } : {}), created: Date.now() }) : response;
    send(res, response.status, body, encoding, requestId);
  }

  const server: Server = createServer((req, res) => {
    serve(req, res).catch((err) => {
      logger.error('http request failed', { err });
      if (!res.headersSent) send(res, 500, { status: 500, status_text: 'internal error' }, 'json');
    });
  });
  server.keepAliveTimeout = 30_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  logger.info('http listening', { host: address.address, port: address.port });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
