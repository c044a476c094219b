import type { TypeTable } from '../ls/schema.js';

/**
 * Actuator specifiers (PF Table 2.1.4-1, SLPF Table 2.1.4-1). `asset_tuple` has
 * multiplicity 0..10, which the language spec (3.1.3) reads as a list of 1 to 10 strings.
 */
export const SPECIFIERS_TYPES: TypeTable = {
  Specifiers: {
    base: 'Map',
    fields: [
      [1, 'hostname', 'String', '0..1'],
      [2, 'named_group', 'String', '0..1'],
      [3, 'asset_id', 'String', '0..1'],
      [4, 'asset_tuple', 'Specifier-Strings', '0..1'],
    ],
  },
};
