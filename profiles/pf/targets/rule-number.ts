import { MAX_RULE_NUMBER } from '../../../agent/rules/store.js';
import type { TargetType } from '../../ls/profile.js';

/**
 * `rule_number` (PF Table 2.1.2-2, SLPF 2.1.2.2): the number the consumer gave a rule.
 * Rule-ID is Integer{0..*}; numbers are capped at 2^32-1 because the kernel maps key
 * rules by a 32-bit number (DESIGN.md section 5).
 */
export const ruleNumber: TargetType = {
  name: 'rule_number',
  namespaced: true,
  type: 'Rule-ID',
  types: { 'Rule-ID': { base: 'Integer', min: 0, max: MAX_RULE_NUMBER } },
};
