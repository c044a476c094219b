import type { TypeTable } from './schema.js';

/** Actions of the language spec (3.3.1.1). A profile implements a subset; the rest answer 501. */
export const ACTIONS = [
  'scan', 'locate', 'query', 'deny', 'contain', 'allow', 'start', 'stop', 'restart', 'cancel',
  'set', 'update', 'redirect', 'create', 'delete', 'detonate', 'restore', 'copy', 'investigate', 'remediate',
] as const;

/** Targets of the language spec (3.3.1.2): a valid name a profile does not serve answers 501, an unknown name 400. */
export const TARGETS = [
  'artifact', 'command', 'device', 'domain_name', 'email_addr', 'features', 'file', 'idn_domain_name', 'idn_email_addr',
  'ipv4_net', 'ipv6_net', 'ipv4_connection', 'ipv6_connection', 'iri', 'mac_addr', 'process', 'properties', 'uri',
] as const;

/** Language versions this consumer speaks (`query features` `versions`). */
export const VERSIONS = ['1.0'] as const;

/** Protocol numbers of the L4-Protocol names (language spec 3.4.2.10). */
export const L4_PROTOCOL: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };

/** IPv4-Connection and IPv6-Connection (language spec 3.4.1.10/12): the same 5-tuple, one address family. */
function connection(net: 'IPv4-Net' | 'IPv6-Net'): TypeTable[string] {
  return {
    base: 'Record',
    minFields: 1,
    fields: [
      [1, 'src_addr', net, '0..1'],
      [2, 'src_port', 'Port', '0..1'],
      [3, 'dst_addr', net, '0..1'],
      [4, 'dst_port', 'Port', '0..1'],
      [5, 'protocol', 'L4-Protocol', '0..1'],
    ],
  };
}

/** The language-spec types the profiles use (language spec 3.3 and 3.4). */
export const LS_TYPES: TypeTable = {
  Action: { base: 'Enumerated', names: ACTIONS },
  'Command-ID': { base: 'String', pattern: /^\S{0,36}$/, patternText: 'a Command-ID (0-36 characters, no spaces)' },
  'Date-Time': { base: 'Integer', min: 0 },
  Duration: { base: 'Integer', min: 0 },
  'Response-Type': { base: 'Enumerated', names: ['none', 'ack', 'status', 'complete'] },
  Port: { base: 'Integer', min: 0, max: 65535 },
  'L4-Protocol': { base: 'Enumerated', names: Object.keys(L4_PROTOCOL) },
  'IPv4-Net': { base: 'Net', family: 4 },
  'IPv6-Net': { base: 'Net', family: 6 },
  'IPv4-Connection': connection('IPv4-Net'),
  'IPv6-Connection': connection('IPv6-Net'),
  // Duplicates are allowed on input: a consumer SHOULD ignore them (language spec 3.4.1.5).
  Features: { base: 'ArrayOf', items: 'Feature', max: 10 },
  Feature: { base: 'Enumerated', names: ['versions', 'profiles', 'pairs', 'rate_limit'] },
  File: {
    base: 'Map',
    minFields: 1,
    fields: [
      [1, 'name', 'String', '0..1'],
      [2, 'path', 'String', '0..1'],
      [3, 'hashes', 'Hashes', '0..1'],
    ],
  },
  Hashes: {
    base: 'Map',
    minFields: 1,
    fields: [
      [1, 'md5', 'Binary-Hex', '0..1'],
      [2, 'sha1', 'Binary-Hex', '0..1'],
      [3, 'sha256', 'Binary-Hex', '0..1'],
    ],
  },
  'Binary-Hex': { base: 'Binary', hex: true },
  // RFC 1034 section 3.5 labels, with the RFC 1123 relaxation that a label may start with a digit.
  'Domain-Name': {
    base: 'String',
    maxLength: 253,
    pattern: /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
    patternText: 'a domain name (RFC 1034)',
  },
  String: { base: 'String' },
  Boolean: { base: 'Boolean' },
};
