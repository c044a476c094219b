/** Compile + encode time of 100k realistic rules, for --cpu-prof (diagnostics). */
import { RuleSet } from '../../agent/rules/compile.js';
import { RECORD_LEN, encodeSet } from '../../agent/dataplane/records.js';
import { realisticMix } from './dataplane-mix.js';

const rules = realisticMix(100_000);
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  let u = process.cpuUsage();
  const set = RuleSet.compile(rules);
  const c = performance.now() - t;
  const cu = process.cpuUsage(u);
  t = performance.now();
  u = process.cpuUsage();
  const b = encodeSet(set);
  const eu = process.cpuUsage(u);
  const ms = (x: { user: number; system: number }): string => ((x.user + x.system) / 1000).toFixed(0);
  process.stdout.write(`compile ${c.toFixed(0)} ms (cpu ${ms(cu)}), encodeSet ${(performance.now() - t).toFixed(0)} ms (cpu ${ms(eu)}), ${b.length / RECORD_LEN} records\n`);
}
