/**
 * Pulls an AsyncIterable (an async generator, a Node `Readable`) into a
 * stream only while the stream has room (docs/PROTOCOL.md §5.8): a source
 * that waits to be asked keeps its memory constant whatever the consumer does.
 */
import { STREAM_SLICE, type Yield } from './stream-credit.js';

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

function noop(): void {}
