import { readFileSync } from 'node:fs';

/**
 * The heap flags the agent ships with, read from the systemd unit (the procd init sets the
 * same), so a benchmark of the agent as it ships cannot drift from it.
 */
export function shippedNodeOptions(): string[] {
  const unit = readFileSync(new URL('../../build/systemd/openc2-agent.service', import.meta.url), 'utf8');
  const options = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit);
  if (!options) throw new Error('build/systemd/openc2-agent.service sets no NODE_OPTIONS');
  return options[1]!.split(' ').filter(Boolean);
}
