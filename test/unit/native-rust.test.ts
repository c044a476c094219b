/**
 * The Rust unit tests of native/ (record decoding, address-filter folds), run
 * by cargo so that `npm test` covers them: one assertion per Rust test.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const manifest = fileURLToPath(new URL('../../native/Cargo.toml', import.meta.url));

t.test('the native crate passes its own unit tests', async (t) => {
  // --release shares the compiled dependencies of `npm run build:native`.
  const run = spawnSync('cargo', ['test', '--release', '--manifest-path', manifest], { encoding: 'utf8', timeout: 600_000 });
  t.equal(run.error, undefined, 'cargo runs');
  const results = [...run.stdout.matchAll(/^test (\S+) \.\.\. (\w+)$/gm)];
  t.ok(results.length >= 5, `${results.length} Rust tests ran`);
  for (const [, name, outcome] of results) t.equal(outcome, 'ok', name!);
  t.equal(run.status, 0, 'cargo test exits 0', { stderr: run.stderr.slice(-2000) });
});
