/**
 * Credit in both session engines (PROTOCOL.md §4.5, §5.8), over fake
 * channels and the manual clock: negotiation, the CREDIT a client grants per
 * half window, a server stream that waits for credit, the 1.0 fallback, and
 * the rules on a CREDIT envelope (CR-1 … CR-6 in the spec).
 */
import { Subject } from 'rxjs';
import { creditEnvelope } from '../../lib/protocol/credit';
import { controlEnvelope, dataEnvelope } from '../../lib/protocol/envelopes';
import { Encoding, encodePattern, Flag, Metadata, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, Hello, Welcome } from '../../lib/protocol/handshake';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerEngineConfig, ServerHost } from '../../lib/protocol/server/server-deps';
import { A, connectedOne } from '../helpers/client-engine';
import { listeningEngine, serverConfig } from '../helpers/server-engine';

const MAX = 64 * 1024;
const HB = { interval: 1_000, liveness: 3 };
const R1 = Buffer.from([0, 1, 1, 1, 1]);

class Host implements ServerHost<string> {
  readonly calls: ServerCall[] = [];
  requestHandler(pattern: string): string | null {
    return pattern;
  }
  served() {
    return { patterns: ['stream'], events: [] };
  }
  runRequest(call: ServerCall, _h: string, _data: unknown, _m: Metadata | undefined): void {
    this.calls.push(call);
  }
  runEvent(): void {}
}

/** Yields the test runs by hand. */
class Turns {
  readonly queue: Array<() => void> = [];
  readonly yieldTo = (fn: () => void) => void this.queue.push(fn);
  run(): void {
    for (let i = 0; i < 1_000 && this.queue.length > 0; i++) this.queue.shift()!();
  }
}

async function server(over: Partial<ServerEngineConfig> = {}) {
  const host = new Host();
  const turns = new Turns();
  const config = serverConfig(MAX, HB, {
    stream: { window: 32, bufferLimit: 1_000 },
    socket: { queueLimit: 50 },
    ...over,
  });
  const { engine, observer, ch } = await listeningEngine(host, config, { yieldTo: turns.yieldTo });
  return { engine, host, observer, turns, ch };
}

function hello(o: { features?: string[]; window?: number } = {}): OutEnvelope {
  const h: Hello = {
    version: 1,
    id: 'c1',
    metadata: {},
    heartbeat: HB,
    ...(o.features !== undefined ? { features: o.features } : {}),
    ...(o.window !== undefined ? { window: o.window } : {}),
  };
  return handshakeEnvelope(MessageType.Hello, h);
}

const req = (id: number) => dataEnvelope(MessageType.Request, id, null, MAX, 0, encodePattern('stream'));
const welcomeOf = (s: { ch: { of(t: MessageType): Array<{ payload: unknown }> } }) =>
  s.ch.of(MessageType.Welcome).at(-1)!.payload as Welcome;
const chunksOf = (s: Awaited<ReturnType<typeof server>>, id: number) =>
  s.ch.of(MessageType.Chunk).filter(e => e.id === id);
const tick = () => new Promise<void>(resolve => setImmediate(resolve));

describe('server: negotiation', () => {
  it('takes credit from a HELLO that offers it with a window, and announces its own window (CR-1)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, hello({ features: ['credit'], window: 4 }));
    expect(welcomeOf(s)).toMatchObject({ features: expect.arrayContaining(['credit']), window: 32 });
  });

  it('does not take credit without a window, nor from a 1.0 HELLO; nor when its own streamWindow is 0', async () => {
    const a = await server();
    a.ch.deliverFrom(R1, hello({ features: ['credit'] }));
    expect(welcomeOf(a).features ?? []).not.toContain('credit');
    expect(welcomeOf(a).window).toBeUndefined();
    const b = await server();
    b.ch.deliverFrom(R1, hello());
    expect(welcomeOf(b).features).toBeUndefined();
    const c = await server({ stream: { window: undefined, bufferLimit: 1_000 } });
    c.ch.deliverFrom(R1, hello({ features: ['credit'], window: 4 }));
    expect(welcomeOf(c).features ?? []).not.toContain('credit');
  });
});

describe('server: a reply stream under credit', () => {
  async function streaming(window = 4) {
    const s = await server();
    s.ch.deliverFrom(R1, hello({ features: ['credit'], window }));
    s.ch.deliverFrom(R1, req(1));
    const subject = new Subject<number>();
    let tornDown = 0;
    s.host.calls[0]!.respond(
      new (await import('rxjs')).Observable<number>(sub => {
        const inner = subject.subscribe(sub);
        return () => {
          tornDown++;
          inner.unsubscribe();
        };
      }),
    );
    return { ...s, subject, tornDown: () => tornDown };
  }

  it('sends at most the window before a CREDIT, then as much as each CREDIT grants (CR-2)', async () => {
    const s = await streaming(4);
    for (let i = 0; i < 10; i++) s.subject.next(i);
    await tick();
    expect(chunksOf(s, 1).map(e => e.payload)).toEqual([0, 1, 2, 3]);
    s.ch.deliverFrom(R1, creditEnvelope(1, 3));
    expect(chunksOf(s, 1).map(e => e.payload)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    s.subject.complete();
    expect(s.ch.count(MessageType.End)).toBe(0);
    s.ch.deliverFrom(R1, creditEnvelope(1, 10));
    expect(chunksOf(s, 1).map(e => e.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(chunksOf(s, 1).at(-1)!.flags & Flag.End).toBe(Flag.End);
    expect(s.engine.stats().inFlight).toBe(0);
  });

  it('[W-22] past streamBufferLimit: ERROR STREAM_OVERFLOW, the producer unsubscribed, the session goes on (CR-3)', async () => {
    const s = await streaming(2);
    for (let i = 0; i < 400; i++) s.subject.next(1000 + i); // 4 bytes each: 1,000 bytes hold 250
    const errors = s.ch.of(MessageType.Error);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.payload).toMatchObject({ code: 'STREAM_OVERFLOW' });
    expect(s.tornDown()).toBe(1);
    expect(s.engine.stats().inFlight).toBe(0);
    s.ch.deliverFrom(R1, creditEnvelope(1, 10)); // late: ignored
    expect(chunksOf(s, 1)).toHaveLength(0);
    s.ch.deliverFrom(R1, req(2));
    s.host.calls[1]!.respond('ok');
    expect(s.ch.of(MessageType.Chunk).at(-1)).toMatchObject({ id: 2, payload: 'ok' });
  });

  it('a CANCEL while values wait for credit drops them and sends nothing more (CR-4)', async () => {
    const s = await streaming(1);
    for (let i = 0; i < 5; i++) s.subject.next(i);
    await tick();
    s.ch.deliverFrom(R1, controlEnvelope(MessageType.Cancel, 1));
    s.ch.deliverFrom(R1, creditEnvelope(1, 10));
    expect(chunksOf(s, 1)).toHaveLength(1);
    expect(s.tornDown()).toBe(1);
  });

  it('a CREDIT for no call in progress is counted as lateReply; a malformed one is dropped (CR-5)', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, hello({ features: ['credit'], window: 4 }));
    s.ch.deliverFrom(R1, creditEnvelope(99, 1));
    const zero = { ...creditEnvelope(5, 1), payload: Buffer.alloc(4) };
    const short = { ...creditEnvelope(5, 1), payload: Buffer.alloc(2) };
    const json = { ...creditEnvelope(5, 1), encoding: Encoding.Json, payload: '1' };
    s.ch.deliverFrom(R1, zero);
    s.ch.deliverFrom(R1, short);
    s.ch.deliverFrom(R1, json);
    expect(s.observer.dropCounts()).toEqual({ lateReply: 1, payload: 2, header: 1 });
  });

  it('a CHUNK the client did not read within sendTimeout ends its call with ERROR SEND_TIMEOUT, never a gap', async () => {
    const s = await streaming(100);
    s.subject.next(1);
    s.subject.next(2);
    await tick();
    const lost = chunksOf(s, 1)[0]!.env;
    s.ch.handlers.sendFailed('failed', [lost], R1);
    expect(s.ch.of(MessageType.Error).at(-1)).toMatchObject({ id: 1, payload: { code: 'SEND_TIMEOUT' } });
    expect(s.tornDown()).toBe(1);
    expect(s.engine.stats().inFlight).toBe(0);
    expect(s.observer.dropped('sendFailed')).toBe(1);
  });

  it('type 12 (an unpacked BATCH) and 16 stay unknown types', async () => {
    const s = await server();
    s.ch.deliverFrom(R1, hello({ features: ['credit'], window: 4 }));
    s.ch.deliverFrom(R1, { ...controlEnvelope(MessageType.Ping), type: 16 as MessageType });
    s.ch.deliverFrom(R1, { ...controlEnvelope(MessageType.Ping), type: 12 as MessageType });
    expect(s.observer.dropCounts()).toEqual({ type: 2 });
  });

  it('without credit (a 1.0 client) a burst goes in slices, a turn between them, all of it', async () => {
    const s = await server({ socket: { queueLimit: 100_000 }, stream: { window: 32, bufferLimit: 1 << 20 } });
    s.ch.deliverFrom(R1, hello());
    s.ch.deliverFrom(R1, req(1));
    const subject = new Subject<number>();
    s.host.calls[0]!.respond(subject);
    for (let i = 0; i < 2_000; i++) subject.next(i);
    subject.complete();
    expect(chunksOf(s, 1).length).toBeLessThan(2_000);
    s.turns.run();
    expect(chunksOf(s, 1).map(e => e.payload)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
  });
});

describe('client: grants', () => {
  async function client(streamWindow: number | undefined, welcomeCredit: boolean) {
    const { engine, ch } = await connectedOne(
      { id: 'c1', instance: 'i', heartbeat: HB, stream: { window: streamWindow, bufferLimit: 1_000 } },
      ['stream'],
      { id: 'srv', heartbeat: HB, ...(welcomeCredit ? { features: ['credit'], window: 8 } : {}) },
    );
    return { engine, ch: ch(A) };
  }

  it('offers credit and its window in the HELLO; none with streamWindow 0', async () => {
    const a = await client(6, true);
    expect(a.ch.of(MessageType.Hello)[0]!.payload).toMatchObject({
      features: expect.arrayContaining(['credit']),
      window: 6,
    });
    const b = await client(undefined, false);
    const h = b.ch.of(MessageType.Hello)[0]!.payload as Hello;
    expect(h.features).not.toContain('credit');
    expect(h.window).toBeUndefined();
  });

  it('grants per half window as the subscriber takes values (CR-6)', async () => {
    const c = await client(6, true);
    const got: unknown[] = [];
    c.engine.request('stream', 1, undefined, p => void got.push(p.response));
    const id = c.ch.of(MessageType.Request)[0]!.id;
    for (let i = 0; i < 7; i++) c.ch.deliver(dataEnvelope(MessageType.Chunk, id, i, MAX));
    expect(got).toHaveLength(7);
    const grants = c.ch.of(MessageType.Credit).map(e => (e.payload as Buffer).readUInt32BE(0));
    expect(grants).toEqual([3, 3]);
    c.ch.deliver(controlEnvelope(MessageType.End, id));
    c.ch.deliver(dataEnvelope(MessageType.Chunk, id, 9, MAX));
    expect(c.ch.count(MessageType.Credit)).toBe(2);
  });

  it('grants nothing when the server did not take credit', async () => {
    const c = await client(6, false);
    c.engine.request('stream', 1, undefined, () => {});
    const id = c.ch.of(MessageType.Request)[0]!.id;
    for (let i = 0; i < 10; i++) c.ch.deliver(dataEnvelope(MessageType.Chunk, id, i, MAX));
    expect(c.ch.count(MessageType.Credit)).toBe(0);
  });
});
