/**
 * ServerEngine driven by hand: a fake bound channel instead of a ROUTER, a
 * fake ServerHost instead of Nest, ManualTime instead of timers. Plus the
 * pure HELLO decision.
 */
import { Observable, Subject } from 'rxjs';
import { ZmqBindError, ZmqErrorCode } from '../../lib/errors/zmq.errors';
import { controlEnvelope, dataEnvelope, PING, PONG } from '../../lib/protocol/envelopes';
import { EMPTY, Encoding, encodePattern, Flag, MessageType, Metadata, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, Hello } from '../../lib/protocol/handshake';
import { MAX_HANDSHAKE_BYTES } from '../../lib/protocol/limits';
import { MAX_HELLO_BYTES } from '../../lib/protocol/tuning';
import { decideHello, SessionIdentity } from '../../lib/protocol/server/hello-decision';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerEngineConfig, ServerHost } from '../../lib/protocol/server/server-deps';
import { ServerEngine } from '../../lib/protocol/server/server-engine';
import { FakeBinder, foreignVersionFrames, RecordingObserver } from '../helpers/fake-channel';
import { ManualTime } from '../helpers/manual-time';
import { listeningEngine } from '../helpers/server-engine';

const MAX = 1024;
const HB = { interval: 100, liveness: 3 };
const R1 = Buffer.from([0, 1, 1, 1, 1]);
const R2 = Buffer.from([0, 2, 2, 2, 2]);
const R3 = Buffer.from([0, 3, 3, 3, 3]);

interface RanRequest {
  call: ServerCall;
  handler: string;
  data: unknown;
  metadata: Metadata | undefined;
}

/** A ServerHost whose handlers are tokens; requests wait for the test to answer them. */
class FakeHost implements ServerHost<string> {
  patterns = ['echo', 'stream'];
  events = ['audit'];
  readonly requests: RanRequest[] = [];
  readonly eventsRun: Array<{ pattern: string; data: unknown; peerId: string }> = [];

  requestHandler(pattern: string): string | null {
    return this.patterns.includes(pattern) ? `handler:${pattern}` : null;
  }

  served(): { patterns: string[]; events: string[] } {
    return { patterns: [...this.patterns], events: [...this.events] };
  }

  runRequest(call: ServerCall, handler: string, data: unknown, metadata: Metadata | undefined): void {
    this.requests.push({ call, handler, data, metadata });
  }

  runEvent(pattern: string, data: unknown, peerId: string): void {
    this.eventsRun.push({ pattern, data, peerId });
  }

  /** The call of the request with this id; throws when none ran. */
  call(id: number): ServerCall {
    const r = this.requests.find(x => x.call.id === id);
    if (r === undefined) throw new Error(`no request ${id} ran`);
    return r.call;
  }
}

function config(over: Partial<ServerEngineConfig> = {}): ServerEngineConfig {
  return {
    endpoints: ['tcp://127.0.0.1:*'],
    id: 'srv-1',
    metadata: { zone: 'eu' },
    maxPayload: MAX,
    heartbeat: HB,
    ...over,
  };
}

async function listening(over: Partial<ServerEngineConfig> = {}) {
  const host = new FakeHost();
  const { time, net, observer, engine, ch } = await listeningEngine(host, config(over));
  return { time, net, host, observer, engine, ch };
}

type Listening = Awaited<ReturnType<typeof listening>>;

function helloEnv(id: string, instance?: string, version = 1): OutEnvelope {
  const hello: Hello = {
    version,
    id,
    ...(instance !== undefined ? { instance } : {}),
    metadata: { role: id },
    heartbeat: { interval: 1_000, liveness: 3 },
  };
  return handshakeEnvelope(MessageType.Hello, hello);
}

const req = (id: number, pattern: string, data: unknown = null) =>
  dataEnvelope(MessageType.Request, id, data, MAX, 0, encodePattern(pattern));
const event = (pattern: string, data: unknown) =>
  dataEnvelope(MessageType.Event, 0, data, MAX, 0, encodePattern(pattern));

/** A client with a session on `rid`. */
function join(s: Listening, rid: Buffer, id: string, instance = `${id}-i`): void {
  s.ch.deliverFrom(rid, helloEnv(id, instance));
  expect(s.ch.to(rid).at(-1)?.type).toBe(MessageType.Welcome);
}

/** The error code in the payload of a sent ERROR. */
function codeOf(sent: { payload: unknown }): unknown {
  return (sent.payload as { code?: unknown }).code;
}

describe('ServerEngine: lifecycle', () => {
  it('listens on the bound endpoints (`*` resolved) and refuses to listen twice', async () => {
    const s = await listening();
    expect(s.engine.state.kind).toBe('listening');
    expect(s.engine.endpoints).toEqual(['tcp://127.0.0.1:5555']);
    expect(s.engine.raw).toBe(s.ch.raw);
    await expect(s.engine.listen()).rejects.toThrow('already listening');
    expect(s.net.channels).toHaveLength(1);
  });

  it('a failed bind leaves it idle, and listen() works after', async () => {
    const time = new ManualTime();
    const net = new FakeBinder();
    const engine = new ServerEngine<string>({
      config: config(),
      bind: net.bind,
      host: new FakeHost(),
      observer: new RecordingObserver(),
      clock: time,
      scheduler: time,
    });
    const failure = new ZmqBindError('tcp://127.0.0.1:*', new Error('EADDRINUSE'));
    net.failNext = failure;
    await expect(engine.listen()).rejects.toBe(failure);
    expect(engine.state.kind).toBe('idle');
    expect(time.pending).toBe(0); // no heartbeat running
    await engine.listen();
    expect(engine.state.kind).toBe('listening');
  });

  it('close(): BYE to each session, each leaves with bye, calls are cancelled, the channel closes once', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    join(s, R2, 'c2');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    let teardown = 0;
    s.host.call(1).respond(new Observable(() => () => void teardown++));
    await s.engine.close();
    expect(s.ch.of(MessageType.Bye).map(b => b.destination)).toEqual([R1, R2]);
    expect(s.observer.lefts.map(l => [l.peerId, l.reason])).toEqual([
      ['c1', 'bye'],
      ['c2', 'bye'],
    ]);
    expect(teardown).toBe(1);
    expect(s.host.call(1).isDone).toBe(true);
    expect(s.ch.closeCount).toBe(1);
    expect(s.engine.state.kind).toBe('idle');
    expect(s.engine.peers()).toEqual([]);
    expect(s.time.pending).toBe(0);
    // Nothing is read any more, and a second close() does nothing.
    s.ch.deliverFrom(R3, helloEnv('c3'));
    expect(s.ch.count(MessageType.Welcome, R3)).toBe(0);
    await s.engine.close();
    expect(s.ch.closeCount).toBe(1);
  });
});

describe('ServerEngine: handshake', () => {
  it('a valid HELLO gets a WELCOME with the served patterns and events, and the client joins', async () => {
    const s = await listening();
    s.ch.deliverFrom(R1, helloEnv('c1', 'i1'));
    expect(s.ch.sent).toHaveLength(1);
    const w = s.ch.sent[0]!;
    expect(w).toMatchObject({ type: MessageType.Welcome, id: 0, destination: R1 });
    expect(w.payload).toEqual({
      version: 1,
      id: 'srv-1',
      instance: expect.stringMatching(/^[0-9a-f]{16}$/),
      metadata: { zone: 'eu' },
      heartbeat: HB,
      patterns: ['echo', 'stream'],
      events: ['audit'],
    });
    expect(s.observer.joins).toEqual([{ peerId: 'c1', direction: 'downstream', metadata: { role: 'c1' } }]);
    expect(s.engine.peers()).toEqual([{ peerId: 'c1', direction: 'downstream', metadata: { role: 'c1' }, pending: 0 }]);
    expect(s.engine.stats()).toEqual({ peers: 1, inFlight: 0, queued: 0 });
  });

  it('the WELCOME carries this server instance: the same for every client, a new one after close() and listen()', async () => {
    const s = await listening();
    s.ch.deliverFrom(R1, helloEnv('c1', 'i1'));
    s.ch.deliverFrom(R2, helloEnv('c2', 'i2'));
    const [a, b] = s.ch.sent.map(e => (e.payload as { instance: string }).instance);
    expect(a).toBe(b);
    await s.engine.close();
    await s.engine.listen();
    const ch = s.net.channels.at(-1)!;
    ch.deliverFrom(R1, helloEnv('c1', 'i1'));
    expect((ch.last().payload as { instance: string }).instance).not.toBe(a);
  });

  it('the WELCOME lists the handlers of the moment', async () => {
    const s = await listening();
    s.host.patterns.push('late');
    join(s, R1, 'c1');
    expect((s.ch.last().payload as { patterns: string[] }).patterns).toEqual(['echo', 'stream', 'late']);
  });

  it.each<[string, OutEnvelope]>([
    ['not JSON', { ...helloEnv('x'), encoding: Encoding.Json, payload: '{' }],
    ['JSON without an id', { ...helloEnv('x'), payload: JSON.stringify({ version: 1, heartbeat: HB }) }],
    ['JSON with bad heartbeat settings', { ...helloEnv('x'), payload: JSON.stringify({ version: 1, id: 'x' }) }],
  ])('a HELLO that is %s is refused with HANDSHAKE_REFUSED and counted as payload', async (_name, hello) => {
    const s = await listening();
    s.ch.deliverFrom(R1, hello);
    expect(s.ch.sent).toHaveLength(1);
    expect(s.ch.sent[0]).toMatchObject({ type: MessageType.Error, id: 0, destination: R1 });
    expect(codeOf(s.ch.sent[0]!)).toBe(ZmqErrorCode.HANDSHAKE_REFUSED);
    expect(s.observer.dropCounts()).toEqual({ payload: 1 });
    expect(s.observer.joins).toEqual([]);
  });

  it('a HELLO larger than MAX_HANDSHAKE_BYTES is answered with ERROR(0) HANDSHAKE_REFUSED and counted as oversized', async () => {
    const s = await listening(); // maxPayload is far smaller than the handshake limit: it does not apply
    const big = JSON.stringify({
      version: 1,
      id: 'big',
      metadata: { blob: 'x'.repeat(MAX_HANDSHAKE_BYTES) },
      heartbeat: HB,
    });
    s.ch.deliverFrom(R1, { ...helloEnv('big'), payload: big });
    expect(s.ch.sent).toHaveLength(1);
    expect(s.ch.sent[0]).toMatchObject({ type: MessageType.Error, id: 0, destination: R1 });
    expect(codeOf(s.ch.sent[0]!)).toBe(ZmqErrorCode.HANDSHAKE_REFUSED);
    expect(s.observer.dropCounts()).toEqual({ oversized: 1 });
    expect(s.observer.joins).toEqual([]);
    // Within the handshake limit but over MAX_HELLO_BYTES (what a session may keep): TOO_LARGE, unread.
    const over = { ...helloEnv('over'), payload: Buffer.alloc(MAX_HELLO_BYTES + 1, 0x20) };
    over.payload.write(JSON.stringify({ version: 1, id: 'over', heartbeat: HB }));
    s.ch.deliverFrom(R2, over);
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 0, destination: R2 });
    expect(codeOf(s.ch.last()!)).toBe(ZmqErrorCode.TOO_LARGE);
    expect(s.observer.joins).toEqual([]);
    // Exactly at MAX_HELLO_BYTES is fine.
    const atLimit = { ...helloEnv('ok'), payload: Buffer.alloc(MAX_HELLO_BYTES, 0x20) };
    atLimit.payload.write(JSON.stringify({ version: 1, id: 'ok', heartbeat: HB }));
    s.ch.deliverFrom(R2, atLimit);
    expect(s.ch.last()).toMatchObject({ type: MessageType.Welcome, destination: R2 });
  });

  it('a HELLO header of another protocol version gets VERSION_MISMATCH', async () => {
    const s = await listening();
    s.ch.deliverFrames([R1, ...foreignVersionFrames(helloEnv('c1'), 2)]);
    expect(s.ch.sent).toHaveLength(1);
    const refusal = s.ch.sent[0]!;
    expect(refusal).toMatchObject({ type: MessageType.Error, id: 0, destination: R1 });
    expect(refusal.payload).toMatchObject({ status: 'error', code: ZmqErrorCode.VERSION_MISMATCH, version: 1 });
    expect(s.observer.refusals).toEqual([
      { direction: 'downstream', error: expect.objectContaining({ code: ZmqErrorCode.VERSION_MISMATCH }) },
    ]);
    expect(s.observer.dropCounts()).toEqual({ version: 1 });
  });

  it('a version-1 HELLO claiming another version in its payload gets VERSION_MISMATCH, naming the client', async () => {
    const s = await listening();
    s.ch.deliverFrom(R1, helloEnv('c9', 'i', 4));
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.VERSION_MISMATCH);
    expect(s.observer.refusals[0]).toMatchObject({ peerId: 'c9', error: { remoteVersion: 4 } });
  });

  it('renew: the same client on the same connection says HELLO again: its calls are cancelled, WELCOME again, no left/joined', async () => {
    const s = await listening();
    join(s, R1, 'c1', 'i1');
    s.ch.deliverFrom(R1, req(5, 'echo'));
    const call = s.host.call(5);
    s.ch.deliverFrom(R1, helloEnv('c1', 'i1'));
    expect(call.isDone).toBe(true);
    expect(s.ch.count(MessageType.Welcome, R1)).toBe(2);
    expect(s.observer.joins).toHaveLength(1);
    expect(s.observer.lefts).toEqual([]);
    expect(s.engine.stats().inFlight).toBe(0);
    // The cancelled call sends nothing.
    const before = s.ch.sent.length;
    call.respond('too late');
    expect(s.ch.sent.length).toBe(before);
  });

  it('handover: the same id and instance on a new connection ends the old session (disconnect) and opens a new one', async () => {
    const s = await listening();
    join(s, R1, 'c1', 'i1');
    s.ch.deliverFrom(R1, req(5, 'echo'));
    const sentBefore = s.ch.sent.length;
    s.ch.deliverFrom(R2, helloEnv('c1', 'i1'));
    // The old connection is told first (if it is alive after all, it stays refused: no flapping).
    const takeover = s.ch.sent[sentBefore]!;
    expect(takeover).toMatchObject({ type: MessageType.Error, id: 0, destination: R1 });
    expect(takeover.payload).toMatchObject({
      code: ZmqErrorCode.HANDSHAKE_REFUSED,
      message: expect.stringMatching(/took the session over/),
    });
    expect(s.host.call(5).isDone).toBe(true);
    expect(s.observer.lefts).toEqual([
      { peerId: 'c1', direction: 'downstream', metadata: { role: 'c1' }, reason: 'disconnect' },
    ]);
    expect(s.observer.joins).toHaveLength(2);
    expect(s.ch.last()).toMatchObject({ type: MessageType.Welcome, destination: R2 });
    expect(s.engine.sessions.onConnection(R1.toString('latin1'))).toBeUndefined();
    expect(s.engine.sessions.ofClient('c1')?.routingId).toEqual(R2);
    // The old connection has no session any more.
    s.ch.deliverFrom(R1, req(6, 'echo'));
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 6, destination: R1 });
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.NOT_READY);
  });

  it('impostor: the same id with another instance on another connection is refused', async () => {
    const s = await listening();
    join(s, R1, 'c1', 'i1');
    s.ch.deliverFrom(R2, helloEnv('c1', 'other'));
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 0, destination: R2 });
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.HANDSHAKE_REFUSED);
    expect(s.observer.refusals).toEqual([
      {
        peerId: 'c1',
        direction: 'downstream',
        error: expect.objectContaining({ code: ZmqErrorCode.HANDSHAKE_REFUSED }),
      },
    ]);
    expect(s.observer.lefts).toEqual([]);
    expect(s.engine.sessions.ofClient('c1')?.routingId).toEqual(R1);
  });

  it('another client on a connection that had a session replaces it (the old one leaves)', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    join(s, R1, 'c2');
    expect(s.observer.lefts.map(l => [l.peerId, l.reason])).toEqual([['c1', 'disconnect']]);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['c2']);
  });
});

describe('ServerEngine: before the handshake', () => {
  it('[S-9] a REQUEST gets ERROR(id) NOT_READY, a PING gets ERROR(0) NOT_READY, anything else is only counted', async () => {
    const s = await listening();
    s.ch.deliverFrom(R1, req(7, 'echo'));
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 7, destination: R1 });
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.NOT_READY);
    s.ch.deliverFrom(R1, PING);
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 0, destination: R1 });
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.NOT_READY);
    s.ch.deliverFrom(R1, event('audit', 1), controlEnvelope(MessageType.Cancel, 7), PONG);
    expect(s.ch.sent).toHaveLength(2);
    expect(s.observer.dropCounts()).toEqual({ notReady: 5 });
    expect(s.host.requests).toEqual([]);
    expect(s.host.eventsRun).toEqual([]);
  });
});

describe('ServerEngine: requests', () => {
  it('runs a request with its handler, data and metadata', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    const withMeta = { ...req(3, 'echo', { a: 1 }), metadata: Buffer.from(JSON.stringify({ trace: 't' })) };
    s.ch.deliverFrom(R1, withMeta);
    expect(s.host.requests).toHaveLength(1);
    const ran = s.host.requests[0]!;
    expect(ran).toMatchObject({ handler: 'handler:echo', data: { a: 1 }, metadata: { trace: 't' } });
    expect(ran.call).toMatchObject({ id: 3, pattern: 'echo' });
    expect(ran.call.session.id).toBe('c1');
    expect(s.engine.stats().inFlight).toBe(1);
  });

  it('a pattern with no message handler gets ERROR NO_HANDLER naming it', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(4, 'nope'), req(5, 'audit')); // an event pattern is no message handler
    const errors = s.ch.of(MessageType.Error, R1);
    expect(errors.map(e => [e.id, codeOf(e), (e.payload as { pattern?: string }).pattern])).toEqual([
      [4, ZmqErrorCode.NO_HANDLER, 'nope'],
      [5, ZmqErrorCode.NO_HANDLER, 'audit'],
    ]);
    expect(s.host.requests).toEqual([]);
  });

  it('a duplicate request id is dropped as unexpected', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(9, 'echo', 1));
    s.ch.deliverFrom(R1, req(9, 'echo', 2));
    expect(s.host.requests).toHaveLength(1);
    expect(s.observer.dropCounts()).toEqual({ unexpected: 1 });
    // The same id from another client is another call.
    join(s, R2, 'c2');
    s.ch.deliverFrom(R2, req(9, 'echo', 3));
    expect(s.host.requests).toHaveLength(2);
  });

  it('an undecodable request payload gets ERROR MALFORMED', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, { ...req(2, 'echo'), encoding: Encoding.Json, payload: '{oops' });
    expect(s.ch.last()).toMatchObject({ type: MessageType.Error, id: 2 });
    expect(codeOf(s.ch.last())).toBe(ZmqErrorCode.MALFORMED);
    expect(s.observer.dropCounts()).toEqual({ payload: 1 });
  });

  it('respond(value) sends one CHUNK with the END flag; respond(undefined) sends END', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'echo'), req(2, 'echo'));
    let settled = 0;
    s.host.call(1).respond({ ok: true }, () => void settled++);
    s.host.call(2).respond(undefined);
    const replies = s.ch.to(R1).filter(e => e.id !== 0);
    expect(replies.map(e => [e.type, e.id, e.flags & Flag.End, e.payload])).toEqual([
      [MessageType.Chunk, 1, Flag.End, { ok: true }],
      [MessageType.End, 2, 0, undefined],
    ]);
    expect(settled).toBe(1);
    expect(s.engine.stats().inFlight).toBe(0);
  });

  it('respond(Observable) streams CHUNKs; a completion in the same turn as the last value joins it (CHUNK+END)', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    const subject = new Subject<number>();
    let settled = 0;
    s.host.call(1).respond(subject, () => void settled++);
    subject.next(1);
    subject.next(2);
    expect(s.engine.stats().inFlight).toBe(1);
    subject.next(3);
    subject.complete();
    const replies = s.ch.to(R1).filter(e => e.id === 1);
    expect(replies.map(e => [e.type, e.flags, e.payload])).toEqual([
      [MessageType.Chunk, 0, 1],
      [MessageType.Chunk, 0, 2],
      [MessageType.Chunk, Flag.End, 3],
    ]);
    expect(settled).toBe(1);
    expect(s.engine.stats().inFlight).toBe(0);
  });

  it('respond(Observable): one value and its completion in the same turn are one CHUNK+END, with no stream outbox', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'stream'), req(2, 'stream'));
    const one = new Subject<number>();
    const call = s.host.call(1);
    call.respond(one);
    one.next(7);
    one.complete();
    expect(call.stream).toBeUndefined();
    expect(
      s.ch
        .to(R1)
        .filter(e => e.id === 1)
        .map(e => [e.type, e.flags, e.payload]),
    ).toEqual([[MessageType.Chunk, Flag.End, 7]]);
    // Cancelled while its first value is held: nothing goes, not even at the end of the turn.
    const held = new Subject<number>();
    s.host.call(2).respond(held);
    held.next(1);
    s.host.call(2).cancel();
    await Promise.resolve();
    await Promise.resolve();
    expect(s.ch.to(R1).filter(e => e.id === 2)).toHaveLength(0);
  });

  it('respond(Observable): a completion in a later turn than the last value is its own END', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    const subject = new Subject<number>();
    s.host.call(1).respond(subject);
    subject.next(1);
    expect(s.ch.to(R1).filter(e => e.id === 1)).toHaveLength(0); // held to the end of the turn
    await Promise.resolve();
    expect(
      s.ch
        .to(R1)
        .filter(e => e.id === 1)
        .map(e => [e.type, e.flags]),
    ).toEqual([[MessageType.Chunk, 0]]);
    subject.complete();
    expect(
      s.ch
        .to(R1)
        .filter(e => e.id === 1)
        .map(e => [e.type, e.flags]),
    ).toEqual([
      [MessageType.Chunk, 0],
      [MessageType.End, 0],
    ]);
  });

  it('respond(Observable): a value then an error in the same turn sends the value, then the ERROR', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    const subject = new Subject<number>();
    s.host.call(1).respond(subject);
    subject.next(1);
    subject.error({ code: 'E_X' });
    expect(
      s.ch
        .to(R1)
        .filter(e => e.id === 1)
        .map(e => [e.type, e.flags]),
    ).toEqual([
      [MessageType.Chunk, 0],
      [MessageType.Error, 0],
    ]);
  });

  it('fail(err) and an Observable error send ERROR', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'echo'), req(2, 'stream'));
    s.host.call(1).fail(new Error('handler broke'));
    const subject = new Subject<number>();
    s.host.call(2).respond(subject);
    subject.next(1);
    subject.error({ status: 'error', message: 'stream broke', code: 'E_STREAM' });
    const errors = s.ch.of(MessageType.Error, R1);
    expect(errors.map(e => [e.id, (e.payload as { message: string }).message])).toEqual([
      [1, 'handler broke'],
      [2, 'stream broke'],
    ]);
    expect(codeOf(errors[1]!)).toBe('E_STREAM');
    // A call replies once: more answers are ignored.
    s.host.call(1).respond('again');
    expect(s.ch.to(R1).filter(e => e.id === 1)).toHaveLength(1);
  });

  it('CANCEL cancels the call: an Observable result is unsubscribed (its teardown runs) and nothing more is sent', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(10, 'stream'));
    let teardownRan = false;
    let subscriber: { next(v: number): void } | undefined;
    s.host.call(10).respond(
      new Observable<number>(sub => {
        subscriber = sub;
        return () => {
          teardownRan = true;
        };
      }),
    );
    subscriber!.next(1);
    await Promise.resolve(); // the CHUNK leaves at the end of the turn
    expect(s.ch.to(R1).filter(e => e.id === 10)).toHaveLength(1);
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Cancel, 10));
    expect(teardownRan).toBe(true);
    expect(s.host.call(10).isDone).toBe(true);
    subscriber!.next(2);
    expect(s.ch.to(R1).filter(e => e.id === 10)).toHaveLength(1);
    expect(s.engine.stats().inFlight).toBe(0);
    // A CANCEL for an unknown call is harmless.
    expect(() => s.ch.deliverFrom(R1, controlEnvelope(MessageType.Cancel, 999))).not.toThrow();
  });

  it('a CANCEL before the handler answered: the answer is never sent', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(11, 'echo'));
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Cancel, 11));
    let settled = 0;
    s.host.call(11).respond('late', () => void settled++);
    expect(s.ch.to(R1).filter(e => e.id === 11)).toEqual([]);
    expect(settled).toBe(1);
  });

  it('EVENTs run the event handlers with the sender id; PING gets PONG', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, event('audit', { n: 1 }), PING);
    expect(s.host.eventsRun).toEqual([{ pattern: 'audit', data: { n: 1 }, peerId: 'c1' }]);
    expect(s.ch.last()).toMatchObject({ type: MessageType.Pong, destination: R1 });
  });

  it('replies and a full queue: the lost envelope is counted, the engine goes on', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'echo'));
    s.ch.full = true;
    expect(() => s.host.call(1).respond('x')).not.toThrow();
    expect(s.observer.dropCounts()).toEqual({ sendFailed: 1 });
    s.ch.full = false;
    s.ch.deliverFrom(R1, PING);
    expect(s.ch.last().type).toBe(MessageType.Pong);
  });
});

describe('ServerEngine: liveness and delivery failures', () => {
  it('a silent client is pinged, then removed with timeout (its calls cancelled)', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    for (let i = 0; i < 40 && s.observer.lefts.length === 0; i++) s.time.advance(25);
    expect(s.ch.count(MessageType.Ping, R1)).toBeGreaterThanOrEqual(1);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'c1', reason: 'timeout' })]);
    expect(s.host.call(1).isDone).toBe(true);
    expect(s.engine.peers()).toEqual([]);
  });

  it('a client that keeps talking stays', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    for (let i = 0; i < 40; i++) {
      s.time.advance(50);
      s.ch.deliverFrom(R1, PONG);
    }
    expect(s.observer.lefts).toEqual([]);
    expect(s.engine.peers()).toHaveLength(1);
  });

  it("sendFailed('unroutable') for a session's routing id removes it (disconnect) and counts the envelopes", async () => {
    const s = await listening();
    join(s, R1, 'c1');
    join(s, R2, 'c2');
    s.ch.deliverFrom(R1, req(1, 'stream'));
    const lost = [dataEnvelope(MessageType.Chunk, 1, 'a', MAX), PING, controlEnvelope(MessageType.End, 1)];
    s.ch.handlers.sendFailed('unroutable', lost, R1);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'c1', reason: 'disconnect' })]);
    expect(s.observer.dropCounts()).toEqual({ unroutable: 2 }); // a PING is no loss
    expect(s.host.call(1).isDone).toBe(true);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['c2']);
  });

  it("sendFailed('failed') is counted but ends no session", async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.handlers.sendFailed('failed', [controlEnvelope(MessageType.End, 1)], R1);
    expect(s.observer.dropCounts()).toEqual({ sendFailed: 1 });
    expect(s.observer.lefts).toEqual([]);
  });

  it('BYE from a client ends its session', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Bye));
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'c1', reason: 'bye' })]);
  });

  it('with bye-ack, a BYE from a client is answered with a BYE before its session ends; without it, with none', async () => {
    const s = await listening();
    const hello: Hello = {
      version: 1,
      id: 'c1',
      instance: 'i1',
      metadata: {},
      heartbeat: { interval: 1_000, liveness: 3 },
      features: ['bye-ack'],
    };
    s.ch.deliverFrom(R1, handshakeEnvelope(MessageType.Hello, hello));
    expect(s.ch.last()).toMatchObject({ type: MessageType.Welcome, payload: { features: ['bye-ack'] } });
    join(s, R2, 'c2'); // offers no features
    const byesWhenLeft: number[] = [];
    const left = s.observer.left.bind(s.observer);
    s.observer.left = e => {
      byesWhenLeft.push(s.ch.count(MessageType.Bye));
      left(e);
    };
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Bye));
    expect(s.ch.of(MessageType.Bye).map(b => b.destination)).toEqual([R1]);
    expect(byesWhenLeft).toEqual([1]);
    s.ch.deliverFrom(R2, controlEnvelope(MessageType.Bye));
    expect(s.ch.count(MessageType.Bye)).toBe(1);
    expect(s.observer.lefts.map(l => [l.peerId, l.reason])).toEqual([
      ['c1', 'bye'],
      ['c2', 'bye'],
    ]);
  });

  it('a message with no frames pair is counted as frameCount', async () => {
    const s = await listening();
    s.ch.deliverFrames([R1, EMPTY]);
    s.ch.deliverFrames([]);
    expect(s.observer.dropCounts()).toEqual({ frameCount: 2 });
    expect(s.ch.sent).toEqual([]);
  });
});

describe('decideHello', () => {
  const session = (id: string, instance?: string): SessionIdentity => ({ id, instance });

  it('renew: the same id and instance on the same connection', () => {
    const onConnection = session('c1', 'i1');
    expect(decideHello(session('c1', 'i1'), onConnection, onConnection)).toEqual({
      kind: 'renew',
      session: onConnection,
    });
  });

  it('handover: the same id and instance held on another connection', () => {
    const previous = session('c1', 'i1');
    expect(decideHello(session('c1', 'i1'), undefined, previous)).toEqual({
      kind: 'handover',
      previous,
      replaced: undefined,
    });
    const here = session('c2', 'i2');
    const d = decideHello(session('c1', 'i1'), here, previous);
    expect(d).toEqual({ kind: 'handover', previous, replaced: here });
    if (d.kind === 'handover') expect(d.replaced).toBe(here);
  });

  it('impostor: the id held elsewhere with another instance, or with none', () => {
    const holder = session('c1', 'i1');
    expect(decideHello(session('c1', 'i2'), undefined, holder)).toEqual({ kind: 'impostor', holder });
    expect(decideHello(session('c1'), undefined, holder)).toEqual({ kind: 'impostor', holder });
    expect(decideHello(session('c1'), undefined, session('c1'))).toMatchObject({ kind: 'impostor' });
  });

  it('new: nobody holds the id; replaced is this connection’s session of another client (or the same id, new instance)', () => {
    expect(decideHello(session('c1', 'i1'), undefined, undefined)).toEqual({ kind: 'new', replaced: undefined });
    const other = session('c2', 'i2');
    expect(decideHello(session('c1', 'i1'), other, undefined)).toEqual({ kind: 'new', replaced: other });
    const restarted = session('c1', 'old');
    expect(decideHello(session('c1', 'new'), restarted, restarted)).toEqual({ kind: 'new', replaced: restarted });
  });
});

describe('ServerEngine: close() while binding', () => {
  // A close() while listen() awaits its bind is not lost: once the bind completes, the channel is closed and no
  // heartbeat is armed.
  it('the server does not end up listening after close() resolved', async () => {
    const time = new ManualTime();
    const net = new FakeBinder();
    const engine = new ServerEngine<string>({
      config: config(),
      bind: net.bind,
      host: new FakeHost(),
      observer: new RecordingObserver(),
      clock: time,
      scheduler: time,
    });
    const listen = engine.listen().catch((err: unknown) => err);
    expect(engine.state.kind).toBe('binding');
    await engine.close();
    await listen;
    expect(engine.state.kind).toBe('idle');
    expect(net.channel.closeCount).toBe(1);
    expect(time.pending).toBe(0);
  });
});

// Heartbeats far apart, so that silence never ends these sessions first.
const QUIET = { heartbeat: { interval: 60_000, liveness: 3 } };

describe('ServerEngine: deadlines (§5.6)', () => {
  const withDeadline = (id: number, pattern: string, ms: number) => Object.assign(req(id, pattern), { deadline: ms });

  it('WELCOME accepts the deadline feature when the HELLO offers it', async () => {
    const s = await listening(QUIET);
    s.ch.deliverFrom(R1, handshakeEnvelope(MessageType.Hello, { ...helloPayloadOf('c1'), features: ['deadline'] }));
    expect((s.ch.to(R1).at(-1)!.payload as { features?: string[] }).features).toEqual(['deadline']);
  });

  it("a call whose caller's deadline passes is cancelled (teardown runs) and nothing more is sent", async () => {
    const s = await listening(QUIET);
    join(s, R1, 'c1');
    const before = Date.now();
    s.ch.deliverFrom(R1, withDeadline(1, 'stream', 500));
    const call = s.host.call(1);
    expect(call.deadline).toBeGreaterThanOrEqual(before + 500);
    expect(call.deadline).toBeLessThanOrEqual(Date.now() + 500);
    let teardownRan = false;
    call.respond(new Observable(() => () => void (teardownRan = true)));
    s.time.advance(499);
    expect(teardownRan).toBe(false);
    s.time.advance(600); // past the deadline, rounded up at most 1/16
    expect(teardownRan).toBe(true);
    expect(call.isDone).toBe(true);
    expect(s.ch.to(R1).filter(e => e.id === 1)).toHaveLength(0);
    expect(s.engine.stats().inFlight).toBe(0);
    expect(s.engine.peers()).toHaveLength(1); // the session goes on
  });

  it('each CHUNK sent gives the caller the same wait again', async () => {
    const s = await listening(QUIET);
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, withDeadline(1, 'stream', 500));
    const subject = new Subject<number>();
    let teardownRan = false;
    s.host.call(1).respond(
      new Observable<number>(sub => {
        const inner = subject.subscribe(sub);
        return () => {
          inner.unsubscribe();
          teardownRan = true;
        };
      }),
    );
    for (let i = 0; i < 5; i++) {
      s.time.advance(400);
      subject.next(i);
      await Promise.resolve(); // the CHUNK leaves at the end of the turn
    }
    expect(teardownRan).toBe(false);
    expect(s.ch.to(R1).filter(e => e.id === 1)).toHaveLength(5);
    s.time.advance(1_000);
    expect(teardownRan).toBe(true);
  });

  it('a call that ended is no longer watched; a request without a deadline has none', async () => {
    const s = await listening(QUIET);
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, withDeadline(1, 'echo', 100));
    s.host.call(1).respond(3);
    s.ch.deliverFrom(R1, req(2, 'stream'));
    expect(s.host.call(2).deadline).toBeUndefined();
    let teardownRan = false;
    s.host.call(2).respond(new Observable(() => () => void (teardownRan = true)));
    s.time.advance(10_000);
    expect(teardownRan).toBe(false);
  });
});

function helloPayloadOf(id: string): Hello {
  return { version: 1, id, instance: `${id}-i`, metadata: {}, heartbeat: { interval: 1_000, liveness: 3 } };
}
