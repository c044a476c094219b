import { targetName, type Profile } from './profile.js';
import { VERSIONS } from './types.js';

/**
 * `query features` results (language spec 4.1): only the features asked for, each
 * once (duplicates ignored, 3.4.1.5); none asked gives 200 with no results.
 * `rate_limit` is left out, which 4.1 allows, because the agent sets no rate limit.
 */
export function featureResults(features: readonly string[], profiles: readonly Profile[]): Record<string, unknown> | undefined {
  const results: Record<string, unknown> = {};
  for (const feature of new Set(features)) {
    if (feature === 'versions') results.versions = [...VERSIONS];
    else if (feature === 'profiles') results.profiles = profiles.map((p) => p.nsid);
    else if (feature === 'pairs') results.pairs = pairs(profiles);
  }
  return Object.keys(results).length > 0 ? results : undefined;
}

/** Action -> targets this consumer implements, from the profiles' pair tables (language spec 3.4.2.1). */
export function pairs(profiles: readonly Profile[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const profile of profiles) {
    for (const pair of profile.pairs) {
      if (!pair.handler) continue;
      const targets = (out[pair.action] ??= []);
      const name = targetName(profile, pair.target);
      if (!targets.includes(name)) targets.push(name);
    }
  }
  return out;
}
