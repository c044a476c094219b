import type { TypeTable } from '../ls/schema.js';

/**
 * Actuator specifiers (PF Table 2.1.4-1, SLPF Table 2.1.4-1). `asset_tuple` has
 * multiplicity 0..10, which the language spec (3.1.3) reads as a list of 1 to 10 strings.
 * Each string is capped at 255 characters (an RFC 1123 host name's limit) so that a valid
 * command stays small enough to keep in the replay cache.
 */
export const SPECIFIERS_TYPES: TypeTable = {
  Specifiers: {
    base: 'Map',
    fields: [
      [1, 'hostname', 'Specifier', '0..1'],
      [2, 'named_group', 'Specifier', '0..1'],
      [3, 'asset_id', 'Specifier', '0..1'],
      [4, 'asset_tuple', 'Specifier-Tuple', '0..1'],
    ],
  },
  Specifier: { base: 'String', maxLength: 255 },
  'Specifier-Tuple': { base: 'ArrayOf', items: 'Specifier', min: 1, max: 10 },
};
