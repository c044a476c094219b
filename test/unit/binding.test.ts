import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  NativeLoadError,
  candidatePaths,
  checkBpfRights,
  loadNative,
  platformSuffix,
} from '../../agent/dataplane/binding.js';

t.test('platform suffix follows napi-rs naming', async (t) => {
  t.equal(platformSuffix('linux', 'x64', false), 'linux-x64-gnu');
  t.equal(platformSuffix('linux', 'arm64', true), 'linux-arm64-musl');
  t.equal(platformSuffix('linux', 'arm', false), 'linux-arm-gnueabihf');
  t.equal(platformSuffix('linux', 'arm', true), 'linux-arm-musleabihf');
});

t.test('searches beside the module, then <repo>/dist, unless OPENC2_NATIVE_PATH is set', async (t) => {
  const bundled = candidatePaths(pathToFileURL('/opt/agent/dist/openc2-agent.mjs').href, {});
  t.match(bundled[0], /^\/opt\/agent\/dist\/openc2-dataplane\.linux-.*\.node$/);
  const sources = candidatePaths(pathToFileURL('/repo/agent/dataplane/binding.ts').href, {});
  t.match(sources[1], /^\/repo\/dist\/openc2-dataplane\./);
  t.same(candidatePaths(undefined, { OPENC2_NATIVE_PATH: '/x/y.node' }), ['/x/y.node']);
});

t.test('missing module gives an error naming the paths and the platform', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc2-binding-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const paths = [join(dir, 'a.node'), join(dir, 'b.node')];
  const err = t.throws(() => loadNative(paths)) as NativeLoadError;
  t.type(err, NativeLoadError);
  t.equal(err.code, 'ERR_OPENC2_NATIVE_LOAD');
  t.match(err.message, paths[0]);
  t.match(err.message, paths[1]);
  t.match(err.message, platformSuffix());
});

t.test('a file for another architecture is refused with a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc2-binding-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const other = join(dir, 'other.node');
  // Minimal ELF header: little-endian, e_machine 0xf3 (RISC-V), which we never build.
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf[5] = 1;
  elf.writeUInt16LE(0xf3, 18);
  writeFileSync(other, elf);
  const err = t.throws(() => loadNative([other])) as NativeLoadError;
  t.match(err.message, /is not a native module for/);
});

t.test('the built module loads and reports its version', async (t) => {
  const path = candidatePaths().find((p) => p.includes('dist'))!;
  const dir = mkdtempSync(join(tmpdir(), 'oc2-binding-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Load through an explicit path, as OPENC2_NATIVE_PATH would.
  const copy = join(dir, 'copy.node');
  copyFileSync(path, copy);
  const mod = loadNative([copy]);
  t.match(mod.version(), /^\d+\.\d+\.\d+$/);
  const rights = checkBpfRights();
  if (process.getuid?.() === 0) t.equal(rights.ok, true, rights.reason ?? '');
  else t.equal(rights.ok, false, 'non-root cannot load BPF');
});

const notRoot = process.getuid?.() !== 0 ? 'needs root to drop to an unprivileged user' : false;
t.test('probe reports the kernel refusal (EPERM) for an unprivileged process', { skip: notRoot }, async (t) => {
  const path = candidatePaths().find((p) => p.includes('dist'))!;
  const dir = mkdtempSync(join(tmpdir(), 'oc2-binding-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'copy.node');
  copyFileSync(path, copy);
  const out = execFileSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e',
      `process.stdout.write(JSON.stringify(require(${JSON.stringify(copy)}).probe()))`],
    { encoding: 'utf8', timeout: 10_000 },
  );
  const r = JSON.parse(out) as { ok: boolean; reason?: string };
  t.equal(r.ok, false);
  t.match(r.reason ?? '', /not permitted|EPERM|os error 1\b/);
});
