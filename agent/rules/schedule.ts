import { MAX_TIMER_DELAY, type Clock } from './clock.js';

interface Event {
  readonly at: number;
  readonly number: number;
}

/**
 * Rule start and stop times behind ONE timer: a binary min-heap of (time, rule number)
 * and a timer armed for the earliest. Events are not removed when a rule goes away;
 * the owner ignores events of rules it no longer holds, which keeps every change O(log n).
 */
export class Schedule {
  readonly #heap: Event[] = [];
  readonly #clock: Clock;
  readonly #due: (number: number) => void;
  #timer: unknown;
  #armedAt = Infinity;

  /** `due(number)` runs for each event whose time has come, earliest first. */
  constructor(clock: Clock, due: (number: number) => void) {
    this.#clock = clock;
    this.#due = due;
  }

  /** Time of the earliest pending event, or undefined. */
  get next(): number | undefined {
    return this.#heap[0]?.at;
  }

  add(number: number, at: number): void {
    const heap = this.#heap;
    heap.push({ at, number });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    if (at < this.#armedAt) this.#arm();
  }

  /** Stops the timer (on close). */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.cancel(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  #pop(): Event {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
        if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }

  #arm(): void {
    this.stop();
    const next = this.next;
    if (next === undefined) return;
    this.#armedAt = next;
    this.#timer = this.#clock.schedule(() => this.#fire(), Math.min(next - this.#clock.now(), MAX_TIMER_DELAY));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) this.#due(this.#pop().number);
    this.#arm();
  }
}
