import type { Handler } from './context.js';

/** delete rule_number (PF 2.3.4.1, SLPF 2.3.4.1): 200 once the rule is gone from the dataplane and the files. */
export const deleteRuleHandler: Handler = async (command, { store }) => {
  await store.delete(command.target as number);
  return { status: 200 };
};
