/**
 * Where the time of a 100k-rule generation goes: compile, entries(), encoding,
 * the native write. Run: node --import ./test/bench/register.mjs test/bench/dataplane-profile.ts
 */
import type { Family, Prefix, Rule } from '../../agent/rules/model.js';
import { RuleSet } from '../../agent/rules/compile.js';
import { encodeSet } from '../../agent/dataplane/records.js';
import { loadNative } from '../../agent/dataplane/binding.js';
import { detachAll } from '../../agent/dataplane/kernel.js';
import { realisticMix as mix } from './dataplane-mix.js';

const out = (line: string): boolean => process.stdout.write(line + '\n');
const N = Number(process.env.N ?? 100_000);
const rules: Rule[] = mix(N);
let t = performance.now();
const lap = (what: string): void => {
  const now = performance.now();
  out(`${what}: ${(now - t).toFixed(0)} ms`);
  t = now;
};
const set = RuleSet.compile(rules);
lap('compile');
const entries = set.entries();
lap(`entries (${entries.length})`);
const counts: Record<string, number> = {};
for (const e of entries) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
out(JSON.stringify(counts));
const rec = encodeSet(set);
lap('encode');
const instance = `prof-${process.pid}`;
const dir = `/sys/fs/bpf/openc2/${instance}`;
const nat = loadNative();
const h = await nat.openDataplane(dir);
lap('open');
try {
  const slots = Uint32Array.from(set.order.map((r) => r.slot));
  h.resetCounters(slots);
  lap(`reset ${set.order.length} counter slots`);
  await h.replace(rec, slots);
  lap('native replace into empty generation (resetting the slots meanwhile)');
  await h.replace(Buffer.alloc(0), new Uint32Array(0));
  lap('native replace with nothing (clears the other, empty)');
  await h.replace(rec, slots);
  lap('native replace (clears 100k)');
} finally {
  await detachAll(instance);
}
void (undefined as unknown as Family | Prefix);
