import t from 'tap';
import { loadFixture } from '../fixtures/commands.js';
import { startAgent } from '../fixtures/consumer-harness.js';

/**
 * Mutation fuzzing of the consumer: every fixture command, bent at random (fields dropped,
 * types swapped, junk and prototype keys added, numbers pushed past their ranges, binary
 * values where CBOR could put them), must get a well-formed OpenC2 answer, never a throw,
 * and a refused command must leave the rule set exactly as it was.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 3000);
const STATUSES = new Set([102, 200, 400, 401, 403, 404, 500, 501, 503]);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const JUNK: unknown[] = [
  null, true, 0, -1, 1.5, 65536, 2 ** 53, -(2 ** 31), NaN, '', ' ', 'x'.repeat(5000), '192.0.2.0/33', '2001:db8::/129',
  '::ffff:192.0.2.1', '0/0', [], [[]], {}, { __proto__: { polluted: true } }, new Uint8Array([192, 0, 2, 1]), [new Uint8Array(16), 64], '\u0000', 'tcp',
];

function mutate(value: unknown, random: () => number, depth = 0): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  if (depth > 6 || random() < 0.15) return pick(JUNK);
  if (Array.isArray(value)) return value.map((v) => (random() < 0.3 ? mutate(v, random, depth + 1) : v));
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    const entries = Object.entries(value);
    const victim = entries.length ? Math.floor(random() * entries.length) : -1;
    entries.forEach(([key, inner], i) => {
      if (i === victim && random() < 0.3) return; // drop a field
      out[key] = i === victim || random() < 0.1 ? mutate(inner, random, depth + 1) : inner;
    });
    if (random() < 0.1) out[pick(['colour', 'constructor', '__proto__', 'pf:rule_number', 'slpf:drop_process', 'x'])] = pick(JUNK);
    return out;
  }
  return pick(JUNK);
}

t.test('mutated commands get a status from the spec and never a half-applied rule set', async (t) => {
  const agent = await startAgent(t.teardown.bind(t));
  const commands = ['pf-appendix-e', 'slpf-annex-a', 'bad-input'].flatMap((name) => loadFixture(name).cases.map((c) => c.command));
  const random = prng(SEED);
  let answered = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const command = mutate(structuredClone(commands[round % commands.length]), random);
    const before = JSON.stringify(agent.dataplane.rules, (_k, v) => (v instanceof Uint8Array ? [...v] : v));
    let response;
    try {
      response = await agent.send(command, `fuzz-${round}`);
    } catch (err) {
      t.fail(`round ${round} (FUZZ_SEED=${SEED}) threw ${(err as Error).stack}\ncommand: ${JSON.stringify(command)}`);
      break;
    }
    if (response === undefined) continue; // response_requested: none survived the mutation
    answered++;
    if (!STATUSES.has(response.status)) {
      t.fail(`round ${round} (FUZZ_SEED=${SEED}): status ${response.status} is not an OpenC2 status`, { command });
      break;
    }
    if (response.status >= 400) {
      const after = JSON.stringify(agent.dataplane.rules, (_k, v) => (v instanceof Uint8Array ? [...v] : v));
      if (after !== before) {
        t.fail(`round ${round} (FUZZ_SEED=${SEED}): status ${response.status} but the rule set changed`, { command, response });
        break;
      }
      if (!response.status_text) {
        t.fail(`round ${round} (FUZZ_SEED=${SEED}): status ${response.status} without status_text`, { command });
        break;
      }
    }
  }
  t.ok(answered > ROUNDS / 2, `${answered} of ${ROUNDS} mutated commands answered`);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
});
