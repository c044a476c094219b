import t from 'tap';
import { commandKey, RequestLedger } from '../../agent/codec/replay.js';

t.test('command key: command_id wins over request_id (language spec 3.3.1), scoped by producer', async (t) => {
  t.equal(commandKey('orch', 'r-1', { action: 'deny' }), 'orch\u0000r-1');
  t.equal(commandKey('orch', 'r-1', { action: 'deny', command_id: 'c-9' }), 'orch\u0000c-9');
  t.not(commandKey('a', 'r-1', {}), commandKey('b', 'r-1', {}));
  t.equal(commandKey('orch', undefined, { action: 'deny' }), undefined);
});

t.test('the ledger remembers a handled command and its response until the entry is too old', async (t) => {
  const ledger = new RequestLedger<{ status: number }>(1000, 10);
  ledger.record('k', { status: 200 }, 0);
  t.same(ledger.lookup('k', 1000)?.response, { status: 200 });
  t.equal(ledger.lookup('k', 1001), undefined);
  t.equal(ledger.size, 0);
});

t.test('the ledger keeps at most its capacity, dropping the oldest first', async (t) => {
  const ledger = new RequestLedger<number>(60_000, 3);
  for (let i = 0; i < 5; i++) ledger.record(`k${i}`, i, i);
  t.equal(ledger.size, 3);
  t.equal(ledger.lookup('k1', 5), undefined);
  t.equal(ledger.lookup('k4', 5)?.response, 4);
});
