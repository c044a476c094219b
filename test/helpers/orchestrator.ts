import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IssuedCert, TestPki } from './certs.js';

/** One message the orchestrator received: the client certificate CN, the HTTP headers, the decoded body. */
export interface Received {
  readonly client: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly message: any;
}

/** The `{}` the communication-protocols text asks an orchestrator to answer alerts with. */
export function answerEmpty(_message: unknown, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/openc2+json;version=1.0' });
  res.end('{}');
}

/**
 * A test orchestrator's alert listener (communication-protocols text: port 6768): HTTPS,
 * client certificates from the test CA required. It goes `down` and comes back `up` on the
 * same loopback port. The caller takes it down in t.teardown.
 */
export class Orchestrator {
  readonly received: Received[] = [];
  port = 0;
  answer: (message: any, res: ServerResponse) => void = answerEmpty;
  private server: Server | undefined;
  private readonly cert: IssuedCert;

  constructor(private readonly pki: TestPki) {
    this.cert = pki.issue('localhost', 'server');
  }

  async up(): Promise<void> {
    const server = createServer({ cert: this.cert.cert, key: this.cert.key, ca: this.pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const message = JSON.parse(Buffer.concat(chunks).toString());
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        this.received.push({ client: peer.subject?.CN as string | undefined, headers: req.headers, message });
        this.answer(message, res);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/`;
  }

  /** The notification contents received so far, in order. */
  get notifications(): any[] {
    return this.received.map((r) => r.message.body.openc2.notification);
  }
}
