/**
 * ClientEngine driven by hand: fake channels instead of DEALER sockets,
 * ManualTime instead of timers. Nothing here waits on real time: the tests
 * deliver envelopes, move the clock and await only promises they hold.
 */
import { ZmqErrorCode, ZmqNoPeerError, ZmqPeerLostError } from '../../lib/errors/zmq.errors';
import type { ZmqPeerInfo, ZmqTarget } from '../../lib/interfaces/zmq-events.interface';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import type { ClientEngineConfig, Route } from '../../lib/protocol/client/client-deps';
import type { UpstreamLink } from '../../lib/protocol/client/upstream-link';
import { BYE, controlEnvelope, dataEnvelope, errorEnvelope, PING, PONG } from '../../lib/protocol/envelopes';
import { encodeMetadata, Flag, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, refusalEnvelope } from '../../lib/protocol/handshake';
import { FAST_RECONNECT_MS } from '../../lib/protocol/tuning';
import { FakeChannel, foreignVersionFrames } from '../helpers/fake-channel';
import { flush } from '../helpers/async';
import {
  A,
  B,
  clientEngine,
  ClientSetup,
  connectedBoth as connectedBothWith,
  connectedOne as connectedOneWith,
  MAX_PAYLOAD,
  welcome,
} from '../helpers/client-engine';

const MAX = MAX_PAYLOAD;
const HB = { interval: 100, liveness: 3 };

/** Two endpoints and metadata the HELLO assertions name. */
const setup = (over: Partial<ClientEngineConfig> = {}) =>
  clientEngine({ endpoints: [A, B], metadata: { role: 'test' }, ...over });

type Setup = ClientSetup;

const chunk = (id: number, value: unknown, last = false) =>
  dataEnvelope(MessageType.Chunk, id, value, MAX, last ? Flag.End : 0);
const end = (id: number) => controlEnvelope(MessageType.End, id);
const notReady = (id: number) =>
  errorEnvelope(id, { status: 'error', code: ZmqErrorCode.NOT_READY, message: 'no session' });

/** The outcome of a promise, readable at any time. */
function track(promise: Promise<unknown>) {
  const state = { settled: false, resolved: false, error: undefined as any };
  promise.then(
    () => {
      state.settled = true;
      state.resolved = true;
    },
    (err: unknown) => {
      state.settled = true;
      state.error = err;
    },
  );
  return state;
}

/** A reply callback that records every packet. */
function replies() {
  const packets: ReplyPacket[] = [];
  return { packets, cb: (p: ReplyPacket) => void packets.push(p) };
}

/** Engine with both links welcomed (`srv-a` on A first, then `srv-b` on B). */
const connectedBoth = (over: Partial<ClientEngineConfig> = {}, a: string[] = ['echo'], b: string[] = ['echo']) =>
  connectedBothWith(
    { metadata: { role: 'test' }, ...over },
    { patterns: a, metadata: { zone: 'eu' }, events: ['audit'] },
    { patterns: b, metadata: { zone: 'us' }, events: ['audit'] },
  );

/** Engine with one endpoint, welcomed by `srv-a`. */
const connectedOne = (over: Partial<ClientEngineConfig> = {}) =>
  connectedOneWith({ metadata: { role: 'test' }, ...over }, ['echo', 'stream'], { events: ['audit'] });

function link(s: Setup, endpoint: string): UpstreamLink {
  const l = s.engine.links.find(x => x.endpoint === endpoint);
  if (l === undefined) throw new Error(`no link to ${endpoint}`);
  return l;
}

/** Sends a request and returns its id as the fake channel saw it. */
function request(s: Setup, pattern: string, data: unknown = 1, route?: Route) {
  const r = replies();
  const before = new Map(s.net.channels.map(c => [c, c.count(MessageType.Request)]));
  const cancel = s.engine.request(pattern, data, undefined, r.cb, route);
  const ch = s.net.channels.find(c => c.count(MessageType.Request) > (before.get(c) ?? 0));
  const id = ch?.of(MessageType.Request).at(-1)?.id ?? 0;
  return { ...r, cancel, id, ch };
}

function hellos(ch: FakeChannel): number {
  return ch.count(MessageType.Hello);
}

describe('ClientEngine: handshake', () => {
  it('queues one HELLO per endpoint on connect(), with the client id, a per-slot instance and its settings', () => {
    const s = setup();
    void s.engine.connect().catch(() => undefined);
    expect(s.net.channels.map(c => c.endpoints[0])).toEqual([A, B]);
    for (const [slot, endpoint] of [A, B].entries()) {
      const sent = s.ch(endpoint).sent;
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ type: MessageType.Hello, id: 0 });
      expect(sent[0]!.payload).toEqual({
        version: 1,
        id: 'client-1',
        instance: `inst/${slot}`,
        metadata: { role: 'test' },
        heartbeat: HB,
        features: ['deadline', 'bye-ack', 'drain', 'plain-replies'],
      });
    }
    expect(s.status.values).toEqual([]);
    expect(s.engine.isConnected).toBe(false);
  });

  it('says HELLO again once per heartbeat interval, only while no HELLO is queued', () => {
    const s = setup();
    void s.engine.connect().catch(() => undefined);
    const a = s.ch(A);
    const b = s.ch(B);
    b.queued = 1; // B's HELLO still waits for its connection
    s.time.advance(99);
    expect([hellos(a), hellos(b)]).toEqual([1, 1]);
    s.time.advance(1);
    expect([hellos(a), hellos(b)]).toEqual([2, 1]);
    s.time.advance(100);
    expect([hellos(a), hellos(b)]).toEqual([3, 1]);
    b.queued = 0;
    s.time.advance(100);
    expect([hellos(a), hellos(b)]).toEqual([4, 2]);
    // Nothing but HELLOs went out.
    expect([...a.sent, ...b.sent].every(e => e.type === MessageType.Hello)).toBe(true);
  });

  it('a WELCOME resolves connect(): the peer joins once, status is connected, the link is ready', async () => {
    const s = setup();
    const connecting = s.engine.connect();
    expect(s.engine.connect()).toBe(connecting); // cached while pending
    s.ch(A).deliver(welcome('srv-a', ['echo'], { metadata: { zone: 'eu' } }));
    await connecting;
    expect(s.observer.joins).toEqual([
      { peerId: 'srv-a', direction: 'upstream', endpoint: A, metadata: { zone: 'eu' } },
    ]);
    expect(s.status.values).toEqual(['connected']);
    expect(s.engine.isConnected).toBe(true);
    expect(link(s, A).state.kind).toBe('ready');
    expect(link(s, B).state.kind).toBe('handshaking');
    expect(s.engine.peers()).toEqual<ZmqPeerInfo[]>([
      {
        peerId: 'srv-a',
        direction: 'upstream',
        endpoint: A,
        metadata: { zone: 'eu' },
        patterns: ['echo'],
        events: [],
        pending: 0,
      },
    ]);
    // A ready link says no more HELLOs; the other one keeps trying.
    s.time.advance(100);
    expect([hellos(s.ch(A)), hellos(s.ch(B))]).toEqual([1, 2]);
    await expect(s.engine.connect()).resolves.toBeUndefined();
  });

  it('connect() rejects with CONNECT_TIMEOUT while the links keep trying; a later connect() resolves on a WELCOME', async () => {
    const s = setup();
    const first = track(s.engine.connect());
    s.time.advance(999);
    await flush();
    expect(first.settled).toBe(false);
    s.time.advance(1);
    await flush();
    expect(first.error).toMatchObject({ code: ZmqErrorCode.CONNECT_TIMEOUT, endpoints: [A, B], timeoutMs: 1_000 });
    expect(s.status.values).toEqual([]);
    // The links were not torn down: they still say HELLO.
    const before = hellos(s.ch(A));
    s.time.advance(100);
    expect(hellos(s.ch(A))).toBe(before + 1);
    expect(s.net.channels).toHaveLength(2);
    expect(s.net.channels.every(c => c.closeCount === 0)).toBe(true);

    const second = s.engine.connect();
    expect(s.net.channels).toHaveLength(2); // no new links
    s.ch(B).deliver(welcome('srv-b', ['echo']));
    await expect(second).resolves.toBeUndefined();
    expect(s.status.values).toEqual(['connected']);
  });

  it('one refusal of two leaves connect() pending; the other server can still welcome', async () => {
    const s = setup();
    const connecting = track(s.engine.connect());
    s.ch(A).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'go away'));
    await flush();
    expect(connecting.settled).toBe(false);
    expect(s.observer.refusals).toHaveLength(1);
    expect(s.observer.refusals[0]).toMatchObject({
      direction: 'upstream',
      endpoint: A,
      error: { code: ZmqErrorCode.HANDSHAKE_REFUSED, message: 'go away' },
    });
    expect(link(s, A).state.kind).toBe('refused');
    // A refused link stops saying HELLO; the other goes on.
    s.time.advance(100);
    expect([hellos(s.ch(A)), hellos(s.ch(B))]).toEqual([1, 2]);
    s.ch(B).deliver(welcome('srv-b', ['echo']));
    await flush();
    expect(connecting.resolved).toBe(true);
  });

  it('[C-4] when every server refused, connect() rejects at once with the refusal and the links are closed once', async () => {
    const s = setup();
    const connecting = track(s.engine.connect());
    s.ch(A).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'no A'));
    s.ch(B).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'no B'));
    await flush(); // no time moved
    expect(connecting.error).toMatchObject({ code: ZmqErrorCode.HANDSHAKE_REFUSED });
    expect(s.observer.refusals.map(r => r.endpoint)).toEqual([A, B]);
    expect(s.status.values).toEqual(['disconnected']);
    expect(s.net.channels.map(c => c.closeCount)).toEqual([1, 1]);
    expect(s.time.pending).toBe(0);
    // close() afterwards closes nothing twice and reports nothing new.
    await s.engine.close();
    expect(s.net.channels.map(c => c.closeCount)).toEqual([1, 1]);
    expect(s.status.values).toEqual(['disconnected']);
  });

  it('[C-4] VERSION_MISMATCH refusals, including a foreign-version ERROR header (byte 0 != 1), reject connect()', async () => {
    const s = setup();
    const connecting = track(s.engine.connect());
    // A: a version-1 refusal saying VERSION_MISMATCH.
    s.ch(A).deliver(
      errorEnvelope(0, { status: 'error', code: ZmqErrorCode.VERSION_MISMATCH, message: 'speak 2', version: 2 }),
    );
    await flush();
    expect(connecting.settled).toBe(false);
    // B: an ERROR(0) whose header is of protocol version 7.
    s.ch(B).deliverFrames(foreignVersionFrames(refusalEnvelope(ZmqErrorCode.VERSION_MISMATCH, 'v7 only'), 7));
    await flush();
    expect(connecting.error).toMatchObject({ code: ZmqErrorCode.VERSION_MISMATCH, localVersion: 1 });
    expect(s.observer.refusals.map(r => [r.endpoint, r.error.code, (r.error as any).remoteVersion])).toEqual([
      [A, ZmqErrorCode.VERSION_MISMATCH, 2],
      [B, ZmqErrorCode.VERSION_MISMATCH, 7],
    ]);
    expect(s.observer.dropped('version')).toBe(1);
  });

  it('a WELCOME of another protocol version is a refusal, not a session', async () => {
    const s = setup({ endpoints: [A] });
    const connecting = track(s.engine.connect());
    s.ch(A).deliver(welcome('srv-a', ['echo'], { version: 3 }));
    await flush();
    expect(connecting.error).toMatchObject({ code: ZmqErrorCode.VERSION_MISMATCH, remoteVersion: 3 });
    expect(s.observer.joins).toEqual([]);
    expect(s.observer.refusals[0]).toMatchObject({ peerId: 'srv-a', endpoint: A });
  });

  it('[C-5] NOT_READY before the handshake completed changes nothing', async () => {
    const s = setup({ endpoints: [A] });
    const connecting = track(s.engine.connect());
    s.ch(A).deliver(refusalEnvelope(ZmqErrorCode.NOT_READY, 'handshake first'));
    await flush();
    expect(connecting.settled).toBe(false);
    expect(hellos(s.ch(A))).toBe(1);
    expect(s.observer.refusals).toEqual([]);
    expect(link(s, A).state.kind).toBe('handshaking');
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await flush();
    expect(connecting.resolved).toBe(true);
  });

  it('an endpoint that cannot be opened rejects connect() and closes the links already opened', async () => {
    const s = setup();
    s.net.failures.set(B, new TypeError('bad endpoint'));
    const err = await s.engine.connect().catch((e: unknown) => e);
    expect(err).toEqual(new TypeError('bad endpoint'));
    expect(s.net.channels.map(c => [c.endpoints[0], c.closeCount])).toEqual([[A, 1]]);
    expect(s.status.values).toEqual(['disconnected']);
    // connect() works again.
    const again = s.engine.connect();
    expect(s.net.channels).toHaveLength(3);
    s.ch(B).deliver(welcome('srv-b', ['echo']));
    await expect(again).resolves.toBeUndefined();
  });
});

describe('ClientEngine: routing', () => {
  it('a request goes only to servers whose WELCOME lists its pattern', async () => {
    const s = await connectedBoth({}, ['echo', 'a-only'], ['echo']);
    for (let i = 0; i < 4; i++) {
      const r = request(s, 'a-only', { i });
      expect(r.ch).toBe(s.ch(A));
    }
    expect(s.ch(B).count(MessageType.Request)).toBe(0);
  });

  it('sends the REQUEST with its pattern, id, payload and metadata', async () => {
    const s = await connectedBoth();
    const r = replies();
    s.engine.request('echo', { hello: 'world' }, encodeMetadata({ trace: 't-1' }), r.cb, { target: 'srv-a' });
    const [req] = s.ch(A).of(MessageType.Request);
    expect(req).toMatchObject({ pattern: 'echo', payload: { hello: 'world' }, metadata: { trace: 't-1' } });
    expect(req!.id).toBeGreaterThan(0);
    expect(s.engine.stats()).toEqual({ peers: 2, inFlight: 1, queued: 0 });
  });

  it('round-robin alternates between the servers of a pattern', async () => {
    const s = await connectedBoth();
    const order = Array.from({ length: 6 }, () => request(s, 'echo').ch);
    for (let i = 1; i < order.length; i++) expect(order[i]).not.toBe(order[i - 1]);
    expect(s.ch(A).count(MessageType.Request)).toBe(3);
    expect(s.ch(B).count(MessageType.Request)).toBe(3);
  });

  it('least-pending picks the server with fewer calls in flight', async () => {
    const s = await connectedBoth({ strategy: 'least-pending' });
    const a = link(s, A);
    request(s, 'echo', 1, { link: a });
    request(s, 'echo', 2, { link: a });
    expect(a.pending).toBe(2);
    // B has none, then one: both go to B whatever the rotation.
    expect(request(s, 'echo').ch).toBe(s.ch(B));
    expect(request(s, 'echo').ch).toBe(s.ch(B));
    expect(link(s, B).pending).toBe(2);
    expect(s.engine.peers().map(p => [p.peerId, p.pending])).toEqual([
      ['srv-a', 2],
      ['srv-b', 2],
    ]);
  });

  it.each<[string, ZmqTarget, string]>([
    ['an id', 'srv-b', B],
    ['{ peerId }', { peerId: 'srv-a' }, A],
    ['metadata', { metadata: { zone: 'us' } }, B],
    ['a predicate', (p: ZmqPeerInfo) => p.endpoint === A, A],
  ])('a target by %s picks that server only', async (_name, target, endpoint) => {
    const s = await connectedBoth();
    for (let i = 0; i < 3; i++) expect(request(s, 'echo', i, { target }).ch).toBe(s.ch(endpoint));
  });

  it('NO_PEER says why: no-server, not-served, no-match (and nothing is sent)', () => {
    const s = setup();
    void s.engine.connect().catch(() => undefined);
    const none = replies();
    expect(s.engine.request('echo', 1, undefined, none.cb)).toBeInstanceOf(Function);
    expect(none.packets).toHaveLength(1);
    expect(none.packets[0]!.isDisposed).toBe(true);
    expect(none.packets[0]!.err).toBeInstanceOf(ZmqNoPeerError);
    expect(none.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.NO_PEER, reason: 'no-server', pattern: 'echo' });

    s.ch(A).deliver(welcome('srv-a', ['echo']));
    const notServed = replies();
    s.engine.request('sum', 1, undefined, notServed.cb);
    expect(notServed.packets[0]!.err).toMatchObject({ reason: 'not-served', pattern: 'sum' });

    const noMatch = replies();
    s.engine.request('echo', 1, undefined, noMatch.cb, { target: 'srv-zzz' });
    expect(noMatch.packets[0]!.err).toMatchObject({ reason: 'no-match' });

    expect(s.net.channels.every(c => c.count(MessageType.Request) === 0)).toBe(true);
    expect(s.engine.stats().inFlight).toBe(0);
  });

  it('emit() sends an EVENT to one server that handles it, or to all of them', async () => {
    const s = await connectedBoth();
    const one = s.engine.emit('audit', { n: 1 }, undefined, undefined, false);
    expect(one).toHaveLength(1);
    const all = s.engine.emit('audit', { n: 2 }, undefined, undefined, true);
    expect(all).toEqual(['srv-a', 'srv-b']);
    const events = [...s.ch(A).of(MessageType.Event), ...s.ch(B).of(MessageType.Event)];
    expect(events).toHaveLength(3);
    expect(events.every(e => e.pattern === 'audit' && e.id === 0)).toBe(true);
    expect(() => s.engine.emit('nobody', 1, undefined, undefined, true)).toThrow(ZmqNoPeerError);
  });
});

describe('ClientEngine: calls', () => {
  it('[C-7] CHUNK, CHUNK, END in one message reach the callback in order', async () => {
    const s = await connectedOne();
    const r = request(s, 'stream');
    s.ch(A).deliver(chunk(r.id, 'a'), chunk(r.id, { b: 2 }), end(r.id));
    expect(r.packets).toEqual([{ response: 'a' }, { response: { b: 2 } }, { isDisposed: true }]);
    expect(s.engine.stats().inFlight).toBe(0);
    expect(link(s, A).pending).toBe(0);
  });

  it('[C-7] a CHUNK with the END flag is the last value; ERROR ends the call with the remote error', async () => {
    const s = await connectedOne();
    const one = request(s, 'echo');
    const bad = request(s, 'echo');
    s.ch(A).deliver(
      chunk(one.id, 42, true),
      errorEnvelope(bad.id, { status: 'error', code: 'E_BOOM', message: 'boom' }),
    );
    expect(one.packets).toEqual([{ response: 42, isDisposed: true }]);
    expect(bad.packets).toEqual([{ err: { status: 'error', code: 'E_BOOM', message: 'boom' }, isDisposed: true }]);
    // Anything more for them is late.
    s.ch(A).deliver(end(one.id), chunk(bad.id, 1));
    expect(s.observer.dropped('lateReply')).toBe(2);
    expect(one.packets).toHaveLength(1);
  });

  it('requestTimeout: the callback gets TIMEOUT and the server a CANCEL', async () => {
    const s = await connectedOne({ requestTimeout: 50 });
    const r = request(s, 'echo');
    s.time.advance(49);
    expect(r.packets).toEqual([]);
    s.time.advance(11);
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0]).toMatchObject({ isDisposed: true, err: { code: ZmqErrorCode.TIMEOUT, pattern: 'echo' } });
    expect(
      s
        .ch(A)
        .of(MessageType.Cancel)
        .map(c => c.id),
    ).toEqual([r.id]);
    expect(link(s, A).pending).toBe(0);
    // A reply after the timeout is late.
    s.ch(A).deliver(chunk(r.id, 'late', true));
    expect(s.observer.dropped('lateReply')).toBe(1);
    expect(r.packets).toHaveLength(1);
  });

  it('a reply message restarts the deadline', async () => {
    const s = await connectedOne({ requestTimeout: 50 });
    const r = request(s, 'stream');
    s.time.advance(40);
    s.ch(A).deliver(chunk(r.id, 1));
    s.time.advance(40); // 80 after the request, 40 after the chunk
    expect(r.packets).toEqual([{ response: 1 }]);
    s.time.advance(20);
    expect(r.packets[1]).toMatchObject({ err: { code: ZmqErrorCode.TIMEOUT } });
  });

  it('[C-8] unsubscribing sends CANCEL once; a later CHUNK is dropped as lateReply', async () => {
    const s = await connectedOne();
    const r = request(s, 'stream');
    s.ch(A).deliver(chunk(r.id, 'first'));
    r.cancel();
    r.cancel();
    expect(
      s
        .ch(A)
        .of(MessageType.Cancel)
        .map(c => c.id),
    ).toEqual([r.id]);
    expect(s.engine.stats().inFlight).toBe(0);
    s.ch(A).deliver(chunk(r.id, 'second'));
    expect(s.observer.dropped('lateReply')).toBe(1);
    expect(r.packets).toEqual([{ response: 'first' }]);
  });

  it('unsubscribing after the end sends no CANCEL', async () => {
    const s = await connectedOne();
    const r = request(s, 'echo');
    s.ch(A).deliver(chunk(r.id, 1, true));
    r.cancel();
    expect(s.ch(A).count(MessageType.Cancel)).toBe(0);
  });

  it('[C-8] a reply on another link than the call’s is dropped as lateReply', async () => {
    const s = await connectedBoth();
    const r = request(s, 'echo', 1, { target: 'srv-a' });
    expect(r.ch).toBe(s.ch(A));
    s.ch(B).deliver(chunk(r.id, 'from B', true));
    s.ch(B).deliver(end(r.id));
    s.ch(B).deliver(errorEnvelope(r.id, { message: 'from B' }));
    expect(s.observer.dropped('lateReply')).toBe(3);
    expect(r.packets).toEqual([]);
    s.ch(A).deliver(chunk(r.id, 'from A', true));
    expect(r.packets).toEqual([{ response: 'from A', isDisposed: true }]);
  });

  it('a subscriber that throws does not break the engine: observer.error is told, the next envelope still runs', async () => {
    const s = await connectedOne();
    const thrower = s.engine.request(
      'echo',
      1,
      undefined,
      () => {
        throw new Error('subscriber bug');
      },
      undefined,
    );
    expect(thrower).toBeInstanceOf(Function);
    const throwerId = s.ch(A).of(MessageType.Request)[0]!.id;
    const next = request(s, 'echo', 2);
    expect(() => s.ch(A).deliver(chunk(throwerId, 'x', true), chunk(next.id, 'y', true))).not.toThrow();
    expect(s.observer.errors.some(e => e.includes('"echo"') && e.includes('subscriber bug'))).toBe(true);
    expect(next.packets).toEqual([{ response: 'y', isDisposed: true }]);
    expect(s.engine.stats().inFlight).toBe(0);
    // And it keeps working.
    const later = request(s, 'echo', 3);
    s.ch(A).deliver(chunk(later.id, 'z', true));
    expect(later.packets).toEqual([{ response: 'z', isDisposed: true }]);
  });

  it('a full queue ends the request at once with QUEUE_FULL; nothing stays in flight', async () => {
    const s = await connectedOne();
    s.ch(A).full = true;
    const r = replies();
    s.engine.request('echo', 1, undefined, r.cb);
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0]).toMatchObject({ isDisposed: true, err: { code: ZmqErrorCode.QUEUE_FULL } });
    expect(s.engine.stats().inFlight).toBe(0);
    expect(link(s, A).pending).toBe(0);
    // A PONG that cannot be queued is counted, not thrown.
    expect(() => s.ch(A).deliver(PING)).not.toThrow();
    expect(s.observer.dropped('sendFailed')).toBe(1);
  });

  it('answers PING with PONG', async () => {
    const s = await connectedOne();
    s.ch(A).deliver(PING);
    expect(s.ch(A).last().type).toBe(MessageType.Pong);
  });
});

describe('ClientEngine: losing a session', () => {
  it('BYE: the calls on that link fail with PEER_LOST (bye), the peer leaves, a fresh fast-reconnecting channel says HELLO', async () => {
    const s = await connectedBoth();
    const a1 = request(s, 'echo', 1, { target: 'srv-a' });
    const a2 = request(s, 'echo', 2, { target: 'srv-a' });
    const b1 = request(s, 'echo', 3, { target: 'srv-b' });
    const old = s.ch(A);
    const hellosBefore = hellos(old);
    old.deliver(BYE);
    for (const r of [a1, a2]) {
      expect(r.packets).toHaveLength(1);
      expect(r.packets[0]!.err).toBeInstanceOf(ZmqPeerLostError);
      expect(r.packets[0]).toMatchObject({ isDisposed: true, err: { peerId: 'srv-a', reason: 'bye' } });
    }
    expect(b1.packets).toEqual([]);
    expect(s.observer.lefts).toEqual([
      { peerId: 'srv-a', direction: 'upstream', endpoint: A, metadata: { zone: 'eu' }, reason: 'bye' },
    ]);
    expect(hellos(old)).toBe(hellosBefore);
    expect(old.isClosed).toBe(true);
    expect(s.status.values).toEqual(['connected']); // srv-b is still there
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-b']);
    // The fresh channel's HELLO waits for the connection; once libzmq took it, it is retried every FAST_RECONNECT_MS.
    const fresh = s.ch(A);
    expect(s.net.options.get(fresh)).toEqual({ fastReconnect: true });
    expect(hellos(fresh)).toBe(1);
    fresh.queued = 1;
    s.time.advance(FAST_RECONNECT_MS);
    expect(hellos(fresh)).toBe(1);
    fresh.queued = 0;
    s.time.advance(FAST_RECONNECT_MS);
    expect(hellos(fresh)).toBe(2);
  });

  it('with bye-ack, a BYE from the server is answered with a BYE before the session ends; without it, with none', async () => {
    const s = setup({ endpoints: [A] });
    const connecting = s.engine.connect();
    const byeAckWelcome = handshakeEnvelope(MessageType.Welcome, {
      version: 1,
      id: 'srv-a',
      metadata: {},
      heartbeat: { interval: 1_000, liveness: 3 },
      patterns: ['echo'],
      events: [],
      features: ['bye-ack'],
    });
    s.ch(A).deliver(byeAckWelcome);
    await connecting;
    const byesWhenLeft: number[] = [];
    const first = s.ch(A); // a BYE gives the link a fresh channel: the answer goes on this one
    const left = s.observer.left.bind(s.observer);
    s.observer.left = e => {
      byesWhenLeft.push(first.count(MessageType.Bye));
      left(e);
    };
    first.deliver(BYE);
    expect(first.count(MessageType.Bye)).toBe(1);
    expect(byesWhenLeft).toEqual([1]);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'bye' })]);
    // A session that did not take bye-ack: its BYE gets no answer.
    const second = s.ch(A);
    second.deliver(welcome('srv-a', ['echo']));
    second.deliver(BYE);
    expect(second.count(MessageType.Bye)).toBe(0);
    expect(s.observer.lefts).toHaveLength(2);
  });

  it('the connection ends (transport notice): calls fail PEER_LOST (disconnect) at once, the peer leaves, one HELLO waits', async () => {
    const s = await connectedBoth();
    const a1 = request(s, 'echo', 1, { target: 'srv-a' });
    const b1 = request(s, 'echo', 2, { target: 'srv-b' });
    const first = s.ch(A);
    first.handlers.disconnected!(Buffer.alloc(0));
    expect(a1.packets).toEqual([
      {
        err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, peerId: 'srv-a', reason: 'disconnect' }),
        isDisposed: true,
      },
    ]);
    expect(b1.packets).toEqual([]);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'disconnect' })]);
    // Its server left: the link has a fresh (fast-reconnecting) channel, whose HELLO waits for a connection.
    const fresh = s.ch(A);
    expect(fresh).not.toBe(first);
    expect(first.closeCount).toBe(1);
    expect(fresh.typesSince(0)).toEqual([MessageType.Hello]);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-b']);
    // A notice while handshaking: that HELLO may have gone with the connection, so one more, same channel.
    fresh.handlers.disconnected!(Buffer.alloc(0));
    expect(s.ch(A)).toBe(fresh);
    expect(fresh.typesSince(0)).toEqual([MessageType.Hello, MessageType.Hello]);
    expect(s.observer.lefts).toHaveLength(1);
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    expect(
      s.engine
        .peers()
        .map(p => p.peerId)
        .sort(),
    ).toEqual(['srv-a', 'srv-b']);
  });

  it('[C-2] a WELCOME of another server instance on a ready link is a restarted server: calls fail PEER_LOST, the peer leaves and joins', async () => {
    const s = setup({ endpoints: [A] });
    const connected = s.engine.connect();
    s.ch(A).deliver(welcome('srv-a', ['echo'], { instance: 'first' }));
    await connected;
    const r = request(s, 'echo');
    s.ch(A).deliver(welcome('srv-a', ['echo'], { instance: 'first' })); // a renewal: nothing happens
    expect(r.packets).toEqual([]);
    s.ch(A).deliver(welcome('srv-a', ['echo'], { instance: 'second' }));
    expect(r.packets).toEqual([
      { err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, reason: 'disconnect' }), isDisposed: true },
    ]);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'disconnect' })]);
    expect(s.observer.joins).toHaveLength(2);
    expect(s.status.values).toEqual(['connected']);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-a']);
  });

  it('[C-3] taken over (HANDSHAKE_REFUSED on a ready link): calls fail, the peer leaves, the link stays refused and says no more HELLO', async () => {
    const s = await connectedOne();
    const r = request(s, 'echo');
    s.ch(A).deliver(
      refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'A newer connection of this client took the session over'),
    );
    expect(r.packets).toEqual([
      { err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, reason: 'disconnect' }), isDisposed: true },
    ]);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'disconnect' })]);
    expect(s.observer.refusals).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: ZmqErrorCode.HANDSHAKE_REFUSED }) }),
    ]);
    const sentBefore = s.ch(A).sent.length;
    s.time.advance(HB.interval * 5);
    expect(
      s
        .ch(A)
        .typesSince(sentBefore)
        .filter(t => t === MessageType.Hello),
    ).toEqual([]);
  });

  it('a connection notice after close() sends nothing', async () => {
    const s = await connectedOne();
    const channel = s.ch(A);
    await s.engine.close();
    const sentBefore = channel.sent.length;
    channel.handlers.disconnected!(Buffer.alloc(0));
    expect(channel.sent.length).toBe(sentBefore);
    expect(s.observer.lefts.filter(e => e.reason === 'disconnect')).toEqual([]);
  });

  it('losing the last server reports reconnecting; a new WELCOME joins it again', async () => {
    const s = await connectedOne();
    s.ch(A).deliver(BYE);
    expect(s.status.values).toEqual(['connected', 'reconnecting']);
    expect(s.engine.isConnected).toBe(false);
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    expect(s.status.values).toEqual(['connected', 'reconnecting', 'connected']);
    expect(s.observer.joins).toHaveLength(2);
  });

  it('heartbeat timeout: PINGs first, then PEER_LOST (timeout) and exactly one HELLO, on a fresh fast-reconnecting channel', async () => {
    const s = await connectedOne();
    const r = request(s, 'echo');
    const old = s.ch(A);
    const sentBefore = old.sent.length;
    for (let i = 0; i < 40 && s.observer.lefts.length === 0; i++) s.time.advance(25);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'timeout' })]);
    const types = old.typesSince(sentBefore);
    expect(types.filter(t => t === MessageType.Ping).length).toBeGreaterThanOrEqual(1);
    expect(types.filter(t => t === MessageType.Hello)).toHaveLength(0);
    const fresh = s.ch(A);
    expect(fresh).not.toBe(old);
    expect(old.isClosed).toBe(true);
    expect(s.net.options.get(fresh)).toEqual({ fastReconnect: true });
    expect(fresh.sent.map(e => e.type)).toEqual([MessageType.Hello]);
    expect(r.packets).toEqual([
      { err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, reason: 'timeout' }), isDisposed: true },
    ]);
    expect(s.status.values).toEqual(['connected', 'reconnecting']);
  });

  it('traffic from the server keeps the session alive', async () => {
    const s = await connectedOne();
    for (let i = 0; i < 40; i++) {
      s.time.advance(50);
      if (i % 2 === 0) s.ch(A).deliver(PONG);
    }
    expect(s.observer.lefts).toEqual([]);
    expect(s.engine.isConnected).toBe(true);
  });

  it.each<[string, (id: number) => OutEnvelope]>([
    ['ERROR(id) NOT_READY', id => notReady(id)],
    ['connection-level ERROR(0) NOT_READY', () => refusalEnvelope(ZmqErrorCode.NOT_READY, 'no session')],
  ])('%s on a ready link: every call fails PEER_LOST (disconnect) and exactly ONE new HELLO', async (_n, make) => {
    const s = await connectedOne();
    const r1 = request(s, 'echo', 1);
    const r2 = request(s, 'echo', 2);
    const sentBefore = s.ch(A).sent.length;
    s.ch(A).deliver(make(r1.id));
    for (const r of [r1, r2]) {
      expect(r.packets).toEqual([
        { err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, reason: 'disconnect' }), isDisposed: true },
      ]);
    }
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-a', reason: 'disconnect' })]);
    expect(s.ch(A).typesSince(sentBefore)).toEqual([MessageType.Hello]);
    expect(link(s, A).state.kind).toBe('handshaking');
    // The retry timer does not add another within the interval.
    s.time.advance(99);
    expect(s.ch(A).typesSince(sentBefore)).toEqual([MessageType.Hello]);
    expect(s.observer.refusals).toEqual([]);
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    expect(s.observer.joins).toHaveLength(2);
  });

  it('[C-2] a second WELCOME on a ready link renews it: no second joined event, no second connected status', async () => {
    const s = await connectedOne();
    s.ch(A).deliver(welcome('srv-a', ['echo', 'added']));
    expect(s.observer.joins).toHaveLength(1);
    expect(s.observer.lefts).toEqual([]);
    expect(s.status.values).toEqual(['connected']);
    // The renewed WELCOME's patterns apply.
    expect(request(s, 'added').ch).toBe(s.ch(A));
    expect(s.engine.peers()[0]!.patterns).toEqual(['echo', 'added']);
  });
});

describe('ClientEngine: close', () => {
  it('close() during a pending connect(): connect rejects CLOSED, one disconnected, each channel closed once', async () => {
    const s = setup();
    const connecting = track(s.engine.connect());
    await s.engine.close();
    await flush();
    expect(connecting.error).toMatchObject({ code: ZmqErrorCode.CLOSED });
    expect(s.status.values).toEqual(['disconnected']);
    expect(s.net.channels.map(c => c.closeCount)).toEqual([1, 1]);
    expect(s.net.channels.every(c => c.count(MessageType.Bye) === 0)).toBe(true);
    expect(s.time.pending).toBe(0); // no timer left: nothing more happens
    expect(s.engine.links).toEqual([]);
  });

  it('close() on a ready link: BYE, calls fail CLOSED, the peer leaves with bye, the channel closes once', async () => {
    const s = setup();
    const connecting = s.engine.connect();
    s.ch(A).deliver(welcome('srv-a', ['echo'], { metadata: { zone: 'eu' } }));
    await connecting;
    const r = request(s, 'echo');
    await s.engine.close();
    expect(r.packets).toEqual([{ err: expect.objectContaining({ code: ZmqErrorCode.CLOSED }), isDisposed: true }]);
    const bye = s.ch(A).of(MessageType.Bye);
    expect(bye).toHaveLength(1);
    expect(bye[0]!.afterClose).toBe(false);
    expect(s.ch(B).count(MessageType.Bye)).toBe(0); // never had a session
    expect(s.observer.lefts).toEqual([
      { peerId: 'srv-a', direction: 'upstream', endpoint: A, metadata: { zone: 'eu' }, reason: 'bye' },
    ]);
    expect(s.status.values).toEqual(['connected', 'disconnected']);
    expect(s.net.channels.map(c => c.closeCount)).toEqual([1, 1]);
    expect(s.engine.isConnected).toBe(false);
    expect(s.time.pending).toBe(0);
    // Nothing is read from a closed link.
    s.ch(A).deliver(chunk(r.id, 'late', true));
    expect(r.packets).toHaveLength(1);
    expect(s.net.channels.every(c => c.sent.every(e => !e.afterClose))).toBe(true);
  });

  it('connect() after close() opens new links', async () => {
    const s = await connectedOne();
    await s.engine.close();
    const again = s.engine.connect();
    expect(s.net.channels).toHaveLength(2);
    const fresh = s.net.channels[1]!;
    expect(fresh.of(MessageType.Hello)[0]!.payload).toMatchObject({ instance: 'inst/0' });
    fresh.deliver(welcome('srv-a', ['echo']));
    await expect(again).resolves.toBeUndefined();
    expect(s.status.values).toEqual(['connected', 'disconnected', 'connected']);
  });
});

describe('ClientEngine: connect() after every server refused', () => {
  // Every server refused: the waiting connect() is rejected with the refusal, and a status listener that calls
  // connect() again on 'disconnected' starts a new wait of its own, on fresh links, that the refusal does not settle.
  it('a status listener that reconnects on "disconnected" does not leave the first connect() pending forever', async () => {
    const again: Array<ReturnType<typeof track>> = [];
    const s = clientEngine(
      { endpoints: [A] },
      {
        status: status => {
          if (status === 'disconnected' && again.length === 0) again.push(track(s.engine.connect()));
        },
      },
    );
    const { net, engine } = s;
    const first = track(engine.connect());
    net.channels[0]!.deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'no'));
    await flush();
    expect(again).toHaveLength(1);
    expect(first.error).toMatchObject({ code: ZmqErrorCode.HANDSHAKE_REFUSED });
    // The second connect() waits on the new link, not on the old refusal.
    expect(net.channels.map(c => c.closeCount)).toEqual([1, 0]);
    expect(again[0]!.settled).toBe(false);
    net.channels[1]!.deliver(welcome('srv-a', ['echo']));
    await flush();
    expect(again[0]!.resolved).toBe(true);
  });

  // Every link refused after a connect() timed out (nobody waiting, so no teardown): a new connect() rejects
  // at once with the refusal instead of waiting connectTimeout for links that do not try again.
  it('rejects at once when every server had already refused', async () => {
    const s = setup();
    const first = track(s.engine.connect());
    s.time.advance(1_000);
    await flush();
    expect(first.error).toMatchObject({ code: ZmqErrorCode.CONNECT_TIMEOUT });
    s.ch(A).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'no A'));
    s.ch(B).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'no B'));
    const second = track(s.engine.connect());
    await flush(); // no time moved
    expect(second.error).toMatchObject({ code: ZmqErrorCode.HANDSHAKE_REFUSED });
  });
});
