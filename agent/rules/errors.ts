/** Why the rule engine refused or failed a change; the consumer maps `code` to a status. */
export type RuleErrorCode = 'number-in-use' | 'numbers-exhausted' | 'rules-full' | 'unknown-rule' | 'dataplane' | 'storage' | 'closed';

/** A refused or failed rule change, with a stable code. */
export class RuleError extends Error {
  override name = 'RuleError';
  constructor(
    readonly code: RuleErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
