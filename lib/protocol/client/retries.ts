import { ZmqErrorCode } from '../../errors/zmq.errors.js';
import type { Clock, Scheduler } from '../clock.js';
import { MAX_DEADLINE_MS } from '../limits.js';
import { errorCode } from '../metrics.js';
import type { CallRegistry, PendingCall } from './calls.js';
import type { RequestEncoder } from './requests.js';
import type { UpstreamLink } from './upstream-link.js';

/**
 * What a client does with a call its server could not answer, or answers
 * slowly (docs/resilience.md): a call to a pattern its server declared
 * idempotent is sent again to another server when its server was lost
 * (`PEER_LOST`: kill, partition found by the heartbeat, BYE after a drain,
 * NOT_READY) or shed it (`OVERLOADED`), and, with hedging, to a second server
 * when the first has not answered within a delay; the first answer wins and
 * the other attempts are cancelled. Only before any reply message arrived,
 * while its deadline and the retry budget allow. Nothing else is ever sent twice.
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

/** A client's hedging settings (the `hedging` option). */
export interface HedgeSettings {
  /** Milliseconds without a reply message before the next attempt goes to another server. */
  readonly delayMs: number;
  /** Attempts of one call that hedging starts at most, the first included (2: one hedge). */
  readonly maxAttempts: number;
}

/**
 * One call's own policy (a `ZmqRecord`'s options, docs/resilience.md), over
 * the client's: `retry: false` never sends the call twice (no retry, no
 * hedge); `hedge` replaces the client's hedging for this call (`true`: the
 * client's settings or the defaults; fields given replace theirs);
 * `timeout` replaces its `requestTimeout`.
 */
export interface CallPolicy {
  readonly retry?: boolean;
  readonly hedge?: boolean | Partial<HedgeSettings>;
  /** Milliseconds the call may wait for a reply message, instead of the client's `requestTimeout` (0: no limit). */
  readonly timeout?: number;
}

/** The shared state of the attempts of one call that may be sent more than once. */
export interface RetryPlan {
  readonly pattern: string;
  readonly data: unknown;
  readonly metadata: Buffer | undefined;
  /** Attempts sent so far (1 for the first), hedges and retries included. */
  attempts: number;
  /** Attempts a retry may bring the count to (1: no retry). */
  readonly maxAttempts: number;
  /** This call's hedging; `undefined`: none. */
  readonly hedge: HedgeSettings | undefined;
  /** When the caller stops waiting (clock ms); no attempt starts after it. */
  readonly until: number;
  /** The attempts in flight now: one, or several while hedged. */
  readonly live: PendingCall[];
  /** Every server an attempt went to (a hedge goes to a server not among them while one is left). */
  readonly tried: UpstreamLink[];
  /** A reply message of one attempt arrived, or the call ended: nothing more is sent. */
  decided: boolean;
  /** The timer of the next hedge. */
  timer: unknown;
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
 * each retry or hedge withdraws one. When most calls fail, retries stop, so
 * a sick mesh is not hammered by its own clients.
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

/** What the resends counted (`getStats().resilience`). */
export interface ResendCounts {
  retries: number;
  retriesDenied: number;
  hedges: number;
  hedgesDenied: number;
  hedgesWon: number;
}

/** What {@link Resends} needs of the engine. */
export interface ResendDeps {
  readonly calls: CallRegistry;
  readonly encoder: RequestEncoder;
  /** The links with a session now, and the routing's pick among some of them. */
  readonly pool: { readonly readyLinks: readonly UpstreamLink[]; pick(links: readonly UpstreamLink[]): UpstreamLink };
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** The client's `retries` (undefined: off) and `hedging` (undefined: off). */
  readonly retries: RetrySettings | undefined;
  readonly hedging: HedgeSettings | undefined;
  /** What `retry: true` or `hedge: true` on one call means on a client with the option off. */
  readonly defaults: { readonly retries: RetrySettings; readonly hedging: HedgeSettings };
}

/**
 * The second and later attempts of idempotent calls: retries after a loss,
 * hedges after a delay, both from one budget (a hedge is a retry that did
 * not wait for a failure).
 */
export class Resends {
  private readonly budget: RetryBudget;
  private readonly counts: ResendCounts = { retries: 0, retriesDenied: 0, hedges: 0, hedgesDenied: 0, hedgesWon: 0 };

  constructor(private readonly deps: ResendDeps) {
    const ratio = (deps.retries ?? deps.defaults.retries).budget;
    this.budget = new RetryBudget({ ratio, max: RETRY_BURST });
  }

  /** What the resends did so far. */
  stats(): Readonly<ResendCounts> {
    return this.counts;
  }

  /**
   * A first attempt went out (it feeds the budget): `call` gets a plan when
   * it may be sent again, that is when its pattern is idempotent on its
   * server and its policy allows a retry or a hedge; a hedged call's timer starts.
   */
  sent(call: PendingCall, data: unknown, metadata: Buffer | undefined, policy: CallPolicy | undefined): void {
    this.budget.deposit();
    if (call.upload !== undefined || policy?.retry === false || !call.link.isIdempotent(call.pattern)) return;
    const retries = this.retrySettings(policy);
    const hedge = this.hedgeSettings(policy);
    const maxAttempts = retries?.maxAttempts ?? 1;
    if (maxAttempts <= 1 && hedge === undefined) return;
    const timeout = this.deps.calls.timeoutOf(call);
    const plan: RetryPlan = {
      pattern: call.pattern,
      data,
      metadata,
      attempts: 1,
      maxAttempts,
      hedge,
      until: timeout > 0 ? this.deps.clock.now() + timeout : Number.POSITIVE_INFINITY,
      live: [call],
      tried: [call.link],
      decided: false,
      timer: undefined,
    };
    call.retry = plan;
    if (hedge !== undefined) this.armHedge(plan);
  }

  /**
   * Sends `call` again to another server that declared its pattern idempotent
   * (its server was lost or shed it), within its deadline, its attempts and
   * the retry budget. False: the failure stands.
   */
  retry(call: PendingCall, err: unknown): boolean {
    const plan = call.retry!;
    if (!isRetryable(err) || plan.attempts >= plan.maxAttempts || this.deps.clock.now() >= plan.until) return false;
    const others = this.targets(plan, link => link !== call.link && !plan.live.some(c => c.link === link));
    if (others.length === 0) return false;
    if (!this.budget.withdraw()) {
      this.counts.retriesDenied++;
      return false;
    }
    if (!this.attempt(plan, call, others, false)) return false;
    this.counts.retries++;
    this.deps.calls.metrics.retried(call);
    return true;
  }

  /** The call is decided (`winner` answered first, or it ended): no more hedges. */
  decided(plan: RetryPlan, winner: PendingCall | undefined): void {
    if (plan.timer !== undefined) {
      this.deps.scheduler.clearTimeout(plan.timer);
      plan.timer = undefined;
    }
    if (winner?.hedge === true) {
      this.counts.hedgesWon++;
      this.deps.calls.metrics.hedgeWon(winner);
    }
  }

  private retrySettings(policy: CallPolicy | undefined): RetrySettings | undefined {
    if (policy?.retry === true) return this.deps.retries ?? this.deps.defaults.retries;
    return this.deps.retries;
  }

  private hedgeSettings(policy: CallPolicy | undefined): HedgeSettings | undefined {
    const own = policy?.hedge;
    if (own === undefined) return this.deps.hedging;
    if (own === false) return undefined;
    const base = this.deps.hedging ?? this.deps.defaults.hedging;
    return own === true ? base : { ...base, ...own };
  }

  private armHedge(plan: RetryPlan): void {
    plan.timer = this.deps.scheduler.setTimeout(() => {
      plan.timer = undefined;
      this.hedge(plan);
    }, plan.hedge!.delayMs);
  }

  /** No reply message yet after the hedging delay: the next attempt goes to a server with no attempt of this call. */
  private hedge(plan: RetryPlan): void {
    const first = plan.live[0];
    if (plan.decided || first === undefined || plan.attempts >= plan.hedge!.maxAttempts) return;
    if (this.deps.clock.now() >= plan.until) return;
    const fresh = this.targets(plan, link => !plan.tried.includes(link));
    const others = fresh.length > 0 ? fresh : this.targets(plan, link => !plan.live.some(c => c.link === link));
    if (others.length === 0) return;
    if (!this.budget.withdraw()) {
      this.counts.hedgesDenied++;
      return;
    }
    if (!this.attempt(plan, first, others, true)) return;
    this.counts.hedges++;
    this.deps.calls.metrics.hedged(first);
    if (plan.attempts < plan.hedge!.maxAttempts) this.armHedge(plan);
  }

  /** The ready links that declared the plan's pattern idempotent and that `allowed` keeps. */
  private targets(plan: RetryPlan, allowed: (link: UpstreamLink) => boolean): UpstreamLink[] {
    return this.deps.pool.readyLinks.filter(l => allowed(l) && l.isIdempotent(plan.pattern));
  }

  /** Sends the next attempt to one of `links` with what is left of the deadline; false when it could not go out. */
  private attempt(plan: RetryPlan, previous: PendingCall, links: UpstreamLink[], hedge: boolean): boolean {
    const link = this.deps.pool.pick(links);
    const id = this.deps.calls.nextId();
    const remaining = Math.min(Math.ceil(plan.until - this.deps.clock.now()), MAX_DEADLINE_MS);
    try {
      const deadline = link.deadlines && Number.isFinite(remaining) ? remaining : undefined;
      link.channel.send(this.deps.encoder.request(id, plan.pattern, plan.data, plan.metadata, link.msgpack, deadline));
    } catch {
      return false; // the queue is full or the value cannot be encoded again: the attempt is not made
    }
    plan.attempts++;
    if (!plan.tried.includes(link)) plan.tried.push(link);
    this.deps.calls.reopen(previous, id, link, hedge);
    return true;
  }
}
