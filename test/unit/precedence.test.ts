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
