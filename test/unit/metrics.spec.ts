/**
 * Metrics (lib/protocol/metrics.ts) on their own, and fed by both engines
 * over fake channels with the manual clock: every way a call ends is counted
 * once, latencies are the manual clock's differences in seconds.
 */
import { Observable } from 'rxjs';
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import { resolveClientConfig } from '../../lib/config/client-config';
import { resolveServerConfig } from '../../lib/config/server-config';
import { controlEnvelope, dataEnvelope, errorEnvelope } from '../../lib/protocol/envelopes';
import { encodePattern, Flag, MessageType } from '../../lib/protocol/frames';
import { handshakeEnvelope } from '../../lib/protocol/handshake';
import { MAX_METRIC_ERROR_CODES, MAX_METRIC_PATTERNS } from '../../lib/protocol/tuning';
import { Histogram, Metrics, OTHER_PATTERNS, ZMQ_LATENCY_BUCKETS } from '../../lib/protocol/metrics';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { ServerEngine } from '../../lib/protocol/server/server-engine';
import { connectedEngine, A, welcome } from '../helpers/client-engine';
import { FakeBinder, RecordingObserver } from '../helpers/fake-channel';
import { ManualTime } from '../helpers/manual-time';

const MAX = 64 * 1024;
const HB = { interval: 100, liveness: 3 };

describe('Histogram', () => {
  it('counts each observation in the first bucket whose bound it does not exceed; buckets are cumulative', () => {
    const h = new Histogram();
    for (const s of [0.00001, 0.0001, 0.0003, 0.2, 20]) h.observe(s);
    const snap = h.snapshot();
    expect(snap.count).toBe(5);
    expect(snap.sum).toBeCloseTo(20.20041, 10);
    expect(snap.buckets.map(b => b.le)).toEqual(ZMQ_LATENCY_BUCKETS);
    const at = (le: number) => snap.buckets.find(b => b.le === le)!.count;
    expect(at(0.00005)).toBe(1);
    expect(at(0.0001)).toBe(2); // the bound itself is inside (le)
    expect(at(0.0005)).toBe(3);
    expect(at(0.25)).toBe(4);
    expect(at(10)).toBe(4); // 20 s is only in +Inf, which is `count`
    for (let i = 1; i < snap.buckets.length; i++)
      expect(snap.buckets[i]!.count).toBeGreaterThanOrEqual(snap.buckets[i - 1]!.count);
  });

  it('its snapshot is JSON-safe (no Infinity)', () => {
    const h = new Histogram();
    h.observe(1);
    expect(JSON.parse(JSON.stringify(h.snapshot()))).toEqual(h.snapshot());
  });
});

describe('Metrics', () => {
  const time = new ManualTime();

  it('creates a pattern record once and reuses it', () => {
    const m = new Metrics(time, true, false);
    expect(m.record('a')).toBe(m.record('a'));
    m.event('a', 3);
    expect(m.snapshot({ peers: 1, inFlight: 2, queued: 3 })).toEqual({
      patterns: { a: expect.objectContaining({ requests: 0, events: 3, ok: 0, errors: {}, cancels: 0, timeouts: 0 }) },
      peers: 1,
      inFlight: 2,
      queued: 3,
    });
  });

  it('[S-23] never counts reserved $zmq/ patterns', () => {
    const m = new Metrics(time, true, false);
    const call = { meter: undefined, started: 0 };
    m.start(call, '$zmq/metrics');
    m.end(call, 'ok');
    m.event('$zmq/x');
    expect(m.snapshot({ peers: 0, inFlight: 0, queued: 0 }).patterns).toEqual({});
  });

  it('adds up patterns beyond MAX_METRIC_PATTERNS under $other, and error codes beyond the limit under OTHER', () => {
    const m = new Metrics(time, true, false);
    for (let i = 0; i < MAX_METRIC_PATTERNS + 5; i++) m.event(`p${i}`);
    const patterns = m.snapshot({ peers: 0, inFlight: 0, queued: 0 }).patterns;
    expect(Object.keys(patterns)).toHaveLength(MAX_METRIC_PATTERNS + 1);
    expect(patterns[OTHER_PATTERNS]!.events).toBe(5);
    for (let i = 0; i < MAX_METRIC_ERROR_CODES + 3; i++) m.refused('p0', { code: `E${i}` });
    const errors = m.snapshot({ peers: 0, inFlight: 0, queued: 0 }).patterns.p0!.errors;
    expect(Object.keys(errors)).toHaveLength(MAX_METRIC_ERROR_CODES + 1);
    expect(errors.OTHER).toBe(3);
  });

  it('switched off, nothing is recorded', () => {
    const m = new Metrics(time, false, true);
    const call = { meter: undefined, started: 0 };
    m.start(call, 'a');
    m.end(call, 'error', 'X');
    m.abort(call, 'timeout');
    m.event('a');
    m.refused('a', new Error('x'));
    expect(m.record('a')).toBeUndefined();
    expect(m.snapshot({ peers: 0, inFlight: 0, queued: 0 }).patterns).toEqual({});
  });

  it('a call ends once', () => {
    const m = new Metrics(time, true, false);
    const call = { meter: undefined, started: 0 };
    m.start(call, 'a');
    m.end(call, 'ok');
    m.abort(call, 'cancel');
    const a = m.snapshot({ peers: 0, inFlight: 0, queued: 0 }).patterns.a!;
    expect([a.requests, a.ok, a.cancels, a.latency.count]).toEqual([1, 1, 0, 1]);
  });
});

async function client(requestTimeout = 5_000) {
  let metrics!: Metrics;
  const {
    time,
    ch: channel,
    engine,
  } = await connectedEngine(
    [[A, welcome('srv', ['echo', 'stream'], { events: ['audit'], features: [] })]],
    { id: 'c', instance: 'i', requestTimeout },
    clock => ({ metrics: (metrics = new Metrics(clock, true, true)) }),
  );
  const ch = channel(A);
  const send = (pattern: string) => {
    const packets: ReplyPacket[] = [];
    const cancel = engine.request(pattern, 1, undefined, p => void packets.push(p));
    return { packets, cancel, id: ch.of(MessageType.Request).at(-1)?.id ?? 0 };
  };
  const of = (pattern: string) => metrics.snapshot(engine.stats()).patterns[pattern]!;
  return { time, ch, engine, metrics, send, of };
}

describe('ClientEngine feeds its metrics', () => {
  it('a reply: one request, ok, round trip and time to first chunk in seconds on the engine clock', async () => {
    const c = await client();
    const r = c.send('stream');
    c.time.advance(2); // 2 ms to the first chunk
    c.ch.deliver(dataEnvelope(MessageType.Chunk, r.id, 'a', MAX, 0));
    c.time.advance(8);
    c.ch.deliver(dataEnvelope(MessageType.Chunk, r.id, 'b', MAX, 0));
    c.ch.deliver(controlEnvelope(MessageType.End, r.id));
    const m = c.of('stream');
    expect([m.requests, m.ok, m.cancels, m.timeouts]).toEqual([1, 1, 0, 0]);
    expect(m.latency.count).toBe(1);
    expect(m.latency.sum).toBeCloseTo(0.01, 9);
    expect(m.firstChunk!.count).toBe(1);
    expect(m.firstChunk!.sum).toBeCloseTo(0.002, 9);
    expect(m.latency.buckets.find(b => b.le === 0.01)!.count).toBe(1);
    expect(m.latency.buckets.find(b => b.le === 0.005)!.count).toBe(0);
  });

  it('errors by code (a remote error without one is REMOTE_ERROR), timed as round trips', async () => {
    const c = await client();
    const a = c.send('echo');
    const b = c.send('echo');
    c.time.advance(1);
    c.ch.deliver(errorEnvelope(a.id, { status: 'error', message: 'boom' }));
    c.ch.deliver(errorEnvelope(b.id, { status: 'error', code: 'E_PAY', message: 'no' }));
    const m = c.of('echo');
    expect(m.errors).toEqual({ REMOTE_ERROR: 1, E_PAY: 1 });
    expect([m.requests, m.ok, m.latency.count]).toEqual([2, 0, 2]);
    expect(m.firstChunk!.count).toBe(0);
  });

  it('a cancel and a timeout are counted apart, without latency; a late reply counts nothing more', async () => {
    const c = await client(100);
    const a = c.send('echo');
    a.cancel();
    const b = c.send('echo');
    c.time.advance(150);
    expect(b.packets.at(-1)!.err).toMatchObject({ code: ZmqErrorCode.TIMEOUT });
    c.ch.deliver(dataEnvelope(MessageType.Chunk, b.id, 1, MAX, Flag.End));
    const m = c.of('echo');
    expect([m.requests, m.ok, m.cancels, m.timeouts, m.latency.count]).toEqual([2, 0, 1, 1, 0]);
    expect(m.errors).toEqual({});
  });

  it('NO_PEER (never sent) and PEER_LOST / CLOSED (no round trip) are errors without latency', async () => {
    const c = await client();
    c.send('nobody-serves-this');
    c.send('echo');
    c.send('stream');
    c.ch.deliver(controlEnvelope(MessageType.Bye, 0));
    c.send('echo'); // NO_PEER now: the only server left
    await c.engine.close();
    expect(c.of('nobody-serves-this')).toMatchObject({ requests: 1, errors: { NO_PEER: 1 } });
    expect(c.of('echo')).toMatchObject({ requests: 2, errors: { PEER_LOST: 1, NO_PEER: 1 } });
    expect(c.of('echo').latency.count).toBe(0);
    expect(c.metrics.snapshot(c.engine.stats()).inFlight).toBe(0);
  });

  it('inFlight and peers gauges come with the snapshot', async () => {
    const c = await client();
    c.send('echo');
    const snap = c.metrics.snapshot(c.engine.stats());
    expect([snap.peers, snap.inFlight]).toEqual([1, 1]);
  });
});

class Host implements ServerHost<string> {
  readonly calls: ServerCall[] = [];
  requestHandler(pattern: string): string | null {
    return pattern === 'missing' ? null : pattern;
  }
  served() {
    return { patterns: ['echo'], events: [] };
  }
  runRequest(call: ServerCall): void {
    this.calls.push(call);
  }
  runEvent(): void {}
}

async function server() {
  const time = new ManualTime();
  const net = new FakeBinder();
  const host = new Host();
  const metrics = new Metrics(time, true, false);
  const engine = new ServerEngine<string>({
    config: { endpoints: ['tcp://127.0.0.1:*'], id: 's', metadata: {}, maxPayload: MAX, heartbeat: HB },
    bind: net.bind,
    host,
    observer: new RecordingObserver(),
    clock: time,
    scheduler: time,
    metrics,
  });
  await engine.listen();
  const rid = Buffer.from([0, 1, 2, 3, 4]);
  net.channel.deliverFrom(
    rid,
    handshakeEnvelope(MessageType.Hello, {
      version: 1,
      id: 'c1',
      metadata: {},
      heartbeat: { interval: 1_000, liveness: 3 },
      features: ['deadline'],
    }),
  );
  const request = (id: number, pattern: string, deadline?: number) => {
    const env = dataEnvelope(MessageType.Request, id, null, MAX, 0, encodePattern(pattern));
    if (deadline !== undefined) env.deadline = deadline;
    net.channel.deliverFrom(rid, env);
    return host.calls.find(c => c.id === id);
  };
  const of = (pattern: string) => metrics.snapshot(engine.stats()).patterns[pattern]!;
  return { time, net, host, metrics, engine, rid, request, of };
}

describe('ServerEngine feeds its metrics', () => {
  it('handler time from the REQUEST to the last reply; errors by the handler error code', async () => {
    const s = await server();
    const a = s.request(1, 'echo')!;
    s.time.advance(3);
    a.respond(42);
    const b = s.request(2, 'echo')!;
    b.fail({ status: 'error', code: 'E_X', message: 'x' });
    const c = s.request(3, 'echo')!;
    c.respond(new Observable(o => o.error(new Error('plain'))));
    const m = s.of('echo');
    expect([m.requests, m.ok, m.latency.count]).toEqual([3, 1, 3]);
    expect(m.latency.sum).toBeCloseTo(0.003, 9);
    expect(m.errors).toEqual({ E_X: 1, REMOTE_ERROR: 1 });
    expect(m.firstChunk).toBeUndefined();
  });

  it('a CANCEL and a session end are cancels, a passed deadline a timeout; NO_HANDLER is not a started handler', async () => {
    const s = await server();
    s.request(1, 'echo');
    s.request(2, 'echo', 50);
    s.net.channel.deliverFrom(s.rid, controlEnvelope(MessageType.Cancel, 1));
    s.time.advance(100);
    await new Promise(resolve => setImmediate(resolve)); // 100 ms later is another event-loop turn
    s.request(3, 'echo');
    s.request(4, 'missing');
    expect(s.metrics.snapshot(s.engine.stats()).inFlight).toBe(1);
    await s.engine.close();
    const m = s.of('echo');
    expect([m.requests, m.ok, m.cancels, m.timeouts, m.latency.count]).toEqual([3, 0, 2, 1, 0]);
    expect(s.metrics.snapshot(s.engine.stats()).patterns.missing).toBeUndefined();
  });

  it('an encoding failure is counted under its code', async () => {
    const s = await server();
    const a = s.request(1, 'echo')!;
    a.respond({ big: 'x'.repeat(MAX) });
    expect(s.of('echo').errors).toEqual({ TOO_LARGE: 1 });
  });
});

describe('the metrics and introspection options', () => {
  it('metrics default to true, introspection to off; both name themselves when given anything else', () => {
    expect(resolveClientConfig({ connect: 'tcp://127.0.0.1:1' }).metrics).toBe(true);
    expect(resolveClientConfig({ connect: 'tcp://127.0.0.1:1', metrics: false }).metrics).toBe(false);
    const server = resolveServerConfig({ bind: 'tcp://127.0.0.1:*' });
    expect([server.metrics, server.introspection]).toEqual([true, { kind: 'off' }]);
    expect(resolveServerConfig({ bind: 'tcp://127.0.0.1:*', introspection: true }).introspection).toEqual({
      kind: 'any',
    });
    expect(() => resolveServerConfig({ bind: 'tcp://127.0.0.1:*', introspection: { keys: [] } })).toThrow(
      expect.objectContaining({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'introspection' }),
    );
    expect(() => resolveClientConfig({ connect: 'tcp://127.0.0.1:1', metrics: 'yes' as never })).toThrow(
      expect.objectContaining({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'metrics' }),
    );
    expect(() => resolveServerConfig({ bind: 'tcp://127.0.0.1:*', introspection: 1 as never })).toThrow(
      expect.objectContaining({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'introspection' }),
    );
    // introspection is a server option only
    expect(() => resolveClientConfig({ connect: 'tcp://127.0.0.1:1', introspection: true } as never)).toThrow(
      expect.objectContaining({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'introspection' }),
    );
  });
});
