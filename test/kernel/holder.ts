/**
 * A process that holds a kernel dataplane, driven by JSON lines on stdin
 * (one reply line each on stdout). The netns test runs it inside its own
 * namespace with nsenter, kills it with SIGKILL, and starts another one.
 */
import { createInterface } from 'node:readline';
import type { Rule } from '../../agent/rules/model.js';
import { openKernelDataplane, type KernelDataplane } from '../../agent/dataplane/kernel.js';

type Wire = Omit<Rule, 'match'> & { match: Record<string, unknown> };

/** Rules travel with addresses as number arrays. */
function revive(r: Wire): Rule {
  const m: Record<string, unknown> = { ...r.match };
  for (const k of ['either', 'src', 'dst']) {
    const p = m[k] as { family: 4 | 6; address: number[]; length: number } | undefined;
    if (p) m[k] = { ...p, address: Uint8Array.from(p.address) };
  }
  return { ...r, match: m as unknown as Rule['match'] };
}

let dp: KernelDataplane | undefined;
const out = (v: unknown): boolean => process.stdout.write(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)) + '\n');

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { op: string; [k: string]: unknown };
  try {
    switch (cmd.op) {
      case 'open':
        dp = await openKernelDataplane({
          instance: cmd.instance as string,
          interfaces: cmd.interfaces as string[],
          management: { prefixes: [], ports: [] },
        });
        out({ ok: true, status: dp.status() });
        break;
      case 'replace':
        await dp!.replace((cmd.rules as Wire[]).map(revive));
        out({ ok: true });
        break;
      case 'insert':
        await dp!.insert(revive(cmd.rule as Wire), cmd.before as number | undefined);
        out({ ok: true });
        break;
      case 'remove':
        await dp!.remove(cmd.number as number);
        out({ ok: true });
        break;
      case 'counters':
        out({ ok: true, counters: await dp!.counters(cmd.number as number) });
        break;
      case 'status':
        out({ ok: true, status: dp!.status() });
        break;
      default:
        out({ ok: false, error: `unknown op ${cmd.op}` });
    }
  } catch (e) {
    out({ ok: false, error: (e as Error).message, code: (e as { code?: string }).code });
  }
}
