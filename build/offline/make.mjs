// Builds the offline appliance bundles: dist/offline/openc2-agent-<version>-<arch>.tar.gz,
// one per CPU (x86_64, aarch64, armv7) whose .node files are in dist/. Each holds the
// bundle, the .node files of that CPU (glibc and musl, the agent picks at run time), a
// default config, systemd and OpenWrt service files, install.sh, SHA256SUMS over every
// file and SHA256SUMS.sig, an Ed25519 signature (tweetnacl) over SHA256SUMS.
//
// Usage: node build/offline/make.mjs [--arch x86_64|aarch64|armv7 ...] [--out DIR]
// Signing key (tweetnacl secret key, base64 of the 32-byte seed or the 64-byte key):
//   OPENC2_SIGNING_KEY, or a file named by OPENC2_SIGNING_KEY_FILE. Without either, a
//   development key is made once in <out>/dev-signing-key and the bundle says so.
// The matching public key is written as <out>/release-signing.pem (SPKI PEM, what
// install.sh --key and `openssl pkeyutl -verify` take).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import nacl from 'tweetnacl';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Bundle arch name -> napi platform suffixes of its .node files. */
const ARCHES = {
  x86_64: ['linux-x64-gnu', 'linux-x64-musl'],
  aarch64: ['linux-arm64-gnu', 'linux-arm64-musl'],
  armv7: ['linux-arm-gnueabihf', 'linux-arm-musleabihf'],
};

const { values } = parseArgs({
  options: { arch: { type: 'string', multiple: true }, out: { type: 'string' } },
});
const out = values.out ?? join(dist, 'offline');
mkdirSync(out, { recursive: true });

/** Ed25519 public key as SPKI PEM (RFC 8410): fixed 12-byte DER prefix + 32 key bytes. */
function publicKeyPem(publicKey) {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey)]);
  return `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
}

function signingKey() {
  let text = process.env.OPENC2_SIGNING_KEY;
  if (!text && process.env.OPENC2_SIGNING_KEY_FILE) text = readFileSync(process.env.OPENC2_SIGNING_KEY_FILE, 'utf8');
  let dev = false;
  if (!text) {
    const devFile = join(out, 'dev-signing-key');
    if (!existsSync(devFile)) {
      writeFileSync(devFile, Buffer.from(nacl.sign.keyPair().secretKey).toString('base64') + '\n', { mode: 0o600 });
    }
    text = readFileSync(devFile, 'utf8');
    dev = true;
  }
  const raw = Buffer.from(text.trim(), 'base64');
  if (raw.length === 32) return { ...nacl.sign.keyPair.fromSeed(raw), dev };
  if (raw.length === 64) return { ...nacl.sign.keyPair.fromSecretKey(raw), dev };
  throw new Error(`signing key must be base64 of 32 or 64 bytes, got ${raw.length}`);
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .map((p) => join(dir, String(p)))
    .filter((p) => statSync(p).isFile())
    .map((p) => relative(dir, p))
    .sort();
}

const DEFAULT_CONFIG = {
  deviceId: 'edge-1',
  dataplane: 'kernel',
  interfaces: [],
  management: { prefixes: [], antiLockout: true },
  http: { enabled: false, listen: '127.0.0.1:6767' },
  signing: { required: false, trustedKeys: [] },
};

function stage(arch, nodeFiles, key) {
  const name = `openc2-agent-${version}-${arch}`;
  const work = join(out, `.stage-${arch}`);
  const top = join(work, name);
  rmSync(work, { recursive: true, force: true });
  const put = (from, to, mode = 0o644) => {
    const dest = join(top, to);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(from, dest);
    chmodSync(dest, mode);
  };
  put(join(dist, 'openc2-agent.mjs'), 'payload/lib/openc2-agent.mjs');
  for (const f of nodeFiles) put(join(dist, f), `payload/lib/${f}`, 0o755);
  put(join(root, 'build/openwrt/openc2-agent/files/openc2-agent.sh'), 'payload/bin/openc2-agent', 0o755);
  put(join(root, 'build/systemd/openc2-agent.service'), 'payload/systemd/openc2-agent.service');
  const owrt = join(root, 'build/openwrt/openc2-agent/files');
  put(join(owrt, 'openc2.init'), 'payload/openwrt/openc2.init', 0o755);
  put(join(owrt, 'openc2.hotplug'), 'payload/openwrt/openc2.hotplug', 0o755);
  put(join(owrt, 'openc2.config'), 'payload/openwrt/openc2.config');
  put(join(owrt, 'uci2json.awk'), 'payload/openwrt/uci2json.awk');
  put(join(root, 'build/offline/install.sh'), 'install.sh', 0o755);
  mkdirSync(join(top, 'payload/config'), { recursive: true });
  writeFileSync(join(top, 'payload/config/config.json'), JSON.stringify(DEFAULT_CONFIG, null, 2) + '\n');
  writeFileSync(join(top, 'payload/VERSION'), `${version}${key.dev ? ' (signed with a development key)' : ''}\n`);
  writeFileSync(join(top, 'payload/release-signing.pem'), publicKeyPem(key.publicKey));

  const sums = listFiles(top)
    .map((f) => `${createHash('sha256').update(readFileSync(join(top, f))).digest('hex')}  ${f}\n`)
    .join('');
  writeFileSync(join(top, 'SHA256SUMS'), sums);
  writeFileSync(join(top, 'SHA256SUMS.sig'), Buffer.from(nacl.sign.detached(Buffer.from(sums), key.secretKey)));

  // Reproducible: sorted names, fixed owner and time, gzip without a timestamp.
  const tarball = join(out, `${name}.tar.gz`);
  const mtime = process.env.SOURCE_DATE_EPOCH ?? '0';
  const tar = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '-C', work, '-cf', '-', name], { maxBuffer: 1 << 30 });
  writeFileSync(tarball, execFileSync('gzip', ['-9n'], { input: tar, maxBuffer: 1 << 30 }));
  rmSync(work, { recursive: true, force: true });
  return tarball;
}

if (!existsSync(join(dist, 'openc2-agent.mjs'))) throw new Error('dist/openc2-agent.mjs missing: run npm run build:bundle first');
const key = signingKey();
writeFileSync(join(out, 'release-signing.pem'), publicKeyPem(key.publicKey));
if (key.dev) console.warn(`offline: signed with the DEVELOPMENT key ${join(out, 'dev-signing-key')}; set OPENC2_SIGNING_KEY for a release`);

const wanted = values.arch ?? Object.keys(ARCHES);
let made = 0;
for (const arch of wanted) {
  const suffixes = ARCHES[arch];
  if (!suffixes) throw new Error(`unknown arch ${arch}; one of ${Object.keys(ARCHES).join(', ')}`);
  const nodeFiles = suffixes.map((s) => `openc2-dataplane.${s}.node`).filter((f) => existsSync(join(dist, f)));
  if (nodeFiles.length === 0) {
    const msg = `offline: ${arch}: no .node in dist/ (build with npm run build:native or npm run build:cross)`;
    if (values.arch) throw new Error(msg);
    console.warn(msg + ', skipped');
    continue;
  }
  const tarball = stage(arch, nodeFiles, key);
  console.log(`offline: ${relative(root, tarball)} ${statSync(tarball).size} bytes (${nodeFiles.join(', ')})`);
  made++;
}
if (made === 0) throw new Error('offline: no bundle made');
