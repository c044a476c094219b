/**
 * The kernel programs agree with the reference matcher (agent/dataplane/sim.ts)
 * on random rule sets and packets, run with BPF_PROG_TEST_RUN: after a whole
 * replace and after in-place inserts and removes. Nothing is attached.
 */
import t from 'tap';

type TapTest = { fail(message: string, extra: object): boolean };
import type { Hook, Rule } from '../../agent/rules/model.js';
import { simulate } from '../../agent/dataplane/sim.js';
import { checkBpfRights } from '../../agent/dataplane/binding.js';
import { detachAll, openKernelDataplane, type KernelDataplane } from '../../agent/dataplane/kernel.js';
import { CompileError, RuleSet } from '../../agent/rules/compile.js';
import { buildFrame, packetNear, randomPacket, randomRule, retvalAction } from './frames.js';
import { prng } from '../helpers/prng.js';

const rights = checkBpfRights();
// 500 sets (about 50 s here): each set is compared after its replace and after
// each of 6 in-place changes, so 3500 rule-set states x 60 packets x 2 hooks.
const SETS = Number(process.env.OPENC2_DIFF_SETS ?? 500);
const PACKETS = 60;
const baseSeed = Number(process.env.OPENC2_DIFF_SEED ?? Date.now() % 1_000_000);
const instance = `test-diff-${process.pid}`;

let overflow = 0;
const seen = { allow: 0, deny: 0 };
/** Rule sets whose hosts carry pinned tuple keys (struct pf_pin), which the kernel answers without a tuple probe. */
let pinned = 0;

/** Runs a change; false when the set has more shapes than the kernel walks (then nothing changed). */
async function shapesFit(change: () => Promise<void>): Promise<boolean> {
  try {
    await change();
    return true;
  } catch (e) {
    if (e instanceof CompileError && e.code === 'ERR_TOO_MANY_SHAPES') {
      overflow++;
      return false;
    }
    throw e;
  }
}

function compare(t: TapTest, dp: KernelDataplane, rules: readonly Rule[], rnd: () => number, seed: number, stage: string): boolean {
  for (let i = 0; i < PACKETS; i++) {
    // Half the packets aim at a rule: random ones rarely hit a host key's port.
    const { packet, options } = rules.length > 0 && rnd() < 0.5 ? packetNear(rnd, rules[Math.floor(rnd() * rules.length)]!) : randomPacket(rnd);
    const frame = buildFrame(packet, options);
    for (const hook of ['ingress', 'egress'] as Hook[]) {
      const want = simulate(rules, packet, hook).action;
      const got = retvalAction(hook, dp.testRun(hook, frame).retval);
      seen[want]++;
      if (got !== want) {
        t.fail(`seed ${seed} ${stage}: ${hook} verdict ${got}, sim says ${want}`, {
          packet: { ...packet, src: [...packet.src], dst: [...packet.dst] },
          options,
          rules: rules.map((r) => JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? [...v] : v))),
        });
        return false;
      }
    }
  }
  return true;
}

t.test('kernel verdicts equal sim.ts on random rule sets and packets', { skip: rights.ok ? false : `no BPF rights: ${rights.reason}` }, async (t) => {
  const dp = await openKernelDataplane({ instance, interfaces: [] });
  t.teardown(() => detachAll(instance));
  t.comment(`base seed ${baseSeed} (rerun with OPENC2_DIFF_SEED=${baseSeed})`);
  let checked = 0;
  for (let s = 0; s < SETS; s++) {
    const seed = baseSeed + s;
    const rnd = prng(seed);
    let next = 1;
    const rules: Rule[] = Array.from({ length: 1 + Math.floor(rnd() * 24) }, () => randomRule(rnd, next++));
    if (!(await shapesFit(() => dp.replace(rules)))) continue;
    if (RuleSet.compile(rules).entries().some((e) => e.kind === 'lpm' && e.pins?.some((p) => p !== null))) pinned++;
    if (!compare(t, dp, rules, rnd, seed, 'replace')) return;
    // In-place changes: inserts at random positions, removes of random rules.
    for (let c = 0; c < 6; c++) {
      if (rnd() < 0.5 && rules.length > 0) {
        const victim = rules[Math.floor(rnd() * rules.length)]!;
        await dp.remove(victim.number);
        rules.splice(rules.indexOf(victim), 1);
      } else {
        const rule = randomRule(rnd, next++);
        const at = Math.floor(rnd() * (rules.length + 1));
        const before = rules[at]?.number;
        if (!(await shapesFit(() => dp.insert(rule, before)))) continue;
        rules.splice(at, 0, rule);
      }
      if (!compare(t, dp, rules, rnd, seed, `change ${c}`)) return;
    }
    checked++;
  }
  t.comment(`${overflow} changes refused for too many shapes (CompileError, kernel untouched)`);
  // Both verdicts must occur often, or agreement would prove little.
  t.ok(seen.deny > SETS * 10 && seen.allow > SETS * 10, `verdicts seen: ${seen.deny} deny, ${seen.allow} allow`);
  t.ok(pinned > SETS * 0.3, `${pinned} rule sets had pinned host keys`);
  t.ok(checked >= SETS * 0.8, `${checked} of ${SETS} rule sets x ${PACKETS * 7} packets x 2 hooks agree`);
});
