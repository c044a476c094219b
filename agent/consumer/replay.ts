import type { OpenC2Response } from './consumer.js';

/** A stable text of a decoded command: sorted keys, bytes as hex, so JSON and CBOR forms agree. */
export function fingerprint(value: unknown): string {
  if (value instanceof Uint8Array) return `h'${Buffer.from(value).toString('hex')}'`;
  if (Array.isArray(value)) return `[${value.map(fingerprint).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object).sort().map((k) => `${JSON.stringify(k)}:${fingerprint(object[k])}`).join(',')}}`;
  }
  return typeof value === 'bigint' ? value.toString() : JSON.stringify(value) ?? 'null';
}

interface Entry {
  readonly commandId: string;
  /** The decoded command, fingerprinted only when the same id comes again. */
  readonly command: unknown;
  readonly response: Promise<OpenC2Response>;
}

/**
 * Recent commands by command_id, so a repeated command is answered without being done
 * twice (a QoS 1 redelivery, a producer retry). In-flight commands are included, so two
 * copies arriving together run once. Failures of the consumer itself (5xx) are not kept:
 * a retry may succeed. Rules also remember their command_id across restarts (RuleStore).
 */
export class ReplayCache {
  readonly #entries = new Map<string, Entry>();
  /**
   * The last `capacity` entries remembered, oldest next to be overwritten. Evicting through the
   * Map's own order (`keys().next()`) walks past every slot deleted since V8 last rehashed the
   * Map: 1.7 us per command at 4096 entries, against 0.3 us with this ring.
   */
  readonly #ring: (Entry | undefined)[];
  #oldest = 0;

  constructor(capacity = 4096) {
    this.#ring = new Array<Entry | undefined>(capacity).fill(undefined);
  }

  /** The earlier answer for `commandId`: `same` tells whether the command was the same one. */
  get(commandId: string, command: unknown): { same: boolean; response: Promise<OpenC2Response> } | undefined {
    const entry = this.#entries.get(commandId);
    return entry && { same: fingerprint(entry.command) === fingerprint(command), response: entry.response };
  }

  /** Remembers `response` for `commandId`; drops it again if it turns out to be a 5xx. */
  remember(commandId: string, command: unknown, response: Promise<OpenC2Response>): void {
    const entry: Entry = { commandId, command, response };
    const evicted = this.#ring[this.#oldest];
    // The id may have been remembered again since (after a 5xx): only its own entry goes.
    if (evicted && this.#entries.get(evicted.commandId) === evicted) this.#entries.delete(evicted.commandId);
    this.#ring[this.#oldest] = entry;
    this.#oldest = (this.#oldest + 1) % this.#ring.length;
    this.#entries.set(commandId, entry);
    const forget = () => {
      if (this.#entries.get(commandId) === entry) this.#entries.delete(commandId);
    };
    response.then((r) => {
      if (r.status >= 500) forget();
    }, forget);
  }
}
