/**
 * What one BPF helper call costs on this machine, for reading the dataplane figures: an XDP
 * program making ten calls to bpf_get_prandom_u32 (a helper the verifier never inlines) and an
 * empty one, run in turns by BPF_PROG_TEST_RUN through bpftool. Most of that cost is the
 * kernel's mitigations on returns and indirect branches, and every map lookup the verifier
 * cannot inline (hash, LPM trie) pays it too. Pins and files are removed whatever happens.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';

const CALLS = 10;
const SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int empty(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int calls(struct xdp_md *ctx)
{
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < ${CALLS}; i++)
		sum += bpf_get_prandom_u32();
	return sum == 1 ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
`;

/** The kernel's words for the mitigations that tax calls and returns. */
function mitigations(): string {
  const read = (name: string): string => {
    try {
      return `${name}: ${readFileSync(`/sys/devices/system/cpu/vulnerabilities/${name}`, 'utf8').trim()}`;
    } catch {
      return `${name}: unknown`;
    }
  };
  return [read('spec_rstack_overflow'), read('spectre_v2')].join('; ');
}

/** ns per helper call, or why it could not be measured. */
export function helperCallNs(runs = 5, repeat = 1_000_000): { ns: number; emptyNs: number; mitigations: string } | string {
  const dir = mkdtempSync(join(tmpdir(), 'openc2-bench-calls-'));
  const pins = `/sys/fs/bpf/openc2-bench-calls-${process.pid}`;
  const multiarch = arch() === 'arm64' ? 'aarch64' : 'x86_64';
  try {
    writeFileSync(join(dir, 'calls.c'), SOURCE);
    writeFileSync(join(dir, 'frame'), Buffer.alloc(64));
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${multiarch}-linux-gnu`, '-c', join(dir, 'calls.c'), '-o', join(dir, 'calls.o')], { stdio: 'pipe' });
    execFileSync('bpftool', ['prog', 'loadall', join(dir, 'calls.o'), pins], { stdio: 'pipe' });
    const run = (prog: string): number => {
      const out = execFileSync('bpftool', ['prog', 'run', 'pinned', `${pins}/${prog}`, 'data_in', join(dir, 'frame'), 'repeat', String(repeat)], { encoding: 'utf8', stdio: 'pipe' });
      const ns = /duration \(average\): (\d+)ns/.exec(out);
      if (!ns) throw new Error(`bpftool prog run printed no duration: ${out}`);
      return Number(ns[1]);
    };
    let empty = Infinity;
    let calls = Infinity;
    for (let i = 0; i < runs; i++) {
      empty = Math.min(empty, run('empty'));
      calls = Math.min(calls, run('calls'));
    }
    return { ns: (calls - empty) / CALLS, emptyNs: empty, mitigations: mitigations() };
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  } finally {
    rmSync(pins, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
