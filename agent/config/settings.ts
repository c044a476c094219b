/**
 * Every setting of the agent, once. The config file key, the environment variable
 * (OPENC2_ + key in upper snake case) and the command-line flag (--key-in-kebab-case)
 * are all derived from `key`, so the three can never drift. README lists this table.
 */

export type SettingType = 'string' | 'boolean' | 'integer' | 'list' | 'hostport' | 'url' | 'path';

export interface Setting {
  /** Dotted key in the JSON config file, e.g. `mqtt.url`. */
  readonly key: string;
  readonly type: SettingType;
  readonly default?: string | number | boolean | readonly string[];
  /** Allowed values for a string setting. */
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** Secret values are never logged. */
  readonly secret?: boolean;
  readonly doc: string;
}

export const SETTINGS: readonly Setting[] = [
  { key: 'deviceId', type: 'string', default: 'openc2-agent', doc: 'Device identifier: MQTT topic oc2/cmd/device/<id>, `to` checks, alerts.' },
  { key: 'dataplane', type: 'string', choices: ['kernel', 'sim'], default: 'kernel', doc: '`kernel` enforces with eBPF (needs root or CAP_BPF+CAP_NET_ADMIN); `sim` enforces nothing.' },
  { key: 'interfaces', type: 'list', default: [], doc: 'Interfaces to attach to (XDP ingress, TC egress), comma separated.' },
  { key: 'namedGroups', type: 'list', default: [], doc: 'Groups this device belongs to: a command whose actuator specifier `named_group` names one of them is ours (PF 2.1.4).' },
  { key: 'instance', type: 'string', default: 'default', doc: 'Name of the pin folder /sys/fs/bpf/openc2/<instance>.' },
  { key: 'stateDir', type: 'path', default: '/var/lib/openc2', doc: 'Persistent state (persistent rules, alert queue), on flash.' },
  { key: 'runDir', type: 'path', default: '/run/openc2', doc: 'Volatile state (non-persistent rules), gone after reboot.' },
  { key: 'profiles', type: 'list', choices: ['pf', 'slpf'], default: ['pf', 'slpf'], doc: 'Actuator profiles served.' },
  { key: 'allowInsecure', type: 'boolean', default: false, doc: 'Permit plain (non-TLS) MQTT and HTTP. Logged as a warning at every start.' },
  { key: 'log.level', type: 'string', choices: ['debug', 'info', 'warn', 'error'], default: 'info', doc: 'Least severe level written.' },
  { key: 'log.format', type: 'string', choices: ['text', 'json'], default: 'text', doc: 'One line per event, text or JSON.' },
  { key: 'management.prefixes', type: 'list', default: [], doc: 'Prefixes always allowed above every rule (anti-lockout), comma separated CIDR.' },
  { key: 'management.antiLockout', type: 'boolean', default: true, doc: 'Always allow the agent\'s own control path (broker, HTTP listener, management prefixes).' },
  { key: 'http.enabled', type: 'boolean', default: true, doc: 'Serve OpenC2 over HTTP(S): POST / and POST /.well-known/openc2.' },
  { key: 'http.listen', type: 'hostport', default: '127.0.0.1:6767', doc: 'Address and port of the HTTP(S) listener.' },
  { key: 'http.insecureBind', type: 'boolean', default: false, doc: 'Allow plain HTTP on a non-loopback address.' },
  { key: 'http.tlsCert', type: 'path', doc: 'Server certificate (PEM). With tlsKey, turns on HTTPS.' },
  { key: 'http.tlsKey', type: 'path', secret: true, doc: 'Server private key (PEM).' },
  { key: 'http.tlsCa', type: 'path', doc: 'CA bundle (PEM) that client certificates must chain to (mutual TLS).' },
  { key: 'http.allowedSubjects', type: 'list', default: [], doc: 'Client certificate subjects (CN) allowed to send commands; empty: any certificate from tlsCa.' },
  { key: 'http.requestTimeoutSeconds', type: 'integer', default: 30, min: 1, max: 600, doc: 'Time a client has to send one whole request (headers and body); slower ones get 408.' },
  { key: 'http.responseDeadlineSeconds', type: 'integer', default: 25, min: 1, max: 300, doc: 'A command still running after this long is answered 202 and its response is delivered later through the alert channel.' },
  { key: 'mqtt.url', type: 'url', doc: 'Broker URL, mqtts://host:8883 (or mqtt:// with allowInsecure). MQTT is off when unset.' },
  { key: 'mqtt.topicPrefix', type: 'string', default: '', doc: 'Prefix before oc2/... topics for multi-tenant brokers: topic levels without wildcards (tenant-a, fleet/eu).' },
  { key: 'mqtt.clientId', type: 'string', doc: 'MQTT client id; default the device id.' },
  { key: 'mqtt.username', type: 'string', doc: 'MQTT user name.' },
  { key: 'mqtt.password', type: 'string', secret: true, doc: 'MQTT password.' },
  { key: 'mqtt.tlsCa', type: 'path', doc: 'CA bundle (PEM) for the broker certificate.' },
  { key: 'mqtt.tlsCert', type: 'path', doc: 'Client certificate (PEM) for mutual TLS.' },
  { key: 'mqtt.tlsKey', type: 'path', secret: true, doc: 'Client private key (PEM).' },
  { key: 'mqtt.keepaliveSeconds', type: 'integer', default: 60, min: 1, max: 300, doc: 'MQTT keepalive.' },
  { key: 'mqtt.sessionExpirySeconds', type: 'integer', default: 86400, min: 0, max: 4294967295, doc: 'Broker keeps our session and QoS 1 commands this long while we are away.' },
  { key: 'mqtt.presence', type: 'boolean', default: true, doc: 'Second MQTT connection publishing retained online/offline on oc2/presence/<deviceId>: online while commands reach the agent, offline otherwise and as last will.' },
  { key: 'mqtt.healthIntervalSeconds', type: 'integer', default: 300, min: 0, max: 86400, doc: 'Health notification interval; 0 turns it off.' },
  { key: 'alerts.url', type: 'url', doc: 'Orchestrator alert endpoint, e.g. https://orchestrator:6768/. Alerts over HTTP are off when unset.' },
  { key: 'alerts.tlsCert', type: 'path', doc: 'Client certificate (PEM) presented to the orchestrator; default mqtt.tlsCert.' },
  { key: 'alerts.tlsKey', type: 'path', secret: true, doc: 'Client private key (PEM); default mqtt.tlsKey.' },
  { key: 'alerts.tlsCa', type: 'path', doc: 'CA bundle (PEM) for the orchestrator certificate; default the system trust store.' },
  { key: 'alerts.queueSize', type: 'integer', default: 1000, min: 1, max: 100000, doc: 'Alerts kept on disk (stateDir/alerts) per destination while it is unreachable; the oldest are dropped beyond this.' },
  { key: 'signing.required', type: 'boolean', default: false, doc: 'Refuse commands that are not signed by a trusted producer key.' },
  { key: 'signing.trustedKeys', type: 'list', default: [], doc: 'Trusted producer Ed25519 public keys, `name=base64`, comma separated.' },
  { key: 'signing.replayWindowSeconds', type: 'integer', default: 300, min: 1, max: 86400, doc: 'How far `created` may be from now, and how long request ids are remembered.' },
  { key: 'limits.maxMessageBytes', type: 'integer', default: 1048576, min: 1024, max: 67108864, doc: 'Largest command accepted on any transport.' },
];

/** OPENC2_ + upper snake case of the key: `mqtt.url` -> OPENC2_MQTT_URL, `deviceId` -> OPENC2_DEVICE_ID. */
export function envName(key: string): string {
  return 'OPENC2_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** Kebab case of the key: `mqtt.url` -> mqtt-url, `deviceId` -> device-id. */
export function flagName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/\./g, '-').toLowerCase();
}
