// OpenWrt UCI -> agent JSON: build/openwrt/openc2-agent/files/uci2json.awk renders
// /etc/config/openc2 and the init script runs the agent on the result. Runs the
// translator under every awk present (BusyBox awk is what OpenWrt has) and checks
// the JSON with the agent's own config loader.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type AgentConfig } from '../../agent/config/config.js';
import { SETTINGS } from '../../agent/config/settings.js';
import { shippedNodeFlags } from '../helpers/shipped-flags.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const files = join(root, 'build/openwrt/openc2-agent/files');
const AWK = join(files, 'uci2json.awk');

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Every awk we can run here; BusyBox's is the one on OpenWrt. */
const awks: { name: string; argv: string[] }[] = [
  { name: 'busybox awk', argv: ['busybox', 'awk'] },
  { name: 'mawk', argv: ['mawk'] },
  { name: 'gawk', argv: ['gawk'] },
  { name: 'original-awk', argv: ['original-awk'] },
].filter((a) => which(a.argv[0]!) && (a.argv[0] !== 'busybox' || spawnSync('busybox', ['awk', 'BEGIN{}']).status === 0));

function render(awk: string[], uci: string, extra = ''): { status: number | null; json: unknown; stderr: string } {
  const r = spawnSync(awk[0]!, [...awk.slice(1), '-v', `extra_interfaces=${extra}`, '-f', AWK], { input: uci, encoding: 'utf8' });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { status: r.status, json, stderr: r.stderr };
}

/** The agent's own loader on the rendered JSON: throws ConfigError when it refuses. */
function agentLoads(json: unknown): AgentConfig {
  const dir = mkdtempSync(join(tmpdir(), 'oc2-uci-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(json));
    return loadConfig({ file, env: {}, flags: new Map() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** UCI section and option for a setting key: mqtt.tlsCa -> [mqtt, tls_ca]; deviceId -> [agent, device_id]. */
function uciName(key: string): [string, string] {
  const parts = key.split('.');
  const leaf = parts.at(-1)!.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return [parts.length > 1 ? parts[0]! : 'agent', leaf];
}

function flatten(value: unknown, prefix = '', out: string[] = []): string[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(prefix);
  return out;
}

// `uci export openc2` output of a configured router: named and anonymous sections,
// every quoting form libuci writes or reads, lists and comma options.
const SAMPLE = `package openc2

config agent 'main'
\toption enabled '1'
\toption device_id 'gw-'\\''lab'\\''-7'
\toption dataplane kernel
\tlist network 'wan'
\tlist interface 'eth1'
\tlist interface "lan\\"x"
\toption instance 'edge'
\toption allow_insecure 'no'
\toption profiles 'pf, slpf'
\toption respawn_retry '3'   # init script only

config mqtt
\toption url 'mqtts://broker.example.net:8883'
\toption topic_prefix 'tenant/a'
\toption username 'gw7'
\toption password 'p@ss "word" \\ tab\there'
\toption tls_ca '/etc/openc2/ca.pem'
\toption keepalive_seconds '045'
\toption session_expiry_seconds '0'

config http 'http'
\toption enabled 'off'
\toption listen '[2001:db8::1]:6767'
\toption tls_cert '/etc/openc2/server.pem'
\toption tls_key '/etc/openc2/server.key'
\toption tls_ca '/etc/openc2/ca.pem'
\tlist allowed_subject 'CN=orchestrator'

config management 'management'
\tlist prefix '192.0.2.0/24'
\tlist prefix '2001:db8::/32'
\toption anti_lockout 'true'

config signing 'signing'
\toption required 'on'
\tlist trusted_key 'prod1=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE='
\toption replay_window_seconds '120'

config limits
\toption max_message_bytes '65536'

config log 'log'
\toption level 'debug'
\toption format 'json'
`;

/** What the agent's loader makes of SAMPLE (strings converted by the agent). */
const EXPECTED = {
  deviceId: "gw-'lab'-7",
  dataplane: 'kernel',
  interfaces: ['eth1', 'lan"x', 'pppoe-wan'],
  instance: 'edge',
  profiles: ['pf', 'slpf'],
  allowInsecure: false,
  log: { level: 'debug', format: 'json' },
  management: { prefixes: ['192.0.2.0/24', '2001:db8::/32'], antiLockout: true },
  http: { enabled: false, listen: '[2001:db8::1]:6767', tlsCa: '/etc/openc2/ca.pem', allowedSubjects: ['CN=orchestrator'] },
  mqtt: {
    url: 'mqtts://broker.example.net:8883',
    topicPrefix: 'tenant/a',
    username: 'gw7',
    password: 'p@ss "word" \\ tab\there',
    tlsCa: '/etc/openc2/ca.pem',
    keepaliveSeconds: 45,
    sessionExpirySeconds: 0,
  },
  signing: { required: true, trustedKeys: ['prod1=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE='], replayWindowSeconds: 120 },
  limits: { maxMessageBytes: 65536 },
};

t.test('every agent setting is reachable from UCI by its derived name', { skip: awks.length === 0 ? 'no awk here' : false }, async (t) => {
  const awk = awks[0]!;
  for (const setting of SETTINGS) {
    const [section, option] = uciName(setting.key);
    const r = render(awk.argv, `config ${section}\n\t${setting.type === 'list' ? 'list' : 'option'} ${option} 'x'\n`);
    t.same(flatten(r.json), [setting.key], `config ${section} / ${option} -> ${setting.key}`);
  }
});

t.test('at least BusyBox awk or one other awk is here', async (t) => {
  t.ok(awks.length > 0, `awks found: ${awks.map((a) => a.name).join(', ')}`);
  if (!awks.some((a) => a.name === 'busybox awk')) t.comment('busybox not installed: OpenWrt\'s awk not exercised (build/deps-cross.sh installs it)');
});

for (const awk of awks) {
  t.test(`${awk.name}: renders a real uci export into the agent's JSON`, async (t) => {
    const r = render(awk.argv, SAMPLE, 'pppoe-wan');
    t.equal(r.status, 0, r.stderr);
    const raw = r.json as Record<string, Record<string, unknown>>;
    t.same(raw.management!.prefixes, ['192.0.2.0/24', '2001:db8::/32'], 'list lines become a JSON array');
    t.equal(raw.mqtt!.keepaliveSeconds, '045', 'options stay strings; the agent converts them');
    t.notOk('enabled' in raw || 'network' in raw || 'respawnRetry' in raw, 'init-only options are not passed on');
    t.match(agentLoads(r.json), EXPECTED);
  });

  t.test(`${awk.name}: the shipped /etc/config/openc2 renders to a config the agent accepts`, async (t) => {
    const r = render(awk.argv, readFileSync(join(files, 'openc2.config'), 'utf8'), 'eth0.2');
    t.equal(r.status, 0, r.stderr);
    const json = r.json as Record<string, unknown>;
    t.equal(json.deviceId, 'router-1');
    t.same(json.interfaces, ['eth0.2'], 'list network devices come from the init script');
    t.notOk('enabled' in json, 'init-only options are not passed on');
    const config = agentLoads(json);
    t.equal(config.http.enabled, false);
    t.same(config.management.prefixes, ['192.0.2.0/24']);
  });

  t.test(`${awk.name}: option and list of one setting replace each other; empty config is {}`, async (t) => {
    t.same(render(awk.argv, "config agent\n\tlist interface 'a'\n\toption interfaces 'b,c'\n").json, { interfaces: 'b,c' });
    t.same(render(awk.argv, "config agent\n\toption interfaces 'b,c'\n\tlist interface 'd'\n").json, { interfaces: ['d'] });
    t.same(render(awk.argv, "config agent\n\toption interfaces 'b, c'\n", 'e').json, { interfaces: ['b', 'c', 'e'] }, 'network devices join an option list');
    t.same(render(awk.argv, '# nothing\n').json, {});
  });

  t.test(`${awk.name}: an unknown option passes through and the agent names it`, async (t) => {
    const r = render(awk.argv, "config agent\n\toption devise_id 'x'\n");
    t.equal(r.status, 0);
    t.throws(() => agentLoads(r.json), /devis/);
  });

  t.test(`${awk.name}: malformed UCI fails with status 2 naming the line`, async (t) => {
    const cases: [string, RegExp][] = [
      ["config agent\n\toption device_id 'x\n", /line 2: unterminated quote/],
      ["option device_id 'x'\n", /outside a config section/],
      ["config agent\n\toption deviceId 'x'\n", /option name "deviceId" is not lower_snake_case/],
      ["config agent\n\toption device_id\n", /option "device_id" has no value/],
      ["config agent\n\tset device_id 'x'\n", /unknown statement "set"/],
    ];
    for (const [uci, message] of cases) {
      const r = render(awk.argv, uci);
      t.equal(r.status, 2, `status for ${JSON.stringify(uci)}`);
      t.match(r.stderr, message);
      t.equal(r.json, undefined, 'no JSON on failure');
    }
  });
}

// The init script's start_service against stand-ins for OpenWrt's functions.sh,
// network.sh and procd.sh: checks what it hands procd and the config it writes.
t.test('init script renders UCI and hands procd the agent command, respawn and netdevs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc2-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'lib/functions'), { recursive: true });
  writeFileSync(join(dir, 'lib/functions/network.sh'), 'network_get_device() { eval "$1=dev-$2"; }\nnetwork_get_physdev() { return 1; }\n');
  writeFileSync(join(dir, 'uci'), "config agent 'main'\n\toption enabled '1'\n\tlist network 'wan'\n\tlist interface 'eth1'\n\toption allow_insecure '1'\n");
  const harness = `
set -eu
# Stand-ins: UCI values as functions.sh keeps them (CONFIG_<section>_<option>).
CONFIG_main_enabled=1; CONFIG_main_network=wan; CONFIG_main_interface=eth1; CONFIG_main_respawn_retry=7
config_load() { :; }
config_get() { eval "$1=\\\${CONFIG_$2_$3:-\${4:-}}"; }
config_get_bool() { config_get "$@"; }
config_list_foreach() { local s=$1 o=$2 f=$3 i; shift 3; for i in $(eval echo "\\\${CONFIG_\${s}_\${o}:-}"); do "$f" "$i"; done; }
procd_open_instance() { echo "open $*"; }
procd_set_param() { echo "set $*"; }
procd_append_param() { echo "append $*"; }
procd_close_instance() { echo close; }
. "$INIT"
mount_bpffs() { echo bpffs; }
uci_text() { cat "$DIR/uci"; }
RUN_DIR=$DIR/run; CONFIG_JSON=$RUN_DIR/config.json; UCI2JSON=$AWK
start_service
`;
  const sh = which('busybox') ? ['busybox', 'sh'] : ['sh'];
  const r = spawnSync(sh[0]!, [...sh.slice(1), '-c', harness], {
    encoding: 'utf8',
    env: { ...process.env, INIT: join(files, 'openc2.init'), DIR: dir, AWK, IPKG_INSTROOT: dir },
  });
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const json = join(dir, 'run/config.json');
  t.same(lines, [
    'bpffs',
    'open agent',
    `set command /usr/bin/node --heap-growing-percent=100 /usr/lib/openc2/openc2-agent.mjs run --config ${json}`,
    'set respawn 3600 5 7',
    'set env NODE_OPTIONS=--max-old-space-size=128 --max-semi-space-size=2',
    'set stdout 1',
    'set stderr 1',
    'set limits memlock=unlimited unlimited',
    `set file ${json}`,
    'append netdev eth1',
    'append netdev dev-wan',
    'set term_timeout 10',
    'close',
  ]);
  // Both inits run the same agent: the procd one's node flags are the systemd unit's.
  const nodeOptions = lines.find((l) => l.startsWith('set env NODE_OPTIONS='))!.slice('set env NODE_OPTIONS='.length).split(' ');
  const commandLine = lines.find((l) => l.startsWith('set command /usr/bin/node '))!.split(' ').slice(3);
  const commandFlags = commandLine.slice(0, commandLine.findIndex((arg) => !arg.startsWith('--')));
  t.same([...nodeOptions, ...commandFlags], shippedNodeFlags(), "procd's node flags are the systemd unit's");
  t.same(JSON.parse(readFileSync(json, 'utf8')), { interfaces: ['eth1', 'dev-wan'], allowInsecure: '1' });
});

t.test('hotplug reloads the service only for configured networks and devices', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc2-hotplug-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls = join(dir, 'calls');
  const stub = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };
  // uci answers like `uci -q get openc2.main.network` does for a list: space separated.
  stub('uci', 'case "$3" in openc2.main.network) echo "wan wan6" ;; openc2.main.interface) echo "eth1" ;; *) exit 1 ;; esac');
  stub('logger', ':');
  stub('init', `case "$1" in enabled) exit 0 ;; *) echo "$1" >> ${calls} ;; esac`);
  const sh = which('busybox') ? ['busybox', 'sh'] : ['sh'];
  const fire = (env: Record<string, string>) => {
    rmSync(calls, { force: true });
    const r = spawnSync(sh[0]!, [...sh.slice(1), join(files, 'openc2.hotplug')], {
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH}`, OPENC2_INIT: join(dir, 'init'), ...env },
    });
    t.equal(r.status, 0, r.stderr);
    try {
      return readFileSync(calls, 'utf8').trim();
    } catch {
      return '';
    }
  };
  t.equal(fire({ ACTION: 'ifup', INTERFACE: 'wan', DEVICE: 'pppoe-wan' }), 'reload', 'wan up');
  t.equal(fire({ ACTION: 'ifdown', INTERFACE: 'wan6' }), 'reload', 'wan6 down');
  t.equal(fire({ ACTION: 'ifup', INTERFACE: 'lan' }), '', 'lan is not ours');
  t.equal(fire({ ACTION: 'add', INTERFACE: 'eth1' }), 'reload', 'device eth1 re-created');
  t.equal(fire({ ACTION: 'add', INTERFACE: 'wan' }), '', 'net events match devices, not networks');
  t.equal(fire({ ACTION: 'ifup-failed', INTERFACE: 'wan' }), '', 'other actions ignored');
});
