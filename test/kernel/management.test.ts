/**
 * Anti-lockout (DESIGN.md section 4): management prefixes and local TCP ports
 * pass above every rule, in both hooks, and stop passing once removed.
 * BPF_PROG_TEST_RUN only; nothing is attached.
 */
import t from 'tap';
import type { Hook, PacketHeader, Rule } from '../../agent/rules/model.js';
import { checkBpfRights } from '../../agent/dataplane/binding.js';
import { detachAll, openKernelDataplane } from '../../agent/dataplane/kernel.js';
import { buildFrame, retvalAction } from './frames.js';

const rights = checkBpfRights();
const instance = `test-mgmt-${process.pid}`;
const a4 = (...b: number[]): Uint8Array => Uint8Array.from(b);
const denyAll: Rule[] = [4, 6].map((family, i) => ({
  number: i + 1,
  action: 'deny',
  drop: 'none',
  direction: 'both',
  match: { family: family as 4 | 6, either: { family: family as 4 | 6, address: new Uint8Array(family === 4 ? 4 : 16), length: 0 } },
  priority: 1000,
  logged: false,
  stateful: false,
  persistent: false,
  source: 'pf',
}));
const v6 = (last: number): Uint8Array => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), last]);
const packets: Record<string, PacketHeader> = {
  fromMgmt4: { family: 4, src: a4(192, 0, 2, 1), dst: a4(198, 51, 100, 1), protocol: 17, srcPort: 5000, dstPort: 53 },
  toMgmt4: { family: 4, src: a4(198, 51, 100, 1), dst: a4(192, 0, 2, 1), protocol: 1 },
  other4: { family: 4, src: a4(203, 0, 113, 9), dst: a4(198, 51, 100, 1), protocol: 17, srcPort: 5000, dstPort: 53 },
  mgmt6: { family: 6, src: v6(1), dst: v6(2), protocol: 58 },
  other6: { family: 6, src: Uint8Array.from([0x20, 0x01, 0x0d, 0xb9, ...new Array<number>(12).fill(7)]), dst: Uint8Array.from([0x20, 0x01, 0x0d, 0xb9, ...new Array<number>(12).fill(8)]), protocol: 58 },
  toPortIn: { family: 4, src: a4(203, 0, 113, 9), dst: a4(198, 51, 100, 1), protocol: 6, srcPort: 40000, dstPort: 8443 },
};

t.test('anti-lockout passes management prefixes and ports above a deny-all', { skip: rights.ok ? false : `no BPF rights: ${rights.reason}` }, async (t) => {
  const dp = await openKernelDataplane({ instance, interfaces: [] });
  t.teardown(() => detachAll(instance));
  await dp.replace(denyAll);
  const verdict = (name: string, hook: Hook = 'ingress') => retvalAction(hook, dp.testRun(hook, buildFrame(packets[name]!)).retval);
  for (const name of Object.keys(packets)) t.equal(verdict(name), 'deny', `no management: ${name} denied`);

  await dp.setManagement({ prefixes: ['192.0.2.1/32', '2001:db8::/120'], ports: [8443] });
  for (const hook of ['ingress', 'egress'] as Hook[]) {
    t.equal(verdict('fromMgmt4', hook), 'allow', `${hook}: source in a management prefix passes`);
    t.equal(verdict('toMgmt4', hook), 'allow', `${hook}: destination in a management prefix passes`);
    t.equal(verdict('mgmt6', hook), 'allow', `${hook}: IPv6 management prefix passes`);
    t.equal(verdict('other4', hook), 'deny', `${hook}: other IPv4 still denied`);
    t.equal(verdict('other6', hook), 'deny', `${hook}: other IPv6 still denied`);
  }
  t.equal(verdict('toPortIn'), 'allow', 'TCP to the local management port passes on ingress');
  const mgmt = (await dp.builtinCounters()).management.packets;
  t.ok(mgmt > 0n, `anti-lockout counter counts (${mgmt})`);

  await dp.setManagement({ prefixes: [], ports: [] });
  for (const name of Object.keys(packets)) t.equal(verdict(name), 'deny', `management removed: ${name} denied again`);
});
