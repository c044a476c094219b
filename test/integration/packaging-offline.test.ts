// Offline appliance bundle: build/offline/make.mjs makes a signed tarball and its
// install.sh installs it only when the Ed25519 signature and every checksum hold.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const hostNode = join(dist, 'openc2-dataplane.linux-x64-gnu.node');
const missing = ['openc2-agent.mjs', 'openc2-dataplane.linux-x64-gnu.node'].filter((f) => !existsSync(join(dist, f)));
const skip = process.arch !== 'x64' ? 'bundle test builds the x86_64 bundle' : missing.length ? `not built: dist/${missing.join(', dist/')} (npm run build)` : false;

// A fixed test key (seed of 32 bytes), so no development key is written.
const SEED = Buffer.alloc(32, 7).toString('base64');
const NAME = `openc2-agent-${version}-x86_64`;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts, env: { ...process.env, ...opts.env } });
}

function has(cmd: string): boolean {
  return run('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

t.test('offline bundle', { skip }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'oc2-offline-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const out = join(work, 'out');
  const made = run('node', [join(root, 'build/offline/make.mjs'), '--arch', 'x86_64', '--out', out], {
    env: { OPENC2_SIGNING_KEY: SEED, SOURCE_DATE_EPOCH: '1700000000' },
  });
  t.equal(made.status, 0, made.stderr);
  const tarball = join(out, `${NAME}.tar.gz`);
  const key = join(out, 'release-signing.pem');
  t.ok(existsSync(tarball), 'tarball made');
  t.notOk(existsSync(join(out, 'dev-signing-key')), 'no development key when OPENC2_SIGNING_KEY is set');

  let n = 0;
  /** Extracts `bytes` (a .tar.gz) into a fresh folder; returns the bundle folder or undefined if tar refused it. */
  function extract(bytes: Buffer): { dir: string; target: string } | undefined {
    const dir = join(work, `case-${++n}`);
    mkdirSync(join(dir, 'root'), { recursive: true });
    writeFileSync(join(dir, 'bundle.tar.gz'), bytes);
    const x = run('tar', ['-xzf', 'bundle.tar.gz'], { cwd: dir });
    return x.status === 0 ? { dir: join(dir, NAME), target: join(dir, 'root') } : undefined;
  }
  function install(bundle: string, target: string, args: string[] = [], shell = 'sh') {
    return run(shell, [...(shell === 'busybox' ? ['sh'] : []), join(bundle, 'install.sh'), '--root', target, ...args]);
  }
  const emptyDir = (dir: string) => readdirSync(dir).length === 0;

  t.test('holds the bundle, the .node, service files, SHA256SUMS and its signature', async (t) => {
    const listing = run('tar', ['-tzf', tarball]).stdout.split('\n').filter((l) => l && !l.endsWith('/'));
    for (const f of ['install.sh', 'SHA256SUMS', 'SHA256SUMS.sig', 'payload/lib/openc2-agent.mjs', 'payload/lib/openc2-dataplane.linux-x64-gnu.node', 'payload/systemd/openc2-agent.service', 'payload/openwrt/openc2.init', 'payload/config/config.json']) {
      t.ok(listing.includes(`${NAME}/${f}`), f);
    }
    const again = run('node', [join(root, 'build/offline/make.mjs'), '--arch', 'x86_64', '--out', join(work, 'again')], {
      env: { OPENC2_SIGNING_KEY: SEED, SOURCE_DATE_EPOCH: '1700000000' },
    });
    t.equal(again.status, 0);
    t.ok(readFileSync(join(work, 'again', `${NAME}.tar.gz`)).equals(readFileSync(tarball)), 'reproducible: same inputs, same bytes');
  });

  t.test('installs for systemd after verifying, and the default config passes check-config', async (t) => {
    const x = extract(readFileSync(tarball))!;
    const r = install(x.dir, x.target, ['--key', key, '--init', 'systemd']);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /installed under .* \(systemd\)/);
    const lib = join(x.target, 'usr/lib/openc2');
    t.ok(readFileSync(join(lib, 'openc2-agent.mjs')).equals(readFileSync(join(dist, 'openc2-agent.mjs'))), 'bundle copied');
    t.ok(readFileSync(join(lib, 'openc2-dataplane.linux-x64-gnu.node')).equals(readFileSync(hostNode)), '.node copied');
    t.ok(existsSync(join(x.target, 'etc/systemd/system/openc2-agent.service')));
    const check = run('node', [join(lib, 'openc2-agent.mjs'), 'check-config', join(x.target, 'etc/openc2/config.json')]);
    t.equal(check.status, 0, check.stderr + check.stdout);
    t.equal(run('node', [join(lib, 'openc2-agent.mjs'), 'version']).stdout.trim(), version, 'installed agent runs');
  });

  t.test('installs the OpenWrt service files with --init openwrt (BusyBox sh when present)', async (t) => {
    const x = extract(readFileSync(tarball))!;
    const r = install(x.dir, x.target, ['--key', key, '--init', 'openwrt'], has('busybox') ? 'busybox' : 'sh');
    t.equal(r.status, 0, r.stderr);
    for (const f of ['etc/init.d/openc2', 'etc/config/openc2', 'usr/lib/openc2/uci2json.awk', 'etc/hotplug.d/iface/95-openc2', 'usr/bin/openc2-agent']) {
      t.ok(existsSync(join(x.target, f)), f);
    }
  });

  t.test('the signature is plain Ed25519: openssl verifies it too', { skip: has('openssl') ? false : 'no openssl' }, async (t) => {
    const x = extract(readFileSync(tarball))!;
    const r = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', key, '-rawin', '-in', join(x.dir, 'SHA256SUMS'), '-sigfile', join(x.dir, 'SHA256SUMS.sig')]);
    t.equal(r.status, 0, r.stderr + r.stdout);
  });

  t.test('one byte changed inside the tarball: install refused, nothing copied', async (t) => {
    const tar = gunzipSync(readFileSync(tarball));
    // Flip a byte in the data of payload/lib/openc2-agent.mjs (tar headers are
    // checksummed by tar itself, file data is not: that is install.sh's job).
    const at = tar.indexOf(readFileSync(join(dist, 'openc2-agent.mjs')).subarray(0, 64)) + 100;
    t.ok(at > 100, 'found the bundle inside the tar');
    tar[at] = tar[at]! ^ 0x01;
    const x = extract(gzipSync(tar))!;
    t.ok(x, 'tar still extracts');
    const r = install(x.dir, x.target, ['--key', key]);
    t.equal(r.status, 1);
    t.match(r.stderr, /checksum mismatch: refusing to install/);
    t.match(r.stderr, /payload\/lib\/openc2-agent\.mjs/);
    t.ok(emptyDir(x.target), 'nothing installed');
  });

  t.test('one byte changed in the compressed file: refused before install', async (t) => {
    const gz = Buffer.from(readFileSync(tarball));
    gz[Math.floor(gz.length / 2)] = gz[Math.floor(gz.length / 2)]! ^ 0x01;
    const x = extract(gz);
    if (x) {
      const r = install(x.dir, x.target, ['--key', key]);
      t.equal(r.status, 1, 'install.sh refuses');
      t.ok(emptyDir(x.target), 'nothing installed');
    } else t.pass('tar refuses the corrupt gzip stream (CRC)');
  });

  t.test('a re-hashed SHA256SUMS fails the signature', async (t) => {
    const x = extract(readFileSync(tarball))!;
    const mjs = join(x.dir, 'payload/lib/openc2-agent.mjs');
    appendFileSync(mjs, '\n// injected\n');
    const sums = readFileSync(join(x.dir, 'SHA256SUMS'), 'utf8').replace(
      /^[0-9a-f]{64}(  payload\/lib\/openc2-agent\.mjs)$/m,
      `${createHash('sha256').update(readFileSync(mjs)).digest('hex')}$1`,
    );
    writeFileSync(join(x.dir, 'SHA256SUMS'), sums);
    const r = install(x.dir, x.target, ['--key', key]);
    t.equal(r.status, 1);
    t.match(r.stderr, /signature of SHA256SUMS does not verify/);
    t.ok(emptyDir(x.target), 'nothing installed');
  });

  t.test('another key, an unlisted file, or no key: refused', async (t) => {
    const other = join(work, 'other.pem');
    const pair = run('openssl', ['genpkey', '-algorithm', 'ed25519']);
    if (pair.status === 0) {
      const pub = spawnSync('openssl', ['pkey', '-pubout'], { input: pair.stdout, encoding: 'utf8' }).stdout;
      writeFileSync(other, pub);
      const x = extract(readFileSync(tarball))!;
      const r = install(x.dir, x.target, ['--key', other]);
      t.equal(r.status, 1, 'wrong key');
      t.match(r.stderr, /does not verify/);
      t.ok(emptyDir(x.target));
    }
    const y = extract(readFileSync(tarball))!;
    writeFileSync(join(y.dir, 'payload/lib/extra.node'), 'x');
    const r2 = install(y.dir, y.target, ['--key', key]);
    t.equal(r2.status, 1, 'unlisted file');
    t.match(r2.stderr, /files differ from SHA256SUMS \(payload\/lib\/extra\.node/);
    t.ok(emptyDir(y.target));
    const z = extract(readFileSync(tarball))!;
    const r3 = install(z.dir, z.target, ['--key', join(work, 'absent.pem')]);
    t.equal(r3.status, 2, 'missing key is a usage error');
    t.ok(emptyDir(z.target));
  });
});
