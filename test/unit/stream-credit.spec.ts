/**
 * The per-stream credit and buffer state machine (lib/protocol/stream-outbox.ts),
 * the grant counter (stream-grants.ts) and the pull driver (stream-source.ts),
 * with a recording sink and a manual yield: no socket, no timers.
 */
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import { decodePayload } from '../../lib/protocol/codec';
import { dataEnvelope, errorEnvelope } from '../../lib/protocol/envelopes';
import { Flag, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { STREAM_SLICE, StreamOutbox, StreamSink } from '../../lib/protocol/stream-outbox';
import { GrantCounter } from '../../lib/protocol/credit';
import { QUEUED_VALUE_OVERHEAD } from '../../lib/protocol/chunk-queue';
import { isAsyncIterable, pullInto } from '../../lib/protocol/stream-source';
import { payloadFrame } from '../helpers/fake-channel';

class Sink implements StreamSink {
  readonly chunks: OutEnvelope[] = [];
  last: OutEnvelope | undefined;
  lastCount = 0;
  failure: Error | undefined;
  /** send() refuses (QUEUE_FULL) after this many chunks. */
  room = Number.POSITIVE_INFINITY;

  send(env: OutEnvelope): boolean {
    if (this.chunks.length >= this.room) return false;
    this.chunks.push(env);
    return true;
  }

  sendLast(env: OutEnvelope): void {
    this.last = env;
    this.lastCount++;
  }

  failed(err: Error): void {
    this.failure = err;
  }

  values(): unknown[] {
    const all = [...this.chunks, ...(this.last?.type === MessageType.Chunk ? [this.last] : [])];
    return all.map(e => decodePayload(e.encoding, payloadFrame(e)));
  }
}

/** A manual Yield: the test runs the yielded turns. */
class Turns {
  private queue: Array<() => void> = [];
  readonly yieldTo = (fn: () => void): void => void this.queue.push(fn);
  get pending(): number {
    return this.queue.length;
  }
  /** Runs queued turns (and those they queue), at most `max`. */
  run(max = 10_000): number {
    let n = 0;
    while (this.queue.length > 0 && n < max) {
      this.queue.shift()!();
      n++;
    }
    return n;
  }
}

const chunk = (v: unknown) => dataEnvelope(MessageType.Chunk, 7, v, 1 << 20);

function outbox(window: number | undefined, limitBytes = 1 << 20) {
  const sink = new Sink();
  const turns = new Turns();
  const box = new StreamOutbox(7, sink, { window, limitBytes, queueLimit: 99, yieldTo: turns.yieldTo });
  return { sink, turns, box };
}

const microtasks = () => new Promise<void>(resolve => setImmediate(resolve));

describe('StreamOutbox', () => {
  it('sends at most the window, buffers the rest, and sends more as credit is granted', async () => {
    const { sink, box } = outbox(4);
    for (let i = 0; i < 10; i++) expect(box.push(chunk(i))).toBe(true);
    expect(sink.chunks).toHaveLength(0); // held to the end of the turn
    await microtasks();
    expect(sink.values()).toEqual([0, 1, 2, 3]);
    expect(box.buffered).toBe(6);
    expect(box.available).toBe(0);
    box.grant(2);
    expect(sink.values()).toEqual([0, 1, 2, 3, 4, 5]);
    box.end(undefined);
    expect(sink.last).toBeUndefined(); // the END flag waits on the last buffered value
    box.grant(100);
    expect(sink.values()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sink.last!.flags & Flag.End).toBe(Flag.End);
    expect(sink.lastCount).toBe(1);
    expect(box.state.kind).toBe('done');
  });

  it('a completion in the same turn joins the last value (CHUNK+END); a later one is its own END', async () => {
    const a = outbox(8);
    a.box.push(chunk('only'));
    a.box.end(undefined);
    expect(a.sink.chunks).toHaveLength(0);
    expect(a.sink.last).toMatchObject({ type: MessageType.Chunk, flags: Flag.End });
    const b = outbox(8);
    b.box.push(chunk('first'));
    await microtasks();
    b.box.end(undefined);
    expect(b.sink.values()).toEqual(['first']);
    expect(b.sink.last).toMatchObject({ type: MessageType.End, id: 7 });
  });

  it('END and ERROR take no credit; an ERROR goes after the buffered values, in order', async () => {
    const { sink, box } = outbox(1);
    box.push(chunk(1));
    box.push(chunk(2));
    await microtasks();
    box.end(errorEnvelope(7, { code: 'E_X' }));
    expect(sink.values()).toEqual([1]);
    expect(sink.last).toBeUndefined();
    box.grant(1);
    expect(sink.values()).toEqual([1, 2]);
    expect(sink.last?.type).toBe(MessageType.Error);
  });

  it('past limitBytes of waiting values (payload and per-value overhead) the stream fails with STREAM_OVERFLOW and drops its buffer', async () => {
    const limit = 2 * (5 + QUEUED_VALUE_OVERHEAD);
    const { sink, box } = outbox(2, limit);
    for (let i = 0; i < 2; i++) box.push(chunk(1000 + i)); // sent with the credit
    await microtasks();
    expect(box.push(chunk(11111))).toBe(true); // 5 bytes and the overhead wait
    expect(box.push(chunk(22222))).toBe(true); // exactly the limit
    expect(box.push(chunk(3))).toBe(false); // past it
    expect(sink.failure).toMatchObject({ code: ZmqErrorCode.STREAM_OVERFLOW, limit, buffered: 2 });
    expect(box.state.kind).toBe('done');
    expect(box.bufferedBytes).toBe(0);
    box.grant(10);
    expect(sink.values()).toEqual([1000, 1001]);
    expect(box.push(chunk(4))).toBe(false);
  });

  it('streams toward one peer share its byte budget: one that would pass it fails, and what others release is given back', () => {
    const shared = { used: 0, limit: 3 * (1 + QUEUED_VALUE_OVERHEAD) };
    const turns = new Turns();
    const make = () => {
      const sink = new Sink();
      const box = new StreamOutbox(7, sink, {
        window: 0,
        limitBytes: 1e9,
        queueLimit: 99,
        yieldTo: turns.yieldTo,
        shared,
      });
      return { sink, box };
    };
    const a = make();
    const b = make();
    expect(a.box.push(chunk(1))).toBe(true);
    expect(a.box.push(chunk(2))).toBe(true);
    expect(b.box.push(chunk(3))).toBe(true);
    expect(b.box.push(chunk(4))).toBe(false);
    expect(b.sink.failure).toMatchObject({ code: ZmqErrorCode.STREAM_OVERFLOW, scope: 'peer' });
    expect(shared.used).toBe(2 * (1 + QUEUED_VALUE_OVERHEAD));
    a.box.grant(2);
    expect(shared.used).toBe(0);
  });

  it('one value larger than the limit still goes when nothing else waits', async () => {
    const { sink, box } = outbox(1, 4);
    expect(box.push(chunk('a long value'))).toBe(true);
    await microtasks();
    expect(sink.values()).toEqual(['a long value']);
  });

  it('a send the socket refuses ends the stream with QUEUE_FULL', async () => {
    const { sink, box } = outbox(undefined);
    sink.room = 3;
    for (let i = 0; i < 5; i++) box.push(chunk(i));
    await microtasks();
    expect(sink.values()).toEqual([0, 1, 2]);
    expect(sink.failure).toMatchObject({ code: ZmqErrorCode.QUEUE_FULL, limit: 99 });
    expect(box.state.kind).toBe('done');
  });

  it('without flow control a burst goes in slices, yielding a turn between them', () => {
    const { sink, turns, box } = outbox(undefined);
    const n = STREAM_SLICE * 3 + 5;
    for (let i = 0; i < n; i++) box.push(chunk(i));
    box.end(undefined);
    expect(sink.chunks).toHaveLength(STREAM_SLICE);
    expect(turns.pending).toBe(1);
    expect(turns.run()).toBe(3);
    expect(sink.values()).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(sink.last!.flags & Flag.End).toBe(Flag.End);
  });

  it('a grant larger than a slice is spent one slice per turn', async () => {
    const { sink, turns, box } = outbox(0);
    for (let i = 0; i < STREAM_SLICE * 2; i++) box.push(chunk(i));
    await microtasks();
    expect(sink.chunks).toHaveLength(0);
    box.grant(STREAM_SLICE * 2);
    expect(sink.chunks).toHaveLength(STREAM_SLICE);
    turns.run();
    expect(sink.chunks).toHaveLength(STREAM_SLICE * 2);
  });

  it('close() drops what waits and sends nothing more', async () => {
    const { sink, box } = outbox(0);
    box.push(chunk(1));
    box.close();
    box.grant(5);
    box.end(undefined);
    await microtasks();
    expect(sink.chunks).toHaveLength(0);
    expect(sink.last).toBeUndefined();
    expect(sink.failure).toBeUndefined();
  });

  it('room: the credit not spoken for; whenRoom fires after a grant', async () => {
    const { box } = outbox(3);
    expect(box.room).toBe(3);
    box.push(chunk(1));
    expect(box.room).toBe(2);
    await microtasks();
    expect(box.room).toBe(2);
    box.push(chunk(2));
    box.push(chunk(3));
    await microtasks();
    expect(box.room).toBe(0);
    let woke = 0;
    box.whenRoom(() => woke++);
    box.grant(2);
    expect(woke).toBe(1);
    expect(box.room).toBe(2);
  });
});

describe('GrantCounter', () => {
  it('grants per half window, not per value', () => {
    const g = new GrantCounter(8);
    const grants = Array.from({ length: 12 }, () => g.take());
    expect(grants).toEqual([0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4]);
    expect(g.pending).toBe(0);
  });

  it('a window of 1 grants each value', () => {
    const g = new GrantCounter(1);
    expect([g.take(), g.take()]).toEqual([1, 1]);
  });
});

describe('pullInto', () => {
  function target(room: () => number) {
    const got: unknown[] = [];
    const ends: string[] = [];
    let waiter: (() => void) | undefined;
    return {
      got,
      ends,
      wake: () => {
        const w = waiter;
        waiter = undefined;
        w?.();
      },
      t: {
        get room() {
          return room() - got.length;
        },
        whenRoom: (fn: () => void) => void (waiter = fn),
        next: (v: unknown) => void got.push(v),
        complete: () => void ends.push('complete'),
        error: (e: unknown) => void ends.push(`error:${(e as Error).message}`),
      },
    };
  }

  it('pulls only while there is room, and resumes when woken', async () => {
    let produced = 0;
    let finished = false;
    async function* gen() {
      try {
        for (let i = 0; i < 10; i++) {
          await Promise.resolve();
          produced++;
          yield i;
        }
      } finally {
        finished = true;
      }
    }
    let limit = 3;
    const x = target(() => limit);
    pullInto(gen(), x.t, fn => setImmediate(fn));
    for (let i = 0; i < 5; i++) await microtasks();
    expect(x.got).toEqual([0, 1, 2]);
    expect(produced).toBe(3); // the generator is suspended at its third yield, asked for nothing more
    limit = 100;
    x.wake();
    for (let i = 0; i < 10 && x.ends.length === 0; i++) await microtasks();
    expect(x.got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(x.ends).toEqual(['complete']);
    expect(finished).toBe(true);
  });

  it('stop() returns the iterator: the generator finally runs', async () => {
    let finished = false;
    async function* gen() {
      try {
        for (let i = 0; ; i++) yield await Promise.resolve(i);
      } finally {
        finished = true;
      }
    }
    const x = target(() => 2);
    const stop = pullInto(gen(), x.t, fn => setImmediate(fn));
    for (let i = 0; i < 5; i++) await microtasks();
    stop();
    for (let i = 0; i < 5 && !finished; i++) await microtasks();
    expect(finished).toBe(true);
    expect(x.ends).toEqual([]);
  });

  it('a source that throws is the target error', async () => {
    async function* gen() {
      yield await Promise.resolve(1);
      throw new Error('broke');
    }
    const x = target(() => 10);
    pullInto(gen(), x.t, fn => setImmediate(fn));
    for (let i = 0; i < 10 && x.ends.length === 0; i++) await microtasks();
    expect(x.got).toEqual([1]);
    expect(x.ends).toEqual(['error:broke']);
  });

  it('isAsyncIterable: generators and Readables are, strings, Buffers and plain objects are not', async () => {
    const { Readable } = await import('node:stream');
    async function* gen() {
      yield await Promise.resolve(0);
    }
    expect(isAsyncIterable(gen())).toBe(true);
    expect(isAsyncIterable(Readable.from([1]))).toBe(true);
    expect(isAsyncIterable('abc')).toBe(false);
    expect(isAsyncIterable(Buffer.from('x'))).toBe(false);
    expect(isAsyncIterable({ a: 1 })).toBe(false);
    expect(isAsyncIterable([1, 2])).toBe(false);
  });
});
