import { Scheduler, settleWithin } from '../clock.js';

/**
 * A draining server's wait (docs/PROTOCOL.md §5.7): its clients were told
 * DRAIN, and it goes on serving the calls in progress until none is left or
 * `drainTimeout` has passed, whichever comes first; then it says BYE.
 */
export class DrainWait {
  private settle: (() => void) | undefined;

  /** `inFlight`: the calls still in progress, over every session. */
  constructor(private readonly inFlight: () => number) {}

  /** A call ended (replied, failed or cancelled): the wait ends when it was the last. */
  callEnded(): void {
    if (this.settle !== undefined && this.inFlight() === 0) this.settle();
  }

  /** Resolves when no call is in progress (at once if none is), or after `ms`. */
  wait(scheduler: Scheduler, ms: number): Promise<void> {
    if (ms <= 0 || this.inFlight() === 0) return Promise.resolve();
    return settleWithin(scheduler, ms, settle => (this.settle = settle));
  }
}
