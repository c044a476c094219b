import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseHostPort } from '../../agent/config/config.js';
import { envName, flagName, SETTINGS } from '../../agent/config/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'openc2-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, body: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
};
const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

t.test('defaults suit a laptop: HTTP on 127.0.0.1:6767, no MQTT', async (t) => {
  const config = loadConfig({ env: { OPENC2_ALLOW_INSECURE: '1' }, flags: new Map() });
  t.equal(config.http.listen, '127.0.0.1:6767');
  t.equal(config.mqtt.url, undefined);
  t.equal(config.dataplane, 'kernel');
  t.same(config.profiles, ['pf', 'slpf']);
});

t.test('flags win over the environment, which wins over the file', async (t) => {
  const path = file('layers.json', { deviceId: 'from-file', log: { level: 'warn' }, mqtt: { url: 'mqtts://file:8883' }, allowInsecure: true });
  const config = loadConfig({
    file: path,
    env: { OPENC2_DEVICE_ID: 'from-env', OPENC2_MQTT_URL: 'mqtts://env:8883' },
    flags: new Map([['deviceId', 'from-flag']]),
  });
  t.equal(config.deviceId, 'from-flag');
  t.equal(config.mqtt.url, 'mqtts://env:8883');
  t.equal(config.log.level, 'warn');
});

t.test('the documented environment variables set their settings', async (t) => {
  const config = loadConfig({
    env: {
      OPENC2_DEVICE_ID: 'edge-7',
      OPENC2_MQTT_URL: 'mqtt://127.0.0.1:1883',
      OPENC2_HTTP_LISTEN: '[::1]:7000',
      OPENC2_DATAPLANE: 'sim',
      OPENC2_INTERFACES: 'wan, lan0',
      OPENC2_STATE_DIR: '/tmp/state',
      OPENC2_LOG_LEVEL: 'debug',
      OPENC2_ALLOW_INSECURE: '1',
    },
    flags: new Map(),
  });
  t.same(
    [config.deviceId, config.mqtt.url, config.http.listen, config.dataplane, config.interfaces, config.stateDir, config.log.level, config.allowInsecure],
    ['edge-7', 'mqtt://127.0.0.1:1883', '[::1]:7000', 'sim', ['wan', 'lan0'], '/tmp/state', 'debug', true],
  );
});

t.test('each problem is one line naming where the value came from', async (t) => {
  const path = file('bad.json', { mqtt: { keepaliveSeconds: 900, colour: 'red' }, log: { level: 'loud' } });
  const problems = problemsOf(() => loadConfig({ file: path, env: { OPENC2_DATAPLANE: 'ebpf' }, flags: new Map([['http.listen', '127.0.0.1:70000']]) }));
  t.same([...problems].sort(), [
    '--http-listen: "127.0.0.1:70000" is not host:port (IPv6 in brackets, port 0-65535)',
    'OPENC2_DATAPLANE: "ebpf" is not one of kernel, sim',
    'log.level: "loud" is not one of debug, info, warn, error',
    'mqtt.colour: unknown setting',
    'mqtt.keepaliveSeconds: 900 is above 300',
  ]);
});

t.test('a file that is not JSON or not there is named', async (t) => {
  t.match(problemsOf(() => loadConfig({ file: file('broken.json', '{ nope'), env: {}, flags: new Map() }))[0], /^config file .*broken\.json: not valid JSON/);
  t.match(problemsOf(() => loadConfig({ file: join(dir, 'absent.json'), env: {}, flags: new Map() }))[0], /absent\.json: cannot read \(ENOENT\)/);
});

t.test('plain transports need allowInsecure; plain HTTP off loopback needs insecureBind', async (t) => {
  t.match(problemsOf(() => loadConfig({ env: {}, flags: new Map() })), [/http\.listen: plain HTTP needs allowInsecure/]);
  t.match(problemsOf(() => loadConfig({ env: { OPENC2_MQTT_URL: 'mqtt://b:1883', OPENC2_HTTP_ENABLED: '0' }, flags: new Map() })), [/mqtt\.url: mqtt:\/\/ is plain text/]);
  t.match(problemsOf(() => loadConfig({ env: { OPENC2_ALLOW_INSECURE: 'yes', OPENC2_HTTP_LISTEN: '0.0.0.0:6767' }, flags: new Map() })), [/not loopback; set http\.insecureBind/]);
  t.same(problemsOf(() => loadConfig({ env: { OPENC2_ALLOW_INSECURE: 'yes', OPENC2_HTTP_LISTEN: '0.0.0.0:6767', OPENC2_HTTP_INSECURE_BIND: '1' }, flags: new Map() })), []);
});

t.test('management prefixes must be CIDR', async (t) => {
  const problems = problemsOf(() => loadConfig({ env: { OPENC2_ALLOW_INSECURE: '1', OPENC2_MANAGEMENT_PREFIXES: '192.0.2.0/24,lan' }, flags: new Map() }));
  t.same(problems, ['management.prefixes: "lan" is not an address/length prefix']);
});

t.test('the MQTT topic prefix must be plain topic levels; a broker CA needs mqtts://', async (t) => {
  const env = { OPENC2_ALLOW_INSECURE: '1', OPENC2_MQTT_URL: 'mqtt://127.0.0.1:1883' };
  const prefixProblems = (prefix: string) => problemsOf(() => loadConfig({ env: { ...env, OPENC2_MQTT_TOPIC_PREFIX: prefix }, flags: new Map() }));
  for (const good of ['', 'tenant-a', 'tenant-a/', 'fleet/eu-west/tenant_7', 'fleet/$eu']) t.same(prefixProblems(good), [], `${JSON.stringify(good)} is accepted`);
  // `+` or `#` would subscribe the agent to every tenant's commands.
  for (const bad of ['+', 'tenant/#', 'a+b', '/tenant', 'a//b', 'my tenant']) {
    t.match(prefixProblems(bad), [/^mqtt\.topicPrefix: .* must be topic levels/], `${JSON.stringify(bad)} is refused`);
  }
  t.match(prefixProblems('$SYS/tenant'), [/^mqtt\.topicPrefix: "\$SYS\/tenant" must not start with \$/], 'a first level starting with $ is refused');
  t.same(problemsOf(() => loadConfig({ env: { ...env, OPENC2_MQTT_TLS_CA: '/etc/openc2/ca.pem' }, flags: new Map() })), ['mqtt.tlsCa: a broker CA needs an mqtts:// url, but mqtt.url is mqtt://']);
  // HTTPS alerts take their client certificate from mqtt.tlsCert when alerts.tlsCert is not set.
  t.same(problemsOf(() => loadConfig({ env: { ...env, OPENC2_MQTT_TLS_CERT: '/etc/openc2/router.pem', OPENC2_MQTT_TLS_KEY: '/etc/openc2/router.key', OPENC2_ALERTS_URL: 'https://orchestrator.example:6768/' }, flags: new Map() })), []);
});

t.test('names derive from keys', async (t) => {
  t.equal(envName('mqtt.sessionExpirySeconds'), 'OPENC2_MQTT_SESSION_EXPIRY_SECONDS');
  t.equal(flagName('http.allowedSubjects'), 'http-allowed-subjects');
  t.equal(new Set(SETTINGS.map((s) => envName(s.key))).size, SETTINGS.length, 'no two settings share an environment variable');
  t.same(parseHostPort('[2001:db8::1]:6767'), { host: '2001:db8::1', port: 6767 });
  t.equal(parseHostPort('[not-v6]:1'), undefined);
});

t.test('trusted signing keys are checked at start', async (t) => {
  const env = { OPENC2_ALLOW_INSECURE: '1' };
  t.same(problemsOf(() => loadConfig({ env: { ...env, OPENC2_SIGNING_TRUSTED_KEYS: 'orchestrator=bm90LWEta2V5' }, flags: new Map() })), [
    'signing.trustedKeys: "orchestrator=bm90LWEta2V5" is not name=<base64 of a 32-byte Ed25519 public key>',
  ]);
  t.same(problemsOf(() => loadConfig({ env: { ...env, OPENC2_SIGNING_REQUIRED: '1' }, flags: new Map() })), ['signing.required: no signing.trustedKeys, so every command would be refused']);
  const key = Buffer.alloc(32, 7).toString('base64');
  t.same(problemsOf(() => loadConfig({ env: { ...env, OPENC2_SIGNING_REQUIRED: '1', OPENC2_SIGNING_TRUSTED_KEYS: `orchestrator=${key}` }, flags: new Map() })), []);
});
