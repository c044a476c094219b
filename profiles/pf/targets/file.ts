import type { TargetType } from '../../ls/profile.js';

/** `file` (language spec 3.4.1.6) for `update file` (PF 2.3.5.1); answered 501 until rule-set files land. */
export const file: TargetType = { name: 'file', namespaced: false, type: 'File' };
