import { decode as cborDecode, encode as cborEncode } from 'cbor-x';

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

/** Decodes one message body. Rejects frames over `maxBytes` before parsing them. */
export function decodeMessage(bytes: Uint8Array, encoding: Encoding, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) throw new DecodeError(`message of ${bytes.byteLength} bytes is over the ${maxBytes} byte limit`, 413);
  if (encoding === 'json') {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (err) {
      throw new DecodeError(`not valid JSON: ${(err as Error).message}`);
    }
  }
  try {
    return cborDecode(bytes);
  } catch (err) {
    throw new DecodeError(`not valid CBOR: ${(err as Error).message}`);
  }
}

/** Encodes one message in the encoding of the request it answers (DESIGN.md section 5). */
export function encodeMessage(message: unknown, encoding: Encoding): Uint8Array {
  return encoding === 'json' ? Buffer.from(JSON.stringify(message), 'utf8') : cborEncode(message);
}

/** Media types of the HTTPS transfer spec, by encoding. */
export const MEDIA_TYPE: Record<Encoding, string> = {
  json: 'application/openc2+json;version=1.0',
  cbor: 'application/openc2+cbor;version=1.0',
};
