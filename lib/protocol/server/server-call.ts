import { isObservable, Observable, Subscription } from 'rxjs';
import { ZmqPeerLostError, ZmqProtocolError } from '../../errors/zmq.errors.js';
import { ZmqCancelledError } from '../../errors/stream.errors.js';
import type { ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import { CallOutcome, errorCode, Metered } from '../metrics.js';
import { creditEnvelope, grantOf } from '../credit.js';
import { Envelope, Flag, MessageType, OutEnvelope } from '../frames.js';
import { StreamOutbox, StreamSink } from '../stream-credit.js';
import type { CallOutput } from './call-output.js';
import { isAsyncIterable, pullInto } from '../stream-pull.js';
import { RequestStream } from './request-stream.js';
import type { DownstreamSession } from './sessions.js';

/**
 * One request being served (docs/PROTOCOL.md §5.2, §5.4, §5.8): it sends
 * exactly one reply sequence, `CHUNK* (END | CHUNK+END | ERROR)`, unless it
 * is cancelled first, after which it sends nothing. An Observable result is
 * streamed and unsubscribed (its teardown runs) on cancel; an AsyncIterable
 * result (or an Observable's AsyncIterable value) is pulled only while the
 * caller's credit has room. A stream's values go through a {@link StreamOutbox}.
 */
export class ServerCall implements StreamSink, Metered {
  private done = false;
  private subscription: Subscription | undefined;
  private outbox: StreamOutbox | undefined;
  /**
   * The first value of an Observable reply, held until the microtask the
   * outbox would have flushed it in: a completion before then makes it one
   * CHUNK+END with no outbox at all (every handler behind an interceptor).
   */
  private held: OutEnvelope | undefined;
  private stopPull: (() => void) | undefined;
  /** The request's data when it is a stream (flag STREAM, §5.9). */
  private upload: RequestStream | undefined;
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

  /** The stream's credit and buffer, once it streams. */
  get stream(): StreamOutbox | undefined {
    return this.outbox;
  }

  /**
   * The handler produced `result`: a value (one CHUNK+END, or END for
   * `undefined`), an Observable or an AsyncIterable (streamed). `settled`
   * runs once the call has ended, whichever way.
   */
  respond(result: unknown, settled: () => void = noop): void {
    if (this.done) return settled(); // cancelled, or the peer left, while the handler ran
    if (isAsyncIterable(result)) return this.pull(result, settled);
    if (!isObservable(result)) {
      this.finish(this.out.replies.value(this.id, result, Flag.End, this.session.msgpack));
      return settled();
    }
    const subscription = result.subscribe({
      next: value => this.next(value, settled),
      error: err => this.end(this.errorReply(err)),
      complete: () => {
        if (this.stopPull === undefined) this.end(undefined);
      },
    });
    subscription.add(() => {
      if (this.stopPull === undefined) settled();
    });
    if (this.done) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  /** The handler threw or rejected: the reply is that error. */
  fail(err: unknown): void {
    this.finish(this.errorReply(err));
  }

  /**
   * The request's data is a stream (§5.9): the Observable the handler gets,
   * fed by the client's CHUNKs, granted back under this server's window.
   */
  openUpload(window: number): Observable<unknown> {
    const grant = (n: number) => void this.out.send(this.session, creditEnvelope(this.id, n), true);
    this.upload = new RequestStream(window, grant);
    return this.upload.observable;
  }

  /**
   * A CREDIT for the reply stream (§5.8), or a CHUNK or END of the request
   * stream (§5.9); false when this call has no such stream (the engine counts it).
   */
  streamed(env: Envelope): boolean {
    if (env.type === MessageType.Credit) {
      (this.held !== undefined ? this.streaming() : this.outbox)?.grant(grantOf(env.payload));
      return !this.done;
    }
    const upload = this.upload;
    if (upload === undefined || this.done) return false;
    if (env.type === MessageType.End) {
      upload.end();
      return true;
    }
    let value: unknown;
    try {
      value = this.out.dataOf(env, this.session);
    } catch (err) {
      this.failed(new ZmqProtocolError(`Undecodable request stream value: ${(err as Error).message}`));
      return true;
    }
    if (!upload.value(value)) this.failed(new ZmqProtocolError('The request stream went beyond its credit'));
    if (env.flags & Flag.End) upload.end();
    return true;
  }

  /**
   * Ends the call without sending anything more: CANCEL, session gone (`lost`
   * says why), close (`'cancel'`), or the caller's deadline passed (`'timeout'`). A request stream still read fails with
   * CANCELLED, or PEER_LOST when the session ended.
   */
  cancel(outcome: 'cancel' | 'timeout' = 'cancel', lost?: ZmqPeerLeftReason): void {
    if (this.done) return;
    this.done = true;
    this.outcome = outcome;
    this.out.metrics.abort(this, outcome);
    this.forget();
    this.held = undefined;
    this.outbox?.close();
    this.upload?.fail(lost === undefined ? new ZmqCancelledError() : new ZmqPeerLostError(this.session.id, lost));
    this.stop();
    this.out.ended?.();
  }

  /** StreamSink: a CHUNK the credit allows. */
  send(env: OutEnvelope): boolean {
    this.out.deadlines.touch(this);
    return this.out.send(this.session, env);
  }

  /** StreamSink: the stream's last envelope. */
  sendLast(env: OutEnvelope): void {
    this.finish(env);
  }

  /** StreamSink: the stream cannot go on (STREAM_OVERFLOW, QUEUE_FULL); it must not go silent. */
  failed(err: Error): void {
    this.finish(this.errorReply(err));
    this.stop();
  }

  private next(value: unknown, settled: () => void): void {
    if (this.done) return;
    if (isAsyncIterable(value) && this.outbox === undefined && this.held === undefined && this.stopPull === undefined) {
      // Nest behind an interceptor hands over of(iterable): pull the iterable.
      return this.pull(value, settled);
    }
    const env = this.out.replies.value(this.id, value, 0, this.session.msgpack);
    if (env.type === MessageType.Error) return this.end(env, true);
    if (this.outbox === undefined && this.held === undefined && this.stopPull === undefined) {
      this.held = env;
      return queueMicrotask(this.release);
    }
    if (!this.streaming().push(env)) this.stop();
  }

  /** The held first value goes to the outbox (the stream goes on past its first turn). */
  private readonly release = (): void => {
    if (this.held !== undefined && !this.done) this.streaming().flushNow();
  };

  /** The producer ended: `last` is its ERROR (`undefined`: completion); `now`: drop what waits (an encoding error). */
  private end(last: OutEnvelope | undefined, now = false): void {
    if (this.done) return;
    const held = this.outbox === undefined ? this.held : undefined;
    if (held !== undefined && last === undefined) {
      this.held = undefined;
      held.flags |= Flag.End; // a one-value reply: CHUNK+END
      return this.finish(held);
    }
    if (this.outbox === undefined && held === undefined && last !== undefined) return this.finish(last);
    const outbox = this.streaming();
    if (now && last !== undefined) {
      outbox.close();
      this.finish(last);
      return this.stop();
    }
    outbox.end(last);
  }

  private pull(source: AsyncIterable<unknown>, settled: () => void): void {
    const outbox = this.streaming();
    const stop = pullInto(
      source,
      {
        get room() {
          return outbox.room;
        },
        whenRoom: fn => outbox.whenRoom(fn),
        next: value => this.next(value, settled),
        complete: () => {
          this.end(undefined);
          settled();
        },
        error: err => {
          this.end(this.errorReply(err));
          settled();
        },
      },
      this.out.streamSettings(this.session).yieldTo,
    );
    this.stopPull = () => {
      stop();
      settled();
    };
  }

  /** The stream's outbox, made at its first use, with the held first value in it. */
  private streaming(): StreamOutbox {
    if (this.outbox !== undefined) return this.outbox;
    const outbox = (this.outbox = new StreamOutbox(this.id, this, this.out.streamSettings(this.session)));
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && !outbox.push(held)) this.stop();
    return outbox;
  }

  /** Stops the producer: unsubscribes the Observable (teardown runs), returns the iterator. */
  private stop(): void {
    this.subscription?.unsubscribe();
    this.stopPull?.();
  }

  private forget(): void {
    this.out.deadlines.unwatch(this);
    this.session.calls.delete(this.id);
  }

  /** The ERROR reply of `err`, its code kept for the metrics. */
  private errorReply(err: unknown): OutEnvelope {
    this.errorCode = errorCode(err);
    return this.out.replies.error(this.id, err);
  }

  /** Sends the last envelope of the call and forgets it; a request stream still read ends with CANCELLED. */
  private finish(last: OutEnvelope): void {
    if (this.done) return;
    this.done = true;
    this.outcome = last.type === MessageType.Error ? 'error' : 'ok';
    if (this.outcome === 'error') this.errorCode ??= this.out.replies.failureCode;
    this.out.metrics.end(this, this.outcome, this.errorCode);
    this.forget();
    this.out.send(this.session, last, true);
    this.upload?.fail(new ZmqCancelledError('the reply ended first'));
    this.out.ended?.();
  }
}

function noop(): void {}
