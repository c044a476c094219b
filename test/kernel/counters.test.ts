/**
 * Per-rule counters (DESIGN.md section 4): a rule's slot counts its packets,
 * and a slot handed to a new rule starts from zero, after an in-place insert
 * and after a whole replace. BPF_PROG_TEST_RUN only; nothing is attached.
 */
import t from 'tap';
import type { Rule } from '../../agent/rules/model.js';
import { checkBpfRights } from '../../agent/dataplane/binding.js';
import { detachAll, openKernelDataplane } from '../../agent/dataplane/kernel.js';
import { buildFrame } from './frames.js';

const rights = checkBpfRights();
const instance = `test-cnt-${process.pid}`;
const deny = (number: number, last: number): Rule => ({
  number,
  action: 'deny',
  drop: 'none',
  direction: 'both',
  match: { family: 4, either: { family: 4, address: Uint8Array.from([192, 0, 2, last]), length: 32 } },
  priority: 1000,
  logged: false,
  stateful: false,
  persistent: false,
  source: 'pf',
});
const frame = (last: number): Buffer =>
  buildFrame({ family: 4, src: Uint8Array.from([192, 0, 2, last]), dst: Uint8Array.from([198, 51, 100, 1]), protocol: 17, srcPort: 1000, dstPort: 53 });

t.test('counters count per rule and restart at zero for a reused slot', { skip: rights.ok ? false : `no BPF rights: ${rights.reason}` }, async (t) => {
  const dp = await openKernelDataplane({ instance, interfaces: [] });
  t.teardown(() => detachAll(instance));
  await dp.replace([deny(1, 1), deny(2, 2)]);
  dp.testRun('ingress', frame(1), 5);
  dp.testRun('ingress', frame(2), 3);
  t.equal((await dp.counters(1))!.packets, 5n, 'rule 1 counted 5');
  t.equal((await dp.counters(2))!.packets, 3n, 'rule 2 counted 3');
  await dp.remove(1);
  await dp.insert(deny(3, 3));
  t.equal((await dp.counters(3))!.packets, 0n, 'rule 3 reuses rule 1 slot from zero (in place)');
  dp.testRun('ingress', frame(3), 2);
  await dp.replace([deny(4, 4), deny(2, 2)]);
  t.equal((await dp.counters(2))!.packets, 3n, 'rule 2 keeps its count across a replace');
  t.equal((await dp.counters(4))!.packets, 0n, 'rule 4 takes a freed slot from zero (replace)');
});
