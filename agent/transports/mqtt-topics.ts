import type { Encoding } from '../codec/codec.js';

/**
 * The OpenC2 topic tree (MQTT transfer spec 2.2, table 2-1) and the PUBLISH properties that
 * frame an OpenC2 message (spec 2.4.1 and 3.2), in one place.
 */

/** `msgType` user property values (spec 2.4.1). */
export type MessageType = 'req' | 'rsp' | 'ntf';

/** Content Type of every OpenC2 PUBLISH (spec 2.4.1, 3.2). */
export const CONTENT_TYPE = 'application/openc2';

/** The topics of one device under one prefix. */
export interface TopicTree {
  /** Command topics the consumer subscribes to (spec 3.3). */
  readonly commands: readonly string[];
  readonly all: string;
  readonly device: string;
  /** General response topic, also used for notifications, which have no topic of their own. */
  readonly responses: string;
  /** Retained presence (birth and last will) of the presence connection; not an OpenC2 message. */
  readonly presence: string;
  /** Response topic of one producer, or the general one when `producer` cannot be a topic level. */
  responsesFor(producer: string | undefined): string;
}

/** True when `level` can be one MQTT topic level: non-empty, no separator or wildcard (MQTT v5 4.7). */
export function isTopicLevel(level: string): boolean {
  return level !== '' && !/[/#+\u0000]/.test(level) && Buffer.byteLength(level) <= 1024;
}

/** The prefix's topic levels as they go in front of `oc2/...`; trailing slashes are dropped. */
function prefixLevels(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/**
 * What is wrong with a topic prefix, if anything. It goes in front of every topic the agent
 * subscribes to: a wildcard there would subscribe it to other tenants' commands, brokers refuse
 * to publish to one, and a first level starting with `$` is the broker's own ($SYS).
 */
export function topicPrefixProblem(prefix: string): string | undefined {
  const levels = prefixLevels(prefix);
  if (levels === '') return undefined;
  if (levels.startsWith('$')) return 'must not start with $ (topics of the broker itself)';
  if (!levels.split('/').every((level) => isTopicLevel(level) && !/[\s\p{Cc}]/u.test(level))) return 'must be topic levels without # + spaces, control characters or empty levels';
  return undefined;
}

/**
 * Topics for one device. `prefix` puts the `oc2/` tree under a tenant's folder on a shared
 * broker: `tenant-a` and `tenant-a/` both give `tenant-a/oc2/...`.
 */
export function topicTree(prefix: string, deviceId: string, profiles: readonly string[]): TopicTree {
  const root = prefix === '' ? 'oc2' : `${prefixLevels(prefix)}/oc2`;
  const all = `${root}/cmd/all`;
  const device = `${root}/cmd/device/${deviceId}`;
  const responses = `${root}/rsp`;
  return {
    commands: [all, ...profiles.map((p) => `${root}/cmd/ap/${p}`), device],
    all,
    device,
    responses,
    presence: `${root}/presence/${deviceId}`,
    responsesFor: (producer) => (producer !== undefined && isTopicLevel(producer) ? `${responses}/${producer}` : responses),
  };
}

/** MQTT v5 PUBLISH properties as MQTT.js passes them. */
export interface PublishProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  userProperties?: Record<string, string | string[]>;
}

function frozenProperties(msgType: MessageType, encoding: Encoding): PublishProperties {
  return Object.freeze({ payloadFormatIndicator: encoding === 'json', contentType: CONTENT_TYPE, userProperties: Object.freeze({ msgType, encoding }) });
}

/** Built once and frozen: MQTT.js only reads them (it copies them before adding a topic alias). */
const PUBLISH_PROPERTIES: Readonly<Record<MessageType, Readonly<Record<Encoding, PublishProperties>>>> = {
  req: { json: frozenProperties('req', 'json'), cbor: frozenProperties('req', 'cbor') },
  rsp: { json: frozenProperties('rsp', 'json'), cbor: frozenProperties('rsp', 'cbor') },
  ntf: { json: frozenProperties('ntf', 'json'), cbor: frozenProperties('ntf', 'cbor') },
};

/**
 * Properties of an OpenC2 PUBLISH (spec 3.2): format indicator 1 for UTF-8 JSON, 0 for CBOR.
 * The object is shared and frozen (one per pair, not one per response); spread it to change a field.
 */
export function publishProperties(msgType: MessageType, encoding: Encoding): PublishProperties {
  return PUBLISH_PROPERTIES[msgType][encoding];
}

/** What the PUBLISH properties of a received frame say, and what is wrong with them. */
export interface FrameProperties {
  readonly msgType?: string;
  /** Encoding to decode with: the `encoding` property, else guessed from the format indicator and first byte. */
  readonly encoding: Encoding;
  /** Problems that make the frame not an OpenC2 request by spec 3.2; empty when it is one. */
  readonly problems: readonly string[];
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads the framing of a received PUBLISH (spec 2.4.1, 3.2). */
export function readFrameProperties(properties: PublishProperties | undefined, payload: Uint8Array): FrameProperties {
  const problems: string[] = [];
  const user = properties?.userProperties ?? {};
  const msgType = single(user.msgType);
  const declared = single(user.encoding);
  const contentType = properties?.contentType;
  // Media type parameters (";version=...") do not change what the payload is. The exact type,
  // what producers send, is checked first: splitting it on every command showed in profiles.
  if (contentType !== CONTENT_TYPE && contentType?.split(';')[0]!.trim().toLowerCase() !== CONTENT_TYPE) problems.push(`Content Type ${JSON.stringify(contentType ?? null)} is not ${CONTENT_TYPE}`);
  if (msgType === undefined) problems.push('user property msgType is missing');
  let encoding: Encoding;
  if (declared === 'json' || declared === 'cbor') encoding = declared;
  else {
    problems.push(declared === undefined ? 'user property encoding is missing' : `user property encoding ${JSON.stringify(declared)} is not json or cbor`);
    // Guess only to find the request_id for the error response.
    encoding = properties?.payloadFormatIndicator || payload[0] === 0x7b ? 'json' : 'cbor';
  }
  return msgType === undefined ? { encoding, problems } : { msgType, encoding, problems };
}
