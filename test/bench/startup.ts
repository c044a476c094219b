// Bundle size and start-to-ready time of the shipped bundle, against a bare `node -e 0`
// measured in the same run (ratios, not absolute timings: this machine has no perf counters).
import { statSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUNDLE, startAgent } from '../helpers/agent.js';

const RUNS = 10;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timeToReady(dir: string): Promise<number> {
  const started = performance.now();
  const agent = startAgent(['run', '--dataplane', 'sim', '--allow-insecure', '--http-listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--log-level', 'info']);
  try {
    await agent.waitFor(/ready/, 15_000);
    return performance.now() - started;
  } finally {
    await agent.stop('SIGKILL');
  }
}

function timeBareNode(): number {
  const started = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return performance.now() - started;
}

const dir = mkdtempSync(join(tmpdir(), 'openc2-bench-startup-'));
try {
  const agent: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(timeBareNode());
    agent.push(await timeToReady(dir));
  }
  const bundleBytes = statSync(BUNDLE).size;
  console.log(`bundle: ${(bundleBytes / 1024).toFixed(1)} KB minified (target <= 350 KB)`);
  console.log(`start-to-ready: median ${median(agent).toFixed(1)} ms over ${RUNS} runs; bare node -e 0 (start to exit): ${median(bare).toFixed(1)} ms; ratio ${(median(agent) / median(bare)).toFixed(2)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
