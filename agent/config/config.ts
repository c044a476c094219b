import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseTrustedKeys } from '../codec/signing.js';
import { topicPrefixProblem } from '../transports/mqtt-topics.js';
import { SETTINGS, envName, flagName, type Setting } from './settings.js';

/** The agent's configuration after file, environment and flags are merged (flags win). */
export interface AgentConfig {
  deviceId: string;
  dataplane: 'kernel' | 'sim';
  interfaces: string[];
  namedGroups: string[];
  instance: string;
  stateDir: string;
  runDir: string;
  profiles: ('pf' | 'slpf')[];
  allowInsecure: boolean;
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'text' | 'json' };
  management: { prefixes: string[]; antiLockout: boolean };
  http: {
    enabled: boolean;
    listen: string;
    insecureBind: boolean;
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
    allowedSubjects: string[];
    requestTimeoutSeconds: number;
    responseDeadlineSeconds: number;
  };
  mqtt: {
    url?: string;
    topicPrefix: string;
    clientId?: string;
    username?: string;
    password?: string;
    tlsCa?: string;
    tlsCert?: string;
    tlsKey?: string;
    keepaliveSeconds: number;
    sessionExpirySeconds: number;
    healthIntervalSeconds: number;
    presence: boolean;
  };
  alerts: { url?: string; tlsCert?: string; tlsKey?: string; tlsCa?: string; queueSize: number };
  signing: { required: boolean; trustedKeys: string[]; replayWindowSeconds: number };
  limits: { maxMessageBytes: number };
}

type Raw = string | number | boolean | readonly string[] | unknown;

/** A configuration that failed validation: one line per problem, each naming the key. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Where each value came from, to name it in problems: `config file key mqtt.url`, `OPENC2_MQTT_URL`, `--mqtt-url`. */
type Origin = 'file' | 'env' | 'flag';

function describe(setting: Setting, origin: Origin): string {
  if (origin === 'env') return envName(setting.key);
  if (origin === 'flag') return '--' + flagName(setting.key);
  return setting.key;
}

/** Converts one raw value to the setting's type, or returns the problem. */
function convert(setting: Setting, raw: Raw, origin: Origin): { value?: unknown; problem?: string } {
  const name = describe(setting, origin);
  const text = origin !== 'file' || typeof raw === 'string';
  switch (setting.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      if (text && typeof raw === 'string') {
        if (/^(1|true|yes|on)$/i.test(raw)) return { value: true };
        if (/^(0|false|no|off)$/i.test(raw)) return { value: false };
      }
      return { problem: `${name}: ${JSON.stringify(raw)} is not a boolean (true/false, 1/0)` };
    }
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) return { problem: `${name}: ${JSON.stringify(raw)} is not an integer` };
      if (setting.min !== undefined && n < setting.min) return { problem: `${name}: ${n} is below ${setting.min}` };
      if (setting.max !== undefined && n > setting.max) return { problem: `${name}: ${n} is above ${setting.max}` };
      return { value: n };
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
      if (!items || items.some((i) => typeof i !== 'string')) return { problem: `${name}: expected a list of strings` };
      const bad = setting.choices ? items.find((i: string) => !setting.choices!.includes(i)) : undefined;
      if (bad !== undefined) return { problem: `${name}: ${JSON.stringify(bad)} is not one of ${setting.choices!.join(', ')}` };
      return { value: items };
    }
    default: {
      if (typeof raw !== 'string') return { problem: `${name}: expected a string, got ${JSON.stringify(raw)}` };
      if (setting.choices && !setting.choices.includes(raw)) return { problem: `${name}: ${JSON.stringify(raw)} is not one of ${setting.choices.join(', ')}` };
      if (setting.type === 'path' && raw === '') return { problem: `${name}: empty path` };
      if (setting.type === 'hostport' && parseHostPort(raw) === undefined) return { problem: `${name}: ${JSON.stringify(raw)} is not host:port (IPv6 in brackets, port 0-65535)` };
      if (setting.type === 'url') {
        let url: URL | undefined;
        try {
          url = new URL(raw);
        } catch {
          url = undefined;
        }
        if (!url || !/^(mqtts?|https?):$/.test(url.protocol)) return { problem: `${name}: ${JSON.stringify(raw)} is not an mqtt(s):// or http(s):// URL` };
      }
      return { value: raw };
    }
  }
}

/** Splits `host:port` / `[v6]:port`; undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) return undefined;
  return { host, port };
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[parts.at(-1)!] = value;
}

/** Flattens a parsed JSON config file into dotted keys, reporting keys no setting has. */
function flattenFile(value: unknown, prefix: string, out: Map<string, unknown>, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${prefix || 'config file'}: expected an object`);
    return;
  }
  for (const [name, inner] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (SETTINGS.some((s) => s.key === key)) out.set(key, inner);
    else if (SETTINGS.some((s) => s.key.startsWith(key + '.'))) flattenFile(inner, key, out, problems);
    else problems.push(`${key}: unknown setting`);
  }
}

export interface ConfigSources {
  /** JSON config file path, if any. */
  file?: string;
  env: NodeJS.ProcessEnv;
  /** Flag values from parseArgs, keyed by setting key. */
  flags: ReadonlyMap<string, string | boolean>;
}

/** Merges defaults, file, environment and flags (in rising precedence) and validates. Throws ConfigError. */
export function loadConfig(sources: ConfigSources): AgentConfig {
  const problems: string[] = [];
  const fromFile = new Map<string, unknown>();
  if (sources.file !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      problems.push(`config file ${sources.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (text !== undefined) {
      try {
        flattenFile(JSON.parse(text), '', fromFile, problems);
      } catch (err) {
        problems.push(`config file ${sources.file}: not valid JSON (${(err as Error).message})`);
      }
    }
  }
  const config: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const candidates: [Origin, Raw][] = [];
    if (fromFile.has(setting.key)) candidates.push(['file', fromFile.get(setting.key)]);
    const env = sources.env[envName(setting.key)];
    if (env !== undefined && env !== '') candidates.push(['env', env]);
    if (sources.flags.has(setting.key)) candidates.push(['flag', sources.flags.get(setting.key)]);
    let value: unknown = Array.isArray(setting.default) ? [...setting.default] : setting.default;
    for (const [origin, raw] of candidates) {
      const converted = convert(setting, raw, origin);
      if (converted.problem) problems.push(converted.problem);
      else value = converted.value;
    }
    // Groups (mqtt, alerts, ...) always exist, even when none of their settings has a value.
    if (value !== undefined || setting.key.includes('.')) setPath(config, setting.key, value);
  }
  const agent = config as unknown as AgentConfig;
  if (problems.length === 0) problems.push(...crossCheck(agent));
  if (problems.length > 0) throw new ConfigError(problems);
  return agent;
}

/** Rules that tie settings together. */
function crossCheck(config: AgentConfig): string[] {
  const problems: string[] = [];
  const { http, mqtt } = config;
  if ((http.tlsCert === undefined) !== (http.tlsKey === undefined)) problems.push('http.tlsCert and http.tlsKey: set both or neither');
  if (http.tlsCa !== undefined && http.tlsCert === undefined) problems.push('http.tlsCa: client certificates need HTTPS (set http.tlsCert and http.tlsKey)');
  // HTTPS transfer spec 3.2.4: each side MUST authenticate the other, so HTTPS without client certificates is insecure too.
  if (http.enabled && http.tlsCert !== undefined && http.tlsCa === undefined && !config.allowInsecure) problems.push('http.tlsCa: HTTPS needs a CA for client certificates (mutual TLS), or set allowInsecure');
  if (http.allowedSubjects.length > 0 && http.tlsCa === undefined) problems.push('http.allowedSubjects: subjects come from client certificates; set http.tlsCa');
  if (http.enabled && http.tlsCert === undefined) {
    const host = parseHostPort(http.listen)!.host;
    if (!config.allowInsecure) problems.push('http.listen: plain HTTP needs allowInsecure (OPENC2_ALLOW_INSECURE=1), or set http.tlsCert and http.tlsKey');
    else if (!isLoopback(host) && !http.insecureBind) problems.push(`http.listen: plain HTTP on ${host} is not loopback; set http.insecureBind to allow it`);
  }
  if (mqtt.url !== undefined) {
    const protocol = new URL(mqtt.url).protocol;
    if (protocol !== 'mqtt:' && protocol !== 'mqtts:') problems.push(`mqtt.url: ${protocol}// is not supported; use mqtts:// (or mqtt:// with allowInsecure)`);
    else if (protocol === 'mqtt:' && !config.allowInsecure) problems.push('mqtt.url: mqtt:// is plain text; use mqtts:// or set allowInsecure');
    // A broker CA next to mqtt:// says the operator meant TLS; going plain instead would be silent.
    // (mqtt.tlsCert and tlsKey may be there for HTTPS alerts, which fall back to them.)
    if (protocol === 'mqtt:' && mqtt.tlsCa !== undefined) problems.push('mqtt.tlsCa: a broker CA needs an mqtts:// url, but mqtt.url is mqtt://');
  }
  if ((mqtt.tlsCert === undefined) !== (mqtt.tlsKey === undefined)) problems.push('mqtt.tlsCert and mqtt.tlsKey: set both or neither');
  if (config.alerts.url !== undefined && new URL(config.alerts.url).protocol === 'http:' && !config.allowInsecure) {
    problems.push('alerts.url: http:// is plain text; use https:// or set allowInsecure');
  }
  if (config.alerts.url !== undefined && !/^https?:$/.test(new URL(config.alerts.url).protocol)) problems.push('alerts.url: expected an https:// URL');
  if ((config.alerts.tlsCert === undefined) !== (config.alerts.tlsKey === undefined)) problems.push('alerts.tlsCert and alerts.tlsKey: set both or neither');
  if (config.alerts.url !== undefined && new URL(config.alerts.url).protocol === 'https:' && (config.alerts.tlsCert ?? mqtt.tlsCert) === undefined && !config.allowInsecure) {
    problems.push('alerts.tlsCert: the orchestrator must authenticate the agent (HTTPS transfer spec 3.2.4); set alerts.tlsCert and alerts.tlsKey (or mqtt.tlsCert), or allowInsecure');
  }
  for (const prefix of config.management.prefixes) {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(prefix) || isIP(prefix.split('/')[0]!) === 0) problems.push(`management.prefixes: ${JSON.stringify(prefix)} is not an address/length prefix`);
  }
  try {
    if (parseTrustedKeys(config.signing.trustedKeys).size === 0 && config.signing.required) problems.push('signing.required: no signing.trustedKeys, so every command would be refused');
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(config.instance)) problems.push(`instance: ${JSON.stringify(config.instance)} must be 1-64 of A-Z a-z 0-9 _ . -`);
  const prefixProblem = topicPrefixProblem(mqtt.topicPrefix);
  if (prefixProblem !== undefined) problems.push(`mqtt.topicPrefix: ${JSON.stringify(mqtt.topicPrefix)} ${prefixProblem}`);
  if (!/^[^/#+\s]{1,128}$/.test(config.deviceId)) problems.push(`deviceId: ${JSON.stringify(config.deviceId)} must be 1-128 characters without / # + or spaces (it is an MQTT topic level)`);
  return problems;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
