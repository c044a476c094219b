import t from 'tap';
import type { Prefix, Rule } from '../../agent/rules/model.js';
import { CompileError, MAX_SHAPES, RANK_STEP, RuleSet, portPrefixes, type LpmEntry, type TupleEntry } from '../../agent/rules/compile.js';

const p4 = (a: number[], length: number): Prefix => ({ family: 4, address: Uint8Array.from(a), length });
function rule(number: number, match: Rule['match'], over: Partial<Rule> = {}): Rule {
  return { number, action: 'deny', drop: 'none', direction: 'ingress', match, priority: 1000, logged: false, stateful: false, persistent: false, source: 'pf', ...over };
}
const lpm = (set: RuleSet) => set.entries().filter((e): e is LpmEntry => e.kind === 'lpm');

t.test('port ranges split into aligned prefixes', async (t) => {
  t.same(portPrefixes(undefined), [{ value: 0, length: 0 }]);
  t.same(portPrefixes({ low: 80, high: 80 }), [{ value: 80, length: 16 }]);
  t.same(portPrefixes({ low: 1024, high: 65535 }).map((x) => x.length), [6, 5, 4, 3, 2, 1]);
  t.same(portPrefixes({ low: 0, high: 65535 }), [{ value: 0, length: 0 }]);
});

t.test('either goes to both LPM sides; entries inherit the best containing rule per hook', async (t) => {
  const set = RuleSet.compile([
    rule(1, { family: 4, either: p4([192, 0, 2, 0], 24) }),
    rule(2, { family: 4, src: p4([192, 0, 2, 128], 25) }, { action: 'allow', direction: 'both' }),
  ]);
  const e = lpm(set);
  const src25 = e.find((x) => x.side === 'src' && x.length === 25)!;
  t.same(src25.ranks, [RANK_STEP, 2 * RANK_STEP], 'ingress: rule 1 (containing /24) wins; egress: only rule 2');
  t.ok(e.some((x) => x.side === 'dst' && x.length === 24), 'either also on the destination side');
});

t.test('in-place insert and remove change only affected entries and restore the original', async (t) => {
  const rules = [rule(1, { family: 4, src: p4([192, 0, 2, 0], 24) }), rule(2, { family: 4, src: p4([192, 0, 2, 7], 32) })];
  const set = RuleSet.compile(rules);
  const before = JSON.stringify(lpm(set));
  const d = set.insert(rule(3, { family: 4, src: p4([192, 0, 2, 0], 16) }, { action: 'allow' }), 1)!;
  t.ok(d, 'rank gap available');
  t.equal(d.entries.length, 3, 'new /16 plus the two contained entries now resolved to rule 3');
  t.ok(d.entries.every((e) => e.kind === 'lpm' && e.ranks![0] === set.byNumber.get(3)!.rank));
  set.remove(3);
  t.equal(JSON.stringify(lpm(set)), before, 'removing restores the previous values');
});

t.test('connection rules become tuple keys grouped by shape', async (t) => {
  const set = RuleSet.compile([rule(1, { family: 4, either: p4([198, 51, 100, 0], 24), protocol: 6, dstPorts: { low: 80, high: 81 } })]);
  const tuples = set.entries().filter((e): e is TupleEntry => e.kind === 'tuple');
  t.equal(tuples.length, 2, 'src-side and dst-side alternatives, one port prefix 80/15');
  t.ok(tuples.every((x) => x.rank === RANK_STEP && x.dstPort === 80 && x.protocol === 6));
});

t.test('too many shapes is refused before anything is written', async (t) => {
  const rules = Array.from({ length: MAX_SHAPES + 1 }, (_, i) => rule(i + 1, { family: 4, src: p4([10, 0, 0, 0], i), protocol: 6 }));
  t.throws(() => RuleSet.compile(rules), CompileError);
});

t.test('no rank gap asks for a new generation', async (t) => {
  const set = RuleSet.compile([rule(1, { family: 4, protocol: 6 }), rule(2, { family: 4, protocol: 17 })]);
  let inserted = 0;
  for (let n = 10; n < 40; n++) if (set.insert(rule(n, { family: 4, protocol: 1 }), 2)) inserted++;
  t.equal(inserted, 12, 'log2(4096) midpoints fit between two ranks');
});

t.test('100k rules compile', async (t) => {
  const rules = Array.from({ length: 100_000 }, (_, i) => rule(i + 1, { family: 4, either: p4([198, (i >> 16) & 255, (i >> 8) & 255, i & 255], 32) }));
  const t0 = performance.now();
  const set = RuleSet.compile(rules);
  const ms = performance.now() - t0;
  t.equal(set.order.length, 100_000);
  t.comment(`compile 100k address rules: ${ms.toFixed(0)} ms`);
});
