import { execFileSync, spawnSync } from 'node:child_process';
import { checkBpfRights } from '../../agent/dataplane/binding.js';
import { inNs, runInNs } from '../helpers/netns.js';

/**
 * Two network namespaces made by the test, joined by a veth pair: the dataplane goes on side A's
 * end only, traffic comes from side B. Documentation addresses only (DESIGN.md section 7).
 */
export interface VethPair {
  readonly nsA: string;
  readonly nsB: string;
  readonly vethA: string;
  readonly vethB: string;
}

export const A4 = '192.0.2.1';
export const B4 = '192.0.2.2';
export const A6 = '2001:db8::1';
export const B6 = '2001:db8::2';

/** Why a test or bench cannot make a veth pair and load BPF programs here, or false when it can. */
export function vethPairSkip(): string | false {
  const rights = checkBpfRights();
  if (!rights.ok) return `no BPF rights: ${rights.reason}`;
  const haveTools = spawnSync('ip', ['-V']).status === 0 && spawnSync('nsenter', ['--version']).status === 0;
  return haveTools ? false : 'needs iproute2 and nsenter';
}

export const sh = (args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 20_000 });

/** Names unique to this test process and `tag` (interface names stay within 15 characters). */
export function vethPairNames(tag: string): VethPair {
  const id = process.pid % 100000;
  return { nsA: `oc2${tag}a-${id}`, nsB: `oc2${tag}b-${id}`, vethA: `oc2${tag}a${id}`.slice(0, 15), vethB: `oc2${tag}b${id}`.slice(0, 15) };
}

/** Makes the namespaces and the pair, addresses A4/A6 and B4/B6, links up, and waits (bounded) until B reaches A. */
export async function createVethPair(pair: VethPair): Promise<void> {
  sh(['ip', 'netns', 'add', pair.nsA]);
  sh(['ip', 'netns', 'add', pair.nsB]);
  sh(['ip', 'link', 'add', pair.vethA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.vethB, 'netns', pair.nsB]);
  for (const [ns, dev, v4, v6] of [[pair.nsA, pair.vethA, A4, A6], [pair.nsB, pair.vethB, B4, B6]] as const) {
    sh(inNs(ns, ['ip', 'addr', 'add', `${v4}/24`, 'dev', dev]));
    sh(inNs(ns, ['ip', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']));
    sh(inNs(ns, ['ip', 'link', 'set', dev, 'up']));
    sh(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']));
  }
  // Let the veth carrier come up: 50 tries, 100 ms apart.
  for (let i = 0; i < 50 && !ping(pair.nsB, A4); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Deletes both namespaces (the veth pair goes with them); safe to call when they never existed. */
export function removeVethPair(pair: VethPair): void {
  spawnSync('ip', ['netns', 'del', pair.nsA]);
  spawnSync('ip', ['netns', 'del', pair.nsB]);
}

/** `count` pings from namespace `ns` to `addr`, 10 ms apart, 1 s wait: true when all were answered. */
export function ping(ns: string, addr: string, count = 1): boolean {
  return runInNs(ns, ['ping', '-n', '-q', '-c', String(count), '-W', '1', '-i', '0.01', addr], { timeout: 15_000 }).status === 0;
}
