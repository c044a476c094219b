/**
 * Real packets through the attached programs: two network namespaces joined by
 * a veth pair the test creates; the dataplane is attached only to the test's
 * veth. Documentation addresses only; every loop bounded; namespaces, pins and
 * processes removed in teardown (DESIGN.md section 7).
 */
import t from 'tap';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Rule, RuleMatch } from '../../agent/rules/model.js';
import { DEFAULT_PIN_ROOT, detachAll } from '../../agent/dataplane/kernel.js';
import { runInNs, startInNs } from '../helpers/netns.js';
import { A4, A6, B4, B6, createVethPair, ping, removeVethPair, sh, vethPairNames, vethPairSkip } from './veth-pair.js';

const skip = vethPairSkip();

const pair = vethPairNames('');
const { nsA: NS_A, nsB: NS_B, vethA: VETH_A } = pair; // the dataplane goes on VETH_A in NS_A; NS_B sends
const instance = `test-netns-${process.pid % 100000}`;
const LOADER = fileURLToPath(import.meta.resolve('@tapjs/typescript/import'));
const HOLDER = fileURLToPath(new URL('./holder.ts', import.meta.url));

/** The program each pinned link of VETH_A runs (`bpftool link show pinned`). */
function linkedPrograms(instance: string): { xdp: number; tc: number } {
  const progId = (kind: string): number =>
    (JSON.parse(sh(['bpftool', '-j', 'link', 'show', 'pinned', `${DEFAULT_PIN_ROOT}/${instance}/link_${kind}_${VETH_A}`])) as { prog_id: number }).prog_id;
  return { xdp: progId('xdp'), tc: progId('tc') };
}

/** Sends `count` pings at a fixed rate; returns how many replies came back. */
function pingReceived(ns: string, addr: string, count: number): number {
  const r = runInNs(ns, ['ping', '-n', '-q', '-c', String(count), '-W', '1', '-i', '0.005', addr], { timeout: 30_000 });
  const m = /(\d+) received/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : 0;
}

function tcpConnects(ns: string, addr: string, port: number): boolean {
  return runInNs(ns, ['nc', '-z', '-w', '1', addr, String(port)], { timeout: 10_000 }).status === 0;
}

/** UDP datagram from NS_B to A:port reaches a listener in NS_A. */
async function udpDelivered(port: number): Promise<boolean> {
  const listener = startInNs(NS_A, ['nc', '-u', '-l', '-W', '1', A4, String(port)]);
  let got = '';
  listener.stdout.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 3 && !got; i++) {
    runInNs(NS_B, ['nc', '-u', '-w', '1', '-q', '0', A4, String(port)], { input: 'hello\n', timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
  }
  listener.kill('SIGKILL');
  return got.includes('hello');
}

function prefix(family: 4 | 6, cidr: string) {
  const [a, l] = cidr.split('/');
  const address = family === 4 ? a!.split('.').map(Number) : ipv6Bytes(a!);
  return { family, address, length: Number(l) };
}
function ipv6Bytes(a: string): number[] {
  const [h, tl] = a.split('::');
  const hw = h ? h.split(':') : [];
  const tw = tl ? tl.split(':') : [];
  const words = [...hw, ...new Array(8 - hw.length - tw.length).fill('0'), ...tw].map((w) => parseInt(w, 16));
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function rule(number: number, action: Rule['action'], direction: Rule['direction'], match: Record<string, unknown>): Record<string, unknown> {
  return { number, action, drop: 'none', direction, match: match as unknown as RuleMatch, priority: 1000, logged: false, stateful: false, persistent: false, source: 'pf' };
}

class Holder {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  constructor() {
    this.child = startInNs(NS_A, [process.execPath, '--import', LOADER, HOLDER], {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    });
    this.child.stderr.on('data', () => undefined);
    this.#lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async send(cmd: Record<string, unknown>): Promise<{ ok: boolean; [k: string]: unknown }> {
    this.child.stdin.write(JSON.stringify(cmd) + '\n');
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`holder did not answer ${cmd.op}`)), 60_000).unref());
    const next = await Promise.race([this.#lines.next(), timeout]);
    if (next.done) throw new Error('holder exited');
    const reply = JSON.parse(next.value) as { ok: boolean; error?: string };
    if (!reply.ok) throw new Error(`holder ${cmd.op}: ${reply.error}`);
    return reply;
  }
  kill(): void {
    if (this.child.pid && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

t.test('kernel dataplane on a veth pair', { skip }, async (t) => {
  const holders: Holder[] = [];
  t.teardown(async () => {
    for (const h of holders) h.child.kill('SIGKILL');
    await detachAll(instance).catch(() => undefined);
    removeVethPair(pair);
  });
  await createVethPair(pair);
  t.ok(ping(NS_B, A4) && ping(NS_B, A6), 'baseline: the pair talks over IPv4 and IPv6');

  const tcpListener = startInNs(NS_A, ['nc', '-l', '-k', A4, '8080']);
  t.teardown(() => void tcpListener.kill('SIGKILL'));

  const h = new Holder();
  holders.push(h);
  const opened = await h.send({ op: 'open', instance, interfaces: [VETH_A] });
  const status = opened.status as { interfaces: { name: string; xdpMode: string; egress: string }[] };
  t.equal(status.interfaces[0]?.name, VETH_A, 'attached to the test veth only');
  t.comment(`xdp mode ${status.interfaces[0]?.xdpMode}, egress ${status.interfaces[0]?.egress}`);
  t.ok(existsSync(`${DEFAULT_PIN_ROOT}/${instance}/link_xdp_${VETH_A}`), 'XDP link pinned');
  t.ok(existsSync(`${DEFAULT_PIN_ROOT}/${instance}/link_tc_${VETH_A}`), 'TC link pinned');
  // A lookup call the verifier could not bind to one map type stays the generic
  // helper, an indirect call per packet (native/build.rs: tail merging made one).
  for (const [hook, id] of Object.entries(linkedPrograms(instance))) {
    const calls = sh(['bpftool', 'prog', 'dump', 'xlated', 'id', String(id)]).split('\n').filter((line) => / call /.test(line));
    // Without kernel symbols bpftool prints addresses, and the check below would see nothing.
    t.ok(calls.some((line) => /call __htab_map_lookup_elem#/.test(line)), `${hook}: bpftool names the lookup calls`);
    t.same(calls.filter((line) => /call bpf_map_lookup_elem#/.test(line)), [], `${hook}: every map lookup is a direct call to its map type's lookup`);
  }
  t.ok(ping(NS_B, A4), 'no rules: traffic passes');

  await h.send({ op: 'replace', rules: [rule(1, 'deny', 'ingress', { family: 4, either: prefix(4, `${B4}/32`) })] });
  t.notOk(ping(NS_B, A4), 'deny ipv4_net on ingress drops ping (XDP)');
  t.ok(ping(NS_B, A6), 'IPv6 unaffected by an IPv4 rule');
  const c = (await h.send({ op: 'counters', number: 1 })).counters as { packets: number };
  t.ok(c.packets >= 1, `rule counter counts dropped packets (${c.packets})`);

  await h.send({ op: 'insert', rule: rule(2, 'allow', 'ingress', { family: 4, src: prefix(4, `${B4}/32`), protocol: 1 }), before: 1 });
  t.ok(ping(NS_B, A4), 'allow above deny wins: inserted in place');
  t.notOk(tcpConnects(NS_B, A4, 8080), 'TCP still denied by rule 1');
  await h.send({ op: 'remove', number: 1 });
  t.ok(tcpConnects(NS_B, A4, 8080), 'TCP connects once the deny is removed');

  await h.send({ op: 'replace', rules: [rule(3, 'deny', 'egress', { family: 6, dst: prefix(6, `${B6}/128`) })] });
  t.notOk(ping(NS_B, A6), 'deny on egress drops the IPv6 echo reply (TC)');
  t.ok(ping(NS_B, A4), 'swap removed the earlier rules');

  await h.send({ op: 'replace', rules: [rule(4, 'deny', 'both', { family: 4, protocol: 17, dstPorts: { low: 5000, high: 5010 } })] });
  t.notOk(await udpDelivered(5005), 'UDP to a denied port range is dropped');
  t.ok(await udpDelivered(6000), 'UDP to another port is delivered');
  t.ok(tcpConnects(NS_B, A4, 8080), 'TCP unaffected by a UDP rule');

  // A host + port rule rides in the host's entry as a pin (pf_abi.h struct pf_pin) while it is the host's only one.
  const hostPort = (n: number, port: number): Record<string, unknown> => rule(n, 'deny', 'ingress', { family: 4, dst: prefix(4, `${A4}/32`), protocol: 6, dstPorts: { low: port, high: port } });
  await h.send({ op: 'replace', rules: [hostPort(8, 8080)] });
  t.notOk(tcpConnects(NS_B, A4, 8080), 'a host + port deny (pinned) drops TCP to that port');
  t.ok(ping(NS_B, A4), 'and nothing else to that host');
  await h.send({ op: 'insert', rule: hostPort(9, 8081) });
  t.notOk(tcpConnects(NS_B, A4, 8080), 'with a second port at the host (no pin: a tuple probe) 8080 is still dropped');
  await h.send({ op: 'remove', number: 8 });
  t.ok(tcpConnects(NS_B, A4, 8080), 'removing that rule in place lets 8080 through');

  // Race: churn in-place inserts/removes and whole swaps while a ping stream
  // runs; an allow (5) sits above a deny (6) for the same flow, so any moment
  // that showed a state neither set has would drop a ping.
  const base = [rule(5, 'allow', 'both', { family: 4, either: prefix(4, `${B4}/32`) }), rule(6, 'deny', 'both', { family: 4, either: prefix(4, '192.0.2.0/24') })];
  await h.send({ op: 'replace', rules: base });
  const stream = new Promise<number>((resolve) => {
    const p = startInNs(NS_B, ['ping', '-n', '-q', '-c', '400', '-W', '1', '-i', '0.005', A4]);
    let outText = '';
    p.stdout.on('data', (d: Buffer) => (outText += d.toString()));
    p.on('exit', () => resolve(Number(/(\d+) received/.exec(outText)?.[1] ?? 0)));
  });
  let changes = 0;
  const deadline = Date.now() + 1500;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const n = 100 + i;
    await h.send({ op: 'insert', rule: rule(n, 'deny', 'both', { family: 4, src: prefix(4, '192.0.2.0/25'), protocol: 1 }), before: i % 2 ? 6 : undefined });
    await h.send({ op: 'remove', number: n });
    if (i % 10 === 0) await h.send({ op: 'replace', rules: base });
    changes += 2;
  }
  const received = await stream;
  t.ok(changes > 20, `${changes} in-place changes during the stream`);
  t.equal(received, 400, 'no ping lost while rules changed under the allow');

  // Fail-static: SIGKILL the holder; enforcement stays; a new holder takes over.
  await h.send({ op: 'replace', rules: [rule(7, 'deny', 'ingress', { family: 4, either: prefix(4, `${B4}/32`) })] });
  t.notOk(ping(NS_B, A4), 'denied before the kill');
  // A second agent on the same instance is refused before it loads or writes anything.
  const enforcing = linkedPrograms(instance);
  const intruder = new Holder();
  holders.push(intruder);
  await t.rejects(intruder.send({ op: 'open', instance, interfaces: [VETH_A] }), /in use by another process/, 'a second process cannot open the instance the first holds');
  t.same(linkedPrograms(instance), enforcing, "the links still run the first process's programs");
  t.notOk(ping(NS_B, A4), 'the first process still enforces');
  intruder.kill();
  h.kill();
  await new Promise((r) => h.child.once('exit', r));
  t.notOk(ping(NS_B, A4), 'still denied after SIGKILL of the agent (pinned maps and links)');
  const killed = linkedPrograms(instance);
  const h2 = new Holder();
  holders.push(h2);
  const reopened = await h2.send({ op: 'open', instance, interfaces: [VETH_A] });
  const st2 = reopened.status as { interfaces: { name: string; xdpMode: string }[] };
  t.equal(st2.interfaces[0]?.xdpMode, 'pinned', 'restart takes over the pinned links');
  // An upgraded agent must not leave the old program reading maps it no longer writes.
  const taken = linkedPrograms(instance);
  t.not(taken.xdp, killed.xdp, 'the XDP link now runs the program the new process loaded');
  t.not(taken.tc, killed.tc, 'the TC link now runs the program the new process loaded');
  t.notOk(ping(NS_B, A4), 'still denied after takeover, before reconcile');
  await h2.send({ op: 'replace', rules: [] });
  t.ok(ping(NS_B, A4), 'the new process controls the pinned maps');
  await h2.send({ op: 'replace', rules: [rule(8, 'deny', 'ingress', { family: 4, either: prefix(4, `${B4}/32`) })] });
  t.notOk(ping(NS_B, A4), 'denied again');
  h2.kill();

  await detachAll(instance);
  t.notOk(existsSync(`${DEFAULT_PIN_ROOT}/${instance}`), 'detach removed the pin folder');
  t.ok(ping(NS_B, A4), 'detach removed the programs: traffic passes');
  t.ok(pingReceived(NS_B, A4, 5) === 5, 'and keeps passing');
});
