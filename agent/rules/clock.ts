/** Time for the rule engine: injectable so tests move time instead of sleeping (STYLE: MQTT.js timers). */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fire` after `delay` ms; returns a handle for `cancel`. */
  schedule(fire: () => void, delay: number): unknown;
  cancel(handle: unknown): void;
}

/** setTimeout caps delays at 2^31-1 ms (about 24.8 days); longer waits re-arm. */
export const MAX_TIMER_DELAY = 0x7fffffff;

/** Wall-clock time and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule: (fire, delay) => {
    const timer = setTimeout(fire, Math.min(Math.max(delay, 0), MAX_TIMER_DELAY));
    // A pending rule expiry must not keep a stopping process alive.
    timer.unref();
    return timer;
  },
  cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
