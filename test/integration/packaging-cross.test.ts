// The native module for every CPU and libc: ELF machine, ABI and library needs of each
// dist/openc2-dataplane.<platform>.node, the embedded BPF objects, the 2 MiB budget,
// and (when build/qemu-proof.sh has prepared its root folders) loading it under qemu.
// Modules not built here are skipped with the command that builds them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
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
