/** Per-rule-kind hit cost at N rules (diagnostics for test/bench/dataplane.ts). */
import type { Prefix, Rule } from '../../agent/rules/model.js';
import { detachAll, openKernelDataplane } from '../../agent/dataplane/kernel.js';
import { buildFrame } from '../kernel/frames.js';
import { realisticMix, v6 } from './dataplane-mix.js';

const N = Number(process.env.N ?? 1000);
const REPEAT = 100_000;
const instance = `probe-${process.pid}`;
function hitFrame(r: Rule): Buffer {
  const m = r.match;
  const any = (p: Prefix | undefined, fallback: Uint8Array): Uint8Array => (p ? p.address : fallback);
  return buildFrame({ family: m.family, src: any(m.src ?? m.either, m.family === 4 ? Uint8Array.from([203, 0, 113, 7]) : v6()), dst: any(m.dst, m.family === 4 ? Uint8Array.from([192, 0, 2, 9]) : v6()), protocol: m.protocol ?? 6, srcPort: 40000, dstPort: m.dstPorts?.low ?? 443 });
}
const dp = await openKernelDataplane({ instance, interfaces: [] });
try {
  const rules = realisticMix(N);
  await dp.replace(rules);
  const kinds: Record<string, (r: Rule) => boolean> = {
    'v4 address': (r) => r.match.family === 4 && !r.match.dstPorts,
    'v4 dst host + port': (r) => r.match.family === 4 && !!r.match.dst && r.match.dstPorts?.low === r.match.dstPorts?.high,
    'v4 src net + port': (r) => r.match.family === 4 && !!r.match.src && r.match.dstPorts?.low === r.match.dstPorts?.high,
    'v4 range': (r) => r.match.family === 4 && !!r.match.dstPorts && r.match.dstPorts.low !== r.match.dstPorts.high,
    'v6 dst host + port': (r) => r.match.family === 6 && !!r.match.dst && r.match.dstPorts?.low === r.match.dstPorts?.high,
  };
  for (const [name, f] of Object.entries(kinds)) {
    const r = [...rules].reverse().find(f);
    if (!r) continue;
    const fr = hitFrame(r);
    const res = dp.testRun('ingress', fr, REPEAT);
    process.stdout.write(`${name} (rule ${r.number}, ${r.action}): ${res.durationNs} ns, retval ${res.retval}\n`);
  }
} finally {
  await dp.close();
  await detachAll(instance);
}
