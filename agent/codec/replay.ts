/**
 * The request ledger: which commands were already handled, and what was answered.
 * QoS 1 delivers at least once (MQTT transfer spec 2.5, MQTT v5 4.3.2), and a broker that
 * restarts redelivers commands whose PUBACK it did not see; a signed command may be replayed
 * by anyone who captured it (DESIGN.md section 5). Both are the same question, "was this
 * command id seen before?", so one ledger answers both: a repeat is not applied again, its
 * first answer is sent again.
 */

/** What the ledger keeps for a handled command: the response it got (undefined: none wanted). */
export interface LedgerEntry<R> {
  readonly response: R | undefined;
  readonly at: number;
}

/**
 * The identity of a command for de-duplication: language spec 3.3.1 makes `command_id`
 * default to the header's `request_id`; `from` keeps two producers' ids apart.
 * Undefined when the command has neither id (it cannot be recognised when repeated).
 */
export function commandKey(from: string | undefined, requestId: string | undefined, command: unknown): string | undefined {
  const commandId = (command as { command_id?: unknown } | null)?.command_id;
  const id = typeof commandId === 'string' && commandId !== '' ? commandId : requestId;
  return id === undefined ? undefined : `${from ?? ''}\u0000${id}`;
}

/** Bounded in count and age; the oldest entries leave first. Times are milliseconds from the caller's clock. */
export class RequestLedger<R> {
  readonly #entries = new Map<string, LedgerEntry<R>>();

  /**
   * `ttlMs`: how long an entry counts (at least the replay window and the time a broker may
   * hold an unacknowledged command). `capacity`: most entries kept, so memory stays bounded.
   */
  constructor(
    readonly ttlMs: number,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The earlier handling of `key`, if it is still remembered at `now`. */
  lookup(key: string, now: number): LedgerEntry<R> | undefined {
    this.#expire(now);
    return this.#entries.get(key);
  }

  /** Remembers that `key` was handled at `now` and answered with `response`. */
  record(key: string, response: R | undefined, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { response, at: now });
    this.#expire(now);
    // Map iteration is insertion order, so the first key is the oldest.
    while (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.at <= this.ttlMs) break;
      this.#entries.delete(key);
    }
  }
}
