import nacl from 'tweetnacl';
import t from 'tap';
import { cborBytes, decodeMessage, encodeMessage } from '../../agent/codec/codec.js';
import { openEnvelope } from '../../agent/codec/envelope.js';
import { canonicalJson, parseTrustedKeys, SignatureError, signEnvelope, verifyMessage, type SignaturePolicy } from '../../agent/codec/signing.js';

const NOW = 1_700_000_000_000;
const producer = nacl.sign.keyPair();
const policy: SignaturePolicy = { trustedKeys: new Map([['orch', producer.publicKey]]), required: false, windowMs: 300_000 };
const envelope = { headers: { request_id: 'r-1', created: NOW, from: 'orch', to: ['router-1'] }, body: { openc2: { request: { action: 'deny', target: { ipv4_net: '198.51.100.0/24' } } } } };

/** Encodes, decodes and opens a message as the transport does, then verifies it. */
function receive(message: unknown, encoding: 'json' | 'cbor', p = policy, now = NOW): { signer?: string } {
  const frame = decodeMessage(encodeMessage(message, encoding), encoding, 1 << 20) as { headers?: unknown; body?: unknown };
  return verifyMessage(openEnvelope(frame, false), frame, encoding, p, now);
}

t.test('RFC 8785 canonical JSON: sorted keys by UTF-16 units, ECMAScript numbers', async (t) => {
  // RFC 8785 section 3.2.3 sorting example, and section 3.2.2.3 number forms.
  t.equal(canonicalJson({ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ud83d\ude00': 'emoji', '1': 'One', '\u0080': 'Control' }), '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u20ac":"Euro Sign","\ud83d\ude00":"emoji"}');
  t.equal(canonicalJson({ b: [1e21, 0.000001, -0, 333333333.3333333], a: null }), '{"a":null,"b":[1e+21,0.000001,0,333333333.3333333]}');
  t.throws(() => canonicalJson({ n: Infinity }), SignatureError);
});

t.test('deterministic CBOR: RFC 8949 4.2.1 key order and integer forms, whatever the insertion order', async (t) => {
  t.same(cborBytes({ bb: 1, a: 2, c: 3 }, true), cborBytes({ c: 3, a: 2, bb: 1 }, true));
  t.equal(Buffer.from(cborBytes({ bb: 1, a: NOW }, true)).toString('hex'), 'a261611b0000018bcfe56800626262' + '01');
});

for (const encoding of ['json', 'cbor'] as const) {
  t.test(`${encoding}: a signed message verifies and names its signer`, async (t) => {
    t.same(receive(signEnvelope(envelope, encoding, producer.secretKey), encoding), { signer: 'orch' });
  });
  t.test(`${encoding}: any change to headers or body breaks the signature`, async (t) => {
    const signed = signEnvelope(envelope, encoding, producer.secretKey);
    const changes = [
      { ...signed, headers: { ...signed.headers, request_id: 'r-2' } },
      { ...signed, headers: { ...signed.headers, to: ['router-2'] } },
      { ...signed, body: { openc2: { request: { action: 'allow', target: { ipv4_net: '198.51.100.0/24' } } } } },
    ];
    for (const changed of changes) t.throws(() => receive(changed, encoding), { status: 401, message: /does not verify/ });
  });
  t.test(`${encoding}: unknown signer, foreign key, stale created, missing headers`, async (t) => {
    const stranger = nacl.sign.keyPair();
    t.throws(() => receive(signEnvelope(envelope, encoding, stranger.secretKey), encoding), { status: 401, message: /does not verify/ });
    t.throws(() => receive(signEnvelope({ ...envelope, headers: { ...envelope.headers, from: 'nobody' } }, encoding, producer.secretKey), encoding), { status: 401, message: /no trusted key/ });
    t.throws(() => receive(signEnvelope(envelope, encoding, producer.secretKey), encoding, policy, NOW + 300_001), { status: 401, message: /created/ });
    t.same(receive(signEnvelope(envelope, encoding, producer.secretKey), encoding, policy, NOW - 300_000), { signer: 'orch' }, 'the window is inclusive');
    const { request_id: _dropped, ...noId } = envelope.headers;
    t.throws(() => receive(signEnvelope({ ...envelope, headers: noId }, encoding, producer.secretKey), encoding), { name: 'SignatureError', status: 400 });
  });
}

t.test('unsigned messages pass unless signing is required', async (t) => {
  t.same(receive(envelope, 'json'), {});
  t.throws(() => receive(envelope, 'cbor', { ...policy, required: true }), { status: 401, message: /required/ });
});

t.test('a JWS signature checked against a COSE message (and the reverse) is refused', async (t) => {
  const jws = signEnvelope(envelope, 'json', producer.secretKey).signature;
  const cose = signEnvelope(envelope, 'cbor', producer.secretKey).signature;
  t.throws(() => receive({ ...envelope, signature: jws }, 'cbor'), { name: 'SignatureError', status: 401 });
  t.throws(() => receive({ ...envelope, signature: cose }, 'json'), { name: 'SignatureError', status: 401 });
});

t.test('trusted keys parse from name=base64 and refuse anything else', async (t) => {
  const b64 = Buffer.from(producer.publicKey).toString('base64');
  t.same([...parseTrustedKeys([`orch=${b64}`]).keys()], ['orch']);
  for (const bad of [b64, `=${b64}`, 'orch=AAAA', 'orch=']) t.throws(() => parseTrustedKeys([bad]), /signing.trustedKeys/);
});
