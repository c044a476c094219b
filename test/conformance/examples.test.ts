import t from 'tap';
import { loadFixture, mismatches } from '../fixtures/commands.js';
import { ManualClock, startAgent } from '../fixtures/consumer-harness.js';

// PF Appendix E and SLPF Annex A, each example through the real consumer on a fresh agent.
for (const file of ['pf-appendix-e', 'slpf-annex-a']) {
  const fixture = loadFixture(file);
  t.test(file, async (t) => {
    for (const example of fixture.cases) {
      t.test(example.name, async (t) => {
        const agent = await startAgent(t.teardown, { deviceId: fixture.agent.deviceId }, { namedGroups: [...fixture.agent.namedGroups], clock: new ManualClock(fixture.agent.now) });
        for (const [i, setup] of (example.setup ?? []).entries()) {
          const response = await agent.send(setup);
          t.equal(response?.status, 200, `setup ${i} succeeds: ${JSON.stringify(response)}`);
        }
        const response = await agent.send(example.command);
        t.same(mismatches(response, example.expect), [], JSON.stringify(response));
      });
    }
  });
}
