import { isObservable, Observable } from 'rxjs';
import { ZmqPeerLostError, ZmqProtocolError } from '../../errors/zmq.errors.js';
import { ZmqCancelledError } from '../../errors/zmq.errors.js';
import type { ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import { CallOutcome, errorCode, Metered } from '../metrics.js';
import { queuedCost } from '../chunk-queue.js';
import { creditEnvelope, grantOf } from '../credit.js';
import { Envelope, Flag, MessageType, OutEnvelope } from '../frames.js';
import { StreamOutbox, StreamSink } from '../stream-outbox.js';
import type { CallOutput } from './call-output.js';
import { feed, FeedTarget, isAsyncIterable } from '../stream-source.js';
import { RequestStream } from './request-stream.js';
import type { DownstreamSession } from './sessions.js';

/**
 * Where a call's reply stands (docs/PROTOCOL.md §5.3, the call table):
 * - `idle`: the handler runs; nothing is sent yet.
 * - `held`: an Observable's first value, held until the microtask its outbox
 *   would have flushed it in: a completion before then makes it one CHUNK+END
 *   with no outbox at all (every handler behind an interceptor).
 * - `streaming`: an Observable's values go out through the outbox under credit.
 * - `pulling`: an AsyncIterable is pulled while the outbox has room.
 * - `done`: the last envelope is sent, or the call was cancelled; nothing more goes out.
 */
export type ReplyState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'held'; readonly first: OutEnvelope }
  | { readonly kind: 'streaming'; readonly outbox: StreamOutbox }
  | { readonly kind: 'pulling'; readonly outbox: StreamOutbox }
  | { readonly kind: 'done'; readonly outcome: CallOutcome; readonly code: string | undefined };

export type ReplyKind = ReplyState['kind'];

/** The moves a reply may make; anything else is a bug caught where it happens. */
const REPLY_MOVES: Readonly<Record<ReplyKind, readonly ReplyKind[]>> = {
  idle: ['held', 'streaming', 'pulling', 'done'],
  held: ['streaming', 'done'],
  streaming: ['done'],
  pulling: ['done'],
  done: [],
};

/**
 * One request being served (docs/PROTOCOL.md §5.1, §5.3, §6): it sends
 * exactly one reply sequence, `CHUNK* (END | CHUNK+END | ERROR)`, unless it
 * is cancelled first, after which it sends nothing. An Observable result is
 * streamed and unsubscribed (its teardown runs) on cancel; an AsyncIterable
 * result (or an Observable's AsyncIterable value) is pulled only while the
 * caller's credit has room. Its reply moves through {@link ReplyState}.
 */
export class ServerCall implements StreamSink, Metered {
  private reply: ReplyState = IDLE;
  /** Stops the handler's Observable or iterator, once it produces. */
  private stopProducer: (() => void) | undefined;
  /** The request's data when it is a stream (flag STREAM, §6.1). */
  private upload: RequestStream | undefined;
  /** The code of the ERROR reply built for this call, for the metrics once it is sent. */
  private replyErrorCode: string | undefined;
  /** Kept by the DeadlineWatch (Watched). */
  watchBucket = 0;
  watchKey = 0;
  /** Kept by the metrics (Metered). */
  meter: Metered['meter'] = undefined;
  started = 0;

  constructor(
    readonly id: number,
    /** The request's normalized pattern. */
    readonly pattern: string,
    readonly session: DownstreamSession,
    private readonly out: CallOutput,
    /** When the caller stops waiting for the first reply, in epoch ms on this server's clock (§5.5). */
    readonly deadline: number | undefined = undefined,
  ) {
    out.metrics.start(this, pattern, session.lastSeen); // the REQUEST's receive time
  }

  /** Where the reply stands. */
  get state(): ReplyState {
    return this.reply;
  }

  /** Ended: replied in full, failed, cancelled, or its session is gone. */
  get isDone(): boolean {
    return this.reply.kind === 'done';
  }

  /** How it ended (`undefined` while in progress). */
  get outcome(): CallOutcome | undefined {
    return this.reply.kind === 'done' ? this.reply.outcome : undefined;
  }

  /** The code of the error it ended with. */
  get errorCode(): string | undefined {
    return this.reply.kind === 'done' ? this.reply.code : undefined;
  }

  /** The stream's credit and buffer, once it streams. */
  get stream(): StreamOutbox | undefined {
    return this.reply.kind === 'streaming' || this.reply.kind === 'pulling' ? this.reply.outbox : undefined;
  }

  /**
   * The handler produced `result`: a value (one CHUNK+END, or END for
   * `undefined`), an Observable or an AsyncIterable (streamed). `settled`
   * runs once the call has ended, whichever way.
   */
  respond(result: unknown, settled: () => void = noop): void {
    if (this.isDone) return settled(); // cancelled, or the peer left, while the handler ran
    if (!isObservable(result) && !isAsyncIterable(result)) {
      this.finish(this.out.replies.value(this.id, result, Flag.End, this.session.msgpack));
      return settled();
    }
    const stop = feed(result, this.producerTarget, {
      yieldTo: this.out.streamSettings(this.session).yieldTo,
      pullFirstIterable: true,
      settled,
    });
    if (this.isDone) stop();
    else this.stopProducer = stop;
  }

  /** The handler threw or rejected: the reply is that error. */
  fail(err: unknown): void {
    this.finish(this.errorReply(err));
  }

  /**
   * The request's data is a stream (§6.1): the Observable the handler gets,
   * fed by the client's CHUNKs, granted back under this server's window.
   */
  openUpload(window: number): Observable<unknown> {
    const grant = (n: number) => void this.out.send(this.session, creditEnvelope(this.id, n), true);
    const settings = this.out.streamSettings(this.session);
    this.upload = new RequestStream(window, grant, { bytes: settings.limitBytes, shared: settings.shared });
    return this.upload.observable;
  }

  /**
   * A CREDIT for the reply stream (§6), or a CHUNK or END of the request
   * stream (§6.1); false when this call has no such stream (the engine counts it).
   */
  streamed(env: Envelope): boolean {
    if (env.type === MessageType.Credit) {
      if (this.reply.kind === 'done') return false;
      if (this.reply.kind !== 'idle') this.outbox().grant(grantOf(env.payload));
      return true;
    }
    const upload = this.upload;
    if (upload === undefined || this.isDone) return false;
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
    if (!upload.value(value, queuedCost(env.payload)))
      this.failed(new ZmqProtocolError('The request stream went beyond its credit or its buffer limits'));
    if (env.flags & Flag.End) upload.end();
    return true;
  }

  /**
   * Ends the call without sending anything more: CANCEL, session gone (`lost`
   * says why), close (`'cancel'`), or the caller's deadline passed (`'timeout'`). A request stream still read fails with
   * CANCELLED, or PEER_LOST when the session ended.
   */
  cancel(outcome: 'cancel' | 'timeout' = 'cancel', lost?: ZmqPeerLeftReason): void {
    if (this.isDone) return;
    const outbox = this.stream;
    this.to({ kind: 'done', outcome, code: undefined });
    this.out.metrics.abort(this, outcome);
    this.forget();
    outbox?.close();
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

  /** The one place the reply's state changes. */
  private to(next: ReplyState): void {
    if (!REPLY_MOVES[this.reply.kind].includes(next.kind)) {
      throw new Error(`A call's reply cannot go from ${this.reply.kind} to ${next.kind}`);
    }
    this.reply = next;
  }

  /** What the handler's Observable or iterator feeds. */
  private readonly producerTarget: FeedTarget = (call => ({
    get room() {
      return call.stream?.room ?? 0;
    },
    whenRoom: fn => call.stream?.whenRoom(fn),
    next: value => call.next(value),
    complete: () => call.end(undefined),
    error: err => call.end(call.errorReply(err)),
    pulling: () => call.pulling(),
  }))(this);

  /** Pulling starts: the outbox exists from the first value on. */
  private pulling(): void {
    if (this.reply.kind === 'idle') this.to({ kind: 'pulling', outbox: this.newOutbox() });
  }

  private next(value: unknown): void {
    if (this.isDone) return;
    const env = this.out.replies.value(this.id, value, 0, this.session.msgpack);
    if (env.type === MessageType.Error) return this.end(env, true);
    if (this.reply.kind === 'idle') {
      this.to({ kind: 'held', first: env });
      return queueMicrotask(this.release);
    }
    if (!this.outbox().push(env)) this.stop();
  }

  /** The held first value goes to the outbox (the stream goes on past its first turn). */
  private readonly release = (): void => {
    if (this.reply.kind === 'held') this.outbox().flushNow();
  };

  /** The producer ended: `last` is its ERROR (`undefined`: completion); `now`: drop what waits (an encoding error). */
  private end(last: OutEnvelope | undefined, now = false): void {
    const reply = this.reply;
    if (reply.kind === 'done') return;
    if (reply.kind === 'held' && last === undefined) {
      reply.first.flags |= Flag.End; // a one-value reply: CHUNK+END
      return this.finish(reply.first);
    }
    if (reply.kind === 'idle' && last !== undefined) return this.finish(last);
    const outbox = this.outbox();
    if (now && last !== undefined) {
      outbox.close();
      this.finish(last);
      return this.stop();
    }
    outbox.end(last);
  }

  /** The stream's outbox: made at the first use past `idle`/`held`, with the held first value in it. */
  private outbox(): StreamOutbox {
    const reply = this.reply;
    if (reply.kind === 'streaming' || reply.kind === 'pulling') return reply.outbox;
    const outbox = this.newOutbox();
    this.to({ kind: 'streaming', outbox });
    if (reply.kind === 'held' && !outbox.push(reply.first)) this.stop();
    return outbox;
  }

  private newOutbox(): StreamOutbox {
    return new StreamOutbox(this.id, this, this.out.streamSettings(this.session));
  }

  /** Stops the producer: unsubscribes the Observable (teardown runs), returns the iterator. */
  private stop(): void {
    this.stopProducer?.();
  }

  private forget(): void {
    this.out.deadlines.unwatch(this);
    this.session.calls.delete(this.id);
  }

  /** The ERROR reply of `err`, its code kept for the metrics. */
  private errorReply(err: unknown): OutEnvelope {
    this.replyErrorCode = errorCode(err);
    return this.out.replies.error(this.id, err);
  }

  /** Sends the last envelope of the call and forgets it; a request stream still read ends with CANCELLED. */
  private finish(last: OutEnvelope): void {
    if (this.isDone) return;
    const failed = last.type === MessageType.Error;
    const code = failed ? (this.replyErrorCode ?? this.out.replies.failureCode) : undefined;
    this.to({ kind: 'done', outcome: failed ? 'error' : 'ok', code });
    this.out.metrics.end(this, failed ? 'error' : 'ok', code);
    this.forget();
    this.out.send(this.session, last, true);
    this.upload?.fail(new ZmqCancelledError('the reply ended first'));
    this.out.ended?.();
  }
}

const IDLE: ReplyState = { kind: 'idle' };

function noop(): void {}
