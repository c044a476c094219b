import t from 'tap';
import { loadFixture } from '../fixtures/commands.js';
import { startAgent } from '../fixtures/consumer-harness.js';

// The dispatcher never throws and never changes rules on a refused command, whatever it is fed.

/** Deterministic xorshift so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const ODD_VALUES: unknown[] = [null, true, -1, 0, 1.5, 2 ** 53, '', 'x'.repeat(300), [], {}, [1, 2], { a: 1 }, '192.0.2.0/24', '2001:db8::/32', new Uint8Array(4), 'none', 'tcp', 65536];

/** Replaces, deletes or adds one field somewhere in a copy of `value`. */
function mutate(value: unknown, next: () => number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || next() < 0.25) return pick(ODD_VALUES);
  const copy: Record<string, unknown> = Array.isArray(value) ? ({ ...value } as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const roll = next();
  if (roll < 0.15 || keys.length === 0) copy[pick(['extra', 'pf', 'slpf', 'start_time', 'x-acme', 'rule_number'])] = pick(ODD_VALUES);
  else if (roll < 0.3) delete copy[pick(keys)];
  else {
    const key = pick(keys);
    copy[key] = mutate(copy[key], next);
  }
  return Array.isArray(value) ? Object.values(copy) : copy;
}

t.test('5000 mutated commands: a known status every time, rules change only on success', async (t) => {
  const agent = await startAgent(t.teardown);
  const seeds = loadFixture('pf-appendix-e').cases.map((c) => c.command);
  const next = random(0x0c2);
  const allowed = new Set([102, 200, 400, 404, 500, 501]);
  let unexpected = 0;
  for (let i = 0; i < 5000; i++) {
    const command = mutate(seeds[i % seeds.length], next);
    const before = agent.dataplane.rules.length;
    let response;
    try {
      response = await agent.send(command);
    } catch (err) {
      t.fail(`threw on ${JSON.stringify(command)}: ${err}`);
      continue;
    }
    const changed = agent.dataplane.rules.length !== before;
    if ((response !== undefined && !allowed.has(response.status)) || (changed && response !== undefined && response.status >= 300)) {
      unexpected++;
      t.fail(`${JSON.stringify(command)} -> ${JSON.stringify(response)} (rules ${before} -> ${agent.dataplane.rules.length})`);
    }
    if (response?.status === 500) t.notMatch(response.status_text, /internal error/, `no crash behind a 500: ${JSON.stringify(command)}`);
  }
  t.equal(unexpected, 0);
  t.notOk(agent.log.some((line) => line.includes('command crashed')), 'no handler crashed');
});
