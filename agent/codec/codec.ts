import { Decoder, Encoder, Tag, type Options } from 'cbor-x';

/** Wire encodings of OpenC2 messages (MQTT transfer spec `encoding` user property). */
export type Encoding = 'json' | 'cbor';

/** A frame that could not be turned into a JS value; `status` is the OpenC2 status to answer with. */
export class DecodeError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 415 = 400,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

// RFC 8949 CBOR as other implementations write and read it: none of cbor-x's record, Map (259)
// or typed-array (64) tags, map headers sized to their key count, and integers beyond 32 bits
// decoded as numbers (a Date-Time in ms is one; cbor-x would return a BigInt).
const cborEncoder = new Encoder({ useRecords: false, variableMapSize: true, mapsAsObjects: false, tagUint8Array: false });
const cborDecoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as Options);
// Decoding without `stream` keeps no state between calls, so one decoder serves every frame.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Integers beyond 32 bits become BigInt, which cbor-x writes as CBOR integers (numbers it writes as float64). */
function cborReady(value: unknown, deterministic: boolean): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x100000000) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((v) => cborReady(v, deterministic));
  // Byte strings, Maps and tags (COSE structures) are written as built.
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Map || value instanceof Tag) return value;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
  // RFC 8949 section 4.2.1: shorter keys first, then bytewise.
  if (deterministic) keys.sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Object.fromEntries(keys.map((k) => [k, cborReady((value as Record<string, unknown>)[k], deterministic)]));
}

/**
 * CBOR of a value. `deterministic` adds RFC 8949 section 4.2.1 key order (for signatures);
 * integers always take their shortest form, non-integers stay float64.
 */
export function cborBytes(value: unknown, deterministic = false): Buffer {
  return cborEncoder.encode(cborReady(value, deterministic));
}

/** Decodes one message body. Rejects frames over `maxBytes` before parsing them. */
export function decodeMessage(bytes: Uint8Array, encoding: Encoding, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) throw new DecodeError(`message of ${bytes.byteLength} bytes is over the ${maxBytes} byte limit`, 413);
  if (encoding === 'json') {
    try {
      return JSON.parse(utf8.decode(bytes));
    } catch (err) {
      throw new DecodeError(`not valid JSON: ${(err as Error).message}`);
    }
  }
  try {
    return cborDecoder.decode(bytes);
  } catch (err) {
    throw new DecodeError(`not valid CBOR: ${(err as Error).message}`);
  }
}

/**
 * Encodes one message in the encoding of the request it answers (DESIGN.md section 5). The bytes
 * are the caller's: cbor-x writes later messages past them in its buffer, never over them.
 */
export function encodeMessage(message: unknown, encoding: Encoding): Buffer {
  return encoding === 'json' ? Buffer.from(JSON.stringify(message), 'utf8') : cborBytes(message);
}

/** Media types of the HTTPS transfer spec, by encoding. */
export const MEDIA_TYPE: Record<Encoding, string> = {
  json: 'application/openc2+json;version=1.0',
  cbor: 'application/openc2+cbor;version=1.0',
};
