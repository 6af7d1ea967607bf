/**
 * Scale-out on the client, by hand: names resolved to every
 * address (a fake resolver), re-resolution on the manual clock, endpoints
 * added and removed at run time, DRAIN (§5.7) and the fresh channels that
 * reset the reconnect backoff. Plus the pure decisions behind them.
 */
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import type { ClientEngineConfig } from '../../lib/protocol/client/client-deps';
import {
  addressEndpoint,
  answerEndpoints,
  diffEndpoints,
  isAddressLiteral,
  targetOf,
} from '../../lib/protocol/client/endpoint-set';
import { fastWindowOver, nextAddresses, refreshOnResolve, resolveName } from '../../lib/protocol/client/resolution';
import { BYE, controlEnvelope, DRAIN } from '../../lib/protocol/envelopes';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { Flag, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { DRAIN_FEATURE } from '../../lib/protocol/handshake';
import { flush } from '../helpers/async';
import { clientEngine, welcome as serverWelcome } from '../helpers/client-engine';
import { FakeChannel } from '../helpers/fake-channel';

const MAX = 64 * 1024;
const RESOLVE = 1_000;
const NAME = 'tcp://math.svc:4000';
const at = (ip: string) => `tcp://${ip}:4000`;

/** A resolver whose answer the test sets; counts its calls. */
class FakeResolver {
  answer: string[] | Error = [];
  calls = 0;
  readonly resolve = (host: string): Promise<string[]> => {
    this.calls++;
    if (host !== 'math.svc') return Promise.reject(new Error(`unknown host ${host}`));
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve([...this.answer]);
  };
}

function setup(over: Partial<ClientEngineConfig> = {}) {
  const resolver = new FakeResolver();
  const s = clientEngine(
    { endpoints: [NAME], connectTimeout: 10_000, requestTimeout: 60_000, resolveInterval: RESOLVE, ...over },
    { resolve: resolver.resolve },
  );
  return { ...s, resolver };
}

type S = ReturnType<typeof setup>;

const welcome = (id: string, features: string[] = [DRAIN_FEATURE]): OutEnvelope =>
  serverWelcome(id, ['work'], { heartbeat: { interval: 60_000, liveness: 3 }, features });
const reply = (id: number, value: unknown) => dataEnvelope(MessageType.Chunk, id, value, MAX, Flag.End);

/** Resolves NAME to `ips`, connects, and welcomes every address's link (`srv-<ip>`). */
async function connected(ips: string[], over: Partial<ClientEngineConfig> = {}): Promise<S> {
  const s = setup(over);
  s.resolver.answer = ips;
  const connecting = s.engine.connect();
  await flush();
  for (const ip of ips) s.ch(at(ip)).deliver(welcome(`srv-${ip}`));
  await connecting;
  return s;
}

/** Sends a request; returns the channel it went to and its replies. */
function call(s: S) {
  const packets: ReplyPacket[] = [];
  const before = new Map(s.net.channels.map(c => [c, c.count(MessageType.Request)]));
  s.engine.request('work', 1, undefined, p => void packets.push(p));
  const ch = s.net.channels.find(c => c.count(MessageType.Request) > (before.get(c) ?? 0));
  return { packets, ch, id: ch?.of(MessageType.Request).at(-1)?.id ?? 0 };
}

/** Moves the clock in PONG-free steps (the servers' heartbeat is a minute; ours is 100 ms: answer PINGs). */
function advance(s: S, ms: number, live: FakeChannel[] = []): void {
  for (let t = 0; t < ms; t += 50) {
    s.time.advance(50);
    for (const ch of live) ch.deliver(controlEnvelope(MessageType.Pong));
  }
}

describe('endpoint-set and resolution (pure)', () => {
  it('tells names from addresses; only tcp://name:port is resolved', () => {
    expect(isAddressLiteral('10.1.2.3')).toBe(true);
    expect(isAddressLiteral('fd00::7')).toBe(true);
    expect(isAddressLiteral('300.1.2.3')).toBe(false);
    expect(isAddressLiteral('math.default.svc')).toBe(false);
    expect(targetOf('tcp://math:4000')).toEqual({
      kind: 'name',
      endpoint: 'tcp://math:4000',
      host: 'math',
      port: '4000',
    });
    for (const literal of [
      'tcp://127.0.0.1:4000',
      'tcp://[::1]:4000',
      'ipc:///tmp/x.sock',
      'inproc://svc',
      'tcp://*:1',
    ])
      expect(targetOf(literal)).toEqual({ kind: 'literal', endpoint: literal });
  });

  it('an answer becomes address endpoints (IPv6 bracketed), without duplicates or junk', () => {
    expect(addressEndpoint('fd00::7', '80')).toBe('tcp://[fd00::7]:80');
    expect(answerEndpoints(['10.0.0.1', '10.0.0.1', 'fd00::7', 'nope', 42], '80')).toEqual([
      'tcp://10.0.0.1:80',
      'tcp://[fd00::7]:80',
    ]);
  });

  it('diffs two answers into added, removed and kept', () => {
    expect(diffEndpoints(['a', 'b', 'c'], ['c', 'd', 'a'])).toEqual({ added: ['d'], removed: ['b'], kept: ['c', 'a'] });
  });

  it('a failed or empty answer keeps the previous addresses', () => {
    expect(nextAddresses(['a'], undefined)).toEqual(['a']);
    expect(nextAddresses(['a'], [])).toEqual(['a']);
    expect(nextAddresses(['a'], ['b'])).toEqual(['b']);
  });

  it('backoff decisions: refresh a kept link without connection; end a fast window', () => {
    expect(refreshOnResolve({ live: false, queued: 1, fastUntil: undefined })).toBe(true);
    expect(refreshOnResolve({ live: true, queued: 1, fastUntil: undefined })).toBe(false);
    expect(refreshOnResolve({ live: false, queued: 0, fastUntil: undefined })).toBe(false);
    expect(refreshOnResolve({ live: false, queued: 1, fastUntil: 10 })).toBe(false);
    expect(fastWindowOver({ live: false, queued: 1, fastUntil: 10 }, 9)).toBe(false);
    expect(fastWindowOver({ live: false, queued: 1, fastUntil: 10 }, 10)).toBe(true);
    expect(fastWindowOver({ live: false, queued: 1, fastUntil: undefined }, 99)).toBe(false);
  });

  it('resolveName never rejects: a throw, a rejection or a non-list is undefined and warned', async () => {
    const warnings: string[] = [];
    const observer = { warn: (m: string) => void warnings.push(m) };
    expect(await resolveName(() => Promise.resolve(['10.0.0.1']), 'h', '1', observer)).toEqual(['tcp://10.0.0.1:1']);
    expect(await resolveName(() => Promise.reject(new Error('NXDOMAIN')), 'h', '1', observer)).toBeUndefined();
    expect(
      await resolveName(
        () => {
          throw new Error('sync');
        },
        'h',
        '1',
        observer,
      ),
    ).toBeUndefined();
    expect(await resolveName(() => Promise.resolve('x' as unknown as string[]), 'h', '1', observer)).toBeUndefined();
    expect(warnings).toHaveLength(3);
  });
});

describe('ClientEngine: a name resolved to every address', () => {
  it('one link per address, each with its own instance slot; getEndpoints() shows them', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-10.0.0.1', 'srv-10.0.0.2']);
    expect(s.engine.endpoints.list()).toEqual([{ endpoint: NAME, addresses: [at('10.0.0.1'), at('10.0.0.2')] }]);
    const instances = [at('10.0.0.1'), at('10.0.0.2')].map(
      e => (s.ch(e).of(MessageType.Hello)[0]!.payload as { instance: string }).instance,
    );
    expect(new Set(instances).size).toBe(2);
    // Requests spread over both.
    const targets = new Set([call(s).ch, call(s).ch]);
    expect(targets.size).toBe(2);
  });

  it('re-resolves every resolveInterval: a new address joins, a vanished one closes once its call ended', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    const old = s.ch(at('10.0.0.2'));
    const inFlight = call(s);
    const onOld = inFlight.ch === old ? inFlight : call(s);
    expect(onOld.ch).toBe(old);
    s.resolver.answer = ['10.0.0.1', '10.0.0.3'];
    const calls = s.resolver.calls;
    advance(s, RESOLVE, [s.ch(at('10.0.0.1')), old]);
    await flush();
    expect(s.resolver.calls).toBe(calls + 1);
    s.ch(at('10.0.0.3')).deliver(welcome('srv-10.0.0.3'));
    expect(s.observer.joins.map(j => j.peerId)).toContain('srv-10.0.0.3');
    // The vanished address takes no new request, but its call goes on.
    for (let i = 0; i < 4; i++) expect(call(s).ch).not.toBe(old);
    expect(old.isClosed).toBe(false);
    old.deliver(reply(onOld.id, 'done'));
    expect(onOld.packets).toEqual([{ response: 'done', isDisposed: true }]);
    advance(s, 200, [s.ch(at('10.0.0.1')), s.ch(at('10.0.0.3'))]);
    expect(old.isClosed).toBe(true);
    expect(old.last().type).toBe(MessageType.Bye);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-10.0.0.2', reason: 'bye' })]);
    expect(s.engine.endpoints.list()[0]!.addresses).toEqual([at('10.0.0.1'), at('10.0.0.3')]);
  });

  it('a failed or empty answer keeps the links (and warns for the failure)', async () => {
    const s = await connected(['10.0.0.1']);
    const live = [s.ch(at('10.0.0.1'))];
    s.resolver.answer = new Error('SERVFAIL');
    advance(s, RESOLVE, live);
    await flush();
    s.resolver.answer = [];
    advance(s, RESOLVE, live);
    await flush();
    expect(s.engine.peers()).toHaveLength(1);
    expect(live[0]!.isClosed).toBe(false);
    expect(s.observer.warnings.some(w => w.includes('SERVFAIL'))).toBe(true);
  });

  it('resolves again at once when every server is gone', async () => {
    const s = await connected(['10.0.0.1']);
    const calls = s.resolver.calls;
    s.resolver.answer = ['10.0.0.9'];
    s.ch(at('10.0.0.1')).deliver(BYE);
    expect(s.resolver.calls).toBe(calls + 1);
    await flush();
    s.ch(at('10.0.0.9')).deliver(welcome('srv-new'));
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-new']);
  });

  it('a kept address whose HELLO still waits (no connection) gets a fresh channel at each resolution', async () => {
    const s = setup();
    s.resolver.answer = ['10.0.0.1'];
    void s.engine.connect().catch(() => undefined);
    await flush();
    const first = s.ch(at('10.0.0.1'));
    first.queued = 1; // the HELLO is still in our queue: libzmq has no connection
    advance(s, RESOLVE);
    await flush();
    const second = s.ch(at('10.0.0.1'));
    expect(second).not.toBe(first);
    expect(first.isClosed).toBe(true);
    expect(s.net.options.get(second)).toBeUndefined(); // the configured backoff, started afresh
    expect(second.of(MessageType.Hello)[0]!.payload).toEqual(first.of(MessageType.Hello)[0]!.payload);
    void s.engine.close();
  });
});

describe('ClientEngine: endpoints at run time', () => {
  it('addEndpoint opens at once when connected; removeEndpoint drains then closes; getEndpoints follows', async () => {
    const s = await connected(['10.0.0.1']);
    expect(s.engine.endpoints.add('tcp://10.9.9.9:5000')).toBe(true);
    expect(s.engine.endpoints.add('tcp://10.9.9.9:5000')).toBe(false);
    const extra = s.ch('tcp://10.9.9.9:5000');
    extra.deliver(welcome('srv-extra'));
    expect(s.engine.peers()).toHaveLength(2);
    const onName = s.ch(at('10.0.0.1'));
    let c = call(s);
    if (c.ch !== onName) c = call(s);
    expect(s.engine.endpoints.remove(NAME)).toBe(true);
    expect(s.engine.endpoints.remove(NAME)).toBe(false);
    expect(s.engine.endpoints.list()).toEqual([
      { endpoint: 'tcp://10.9.9.9:5000', addresses: ['tcp://10.9.9.9:5000'] },
    ]);
    for (let i = 0; i < 3; i++) expect(call(s).ch).toBe(extra);
    onName.deliver(reply(c.id, 'ok'));
    expect(c.packets).toEqual([{ response: 'ok', isDisposed: true }]);
    advance(s, 200, [extra, onName]);
    expect(onName.isClosed).toBe(true);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-extra']);
  });

  it('an endpoint added before connect() is opened by it', () => {
    const s = setup({ endpoints: ['tcp://10.0.0.5:1'] });
    s.engine.endpoints.add('inproc://other');
    void s.engine.connect().catch(() => undefined);
    expect(s.net.channels.map(c => c.endpoints[0])).toEqual(['tcp://10.0.0.5:1', 'inproc://other']);
    void s.engine.close();
  });
});

describe('ClientEngine: DRAIN (§5.7)', () => {
  it('§5.7 D7, D8, D9: a drained server gets no new request while another can take it; its calls finish; then BYE', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    const a = s.ch(at('10.0.0.1'));
    let c = call(s);
    if (c.ch !== a) c = call(s);
    a.deliver(DRAIN);
    // Answered at once: everything sent before has reached the server when it reads the answer.
    expect(a.last().type).toBe(MessageType.Drain);
    expect(s.observer.drainings.map(e => e.peerId)).toEqual(['srv-10.0.0.1']);
    for (let i = 0; i < 4; i++) expect(call(s).ch).not.toBe(a);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-10.0.0.2']);
    a.deliver(reply(c.id, 'finished'));
    expect(c.packets).toEqual([{ response: 'finished', isDisposed: true }]);
    a.deliver(BYE);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'srv-10.0.0.1', reason: 'bye' })]);
    // The link reconnects fast on a fresh channel (its server is expected back).
    const fresh = s.ch(at('10.0.0.1'));
    expect(fresh).not.toBe(a);
    expect(s.net.options.get(fresh)).toEqual({ fastReconnect: true });
  });

  it('§5.7 D8: with only draining servers left, requests still go to them rather than fail NO_PEER', async () => {
    const s = await connected(['10.0.0.1']);
    const a = s.ch(at('10.0.0.1'));
    a.deliver(DRAIN);
    expect(call(s).ch).toBe(a);
    expect(s.engine.isConnected).toBe(false); // no ready server
  });

  it('a server back after DRAIN+BYE joins again; a renewed WELCOME while draining followed by DRAIN stays draining', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    const a = s.ch(at('10.0.0.1'));
    a.deliver(DRAIN);
    a.deliver(welcome('srv-10.0.0.1'), DRAIN);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-10.0.0.2']);
    a.deliver(BYE);
    const fresh = s.ch(at('10.0.0.1'));
    fresh.deliver(welcome('srv-10.0.0.1-v2'));
    expect(
      s.engine
        .peers()
        .map(p => p.peerId)
        .sort(),
    ).toEqual(['srv-10.0.0.1-v2', 'srv-10.0.0.2']);
  });

  it('the fast window ends: a link still without its server goes back to the configured backoff', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    s.ch(at('10.0.0.1')).deliver(BYE);
    const fast = s.ch(at('10.0.0.1'));
    expect(s.net.options.get(fast)).toEqual({ fastReconnect: true });
    advance(s, 30_100, [s.ch(at('10.0.0.2'))]);
    const normal = s.ch(at('10.0.0.1'));
    expect(normal).not.toBe(fast);
    expect(fast.isClosed).toBe(true);
    expect(s.net.options.get(normal)).toBeUndefined();
  });

  it('HELLO offers drain; a server that does not take it is never drained by DRAIN-less BYE (plain BYE path)', async () => {
    const s = setup({ endpoints: ['tcp://10.0.0.1:4000'] });
    const connecting = s.engine.connect();
    const ch = s.ch('tcp://10.0.0.1:4000');
    expect((ch.of(MessageType.Hello)[0]!.payload as { features: string[] }).features).toContain(DRAIN_FEATURE);
    ch.deliver(welcome('old', []));
    await connecting;
    const c = call(s);
    ch.deliver(BYE);
    expect(c.packets).toEqual([
      { err: expect.objectContaining({ code: ZmqErrorCode.PEER_LOST, reason: 'bye' }), isDisposed: true },
    ]);
  });
});

describe('ClientEngine: instance slots', () => {
  it('literal endpoints keep the slot of their place in `connect`; the same endpoint twice gets two slots', () => {
    const s = setup({ endpoints: ['tcp://10.0.0.1:1', 'tcp://10.0.0.1:1', 'inproc://x'] });
    void s.engine.connect().catch(() => undefined);
    const instances = s.net.channels.map(c => (c.of(MessageType.Hello)[0]!.payload as { instance: string }).instance);
    expect(instances).toEqual(['inst/0', 'inst/1', 'inst/2']);
    void s.engine.close();
  });

  it('an address keeps its slot across close() and connect(), so the server hands the session over', async () => {
    const s = await connected(['10.0.0.1', '10.0.0.2']);
    const before = [at('10.0.0.1'), at('10.0.0.2')].map(e => s.ch(e).of(MessageType.Hello)[0]!.payload);
    void s.engine.close();
    void s.engine.connect().catch(() => undefined);
    await flush();
    const after = [at('10.0.0.1'), at('10.0.0.2')].map(e => s.ch(e).of(MessageType.Hello)[0]!.payload);
    expect(after).toEqual(before);
    void s.engine.close();
  });
});
