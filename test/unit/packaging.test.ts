// Static checks of the packaging files: shell syntax (POSIX sh and BusyBox ash),
// shellcheck, the systemd unit, and the OpenWrt feed Makefiles' fields that the
// package managers (opkg on 24.10, apk on 25.12+) depend on.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const pkg = JSON.parse(read('package.json')) as { version: string; scripts: Record<string, string> };

/** Shell scripts we ship or run, and the shell each must parse under. */
const SCRIPTS = [
  'build/openwrt/openc2-agent/files/openc2.init',
  'build/openwrt/openc2-agent/files/openc2.hotplug',
  'build/openwrt/openc2-agent/files/openc2-agent.sh',
  'build/openwrt/stage.sh',
  'build/offline/install.sh',
  'build/cross.sh',
  'build/deps-cross.sh',
  'build/qemu-proof.sh',
];
/** Run on OpenWrt or an appliance, where /bin/sh is BusyBox ash. */
const ON_DEVICE = new Set(SCRIPTS.slice(0, 3).concat('build/offline/install.sh'));

t.test('shell scripts parse with sh -n, and on-device ones with BusyBox ash', async (t) => {
  for (const script of SCRIPTS) {
    const r = spawnSync('sh', ['-n', join(root, script)], { encoding: 'utf8' });
    t.equal(r.status, 0, `sh -n ${script} ${r.stderr}`);
    if (ON_DEVICE.has(script) && has('busybox')) {
      const b = spawnSync('busybox', ['sh', '-n', join(root, script)], { encoding: 'utf8' });
      t.equal(b.status, 0, `busybox sh -n ${script} ${b.stderr}`);
    }
  }
});

t.test('shellcheck finds nothing', { skip: has('shellcheck') ? false : 'shellcheck not installed (build/deps-cross.sh)' }, async (t) => {
  for (const script of SCRIPTS) {
    const r = spawnSync('shellcheck', ['-x', join(root, script)], { encoding: 'utf8' });
    t.equal(r.status, 0, `shellcheck ${script}\n${r.stdout}`);
  }
});

t.test('systemd unit passes systemd-analyze verify and keeps its least-privilege settings', async (t) => {
  const unit = join(root, 'build/systemd/openc2-agent.service');
  const text = read('build/systemd/openc2-agent.service');
  for (const line of [
    'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_RESOURCE',
    'AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_RESOURCE',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/sys/fs/bpf',
    'StateDirectory=openc2',
    'RuntimeDirectory=openc2',
    'Restart=on-failure',
    'RestartPreventExitStatus=2',
  ]) {
    t.ok(text.split('\n').includes(line), line);
  }
  if (!has('systemd-analyze')) {
    t.comment('systemd-analyze not installed: verify skipped');
    return;
  }
  // verify checks ExecStart's binary exists; /usr/bin/node is on this machine as on the target.
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stderr, /openc2-agent\.service/, 'no warnings about the unit');
});

/** `NAME:=value` of an OpenWrt Makefile. */
function makeVar(text: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}\\s*:?=\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
}

t.test('OpenWrt package: versions valid for apk and opkg, matching package.json', async (t) => {
  const mk = read('build/openwrt/openc2-agent/Makefile');
  t.equal(makeVar(mk, 'PKG_VERSION'), pkg.version, 'PKG_VERSION follows package.json');
  t.match(makeVar(mk, 'PKG_VERSION')!, /^\d+(\.\d+)*$/, 'apk accepts only dotted numbers');
  t.match(makeVar(mk, 'PKG_RELEASE')!, /^\d+$/, 'PKG_RELEASE is an integer');
  const node = read('build/openwrt/node20/Makefile');
  t.match(makeVar(node, 'PKG_VERSION')!, /^20\.\d+\.\d+$/, 'node20 is Node.js 20, dotted numbers');
  t.match(makeVar(node, 'PKG_RELEASE')!, /^\d+$/);
});

t.test('OpenWrt package: dependencies, conffiles, install paths the init script uses', async (t) => {
  const mk = read('build/openwrt/openc2-agent/Makefile');
  t.match(mk, /DEPENDS:=\+openc2-agent-native \+USE_APK:node20 \+!USE_APK:node$/m, '24.10 node, 25.12+ (apk) node20');
  t.match(mk, /DEPENDS:=.*\+kmod-sched-core \+kmod-sched-bpf/, 'TC needs clsact and cls_bpf');
  t.match(mk, /PKGARCH:=all/, 'the JS package is architecture-free');
  t.match(mk, /define Package\/openc2-agent\/conffiles\n\/etc\/config\/openc2\n/, 'UCI config kept on upgrade');
  t.match(mk, /\$\(eval \$\(call BuildPackage,openc2-agent\)\)/);
  t.match(mk, /\$\(eval \$\(call BuildPackage,openc2-agent-native\)\)/);
  const init = read('build/openwrt/openc2-agent/files/openc2.init');
  for (const path of ['/usr/lib/openc2/openc2-agent.mjs', '/usr/lib/openc2/uci2json.awk']) {
    t.match(init, path, `init uses ${path}`);
    t.match(mk, `$(1)${path}`, `Makefile installs ${path}`);
  }
  t.match(init, /^START=(9\d)$/m, 'starts after network and bpffs');
  t.match(init, /^USE_PROCD=1$/m);
  t.match(init, /procd_add_reload_trigger openc2/, 'reload on UCI change');
  t.match(init, /procd_set_param respawn/);
  t.match(init, /mount -t bpf .* bpffs "\$BPFFS"/, 'mounts bpffs when missing');
});

t.test('npm scripts build every artifact', async (t) => {
  t.match(pkg.scripts['build:cross']!, /build\/cross\.sh/);
  t.match(pkg.scripts['build:offline']!, /build\/offline\/make\.mjs/);
  t.match(pkg.scripts['build:openwrt']!, /build\/openwrt\/stage\.sh/);
});
