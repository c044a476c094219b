import { encode } from 'cbor-x';
import t from 'tap';
import { decodeMessage } from '../../agent/codec/codec.js';
import { loadFixture, mismatches } from '../fixtures/commands.js';
import { ManualClock, startAgent } from '../fixtures/consumer-harness.js';
import { packet, verdict } from '../fixtures/packets.js';

// Commands decoded from CBOR: the same fixtures give the same answers, and IPv4-Net /
// IPv6-Net may come as [address bytes, prefix] (DESIGN.md section 5).

t.test('PF Appendix E through CBOR encode/decode gives the JSON answers', async (t) => {
  const fixture = loadFixture('pf-appendix-e');
  for (const example of fixture.cases) {
    const agent = await startAgent(t.teardown, { deviceId: fixture.agent.deviceId }, { namedGroups: [...fixture.agent.namedGroups], clock: new ManualClock(fixture.agent.now) });
    const viaCbor = (command: unknown) => agent.send(decodeMessage(encode(command), 'cbor', 1 << 20));
    for (const setup of example.setup ?? []) t.equal((await viaCbor(setup))?.status, 200);
    t.same(mismatches(await viaCbor(example.command), example.expect), [], example.name);
  }
});

t.test('ipv4_net and connection addresses as [address bytes, prefix]', async (t) => {
  const agent = await startAgent(t.teardown);
  const command = decodeMessage(
    encode({
      action: 'deny',
      target: { ipv4_connection: { src_addr: [Uint8Array.of(192, 0, 2, 0), 24], dst_addr: [Uint8Array.of(198, 51, 100, 7)], protocol: 'udp' } },
    }),
    'cbor',
    1 << 20,
  );
  t.equal((await agent.send(command))?.status, 200);
  t.equal(verdict(agent.dataplane, packet('udp', '192.0.2.200:1', '198.51.100.7:53')).action, 'deny');
  t.equal(verdict(agent.dataplane, packet('udp', '192.0.2.200:1', '198.51.100.8:53')).action, 'allow', 'no prefix: one host');
  const v6 = decodeMessage(encode({ action: 'deny', target: { ipv6_net: [Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]), 32] } }), 'cbor', 1 << 20);
  t.equal((await agent.send(v6))?.status, 200);
  const query = await agent.send({ action: 'query', target: { 'pf:rule_number': 2 } });
  t.equal((query?.results?.pf as { ipv6_net?: string }).ipv6_net, '2001:db8::/32', 'reported back as CIDR text');
  const bad = decodeMessage(encode({ action: 'deny', target: { ipv4_net: [Uint8Array.of(192, 0, 2, 1), 24] } }), 'cbor', 1 << 20);
  t.same(await agent.send(bad), { status: 400, status_text: 'target.ipv4_net: 192.0.2.1/24 has host bits set' });
});

t.test('a replay in CBOR of a JSON command with the same command_id is the same command', async (t) => {
  const agent = await startAgent(t.teardown);
  const json = { action: 'deny', target: { ipv4_net: '192.0.2.0/24' }, command_id: 'same' };
  const first = await agent.send(json);
  t.same(await agent.send(decodeMessage(encode(json), 'cbor', 1 << 20)), first);
  t.equal(agent.dataplane.rules.length, 1);
});
