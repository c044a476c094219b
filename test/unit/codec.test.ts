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
