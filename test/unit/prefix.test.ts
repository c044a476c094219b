import t from 'tap';
import { formatAddress, formatPrefix, hostBitsSet, parseAddress, parsePrefix } from '../../agent/rules/prefix.js';

t.test('IPv4 parsing is strict: no leading zeros, four parts, 0-255', async (t) => {
  t.same([...parseAddress('192.0.2.1', 4)!], [192, 0, 2, 1]);
  for (const bad of ['192.0.2', '192.0.2.1.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', '', '1.2.3.4 ']) t.equal(parseAddress(bad, 4), undefined, bad);
});

t.test('IPv6 parsing handles ::, embedded IPv4 and refuses zones and extra groups', async (t) => {
  t.equal(formatAddress(parseAddress('2001:db8::1', 6)!), '2001:db8::1');
  t.equal(formatAddress(parseAddress('::', 6)!), '::');
  t.equal(formatAddress(parseAddress('::ffff:192.0.2.1', 6)!), '::ffff:c000:201');
  t.equal(formatAddress(parseAddress('2001:DB8:0:0:1:0:0:1', 6)!), '2001:db8::1:0:0:1', 'RFC 5952: first longest run, lower case');
  for (const bad of ['1::2::3', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', '12345::', '1:2:3:4:5:6:7', '2001:db8::g']) t.equal(parseAddress(bad, 6), undefined, bad);
});

t.test('prefixes: length bounds, bare address is a host prefix, host bits refused', async (t) => {
  const p = parsePrefix('192.0.2.0/24', 4);
  t.same(typeof p === 'string' ? p : [p.length, formatPrefix(p)], [24, '192.0.2.0/24']);
  const host = parsePrefix('2001:db8::1', 6);
  t.equal(typeof host === 'string' ? host : host.length, 128);
  t.match(parsePrefix('192.0.2.1/24', 4), /host bits set/);
  t.match(parsePrefix('192.0.2.0/33', 4), /not 0..32/);
  t.match(parsePrefix('2001:db8::/129', 6), /not 0..128/);
  t.ok(hostBitsSet(Uint8Array.of(10, 0, 0, 1), 31));
  t.notOk(hostBitsSet(Uint8Array.of(10, 0, 0, 0), 8));
});
