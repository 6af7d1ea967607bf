/**
 * Hedging and each call's own policy, decided over fake channels and a
 * manual clock: a hedge after the delay to another server, the first answer
 * wins and the others are cancelled, the budget and the idempotent list bound
 * it, and a call's `retry: false` / `hedge` override the client's options.
 */
import { ZmqErrorCode, ZmqOptionsError } from '../../lib/errors/zmq.errors';
import { resolveClientConfig } from '../../lib/config/client-config';
import { recordData, recordPolicy, ZmqRecord, ZmqRecordBuilder } from '../../lib/client/zmq-record';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import type { ClientEngineConfig } from '../../lib/protocol/client/client-deps';
import type { CallPolicy } from '../../lib/protocol/client/retries';
import { ANY_SERVER } from '../../lib/protocol/client/client-deps';
import { Metrics } from '../../lib/protocol/metrics';
import { BYE, dataEnvelope, errorEnvelope } from '../../lib/protocol/envelopes';
import { Flag, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope } from '../../lib/protocol/handshake';
import { DEFAULT_HEDGING } from '../../lib/defaults';
import { Subject } from 'rxjs';
import { A, B, clientEngine, MAX_PAYLOAD } from '../helpers/client-engine';

const C = 'tcp://c:3';
const DELAY = 20;

function welcome(id: string, idempotent: string[], extra: object = {}): OutEnvelope {
  return handshakeEnvelope(MessageType.Welcome, {
    ...extra,
    version: 1,
    id,
    metadata: {},
    heartbeat: { interval: 60_000, liveness: 3 },
    patterns: ['get', 'create'],
    events: [],
    ...(idempotent.length > 0 ? { idempotent } : {}),
  });
}

const HEDGING = { delayMs: DELAY, maxAttempts: 2 };

/** An engine connected to `endpoints` (each server declares `get` idempotent), with metrics on its clock. */
async function connected(over: Partial<ClientEngineConfig> = {}, endpoints = [A, B], fields: object = {}) {
  let metrics: Metrics | undefined;
  const { time, net, observer, engine } = clientEngine(
    {
      endpoints,
      id: 'c',
      heartbeat: { interval: 60_000, liveness: 3 },
      strategy: 'round-robin',
      retries: { maxAttempts: 3, budget: 0.1 },
      hedging: HEDGING,
      ...over,
    },
    t => ({ random: () => 0.5, metrics: (metrics = new Metrics(t, true, true)) }),
  );
  const connecting = engine.connect();
  endpoints.forEach((endpoint, i) => net.channel(endpoint).deliver(welcome(`srv-${i}`, ['get'], fields)));
  await connecting;
  const call = (pattern: string, policy?: CallPolicy, data: unknown = { id: 7 }) => {
    const packets: ReplyPacket[] = [];
    const cancel = engine.request(pattern, data, undefined, p => void packets.push(p), ANY_SERVER, policy);
    return { packets, cancel };
  };
  const requests = (endpoint: string) => net.channel(endpoint).of(MessageType.Request);
  const cancels = (endpoint: string) =>
    net
      .channel(endpoint)
      .of(MessageType.Cancel)
      .map(e => e.id);
  const deliver = (endpoint: string, env: OutEnvelope) => net.channel(endpoint).deliver(env);
  return { time, observer, engine, call, requests, cancels, deliver, metrics: () => metrics!.snapshot(engine.stats()) };
}

const reply = (id: number, value: unknown) => dataEnvelope(MessageType.Chunk, id, value, MAX_PAYLOAD, Flag.End);
const chunk = (id: number, value: unknown) => dataEnvelope(MessageType.Chunk, id, value, MAX_PAYLOAD, 0);

describe('client hedging', () => {
  it('[C-18] sends a hedge after the delay, to another server, with the same data; never to a server with an attempt in flight', async () => {
    const s = await connected();
    s.call('get');
    expect(s.requests(A)).toHaveLength(1);
    s.time.advance(DELAY - 1);
    expect(s.requests(B)).toHaveLength(0);
    s.time.advance(1);
    expect(s.requests(B)).toHaveLength(1);
    expect(s.requests(B)[0]!.payload).toEqual({ id: 7 });
    expect(s.requests(B)[0]!.id).not.toBe(s.requests(A)[0]!.id);
    s.time.advance(DELAY * 10); // maxAttempts 2: one hedge at most
    expect([s.requests(A).length, s.requests(B).length]).toEqual([1, 1]);
    expect(s.engine.resilienceStats().hedges).toBe(1);
  });

  it('[C-18] a client with one server never hedges: the only other server would be the same one', async () => {
    const s = await connected({}, [A]);
    s.call('get');
    s.time.advance(DELAY * 5);
    expect(s.requests(A)).toHaveLength(1);
    expect(s.engine.resilienceStats().hedges).toBe(0);
  });

  it('[C-19] the first answer wins: the hedge answers, the caller sees it once, the first attempt is cancelled on its server', async () => {
    const s = await connected();
    const c = s.call('get');
    s.time.advance(DELAY);
    const [first] = s.requests(A);
    const [hedge] = s.requests(B);
    s.deliver(B, reply(hedge!.id, 'from b'));
    expect(c.packets).toEqual([{ response: 'from b', isDisposed: true }]);
    expect(s.cancels(A)).toEqual([first!.id]);
    expect(s.cancels(B)).toEqual([]);
    s.deliver(A, reply(first!.id, 'from a')); // too late: dropped, never delivered
    expect(c.packets).toHaveLength(1);
    expect(s.observer.dropped('lateReply')).toBe(1);
    expect(s.engine.resilienceStats()).toMatchObject({ hedges: 1, hedgesWon: 1 });
    expect(s.engine.stats().inFlight).toBe(0);
    const get = s.metrics().patterns['get']!;
    expect(get).toMatchObject({ requests: 1, ok: 1, cancels: 0, hedges: 1, hedgesWon: 1, retries: 0 });
    expect(get.latency.count).toBe(1);
  });

  it('[C-19] the first attempt answering first cancels the hedge; a first CHUNK of a stream decides as its END would', async () => {
    const s = await connected();
    const c = s.call('get');
    s.time.advance(DELAY);
    const [first] = s.requests(A);
    const [hedge] = s.requests(B);
    s.deliver(A, chunk(first!.id, 1));
    expect(s.cancels(B)).toEqual([hedge!.id]);
    s.deliver(A, reply(first!.id, 2));
    expect(c.packets).toEqual([{ response: 1 }, { response: 2, isDisposed: true }]);
    expect(s.engine.resilienceStats()).toMatchObject({ hedges: 1, hedgesWon: 0 });
    expect(s.metrics().patterns['get']).toMatchObject({ requests: 1, ok: 1, hedgesWon: 0 });
  });

  it('[C-19] a remote error is an answer: it wins, and the other attempt is cancelled', async () => {
    const s = await connected();
    const c = s.call('get');
    s.time.advance(DELAY);
    const [first] = s.requests(A);
    const [hedge] = s.requests(B);
    s.deliver(B, errorEnvelope(hedge!.id, { status: 'error', message: 'no such user' }));
    expect(c.packets).toHaveLength(1);
    expect(c.packets[0]!.err).toMatchObject({ message: 'no such user' });
    expect(s.cancels(A)).toEqual([first!.id]);
  });

  it('[C-19] the loss of one attempt while another is in flight stays unseen: the other answers', async () => {
    const s = await connected({}, [A, B]);
    const c = s.call('get');
    s.time.advance(DELAY);
    s.deliver(A, BYE); // the first server leaves; its attempt is not retried on B, which has one in flight
    expect(c.packets).toEqual([]);
    expect(s.requests(B)).toHaveLength(1);
    s.deliver(B, reply(s.requests(B)[0]!.id, 'ok'));
    expect(c.packets).toEqual([{ response: 'ok', isDisposed: true }]);
    expect(s.engine.resilienceStats()).toMatchObject({ retries: 0, hedges: 1, hedgesWon: 1 });
  });

  it('unsubscribing cancels every attempt in flight, counted as one cancel', async () => {
    const s = await connected();
    const c = s.call('get');
    s.time.advance(DELAY);
    c.cancel();
    expect(s.cancels(A)).toEqual([s.requests(A)[0]!.id]);
    expect(s.cancels(B)).toEqual([s.requests(B)[0]!.id]);
    expect(s.engine.stats().inFlight).toBe(0);
    expect(s.metrics().patterns['get']).toMatchObject({ requests: 1, cancels: 1 });
  });

  it('a call answered before the delay sends no hedge; its timer is gone', async () => {
    const s = await connected();
    const timers = s.time.pending;
    const c = s.call('get');
    expect(s.time.pending).toBe(timers + 2); // the request timeout and the hedge
    s.deliver(A, reply(s.requests(A)[0]!.id, 'fast'));
    expect(c.packets).toHaveLength(1);
    expect(s.time.pending).toBe(timers);
    s.time.advance(DELAY * 2);
    expect(s.requests(B)).toHaveLength(0);
  });

  it('[C-18] never hedges a call of a pattern not declared idempotent', async () => {
    const s = await connected();
    s.call('create');
    s.time.advance(DELAY * 5);
    expect(s.requests(B)).toHaveLength(0);
    expect(s.engine.resilienceStats().hedges).toBe(0);
  });

  it('[C-18] never hedges once a value of the reply arrived', async () => {
    const s = await connected();
    const c = s.call('get');
    s.deliver(A, chunk(s.requests(A)[0]!.id, 'first'));
    s.time.advance(DELAY * 5);
    expect(s.requests(B)).toHaveLength(0);
    expect(c.packets).toEqual([{ response: 'first' }]);
  });

  it('[C-18] never hedges a request stream', async () => {
    const s = await connected({ stream: { window: 4, bufferLimit: 1 << 20 }, socket: { queueLimit: 100 } }, [A, B], {
      features: ['credit'],
      window: 4,
    });
    const source = new Subject<number>();
    s.call('get', undefined, source);
    expect(s.requests(A)[0]!.flags & Flag.Stream).toBe(Flag.Stream);
    s.time.advance(DELAY * 5);
    expect(s.requests(B)).toHaveLength(0);
    s.call('get'); // the control: a plain call of the same pattern on the same servers is hedged
    s.time.advance(DELAY);
    expect(s.requests(A).length + s.requests(B).length).toBe(3);
    source.complete();
  });

  it('[C-20] hedges spend the retry budget: once it is spent, no hedge goes out and each refusal is counted', async () => {
    const s = await connected({ retries: { maxAttempts: 3, budget: 0 } }); // the burst reserve only
    for (let i = 0; i < 12; i++) {
      s.call('get');
      s.time.advance(DELAY);
    }
    const hedges = s.requests(A).length + s.requests(B).length - 12;
    expect(hedges).toBe(10);
    expect(s.engine.resilienceStats()).toMatchObject({ hedges: 10, hedgesDenied: 2, retriesDenied: 0 });
  });

  it('[C-20] maxAttempts bounds the hedges of one call: 3 attempts on three servers, each on its own server', async () => {
    const s = await connected({ hedging: { delayMs: DELAY, maxAttempts: 3 } }, [A, B, C]);
    s.call('get');
    s.time.advance(DELAY * 10);
    expect([A, B, C].map(e => s.requests(e).length)).toEqual([1, 1, 1]);
    expect(s.engine.resilienceStats().hedges).toBe(2);
  });

  it('stops hedging at the end of the call: a timeout cancels every attempt and tells the caller once', async () => {
    const s = await connected({ requestTimeout: 100 });
    const c = s.call('get');
    s.time.advance(200);
    expect(c.packets).toHaveLength(1);
    expect(c.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT });
    expect(s.cancels(A)).toHaveLength(1);
    expect(s.cancels(B)).toHaveLength(1);
    expect(s.engine.stats().inFlight).toBe(0);
    expect(s.metrics().patterns['get']).toMatchObject({ requests: 1, timeouts: 1 });
  });

  it('close() fails a hedged call once', async () => {
    const s = await connected();
    const c = s.call('get');
    s.time.advance(DELAY);
    await s.engine.close();
    expect(c.packets).toHaveLength(1);
    expect(c.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.CLOSED });
    expect(s.metrics().patterns['get']!.errors).toEqual({ [ZmqErrorCode.CLOSED]: 1 });
  });
});

describe("a call's own policy", () => {
  it('[C-15] retry: false is never sent again: its server lost, it fails PEER_LOST', async () => {
    const s = await connected({ hedging: undefined });
    const c = s.call('get', { retry: false });
    s.deliver(A, BYE);
    expect(s.requests(B)).toHaveLength(0);
    expect(c.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.PEER_LOST });
    expect(s.engine.resilienceStats().retries).toBe(0);
  });

  it('retry: false also sends no hedge on a client that hedges', async () => {
    const s = await connected();
    s.call('get', { retry: false });
    s.time.advance(DELAY * 5);
    expect(s.requests(B)).toHaveLength(0);
  });

  it('the same call without a policy is retried (the control of the case above)', async () => {
    const s = await connected({ hedging: undefined });
    const c = s.call('get');
    s.deliver(A, BYE);
    expect(s.requests(B)).toHaveLength(1);
    expect(c.packets).toEqual([]);
    expect(s.engine.resilienceStats().retries).toBe(1);
    expect(s.metrics().patterns['get']).toMatchObject({ retries: 1 });
  });

  it('hedge on a call of a client without hedging: its own delay; hedge: false on a client that hedges: none', async () => {
    const s = await connected({ hedging: undefined });
    s.call('get', { hedge: { delayMs: 5 } });
    s.time.advance(5);
    expect(s.requests(B)).toHaveLength(1);
    const t = await connected();
    t.call('get', { hedge: false });
    t.time.advance(DELAY * 5);
    expect(t.requests(B)).toHaveLength(0);
  });

  it('hedge: true on a client without hedging takes the defaults', async () => {
    const s = await connected({ hedging: undefined });
    s.call('get', { hedge: true });
    s.time.advance(DEFAULT_HEDGING.delayMs - 1);
    expect(s.requests(B)).toHaveLength(0);
    s.time.advance(1);
    expect(s.requests(B)).toHaveLength(1);
  });

  it('retry: true on a client with retries: false retries with the defaults', async () => {
    const s = await connected({ retries: undefined, hedging: undefined });
    const c = s.call('get', { retry: true });
    s.deliver(A, BYE);
    expect(s.requests(B)).toHaveLength(1);
    expect(c.packets).toEqual([]);
  });
});

describe("a call's own timeout", () => {
  it('replaces requestTimeout for that call only: TIMEOUT after it, CANCEL to its server; the others keep theirs', async () => {
    const s = await connected({ requestTimeout: 1_000, hedging: undefined }, [A], { features: ['deadline'] });
    const short = s.call('get', { timeout: 100 });
    const plain = s.call('get');
    const [first, second] = s.requests(A);
    expect(first!.env.deadline).toBe(100); // the server is told the call's own wait
    expect(second!.env.deadline).toBe(1_000);
    s.time.advance(101);
    expect(short.packets).toHaveLength(1);
    expect(short.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT, timeoutMs: 100 });
    expect(s.cancels(A)).toEqual([first!.id]);
    expect(plain.packets).toEqual([]);
    expect(s.engine.stats().inFlight).toBe(1);
    s.time.advance(1_000);
    expect(plain.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT, timeoutMs: 1_000 });
    expect(s.metrics().patterns['get']).toMatchObject({ requests: 2, timeouts: 2 });
  });

  it('restarts at every reply message, as requestTimeout does; 0 waits without limit', async () => {
    const s = await connected({ requestTimeout: 50, hedging: undefined }, [A]);
    const streamed = s.call('get', { timeout: 100 });
    const patient = s.call('get', { timeout: 0 });
    const [first, second] = s.requests(A);
    for (let i = 0; i < 5; i++) {
      s.time.advance(80);
      s.deliver(A, chunk(first!.id, i));
    }
    expect(streamed.packets).toHaveLength(5);
    expect(streamed.packets.every(p => p.err === undefined)).toBe(true);
    s.time.advance(10_000);
    expect(streamed.packets.at(-1)!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT });
    expect(patient.packets).toEqual([]);
    s.deliver(A, reply(second!.id, 'at last'));
    expect(patient.packets).toEqual([{ response: 'at last', isDisposed: true }]);
  });

  it('bounds the retries and hedges of the call, and is kept by them', async () => {
    const s = await connected({ requestTimeout: 5_000, hedging: { delayMs: 200, maxAttempts: 2 } });
    const c = s.call('get', { timeout: 100 });
    s.time.advance(150); // the hedge would be due at 200: the call ended first
    expect(c.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT, timeoutMs: 100 });
    expect(s.requests(B)).toHaveLength(0);
    const r = s.call('get', { timeout: 100, hedge: false });
    const on = s.requests(B).length === 1 ? B : A; // where round-robin sent it
    const other = on === A ? B : A;
    const before = s.requests(other).length;
    s.deliver(on, BYE); // its server leaves: it is retried on the other one, with the call's own timeout
    expect(s.requests(other)).toHaveLength(before + 1);
    s.time.advance(101);
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT, timeoutMs: 100 });
  });

  it('calls with their own timeout fail with their server like the others (PEER_LOST), and close() fails them', async () => {
    const s = await connected({ hedging: undefined, retries: undefined }, [A, B]);
    const a = s.call('get', { timeout: 300 });
    const b = s.call('get', { timeout: 300 });
    s.deliver(A, BYE);
    expect(a.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.PEER_LOST });
    expect(b.packets).toEqual([]);
    await s.engine.close();
    expect(b.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.CLOSED });
    expect(s.engine.stats().inFlight).toBe(0);
  });
});

describe('ZmqRecord and the hedging option', () => {
  it('unwraps to its data and its checked options; any other value is its own data', () => {
    const record = new ZmqRecord({ id: 1 }, { retry: false });
    expect([recordData(record), recordPolicy(record)]).toEqual([{ id: 1 }, { retry: false }]);
    expect([recordData({ id: 1 }), recordPolicy({ id: 1 })]).toEqual([{ id: 1 }, undefined]);
    const built = new ZmqRecordBuilder(5)
      .setOptions({ hedge: { delayMs: 10 } })
      .setOptions({ retry: true })
      .build();
    expect([recordData(built), recordPolicy(built)]).toEqual([5, { retry: true, hedge: { delayMs: 10 } }]);
    expect(Object.isFrozen(built.options)).toBe(true);
  });

  it.each([
    [{ retries: false } as object, 'record.retries'],
    [{ retry: 'no' }, 'record.retry'],
    [{ hedge: 5 }, 'record.hedge'],
    [{ hedge: { delay: 5 } }, 'record.hedge.delay'],
    [{ hedge: { delayMs: -1 } }, 'record.hedge.delayMs'],
    [{ hedge: { maxAttempts: 1 } }, 'record.hedge.maxAttempts'],
    [{ hedge: { maxAttempts: 2.5 } }, 'record.hedge.maxAttempts'],
    [{ retry: false, hedge: true }, 'record.hedge'],
    [{ timeout: -1 }, 'record.timeout'],
    [{ timeout: '5s' }, 'record.timeout'],
    [{ timeout: 2 ** 31 }, 'record.timeout'],
  ])('options %j are refused with INVALID_OPTIONS naming %s', (options, option) => {
    let caught: unknown;
    try {
      new ZmqRecord(1, options as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ZmqOptionsError);
    expect(caught).toMatchObject({ code: ZmqErrorCode.INVALID_OPTIONS, option });
  });

  it('the hedging option: off by default, {} takes the defaults, fields are checked', () => {
    const connect = 'tcp://127.0.0.1:1';
    expect(resolveClientConfig({ connect }).hedging).toBeUndefined();
    expect(resolveClientConfig({ connect, hedging: false }).hedging).toBeUndefined();
    expect(resolveClientConfig({ connect, hedging: {} }).hedging).toEqual(DEFAULT_HEDGING);
    expect(resolveClientConfig({ connect, hedging: { delayMs: 0, maxAttempts: 3 } }).hedging).toEqual({
      delayMs: 0,
      maxAttempts: 3,
    });
    for (const [hedging, option] of [
      [true, 'hedging'],
      [{ maxAttempts: 1 }, 'hedging.maxAttempts'],
      [{ delayMs: Number.NaN }, 'hedging.delayMs'],
      [{ budget: 1 }, 'hedging.budget'],
    ] as const) {
      expect(() => resolveClientConfig({ connect, hedging: hedging as never })).toThrow(
        expect.objectContaining({ code: ZmqErrorCode.INVALID_OPTIONS, option }),
      );
    }
  });
});
