import type { TargetType } from '../../ls/profile.js';

/**
 * `pf:advanced_connection` (PF 2.1.2 Table 2.1.2-2, 2.3.1.6). The JADN calls it
 * `adv_connection`; the command matrix and Appendix E say `advanced_connection`
 * (DESIGN.md section 5): both are accepted. Validated, then answered 501: network
 * tags and application names have no place in the rule model yet.
 */
export const advancedConnection: TargetType = {
  name: 'advanced_connection',
  alias: 'adv_connection',
  namespaced: true,
  type: 'Advanced-Connection',
  types: {
    // Null components mean "any" (PF 2.1.2 usage requirements).
    'Advanced-Connection': {
      base: 'Record',
      minFields: 1,
      nullIsAbsent: true,
      fields: [
        [1, 'src_addr', 'Adv-Addr', '0..1'],
        [2, 'src_port', 'Port', '0..1'],
        [3, 'dst_addr', 'Adv-Addr', '0..1'],
        [4, 'dst_port', 'Port', '0..1'],
        [5, 'protocol', 'L4-Protocol', '0..1'],
        [6, 'network', 'String', '0..1'],
        [7, 'application', 'String', '0..1'],
      ],
    },
    // Table 2.1.2-2 makes Adv-Addr a Choice, but Appendix E.1.5 (our contract) writes a
    // bare tag string ("webservers"); addresses are strings too, so String covers E.1.5.
    'Adv-Addr': { base: 'String' },
  },
};
