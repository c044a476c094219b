import type { TargetType } from '../../ls/profile.js';

/**
 * `domain_name` (PF 2.3.1.5). Validated, then answered 501: filtering by name needs a
 * resolver or DNS snooping that this agent does not have yet.
 */
export const domainName: TargetType = { name: 'domain_name', namespaced: false, type: 'Domain-Name' };
