import { readFileSync } from 'node:fs';

/**
 * The Node flags the agent ships with, read from the systemd unit (the procd init sets the
 * same): its NODE_OPTIONS, then the flags ExecStart gives node itself (those Node refuses in
 * NODE_OPTIONS). Returned as node's own command-line flags (not for NODE_OPTIONS), so a
 * benchmark or test of the agent as it ships cannot drift from it.
 */
export function shippedNodeFlags(): string[] {
  const unit = readFileSync(new URL('../../build/systemd/openc2-agent.service', import.meta.url), 'utf8');
  const options = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit);
  if (!options) throw new Error('build/systemd/openc2-agent.service sets no NODE_OPTIONS');
  const exec = /^ExecStart=\/usr\/bin\/node ((?:--\S+ )*)\/usr\/lib\/openc2\/openc2-agent\.mjs run /m.exec(unit);
  if (!exec) throw new Error('build/systemd/openc2-agent.service: ExecStart does not run node on the agent');
  return `${options[1]!} ${exec[1]!}`.split(' ').filter(Boolean);
}
