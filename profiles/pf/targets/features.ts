import type { TargetType } from '../../ls/profile.js';

/** `features` (language spec 3.4.1.5, 4.1): what `query features` reports. */
export const features: TargetType = { name: 'features', namespaced: false, type: 'Features' };
