import { featureResults } from '../../../profiles/ls/features.js';
import type { Handler } from './context.js';

/** query features (language spec 4.1). */
export const queryFeaturesHandler: Handler = async (command, { profiles }) => {
  const results = featureResults(command.target as string[], profiles);
  return results ? { status: 200, results } : { status: 200 };
};
