import type { Dataplane } from '../dataplane/dataplane.js';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock } from './clock.js';
import { FIRST_RULE_SLOT, MAX_SLOTS } from './compile.js';
import { RuleError } from './errors.js';
import type { Rule } from './model.js';
import { RuleFile, type RuleRecord } from './persist.js';
import { PrecedenceList } from './precedence.js';
import { shapeRule } from './rule-shape.js';
import { Schedule } from './schedule.js';

/** Largest rule number: the kernel keys rules by a 32-bit number. */
export const MAX_RULE_NUMBER = 0xffffffff;

/**
 * Most rules the store holds: one kernel counter slot each (pf_abi.h PF_MAX_SLOTS), and the
 * heap the agent ships with is sized for them. Scheduled rules count: each needs its slot
 * when it starts, and a start must not fail for want of one.
 */
export const MAX_RULES = MAX_SLOTS - FIRST_RULE_SLOT;

/** A rule as a command asks for it; the store gives the number. */
export type NewRule = Omit<Rule, 'number'>;

/** Where the store keeps and enforces rules. */
export interface RuleStoreOptions {
  readonly dataplane: Dataplane;
  /** Persistent rules, on flash: they survive reboots. */
  readonly stateDir: string;
  /** Non-persistent rules, on tmpfs: they survive agent restarts (the kernel keeps enforcing them) but not reboots. */
  readonly runDir: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Told when a scheduled start or stop time changes what is enforced (for alerts to the orchestrator). */
  readonly onRuleEvent?: (event: RuleEvent) => void;
}

/** A change no command asked for at that moment: a rule's start_time or stop_time came. */
export interface RuleEvent {
  readonly event: 'rule_started' | 'rule_expired';
  readonly rule: number;
}

/** Whether a rule is in force at `now`: started and not stopped. */
export function inForce(rule: Rule, now: number): boolean {
  return (rule.start === undefined || rule.start <= now) && (rule.stop === undefined || now < rule.stop);
}

/**
 * The rule store: every rule by number, the enforced ones in precedence order, their
 * start/stop schedule and their files. Changes run one at a time; each is applied to
 * the dataplane (one `insert`/`remove`, never a full replace) and journaled before it
 * is answered, and undone when either fails, so no command is ever half applied.
 */
export class RuleStore {
  readonly #dataplane: Dataplane;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #onRuleEvent: (event: RuleEvent) => void;
  readonly #files: { readonly persistent: RuleFile; readonly volatile: RuleFile };
  readonly #records = new Map<number, RuleRecord>();
  readonly #byCommand = new Map<string, number>();
  readonly #enforced = new PrecedenceList();
  readonly #schedule: Schedule;
  #persistentCount = 0;
  /** Deletes out of the maps whose journal line is not on disk yet. */
  #deleting = 0;
  #nextNumber = 1;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: RuleStoreOptions) {
    this.#dataplane = options.dataplane;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#onRuleEvent = options.onRuleEvent ?? (() => {});
    // /run is tmpfs: fdatasync there buys nothing, a reboot empties it by design.
    this.#files = { persistent: new RuleFile(options.stateDir, true), volatile: new RuleFile(options.runDir, false) };
    this.#schedule = new Schedule(this.#clock, (number) => void this.#exclusive(() => this.#due(number)).catch((err) => this.#logger.error('scheduled rule change failed', { rule: number, err })));
  }

  /**
   * Loads both rule files, drops rules whose stop time passed while the agent was down,
   * hands the dataplane the rules in force as one generation and arms the schedule.
   */
  static async open(options: RuleStoreOptions): Promise<RuleStore> {
    const store = new RuleStore(options);
    await store.#restore();
    return store;
  }

  async #restore(): Promise<void> {
    const persistent = await this.#files.persistent.load();
    const volatile = await this.#files.volatile.load();
    this.#nextNumber = Math.max(persistent.nextNumber, volatile.nextNumber);
    const now = this.#clock.now();
    let expired = 0;
    for (const record of [...volatile.records.values(), ...persistent.records.values()]) {
      if (record.rule.stop !== undefined && record.rule.stop <= now) {
        expired++;
        continue;
      }
      this.#remember(record);
    }
    // Only files written without the limit (or edited by hand) hold more; refusing to start says so, where
    // compiling them would fail on the kernel's slots with a less useful message.
    if (this.#records.size > MAX_RULES) throw new RuleError('rules-full', `the rule files hold ${this.#records.size} rules in force or scheduled, more than the ${MAX_RULES} this agent holds`);
    const enforced = [...this.#records.values()].map((r) => r.rule).filter((rule) => inForce(rule, now));
    this.#enforced.reset(enforced);
    await this.#dataplane.replace(this.#enforced.rules);
    for (const { rule } of this.#records.values()) this.#plan(rule, now);
    // Rewrite both snapshots: expired rules leave the files and the journals start empty.
    await this.#compact(true);
    await this.#compact(false);
    this.#logger.info('rules restored', { rules: this.#records.size, enforced: this.#enforced.size, persistent: this.#persistentCount, expired });
  }

  get(number: number): RuleRecord | undefined {
    return this.#records.get(number);
  }

  /** The rule a command made, for idempotent replays of the same command_id. */
  byCommand(commandId: string): RuleRecord | undefined {
    const number = this.#byCommand.get(commandId);
    return number === undefined ? undefined : this.#records.get(number);
  }

  /**
   * Adds a rule with number `number` (`insert_rule`) or the next free one. Resolves with
   * the stored rule once it is enforced (or scheduled) and on disk.
   */
  async add(fields: NewRule, options: { number?: number; commandId?: string } = {}): Promise<Rule> {
    let journaled!: Promise<void>;
    const rule = await this.#exclusive(async () => {
      if (options.number !== undefined && this.#records.has(options.number)) throw new RuleError('number-in-use', `Rule number currently in use: ${options.number}`);
      // A delete frees its place once it is on disk: a failed journal write puts the rule back.
      if (this.#records.size + this.#deleting >= MAX_RULES) throw new RuleError('rules-full', `Rule table full: this agent holds at most ${MAX_RULES} rules; delete some first`);
      let number = options.number;
      if (number === undefined) {
        while (this.#records.has(this.#nextNumber)) this.#nextNumber++;
        number = this.#nextNumber;
        // Numbers only grow and Rule-ID is capped at 32 bits (DESIGN.md section 5); past that only insert_rule works.
        if (number > MAX_RULE_NUMBER) throw new RuleError('numbers-exhausted', `no rule number left above ${MAX_RULE_NUMBER}: give one with insert_rule`);
      }
      const rule = shapeRule(fields, number);
      const record: RuleRecord = options.commandId === undefined ? { rule } : { rule, commandId: options.commandId };
      const now = this.#clock.now();
      if (inForce(rule, now)) await this.#enforce(rule);
      this.#remember(record);
      this.#plan(rule, now);
      journaled = this.#file(rule).append({ op: 'add', record });
      return rule;
    });
    try {
      await journaled;
    } catch (err) {
      await this.#exclusive(() => this.#forget(rule.number));
      throw new RuleError('storage', `rule ${rule.number} not saved: ${(err as Error).message}`, { cause: err });
    }
    if (this.#compactionDue(rule.persistent)) await this.#compactWhenDue(rule.persistent);
    return rule;
  }

  /** Deletes a rule by number; resolves with what it was once the deletion is on disk. */
  async delete(number: number): Promise<RuleRecord> {
    let journaled!: Promise<void>;
    const record = await this.#exclusive(async () => {
      const record = this.#records.get(number);
      if (!record) throw new RuleError('unknown-rule', `no rule ${number}`);
      await this.#forget(number);
      this.#deleting++;
      journaled = this.#file(record.rule).append({ op: 'del', number });
      return record;
    });
    try {
      await journaled;
    } catch (err) {
      // Put the rule back: the producer is told it was not removed, and it is not.
      await this.#exclusive(async () => {
        this.#deleting--;
        if (inForce(record.rule, this.#clock.now())) await this.#enforce(record.rule);
        this.#remember(record);
      });
      throw new RuleError('storage', `rule ${number} not removed: ${(err as Error).message}`, { cause: err });
    }
    this.#deleting--;
    if (this.#compactionDue(record.rule.persistent)) await this.#compactWhenDue(record.rule.persistent);
    return record;
  }

  /** Waits for running changes, stops the timer and closes the files. Enforcement stays (fail-static). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#exclusive(async () => {
      this.#closed = true;
      this.#schedule.stop();
    });
    await this.#files.persistent.close();
    await this.#files.volatile.close();
  }

  /** Runs `change` after every earlier change has finished. */
  #exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#closed) throw new RuleError('closed', 'the rule store is closed');
      return change();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #file(rule: Rule): RuleFile {
    return rule.persistent ? this.#files.persistent : this.#files.volatile;
  }

  #remember(record: RuleRecord): void {
    const { rule } = record;
    this.#records.set(rule.number, record);
    if (record.commandId !== undefined) this.#byCommand.set(record.commandId, rule.number);
    if (rule.persistent) this.#persistentCount++;
    // Numbers only grow, so a new rule appends after every rule of its priority (DESIGN.md section 4).
    this.#nextNumber = Math.max(this.#nextNumber, rule.number + 1);
  }

  /** Takes a rule out of the dataplane and the maps. */
  async #forget(number: number): Promise<void> {
    const record = this.#records.get(number);
    if (!record) return;
    if (this.#enforced.has(record.rule)) {
      try {
        await this.#dataplane.remove(number);
      } catch (err) {
        throw new RuleError('dataplane', `Firewall rule not removed or updated: ${(err as Error).message}`, { cause: err });
      }
      this.#enforced.remove(record.rule);
    }
    this.#records.delete(number);
    if (record.commandId !== undefined && this.#byCommand.get(record.commandId) === number) this.#byCommand.delete(record.commandId);
    if (record.rule.persistent) this.#persistentCount--;
  }

  async #enforce(rule: Rule): Promise<void> {
    const before = this.#enforced.insert(rule);
    try {
      await this.#dataplane.insert(rule, before);
    } catch (err) {
      this.#enforced.remove(rule);
      throw new RuleError('dataplane', `Rule not implemented: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Schedules the rule's future start and stop. */
  #plan(rule: Rule, now: number): void {
    if (rule.start !== undefined && rule.start > now) this.#schedule.add(rule.number, rule.start);
    if (rule.stop !== undefined) this.#schedule.add(rule.number, rule.stop);
  }

  /** A start or stop time of rule `number` came: enforce it, or delete it for good. */
  async #due(number: number): Promise<void> {
    const record = this.#records.get(number);
    if (!record) return;
    const { rule } = record;
    const now = this.#clock.now();
    if (rule.stop !== undefined && rule.stop <= now) {
      await this.#forget(number);
      this.#logger.info('rule stopped', { rule: number });
      this.#onRuleEvent({ event: 'rule_expired', rule: number });
      // A failed write only delays the deletion on disk: on restart the rule is expired anyway.
      void this.#file(rule).append({ op: 'del', number }).catch((err) => this.#logger.error('expired rule not saved', { rule: number, err }));
    } else if (inForce(rule, now) && !this.#enforced.has(rule)) {
      await this.#enforce(rule);
      this.#logger.info('rule started', { rule: number });
      this.#onRuleEvent({ event: 'rule_started', rule: number });
    }
  }

  /** True once a file's journal outgrows its rules: compacting then keeps a journal O(1) per change amortized. */
  #compactionDue(persistent: boolean): boolean {
    const file = persistent ? this.#files.persistent : this.#files.volatile;
    const rules = persistent ? this.#persistentCount : this.#records.size - this.#persistentCount;
    return file.journalLines > Math.max(1024, 2 * rules);
  }

  /**
   * Compacts a file after the changes queued before, if it is still due then: many changes in
   * flight all see the journal grow, and only the first compacts. Callers check first, so the
   * changes that find nothing due (almost all) skip the queue.
   */
  async #compactWhenDue(persistent: boolean): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#compactionDue(persistent)) await this.#compact(persistent);
    }).catch((err) => this.#logger.error('rule file compaction failed', { err }));
  }

  async #compact(persistent: boolean): Promise<void> {
    const records = [...this.#records.values()].filter((r) => r.rule.persistent === persistent);
    await (persistent ? this.#files.persistent : this.#files.volatile).compact(records, this.#nextNumber);
  }
}
