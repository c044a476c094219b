import { constants, writeSync } from 'node:fs';
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import type { Prefix, Rule, RuleMatch } from './model.js';
import { formatPrefix, parsePrefix } from './prefix.js';
import { shapeRule } from './rule-shape.js';

/**
 * One directory's rules on disk: a snapshot `rules.jsonl` (header line, then one rule
 * per line) replaced atomically (write temp, fsync, rename, fsync dir), and a journal
 * `rules.journal` of changes since, appended with fdatasync before a change is
 * answered. Appends that arrive while a sync runs share the next one (group commit).
 * Loading replays the journal over the snapshot and ignores a torn last line.
 */

/** A stored rule and the command that made it (for idempotent replays, language spec 3.3.1). */
export interface RuleRecord {
  readonly rule: Rule;
  readonly commandId?: string;
}

/** One journal line: a rule added (whole) or deleted (by number). */
export type JournalEntry = { readonly op: 'add'; readonly record: RuleRecord } | { readonly op: 'del'; readonly number: number };

const SNAPSHOT = 'rules.jsonl';
const JOURNAL = 'rules.journal';
const FORMAT = 1;

function encodeMatch(match: RuleMatch): Record<string, unknown> {
  const p = (prefix: Prefix | undefined) => prefix && formatPrefix(prefix);
  return { ...match, either: p(match.either), src: p(match.src), dst: p(match.dst) };
}

function decodeMatch(raw: Record<string, unknown>): RuleMatch {
  const family = raw.family as 4 | 6;
  const p = (text: unknown): Prefix | undefined => {
    if (text === undefined) return undefined;
    const prefix = parsePrefix(text as string, family);
    if (typeof prefix === 'string') throw new Error(`bad prefix in state file: ${prefix}`);
    return prefix;
  };
  const match: Record<string, unknown> = { ...raw, either: p(raw.either), src: p(raw.src), dst: p(raw.dst) };
  return match as unknown as RuleMatch;
}

/** The JSON form of a record: the rule with CIDR-text prefixes. */
export function encodeRecord(record: RuleRecord): Record<string, unknown> {
  return { ...record.rule, match: encodeMatch(record.rule.match), commandId: record.commandId };
}

/** Inverse of encodeRecord. */
export function decodeRecord(json: unknown): RuleRecord {
  const raw = json as Record<string, unknown> & { commandId?: string; match: Record<string, unknown> };
  const { commandId, ...rule } = raw;
  const decoded = shapeRule({ ...rule, match: decodeMatch(raw.match) } as unknown as Rule);
  // Plain literals: records built by spread land in dictionary mode (see rule-shape.ts).
  return commandId === undefined ? { rule: decoded } : { rule: decoded, commandId };
}

/** What a directory held: its records and the next rule number it had seen. */
export interface LoadedRules {
  readonly records: Map<number, RuleRecord>;
  readonly nextNumber: number;
}

/** The snapshot and journal of one directory (stateDir or runDir). */
export class RuleFile {
  readonly #dir: string;
  /** fdatasync each append: on for flash-backed state, off for tmpfs /run where a reboot erases the file anyway. */
  readonly #durable: boolean;
  #journal: FileHandle | undefined;
  #lines = 0;
  #pending: { line: string; done: (err?: Error) => void }[] = [];
  #flushing: Promise<void> | undefined;

  constructor(dir: string, durable: boolean) {
    this.#dir = dir;
    this.#durable = durable;
  }

  /** Journal lines since the last snapshot; the owner compacts when this grows past the rule count. */
  get journalLines(): number {
    return this.#lines;
  }

  /**
   * Reads snapshot then journal, a line at a time so that 100k rules never sit in memory
   * as one text. A missing directory or file is an empty rule set.
   */
  async load(): Promise<LoadedRules> {
    const records = new Map<number, RuleRecord>();
    let nextNumber = 1;
    const snapshot = join(this.#dir, SNAPSHOT);
    let header = true;
    for await (const line of readLines(snapshot)) {
      if (header) {
        const head = JSON.parse(line) as { format?: number; nextNumber?: number };
        if (head.format !== FORMAT) throw new Error(`${snapshot}: unknown format ${head.format}`);
        nextNumber = head.nextNumber ?? 1;
        header = false;
        continue;
      }
      const record = decodeRecord(JSON.parse(line));
      records.set(record.rule.number, record);
    }
    const journal = join(this.#dir, JOURNAL);
    let torn: string | undefined;
    let lineNumber = 0;
    for await (const line of readLines(journal)) {
      lineNumber++;
      // Only the last line can be torn by a crash mid-append; a bad line followed by more is corruption.
      if (torn !== undefined) throw new Error(`${journal} line ${lineNumber - 1}: ${torn}`);
      let entry: { op: string; number?: number; rule?: unknown };
      try {
        entry = JSON.parse(line);
      } catch (err) {
        torn = (err as Error).message;
        continue;
      }
      if (entry.op === 'add') {
        const record = decodeRecord(entry.rule!);
        records.set(record.rule.number, record);
        // A number stays used after its rule is deleted: numbers are never reused (PF 2.1.3 insert_rule: immutable).
        nextNumber = Math.max(nextNumber, record.rule.number + 1);
      } else records.delete(entry.number!);
    }
    for (const number of records.keys()) nextNumber = Math.max(nextNumber, number + 1);
    return { records, nextNumber };
  }

  /** Appends one change; resolves once it is on disk. */
  append(entry: JournalEntry): Promise<void> {
    const line = entry.op === 'add' ? JSON.stringify({ op: 'add', rule: encodeRecord(entry.record) }) : JSON.stringify({ op: 'del', number: entry.number });
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ line, done: (err) => (err ? reject(err) : resolve()) });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      // On tmpfs the write syscall is most of what a change costs here: the appends of one
      // event-loop turn (a burst of pipelined commands) share one.
      if (!this.#durable) await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          this.#journal ??= await this.#openJournal('a');
          const text = batch.map((b) => b.line).join('\n') + '\n';
          if (this.#durable) {
            await this.#journal.write(text);
            await this.#journal.datasync();
          } else {
            // tmpfs: the write is a copy into memory, cheaper than the thread-pool hop an async
            // write costs (and the scheduler wake-up behind it, which is what a busy router waits on).
            writeSync(this.#journal.fd, text);
          }
          this.#lines += batch.length;
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err as Error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #openJournal(flags: string): Promise<FileHandle> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    return open(join(this.#dir, JOURNAL), flags, 0o600);
  }

  /**
   * Writes all `records` as the new snapshot and empties the journal. A crash between
   * the rename and the truncation leaves a journal that replays onto the new snapshot
   * without effect: adds overwrite, deletes of absent rules do nothing.
   */
  async compact(records: Iterable<RuleRecord>, nextNumber: number): Promise<void> {
    await this.#flushing;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const target = join(this.#dir, SNAPSHOT);
    const temp = `${target}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      let chunk: string[] = [JSON.stringify({ format: FORMAT, nextNumber })];
      for (const record of records) {
        chunk.push(JSON.stringify(encodeRecord(record)));
        // Written in slices so 100k rules never sit in memory as one string.
        if (chunk.length >= 2048) {
          await file.write(chunk.join('\n') + '\n');
          chunk = [];
        }
      }
      await file.write(chunk.join('\n') + (chunk.length > 0 ? '\n' : ''));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
    await syncDir(this.#dir);
    await this.#journal?.close();
    // Cleared first: if reopening fails, the next append reopens instead of writing to a closed handle.
    this.#journal = undefined;
    this.#journal = await this.#openJournal('w');
    if (this.#durable) await this.#journal.sync();
    this.#lines = 0;
  }

  async close(): Promise<void> {
    await this.#flushing;
    await this.#journal?.close();
    this.#journal = undefined;
  }
}

/** The non-empty lines of a file, read in 1 MiB slices; none when the file does not exist. */
async function* readLines(path: string): AsyncGenerator<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const lines = (rest + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line !== '') yield line;
    }
    rest += decoder.end();
    if (rest !== '') yield rest;
  } finally {
    await handle.close();
  }
}

/** fsync of the directory makes the rename itself durable (ext4/ubifs need it). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
