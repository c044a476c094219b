/**
 * The kernel dataplane: the Dataplane contract on top of the native module.
 * Rules compile to map entries (agent/rules/compile.ts); a whole rule set is
 * written as a new generation and switched with one map update; a single
 * insert/remove is applied in place with only the entries that change.
 * Maps and links are pinned under <pinRoot>/<instance> and outlive the process
 * (fail-static); openKernelDataplane() takes existing pins over.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Rule } from '../rules/model.js';
import { RuleSet, SLOT_DEFAULT, SLOT_MGMT } from '../rules/compile.js';
import { loadNative, type NativeDataplane } from './binding.js';
import type { Dataplane, DataplaneStatus, ManagementAccess, RuleCounters } from './dataplane.js';
import { encodeManagementPrefixes, encodeRecords, encodeSet } from './records.js';

/** Default bpffs directory holding one folder per instance. */
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/openc2';

/** A kernel-side failure: stable `code`, and errno, interface, map, verifier log where known. */
export class KernelError extends Error {
  readonly code: string;
  readonly errno?: number;
  readonly errnoName?: string;
  readonly interface?: string;
  readonly map?: string;
  readonly verifierLog?: string;
  constructor(fields: { code: string; message: string; errno?: number; errnoName?: string; interface?: string; map?: string; verifierLog?: string }) {
    super(fields.message);
    this.name = 'KernelError';
    this.code = fields.code;
    if (fields.errno !== undefined) this.errno = fields.errno;
    if (fields.errnoName !== undefined) this.errnoName = fields.errnoName;
    if (fields.interface !== undefined) this.interface = fields.interface;
    if (fields.map !== undefined) this.map = fields.map;
    if (fields.verifierLog !== undefined) this.verifierLog = fields.verifierLog;
  }
}

/** Native errors carry a JSON object as message (native/src/errors.rs to_js). */
function kernelError(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  if (!e.message.startsWith('{')) return e;
  try {
    return new KernelError(JSON.parse(e.message) as ConstructorParameters<typeof KernelError>[0]);
  } catch {
    return e;
  }
}

async function native<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw kernelError(e);
  }
}

export interface KernelDataplaneOptions {
  /** Names the pin folder; one agent per instance. */
  readonly instance: string;
  readonly interfaces: readonly string[];
  /** Anti-lockout entries above every rule; absent: none. */
  readonly management?: ManagementAccess;
  readonly pinRoot?: string;
}

function pinDir(instance: string, pinRoot = DEFAULT_PIN_ROOT): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(instance)) throw new RangeError(`instance name ${JSON.stringify(instance)}: use letters, digits, '_', '.', '-'`);
  return join(pinRoot, instance);
}

/** Parses "192.0.2.0/24" or "2001:db8::/32" into address bytes and length. */
export function parsePrefix(cidr: string): { family: 4 | 6; address: Uint8Array; length: number } {
  const [addr, len] = cidr.split('/');
  const family = isIP(addr ?? '');
  const length = Number(len);
  if (family === 0 || !Number.isInteger(length) || length < 0 || length > (family === 4 ? 32 : 128))
    throw new RangeError(`${JSON.stringify(cidr)} is not an address/length prefix`);
  if (family === 4) return { family: 4, address: Uint8Array.from(addr!.split('.').map(Number)), length };
  const [head, tail] = addr!.includes('::') ? addr!.split('::') : [addr!, undefined];
  const words = (s: string | undefined): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const address = new Uint8Array(16);
  all.forEach((w, i) => {
    address[i * 2] = w >> 8;
    address[i * 2 + 1] = w & 0xff;
  });
  return { family: 6, address, length };
}

/** Kernel dataplane of one instance. Operations run one at a time, in call order. */
export class KernelDataplane implements Dataplane {
  #native: NativeDataplane;
  #set: RuleSet = RuleSet.compile([]);
  /** False until the first replace(): pinned maps may still hold a previous run's rules. */
  #synced = false;
  #queue: Promise<unknown> = Promise.resolve();
  #interfaces: { name: string; xdpMode?: string; egress?: string }[] = [];

  constructor(handle: NativeDataplane) {
    this.#native = handle;
  }

  /** Serializes operations: in-place deltas are computed against the last state. */
  #run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Attaches both programs to an interface (kept as is when its links are already pinned). */
  attach(iface: string): Promise<{ xdpMode: string; egress: string }> {
    return this.#run(async () => {
      const r = await native(() => this.#native.attach(iface));
      this.#interfaces = this.#interfaces.filter((i) => i.name !== iface);
      this.#interfaces.push({ name: iface, xdpMode: r.xdpMode, egress: r.egress });
      return r;
    });
  }

  /** Detaches both programs from an interface. */
  detach(iface: string): Promise<void> {
    return this.#run(async () => {
      await native(() => this.#native.detach(iface));
      this.#interfaces = this.#interfaces.filter((i) => i.name !== iface);
    });
  }

  /** Sets the anti-lockout prefixes and local TCP ports (replaces the previous ones). */
  setManagement(access: ManagementAccess): Promise<void> {
    return this.#run(() =>
      native(() => this.#native.setManagement(encodeManagementPrefixes(access.prefixes.map(parsePrefix)), [...access.ports])),
    );
  }

  replace(rules: readonly Rule[]): Promise<void> {
    return this.#run(() => this.#replace(rules));
  }

  async #replace(rules: readonly Rule[]): Promise<void> {
    const before = this.#set.slots();
    const set = RuleSet.compile(rules, before);
    const fresh = set.order.filter((r) => before.get(r.number) !== r.slot).map((r) => r.slot);
    const records = encodeSet(set);
    await native(() => this.#native.replace(records, Uint32Array.from(fresh)));
    this.#set = set;
    this.#synced = true;
  }

  insert(rule: Rule, before?: number): Promise<void> {
    return this.#run(async () => {
      const delta = this.#synced ? this.#set.insert(rule, before) : null;
      if (!delta) {
        // No rank gap, shape array full, or pins not yet reconciled: new generation.
        const rules = this.#set.order.map((r) => r.rule);
        const at = before === undefined ? -1 : rules.findIndex((r) => r.number === before);
        rules.splice(at < 0 ? rules.length : at, 0, rule);
        return this.#replace(rules);
      }
      const records = encodeRecords(delta.entries, this.#set);
      await native(() => {
        this.#native.resetCounters(Uint32Array.of(delta.slot));
        this.#native.update(records);
      });
    });
  }

  remove(number: number): Promise<void> {
    return this.#run(async () => {
      if (!this.#synced) {
        return this.#replace(this.#set.order.map((r) => r.rule).filter((r) => r.number !== number));
      }
      const entries = this.#set.remove(number);
      if (entries.length > 0) await native(() => this.#native.update(encodeRecords(entries, this.#set)));
    });
  }

  async counters(number: number): Promise<RuleCounters | undefined> {
    const rr = this.#set.byNumber.get(number);
    if (!rr) return undefined;
    return native(() => this.#native.counters(rr.slot));
  }

  /** Packets passed by anti-lockout and by default (no rule matched). */
  async builtinCounters(): Promise<{ management: RuleCounters; defaultPass: RuleCounters }> {
    return native(() => ({ management: this.#native.counters(SLOT_MGMT), defaultPass: this.#native.counters(SLOT_DEFAULT) }));
  }

  /** BPF_PROG_TEST_RUN of one hook's program on an Ethernet frame (tests, benchmark). */
  testRun(hook: 'ingress' | 'egress', frame: Buffer, repeat = 1): { retval: number; durationNs: number } {
    try {
      return this.#native.testRun(hook === 'ingress' ? 0 : 1, frame, repeat);
    } catch (e) {
      throw kernelError(e);
    }
  }

  status(): DataplaneStatus {
    const pinned = new Set(this.#native.attached());
    const interfaces = [...pinned].map((name) => this.#interfaces.find((i) => i.name === name) ?? { name, xdpMode: 'pinned', egress: 'pinned' });
    return { kind: 'kernel', enforcing: interfaces.length > 0, rules: this.#set.order.length, interfaces };
  }

  /** Leaves programs, links and maps in the kernel (fail-static). */
  async close(): Promise<void> {
    await this.#queue;
  }
}

/**
 * Opens (or takes over) the dataplane of an instance, sets anti-lockout and
 * attaches to the interfaces. Call replace() with the agent's rules next to
 * reconcile what an earlier run left pinned.
 */
export async function openKernelDataplane(options: KernelDataplaneOptions): Promise<KernelDataplane> {
  const dir = pinDir(options.instance, options.pinRoot);
  const handle = await native(() => loadNative().openDataplane(dir));
  const dp = new KernelDataplane(handle);
  if (options.management) await dp.setManagement(options.management);
  for (const iface of options.interfaces) await dp.attach(iface);
  return dp;
}

/** Removes every program, link and map of an instance (`openc2-agent dataplane detach`). */
export async function detachAll(instance: string, pinRoot = DEFAULT_PIN_ROOT): Promise<void> {
  const dir = pinDir(instance, pinRoot);
  await native(() => loadNative().detachAll(dir));
}
