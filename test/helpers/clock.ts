import type { Clock } from '../../agent/transports/alerts.js';

/** A clock that moves only when the test says so; timers fire from `advance`. */
export class FakeClock implements Clock {
  private time = 1_700_000_000_000;
  private timers: { at: number; fire: () => void }[] = [];
  /** Every delay asked for, in order: what a test checks backoff against. */
  readonly delays: number[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(fire: () => void, ms: number): unknown {
    const timer = { at: this.time + ms, fire };
    this.timers.push(timer);
    this.delays.push(ms);
    return timer;
  }

  clearTimeout(timer: unknown): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward and fires the timers that came due. */
  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fire();
  }
}

/** Polls `check` every 5 ms until it holds; fails after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
