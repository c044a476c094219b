import t from 'tap';
import type { Prefix, Rule } from '../../agent/rules/model.js';
import { CompileError, MAX_SHAPES, RANK_NONE, RANK_STEP, RuleSet, lpmSlot, portPrefixes, type LpmEntry, type ShapeCountEntry, type ShapeEntry, type TupleEntry } from '../../agent/rules/compile.js';
import { encodeRecords, encodeSet } from '../../agent/dataplane/records.js';
import { randomRule } from '../kernel/frames.js';
import { prng } from '../helpers/prng.js';

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

t.test('either serves both LPM sides; entries inherit the best containing rule per side and hook', async (t) => {
  const set = RuleSet.compile([
    rule(1, { family: 4, either: p4([192, 0, 2, 0], 24) }),
    rule(2, { family: 4, src: p4([192, 0, 2, 128], 25) }, { action: 'allow', direction: 'both' }),
  ]);
  const e = lpm(set);
  const e25 = e.find((x) => x.length === 25)!;
  t.same(e25.ranks!.slice(0, 2), [RANK_STEP, 2 * RANK_STEP], 'source side: ingress rule 1 (containing /24) wins; egress only rule 2');
  t.same(e25.ranks!.slice(2), [RANK_STEP, RANK_NONE], 'destination side: only rule 1, at ingress');
  const e24 = e.find((x) => x.length === 24)!;
  t.same(e24.ranks, [RANK_STEP, RANK_NONE, RANK_STEP, RANK_NONE], 'either: one entry for both sides');
});

t.test('in-place insert and remove change only affected entries and restore the original', async (t) => {
  const rules = [rule(1, { family: 4, src: p4([192, 0, 2, 0], 24) }), rule(2, { family: 4, src: p4([192, 0, 2, 7], 32) })];
  const set = RuleSet.compile(rules);
  const before = JSON.stringify(lpm(set));
  const d = set.insert(rule(3, { family: 4, src: p4([192, 0, 2, 0], 16) }, { action: 'allow' }), 1)!;
  t.ok(d, 'rank gap available');
  t.equal(d.entries.length, 3, 'new /16 plus the two contained entries now resolved to rule 3');
  t.ok(d.entries.every((e) => e.kind === 'lpm' && e.ranks![lpmSlot('src', 0)] === set.byNumber.get(3)!.rank));
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

t.test('LPM entries name the tuple shapes whose prefixes contain them; wildcard sides are marked per shape set', async (t) => {
  const set = RuleSet.compile([
    rule(1, { family: 4, dst: p4([198, 51, 100, 0], 24), protocol: 6, dstPorts: { low: 22, high: 22 } }),
    rule(2, { family: 4, src: p4([203, 0, 113, 0], 24), protocol: 17 }),
    rule(3, { family: 4, src: p4([198, 51, 100, 7], 32) }),
  ]);
  const shapes = set.entries().filter((e): e is ShapeEntry => e.kind === 'shape' && e.hook === 0);
  const bit = (pred: (s: ShapeEntry) => boolean): number => 1 << shapes.find(pred)!.index;
  const dstShape = bit((s) => s.dstLength === 24);
  const srcShape = bit((s) => s.srcLength === 24);
  const dst24 = lpm(set).find((e) => e.length === 24 && e.address[0] === 198)!;
  t.equal(dst24.shapes![lpmSlot('dst', 0)], dstShape, 'the /24 destination names the shape of rule 1 at ingress');
  t.equal(dst24.shapes![lpmSlot('dst', 1)], 0, 'and no egress shape: rule 1 is ingress only');
  t.equal(dst24.shapes![lpmSlot('src', 0)], 0, 'and nothing on the source side');
  const src24 = lpm(set).find((e) => e.length === 24 && e.address[0] === 203)!;
  t.equal(src24.shapes![lpmSlot('src', 0)], srcShape);
  const host = lpm(set).find((e) => e.length === 32)!;
  t.same(host.shapes, [0, 0, dstShape, 0], 'an address rule names no shape; the host inherits the /24 destination bits');
  const count = set.entries().find((e): e is ShapeCountEntry => e.kind === 'shape-count' && e.hook === 0 && e.family === 4)!;
  t.equal(count.wildSrc, dstShape, 'rule 1 has no source prefix');
  t.equal(count.wildDst, srcShape, 'rule 2 has no destination prefix');
});

t.test('an inserted connection rule marks its prefix after writing its key', async (t) => {
  const set = RuleSet.compile([rule(1, { family: 4, src: p4([192, 0, 2, 0], 24) })]);
  const d = set.insert(rule(2, { family: 4, src: p4([192, 0, 2, 0], 24), protocol: 6, dstPorts: { low: 443, high: 443 } }), 1)!;
  const kinds = d.entries.map((e) => e.kind);
  t.ok(kinds.indexOf('shape') < kinds.indexOf('tuple') && kinds.indexOf('tuple') < kinds.lastIndexOf('lpm'), `order ${kinds.join(',')}`);
  const marked = d.entries.find((e): e is LpmEntry => e.kind === 'lpm')!;
  t.equal(marked.shapes![lpmSlot('src', 0)], 1, 'the /24 now names shape 0 at ingress');
  t.equal(marked.ranks![lpmSlot('src', 0)], RANK_STEP, 'and still resolves to rule 1 for address-only matches');
});

t.test('the fast generation encoding equals encoding every entry object', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = prng(seed);
    const rules = Array.from({ length: 1 + Math.floor(rnd() * 40) }, (_, i) => randomRule(rnd, i + 1));
    let set: RuleSet;
    try {
      set = RuleSet.compile(rules);
    } catch (e) {
      if (e instanceof CompileError) continue;
      throw e;
    }
    if (!encodeSet(set).equals(encodeRecords(set.entries(), set))) {
      t.fail(`seed ${seed}: encodeSet differs from encodeRecords(entries())`);
      return;
    }
  }
  t.pass('40 random rule sets encode identically');
});

t.test('a host + port key is pinned to its host entry while it is the host only key of the hook', async (t) => {
  const host = p4([198, 51, 100, 77], 32);
  const web = rule(1, { family: 4, dst: host, protocol: 6, dstPorts: { low: 8443, high: 8443 } });
  const set = RuleSet.compile([web]);
  const hostEntry = (entries: readonly { kind: string }[]): LpmEntry | undefined =>
    entries.filter((e): e is LpmEntry => e.kind === 'lpm').findLast((e) => e.length === 32 && e.address[3] === 77);
  const pin = hostEntry(set.entries())!.pins![0]!;
  t.same(pin, { head: 1 | (1 << 8) | (6 << 16), ports: 8443, rank: RANK_STEP }, 'shape 0 + 1, destination side, tcp; port 8443; rule 1');
  t.equal(hostEntry(set.entries())!.pins![1], null, 'no egress pin: the rule is ingress only');

  const dns = rule(2, { family: 4, dst: host, protocol: 17, dstPorts: { low: 53, high: 53 } });
  let changes = set.insert(dns)!.entries;
  t.equal(hostEntry(changes)?.pins?.[0], null, 'a second key at the host: the host entry is rewritten without a pin');

  changes = set.remove(2);
  t.same(hostEntry(changes)?.pins?.[0], pin, 'back to one key: the first key is pinned again');

  set.insert(dns);
  changes = set.remove(1);
  t.equal(hostEntry(set.entries())!.pins![0], null, 'the pinned key went: no pin, although one key is left (its tuple probe answers)');
  t.ok(
    changes.some((e) => e.kind === 'tuple' && e.rank === undefined),
    'and the key itself is deleted',
  );

  const shadow = rule(3, { family: 4, dst: host, protocol: 17, dstPorts: { low: 53, high: 53 } }, { action: 'allow' });
  const fresh = RuleSet.compile([dns]);
  const better = fresh.insert(shadow, 2)!.entries;
  t.equal(hostEntry(better)?.pins?.[0]?.rank, fresh.byNumber.get(3)!.rank, 'a better rule on the pinned key rewrites the pin with its rank');

  const either = RuleSet.compile([rule(1, { family: 4, either: host, protocol: 6, dstPorts: { low: 22, high: 22 } }, { direction: 'both' })]);
  const pins = hostEntry(either.entries())!.pins!;
  t.ok(pins[0] === null && pins[1] === null, 'either: two keys at the host (source and destination side), so no pin');
});

t.test('a pin names no rank a removal takes away', async (t) => {
  const host = p4([192, 0, 2, 9], 32);
  const set = RuleSet.compile([rule(1, { family: 4, src: host, protocol: 6, dstPorts: { low: 22, high: 22 } }, { direction: 'both' })]);
  const removed = set.byNumber.get(1)!.rank;
  const changes = set.remove(1);
  const named = changes.flatMap((e) => (e.kind === 'lpm' ? (e.pins ?? []) : [])).filter((p) => p?.rank === removed);
  t.same(named, [], 'pins of both hooks leave with the rule');
  t.doesNotThrow(() => encodeRecords(changes, set), 'the changes encode after the rule is gone');
});
