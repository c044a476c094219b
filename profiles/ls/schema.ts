import type { Family, Prefix } from '../../agent/rules/model.js';
import { makePrefix, parsePrefix } from '../../agent/rules/prefix.js';
import { invalid } from './status.js';

/**
 * OpenC2 types as data, close to the JADN of the specs (language spec 3.1.1), and the
 * one validator that checks a decoded value against them. Profiles add their own
 * tables; the validator never knows which profile a type came from.
 */

/** `[id, name, type, multiplicity]` as in the property tables: `1` required, `0..1` optional. */
export type Field = readonly [id: number, name: string, type: string, multiplicity: '1' | '0..1'];

/** One type definition; `base` is the JADN base type. */
export type TypeDef =
  /** Record and Map: an object with named fields; `minFields` for `{1..*}`; `nullIsAbsent` where a spec says null means "any". */
  | { readonly base: 'Record' | 'Map'; readonly fields: readonly Field[]; readonly minFields?: number; readonly nullIsAbsent?: boolean }
  /** Exactly one of the fields; `aliases` maps other accepted names to a field name. */
  | { readonly base: 'Choice'; readonly fields: readonly Field[]; readonly aliases?: Readonly<Record<string, string>> }
  | { readonly base: 'Enumerated'; readonly names: readonly string[] }
  | { readonly base: 'Integer'; readonly min?: number; readonly max?: number }
  | { readonly base: 'Number'; readonly min?: number }
  | { readonly base: 'String'; readonly maxLength?: number; readonly pattern?: RegExp; readonly patternText?: string }
  | { readonly base: 'Boolean' }
  /** Binary: bytes in CBOR, text in JSON (hex for `/x`). */
  | { readonly base: 'Binary'; readonly hex?: boolean }
  | { readonly base: 'ArrayOf'; readonly items: string; readonly min?: number; readonly max?: number }
  /** `Array /ipv4-net` and `/ipv6-net`: CIDR text, or `[address bytes, prefix]` from CBOR (DESIGN.md section 5). */
  | { readonly base: 'Net'; readonly family: Family };

/** Types by name, as a JADN schema's `types`. */
export type TypeTable = Readonly<Record<string, TypeDef>>;

/** The validated value: the input with Net values turned into `Prefix`. */
export type Value = unknown;

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'bigint') return value.toString();
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

/** True for a map-like decoded value: a plain object, not an array or bytes. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

/** Field names of each Record, Map and Choice, found once: the validator checks every key of every command against them. */
const fieldNames = new WeakMap<readonly Field[], ReadonlySet<string>>();

function namesOf(fields: readonly Field[]): ReadonlySet<string> {
  let names = fieldNames.get(fields);
  if (!names) fieldNames.set(fields, (names = new Set(fields.map((f) => f[1]))));
  return names;
}

/** Checks `value` against type `name` of `table`; throws a 400 CommandError naming the path. */
export function validate(value: unknown, name: string, table: TypeTable, path: string): Value {
  const def = table[name];
  if (!def) throw new Error(`schema: type ${name} is not defined`);
  switch (def.base) {
    case 'Record':
    case 'Map': {
      if (!isObject(value)) throw invalid(path, `expected an object (${name}), got ${describe(value)}`);
      const out: Record<string, unknown> = {};
      const names = namesOf(def.fields);
      for (const key of Object.keys(value)) {
        if (!names.has(key)) throw invalid(join(path, key), `unknown field of ${name} (expected ${def.fields.map((f) => f[1]).join(', ')})`);
      }
      let present = 0;
      for (const [, field, type, multiplicity] of def.fields) {
        const inner = value[field];
        if (inner === undefined || (inner === null && def.nullIsAbsent)) {
          if (multiplicity === '1') throw invalid(join(path, field), 'missing');
          continue;
        }
        out[field] = validate(inner, type, table, join(path, field));
        present++;
      }
      if (def.minFields !== undefined && present < def.minFields) {
        throw invalid(path, `empty ${name}: needs at least one of ${def.fields.map((f) => f[1]).join(', ')}`);
      }
      return out;
    }
    case 'Choice': {
      if (!isObject(value)) throw invalid(path, `expected an object with one of ${def.fields.map((f) => f[1]).join(', ')}, got ${describe(value)}`);
      const keys = Object.keys(value);
      if (keys.length !== 1) {
        throw invalid(path, keys.length === 0 ? `empty: expected one of ${def.fields.map((f) => f[1]).join(', ')}` : `expected exactly one of ${name}, got ${keys.join(', ')}`);
      }
      const key = keys[0]!;
      const fieldName = def.aliases?.[key] ?? key;
      const field = def.fields.find((f) => f[1] === fieldName);
      if (!field) throw invalid(join(path, key), `unknown choice of ${name} (expected ${def.fields.map((f) => f[1]).join(', ')})`);
      return { [fieldName]: validate(value[key], field[2], table, join(path, key)) };
    }
    case 'Enumerated':
      if (typeof value !== 'string' || !def.names.includes(value)) throw invalid(path, `${describe(value)} is not one of ${def.names.join(', ')}`);
      return value;
    case 'Integer': {
      // CBOR may carry integers as bigint; only safe integers are meaningful here.
      const n = typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(path, `expected an integer, got ${describe(value)}`);
      if (def.min !== undefined && n < def.min) throw invalid(path, `${n} is below ${def.min}`);
      if (def.max !== undefined && n > def.max) throw invalid(path, `${n} is above ${def.max}`);
      return n;
    }
    case 'Number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(path, `expected a number, got ${describe(value)}`);
      if (def.min !== undefined && value < def.min) throw invalid(path, `${value} is below ${def.min}`);
      return value;
    case 'String':
      if (typeof value !== 'string') throw invalid(path, `expected a string, got ${describe(value)}`);
      if (def.maxLength !== undefined && value.length > def.maxLength) throw invalid(path, `string of ${value.length} characters is longer than ${def.maxLength}`);
      if (def.pattern && !def.pattern.test(value)) throw invalid(path, `${describe(value)} is not ${def.patternText ?? `a match for ${def.pattern}`}`);
      return value;
    case 'Boolean':
      if (typeof value !== 'boolean') throw invalid(path, `expected true or false, got ${describe(value)}`);
      return value;
    case 'Binary':
      if (value instanceof Uint8Array) return value;
      if (typeof value !== 'string' || !(def.hex ? /^([0-9A-F]{2})*$/ : /^[A-Za-z0-9_-]*$/).test(value)) {
        throw invalid(path, `expected ${def.hex ? 'upper-case hex' : 'base64url'} bytes, got ${describe(value)}`);
      }
      return value;
    case 'ArrayOf': {
      if (!Array.isArray(value)) throw invalid(path, `expected a list, got ${describe(value)}`);
      if (def.min !== undefined && value.length < def.min) throw invalid(path, `list of ${value.length} items is shorter than ${def.min}`);
      if (def.max !== undefined && value.length > def.max) throw invalid(path, `list of ${value.length} items is longer than ${def.max}`);
      return value.map((item, i) => validate(item, def.items, table, join(path, i)));
    }
    case 'Net':
      return readNet(value, def.family, path);
  }
}

function readNet(value: unknown, family: Family, path: string): Prefix {
  let prefix: Prefix | string;
  if (typeof value === 'string') prefix = parsePrefix(value, family);
  else if (Array.isArray(value) && value[0] instanceof Uint8Array && (value.length === 1 || (value.length === 2 && typeof value[1] === 'number'))) {
    prefix = makePrefix(value[0], value.length === 2 ? (value[1] as number) : family === 4 ? 32 : 128, family);
  } else {
    throw invalid(path, `expected IPv${family} CIDR text or [address bytes, prefix length], got ${describe(value)}`);
  }
  if (typeof prefix === 'string') throw invalid(path, prefix);
  return prefix;
}
