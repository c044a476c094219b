// The native module for every CPU and libc: ELF machine, ABI and library needs of each
// dist/openc2-dataplane.<platform>.node, the embedded BPF objects, the 2 MiB budget,
// and (when build/qemu-proof.sh has prepared its root folders) loading it under qemu.
// Modules not built here are skipped with the command that builds them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAX_BYTES = 2 * 1024 * 1024;
const EM_BPF = 247;

interface Expect {
  machine: string;
  elfClass: 'ELF64' | 'ELF32';
  libc: 'gnu' | 'musl';
  qemuRootfs?: string;
  build: string;
}

const PLATFORMS: Record<string, Expect> = {
  'linux-x64-gnu': { machine: 'Advanced Micro Devices X86-64', elfClass: 'ELF64', libc: 'gnu', build: 'npm run build:native' },
  'linux-arm64-gnu': { machine: 'AArch64', elfClass: 'ELF64', libc: 'gnu', qemuRootfs: 'rootfs-arm64-gnu', build: 'npm run build:cross -- linux-arm64-gnu' },
  'linux-arm-gnueabihf': { machine: 'ARM', elfClass: 'ELF32', libc: 'gnu', qemuRootfs: 'rootfs-armhf-gnu', build: 'npm run build:cross -- linux-arm-gnueabihf' },
  'linux-x64-musl': { machine: 'Advanced Micro Devices X86-64', elfClass: 'ELF64', libc: 'musl', qemuRootfs: 'rootfs-amd64-musl', build: 'npm run build:cross -- linux-x64-musl' },
  'linux-arm64-musl': { machine: 'AArch64', elfClass: 'ELF64', libc: 'musl', qemuRootfs: 'rootfs-arm64-musl', build: 'npm run build:cross -- linux-arm64-musl' },
  'linux-arm-musleabihf': { machine: 'ARM', elfClass: 'ELF32', libc: 'musl', qemuRootfs: 'rootfs-armhf-musl', build: 'npm run build:cross -- linux-arm-musleabihf' },
};

/** Libraries a .node may need: libc only (musl's is `libc.so` on OpenWrt, no libgcc_s). */
const ALLOWED_NEEDED: Record<'gnu' | 'musl', RegExp> = {
  gnu: /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|ld-linux[-a-z0-9_]*\.so\.\d)$/,
  musl: /^libc\.so$/,
};
/** Oldest glibc Node.js 20 runs on; the cross builds must not need a newer one (build/cross.sh GLIBC). */
const MAX_GLIBC = [2, 28];

const hasReadelf = spawnSync('sh', ['-c', 'command -v readelf']).status === 0;
const readelf = (args: string[], file: string) => spawnSync('readelf', ['-W', ...args, file], { encoding: 'utf8' }).stdout;

/** Offsets of embedded ELF files whose machine is BPF (e_machine 247, little-endian). */
function embeddedBpfObjects(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf('\x7fELF', 1, 'latin1'); at !== -1; at = bytes.indexOf('\x7fELF', at + 4, 'latin1')) {
    if (at + 20 <= bytes.length && bytes[at + 5] === 1 && bytes.readUInt16LE(at + 18) === EM_BPF) count++;
  }
  return count;
}

const cache = process.env.OPENC2_QEMU_CACHE ?? join(process.env.HOME ?? homedir(), '.cache', 'openc2-qemu');

for (const [platform, want] of Object.entries(PLATFORMS)) {
  const file = join(root, 'dist', `openc2-dataplane.${platform}.node`);
  const skip = !existsSync(file) ? `not built: ${want.build}` : !hasReadelf ? 'no readelf (binutils)' : false;

  t.test(`${platform}: right machine, ABI and libraries, BPF embedded, within 2 MiB`, { skip }, async (t) => {
    const header = readelf(['-h'], file);
    t.match(header, new RegExp(`Class:\\s+${want.elfClass}\\b`));
    t.match(header, /Data:\s+2's complement, little endian/);
    t.match(header, new RegExp(`Machine:\\s+${want.machine.replace(/[-]/g, '\\-')}\\s*$`, 'm'));
    t.match(header, /Type:\s+DYN/);
    if (want.machine === 'ARM') t.match(header, /Flags:.*Version5 EABI.*hard-float ABI/, 'armv7 hard-float EABI');

    const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
    t.ok(needed.length > 0, `NEEDED: ${needed.join(', ')}`);
    for (const lib of needed) t.match(lib, ALLOWED_NEEDED[want.libc], `${lib} is allowed for ${want.libc}`);

    if (want.libc === 'gnu' && platform !== 'linux-x64-gnu') {
      // The host build uses the host's glibc; the cross builds are linked by zig against MAX_GLIBC.
      const versions = [...new Set([...readelf(['-V'], file).matchAll(/Name: GLIBC_(\d+)\.(\d+)/g)].map((m) => `${m[1]}.${m[2]}`))];
      const newest = versions.map((v) => v.split('.').map(Number) as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).at(-1)!;
      t.ok(newest[0] < MAX_GLIBC[0]! || (newest[0] === MAX_GLIBC[0] && newest[1] <= MAX_GLIBC[1]!), `needs glibc ${newest.join('.')} <= ${MAX_GLIBC.join('.')}`);
    }

    const symbols = readelf(['--dyn-syms'], file);
    t.match(symbols, /FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+napi_register_module_v1$/m, 'exports napi_register_module_v1');
    t.notMatch(readelf(['-S'], file), /\.symtab|\.debug_/, 'stripped');

    const size = statSync(file).size;
    t.ok(size <= MAX_BYTES, `${size} bytes <= ${MAX_BYTES}`);
    const bpf = embeddedBpfObjects(readFileSync(file));
    t.ok(bpf >= 1, `${bpf} BPF object(s) embedded`);
  });

  if (want.qemuRootfs) {
    const prepared = existsSync(join(cache, want.qemuRootfs));
    const qskip = skip || (!prepared ? `no qemu root folder ${join(cache, want.qemuRootfs)}: run build/qemu-proof.sh ${platform} once` : false);
    t.test(`${platform}: loads under qemu-user (${want.libc === 'gnu' ? 'Node 20 require + version()' : 'musl dlopen'})`, { skip: qskip }, async (t) => {
      const r = spawnSync('sh', [join(root, 'build/qemu-proof.sh'), platform], { encoding: 'utf8', timeout: 240_000 });
      t.equal(r.status, 0, r.stderr);
      t.match(r.stdout, new RegExp(`qemu-proof: ${platform} ok`));
      if (want.libc === 'gnu') t.match(r.stdout, /version\(\) \d+\.\d+\.\d+/);
    });
  }
}

// End to end on ARM: the aarch64 offline bundle installs, and its agent, run by Node 20
// for arm64 under qemu, finds the arm64 .node beside it and gets as far as the BPF probe
// (qemu-user has no bpf() syscall, so the probe's refusal is the expected end).
{
  const rootfs = join(cache, 'rootfs-arm64-gnu');
  const needs = ['openc2-agent.mjs', 'openc2-dataplane.linux-arm64-gnu.node'].filter((f) => !existsSync(join(root, 'dist', f)));
  const skip = needs.length ? `not built: dist/${needs.join(', dist/')}` : !existsSync(join(rootfs, 'usr/local/bin/node')) ? 'no qemu root folder: run build/qemu-proof.sh linux-arm64-gnu once' : false;
  t.test('aarch64 offline bundle: installed agent runs on arm64 Node and loads its .node', { skip }, async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'oc2-arm-e2e-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const made = spawnSync('node', [join(root, 'build/offline/make.mjs'), '--arch', 'aarch64', '--out', work], {
      encoding: 'utf8',
      env: { ...process.env, OPENC2_SIGNING_KEY: Buffer.alloc(32, 9).toString('base64') },
    });
    t.equal(made.status, 0, made.stderr);
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    const name = `openc2-agent-${version}-aarch64`;
    t.equal(spawnSync('tar', ['-xzf', join(work, `${name}.tar.gz`), '-C', work]).status, 0);
    const target = join(work, 'root');
    const inst = spawnSync('sh', [join(work, name, 'install.sh'), '--key', join(work, 'release-signing.pem'), '--root', target, '--init', 'none'], { encoding: 'utf8' });
    t.equal(inst.status, 0, inst.stderr);
    const node = (args: string[]) =>
      spawnSync('qemu-aarch64-static', ['-L', rootfs, join(rootfs, 'usr/local/bin/node'), join(target, 'usr/lib/openc2/openc2-agent.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
    t.equal(node(['version']).stdout.trim(), version, 'agent runs on arm64 Node');
    const run = node(['run', '--config', join(target, 'etc/openc2/config.json'), '--state-dir', join(work, 'state'), '--run-dir', join(work, 'run')]);
    t.not(run.status, 0, 'stops: no BPF under qemu-user');
    t.notMatch(run.stderr + run.stdout, /not found for platform|cannot load .*\.node|not a native module/, 'the arm64 .node was found and loaded');
    t.match(run.stderr + run.stdout, /BPF/, 'reached the kernel probe');
  });
}
