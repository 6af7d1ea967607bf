/**
 * The producing side of a stream (docs/PROTOCOL.md §6): an Observable is
 * subscribed, an AsyncIterable (an async generator, a Node `Readable`) is
 * pulled only while the stream has room, so a source that waits to be asked
 * keeps its memory constant whatever the consumer does. Server replies and
 * client request streams both feed their outbox through {@link feed}.
 */
import { isObservable, type Observable, type Subscription } from 'rxjs';
import { STREAM_SLICE, type Yield } from './stream-outbox.js';

/** Where pulled values go. */
export interface PullTarget {
  /** How many values may be produced now. */
  readonly room: number;
  /** Calls `fn` once when the room may have grown. */
  whenRoom(fn: () => void): void;
  next(value: unknown): void;
  complete(): void;
  error(err: unknown): void;
}

/** Whether `v` is an AsyncIterable to pull from (a string or a Buffer never is). */
export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Buffer.isBuffer(v) &&
    typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/**
 * Pulls `source` into `target`, yielding a turn every {@link STREAM_SLICE}
 * values. Returns the stop function: it ends the pulling and calls the
 * iterator's `return()`, so a generator's `finally` runs (a `Readable` is
 * destroyed). A source that throws (or rejects) is the target's error.
 */
export function pullInto(source: AsyncIterable<unknown>, target: PullTarget, yieldTo: Yield): () => void {
  let stopped = false;
  let iterator: AsyncIterator<unknown>;
  try {
    iterator = source[Symbol.asyncIterator]();
  } catch (err) {
    target.error(err);
    return noop;
  }
  const waitRoom = () => new Promise<void>(resolve => target.whenRoom(resolve));
  const nextTurn = () => new Promise<void>(resolve => yieldTo(resolve));
  const run = async () => {
    let pulled = 0;
    while (!stopped) {
      if (target.room <= 0) {
        await waitRoom();
        continue;
      }
      if (++pulled % STREAM_SLICE === 0) await nextTurn();
      if (stopped) return;
      const step = await iterator.next();
      if (stopped) return;
      if (step.done === true) return target.complete();
      target.next(step.value);
    }
  };
  run().catch(err => {
    if (!stopped) target.error(err);
  });
  return () => {
    if (stopped) return;
    stopped = true;
    try {
      void Promise.resolve(iterator.return?.()).catch(noop);
    } catch {
      // a return() that throws: the source is gone either way
    }
  };
}

/** Where a fed stream's values go. */
export interface FeedTarget extends PullTarget {
  /** Pulling an AsyncIterable starts (the source itself, or the one an Observable handed over). */
  pulling?(): void;
}

export interface FeedOptions {
  readonly yieldTo: Yield;
  /**
   * An Observable whose first value is an AsyncIterable has that iterable
   * pulled instead of sent (Nest hands a handler's iterable through its
   * interceptors as `of(iterable)`).
   */
  readonly pullFirstIterable?: boolean;
  /** Runs once when the source is finished: completed, failed or stopped. */
  readonly settled?: () => void;
}

/** A stream source: an Observable or an AsyncIterable. */
export type StreamSource = Observable<unknown> | AsyncIterable<unknown>;

/**
 * Feeds `source` into `target` and returns the stop function: it unsubscribes
 * the Observable (its teardown runs) or returns the iterator (a generator's
 * `finally` runs). `settled` runs exactly once, however the source ends.
 */
export function feed(source: StreamSource, target: FeedTarget, options: FeedOptions): () => void {
  let settledOnce = false;
  const settle = () => {
    if (settledOnce) return;
    settledOnce = true;
    options.settled?.();
  };
  if (isObservable(source)) return feedObservable(source, target, options, settle);
  const stop = pullFrom(source, target, options.yieldTo, settle);
  return () => {
    stop();
    settle();
  };
}

/** Pulls `iterable` into `target`; `settle` runs when it completes or fails. */
function pullFrom(iterable: AsyncIterable<unknown>, target: FeedTarget, yieldTo: Yield, settle: () => void) {
  target.pulling?.();
  return pullInto(
    iterable,
    {
      get room() {
        return target.room;
      },
      whenRoom: fn => target.whenRoom(fn),
      next: value => target.next(value),
      complete: () => {
        target.complete();
        settle();
      },
      error: err => {
        target.error(err);
        settle();
      },
    },
    yieldTo,
  );
}

function feedObservable(
  source: Observable<unknown>,
  target: FeedTarget,
  options: FeedOptions,
  settle: () => void,
): () => void {
  let stopped = false;
  let first = true;
  let stopPull: (() => void) | undefined;
  const subscription: Subscription = source.subscribe({
    next: value => {
      if (stopPull !== undefined) return;
      if (first && options.pullFirstIterable === true && isAsyncIterable(value)) {
        first = false;
        stopPull = pullFrom(value, target, options.yieldTo, settle);
        return;
      }
      first = false;
      target.next(value);
    },
    error: err => {
      if (stopPull === undefined) target.error(err);
    },
    complete: () => {
      if (stopPull === undefined) target.complete();
    },
  });
  subscription.add(() => {
    if (stopPull === undefined) settle();
  });
  return () => {
    if (stopped) return;
    stopped = true;
    subscription.unsubscribe();
    if (stopPull !== undefined) {
      stopPull();
      settle();
    }
  };
}

function noop(): void {}
