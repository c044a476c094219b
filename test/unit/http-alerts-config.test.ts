import t from 'tap';
import { ConfigError, loadConfig } from '../../agent/config/config.js';

// The settings and cross-checks of the HTTP(S) transport and alerts.

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ env, flags: new Map() });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

const https = { OPENC2_HTTP_TLS_CERT: '/etc/openc2/server.crt', OPENC2_HTTP_TLS_KEY: '/etc/openc2/server.key' };

t.test('defaults: 30 s to send a request, 202 after 25 s, 1000 alerts kept per destination', async (t) => {
  const config = loadConfig({ env: { OPENC2_ALLOW_INSECURE: '1' }, flags: new Map() });
  t.equal(config.http.requestTimeoutSeconds, 30);
  t.equal(config.http.responseDeadlineSeconds, 25);
  t.equal(config.alerts.queueSize, 1000);
  t.equal(config.alerts.tlsCert, undefined);
});

t.test('HTTPS needs a CA for client certificates unless allowInsecure (HTTPS transfer 3.2.4)', async (t) => {
  t.match(problemsOf(https), [/http\.tlsCa: HTTPS needs a CA for client certificates/]);
  t.same(problemsOf({ ...https, OPENC2_HTTP_TLS_CA: '/etc/openc2/fleet-ca.crt' }), []);
  t.same(problemsOf({ ...https, OPENC2_ALLOW_INSECURE: '1' }), []);
});

t.test('an allow-list of subjects needs client certificates', async (t) => {
  t.match(problemsOf({ ...https, OPENC2_ALLOW_INSECURE: '1', OPENC2_HTTP_ALLOWED_SUBJECTS: 'producer-1' }), [/http\.allowedSubjects: subjects come from client certificates; set http\.tlsCa/]);
});

t.test('alerts over https need the agent client certificate: its own, or the MQTT one', async (t) => {
  const base = { ...https, OPENC2_HTTP_TLS_CA: '/ca.crt', OPENC2_ALERTS_URL: 'https://orchestrator:6768/' };
  t.match(problemsOf(base), [/alerts\.tlsCert: the orchestrator must authenticate the agent/]);
  t.same(problemsOf({ ...base, OPENC2_ALERTS_TLS_CERT: '/a.crt', OPENC2_ALERTS_TLS_KEY: '/a.key' }), []);
  t.same(problemsOf({ ...base, OPENC2_MQTT_URL: 'mqtts://broker:8883', OPENC2_MQTT_TLS_CERT: '/m.crt', OPENC2_MQTT_TLS_KEY: '/m.key' }), []);
  t.same(problemsOf({ ...base, OPENC2_ALERTS_TLS_CERT: '/a.crt' }), ['alerts.tlsCert and alerts.tlsKey: set both or neither']);
});

t.test('alerts.url is an http(s) URL, and http:// only with allowInsecure', async (t) => {
  const base = { ...https, OPENC2_HTTP_TLS_CA: '/ca.crt' };
  t.match(problemsOf({ ...base, OPENC2_ALERTS_URL: 'mqtts://broker:8883' }), [/alerts\.url: expected an https:\/\/ URL/]);
  t.match(problemsOf({ ...base, OPENC2_ALERTS_URL: 'http://orchestrator:6768/' }), [/alerts\.url: http:\/\/ is plain text/]);
  t.same(problemsOf({ ...base, OPENC2_ALERTS_URL: 'http://orchestrator:6768/', OPENC2_ALLOW_INSECURE: '1' }), []);
});

t.test('timeouts and the queue size are bounded', async (t) => {
  const base = { OPENC2_ALLOW_INSECURE: '1' };
  t.match(problemsOf({ ...base, OPENC2_HTTP_REQUEST_TIMEOUT_SECONDS: '0' }), [/OPENC2_HTTP_REQUEST_TIMEOUT_SECONDS: 0 is below 1/]);
  t.match(problemsOf({ ...base, OPENC2_HTTP_RESPONSE_DEADLINE_SECONDS: '301' }), [/above 300/]);
  t.match(problemsOf({ ...base, OPENC2_ALERTS_QUEUE_SIZE: '0' }), [/OPENC2_ALERTS_QUEUE_SIZE: 0 is below 1/]);
});
