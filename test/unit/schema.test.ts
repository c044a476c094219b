import t from 'tap';
import { validate, type TypeTable } from '../../profiles/ls/schema.js';
import { CommandError } from '../../profiles/ls/status.js';
import { LS_TYPES } from '../../profiles/ls/types.js';

const problem = (value: unknown, type: string, table: TypeTable = LS_TYPES): string => {
  try {
    validate(value, type, table, 'x');
    return 'valid';
  } catch (err) {
    return err instanceof CommandError ? `${err.status} ${err.message}` : String(err);
  }
};

t.test('every problem names the JSON path and the value', async (t) => {
  t.equal(problem({ src_port: 70000 }, 'IPv4-Connection'), '400 x.src_port: 70000 is above 65535');
  t.equal(problem({ protocol: 'tcp', extra: 1 }, 'IPv4-Connection'), '400 x.extra: unknown field of IPv4-Connection (expected src_addr, src_port, dst_addr, dst_port, protocol)');
  t.equal(problem(['versions', 'nope'], 'Features'), '400 x[1]: "nope" is not one of versions, profiles, pairs, rate_limit');
  t.equal(problem({}, 'IPv6-Connection'), '400 x: empty IPv6-Connection: needs at least one of src_addr, src_port, dst_addr, dst_port, protocol');
});

t.test('IPv4-Net accepts CIDR text and the CBOR [address bytes, prefix] form', async (t) => {
  const fromText = validate('192.0.2.0/24', 'IPv4-Net', LS_TYPES, 'x') as { length: number };
  const fromBytes = validate([Uint8Array.of(192, 0, 2, 0), 24], 'IPv4-Net', LS_TYPES, 'x') as { length: number; address: Uint8Array };
  t.equal(fromText.length, 24);
  t.same([fromBytes.length, ...fromBytes.address], [24, 192, 0, 2, 0]);
  t.equal((validate([Uint8Array.of(192, 0, 2, 7)], 'IPv4-Net', LS_TYPES, 'x') as { length: number }).length, 32, 'no prefix: one host');
  t.match(problem([Uint8Array.of(192, 0, 2, 7), 24], 'IPv4-Net'), /host bits set/);
  t.match(problem([Uint8Array.of(1, 2, 3), 24], 'IPv4-Net'), /3 bytes is not an IPv4 address/);
});

t.test('CBOR bigint integers are read when safe and refused when not', async (t) => {
  t.equal(validate(80n, 'Port', LS_TYPES, 'x'), 80);
  t.match(problem(2n ** 64n, 'Date-Time'), /expected an integer/);
});
