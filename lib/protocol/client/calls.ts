import { ZmqErrorCode, ZmqTimeoutError } from '../../errors/zmq.errors.js';
import { Clock, Scheduler } from '../clock.js';
import { errorCode, Metered, Metrics } from '../metrics.js';
import { CallTimers } from './call-timers.js';
import type { GrantCounter } from '../credit.js';
import type { CallVerdict } from './link-health.js';
import { isRetryable, RetryPlan } from './retries.js';
import type { UpstreamLink } from './upstream-link.js';

/** What a call's subscriber is told: Nest's `WritePacket` shape. */
export interface ReplyPacket {
  err?: unknown;
  response?: unknown;
  isDisposed?: boolean;
}

export type ReplyCallback = (packet: ReplyPacket) => void;

/** One request in flight. */
export interface PendingCall extends Metered {
  readonly id: number;
  readonly link: UpstreamLink;
  readonly pattern: string;
  readonly callback: ReplyCallback;
  /** A CHUNK has arrived (its time to first chunk is counted). */
  chunked: boolean;
  /** The reply stream's grants (§6), from its first CHUNK on a session that took `credit`. */
  grants?: GrantCounter;
  /** The request stream this call sends (§6.1): stopped when the call ends, however it ends. */
  upload?: { stop(): void; grant(n: number): void };
  /** Set when the call may be sent again elsewhere (its pattern is idempotent on its server): shared by its attempts. */
  retry?: RetryPlan;
  /** This attempt is a hedge: sent while an earlier attempt of the call was still in flight. */
  hedge?: boolean;
  /** The call's own timeout (ms, 0: none), when it set one; else the client's `requestTimeout`. */
  timeoutMs?: number;
}

/** What the registry asks of the resends (retries.ts) for a call with a plan. */
export interface Resender {
  /** Sends a failed attempt's call again elsewhere; true when a new attempt went out (the failure is then not delivered). */
  retry(call: PendingCall, err: unknown): boolean;
  /** The call is decided: `winner` answered first, or (undefined) it ended otherwise; no more attempts start. */
  decided(plan: RetryPlan, winner: PendingCall | undefined): void;
}

/** Told how each attempt ended for its server's health: answered, or timed out / shed. */
export type EndObserver = (call: PendingCall, verdict: CallVerdict) => void;

/**
 * The client's calls in flight: their ids, deadlines (`requestTimeout` after
 * the last reply message) and each link's pending count. Every way a call
 * ends goes through here, so the count and the subscriber stay in step, and
 * a subscriber that throws never reaches the receive loop, and the
 * pattern's metrics count each call once.
 */
export class CallRegistry {
  private readonly tracker: CallTimers<PendingCall>;
  /** Where calls with a plan go for their next attempt (set by the engine, which owns the resends). */
  resender: Resender | undefined;

  constructor(
    readonly timeoutMs: number,
    /** Tells the server of an attempt that was removed to stop it (the engine sends CANCEL). */
    private readonly cancelOnWire: (call: PendingCall) => void,
    private readonly onSubscriberError: (call: PendingCall, err: unknown) => void,
    clock: Clock,
    scheduler: Scheduler,
    /** Per-pattern counters and latencies, fed here (every call starts and ends through this registry). */
    readonly metrics: Metrics,
    private readonly observeEnd?: EndObserver,
  ) {
    this.tracker = new CallTimers<PendingCall>(timeoutMs, (_id, call) => this.expire(call), clock, scheduler);
  }

  get size(): number {
    return this.tracker.size;
  }

  /** A request id free on every link. */
  nextId(): number {
    return this.tracker.nextId();
  }

  /** Registers a request that has just been sent. */
  open(id: number, link: UpstreamLink, pattern: string, callback: ReplyCallback): PendingCall {
    const call: PendingCall = { id, link, pattern, callback, chunked: false, meter: undefined, started: 0 };
    this.metrics.start(call, pattern, this.tracker.add(id, call)); // the tracker's clock read is the start
    link.pending++;
    return call;
  }

  /**
   * Registers the next attempt of `previous` (a retry, or a hedge while
   * `previous` is still in flight) as request `id` on `link`: same
   * subscriber, same plan, and its metrics count the call once.
   */
  reopen(previous: PendingCall, id: number, link: UpstreamLink, hedge = false): PendingCall {
    const call: PendingCall = {
      id,
      link,
      pattern: previous.pattern,
      callback: previous.callback,
      chunked: false,
      meter: previous.meter,
      started: previous.started,
      ...(previous.retry !== undefined ? { retry: previous.retry } : {}),
      ...(hedge ? { hedge } : {}),
      ...(previous.timeoutMs !== undefined ? { timeoutMs: previous.timeoutMs } : {}),
    };
    this.tracker.add(id, call, call.timeoutMs);
    link.pending++;
    call.retry?.live.push(call);
    return call;
  }

  /** The call's own timeout replaces the client's for it (its deadline starts again, from now). */
  retime(call: PendingCall, timeoutMs: number): void {
    if (timeoutMs === this.timeoutMs || this.tracker.get(call.id) !== call) return;
    this.tracker.delete(call.id);
    call.timeoutMs = timeoutMs;
    this.tracker.add(call.id, call, timeoutMs);
  }

  /** How long `call` may wait for a reply message (0: no limit). */
  timeoutOf(call: PendingCall): number {
    return call.timeoutMs ?? this.timeoutMs;
  }

  /** A request that could not go out (NO_PEER, TOO_LARGE...): counted, and ended at once through `callback`. */
  refuse(pattern: string, err: unknown, callback: ReplyCallback): void {
    this.metrics.refused(pattern, err);
    callback({ err, isDisposed: true });
  }

  /** A CHUNK for `call` arrived: the first one is its time to first chunk (at the message's receive time). */
  chunk(call: PendingCall): void {
    if (call.chunked) return;
    call.chunked = true;
    this.decide(call, true);
    this.metrics.firstReply(call, call.link.lastSeen);
  }

  get(id: number): PendingCall | undefined {
    return this.tracker.get(id);
  }

  /** A reply message arrived for `id`: its deadline starts again. */
  touch(id: number): void {
    this.tracker.touch(id);
  }

  /** Removes the call, whose last reply arrived (timed at the message's receive time); `undefined` when it had already ended. */
  settle(id: number): PendingCall | undefined {
    const call = this.tracker.delete(id);
    if (call === undefined) return undefined;
    call.link.pending--;
    call.upload?.stop();
    this.decide(call, true);
    this.observeEnd?.(call, 'accepted');
    this.metrics.end(call, 'ok', undefined, call.link.lastSeen);
    return call;
  }

  /**
   * The caller unsubscribed before the end: every attempt of the call still
   * in flight is removed and its server told to stop (CANCEL); counted once.
   */
  cancel(call: PendingCall): void {
    const plan = call.retry;
    const attempts = plan !== undefined ? plan.live.splice(0) : [call];
    if (plan !== undefined) this.stop(plan);
    let counted = false;
    for (const attempt of attempts) {
      if (this.tracker.get(attempt.id) !== attempt) continue;
      if (!counted) this.metrics.abort(attempt, 'cancel');
      counted = true;
      this.withdraw(attempt);
    }
  }

  /** Tells the subscriber; the call stays open unless `packet.isDisposed`. */
  deliver(call: PendingCall, packet: ReplyPacket): void {
    try {
      call.callback(packet);
    } catch (err) {
      this.onSubscriberError(call, err);
    }
  }

  /** Removes the call and ends it with `err`, a reply of its server; false when it had already ended. */
  fail(id: number, err: unknown): boolean {
    const call = this.tracker.delete(id);
    if (call === undefined) return false;
    call.link.pending--;
    this.observeEnd?.(call, errorCode(err) === ZmqErrorCode.OVERLOADED ? 'shed' : 'accepted');
    if (this.retried(call, err)) return true;
    this.decide(call, !isRetryable(err)); // a shed is no answer of the handler
    this.metrics.end(call, 'error', errorCode(err), call.link.lastSeen);
    call.upload?.stop();
    this.deliver(call, { err, isDisposed: true });
    return true;
  }

  /** Ends every call on `link` with `err` (no round trip: no latency counted). */
  failLink(link: UpstreamLink, err: unknown): void {
    const code = errorCode(err);
    const lost = this.tracker.drainWhere(c => c.link === link);
    link.pending = 0;
    for (const call of lost) {
      if (this.retried(call, err)) continue;
      this.decide(call, false);
      this.metrics.abort(call, 'error', code);
      call.upload?.stop();
      this.deliver(call, { err, isDisposed: true });
    }
  }

  /** Ends every call with `err` (no latency counted); a call with several attempts is told once. */
  failAll(err: unknown): void {
    const code = errorCode(err);
    const told = new Set<RetryPlan>();
    for (const call of this.tracker.drain()) {
      call.link.pending = 0;
      call.upload?.stop();
      const plan = call.retry;
      if (plan !== undefined) {
        if (told.has(plan)) continue; // another attempt of the call has told the subscriber
        told.add(plan);
        this.stop(plan);
      }
      this.metrics.abort(call, 'error', code);
      this.deliver(call, { err, isDisposed: true });
    }
  }

  /**
   * Whether `call`'s failure stays unseen by the subscriber: another attempt
   * went out elsewhere (idempotent, nothing of its reply arrived, no request
   * stream), or, for a failure that says nothing ran or may have run on a
   * lost server, a sibling attempt is still in flight and answers instead.
   */
  private retried(call: PendingCall, err: unknown): boolean {
    const plan = call.retry;
    if (plan === undefined || plan.decided || call.chunked || call.upload !== undefined || this.resender === undefined)
      return false;
    const at = plan.live.indexOf(call);
    if (at >= 0) plan.live.splice(at, 1);
    if (this.resender.retry(call, err)) return true;
    if (plan.live.length > 0 && isRetryable(err)) return true;
    return false;
  }

  /**
   * The call is decided by `winner`, from its first reply message
   * (`answered`) or its end: the other attempts in flight are removed and
   * cancelled on their servers, and no further attempt starts.
   */
  private decide(winner: PendingCall, answered: boolean): void {
    const plan = winner.retry;
    if (plan === undefined || plan.decided) return;
    plan.decided = true;
    for (const other of plan.live.splice(0)) {
      if (other === winner || this.tracker.get(other.id) !== other) continue;
      other.meter = undefined; // the call is counted through the winner
      this.withdraw(other);
    }
    plan.live.push(winner);
    this.resender?.decided(plan, answered ? winner : undefined);
  }

  /** The call ends with none of its attempts answering: no further attempt starts. */
  private stop(plan: RetryPlan): void {
    if (plan.decided) return;
    plan.decided = true;
    this.resender?.decided(plan, undefined);
  }

  /** Removes an attempt in flight and tells its server to stop it (CANCEL); nothing is delivered. */
  private withdraw(attempt: PendingCall): void {
    this.tracker.delete(attempt.id);
    attempt.link.pending--;
    attempt.upload?.stop();
    this.cancelOnWire(attempt);
  }

  private expire(call: PendingCall): void {
    call.link.pending--;
    this.decide(call, false);
    this.observeEnd?.(call, 'timeout');
    this.metrics.abort(call, 'timeout');
    call.upload?.stop();
    this.cancelOnWire(call);
    this.deliver(call, { err: new ZmqTimeoutError(call.pattern, this.timeoutOf(call)), isDisposed: true });
  }
}
