import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnOptionsWithoutStdio, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process';

/** `args` run in the network namespace `ns`: nsenter, not `ip netns exec`, so /sys/fs/bpf pins stay visible. */
export const inNs = (ns: string, args: readonly string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, ...args];

/** spawnSync() of `args` in namespace `ns`; output as text. */
export function runInNs(ns: string, args: readonly string[], options: Omit<SpawnSyncOptionsWithStringEncoding, 'encoding'> = {}): SpawnSyncReturns<string> {
  const [nsenter, ...rest] = inNs(ns, args);
  return spawnSync(nsenter!, rest, { ...options, encoding: 'utf8' });
}

/** spawn() of `args` in namespace `ns`, with its standard streams piped. */
export function startInNs(ns: string, args: readonly string[], options: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  const [nsenter, ...rest] = inNs(ns, args);
  return spawn(nsenter!, rest, options);
}
