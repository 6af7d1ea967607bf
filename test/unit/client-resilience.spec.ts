/**
 * The client's resilience decided over fake channels and a manual clock:
 * retries of idempotent calls, the retry budget, outlier ejection and
 * adaptive throttling.
 */
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import type { ClientEngineConfig } from '../../lib/protocol/client/client-deps';
import { BASE_EJECTION_MS, EJECT_AFTER } from '../../lib/protocol/client/link-health';
import { RETRY_BURST, RetryBudget } from '../../lib/protocol/client/retries';
import { A, B, clientEngine, MAX_PAYLOAD } from '../helpers/client-engine';
import { BYE, dataEnvelope, errorEnvelope } from '../../lib/protocol/envelopes';
import { Flag, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, refusalEnvelope } from '../../lib/protocol/handshake';

const MAX = MAX_PAYLOAD;

function welcome(id: string, idempotent: string[]): OutEnvelope {
  return handshakeEnvelope(MessageType.Welcome, {
    version: 1,
    id,
    metadata: {},
    heartbeat: { interval: 1_000, liveness: 3 },
    patterns: ['get', 'create'],
    events: [],
    ...(idempotent.length > 0 ? { idempotent } : {}),
  });
}

async function connected(over: Partial<ClientEngineConfig> = {}, idempotent = ['get'], random = () => 0.5) {
  const { time, net, observer, engine } = clientEngine(
    {
      endpoints: [A, B],
      id: 'c',
      heartbeat: { interval: 60_000, liveness: 3 },
      retries: { maxAttempts: 3, budget: 0.1 },
      ...over,
    },
    { random },
  );
  const connecting = engine.connect();
  net.channel(A).deliver(welcome('srv-a', idempotent));
  if (engine.links.length > 1) net.channel(B).deliver(welcome('srv-b', idempotent));
  await connecting;
  const call = (pattern: string, data: unknown = 1) => {
    const packets: ReplyPacket[] = [];
    const cancel = engine.request(pattern, data, undefined, p => void packets.push(p));
    return { packets, cancel };
  };
  const requests = (endpoint: string) => net.channel(endpoint).of(MessageType.Request);
  return { time, net, observer, engine, call, requests };
}

const reply = (id: number, value: unknown) => dataEnvelope(MessageType.Chunk, id, value, MAX, Flag.End);
const overloaded = (id: number) =>
  errorEnvelope(id, { status: 'error', code: ZmqErrorCode.OVERLOADED, message: 'shed' });

describe('client resilience: retries of idempotent calls', () => {
  it('[C-15] a call whose server is lost goes to another server that declared it idempotent; the caller sees only the answer', async () => {
    const s = await connected();
    const c = s.call('get', { id: 7 });
    expect(s.requests(A)).toHaveLength(1);
    s.net.channel(A).deliver(BYE); // the server left before answering
    expect(c.packets).toEqual([]);
    const retried = s.requests(B);
    expect(retried).toHaveLength(1);
    expect(retried[0]!.payload).toEqual({ id: 7 });
    s.net.channel(B).deliver(reply(retried[0]!.id, 'user 7'));
    expect(c.packets).toEqual([{ response: 'user 7', isDisposed: true }]);
    expect(s.engine.resilienceStats().retries).toBe(1);
  });

  it('retries: false (or maxAttempts 1) never sends a call twice', async () => {
    const s = await connected({ retries: undefined });
    const c = s.call('get');
    s.net.channel(A).deliver(BYE);
    expect(s.requests(B)).toHaveLength(0);
    expect((c.packets[0]!.err as { code: string }).code).toBe(ZmqErrorCode.PEER_LOST);
  });

  it('[C-15] never sends a call of a pattern not declared idempotent twice', async () => {
    const s = await connected();
    const c = s.call('create');
    s.net.channel(A).deliver(BYE);
    expect(s.requests(B)).toHaveLength(0);
    expect((c.packets[0]!.err as { code: string }).code).toBe(ZmqErrorCode.PEER_LOST);
  });

  it('[C-15] never retries once a value of the reply arrived', async () => {
    const s = await connected();
    const c = s.call('get');
    const id = s.requests(A)[0]!.id;
    s.net.channel(A).deliver(dataEnvelope(MessageType.Chunk, id, 'first', MAX, 0));
    s.net.channel(A).deliver(BYE);
    expect(s.requests(B)).toHaveLength(0);
    expect(c.packets.at(-1)!.err).toMatchObject({ code: ZmqErrorCode.PEER_LOST });
  });

  it('[C-15] a call a server shed (OVERLOADED) goes to another server; the one shedding is not asked again', async () => {
    const s = await connected();
    const c = s.call('get');
    s.net.channel(A).deliver(overloaded(s.requests(A)[0]!.id));
    expect(s.requests(B)).toHaveLength(1);
    s.net.channel(B).deliver(reply(s.requests(B)[0]!.id, 'ok'));
    expect(c.packets).toEqual([{ response: 'ok', isDisposed: true }]);
  });

  it('the caller unsubscribing cancels the attempt in flight, on its server', async () => {
    const s = await connected();
    const c = s.call('get');
    s.net.channel(A).deliver(BYE);
    const retried = s.requests(B)[0]!;
    c.cancel();
    const cancels = s.net.channel(B).of(MessageType.Cancel);
    expect(cancels.map(e => e.id)).toEqual([retried.id]);
  });

  it('[C-16] the retry budget stops retries when most calls fail', async () => {
    const s = await connected({ endpoints: [A, B] });
    const budget = new RetryBudget({ ratio: 0.1, max: RETRY_BURST });
    for (let i = 0; i < 10; i++) expect(budget.withdraw()).toBe(true);
    expect(budget.withdraw()).toBe(false);
    for (let i = 0; i < 10; i++) budget.deposit();
    expect(budget.withdraw()).toBe(true);
    expect([budget.retries, budget.denied]).toEqual([11, 1]);
    // The engine's own budget: every call shed by both servers, a retry at most once per call and per budget.
    let failed = 0;
    for (let i = 0; i < 40; i++) {
      const c = s.call('get');
      for (const endpoint of [A, B]) {
        const last = s.requests(endpoint).at(-1);
        if (last !== undefined) s.net.channel(endpoint).deliver(overloaded(last.id));
      }
      if (c.packets.length > 0) failed++;
    }
    const stats = s.engine.resilienceStats();
    expect(stats.retries).toBeLessThanOrEqual(10 + 4);
    expect(failed).toBeGreaterThan(0);
  });
});

describe('client resilience: outliers and throttling', () => {
  it('a server whose calls time out in a row is ejected, gets no new calls, then is probed back in', async () => {
    const s = await connected({ strategy: 'least-pending' }, []);
    // A never answers; B answers everything.
    for (let i = 0; i < 40 && s.observer.healthChanges.length === 0; i++) {
      s.call('create');
      const b = s.requests(B).at(-1);
      if (b !== undefined) s.net.channel(B).deliver(reply(b.id, 'ok'));
      s.time.advance(1_000); // past the request timeout of anything A holds, in steps
    }
    expect(s.observer.healthChanges).toEqual([['srv-a', 'ejected']]);
    expect(s.engine.peers().find(p => p.peerId === 'srv-a')!.ejected).toBe(true);
    const before = s.requests(A).length;
    for (let i = 0; i < 5; i++) s.call('create');
    expect(s.requests(A).length).toBe(before);
    s.time.advance(BASE_EJECTION_MS);
    s.call('create');
    expect(s.observer.healthChanges.at(-1)).toEqual(['srv-a', 'restored']);
    expect(s.engine.resilienceStats().ejections).toBe(1);
    expect(EJECT_AFTER).toBeGreaterThan(1);
  });

  it('refuses calls locally (OVERLOADED) in proportion to what its only server sheds', async () => {
    const s = await connected({ endpoints: [A] }, [], () => 0.1);
    let local = 0;
    for (let i = 0; i < 100; i++) {
      const before = s.requests(A).length;
      const c = s.call('create');
      if (s.requests(A).length === before) {
        expect(c.packets[0]!.err).toMatchObject({ code: ZmqErrorCode.OVERLOADED, by: 'client' });
        local++;
        continue;
      }
      s.net.channel(A).deliver(overloaded(s.requests(A).at(-1)!.id));
    }
    expect(local).toBeGreaterThan(50);
    expect(s.engine.resilienceStats().throttled).toBe(local);
  });
});

describe('client resilience: a refused link tries again', () => {
  it('[C-17] says HELLO again after a refusal, with a backoff that doubles, and joins once welcomed', async () => {
    const { time, net, engine } = clientEngine(
      {
        endpoints: [A, B],
        id: 'c',
        heartbeat: { interval: 100, liveness: 1_000 }, // B stays up while the test moves the clock
        strategy: 'least-pending',
      },
      { random: () => 0.5 }, // no jitter
    );
    const connecting = engine.connect();
    net.channel(B).deliver(welcome('srv-b', []));
    await connecting;
    const hellos = () => net.channel(A).count(MessageType.Hello);
    const refuse = () => net.channel(A).deliver(refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, 'id taken'));
    refuse();
    expect(engine.links.find(l => l.endpoint === A)!.state.kind).toBe('refused');
    const first = hellos();
    time.advance(900);
    expect(hellos()).toBe(first);
    time.advance(200);
    expect(hellos()).toBeGreaterThan(first); // after 1 s
    refuse();
    const second = hellos();
    time.advance(1_900);
    expect(hellos()).toBe(second);
    time.advance(200);
    expect(hellos()).toBeGreaterThan(second); // after 2 s
    net.channel(A).deliver(welcome('srv-a', []));
    expect(
      engine
        .peers()
        .map(p => p.peerId)
        .sort(),
    ).toEqual(['srv-a', 'srv-b']);
  });

  it('[C-17] never tries again after a version mismatch', async () => {
    const s = await connected();
    const a = s.engine.links.find(l => l.endpoint === A)!;
    const before = s.net.channel(A).count(MessageType.Hello);
    s.net.channel(A).deliver(refusalEnvelope(ZmqErrorCode.VERSION_MISMATCH, 'v2'));
    expect(a.state).toMatchObject({ kind: 'refused', retryAt: undefined });
    s.time.advance(120_000);
    expect(s.net.channel(A).count(MessageType.Hello)).toBe(before);
  });
});
