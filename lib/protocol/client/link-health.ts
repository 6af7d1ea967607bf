/**
 * What a client has learned of one server from its calls (docs/resilience.md):
 * - adaptive throttling: over the last {@link THROTTLE_WINDOW_MS}, the calls
 *   the server answered and those it accepted (anything but OVERLOADED);
 *   once {@link THROTTLE_MIN_VOLUME} answers are in and they exceed
 *   {@link THROTTLE_K} × accepts, a new request is refused locally with a
 *   probability that grows with the excess, so a shedding server is not sent
 *   what it would shed. Calls in flight and timeouts do not count: a burst of
 *   new calls or a slow handler is never a reason to refuse;
 * - outlier ejection: {@link EJECT_AFTER} calls in a row that got no answer
 *   in time take the server out of routing for a while (growing with each
 *   ejection, at most {@link MAX_EJECTION_MS}); then it is probed back in. A
 *   shedding server answers (OVERLOADED): throttling and retries handle it.
 */

export const THROTTLE_WINDOW_MS = 2_000;
export const THROTTLE_K = 2;
export const THROTTLE_MIN_VOLUME = 20;
export const EJECT_AFTER = 5;
export const BASE_EJECTION_MS = 1_000;
export const MAX_EJECTION_MS = 30_000;

/**
 * A server's health: `healthy`, or `ejected` until a time (then probed back in).
 * Changed only by {@link LinkHealth}.
 */
export type HealthState = { readonly kind: 'healthy' } | { readonly kind: 'ejected'; readonly until: number };

const HEALTHY: HealthState = { kind: 'healthy' };

/** A call's end as the health sees it: answered (`accepted`), refused OVERLOADED (`shed`), or no answer in time. */
export type CallVerdict = 'accepted' | 'shed' | 'timeout';

export class LinkHealth {
  private state: HealthState = HEALTHY;
  /** Answered calls (and local refusals) and accepts, of the previous and the current half window. */
  private requests = [0, 0];
  private accepts = [0, 0];
  private windowStart = 0;
  private consecutiveFailures = 0;
  /** Ejections so far (each lasts twice the one before). */
  ejections = 0;

  get current(): HealthState {
    return this.state;
  }

  /** Ejected at `now`: the server is left out of routing while others can take its calls. */
  isEjected(now: number): boolean {
    return this.state.kind === 'ejected' && now < this.state.until;
  }

  /** An ejection whose time is over: true once, when the server is back in routing (probed by the next calls). */
  restoreDue(now: number): boolean {
    if (this.state.kind !== 'ejected' || now < this.state.until) return false;
    this.state = HEALTHY;
    this.consecutiveFailures = EJECT_AFTER - 1; // one more failure ejects it again, for longer
    return true;
  }

  /** A call ended; true when this timeout ejects the server. */
  ended(verdict: CallVerdict, now: number): boolean {
    this.roll(now);
    if (verdict !== 'timeout') this.requests[1]!++;
    if (verdict !== 'timeout') {
      if (verdict === 'accepted') this.accepts[1]!++;
      this.consecutiveFailures = 0;
      return false;
    }
    if (++this.consecutiveFailures < EJECT_AFTER || this.state.kind === 'ejected') return false;
    this.ejections++;
    const ms = Math.min(MAX_EJECTION_MS, BASE_EJECTION_MS * 2 ** Math.min(this.ejections - 1, 16));
    this.state = { kind: 'ejected', until: now + ms };
    return true;
  }

  /**
   * Whether a new request should be refused here (adaptive throttling);
   * `random` gives a number in [0, 1), asked only when a refusal is possible.
   * A refused request counts as a request, so the refusals stay in proportion
   * to what the server accepts.
   */
  throttles(now: number, random: () => number): boolean {
    this.roll(now);
    const requests = this.requests[0]! + this.requests[1]!;
    if (requests < THROTTLE_MIN_VOLUME) return false;
    const accepts = this.accepts[0]! + this.accepts[1]!;
    const p = (requests - THROTTLE_K * accepts) / (requests + 1);
    if (p <= 0 || random() >= p) return false;
    this.requests[1]!++;
    return true;
  }

  /** Moves the half windows on. */
  private roll(now: number): void {
    const half = THROTTLE_WINDOW_MS / 2;
    if (now - this.windowStart < half) return;
    const steps = Math.floor((now - this.windowStart) / half);
    this.windowStart += steps * half;
    if (steps === 1) {
      this.requests = [this.requests[1]!, 0];
      this.accepts = [this.accepts[1]!, 0];
    } else {
      this.requests = [0, 0];
      this.accepts = [0, 0];
    }
  }
}
