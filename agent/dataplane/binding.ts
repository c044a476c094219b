/**
 * Loads the native dataplane module (`openc2-dataplane.<platform>.node`).
 *
 * The agent ships as one esbuild bundle with the `.node` beside it; esbuild
 * cannot inline a `.node` and ESM cannot `import` one, so we `require()` it through
 * `createRequire(import.meta.url)` (notes/aya-napi.md section 10). The typings
 * below are written by hand: the napi-generated index.js/index.d.ts are never bundled.
 */
import { createRequire } from 'node:module';
import { existsSync, openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Base name given by package.json `napi.binaryName`. */
export const NATIVE_BASENAME = 'openc2-dataplane';

/** Result of a rights probe: can this process load and attach BPF programs. */
export interface RightsCheck {
  readonly ok: boolean;
  readonly reason?: string;
}

/** How attach() hooked an interface (native/src/lib.rs AttachResult). */
export interface NativeAttachResult {
  /** `driver`, `generic` or `pinned` (kept from an earlier run). */
  readonly xdpMode: string;
  /** `tcx`, `clsact` or `pinned`. */
  readonly egress: string;
}

/** One opened dataplane instance (native/src/lib.rs NativeDataplane). */
export interface NativeDataplane {
  attach(iface: string): Promise<NativeAttachResult>;
  detach(iface: string): Promise<void>;
  attached(): string[];
  /** Builds the inactive generation from records and switches to it; `freshSlots` start from zero. */
  replace(records: Buffer, freshSlots: Uint32Array): Promise<number>;
  /** Applies records in place to the active generation. */
  update(records: Buffer): void;
  counters(slot: number): { packets: bigint; bytes: bigint };
  resetCounters(slots: Uint32Array): void;
  setManagement(prefixes: Buffer, ports: number[]): void;
  /** BPF_PROG_TEST_RUN of hook 0 (XDP ingress) or 1 (TC egress). */
  testRun(hook: number, frame: Buffer, repeat: number): { retval: number; durationNs: number };
}

/** The functions the `.node` exports (native/src/lib.rs). */
export interface NativeModule {
  version(): string;
  probe(): RightsCheck;
  openDataplane(pinDir: string): Promise<NativeDataplane>;
  detachAll(pinDir: string): Promise<void>;
  /** Mean ns per test run of an XDP program that passes everything (benchmark baseline). */
  baselineTestRun(frame: Buffer, repeat: number): number;
}

/** Thrown when no usable `.node` is found; names every path tried and this platform. */
export class NativeLoadError extends Error {
  readonly code = 'ERR_OPENC2_NATIVE_LOAD';
  constructor(
    message: string,
    readonly tried: readonly string[],
    readonly platform: string,
  ) {
    super(message);
    this.name = 'NativeLoadError';
  }
}

/** napi-rs platform suffix for this process: `linux-x64-gnu`, `linux-arm-musleabihf`, ... */
export function platformSuffix(
  platform: string = process.platform,
  arch: string = process.arch,
  musl: boolean = isMusl(),
): string {
  if (platform !== 'linux') return `${platform}-${arch}`;
  if (arch === 'arm') return `linux-arm-${musl ? 'musleabihf' : 'gnueabihf'}`;
  return `linux-${arch}-${musl ? 'musl' : 'gnu'}`;
}

/** musl vs glibc, as the napi-rs loader decides: the process report names glibc when it runs on it. */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  if (report?.header?.glibcVersionRuntime) return false;
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    return true;
  }
}

/** ELF e_machine values of the architectures we build for. */
const ELF_MACHINE: Readonly<Record<string, number>> = { x64: 62, arm64: 183, arm: 40, ia32: 3 };

/** Reads the ELF header's machine field; undefined when the file is not ELF. */
function elfMachine(path: string): number | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  // EI_DATA (byte 5): 1 little-endian, 2 big-endian.
  return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
}

/** Where the `.node` may be, in search order. */
export function candidatePaths(moduleUrl: string = import.meta.url, env: NodeJS.ProcessEnv = process.env): string[] {
  const file = `${NATIVE_BASENAME}.${platformSuffix()}.node`;
  const override = env.OPENC2_NATIVE_PATH;
  if (override) return [resolve(override)];
  const here = dirname(fileURLToPath(moduleUrl));
  // Bundled: dist/openc2-agent.mjs with the .node beside it. From sources:
  // agent/dataplane/binding.ts, so the build output is <repo>/dist.
  return [join(here, file), join(resolve(here, '..', '..'), 'dist', file)];
}

let cached: NativeModule | undefined;

/**
 * Loads and returns the native module, or throws NativeLoadError. Without
 * `paths` it searches candidatePaths() and caches the module.
 */
export function loadNative(paths?: readonly string[]): NativeModule {
  if (!paths && cached) return cached;
  const search = paths ?? candidatePaths();
  const suffix = platformSuffix();
  const found = search.find((p) => existsSync(p));
  if (!found) {
    throw new NativeLoadError(
      `native dataplane module not found for platform ${suffix}; tried: ${search.join(', ')} ` +
        '(build it with `npm run build:native`, or set OPENC2_NATIVE_PATH)',
      search,
      suffix,
    );
  }
  const want = ELF_MACHINE[process.arch];
  const got = elfMachine(found);
  if (want !== undefined && got !== want) {
    throw new NativeLoadError(
      `${found} is not a native module for ${suffix} (ELF machine ${got ?? 'none'}, expected ${want})`,
      search,
      suffix,
    );
  }
  const require = createRequire(import.meta.url);
  let mod: NativeModule;
  try {
    mod = require(found) as NativeModule;
  } catch (e) {
    throw new NativeLoadError(`cannot load ${found} on ${suffix}: ${(e as Error).message}`, search, suffix);
  }
  if (!paths) cached = mod;
  return mod;
}

/**
 * Can this process enforce rules in the kernel? Loads a trivial XDP program;
 * `reason` carries the missing module or the kernel's refusal (e.g. EPERM when
 * not root / no CAP_BPF+CAP_NET_ADMIN). main.ts calls it at start.
 */
export function checkBpfRights(): RightsCheck {
  let mod: NativeModule;
  try {
    mod = loadNative();
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  try {
    const r = mod.probe();
    return r.ok ? { ok: true } : { ok: false, reason: `cannot load BPF programs: ${r.reason ?? 'unknown reason'}` };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}
