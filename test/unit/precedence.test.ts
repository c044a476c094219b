import t from 'tap';
import { DEFAULT_PRIORITY, type Rule } from '../../agent/rules/model.js';
import { PrecedenceList } from '../../agent/rules/precedence.js';

const rule = (number: number, priority = DEFAULT_PRIORITY): Rule => ({
  number, action: 'deny', drop: 'none', direction: 'ingress', match: { family: 4 }, priority, logged: false, stateful: false, persistent: true, source: 'pf',
});

t.test('insert keeps priority then number order and names the rule it precedes', async (t) => {
  const list = new PrecedenceList();
  t.equal(list.insert(rule(10)), undefined, 'append: nothing after');
  t.equal(list.insert(rule(30)), undefined);
  t.equal(list.insert(rule(20)), 30, 'goes before 30');
  t.equal(list.insert(rule(40, 5)), 10, 'lower priority value goes first');
  t.same(list.rules.map((r) => r.number), [40, 10, 20, 30]);
  t.ok(list.remove(rule(20)));
  t.notOk(list.remove(rule(20)), 'already gone');
  t.notOk(list.has(rule(20)));
  t.same(list.rules.map((r) => r.number), [40, 10, 30]);
});

t.test('5000 random inserts and removals across chunk splits agree with a sorted array', async (t) => {
  const list = new PrecedenceList();
  const reference: Rule[] = [];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let mismatches = 0;
  for (let i = 0; i < 5000; i++) {
    if (reference.length > 0 && next() < 0.35) {
      const victim = reference.splice(Math.floor(next() * reference.length), 1)[0]!;
      if (!list.remove(victim)) mismatches++;
    } else {
      const r = rule(i + 1, [1, 500, 1000, 1000, 1000][Math.floor(next() * 5)]);
      const before = list.insert(r);
      reference.push(r);
      reference.sort((a, b) => a.priority - b.priority || a.number - b.number);
      const expected = reference[reference.indexOf(r) + 1]?.number;
      if (before !== expected) mismatches++;
    }
  }
  t.equal(mismatches, 0, 'every insert names the right successor, every removal finds its rule');
  t.same(list.rules.map((r) => r.number), reference.map((r) => r.number));
  t.equal(list.size, reference.length);
});
