import t from 'tap';
import { readFileSync } from 'node:fs';
import { withSettingsTable } from '../../agent/config/settings-table.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('README documents every setting as the code has it (npm run docs:settings)', async (t) => {
  t.equal(withSettingsTable(readme), readme);
});

t.test('README quickstart is exactly two lines: one runs the agent, one passes the tests', async (t) => {
  const quickstart = /## Quickstart[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split('\n') ?? [];
  t.equal(quickstart.length, 2);
  t.match(quickstart[0], /npm start/);
  t.match(quickstart[1], /npm test/);
  t.match(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8'), quickstart[1]!, '.ci/run runs the README test line');
});
