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

/**
 * Resolves once `start`'s `settle` is called or `ms` have passed, whichever
 * comes first (the timer is cleared either way).
 */
export function settleWithin(scheduler: Scheduler, ms: number, start: (settle: () => void) => void): Promise<void> {
  return new Promise<void>(resolve => {
    const timer = scheduler.setTimeout(resolve, ms);
    start(() => {
      scheduler.clearTimeout(timer);
      resolve();
    });
  });
}
