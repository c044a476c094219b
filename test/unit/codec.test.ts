import t from 'tap';
import { DecodeError, decodeMessage, encodeMessage } from '../../agent/codec/codec.js';
import { EnvelopeError, openEnvelope, peekHeaders } from '../../agent/codec/envelope.js';

const message = {
  headers: { request_id: 'r-1', created: 1_700_000_000_000, from: 'orch', to: ['router-1'] },
  body: { openc2: { request: { action: 'deny', target: { ipv6_connection: { protocol: 'udp', src_addr: '2001:db8::/32', src_port: 53 } }, args: { duration: 60000 } } } },
};

t.test('the same message decodes to the same value from JSON and from CBOR', async (t) => {
  const fromJson = decodeMessage(encodeMessage(message, 'json'), 'json', 1 << 20);
  const fromCbor = decodeMessage(encodeMessage(message, 'cbor'), 'cbor', 1 << 20);
  t.same(fromJson, message);
  t.same(fromCbor, fromJson);
  t.same(openEnvelope(fromCbor, false), openEnvelope(fromJson, false));
});

t.test('CBOR interoperates: 64-bit integers are integers both ways, no cbor-x tags', async (t) => {
  // A Date-Time as a Python or Go encoder writes it: major type 0 with an 8-byte argument.
  const created = Buffer.from('a16763726561746564' + '1b0000018bcfe56800', 'hex');
  t.same(decodeMessage(created, 'cbor', 1024), { created: 1_700_000_000_000 });
  t.equal(Buffer.from(encodeMessage({ created: 1_700_000_000_000 }, 'cbor')).toString('hex'), 'a16763726561746564' + '1b0000018bcfe56800');
  t.equal(Buffer.from(encodeMessage({ b: new Uint8Array([1, 2]) }, 'cbor')).toString('hex'), 'a161624201' + '02', 'a byte string, untagged');
});

t.test('frames over the limit are refused with 413 before parsing; garbage with 400', async (t) => {
  const bytes = encodeMessage(message, 'json');
  t.throws(() => decodeMessage(bytes, 'json', bytes.byteLength - 1), { name: 'DecodeError', status: 413 });
  t.throws(() => decodeMessage(Buffer.from('{'), 'json', 1024), { name: 'DecodeError', status: 400 });
  t.throws(() => decodeMessage(Buffer.from([0xff, 0xfe]), 'cbor', 1024), DecodeError);
});

t.test('peekHeaders finds the reply path of an envelope openEnvelope refuses', async (t) => {
  const broken = { headers: { request_id: 'r-2', from: 'orch', created: 'yesterday' } };
  t.throws(() => openEnvelope(broken, false), EnvelopeError);
  t.same(peekHeaders(broken), { request_id: 'r-2', from: 'orch' });
  t.same(peekHeaders('not an object'), {});
  t.same(peekHeaders({ headers: { request_id: 7, from: '' } }), {});
});
