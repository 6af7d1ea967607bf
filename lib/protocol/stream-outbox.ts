/**
 * The sending side of one stream under credit (docs/PROTOCOL.md §6): a
 * server's streamed reply, or a client's streamed request. Pure: no socket,
 * no Nest; the owner supplies a {@link StreamSink}.
 */
import { ZmqQueueFullError } from '../errors/zmq.errors.js';
import { ZmqStreamOverflowError } from '../errors/zmq.errors.js';
import { ChunkQueue, queuedCost } from './chunk-queue.js';
import { controlEnvelope } from './envelopes.js';
import { Flag, MessageType, OutEnvelope } from './frames.js';

/** Runs `fn` on a later turn of the event loop, after pending I/O (setImmediate in production). */
export type Yield = (fn: () => void) => void;

export const realYield: Yield = fn => void setImmediate(fn);

/**
 * Most envelopes a stream hands its socket in one turn of the event loop;
 * past it, it yields (so a synchronous burst never starves heartbeats and
 * other callers), and a pulled source is asked for at most this many values per turn.
 */
export const STREAM_SLICE = 512;

/** Where a stream's envelopes go. */
export interface StreamSink {
  /** Queues one CHUNK; false when the socket's queue is full. */
  send(env: OutEnvelope): boolean;
  /** Queues the stream's last envelope (END, CHUNK+END, ERROR), once; the stream is over. */
  sendLast(env: OutEnvelope): void;
  /** The stream cannot go on (STREAM_OVERFLOW, QUEUE_FULL): the owner ends it with `err` on both sides. */
  failed(err: Error): void;
}

/** What a stream's sender is allowed. */
export interface OutboxSettings {
  /** The receiver's window; `undefined` without flow control (the peer did not take `credit`). */
  readonly window: number | undefined;
  /** Most bytes waiting in the buffer (`streamBufferLimit`): payload bytes and a per-value overhead. */
  readonly limitBytes: number;
  /** A budget shared by every stream toward the same peer (what the peer has not read yet, in bytes). */
  readonly shared?: ByteBudget;
  /** The socket queue's limit, named in a QUEUE_FULL. */
  readonly queueLimit: number;
  readonly yieldTo: Yield;
}

/** Bytes several buffers toward one peer may hold together. */
export interface ByteBudget {
  used: number;
  readonly limit: number;
}

/**
 * - `open`: taking values; those the credit does not cover wait in the buffer;
 * - `ending`: the producer ended; the buffer drains as credit comes, then `last` goes;
 * - `done`: the last envelope went, or the stream failed or was closed: nothing more is sent.
 */
export type OutboxState =
  | { readonly kind: 'open' }
  | { readonly kind: 'ending'; readonly last: OutEnvelope | undefined }
  | { readonly kind: 'done' };

/**
 * One stream's credit and buffer. Every CHUNK (with or without flag END)
 * takes one credit; END and ERROR take none. Values wait in a buffer bounded
 * by `limitBytes` of encoded payload; past it the stream fails with
 * STREAM_OVERFLOW. Values are handed to the sink at the end of the turn they
 * were pushed in (so a completion in the same turn joins the last as
 * CHUNK+END), at most {@link STREAM_SLICE} per turn.
 */
export class StreamOutbox {
  private current: OutboxState = { kind: 'open' };
  private readonly buffer: ChunkQueue;
  private credit: number;
  private scheduled = false;
  /** A slice went and the next waits for a later turn (no microtask flush meanwhile). */
  private yielding = false;
  private roomWaiter: (() => void) | undefined;

  private readonly limitBytes: number;

  constructor(
    /** The call's id, for the END of a stream whose last value already went. */
    private readonly id: number,
    private readonly sink: StreamSink,
    private readonly settings: OutboxSettings,
  ) {
    this.credit = settings.window ?? Number.POSITIVE_INFINITY;
    this.buffer = new ChunkQueue(id);
    this.limitBytes = settings.limitBytes;
  }

  get state(): OutboxState {
    return this.current;
  }

  /** Values waiting for credit (or for the end of the turn). */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Encoded payload bytes waiting. */
  get bufferedBytes(): number {
    return this.buffer.bytes;
  }

  /** Credit not yet used. */
  get available(): number {
    return this.credit;
  }

  /**
   * How many values a pulled source may produce now: the credit not already
   * spoken for by buffered values (without flow control, one slice).
   */
  get room(): number {
    if (this.current.kind !== 'open') return 0;
    const cap = Number.isFinite(this.credit) ? this.credit : STREAM_SLICE;
    return cap - this.buffered;
  }

  /** Calls `fn` once when {@link room} may have grown (a grant, a drained slice). */
  whenRoom(fn: () => void): void {
    this.roomWaiter = fn;
  }

  /** Takes one CHUNK; false when the stream is over (it just overflowed, or had ended). */
  push(env: OutEnvelope): boolean {
    if (this.current.kind !== 'open') return false;
    const size = queuedCost(env.payload);
    const shared = this.settings.shared;
    if (this.buffered > 0 && this.buffer.bytes + size > this.limitBytes) {
      this.fail(new ZmqStreamOverflowError(this.limitBytes, this.buffered));
      return false;
    }
    if (shared !== undefined && this.buffered > 0 && shared.used + size > shared.limit) {
      this.fail(new ZmqStreamOverflowError(shared.limit, this.buffered, 'peer'));
      return false;
    }
    this.buffer.push(env, size);
    if (shared !== undefined) shared.used += size;
    this.schedule();
    return true;
  }

  /**
   * The producer ended: `last` is an ERROR, or `undefined` for a completion
   * (END, or flag END on the last buffered CHUNK). It goes after the buffer.
   */
  end(last: OutEnvelope | undefined): void {
    if (this.current.kind !== 'open') return;
    if (last === undefined && this.buffer.endOnLast()) {
      this.current = { kind: 'ending', last: undefined };
    } else {
      this.current = { kind: 'ending', last: last ?? controlEnvelope(MessageType.End, this.id) };
    }
    // The end flushes at once what the credit allows: only the values of this turn were held for it.
    if (!this.yielding) this.flush();
  }

  /** The receiver granted `n` more values. */
  grant(n: number): void {
    if (this.current.kind === 'done') return;
    this.credit += n;
    this.flush();
  }

  /** Hands the sink now what the credit allows (the owner held values until this turn's flush). */
  flushNow(): void {
    if (!this.yielding) this.flush();
  }

  /** Cancelled or the session ended: nothing more is sent, the buffer is dropped. */
  close(): void {
    this.current = { kind: 'done' };
    this.drop();
  }

  private schedule(): void {
    if (this.scheduled || this.yielding) return;
    this.scheduled = true;
    queueMicrotask(this.flushLater);
  }

  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private readonly flushNext = (): void => {
    this.yielding = false;
    this.flush();
  };

  /** Hands the sink what the credit allows, one slice; yields and goes on when more is due. */
  private flush(): void {
    let sent = 0;
    while (this.current.kind !== 'done' && this.buffered > 0 && this.credit > 0 && sent < STREAM_SLICE) {
      const env = this.take();
      this.credit--;
      sent++;
      if (env.flags & Flag.End) {
        this.current = { kind: 'done' };
        this.sink.sendLast(env);
      } else if (!this.sink.send(env)) {
        this.fail(new ZmqQueueFullError(this.settings.queueLimit));
      }
    }
    if (this.current.kind === 'ending' && this.buffered === 0) {
      const { last } = this.current;
      this.current = { kind: 'done' };
      if (last !== undefined) this.sink.sendLast(last);
      return;
    }
    if (this.current.kind !== 'done' && this.buffered > 0 && this.credit > 0) {
      if (!this.yielding) {
        this.yielding = true;
        this.settings.yieldTo(this.flushNext);
      }
    } else if (this.room > 0) this.wake();
  }

  /** The oldest buffered value, its cost given back to the shared budget. */
  private take(): OutEnvelope {
    const before = this.buffer.bytes;
    const env = this.buffer.shift();
    if (this.settings.shared !== undefined) this.settings.shared.used -= before - this.buffer.bytes;
    return env;
  }

  private wake(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
  }

  private fail(err: Error): void {
    this.current = { kind: 'done' };
    this.drop();
    this.sink.failed(err);
  }

  private drop(): void {
    if (this.settings.shared !== undefined) this.settings.shared.used -= this.buffer.bytes;
    this.buffer.clear();
    this.roomWaiter = undefined;
  }
}
