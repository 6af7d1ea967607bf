/**
 * The HELLO key proof (docs/PROTOCOL.md §12.1, §12.2): a CURVE server maps a
 * session to the key its HELLO proves, the proof is bound to its connection
 * by a single-use nonce, and an authenticated client can never speak as
 * another key. Engine-level with the fake channel and the manual clock.
 */
import { generateCurveKeyPair, ZmqErrorCode } from 'nestjs-zeromq';
import { resolveServerCurve } from '../../lib/config/security-config';
import type { ZmqOptionsError } from '../../lib/errors/zmq.errors';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { encodePattern, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, Hello } from '../../lib/protocol/handshake';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { ServerEngine } from '../../lib/protocol/server/server-engine';
import { KeyAuthority } from '../../lib/security/allow';
import { helloAuthorizer } from '../../lib/security/hello-auth';
import { BOUND_KEY_FEATURE, CURVE_KEY_FEATURE, helloProof, HelloProofVerifier } from '../../lib/security/hello-proof';
import { HelloNonces, HELLO_NONCE_BYTES } from '../../lib/security/hello-nonces';
import { HELLO_NONCE_TTL_MS } from '../../lib/protocol/tuning';
import { FakeBinder, RecordingObserver } from '../helpers/fake-channel';
import { ManualTime } from '../helpers/manual-time';

const server = generateCurveKeyPair();
const alice = generateCurveKeyPair();
const bob = generateCurveKeyPair();
const R1 = Buffer.from([0, 1, 1, 1, 1]);
const R2 = Buffer.from([0, 2, 2, 2, 2]);
const R3 = Buffer.from([0, 3, 3, 3, 3]);

describe('HelloProofVerifier', () => {
  const verifier = new HelloProofVerifier(server);

  test("a client's proof verifies, for its id and instance", () => {
    const curve = helloProof(alice, server.publicKey, 'gw', 'i/0');
    expect(verifier.verify(curve, 'gw', 'i/0')).toEqual({ publicKey: alice.publicKey });
  });

  test('[S-29] a proof claiming another key, a proof for another server, id or instance, and none at all fail', () => {
    const mine = helloProof(bob, server.publicKey, 'gw', 'i/0');
    expect(verifier.verify({ key: alice.publicKey, proof: mine.proof }, 'gw', 'i/0')).toMatch(/does not match/);
    const elsewhere = helloProof(alice, generateCurveKeyPair().publicKey, 'gw', 'i/0');
    expect(verifier.verify(elsewhere, 'gw', 'i/0')).toMatch(/does not match/);
    const proof = helloProof(alice, server.publicKey, 'gw', 'i/0');
    expect(verifier.verify(proof, 'other', 'i/0')).toMatch(/does not match/);
    expect(verifier.verify(proof, 'gw', 'i/1')).toMatch(/does not match/);
    expect(verifier.verify({ key: 'x', proof: proof.proof }, 'gw', 'i/0')).toMatch(/not a CURVE key/);
    expect(verifier.verify(undefined, 'gw', 'i/0')).toMatch(/no key proof/);
  });
});

class Host implements ServerHost<string> {
  readonly runs: Array<{ pattern: string; publicKey: string | undefined }> = [];
  requestHandler(pattern: string): string | null {
    return pattern === 'echo' ? 'echo' : null;
  }
  served() {
    return { patterns: ['echo'], events: ['note'] };
  }
  runRequest(call: ServerCall): void {
    this.runs.push({ pattern: call.pattern, publicKey: call.session.publicKey });
  }
  runEvent(pattern: string, _data: unknown, _peerId: string, _metadata: unknown, publicKey?: string): void {
    this.runs.push({ pattern, publicKey });
  }
}

async function curveEngine(allow: string[], acceptUnbound = false) {
  const time = new ManualTime();
  const net = new FakeBinder();
  const host = new Host();
  const observer = new RecordingObserver();
  const authority = new KeyAuthority(allow, { refused: () => undefined, error: () => undefined });
  const engine = new ServerEngine<string>({
    config: {
      endpoints: ['tcp://127.0.0.1:*'],
      id: 'srv',
      metadata: {},
      maxPayload: 1024,
      heartbeat: { interval: 100, liveness: 3 },
    },
    bind: net.bind,
    host,
    observer,
    clock: time,
    scheduler: time,
    authorize: helloAuthorizer(server, authority, { acceptUnbound }),
  });
  await engine.listen();
  return { engine, ch: net.channel, host, observer, authority, time };
}

type CurveEngine = Awaited<ReturnType<typeof curveEngine>>;

function hello(id: string, instance: string, curve?: Hello['curve'], features = [CURVE_KEY_FEATURE]): OutEnvelope {
  return handshakeEnvelope(MessageType.Hello, {
    version: 1,
    id,
    instance,
    metadata: {},
    heartbeat: { interval: 1_000, liveness: 3 },
    features,
    ...(curve !== undefined ? { curve } : {}),
  });
}

/** The first HELLO of a client that binds its proof: the unbound proof, offering `curve-key-2`. */
const offering = (pair: typeof alice, id: string, instance: string) =>
  hello(id, instance, helloProof(pair, server.publicKey, id, instance), [CURVE_KEY_FEATURE, BOUND_KEY_FEATURE]);

/** The HELLO that answers the CHALLENGE `nonce`. */
const bound = (pair: typeof alice, id: string, instance: string, nonce: string) =>
  hello(id, instance, helloProof(pair, server.publicKey, id, instance, nonce), [CURVE_KEY_FEATURE, BOUND_KEY_FEATURE]);

/** The nonce of the CHALLENGE the server sent `routingId` last; fails when its last answer is something else. */
function challengeTo(s: CurveEngine, routingId: Buffer): string {
  const last = s.ch.to(routingId).at(-1)!;
  expect(last.type).toBe(MessageType.Challenge);
  return (last.payload as { nonce: string }).nonce;
}

/** The whole handshake of a client that binds its proof, on `routingId`: returns the bound HELLO it sent. */
function join(s: CurveEngine, routingId: Buffer, pair: typeof alice, id: string, instance: string): OutEnvelope {
  s.ch.deliverFrom(routingId, offering(pair, id, instance));
  const answer = bound(pair, id, instance, challengeTo(s, routingId));
  s.ch.deliverFrom(routingId, answer);
  return answer;
}

const codeOf = (s: CurveEngine, routingId: Buffer) => (s.ch.to(routingId).at(-1)!.payload as { code?: string }).code;

/** The unbound HELLO of a client that only knows `curve-key`. */
const proven = (pair: typeof alice, id: string, instance: string) =>
  hello(id, instance, helloProof(pair, server.publicKey, id, instance));

describe('a CURVE server engine', () => {
  test('[S-29] a proven, allowed key opens a session that carries it to peers, events and calls', async () => {
    const s = await curveEngine([alice.publicKey]);
    join(s, R1, alice, 'gw', 'i/0');
    expect(s.ch.to(R1).at(-1)?.type).toBe(MessageType.Welcome);
    expect(s.observer.joins[0]?.publicKey).toBe(alice.publicKey);
    expect(s.engine.peers()[0]?.publicKey).toBe(alice.publicKey);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, null, 1024, 0, encodePattern('echo')));
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Event, 0, null, 1024, 0, encodePattern('note')));
    expect(s.host.runs).toEqual([
      { pattern: 'echo', publicKey: alice.publicKey },
      { pattern: 'note', publicKey: alice.publicKey },
    ]);
  });

  test.each([
    ['no proof (a client without the feature)', () => hello('gw', 'i/0')],
    ['a key that is not allowed', () => offering(bob, 'gw', 'i/0')],
    [
      'an allowed key it cannot prove (an impersonation)',
      () => hello('gw', 'i/0', { key: alice.publicKey, proof: helloProof(bob, server.publicKey, 'gw', 'i/0').proof }),
    ],
  ])('%s is refused with AUTH_FAILED: no session, no handler', async (_label, env) => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, env());
    const answer = s.ch.to(R1).at(-1)!;
    expect(answer.type).toBe(MessageType.Error);
    expect((answer.payload as { code: string }).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.observer.refusals[0]?.error.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.engine.peers()).toEqual([]);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, null, 1024, 0, encodePattern('echo')));
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Event, 0, null, 1024, 0, encodePattern('note')));
    expect(s.host.runs).toEqual([]);
    expect((s.ch.to(R1).at(-1)!.payload as { code: string }).code).toBe(ZmqErrorCode.NOT_READY);
  });

  test('[S-29] an instance token never moves a session to another key (handover needs the same key)', async () => {
    // A client id belongs to its key: another key with the same id and instance neither takes nor blocks it.
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    join(s, R1, alice, 'gw', 'i/0');
    join(s, R2, bob, 'gw', 'i/0');
    expect(s.ch.to(R2).at(-1)!.type).toBe(MessageType.Welcome);
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([alice.publicKey, bob.publicKey]);
    expect(s.observer.lefts).toHaveLength(0);
    // The same key may hand its session over to a new connection (a nonce of its own); bob's session stays.
    join(s, R3, alice, 'gw', 'i/0');
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([bob.publicKey, alice.publicKey]);
    expect(s.observer.lefts).toHaveLength(1);
  });

  test('a connection whose new HELLO proves another key loses its old session first', async () => {
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    join(s, R1, alice, 'gw', 'i/0');
    join(s, R1, bob, 'gw', 'i/0');
    expect(s.observer.lefts.map(e => e.publicKey)).toEqual([alice.publicKey]);
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([bob.publicKey]);
  });

  test('a key removed from the list cannot open a session on a connection that is still up', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.authority.set([]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    expect((s.ch.to(R1).at(-1)!.payload as { code: string }).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.engine.peers()).toEqual([]);
  });
});

describe('the key proof bound to its connection', () => {
  test('[S-40] a HELLO offering curve-key-2 gets a CHALLENGE: a fresh nonce per HELLO, no session, no handler', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    const first = challengeTo(s, R1);
    expect(Buffer.from(first, 'base64').length).toBeGreaterThanOrEqual(16);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    expect(challengeTo(s, R1)).not.toBe(first);
    expect(s.engine.peers()).toEqual([]);
    expect(s.observer.joins).toEqual([]);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, null, 1024, 0, encodePattern('echo')));
    expect(s.host.runs).toEqual([]);
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.NOT_READY);
  });

  test('[S-40] a HELLO offering curve-key-2 that proves nothing, or a key not allowed, gets no nonce', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, offering(bob, 'gw', 'i/0'));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    const forged = { key: alice.publicKey, proof: helloProof(bob, server.publicKey, 'gw', 'i/0').proof };
    s.ch.deliverFrom(R2, hello('gw', 'i/0', forged, [CURVE_KEY_FEATURE, BOUND_KEY_FEATURE]));
    expect(codeOf(s, R2)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.ch.of(MessageType.Challenge)).toEqual([]);
  });

  test('[S-40] a challenged HELLO on a connection with a session leaves the session as it was', async () => {
    const s = await curveEngine([alice.publicKey]);
    join(s, R1, alice, 'gw', 'i/0');
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['gw']);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 1, null, 1024, 0, encodePattern('echo')));
    expect(s.host.runs).toHaveLength(1);
    s.ch.deliverFrom(R1, bound(alice, 'gw', 'i/0', challengeTo(s, R1)));
    expect(s.ch.to(R1).at(-1)!.type).toBe(MessageType.Welcome);
    expect(s.observer.lefts).toEqual([]);
    expect(s.observer.joins).toHaveLength(1);
  });

  test('[S-41] a bound HELLO replayed on another connection is refused AUTH_FAILED; the victim keeps its session', async () => {
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    const victims = join(s, R1, alice, 'gw', 'i/0');
    // The attacker holds another allowed key (bob): its own connection, then the victim's leaked HELLO.
    s.ch.deliverFrom(R2, offering(bob, 'b', 'b/0'));
    s.ch.deliverFrom(R2, victims);
    expect(codeOf(s, R2)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((s.ch.to(R2).at(-1)!.payload as { message: string }).message).toMatch(/not fresh/);
    expect(s.engine.peers().map(p => [p.peerId, p.publicKey])).toEqual([['gw', alice.publicKey]]);
    expect(s.observer.lefts).toEqual([]);
    s.ch.deliverFrom(R2, dataEnvelope(MessageType.Request, 1, null, 1024, 0, encodePattern('echo')));
    expect(s.host.runs).toEqual([]);
    s.ch.deliverFrom(R1, dataEnvelope(MessageType.Request, 2, null, 1024, 0, encodePattern('echo')));
    expect(s.host.runs).toEqual([{ pattern: 'echo', publicKey: alice.publicKey }]);
  });

  test('[S-41] a nonce is single-use: the same bound HELLO again on its own connection is refused', async () => {
    const s = await curveEngine([alice.publicKey]);
    const answer = join(s, R1, alice, 'gw', 'i/0');
    expect(s.ch.to(R1).at(-1)!.type).toBe(MessageType.Welcome);
    s.ch.deliverFrom(R1, answer);
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
  });

  test('[S-41] a nonce used with a wrong proof is used up; one named on another connection is not', async () => {
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    const nonce = challengeTo(s, R1);
    // Another connection names it: refused, and the nonce stays its connection's.
    s.ch.deliverFrom(R2, bound(alice, 'gw', 'i/0', nonce));
    expect(codeOf(s, R2)).toBe(ZmqErrorCode.AUTH_FAILED);
    // Its own connection with a proof for another instance: refused, and the nonce is gone.
    s.ch.deliverFrom(R1, hello('gw', 'i/0', helloProof(alice, server.publicKey, 'gw', 'i/9', nonce)));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((s.ch.to(R1).at(-1)!.payload as { message: string }).message).toMatch(/does not match/);
    s.ch.deliverFrom(R1, bound(alice, 'gw', 'i/0', nonce));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((s.ch.to(R1).at(-1)!.payload as { message: string }).message).toMatch(/not fresh/);
    expect(s.engine.peers()).toEqual([]);
  });

  test('[S-41] a nonce expires: the answer after HELLO_NONCE_TTL_MS is refused, a new HELLO gets a new one', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    const stale = challengeTo(s, R1);
    s.time.advance(HELLO_NONCE_TTL_MS);
    s.ch.deliverFrom(R1, bound(alice, 'gw', 'i/0', stale));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    join(s, R1, alice, 'gw', 'i/0');
    expect(s.ch.to(R1).at(-1)!.type).toBe(MessageType.Welcome);
  });

  test('[S-41] a nonce answers only for the key it was issued to', async () => {
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'));
    s.ch.deliverFrom(R1, bound(bob, 'gw', 'i/0', challengeTo(s, R1)));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.engine.peers()).toEqual([]);
  });

  test('[S-41] two HELLOs before the first CHALLENGE arrived: both answers are welcomed (the second renews)', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, offering(alice, 'gw', 'i/0'), offering(alice, 'gw', 'i/0'));
    const [n1, n2] = s.ch.of(MessageType.Challenge, R1).map(c => (c.payload as { nonce: string }).nonce);
    s.ch.deliverFrom(R1, bound(alice, 'gw', 'i/0', n1!), bound(alice, 'gw', 'i/0', n2!));
    expect(s.ch.of(MessageType.Welcome, R1)).toHaveLength(2);
    expect(s.observer.joins).toHaveLength(1);
  });

  test('[S-42] an unbound proof (a client without curve-key-2) is refused AUTH_FAILED, saying to upgrade', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
    expect(codeOf(s, R1)).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((s.ch.to(R1).at(-1)!.payload as { message: string }).message).toMatch(/not bound.*upgrade the client/);
    expect(s.observer.refusals[0]?.publicKey).toBe(alice.publicKey);
    expect(s.engine.peers()).toEqual([]);
  });

  test('[S-42] acceptUnboundKeyProof welcomes an unbound proof, with a warning naming the key', async () => {
    const s = await curveEngine([alice.publicKey], true);
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
    expect(s.ch.to(R1).at(-1)!.type).toBe(MessageType.Welcome);
    expect(s.observer.warnings.join('\n')).toContain(`unbound key proof from client gw (${alice.publicKey})`);
    // A client that offers curve-key-2 is still challenged.
    s.ch.deliverFrom(R2, offering(alice, 'other', 'o/0'));
    expect(s.ch.to(R2).at(-1)!.type).toBe(MessageType.Challenge);
  });
});

describe('HelloNonces', () => {
  const bounds = { total: 8, perKey: 4, perConnection: 2, ttlMs: 1_000 };
  let counter = 0;
  const book = () => new HelloNonces(bounds, () => `n${++counter}`);

  test('[S-43] one connection keeps its newest nonces only', () => {
    const b = book();
    const [a, x, y] = [b.issue('c1', 'K', 0), b.issue('c1', 'K', 0), b.issue('c1', 'K', 0)];
    expect(b.size).toBe(2);
    expect(b.use(a, 'c1', 'K', 0)).toMatch(/not issued/);
    expect(b.use(x, 'c1', 'K', 0)).toBeUndefined();
    expect(b.use(y, 'c1', 'K', 0)).toBeUndefined();
    expect(b.size).toBe(0);
  });

  test("[S-43] one key's churn evicts only that key's nonces; the whole book evicts its oldest", () => {
    const b = book();
    const other = b.issue('v', 'V', 0);
    for (let i = 0; i < 100; i++) b.issue(`a${i}`, 'A', 0);
    expect(b.size).toBe(5);
    expect(b.use(other, 'v', 'V', 0)).toBeUndefined();
    for (let i = 0; i < 100; i++) b.issue(`k${i}`, `K${i}`, 0);
    expect(b.size).toBe(bounds.total);
  });

  test('[S-43] expired nonces are forgotten, and never used', () => {
    const b = book();
    const old = b.issue('c1', 'K', 0);
    b.issue('c2', 'K', 500);
    expect(b.use(old, 'c1', 'K', 1_000)).toMatch(/expired/);
    expect(b.size).toBe(1);
    b.issue('c3', 'K', 1_500);
    expect(b.size).toBe(1);
  });

  test('a real nonce carries HELLO_NONCE_BYTES random bytes', () => {
    const nonce = new HelloNonces().issue('c', 'K', 0);
    expect(Buffer.from(nonce, 'base64')).toHaveLength(HELLO_NONCE_BYTES);
  });
});

describe('the acceptUnboundKeyProof option', () => {
  const endpoints = ['tcp://127.0.0.1:4000'];

  test('defaults to false, takes a boolean with curve, and is refused anywhere else at construction', () => {
    expect(resolveServerCurve({ bind: endpoints, curve: server, allow: '*' }, endpoints)?.acceptUnboundKeyProof).toBe(
      false,
    );
    const on = resolveServerCurve(
      { bind: endpoints, curve: server, allow: '*', acceptUnboundKeyProof: true },
      endpoints,
    );
    expect(on?.acceptUnboundKeyProof).toBe(true);
    const invalid = (options: Record<string, unknown>) => {
      try {
        resolveServerCurve({ bind: endpoints, ...options }, endpoints);
      } catch (err) {
        return err as ZmqOptionsError;
      }
      throw new Error('accepted');
    };
    const notBoolean = invalid({ curve: server, allow: '*', acceptUnboundKeyProof: 'yes' });
    expect([notBoolean.code, notBoolean.option]).toEqual([ZmqErrorCode.INVALID_OPTIONS, 'acceptUnboundKeyProof']);
    const plaintext = invalid({ acceptUnboundKeyProof: true });
    expect([plaintext.code, plaintext.option]).toEqual([ZmqErrorCode.INVALID_OPTIONS, 'acceptUnboundKeyProof']);
    expect(resolveServerCurve({ bind: endpoints, acceptUnboundKeyProof: false }, endpoints)).toBeUndefined();
  });
});
