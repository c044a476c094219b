/**
 * Response status codes (language spec 3.3.2.1) and the one error class the consumer
 * raises. Code decides status in one table; callers branch on `code`, never on text.
 */

/** The status codes of language spec 3.3.2.1 with their names. */
export const STATUS_TEXT = {
  102: 'Processing',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
} as const;

/** A status code a response may carry. */
export type StatusCode = keyof typeof STATUS_TEXT;

/** Stable error codes, each with the status it answers with. */
export const ERROR_STATUS = {
  /** Malformed command: wrong type, unknown field, bad value (the text names the JSON path). */
  invalid: 400,
  /** Valid command this consumer does not do: target, argument or pair (PF 2.3.1, 2.3.2, 2.3.4.1). */
  unsupported: 501,
  /** Rule number from `insert_rule` already taken (PF 2.3.1: 500; SLPF 2.3.1 says 501, see `RuleNumberInUse`). */
  ruleInUse: 500,
  ruleInUseSlpf: 501,
  /** A rule could not be removed (PF 2.3.4.1, SLPF 2.3.4.1: MUST 500). */
  notRemoved: 500,
  /** Query of a rule the consumer does not hold. */
  notFound: 404,
  /** The consumer failed while doing a valid command (dataplane or state file). */
  internal: 500,
  /** The consumer is closing. */
  unavailable: 503,
} as const satisfies Record<string, StatusCode>;

/** Stable code of a CommandError. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Why a command was not done; `message` becomes the response's status_text. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): StatusCode {
    return ERROR_STATUS[this.code];
  }
}

/** A 400 naming the JSON path: `target.ipv4_connection.src_port: 70000 is above 65535`. */
export function invalid(path: string, problem: string): CommandError {
  return new CommandError('invalid', path === '' ? problem : `${path}: ${problem}`);
}
