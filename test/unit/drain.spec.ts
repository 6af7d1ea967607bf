/**
 * Graceful drain (docs/PROTOCOL.md §5.7), server side, over a fake channel and
 * the manual clock: DRAIN first, the calls in progress finish, then BYE.
 */
import { dataEnvelope, DRAIN } from '../../lib/protocol/envelopes';
import {
  decodeEnvelope,
  EMPTY,
  encodeHeader,
  encodePattern,
  MalformedError,
  MessageType,
  Metadata,
  OutEnvelope,
} from '../../lib/protocol/frames';
import { BYE_ACK_FEATURE, DRAIN_FEATURE, handshakeEnvelope } from '../../lib/protocol/handshake';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerEngineConfig, ServerHost } from '../../lib/protocol/server/server-deps';
import { flush } from '../helpers/async';
import { listeningEngine, serverConfig } from '../helpers/server-engine';

const MAX = 1024;
const R1 = Buffer.from([0, 1, 1, 1, 1]);
const R2 = Buffer.from([0, 2, 2, 2, 2]);
const DRAIN_TIMEOUT = 5_000;

class Host implements ServerHost<string> {
  readonly calls: ServerCall[] = [];
  requestHandler(pattern: string): string | null {
    return pattern === 'work' ? 'work' : null;
  }
  served(): { patterns: string[]; events: string[] } {
    return { patterns: ['work'], events: [] };
  }
  runRequest(call: ServerCall, _h: string, _d: unknown, _m: Metadata | undefined): void {
    this.calls.push(call);
  }
  runEvent(): void {}
}

async function listening(over: Partial<ServerEngineConfig> = {}) {
  const host = new Host();
  const config = serverConfig(MAX, { interval: 100, liveness: 3 }, { drainTimeout: DRAIN_TIMEOUT, ...over });
  const { time, observer, engine, ch } = await listeningEngine(host, config);
  return { time, host, observer, engine, ch };
}

type S = Awaited<ReturnType<typeof listening>>;

const hello = (id: string, features: string[]): OutEnvelope =>
  handshakeEnvelope(MessageType.Hello, {
    version: 1,
    id,
    instance: `${id}-i`,
    metadata: {},
    heartbeat: { interval: 1_000, liveness: 3 },
    features,
  });
const request = (id: number) => dataEnvelope(MessageType.Request, id, null, MAX, 0, encodePattern('work'));

function join(s: S, rid: Buffer, id: string, features = [DRAIN_FEATURE, BYE_ACK_FEATURE]): void {
  s.ch.deliverFrom(rid, hello(id, features));
  expect(s.ch.to(rid).at(-1)?.type).toBe(MessageType.Welcome);
}

const typesTo = (s: S, rid: Buffer) => s.ch.to(rid).map(e => e.type);

describe('Drain, server side (§5.7)', () => {
  it('[S-19] §5.7 D1: the WELCOME accepts `drain` only when the HELLO offers it', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    join(s, R2, 'c2', []);
    expect((s.ch.to(R1).at(-1)!.payload as { features: string[] }).features).toContain(DRAIN_FEATURE);
    expect((s.ch.to(R2).at(-1)!.payload as { features?: string[] }).features ?? []).not.toContain(DRAIN_FEATURE);
  });

  it('[S-19] §5.7 D2, D3: close() tells DRAIN first, serves until the answer came and the calls in progress finished, then says BYE', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, request(7));
    const closed = s.engine.close();
    expect(s.engine.state.kind).toBe('draining');
    expect(typesTo(s, R1).at(-1)).toBe(MessageType.Drain);
    s.host.calls[0]!.respond('seven');
    await flush();
    // No call in progress, but the client has not answered: a request of its may still be on the way.
    expect(s.engine.state.kind).toBe('draining');
    s.ch.deliverFrom(R1, request(8));
    s.ch.deliverFrom(R1, DRAIN);
    expect(s.host.calls.map(c => c.id)).toEqual([7, 8]);
    await flush();
    expect(s.engine.state.kind).toBe('draining');
    s.host.calls[1]!.respond('eight');
    await flush();
    expect(typesTo(s, R1).slice(-3)).toEqual([MessageType.Chunk, MessageType.Chunk, MessageType.Bye]);
    expect(s.observer.lefts).toEqual([expect.objectContaining({ peerId: 'c1', reason: 'bye' })]);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Bye, 0, undefined, MAX));
    await closed;
    expect(s.engine.state.kind).toBe('idle');
  });

  it('[S-20] §5.7 D3: at drainTimeout the calls still in progress are cancelled and BYE goes out', async () => {
    // Heartbeats far apart: the silent client is not timed out meanwhile.
    const s = await listening({ heartbeat: { interval: 60_000, liveness: 3 } });
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, request(7));
    const closed = s.engine.close();
    s.time.advance(DRAIN_TIMEOUT - 1);
    await flush();
    expect(s.engine.state.kind).toBe('draining');
    s.time.advance(1);
    await flush();
    expect(s.host.calls[0]!.isDone).toBe(true);
    expect(typesTo(s, R1).at(-1)).toBe(MessageType.Bye);
    s.time.advance(2_000); // the bye-ack wait
    await closed;
    expect(s.engine.state.kind).toBe('idle');
  });

  it('[S-20] §5.7 D4: a client without `drain` gets no DRAIN, only the BYE, after its calls ended too', async () => {
    const s = await listening();
    join(s, R2, 'old', []);
    s.ch.deliverFrom(R2, request(3));
    const closed = s.engine.close();
    expect(typesTo(s, R2)).not.toContain(MessageType.Drain);
    expect(s.engine.state.kind).toBe('draining');
    s.host.calls[0]!.respond(3);
    await flush();
    expect(typesTo(s, R2).slice(-2)).toEqual([MessageType.Chunk, MessageType.Bye]);
    await closed;
  });

  it('§5.7 D5: a client that says HELLO while the server drains is welcomed and told DRAIN at once', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, request(1));
    const closed = s.engine.close();
    s.ch.deliverFrom(R2, hello('late', [DRAIN_FEATURE]));
    expect(typesTo(s, R2)).toEqual([MessageType.Welcome, MessageType.Drain]);
    s.ch.deliverFrom(R1, DRAIN);
    s.host.calls[0]!.respond(1);
    await flush();
    // The late client's answer is awaited too.
    expect(s.engine.state.kind).toBe('draining');
    s.ch.deliverFrom(R2, DRAIN);
    await flush();
    expect(s.engine.state.kind).toBe('closing');
    s.time.advance(2_000);
    await closed;
  });

  it('with no call in progress, or drainTimeout 0, BYE follows at once', async () => {
    const idle = await listening();
    join(idle, R1, 'c1');
    const closed = idle.engine.close();
    idle.ch.deliverFrom(R1, DRAIN);
    await flush();
    expect(typesTo(idle, R1).slice(-2)).toEqual([MessageType.Drain, MessageType.Bye]);
    idle.time.advance(2_000);
    await closed;
    const zero = await listening({ drainTimeout: 0 });
    join(zero, R1, 'c1');
    zero.ch.deliverFrom(R1, request(5));
    const closedZero = zero.engine.close();
    await flush();
    expect(typesTo(zero, R1).slice(-2)).toEqual([MessageType.Drain, MessageType.Bye]);
    expect(zero.host.calls[0]!.isDone).toBe(true);
    zero.time.advance(2_000);
    await closedZero;
  });

  it('§5.7 D3: a client that leaves while the server drains is not waited for', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    join(s, R2, 'c2');
    const closed = s.engine.close();
    s.ch.deliverFrom(R1, DRAIN);
    await flush();
    expect(s.engine.state.kind).toBe('draining');
    s.ch.deliverFrom(R2, dataEnvelope(MessageType.Bye, 0, undefined, MAX));
    await flush();
    expect(s.engine.state.kind).toBe('closing');
    s.time.advance(2_000);
    await closed;
  });

  it('§5.7 D6: a DRAIN from a client while the server is not draining is counted as unexpected', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, DRAIN);
    expect(s.observer.drops.map(d => d.reason)).toEqual(['unexpected']);
    expect(s.engine.state.kind).toBe('listening');
  });

  it('a second close() waits for the first', async () => {
    const s = await listening();
    join(s, R1, 'c1');
    s.ch.deliverFrom(R1, request(1));
    const first = s.engine.close();
    s.ch.deliverFrom(R1, DRAIN);
    let secondDone = false;
    const second = s.engine.close().then(() => (secondDone = true));
    await flush();
    expect(secondDone).toBe(false);
    s.host.calls[0]!.respond(1);
    s.time.advance(2_000);
    await Promise.all([first, second]);
    expect(secondDone).toBe(true);
  });
});

describe('the DRAIN envelope (§3)', () => {
  const header = (type: number, id: number, encoding: number) => {
    const h = Buffer.alloc(10);
    h[0] = 1;
    h[1] = type;
    h[3] = encoding;
    h.writeUInt32BE(id, 4);
    return h;
  };
  const reasonOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return (err as MalformedError).reason;
    }
  };

  it('is type 13, id 0, payload NONE; an id or a payload is malformed (header), 16 and above unknown (type)', () => {
    expect(encodeHeader(DRAIN)).toEqual(header(13, 0, 0));
    expect(decodeEnvelope(header(13, 0, 0), EMPTY, MAX)).toMatchObject({ type: MessageType.Drain, id: 0 });
    expect(reasonOf(() => decodeEnvelope(header(13, 5, 0), EMPTY, MAX))).toBe('header');
    expect(reasonOf(() => decodeEnvelope(header(13, 0, 1), Buffer.from('1'), MAX))).toBe('header');
    expect(reasonOf(() => decodeEnvelope(header(16, 0, 0), EMPTY, MAX))).toBe('type');
    expect(reasonOf(() => decodeEnvelope(header(12, 0, 0), EMPTY, MAX))).toBe('type');
  });
});
