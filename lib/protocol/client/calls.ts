import { ZmqErrorCode, ZmqTimeoutError } from '../../errors/zmq.errors.js';
import { Clock, Scheduler } from '../clock.js';
import { errorCode, Metered, Metrics } from '../metrics.js';
import { RequestTracker } from '../request-tracker.js';
import type { GrantCounter } from '../credit.js';
import type { CallVerdict } from './link-health.js';
import type { RetryPlan } from './retries.js';
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
  /** Set when the call may be sent again elsewhere (its pattern is idempotent on its server). */
  retry?: RetryPlan;
}

/** Sends a failed call again elsewhere; true when a new attempt went out (the failure is then not delivered). */
export type Retrier = (call: PendingCall, err: unknown) => boolean;

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
  private readonly tracker: RequestTracker<PendingCall>;

  constructor(
    private readonly timeoutMs: number,
    /** Called for a call that timed out, after it was removed (the engine sends CANCEL). */
    private readonly onTimeout: (call: PendingCall) => void,
    private readonly onSubscriberError: (call: PendingCall, err: unknown) => void,
    clock: Clock,
    scheduler: Scheduler,
    /** Per-pattern counters and latencies, fed here (every call starts and ends through this registry). */
    readonly metrics: Metrics,
    private readonly retrier?: Retrier,
    private readonly observeEnd?: EndObserver,
  ) {
    this.tracker = new RequestTracker<PendingCall>(timeoutMs, (_id, call) => this.expire(call), clock, scheduler);
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
   * Registers the next attempt of `previous` (a retry) as request `id` on
   * `link`: same subscriber, same plan, and its metrics count the call once.
   */
  reopen(previous: PendingCall, id: number, link: UpstreamLink): PendingCall {
    const call: PendingCall = {
      id,
      link,
      pattern: previous.pattern,
      callback: previous.callback,
      chunked: false,
      meter: previous.meter,
      started: previous.started,
      ...(previous.retry !== undefined ? { retry: previous.retry } : {}),
    };
    this.tracker.add(id, call);
    link.pending++;
    return call;
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
    this.metrics.firstReply(call, call.link.lastSeen);
  }

  get(id: number): PendingCall | undefined {
    return this.tracker.get(id);
  }

  /** A reply message arrived for `id`: its deadline starts again. */
  touch(id: number): void {
    this.tracker.touch(id);
  }

  /**
   * Removes the call; `undefined` when it had already ended. `'ok'`: its last
   * reply arrived (timed at the message's receive time); `'cancel'`: unsubscribed.
   */
  settle(id: number, outcome: 'ok' | 'cancel' = 'ok'): PendingCall | undefined {
    const call = this.tracker.delete(id);
    if (call === undefined) return undefined;
    call.link.pending--;
    call.upload?.stop();
    if (outcome === 'ok') this.observeEnd?.(call, 'accepted');
    if (outcome === 'ok') this.metrics.end(call, 'ok', undefined, call.link.lastSeen);
    else this.metrics.abort(call, outcome);
    return call;
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
    this.metrics.end(call, 'error', errorCode(err), call.link.lastSeen);
    this.deliver(call, { err, isDisposed: true });
    return true;
  }

  /** Ends every call on `link` with `err` (no round trip: no latency counted). */
  failLink(link: UpstreamLink, err: unknown): void {
    const code = errorCode(err);
    for (const call of this.tracker.drainWhere(c => c.link === link)) {
      if (this.retried(call, err)) continue;
      this.metrics.abort(call, 'error', code);
      call.upload?.stop();
      this.deliver(call, { err, isDisposed: true });
    }
    link.pending = 0;
  }

  /** Ends every call with `err` (no latency counted). */
  failAll(err: unknown): void {
    const code = errorCode(err);
    for (const call of this.tracker.drain()) {
      call.link.pending = 0;
      this.metrics.abort(call, 'error', code);
      call.upload?.stop();
      this.deliver(call, { err, isDisposed: true });
    }
  }

  /** Whether `call` went out again elsewhere: idempotent, nothing of its reply arrived, no request stream. */
  private retried(call: PendingCall, err: unknown): boolean {
    if (call.retry === undefined || call.chunked || call.upload !== undefined || this.retrier === undefined)
      return false;
    return this.retrier(call, err);
  }

  private expire(call: PendingCall): void {
    call.link.pending--;
    this.observeEnd?.(call, 'timeout');
    this.metrics.abort(call, 'timeout');
    call.upload?.stop();
    this.onTimeout(call);
    this.deliver(call, { err: new ZmqTimeoutError(call.pattern, this.timeoutMs), isDisposed: true });
  }
}
