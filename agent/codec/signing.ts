import { Encoder, Tag, decode as cborDecode } from 'cbor-x';
import nacl from 'tweetnacl';
import { cborBytes, type Encoding } from './codec.js';
import type { MessageHeaders, OpenedMessage } from './envelope.js';

/**
 * Message signing (DESIGN.md section 5). The envelope's `signature` string covers the
 * envelope's `headers` and `body` together, with Ed25519:
 * - JSON: a JWS (RFC 7515) in compact form with a detached payload, `protected..signature`,
 *   alg `EdDSA` (RFC 8037); the payload is the RFC 8785 canonical JSON of `{headers, body}`.
 * - CBOR: a COSE_Sign1 (RFC 9052 section 4.2, tag 18) with a nil (detached) payload, base64url
 *   encoded because the language spec (3.2) types `signature` as a String; the payload is the
 *   deterministic CBOR of `{headers, body}`.
 * The signer's key name is `headers.from`, so a valid signature authenticates `from`, and
 * `kid` repeats it. `created` and `request_id` are covered, which makes the replay window meaningful.
 */

/** A message that fails signature policy; `status` is the OpenC2 status to answer with. */
export class SignatureError extends Error {
  override name = 'SignatureError';
  constructor(
    message: string,
    readonly status: 400 | 401,
  ) {
    super(message);
  }
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new SignatureError('signature: not base64url', 401);
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/** RFC 8785 (JCS): keys sorted by UTF-16 code units, ECMAScript number and string forms. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SignatureError('signed content: numbers must be finite (RFC 8785 section 3.2.2.3)', 400);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // Default sort compares UTF-16 code units, which is exactly RFC 8785 section 3.2.3.
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new SignatureError(`signed content: ${typeof value} has no JSON form`, 400);
}

/** The bytes a signature covers: `{headers, body}` of the envelope, in the message's encoding. */
function signedPayload(headers: MessageHeaders, body: unknown, encoding: Encoding): Uint8Array {
  const covered = { headers, body };
  return encoding === 'json' ? Buffer.from(canonicalJson(covered), 'utf8') : cborBytes(covered, true);
}

const COSE_ALG = 1;
const COSE_KID = 4;
const COSE_EDDSA = -8;
const COSE_SIGN1_TAG = 18;

/** RFC 9052 section 4.4 Sig_structure for COSE_Sign1, empty external AAD. */
function coseToBeSigned(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return cborBytes(['Signature1', protectedBytes, new Uint8Array(0), payload]);
}

function jwsSigningInput(protectedB64: string, payload: Uint8Array): Uint8Array {
  return Buffer.from(`${protectedB64}.${base64url(payload)}`, 'ascii');
}

/**
 * Signs an envelope as a producer would (tests, benchmarks, fleet tools): returns a copy with
 * `signature` set. `headers.from` must be set; it names the key.
 */
export function signEnvelope<T extends { headers: MessageHeaders; body: unknown }>(envelope: T, encoding: Encoding, secretKey: Uint8Array): T & { signature: string } {
  const from = envelope.headers.from;
  if (from === undefined) throw new SignatureError('headers.from: a signed message names its signer', 400);
  const payload = signedPayload(envelope.headers, envelope.body, encoding);
  let signature: string;
  if (encoding === 'json') {
    const protectedB64 = base64url(Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: from }), 'utf8'));
    signature = `${protectedB64}..${base64url(nacl.sign.detached(jwsSigningInput(protectedB64, payload), secretKey))}`;
  } else {
    // Built in key order (1, 4), which is already the deterministic order.
    const protectedBytes = cborBytes(new Map<number, unknown>([[COSE_ALG, COSE_EDDSA], [COSE_KID, Buffer.from(from, 'utf8')]]));
    const sig = nacl.sign.detached(coseToBeSigned(protectedBytes, payload), secretKey);
    signature = base64url(cborBytes(new Tag([protectedBytes, new Map(), null, sig], COSE_SIGN1_TAG)));
  }
  return { ...envelope, signature };
}

/** Parses `name=base64` entries of `signing.trustedKeys` into 32-byte Ed25519 public keys. */
export function parseTrustedKeys(entries: readonly string[]): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  for (const entry of entries) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at);
    const key = at > 0 ? new Uint8Array(Buffer.from(entry.slice(at + 1), 'base64')) : undefined;
    if (!key || name === '' || key.length !== nacl.sign.publicKeyLength) {
      throw new SignatureError(`signing.trustedKeys: ${JSON.stringify(entry.slice(0, 40))} is not name=<base64 of a 32-byte Ed25519 public key>`, 400);
    }
    keys.set(name, key);
  }
  return keys;
}

/** Which producers are trusted, whether a signature is required, and the `created` window. */
export interface SignaturePolicy {
  /** Trusted producer keys by name (`headers.from`). */
  readonly trustedKeys: ReadonlyMap<string, Uint8Array>;
  /** Unsigned messages are refused when true. */
  readonly required: boolean;
  /** How far `created` of a signed message may be from now, in milliseconds. */
  readonly windowMs: number;
}

/** The policy of the `signing.*` settings; throws SignatureError on a malformed trusted key. */
export function signaturePolicy(settings: { readonly trustedKeys: readonly string[]; readonly required: boolean; readonly replayWindowSeconds: number }): SignaturePolicy {
  return { trustedKeys: parseTrustedKeys(settings.trustedKeys), required: settings.required, windowMs: settings.replayWindowSeconds * 1000 };
}

/** The result of a check: the authenticated signer, when the message was signed. */
export interface Verified {
  readonly signer?: string;
}

/**
 * Checks one opened message against the policy at time `now` (ms): a signature, when present,
 * must be valid under the key named by `from`; a signed message must carry `request_id` and a
 * `created` within the window. `frame` is the decoded message as received. Whether the
 * request id was seen before is the consumer's command_id cache's question. Throws SignatureError.
 */
export function verifyMessage(message: OpenedMessage, frame: { headers?: unknown; body?: unknown }, encoding: Encoding, policy: SignaturePolicy, now: number): Verified {
  if (message.signature === undefined) {
    if (policy.required) throw new SignatureError('signature: required by this consumer', 401);
    return {};
  }
  const { from, request_id, created } = message.headers;
  if (from === undefined || request_id === undefined || created === undefined) {
    throw new SignatureError('headers: a signed message needs from, request_id and created', 400);
  }
  const key = policy.trustedKeys.get(from);
  if (!key) throw new SignatureError(`signature: no trusted key for ${JSON.stringify(from)}`, 401);
  // The producer signed the headers as sent (before openEnvelope normalised them).
  const payload = signedPayload(frame.headers as MessageHeaders, frame.body, encoding);
  const valid = encoding === 'json' ? verifyJws(message.signature, payload, from, key) : verifyCose(message.signature, payload, from, key);
  if (!valid) throw new SignatureError('signature: does not verify', 401);
  if (Math.abs(now - created) > policy.windowMs) {
    throw new SignatureError(`headers.created: ${created} is more than ${policy.windowMs / 1000} s from the consumer's clock`, 401);
  }
  return { signer: from };
}

function verifyJws(signature: string, payload: Uint8Array, from: string, key: Uint8Array): boolean {
  const parts = signature.split('.');
  if (parts.length !== 3 || parts[1] !== '') throw new SignatureError('signature: expected a JWS with detached payload (protected..signature)', 401);
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = JSON.parse(Buffer.from(fromBase64url(parts[0]!)).toString('utf8'));
  } catch {
    throw new SignatureError('signature: JWS protected header is not JSON', 401);
  }
  if (header.alg !== 'EdDSA') throw new SignatureError(`signature: JWS alg ${JSON.stringify(header.alg)} is not EdDSA`, 401);
  if (header.kid !== undefined && header.kid !== from) throw new SignatureError('signature: JWS kid differs from headers.from', 401);
  const sig = fromBase64url(parts[2]!);
  return sig.length === nacl.sign.signatureLength && nacl.sign.detached.verify(jwsSigningInput(parts[0]!, payload), sig, key);
}

function verifyCose(signature: string, payload: Uint8Array, from: string, key: Uint8Array): boolean {
  let sign1: unknown;
  try {
    sign1 = cborDecode(fromBase64url(signature));
  } catch {
    throw new SignatureError('signature: not a CBOR COSE_Sign1', 401);
  }
  // RFC 9052 section 4.2: the COSE_Sign1 tag is optional when the context says what it is.
  const parts = sign1 instanceof Tag && sign1.tag === COSE_SIGN1_TAG ? sign1.value : sign1;
  if (!Array.isArray(parts) || parts.length !== 4 || !(parts[0] instanceof Uint8Array) || !(parts[3] instanceof Uint8Array) || parts[2] !== null) {
    throw new SignatureError('signature: expected COSE_Sign1 [protected, unprotected, nil, signature]', 401);
  }
  const protectedBytes = parts[0];
  let header: unknown;
  try {
    header = new Encoder({ mapsAsObjects: false, useRecords: false }).decode(protectedBytes);
  } catch {
    throw new SignatureError('signature: COSE protected header is not CBOR', 401);
  }
  const alg = header instanceof Map ? header.get(COSE_ALG) : undefined;
  if (alg !== COSE_EDDSA) throw new SignatureError(`signature: COSE alg ${String(alg)} is not EdDSA (-8)`, 401);
  const kid = (header as Map<number, unknown>).get(COSE_KID);
  if (kid !== undefined && (!(kid instanceof Uint8Array) || Buffer.from(kid).toString('utf8') !== from)) throw new SignatureError('signature: COSE kid differs from headers.from', 401);
  const sig = parts[3];
  return sig.length === nacl.sign.signatureLength && nacl.sign.detached.verify(coseToBeSigned(protectedBytes, payload), sig, key);
}
