/**
 * Request streams (PROTOCOL.md §5.9) in both engines over fake channels:
 * the server's RequestStream (the handler's payload Observable) and its
 * grants, the engine's dispatch of a client's CHUNK / END, the client's
 * upload under the server's credit, and how each way a call ends stops
 * both sides (RS-1 … RS-6 in the spec).
 */
import { Observable, Subject } from 'rxjs';
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import { creditEnvelope } from '../../lib/protocol/credit';
import { BYE, controlEnvelope, dataEnvelope } from '../../lib/protocol/envelopes';
import { Encoding, encodePattern, Flag, Metadata, MessageType } from '../../lib/protocol/frames';
import { handshakeEnvelope, Hello } from '../../lib/protocol/handshake';
import { RequestStream } from '../../lib/protocol/server/request-stream';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { A, connectedOne } from '../helpers/client-engine';
import { listeningEngine, serverConfig } from '../helpers/server-engine';

const MAX = 64 * 1024;
const HB = { interval: 1_000, liveness: 3 };
const R1 = Buffer.from([0, 1, 1, 1, 1]);
const tick = () => new Promise<void>(resolve => setImmediate(resolve));

describe('RequestStream', () => {
  function stream(window = 4) {
    const grants: number[] = [];
    return { s: new RequestStream(window, n => void grants.push(n)), grants };
  }

  it('values before the subscription wait (at most a window); taken values are granted per half window', () => {
    const { s, grants } = stream(4);
    for (let i = 0; i < 4; i++) expect(s.value(i)).toBe(true);
    expect(s.value(99)).toBe(false); // beyond the credit
    const got: unknown[] = [];
    s.observable.subscribe(v => got.push(v));
    expect(got).toEqual([0, 1, 2, 3]);
    expect(grants).toEqual([2, 2]);
    s.value(4);
    s.value(5);
    expect(grants).toEqual([2, 2, 2]);
  });

  it('credit holds once the handler subscribed: after it unsubscribes, values past the credit are refused', () => {
    const { s, grants } = stream(4);
    const sub = s.observable.subscribe(() => undefined);
    for (let i = 0; i < 4; i++) expect(s.value(i)).toBe(true);
    expect(grants).toEqual([2, 2]);
    sub.unsubscribe();
    for (let i = 0; i < 4; i++) expect(s.value(i)).toBe(true); // the credit granted so far
    expect(s.value(99)).toBe(false);
  });

  it('values waiting for the subscriber are bounded in bytes: the stream limit and the session budget', () => {
    const shared = { used: 0, limit: 250 };
    const own = new RequestStream(100, () => undefined, { bytes: 150, shared });
    expect(own.value('a', 100)).toBe(true);
    expect(own.value('b', 100)).toBe(false); // past the stream's 150
    const other = new RequestStream(100, () => undefined, { bytes: 1_000, shared });
    expect(other.value('c', 100)).toBe(true);
    expect(other.value('d', 100)).toBe(false); // past the session's 250
    expect(shared.used).toBe(200);
    own.observable.subscribe(() => undefined); // taken: its bytes go back
    expect(shared.used).toBe(100);
    other.fail(new Error('cancelled'));
    expect(shared.used).toBe(0);
  });

  it('END completes after what waits; fail() errors a subscriber that is still there', () => {
    const a = stream();
    a.s.value(1);
    a.s.end();
    const events: string[] = [];
    a.s.observable.subscribe({ next: v => events.push(`v${String(v)}`), complete: () => events.push('done') });
    expect(events).toEqual(['v1', 'done']);
    const b = stream();
    let err: unknown;
    b.s.observable.subscribe({ error: e => (err = e) });
    b.s.fail(new Error('gone'));
    expect(err).toEqual(new Error('gone'));
    expect(b.s.state.kind).toBe('failed');
  });

  it('one subscriber only; after an unsubscribe, values are not granted back', () => {
    const { s, grants } = stream(2);
    const sub = s.observable.subscribe();
    let second: unknown;
    s.observable.subscribe({ error: e => (second = e) });
    expect(second).toBeInstanceOf(Error);
    sub.unsubscribe();
    s.value(1);
    s.value(2);
    expect(grants).toEqual([]);
  });
});

class Host implements ServerHost<string> {
  readonly runs: Array<{ call: ServerCall; data: unknown }> = [];
  requestHandler(pattern: string): string | null {
    return pattern;
  }
  served() {
    return { patterns: ['up'], events: [] };
  }
  runRequest(call: ServerCall, _h: string, data: unknown, _m: Metadata | undefined): void {
    this.runs.push({ call, data });
  }
  runEvent(): void {}
}

async function server() {
  const host = new Host();
  const config = serverConfig(MAX, HB, { stream: { window: 4, bufferLimit: 1 << 20 }, socket: { queueLimit: 50 } });
  const { engine, observer, ch } = await listeningEngine(host, config, { yieldTo: fn => setImmediate(fn) });
  const hello: Hello = { version: 1, id: 'c1', metadata: {}, heartbeat: HB, features: ['credit'], window: 4 };
  ch.deliverFrom(R1, handshakeEnvelope(MessageType.Hello, hello));
  return { engine, host, observer, ch };
}

const streamReq = (id: number) =>
  dataEnvelope(MessageType.Request, id, undefined, MAX, Flag.Stream, encodePattern('up'));
const upChunk = (id: number, v: unknown, flags = 0) => dataEnvelope(MessageType.Chunk, id, v, MAX, flags);

describe('server: a request stream', () => {
  it('the handler gets an Observable fed by the CHUNKs, granted back per half window; END completes it (RS-1, RS-2)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, streamReq(1));
    const payload = s.host.runs[0]!.data as Observable<number>;
    expect(payload).toBeInstanceOf(Observable);
    const got: number[] = [];
    let completed = false;
    payload.subscribe({ next: v => got.push(v), complete: () => (completed = true) });
    for (let i = 0; i < 4; i++) s.ch.deliverFrom(R1, upChunk(1, i));
    expect(s.ch.of(MessageType.Credit).map(e => [e.id, (e.payload as Buffer).readUInt32BE(0)])).toEqual([
      [1, 2],
      [1, 2],
    ]);
    s.ch.deliverFrom(R1, upChunk(1, 4, Flag.End));
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(completed).toBe(true);
  });

  it('a CANCEL errors the payload with CANCELLED; the end of the session with PEER_LOST (RS-4)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, streamReq(1), streamReq(2));
    const errors: unknown[] = [];
    for (const run of s.host.runs) (run.data as Observable<unknown>).subscribe({ error: e => errors.push(e) });
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Cancel, 1));
    s.ch.deliverFrom(R1, BYE);
    expect(errors).toMatchObject([{ code: ZmqErrorCode.CANCELLED }, { code: ZmqErrorCode.PEER_LOST, reason: 'bye' }]);
  });

  it('the reply ends first: a payload still read errors with CANCELLED; later CHUNKs are counted lateReply (RS-4, RS-3)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, streamReq(1));
    const run = s.host.runs[0]!;
    let err: unknown;
    (run.data as Observable<unknown>).subscribe({ error: e => (err = e) });
    run.call.respond('done early');
    expect(err).toMatchObject({ code: ZmqErrorCode.CANCELLED });
    s.ch.deliverFrom(R1, upChunk(1, 'late'));
    expect(s.observer.dropped('lateReply')).toBe(1);
  });

  it('[S-25] a CHUNK for a call that is not a stream is counted; an undecodable or excess one fails the call MALFORMED (RS-3)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, 'plain', MAX, 0, encodePattern('up')));
    s.ch.deliverFrom(R1, upChunk(1, 'stray'));
    expect(s.observer.dropped('lateReply')).toBe(1);
    s.ch.deliverFrom(R1, streamReq(2));
    s.ch.deliverFrom(R1, { ...upChunk(2, 1), encoding: Encoding.Json, payload: '{not json' });
    expect(s.ch.of(MessageType.Error).at(-1)).toMatchObject({ id: 2, payload: { code: 'MALFORMED' } });
    s.ch.deliverFrom(R1, streamReq(3));
    for (let i = 0; i < 5; i++) s.ch.deliverFrom(R1, upChunk(3, i)); // nobody subscribed: the fifth is past the window
    expect(s.ch.of(MessageType.Error).at(-1)).toMatchObject({ id: 3, payload: { code: 'MALFORMED' } });
  });

  /** Fills this turn's admission budget (8 starts) with plain requests, so the next REQUEST waits in the queue. */
  function fillTurn(s: Awaited<ReturnType<typeof server>>): void {
    for (let id = 101; id <= 108; id++)
      s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, id, 'plain', MAX, 0, encodePattern('up')));
    expect(s.host.runs).toHaveLength(8);
  }

  async function runsOf(s: Awaited<ReturnType<typeof server>>, n: number): Promise<void> {
    for (let i = 0; i < 100 && s.host.runs.length < n; i++) await new Promise(resolve => setImmediate(resolve));
    expect(s.host.runs).toHaveLength(n);
  }

  it('CHUNKs and END that come while the REQUEST waits for admission reach the handler when it starts (RS-1, RS-2)', async () => {
    const s = await server();
    fillTurn(s);
    s.ch.deliverFrom(R1, streamReq(1), upChunk(1, 'a'), upChunk(1, 'b'), controlEnvelope(MessageType.End, 1));
    expect(s.host.runs).toHaveLength(8);
    expect(s.observer.dropped('lateReply')).toBe(0);
    await runsOf(s, 9);
    const got: unknown[] = [];
    let completed = false;
    (s.host.runs[8]!.data as Observable<unknown>).subscribe({
      next: v => got.push(v),
      complete: () => (completed = true),
    });
    expect(got).toEqual(['a', 'b']);
    expect(completed).toBe(true);
  });

  it('a waiting request stream held to its credit: past the window it is refused MALFORMED and never runs (RS-3)', async () => {
    const s = await server();
    fillTurn(s);
    s.ch.deliverFrom(R1, streamReq(1));
    for (let i = 0; i < 5; i++) s.ch.deliverFrom(R1, upChunk(1, i)); // the window is 4
    expect(s.ch.of(MessageType.Error).at(-1)).toMatchObject({ id: 1, payload: { code: 'MALFORMED' } });
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 2, 'plain', MAX, 0, encodePattern('up')));
    await runsOf(s, 9);
    expect(s.host.runs.map(r => r.call.id)).not.toContain(1);
  });

  it('[S-32] a CANCEL for a waiting request: it never runs, it is counted cancelled, what its stream sent is let go', async () => {
    const s = await server();
    fillTurn(s);
    s.ch.deliverFrom(R1, streamReq(1), upChunk(1, 'a'), controlEnvelope(MessageType.Cancel, 1));
    expect(s.engine.admissionStats()).toMatchObject({ cancelled: 1, waiting: 0 });
    s.ch.deliverFrom(R1, upChunk(1, 'late'));
    expect(s.observer.dropped('lateReply')).toBe(1);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 2, 'plain', MAX, 0, encodePattern('up')));
    await runsOf(s, 9);
    expect(s.host.runs.map(r => r.call.id)).not.toContain(1);
  });

  it('a CREDIT, or a CHUNK for a waiting request that is not a stream, is counted and not held', async () => {
    const s = await server();
    fillTurn(s);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, 'plain', MAX, 0, encodePattern('up')));
    s.ch.deliverFrom(R1, upChunk(1, 'stray'), creditEnvelope(1, 4));
    expect(s.observer.dropped('unexpected')).toBe(2);
    await runsOf(s, 9);
    expect(s.host.runs[8]!.data).toBe('plain');
  });

  it('flag STREAM with a payload is malformed (header)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, 'x', MAX, Flag.Stream, encodePattern('up')));
    expect(s.observer.dropped('header')).toBe(1);
    expect(s.host.runs).toHaveLength(0);
  });
});

async function client(serverCredit: boolean, bufferLimit = 1 << 20) {
  const { engine, ch, time, observer } = await connectedOne(
    {
      id: 'c1',
      instance: 'i',
      heartbeat: HB,
      stream: { window: 4, bufferLimit },
      socket: { queueLimit: 100 },
    },
    ['up'],
    { id: 'srv', heartbeat: HB, ...(serverCredit ? { features: ['credit'], window: 3 } : {}) },
  );
  const packets: ReplyPacket[] = [];
  return { engine, ch: ch(A), time, observer, packets, cb: (p: ReplyPacket) => void packets.push(p) };
}

const upValues = (ch: { of(t: MessageType): Array<{ payload: unknown; flags: number }> }) =>
  ch.of(MessageType.Chunk).map(e => e.payload);

describe('client: an upload', () => {
  it('[W-19] REQUEST with flag STREAM and no payload, then CHUNKs within the server window, more per CREDIT, then END (RS-1, RS-2)', async () => {
    const c = await client(true);
    const source = new Subject<number>();
    c.engine.request('up', source, undefined, c.cb);
    const req = c.ch.of(MessageType.Request)[0]!;
    expect(req.flags & Flag.Stream).toBe(Flag.Stream);
    expect(req.encoding).toBe(Encoding.None);
    for (let i = 0; i < 5; i++) source.next(i);
    await tick();
    expect(upValues(c.ch)).toEqual([0, 1, 2]);
    c.ch.deliver(creditEnvelope(req.id, 2));
    expect(upValues(c.ch)).toEqual([0, 1, 2, 3, 4]);
    source.complete();
    expect(c.ch.count(MessageType.End)).toBe(1);
    expect(c.ch.of(MessageType.Chunk).every(e => e.id === req.id)).toBe(true);
  });

  it('an AsyncIterable source is pulled only under credit', async () => {
    const c = await client(true);
    let produced = 0;
    async function* gen() {
      for (let i = 0; i < 100; i++) {
        produced++;
        yield await Promise.resolve(i);
      }
    }
    c.engine.request('up', gen(), undefined, c.cb);
    const id = c.ch.of(MessageType.Request)[0]!.id;
    for (let i = 0; i < 5; i++) await tick();
    expect(upValues(c.ch)).toEqual([0, 1, 2]);
    expect(produced).toBeLessThanOrEqual(4);
    c.ch.deliver(creditEnvelope(id, 100));
    for (let i = 0; i < 10 && c.ch.count(MessageType.End) === 0; i++) await tick();
    expect(upValues(c.ch)).toHaveLength(100);
    expect(c.ch.count(MessageType.End)).toBe(1);
  });

  it('the reply, a cancel, the loss of the session each stop the source: its teardown runs (RS-4)', async () => {
    const c = await client(true);
    const teardowns: string[] = [];
    const source = (tag: string) => new Observable<number>(() => () => void teardowns.push(tag));
    c.engine.request('up', source('reply'), undefined, c.cb);
    const first = c.ch.of(MessageType.Request)[0]!.id;
    c.ch.deliver(dataEnvelope(MessageType.Chunk, first, 'ok', MAX, Flag.End));
    const cancel = c.engine.request('up', source('cancel'), undefined, c.cb);
    cancel();
    expect(c.ch.count(MessageType.Cancel)).toBe(1);
    c.engine.request('up', source('lost'), undefined, c.cb);
    c.ch.deliver(BYE);
    expect(teardowns).toEqual(['reply', 'cancel', 'lost']);
    expect(c.packets.at(-1)!.err).toMatchObject({ code: ZmqErrorCode.PEER_LOST });
  });

  it('[W-22] past streamBufferLimit the call fails STREAM_OVERFLOW here and the server gets a CANCEL (RS-6)', async () => {
    const c = await client(true, 10);
    const source = new Subject<string>();
    let tornDown = false;
    c.engine.request(
      'up',
      new Observable<string>(s => {
        const inner = source.subscribe(s);
        return () => {
          tornDown = true;
          inner.unsubscribe();
        };
      }),
      undefined,
      c.cb,
    );
    for (let i = 0; i < 10; i++) source.next('12345');
    expect(c.packets).toMatchObject([{ err: { code: ZmqErrorCode.STREAM_OVERFLOW }, isDisposed: true }]);
    expect(c.ch.count(MessageType.Cancel)).toBe(1);
    expect(tornDown).toBe(true);
  });

  it('[C-13] a server that did not take credit: STREAM_UNSUPPORTED at once, nothing sent', async () => {
    const c = await client(false);
    c.engine.request('up', new Subject(), undefined, c.cb);
    expect(c.packets).toMatchObject([{ err: { code: ZmqErrorCode.STREAM_UNSUPPORTED }, isDisposed: true }]);
    expect(c.ch.count(MessageType.Request)).toBe(0);
  });

  it('[W-21] a CREDIT for an unknown call is counted lateReply', async () => {
    const c = await client(true);
    c.ch.deliver(creditEnvelope(77, 1));
    expect(c.observer.dropped('lateReply')).toBe(1);
  });
});
