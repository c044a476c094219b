// MQTT transport through a local mosquitto, in-process agents with the real consumer on a
// SimDataplane (so the numbers are transport + codec + consumer, not the kernel):
// - sustained: 10,000 deny commands published back to back (QoS 1), commands/s until all answered;
//   they also load the 10,000 rules the latency runs start from. That first run is also the agent's
//   first work, while V8 still compiles the hot path; a last run of 10,000 more, after the latency
//   runs, gives the rate of an agent that has been up a while (as bench:consumer reports its cold
//   pass apart).
// - latency: one command at a time, publish -> response, JSON and CBOR commands alternated so that
//   both see the same rule count, garbage and machine load (a CBOR run after a JSON one used to pay
//   for the collections of the JSON one's garbage); the consumer answers
//   after the rule is in the dataplane, so this bounds command -> rule (targets: p99 <= 5 ms, >= 5,000/s).
// Both run with `persistent: false` rules (PF args) and again with persistent ones, whose
// journal the consumer fdatasyncs before answering: that sync, not MQTT, is then the floor.
// - shipped agent: the same sustained and latency runs against the agent as it ships, the
//   bundle dist/openc2-agent.mjs (npm run build) in its own process with the heap flags of the
//   systemd unit and procd init, `--dataplane sim`: no TypeScript loader, the bundle's shims.
//   Then the same runs with `--dataplane kernel` on a veth of the bench's own (root only): a
//   command is answered once its rule is in the BPF maps, so that latency is command -> rule
//   in the kernel.
// - floor: the same latency runs against an echo client in its own process (MQTT.js and the codec,
//   no consumer: it answers 200 at once), so the agent's p99 reads against what this machine's
//   broker round trip alone gives, in the same run.
// - fleet: 200 agents, each its own sessions, one `oc2/cmd/all` query, time until all answered.
// The producer of the sustained and latency runs is a child process (this file with `--producer`),
// so that the agent's commands per CPU second are the agent's own, as on a router; it frames MQTT
// itself (wire-producer.ts) to take as little of the shared cores as a remote orchestrator. The sustained
// lines also give the CPU each process spent per command (agent, producer, mosquitto): on a shared
// machine with few cores their sum, not the agent alone, bounds the commands per wall second. For
// the shipped agent they split its CPU into its main thread and its other threads: V8 compiles
// optimized code and marks the heap on the others, which a router with two cores runs beside the
// main thread, and a single-core one on the same core.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { decodeMessage, encodeMessage } from '../../agent/codec/codec.js';
import type { MessageHeaders } from '../../agent/codec/envelope.js';
import { detachAll } from '../../agent/dataplane/kernel.js';
import { LinkState } from '../../agent/transports/mqtt-link.js';
import { publishProperties, readFrameProperties } from '../../agent/transports/mqtt-topics.js';
import { startMqttAgent, waitForState, type MqttAgent } from '../helpers/mqtt-agent.js';
import { Producer } from '../helpers/mqtt-producer.js';
import { WireProducer } from './wire-producer.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { createVethPair, removeVethPair, vethPairNames, vethPairSkip } from '../kernel/veth-pair.js';
import { inNs } from '../helpers/netns.js';
import { shippedNodeFlags } from '../helpers/shipped-flags.js';

const RULES = 10_000;
const SAMPLES = 1_000;
const FLEET = 200;

/** CPU microseconds (user + system) in a /proc stat file (USER_HZ is 100 on Linux). */
function statMicros(file: string): number {
  const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** CPU microseconds process `pid` has used so far, all its threads. */
function cpuMicros(pid: number): number {
  return statMicros(`/proc/${pid}/stat`);
}

/**
 * The CPU microseconds process `pid`'s main thread (the event loop, where commands are handled
 * one after another) has used so far. The rest of the process's CPU went to its other threads
 * (V8's optimizing compiler and concurrent GC, libuv's pool). On a router with a core to spare
 * for those, the main thread's alone bounds the commands per wall second.
 */
function mainThreadMicros(pid: number): number {
  return statMicros(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * The machine's online CPUs and the CPU microseconds they have been busy so far (/proc/stat:
 * user, nice and system time, and steal, the time the hypervisor gave to other guests). Irq and
 * softirq time is left out: the receive side of the bench's own loopback traffic lands there.
 * Less what the bench's processes used over a run, it is what other processes, kernel threads
 * and guests took meanwhile.
 */
function machineBusy(): { cpus: number; micros: number } {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const [user, nice, system, , , , , steal] = lines[0]!.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  return { cpus: lines.filter((line) => /^cpu\d+ /.test(line)).length, micros: (user! + nice! + system! + steal!) * 10_000 };
}

/** CPU time outside the bench's processes between two machineBusy() readings, as a share of the machine. */
function othersShare(before: { micros: number }, after: { cpus: number; micros: number }, benchMicros: number, wallMs: number): string {
  const share = Math.max(0, after.micros - before.micros - benchMicros) / (wallMs * 1000 * after.cpus);
  return `${Math.round(share * 100)}% of the machine's ${after.cpus} CPUs`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A distinct /32 per index inside 198.51.100.0/24 and 203.0.113.0/24 cycles, ports to keep rules distinct. */
function deny(i: number, persistent: boolean): unknown {
  const net = i % 2 ? '198.51.100' : '203.0.113';
  return { action: 'deny', target: { ipv4_connection: { protocol: 'tcp', src_addr: `${net}.${(i >> 1) % 256}/32`, dst_port: 1 + (i >> 9) } }, args: { pf: { persistent } } };
}

const topic = 'oc2/cmd/device/bench';
/**
 * The echo client's own device topic: the agents' sessions outlive their runs on the broker, and
 * commands on `topic` while no agent is connected would wait there for the next one.
 */
const ECHO_TOPIC = 'oc2/cmd/device/bench-echo';
const BUNDLE = fileURLToPath(new URL('../../dist/openc2-agent.mjs', import.meta.url));

/** What the parent asks the producer child for, and what comes back. */
type Job =
  | { readonly kind: 'sustained'; readonly count: number; readonly persistent: boolean; readonly topic?: string }
  | { readonly kind: 'latency'; readonly persistent: boolean; readonly topic?: string }
  | { readonly kind: 'ready' };
type Outcome = { readonly failed: number } | { readonly samples: Record<Encoding, number[]> };
const ENCODINGS = ['json', 'cbor'] as const;
type Encoding = (typeof ENCODINGS)[number];

/** The child: one producer, jobs in order over IPC; deny commands numbered across jobs so every rule is new. */
async function producerChild(url: string): Promise<void> {
  const producer = await WireProducer.connect(url, 'bench-orch');
  let next = 0;
  const runJob = async (job: Job): Promise<Outcome> => {
    if (job.kind === 'ready') {
      // A query answered means the agent is subscribed; bounded: 30 tries of 1 s.
      for (let i = 0; i < 30; i++) {
        const answered = await producer.send(topic, { action: 'query', target: { features: [] } }, 'json', 1_000).then(() => true, () => false);
        if (answered) return { failed: 0 };
      }
      return { failed: 1 };
    }
    if (job.kind === 'sustained') return producer.pipelined(job.topic ?? topic, job.count, () => deny(next++, job.persistent));
    const samples: Record<Encoding, number[]> = { json: [], cbor: [] };
    for (let i = 0; i < SAMPLES * ENCODINGS.length; i++) {
      const encoding = ENCODINGS[i % ENCODINGS.length]!;
      const started = performance.now();
      await producer.send(job.topic ?? topic, deny(next++, job.persistent), encoding);
      samples[encoding].push(performance.now() - started);
    }
    return { samples };
  };
  process.on('message', (job: Job | 'close') => {
    if (job === 'close') {
      void producer.close().then(() => process.disconnect());
      return;
    }
    void runJob(job).then((outcome) => process.send!(outcome));
  });
  // A parent that dies takes the producer with it instead of leaving it publishing at a broker.
  process.on('disconnect', () => process.exit(0));
  process.send!('ready');
}

/**
 * The child that stands in for the agent in the floor runs: every request on the bench's device
 * topic answered 200 at once, in its encoding, framed as the agent frames responses.
 */
async function echoChild(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'bench-echo', clean: true });
  await client.subscribeAsync({ [ECHO_TOPIC]: { qos: 1 } });
  client.on('message', (_topic, payload, packet) => {
    const { encoding } = readFrameProperties(packet.properties, payload);
    const { headers } = decodeMessage(payload, encoding, 1 << 20) as { headers: MessageHeaders };
    const response = { headers: { request_id: headers.request_id, created: Date.now(), from: 'bench', to: [headers.from!] }, body: { openc2: { response: { status: 200 } } } };
    client.publish(`oc2/rsp/${headers.from}`, encodeMessage(response, encoding), { qos: 1, retain: false, properties: publishProperties('rsp', encoding) });
  });
  process.on('disconnect', () => void client.endAsync(true).then(() => process.exit(0)));
  process.send!('ready');
}

/** Sends `job` to the producer child and waits for its outcome. */
async function ask<T extends Outcome>(child: ChildProcess, job: Job): Promise<T> {
  child.send(job);
  const [outcome] = await once(child, 'message');
  return outcome as T;
}

// The kernel runs need a veth of the bench's own: the whole bench then runs in the namespace
// holding one end (broker, producer and agents on that namespace's loopback), and this process
// only makes the pair, waits, and removes the pair and the pins, whatever happened.
const kernelSite = process.argv[2] === '--in-netns' ? { veth: process.argv[3]!, instance: process.argv[4]! } : undefined;
// Asked only where it decides something: the producer child and the run inside the namespace do not probe BPF.
const kernelSkip = process.argv[2] === '--producer' || process.argv[2] === '--echo' || kernelSite ? false : vethPairSkip();

if (process.argv[2] === '--producer') {
  await producerChild(process.argv[3]!);
} else if (process.argv[2] === '--echo') {
  await echoChild(process.argv[3]!);
} else if (!kernelSite && kernelSkip === false) {
  const pair = vethPairNames('m');
  const instance = `bench-mqtt-${process.pid % 100000}`;
  try {
    await createVethPair(pair);
    const [nsenter, ...args] = inNs(pair.nsA, [process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), '--in-netns', pair.vethA, instance]);
    const inner = spawn(nsenter!, args, { stdio: 'inherit' });
    const [code] = (await once(inner, 'exit')) as [number | null];
    process.exitCode = code ?? 1;
  } finally {
    await detachAll(instance).catch(() => undefined);
    removeVethPair(pair);
  }
} else {
  console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine is shared; figures move with it)`);
  const broker = await startMosquitto({ extra: ['max_inflight_messages 1000', 'max_connections -1'] });
  const agents: MqttAgent[] = [];
  const producers: Producer[] = [];
  let child: ChildProcess | undefined;
  try {
    const agent = await startMqttAgent({ settings: { 'mqtt.url': broker.url, deviceId: 'bench', 'mqtt.presence': false }, logLevel: 'error' });
    agents.push(agent);
    await waitForState(agent.transport, LinkState.Online);
    child = fork(fileURLToPath(import.meta.url), ['--producer', broker.url]);
    await once(child, 'message');
    const producerChild = child;

    /** The agent under test: a label, its CPU time so far (µs), and its rule count where it can be read. */
    type UnderTest = { readonly label: string; readonly cpu: () => number; readonly rules: () => string; readonly echo?: boolean; readonly pid?: number };
    const inProcess: UnderTest = {
      label: '',
      cpu: () => {
        const u = process.cpuUsage();
        return u.user + u.system;
      },
      rules: () => `${agent.dataplane.rules.length} rules loaded`,
    };

    /** CPU so far of every process of the bench: this one (which is the in-process agent), the producer, the broker and `under`. */
    const benchCpu = (under: UnderTest): number => {
      const own = process.cpuUsage();
      return own.user + own.system + cpuMicros(producerChild.pid!) + cpuMicros(broker.pid!) + (under === inProcess ? 0 : under.cpu());
    };

    async function sustained(under: UnderTest, count: number, persistent: boolean, warm = false): Promise<void> {
      const agentBefore = under.cpu();
      const mainBefore = under.pid === undefined ? undefined : mainThreadMicros(under.pid);
      const producerBefore = cpuMicros(producerChild.pid!);
      const brokerBefore = cpuMicros(broker.pid!);
      const benchBefore = benchCpu(under);
      const machineBefore = machineBusy();
      const started = performance.now();
      const { failed } = await ask<{ failed: number }>(producerChild, { kind: 'sustained', count, persistent });
      const wallMs = performance.now() - started;
      const rate = count / (wallMs / 1000);
      const agentMicros = under.cpu() - agentBefore;
      const producerMicros = cpuMicros(producerChild.pid!) - producerBefore;
      const brokerMicros = cpuMicros(broker.pid!) - brokerBefore;
      const others = othersShare(machineBefore, machineBusy(), benchCpu(under) - benchBefore, wallMs);
      const perCommand = (micros: number) => Math.round(micros / count);
      console.log(`mqtt sustained${under.label}, ${persistent ? 'persistent' : 'non-persistent'} rules${warm ? ', JIT-warm agent' : ''}: ${Math.round(rate)} commands/s, ${Math.round(count / (agentMicros / 1e6))}/s per CPU second of the agent (${count} deny commands pipelined, QoS 1, JSON, ${under.rules()} after; ${failed} not 200; target >= 5000)`);
      console.log(`  CPU per command: agent ${perCommand(agentMicros)} us, producer ${perCommand(producerMicros)} us, mosquitto ${perCommand(brokerMicros)} us; CPU outside the bench's processes meanwhile: ${others}`);
      if (mainBefore !== undefined) {
        const main = mainThreadMicros(under.pid!) - mainBefore;
        console.log(`  agent threads: main ${perCommand(main)} us per command (${Math.round(count / (main / 1e6))} commands per main-thread CPU second), other threads ${perCommand(agentMicros - main)} us`);
      }
    }
    async function latency(under: UnderTest, persistent: boolean): Promise<void> {
      const agentBefore = under.cpu();
      const benchBefore = benchCpu(under);
      const machineBefore = machineBusy();
      const started = performance.now();
      const { samples } = await ask<{ samples: Record<Encoding, number[]> }>(producerChild, { kind: 'latency', persistent, topic: under.echo ? ECHO_TOPIC : topic });
      const agentMicros = under.cpu() - agentBefore;
      const others = othersShare(machineBefore, machineBusy(), benchCpu(under) - benchBefore, performance.now() - started);
      for (const encoding of ENCODINGS) {
        const sorted = samples[encoding].sort((a, b) => a - b);
        console.log(`mqtt latency${under.label} ${encoding}, ${under.echo ? 'no consumer' : `${persistent ? 'persistent' : 'non-persistent'} rules`}: p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (${SAMPLES} deny commands one at a time, alternated with ${SAMPLES} in the other encoding; ${under.rules()}; target p99 <= 5 ms)`);
      }
      console.log(`  ${under.echo ? 'echo client' : 'agent'} CPU ${Math.round(agentMicros / (SAMPLES * ENCODINGS.length))} us per command, both encodings; CPU outside the bench's processes meanwhile: ${others}`);
    }

    // The first run also loads the rule set the latency runs start from.
    await sustained(inProcess, RULES, false);
    await latency(inProcess, false);
    await sustained(inProcess, SAMPLES, true);
    await latency(inProcess, true);
    await sustained(inProcess, RULES, false, true);
    await agent.close();
    agents.length = 0;

    /** The agent as it ships (bundle and heap flags, `dataplane` its dataplane flags), same device id and producer. */
    async function shippedRuns(label: string, dataplane: readonly string[]): Promise<void> {
      const state = mkdtempSync(join(tmpdir(), 'openc2-bench-'));
      const shipped = spawn(
        process.execPath,
        [...shippedNodeFlags(), BUNDLE, 'run', ...dataplane, '--device-id', 'bench', '--mqtt-url', broker.url, '--allow-insecure', '--state-dir', state, '--run-dir', join(state, 'run'), '--log-level', 'error'],
        // Switches are set by flags, cleared by the environment (parseArgs has no --no-…).
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, OPENC2_MQTT_PRESENCE: 'false', OPENC2_HTTP_ENABLED: 'false' } },
      );
      try {
        const ready = await ask<{ failed: number }>(producerChild, { kind: 'ready' });
        if (ready.failed) throw new Error(`the shipped agent${label} did not answer a query within 30 s`);
        const bundled: UnderTest = { label, cpu: () => cpuMicros(shipped.pid!), rules: () => 'its own process', pid: shipped.pid! };
        await sustained(bundled, RULES, false);
        await latency(bundled, false);
        await sustained(bundled, RULES, false, true);
      } finally {
        shipped.kill('SIGTERM');
        if (shipped.exitCode === null) await once(shipped, 'exit');
        rmSync(state, { recursive: true, force: true });
      }
    }
    // The floor: the broker round trip of this machine, this run, with an echo client where the agent was.
    const echo = fork(fileURLToPath(import.meta.url), ['--echo', broker.url]);
    try {
      await Promise.race([once(echo, 'message'), once(echo, 'exit').then(() => Promise.reject(new Error('the echo client exited before it was ready')))]);
      const floor: UnderTest = { label: ' floor (echo client)', cpu: () => cpuMicros(echo.pid!), rules: () => 'answered 200 at once, in its own process', echo: true };
      // Its first commands warm its JIT, as the agent's sustained run warms the agent's.
      await ask(producerChild, { kind: 'sustained', count: RULES, persistent: false, topic: ECHO_TOPIC });
      await latency(floor, false);
    } finally {
      echo.kill();
    }
    await shippedRuns(' (shipped bundle)', ['--dataplane', 'sim']);
    if (kernelSite) await shippedRuns(' (shipped bundle, kernel dataplane)', ['--dataplane', 'kernel', '--interfaces', kernelSite.veth, '--instance', kernelSite.instance]);
    else console.log(`mqtt kernel dataplane runs skipped: ${kernelSkip}`);
    child.send('close');
    await once(child, 'exit');
    child = undefined;

    // Fleet: many agents, one broadcast.
    let started = performance.now();
    for (let i = 0; i < FLEET; i += 20) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, FLEET - i) }, (_, j) => startMqttAgent({ settings: { 'mqtt.url': broker.url, deviceId: `fleet-${i + j}` }, logLevel: 'error' })));
      agents.push(...batch);
    }
    await Promise.all(agents.map((a) => waitForState(a.transport, LinkState.Online, 60_000)));
    const connectMs = performance.now() - started;
    const fleetProducer = await Producer.connect(broker.url, 'fleet-orch');
    producers.push(fleetProducer);
    started = performance.now();
    const id = await fleetProducer.send('oc2/cmd/all', { action: 'query', target: { features: ['versions'] } });
    await fleetProducer.until(() => fleetProducer.responsesTo(id).length >= FLEET, 60_000);
    console.log(`mqtt fleet: ${FLEET} agents (each with its own OpenC2 and presence sessions), one oc2/cmd/all query answered by all in ${(performance.now() - started).toFixed(0)} ms; fleet connected in ${connectMs.toFixed(0)} ms`);
  } finally {
    child?.kill();
    await Promise.allSettled(producers.map((p) => p.close()));
    await Promise.allSettled(agents.map((a) => a.close()));
    await broker.remove();
  }
}
