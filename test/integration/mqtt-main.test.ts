import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import t from 'tap';
import { startAgent } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';

// `run()` wiring from the sources (the bundle test is the lead's): MQTT starts when mqtt.url is
// set, warns about plain mqtt:// at start, and the fleet sees the device leave through the
// presence connection, cleanly on SIGTERM and through the broker's last will on a crash.

const MAIN = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));
const REGISTER = fileURLToPath(new URL('../bench/register.mjs', import.meta.url));

const broker = await startMosquitto();
t.teardown(() => broker.remove());
const dir = mkdtempSync(join(tmpdir(), 'openc2-mqtt-main-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'main-presence-watcher' });
t.teardown(() => watcher.endAsync(true));
const presence: string[] = [];
watcher.on('message', (_topic, payload) => presence.push((JSON.parse(payload.toString()) as { state: string }).state));
await watcher.subscribeAsync('oc2/presence/main-1', { qos: 1 });

async function until(check: () => boolean, what: string): Promise<void> {
  // Bounded: 5 s in 20 ms steps.
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}; presence: ${presence.join(',')}`);
}

function run(): ReturnType<typeof startAgent> {
  return startAgent(['run'], {
    script: MAIN,
    env: {
      NODE_OPTIONS: `--import=${REGISTER}`,
      OPENC2_MQTT_URL: broker.url,
      OPENC2_ALLOW_INSECURE: '1',
      OPENC2_DATAPLANE: 'sim',
      OPENC2_HTTP_ENABLED: '0',
      OPENC2_DEVICE_ID: 'main-1',
      OPENC2_STATE_DIR: join(dir, 'state'),
      OPENC2_RUN_DIR: join(dir, 'run'),
    },
  });
}

t.test('SIGTERM: online, a plain-text warning, then offline published before the normal disconnect', async (t) => {
  const agent = run();
  t.teardown(() => agent.stop('SIGKILL'));
  await agent.waitFor(/mqtt online/, 30_000);
  t.match(agent.output(), /MQTT without TLS/);
  await until(() => presence.at(-1) === 'online', 'online');
  t.equal(await agent.stop('SIGTERM'), 0);
  await until(() => presence.at(-1) === 'offline', 'offline');
});

t.test('a crash (SIGKILL) leaves the broker to publish the last will: offline', async (t) => {
  const agent = run();
  t.teardown(() => agent.stop('SIGKILL'));
  await agent.waitFor(/mqtt online/, 30_000);
  await until(() => presence.at(-1) === 'online', 'online');
  await agent.stop('SIGKILL');
  await until(() => presence.at(-1) === 'offline', 'offline from the will');
});
