/**
 * The OpenC2-Message envelope (language spec 3.2, MQTT transfer 2.x, HTTPS transfer 3.3.2):
 * `{ headers: { request_id, created, from, to }, body: { openc2: { request | response | notification } } }`.
 * The plain HTTP transport (communication-protocols text) carries a bare command instead.
 */

export interface MessageHeaders {
  request_id?: string;
  created?: number;
  from?: string;
  to?: string[];
}

export type ContentKind = 'request' | 'response' | 'notification';

export interface OpenedMessage {
  headers: MessageHeaders;
  kind: ContentKind;
  content: unknown;
  signature?: string;
  /** True when the frame was a bare command with no envelope. */
  bare: boolean;
}

/** An envelope that does not have the shape of the spec; the message names the field. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Splits a decoded frame into headers and content; `allowBare` accepts a command without envelope. */
export function openEnvelope(frame: unknown, allowBare: boolean): OpenedMessage {
  if (!isObject(frame)) throw new EnvelopeError('message: expected an object');
  if (!('body' in frame) && !('headers' in frame)) {
    if (allowBare && 'action' in frame) return { headers: {}, kind: 'request', content: frame, bare: true };
    throw new EnvelopeError('body: missing');
  }
  for (const key of Object.keys(frame)) {
    if (key !== 'headers' && key !== 'body' && key !== 'signature') throw new EnvelopeError(`${key}: unknown field of the message envelope`);
  }
  const headers = readHeaders(frame.headers);
  const body = frame.body;
  if (!isObject(body)) throw new EnvelopeError('body: expected an object');
  if (!isObject(body.openc2) || Object.keys(body).length !== 1) throw new EnvelopeError('body: expected exactly one choice, openc2');
  const choices = Object.keys(body.openc2);
  if (choices.length !== 1 || !['request', 'response', 'notification'].includes(choices[0]!)) {
    throw new EnvelopeError('body.openc2: expected exactly one of request, response, notification');
  }
  const kind = choices[0] as ContentKind;
  if (frame.signature !== undefined && typeof frame.signature !== 'string') throw new EnvelopeError('signature: expected a string');
  const opened: OpenedMessage = { headers, kind, content: body.openc2[kind], bare: false };
  if (typeof frame.signature === 'string') opened.signature = frame.signature;
  return opened;
}

function readHeaders(raw: unknown): MessageHeaders {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new EnvelopeError('headers: expected an object');
  const headers: MessageHeaders = {};
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case 'request_id':
      case 'from':
        if (typeof value !== 'string' || value === '') throw new EnvelopeError(`headers.${key}: expected a non-empty string`);
        headers[key] = value;
        break;
      case 'created':
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new EnvelopeError('headers.created: expected milliseconds since the epoch');
        headers.created = value;
        break;
      case 'to': {
        const to = typeof value === 'string' ? [value] : value;
        if (!Array.isArray(to) || to.some((v) => typeof v !== 'string')) throw new EnvelopeError('headers.to: expected a list of strings');
        headers.to = to as string[];
        break;
      }
      default:
        throw new EnvelopeError(`headers.${key}: unknown header`);
    }
  }
  return headers;
}

/** Wraps a response or notification in an envelope. */
export function sealEnvelope(kind: ContentKind, content: unknown, headers: MessageHeaders): Record<string, unknown> {
  return { headers, body: { openc2: { [kind]: content } } };
}

/**
 * Best-effort headers of a frame that `openEnvelope` refused, so the error response can still
 * carry the `request_id` and reach the producer; never throws, drops what does not fit.
 */
export function peekHeaders(frame: unknown): MessageHeaders {
  const raw = isObject(frame) && isObject(frame.headers) ? frame.headers : {};
  const headers: MessageHeaders = {};
  if (typeof raw.request_id === 'string' && raw.request_id !== '') headers.request_id = raw.request_id;
  if (typeof raw.from === 'string' && raw.from !== '') headers.from = raw.from;
  return headers;
}
