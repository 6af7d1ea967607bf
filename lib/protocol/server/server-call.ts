import { isObservable, Subscription } from 'rxjs';
import { ZmqErrorCode, ZmqQueueFullError } from '../../errors/zmq.errors.js';
import { controlEnvelope } from '../envelopes.js';
import { Flag, MessageType, OutEnvelope } from '../frames.js';
import { CallOutcome, errorCode, Metered, Metrics } from '../metrics.js';
import type { DeadlineWatch } from './deadlines.js';
import type { ReplyEncoder } from './replies.js';
import type { DownstreamSession } from './sessions.js';

/** Where a call's replies go. */
export interface CallOutput {
  readonly replies: ReplyEncoder;
  readonly deadlines: DeadlineWatch<ServerCall>;
  /** The outbound queue's limit, for the QUEUE_FULL that ends a stream it cut short. */
  readonly queueLimit: number;
  /** Per-pattern counters and handler times: each call counts once, when it ends. */
  readonly metrics: Metrics;
  /** Queues an envelope; false when the queue is full (`final`: the last one of a call, which has a reserve). */
  send(session: DownstreamSession, env: OutEnvelope, final?: boolean): boolean;
}

/**
 * One request being served (docs/PROTOCOL.md §5.2, §5.4): it sends exactly
 * one reply sequence, `CHUNK* (END | CHUNK+END | ERROR)`, unless it is
 * cancelled first, after which it sends nothing. An Observable result is
 * streamed and unsubscribed (its teardown runs) on cancel.
 */
export class ServerCall implements Metered {
  private done = false;
  private subscription: Subscription | undefined;
  /**
   * The latest CHUNK of a stream, held until the end of the turn: when the
   * completion follows in the same turn (a one-value Observable, as Nest
   * makes of every handler behind an interceptor) it leaves as one CHUNK+END,
   * so a `firstValueFrom` caller has the whole reply and sends no CANCEL.
   */
  private held: OutEnvelope | undefined;
  /** Kept by the DeadlineWatch (Watched). */
  watchBucket = 0;
  watchKey = 0;
  /** Kept by the metrics (Metered). */
  meter: Metered['meter'] = undefined;
  started = 0;
  /** How it ended (`undefined` while in progress), and the code of an error it ended with. */
  outcome: CallOutcome | undefined = undefined;
  errorCode: string | undefined = undefined;

  constructor(
    readonly id: number,
    /** The request's normalized pattern. */
    readonly pattern: string,
    readonly session: DownstreamSession,
    private readonly out: CallOutput,
    /** When the caller stops waiting for the first reply, in epoch ms on this server's clock (§5.6). */
    readonly deadline: number | undefined = undefined,
  ) {
    out.metrics.start(this, pattern, session.lastSeen); // the REQUEST's receive time
  }

  /** Ended: replied in full, failed, cancelled, or its session is gone. */
  get isDone(): boolean {
    return this.done;
  }

  /**
   * The handler produced `result`: a value (one CHUNK+END, or END for
   * `undefined`) or an Observable (streamed). `settled` runs once the call
   * has ended, whichever way.
   */
  respond(result: unknown, settled: () => void = noop): void {
    if (this.done) return settled(); // cancelled, or the peer left, while the handler ran
    if (!isObservable(result)) {
      this.finish(this.out.replies.value(this.id, result, Flag.End, this.session.msgpack));
      return settled();
    }
    const subscription = result.subscribe({
      next: value => this.next(value),
      error: err => {
        this.releaseHeld();
        this.finish(this.out.replies.error(this.id, err), errorCode(err));
      },
      complete: () => this.complete(),
    });
    subscription.add(settled);
    if (this.done) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  /** The handler threw or rejected: the reply is that error. */
  fail(err: unknown): void {
    this.finish(this.out.replies.error(this.id, err), errorCode(err));
  }

  /**
   * Ends the call without sending anything more: CANCEL, session gone, close
   * (`'cancel'`), or the caller's deadline passed (`'timeout'`).
   */
  cancel(reason: 'cancel' | 'timeout' = 'cancel'): void {
    if (this.done) return;
    this.done = true;
    this.outcome = reason;
    this.out.metrics.abort(this, reason);
    this.out.deadlines.unwatch(this);
    this.session.calls.delete(this.id);
    this.subscription?.unsubscribe();
  }

  private next(value: unknown): void {
    if (this.done) return;
    const env = this.out.replies.value(this.id, value, 0, this.session.msgpack);
    if (env.type !== MessageType.Error) {
      if (this.held === undefined) queueMicrotask(this.releaseHeld);
      else this.sendChunk(this.held);
      this.held = env;
      return;
    }
    this.releaseHeld();
    this.finish(env);
    this.subscription?.unsubscribe();
  }

  private complete(): void {
    const last = this.held;
    this.held = undefined;
    if (last === undefined) return this.finish(controlEnvelope(MessageType.End, this.id));
    last.flags |= Flag.End;
    this.finish(last);
  }

  /** Sends the held CHUNK, if any (end of the turn, or before an error). */
  private readonly releaseHeld = (): void => {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && !this.done) this.sendChunk(held);
  };

  private sendChunk(env: OutEnvelope): void {
    this.out.deadlines.touch(this);
    if (this.out.send(this.session, env)) return;
    // The queue is full: the stream cannot go on, and it must not go silent.
    // It ends here with QUEUE_FULL, on this side (teardown) and the caller's.
    this.finish(this.out.replies.error(this.id, new ZmqQueueFullError(this.out.queueLimit)), ZmqErrorCode.QUEUE_FULL);
    this.subscription?.unsubscribe();
  }

  /**
   * Sends the last envelope of the call and forgets it. `code`: what an ERROR
   * is counted under (an encoding failure's when not given).
   */
  private finish(last: OutEnvelope, code?: string): void {
    if (this.done) return;
    this.done = true;
    this.outcome = last.type === MessageType.Error ? 'error' : 'ok';
    if (this.outcome === 'error') this.errorCode = code ?? this.out.replies.failureCode;
    this.out.metrics.end(this, this.outcome, this.errorCode);
    this.out.deadlines.unwatch(this);
    this.session.calls.delete(this.id);
    this.out.send(this.session, last, true);
  }
}

function noop(): void {}
