import type { Family, Prefix } from './model.js';

/**
 * Address and prefix text forms: strict parsers (no leading zeros, no zone ids) and
 * the canonical printers (dotted quad; RFC 5952 for IPv6). Shared by the OpenC2 side,
 * which reads CIDR strings, and the state files, which store them.
 */

/** Dotted quad, read one character at a time: splitting and a regex per part showed in bench:mqtt profiles. */
function parseIPv4(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  // One past the end stands for a closing '.', so the last part is checked like the others.
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part === 4 || value > 255) return undefined;
      bytes[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      // Leading zeros are refused: some stacks read them as octal (RFC 6943 section 3.1.1).
      if (digits === 3 || (digits > 0 && value === 0)) return undefined;
      value = value * 10 + (c - 0x30);
      digits++;
    } else return undefined;
  }
  return part === 4 ? bytes : undefined;
}

function parseIPv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const items = half.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Parses an address of the given family; undefined when the text is not one. */
export function parseAddress(text: string, family: Family): Uint8Array | undefined {
  return family === 4 ? parseIPv4(text) : parseIPv6(text);
}

/** Canonical text of a 4- or 16-byte address (RFC 5952 section 4 for IPv6). */
export function formatAddress(address: Uint8Array): string {
  if (address.length === 4) return `${address[0]}.${address[1]}.${address[2]}.${address[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((address[i]! << 8) | address[i + 1]!);
  // Longest run of two or more zero groups becomes `::`, the first one on a tie.
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLength).join(':');
}

/** True when bits past `length` are not all zero. */
export function hostBitsSet(address: Uint8Array, length: number): boolean {
  for (let bit = length; bit < address.length * 8; bit++) {
    if (address[bit >> 3]! & (0x80 >> (bit & 7))) return true;
  }
  return false;
}

/**
 * Reads `address` or `address/length`. Returns the problem as a string when the text
 * is not a prefix of `family` with host bits zero.
 */
export function parsePrefix(text: string, family: Family): Prefix | string {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText, family);
  if (!address) return `${JSON.stringify(addressText)} is not an IPv${family} address`;
  const max = family === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lengthText) || Number(lengthText) > max) return `prefix length ${JSON.stringify(lengthText)} is not 0..${max}`;
    length = Number(lengthText);
  }
  return makePrefix(address, length, family);
}

/** A prefix from bytes (CBOR form); the problem as a string when it is not valid. */
export function makePrefix(address: Uint8Array, length: number, family: Family): Prefix | string {
  const max = family === 4 ? 32 : 128;
  if (address.length !== max / 8) return `address of ${address.length} bytes is not an IPv${family} address`;
  if (!Number.isInteger(length) || length < 0 || length > max) return `prefix length ${length} is not 0..${max}`;
  if (hostBitsSet(address, length)) return `${formatAddress(address)}/${length} has host bits set`;
  return { family, address: keep(address), length };
}

/** Bytes per slab of prefix addresses: 256 IPv6 or 1024 IPv4 addresses. */
const SLAB_BYTES = 4096;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/**
 * A copy of an address in a slab that holds only prefix addresses. A Uint8Array with its own
 * ArrayBuffer costs about twice the memory; Node's shared Buffer pool, used before, also holds
 * the frames and responses of every command, so each long-lived rule kept a mostly-garbage
 * 8 KiB slab alive (heap snapshot, 50k rules by command with a frame each: 251 bytes of
 * ArrayBuffer data per rule).
 */
function keep(address: Uint8Array): Uint8Array {
  if (slabUsed + address.length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const copy = Buffer.from(slab, slabUsed, address.length);
  copy.set(address);
  slabUsed += address.length;
  return copy;
}

/** `address/length`, or the bare address for a host prefix. */
export function formatPrefix(prefix: Prefix): string {
  const text = formatAddress(prefix.address);
  return prefix.length === prefix.address.length * 8 ? text : `${text}/${prefix.length}`;
}
