/**
 * Takeover across a map layout change: an agent before pins kept host entries
 * in pf_h4 (values pf_lpm_val); the new agent carries them into pf_host4 when
 * it opens the pins, so a host rule is enforced from the moment its program
 * runs, before its first replace. The old layout is made here with bpftool,
 * as that agent left it. BPF_PROG_TEST_RUN only; nothing is attached.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { checkBpfRights } from '../../agent/dataplane/binding.js';
import { DEFAULT_PIN_ROOT, detachAll, openKernelDataplane } from '../../agent/dataplane/kernel.js';
import { buildFrame, retvalAction } from './frames.js';

const rights = checkBpfRights();
const instance = `test-upg-${process.pid}`;
const dir = `${DEFAULT_PIN_ROOT}/${instance}`;
const bpftool = (...args: string[]): string => execFileSync('bpftool', args, { encoding: 'utf8' });
const bytes = (b: Uint8Array): string[] => [...b].map(String);

/** pf_lpm_val: verdicts [side][hook] (rank, slot, action, drop, flags, pad), then shape bits. */
function lpmValue(dstIngress: { rank: number; slot: number; deny: boolean }): Uint8Array {
  const v = new DataView(new ArrayBuffer(64));
  for (let i = 0; i < 4; i++) v.setUint32(12 * i, 0xffffffff, true);
  v.setUint32(24, dstIngress.rank, true);
  v.setUint32(28, dstIngress.slot, true);
  v.setUint8(32, dstIngress.deny ? 1 : 0);
  return new Uint8Array(v.buffer);
}

t.test('host entries of the layout before pins stay enforced across the takeover', { skip: rights.ok ? false : `no BPF rights: ${rights.reason}` }, async (t) => {
  t.teardown(() => detachAll(instance));
  mkdirSync(dir, { recursive: true });
  // The old agent's pf_h4: generation 0 holds a deny for destination 198.51.100.77.
  bpftool('map', 'create', `${dir}/old_hosts`, 'type', 'hash', 'key', '4', 'value', '64', 'entries', '262144', 'name', 'pf_h4', 'flags', '1');
  bpftool('map', 'create', `${dir}/pf_h4`, 'type', 'array_of_maps', 'key', '4', 'value', '4', 'entries', '2', 'name', 'pf_h4', 'inner_map', 'pinned', `${dir}/old_hosts`);
  bpftool('map', 'update', 'pinned', `${dir}/pf_h4`, 'key', '0', '0', '0', '0', 'value', 'pinned', `${dir}/old_hosts`);
  bpftool('map', 'update', 'pinned', `${dir}/old_hosts`, 'key', '198', '51', '100', '77', 'value', ...bytes(lpmValue({ rank: 4096, slot: 2, deny: true })));
  execFileSync('rm', [`${dir}/old_hosts`]);

  const dp = await openKernelDataplane({ instance, interfaces: [] });
  const to = (last: number): Buffer =>
    buildFrame({ family: 4, src: Uint8Array.from([203, 0, 113, 7]), dst: Uint8Array.from([198, 51, 100, last]), protocol: 6, srcPort: 40000, dstPort: 443 });
  t.equal(retvalAction('ingress', dp.testRun('ingress', to(77)).retval), 'deny', 'the old host deny holds before any replace');
  t.equal(retvalAction('ingress', dp.testRun('ingress', to(78)).retval), 'allow', 'and only for that host');
  t.notOk(existsSync(`${dir}/pf_h4`), 'the old host map pin is gone');
  await dp.replace([]);
  t.equal(retvalAction('ingress', dp.testRun('ingress', to(77)).retval), 'allow', 'the agent’s own (empty) rule set replaces it');
  await dp.close();
});
