import type { Scheduler } from '../clock.js';

/**
 * The one pending `connect()`: settled once, by the first session
 * (`resolve`), the connect timeout, every server's refusal, or close (`reject`).
 */
export class ConnectWaiter {
  private waiting: { resolve: () => void; reject: (err: Error) => void; timer: unknown } | undefined;

  constructor(private readonly scheduler: Scheduler) {}

  /** A promise settled as described above; `onTimeout` gives the error after `timeoutMs`. */
  wait(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.scheduler.setTimeout(() => this.reject(onTimeout()), timeoutMs);
      this.waiting = { resolve, reject, timer };
    });
  }

  /** Settles the wait, if one is pending; returns whether one was. */
  resolve(): boolean {
    const w = this.take();
    w?.resolve();
    return w !== undefined;
  }

  reject(err: Error): boolean {
    const w = this.take();
    w?.reject(err);
    return w !== undefined;
  }

  private take() {
    const w = this.waiting;
    if (w === undefined) return undefined;
    this.waiting = undefined;
    this.scheduler.clearTimeout(w.timer);
    return w;
  }
}
