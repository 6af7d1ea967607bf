import { ZmqErrorCode } from '../../errors/zmq.errors.js';
import { errorCode } from '../metrics.js';

/**
 * What a client does with a call its server could not answer (docs/resilience.md):
 * a call to a pattern its server declared idempotent is sent again to another
 * server when its server was lost (`PEER_LOST`: kill, partition found by the
 * heartbeat, BYE after a drain, NOT_READY) or shed it (`OVERLOADED`), before
 * any value of its reply arrived, while its deadline and the retry budget
 * allow. Nothing else is ever sent twice.
 */

/** The codes after which an idempotent call may go to another server: nothing of its reply arrived. */
const RETRYABLE: ReadonlySet<string> = new Set([ZmqErrorCode.PEER_LOST, ZmqErrorCode.OVERLOADED]);

/** Whether `err` leaves a call that may be sent again. */
export function isRetryable(err: unknown): boolean {
  return RETRYABLE.has(errorCode(err));
}

/** A client's retry settings (the `retries` option). */
export interface RetrySettings {
  /** Attempts of one call at most, the first included. */
  readonly maxAttempts: number;
  /** Retries allowed per request sent (0.1: retries add at most 10 % of load). */
  readonly budget: number;
}

/** What a call keeps so that it can be sent again. */
export interface RetryPlan {
  readonly data: unknown;
  readonly metadata: Buffer | undefined;
  /** Attempts made so far (1 for the first). */
  attempts: number;
  /** When the caller stops waiting (clock ms); no attempt starts after it. */
  readonly until: number;
  /** The current attempt's request id, for the caller's unsubscribe. */
  currentId: number;
}

export interface RetryBudgetSettings {
  /** Retries allowed per request sent: 0.1 adds at most 10 % of load. */
  readonly ratio: number;
  /** Retries the budget holds at most (a burst of losses spends these). */
  readonly max: number;
}

/** Retries a budget holds at most: a burst of losses (a server killed with calls in flight) spends these. */
export const RETRY_BURST = 10;

/**
 * A token bucket of retries: each request sent deposits `ratio` of a retry,
 * each retry withdraws one. When most calls fail, retries stop, so a sick
 * mesh is not hammered by its own clients.
 */
export class RetryBudget {
  private tokens: number;
  retries = 0;
  denied = 0;

  constructor(private readonly settings: RetryBudgetSettings) {
    this.tokens = settings.max;
  }

  /** A first attempt went out. */
  deposit(): void {
    if (this.tokens < this.settings.max) this.tokens = Math.min(this.settings.max, this.tokens + this.settings.ratio);
  }

  /** Takes one retry; false (counted) when the budget is spent. */
  withdraw(): boolean {
    if (this.tokens < 1 - 1e-9) {
      this.denied++;
      return false;
    }
    this.tokens -= 1;
    this.retries++;
    return true;
  }
}
