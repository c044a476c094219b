/** `args` run in the network namespace `ns`: nsenter, not `ip netns exec`, so /sys/fs/bpf pins stay visible. */
export const inNs = (ns: string, args: readonly string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, ...args];
