/** A monotonic clock in milliseconds: never jumps with the wall clock. */
export interface Clock {
  now(): number;
}

/** Timers, injectable so the policies can be tested without real time. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const monotonicClock: Clock = {
  now: () => performance.now(),
};

/** Real timers, unref'd: a pending deadline never keeps the process alive. */
export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
