// Commands/s through decode -> validate -> rules -> SimDataplane for allow/deny/delete, and
// RSS with 100k rules. Targets (issue 5): >= 20,000 commands/s on one core; <= 120 MB RSS
// for the whole agent with 100k rules.
// Run: node --import ./test/bench/register.mjs test/bench/consumer.ts  (npm run bench:consumer)
// The machine is shared, so rates are given per wall second and per CPU second of this
// process (the one-core figure). Memory is measured in a child running this file bundled by
// esbuild with the heap flags of the systemd unit, as the agent ships, so the TypeScript
// loader's own memory does not count.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeMessage } from '../../agent/codec/codec.js';
import type { AgentConfig } from '../../agent/config/config.js';
import { startConsumer, type ConsumerService } from '../../agent/consumer/consumer.js';
import { SimDataplane } from '../../agent/dataplane/sim-dataplane.js';
import { createLogger } from '../../agent/log/logger.js';
import { shippedNodeFlags } from '../helpers/shipped-flags.js';

const RULES = 100_000;
const BATCH = 20_000;
/** Commands in flight at once, as a transport holding many QoS 1 messages would have. */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);

const out = (line: string) => process.stdout.write(line + '\n');
const mb = (bytes: number) => (bytes / 1048576).toFixed(1);

/** The i-th test address in 2001:db8::/32 (documentation space, DESIGN.md section 7). */
function address(i: number): string {
  return `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
}

function ruleCommand(i: number, persistent: boolean): Uint8Array {
  const command =
    i % 2 === 0
      ? { action: 'deny', target: { ipv6_net: address(i) }, args: { pf: { persistent } } }
      : { action: 'allow', target: { ipv6_connection: { protocol: 'tcp', src_addr: address(i), dst_port: 443 } }, args: { pf: { persistent, direction: 'both' } } };
  return Buffer.from(JSON.stringify(command));
}

function deleteCommand(number: number): Uint8Array {
  return Buffer.from(JSON.stringify({ action: 'delete', target: { 'pf:rule_number': number } }));
}

interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

/**
 * Sends `count` frames with WINDOW in flight, each with its own request_id; every one must get 200.
 * Frames are made as they are sent, as a transport receives them: 100k frames built up front
 * were 25 MB the agent never holds, and grew the heap the RSS figure measures.
 */
async function run(consumer: ConsumerService, count: number, frame: (i: number) => Uint8Array, tag: string): Promise<Rate> {
  let next = 0;
  let failed = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const response = await consumer.handle(decodeMessage(frame(i), 'json', 1 << 20), { transport: 'mqtt', requestId: `${tag}-${i}` });
      if (response?.status !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  if (failed > 0) throw new Error(`${tag}: ${failed} commands failed`);
  return { wall: count / wall, cpu: count / ((used.user + used.system) / 1e6) };
}

const show = (r: Rate) => `${r.wall.toFixed(0)}/s wall, ${r.cpu.toFixed(0)}/s per CPU second`;

async function withConsumer<T>(root: string, use: (consumer: ConsumerService, dataplane: SimDataplane) => Promise<T>): Promise<T> {
  const dataplane = new SimDataplane();
  const config = { deviceId: 'bench', profiles: ['pf', 'slpf'], stateDir: join(root, 'state'), runDir: join(root, 'run') } as AgentConfig;
  const consumer = await startConsumer({ config, dataplane, logger: createLogger({ level: 'warn', format: 'text' }) });
  try {
    return await use(consumer, dataplane);
  } finally {
    await consumer.close();
  }
}

/**
 * Throughput: allow/deny then delete of the same rules, non-persistent (run dir) and persistent
 * (fdatasync journal). The first pass runs while V8 still compiles the hot path; an agent that
 * has been up a while is past that, so that pass is reported apart, as "cold".
 */
async function throughput(root: string): Promise<void> {
  const passes = [
    { label: 'non-persistent, cold', persistent: false },
    { label: 'non-persistent', persistent: false },
    { label: 'persistent', persistent: true },
  ];
  await withConsumer(root, async (consumer, dataplane) => {
    for (const [pass, { label, persistent }] of passes.entries()) {
      const adds = await run(consumer, BATCH, (i) => ruleCommand(pass * BATCH + i, persistent), `add-${pass}`);
      const numbers = dataplane.rules.map((r) => r.number);
      const deletes = await run(consumer, numbers.length, (i) => deleteCommand(numbers[i]!), `del-${pass}`);
      out(`${BATCH} rules ${label}: allow/deny ${show(adds)}; delete ${show(deletes)}`);
    }
  });
}

function memoryLine(what: string, base: NodeJS.MemoryUsage): string {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const now = process.memoryUsage();
  return `${what}: RSS ${mb(now.rss)} MB (${mb(base.rss)} MB before), heap used ${mb(now.heapUsed)} of ${mb(now.heapTotal)} MB (${((now.heapUsed - base.heapUsed) / RULES).toFixed(0)} bytes/rule)`;
}

/** In the bundled child: load RULES persistent rules by command, then the rate of changes at that size. */
async function load(root: string): Promise<void> {
  await withConsumer(root, async (consumer, dataplane) => {
    (globalThis as { gc?: () => void }).gc!();
    const base = process.memoryUsage();
    const rate = await run(consumer, RULES, (i) => ruleCommand(3 * BATCH + i, true), 'load');
    out(`${dataplane.rules.length} rules loaded by command at ${show(rate)}`);
    out(memoryLine(`after loading ${RULES} rules by command`, base));
    const adds = await run(consumer, 2000, (i) => ruleCommand(3 * BATCH + RULES + i, true), 'add-at-size');
    const last = dataplane.rules.slice(-2000).map((r) => r.number);
    const deletes = await run(consumer, last.length, (i) => deleteCommand(last[i]!), 'del-at-size');
    out(`at ${RULES} rules: allow/deny ${show(adds)}; delete ${show(deletes)}`);
  });
}

/** In a second bundled child: an agent restart that restores the RULES rules from disk (a router after reboot). */
async function restore(root: string): Promise<void> {
  (globalThis as { gc?: () => void }).gc!();
  const base = process.memoryUsage();
  const started = performance.now();
  await withConsumer(root, async (_consumer, dataplane) => {
    const seconds = (performance.now() - started) / 1000;
    out(`${dataplane.rules.length} rules restored in ${seconds.toFixed(2)} s`);
    out(memoryLine(`after restoring ${RULES} rules`, base));
  });
}

const mode = process.argv[2];
if (mode === '--load') await load(process.argv[3]!);
else if (mode === '--restore') await restore(process.argv[3]!);
else {
  const root = await mkdtemp(join(tmpdir(), 'openc2-bench-consumer-'));
  try {
    await throughput(join(root, 'throughput'));
    const bundle = join(root, 'consumer-bench.mjs');
    // Imported here so the bundle itself does not pull esbuild in.
    const { build } = await import('esbuild');
    await build({ entryPoints: [fileURLToPath(import.meta.url)], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning' });
    // The heap flags of the shipped unit: without --max-old-space-size V8 lets the heap grow
    // far past what it keeps live, and RSS says more about its laziness than about the agent.
    const flags = ['--expose-gc', ...shippedNodeFlags()];
    for (const step of ['--load', '--restore']) {
      const child = spawnSync(process.execPath, [...flags, bundle, step, join(root, 'memory')], { stdio: 'inherit' });
      if (child.status !== 0) throw new Error(`${step} run failed: ${child.status}`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
