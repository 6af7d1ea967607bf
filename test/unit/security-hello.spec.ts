/**
 * The HELLO key proof (docs/PROTOCOL.md §12.3): a CURVE server maps a
 * session to the key its HELLO proves, and an authenticated client can never
 * speak as another key. Engine-level with the fake channel.
 */
import { generateCurveKeyPair, ZmqErrorCode } from 'nestjs-zeromq';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { encodePattern, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, Hello } from '../../lib/protocol/handshake';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { ServerEngine } from '../../lib/protocol/server/server-engine';
import { KeyAuthority } from '../../lib/security/allow';
import { helloAuthorizer } from '../../lib/security/hello-auth';
import { CURVE_KEY_FEATURE, helloProof, HelloProofVerifier } from '../../lib/security/hello-proof';
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

async function curveEngine(allow: string[]) {
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
    authorize: helloAuthorizer(server, authority),
  });
  await engine.listen();
  return { engine, ch: net.channel, host, observer, authority };
}

function hello(id: string, instance: string, curve?: Hello['curve']): OutEnvelope {
  return handshakeEnvelope(MessageType.Hello, {
    version: 1,
    id,
    instance,
    metadata: {},
    heartbeat: { interval: 1_000, liveness: 3 },
    features: [CURVE_KEY_FEATURE],
    ...(curve !== undefined ? { curve } : {}),
  });
}

const proven = (pair: typeof alice, id: string, instance: string) =>
  hello(id, instance, helloProof(pair, server.publicKey, id, instance));

describe('a CURVE server engine', () => {
  test('[S-29] a proven, allowed key opens a session that carries it to peers, events and calls', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
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
    ['a key that is not allowed', () => proven(bob, 'gw', 'i/0')],
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
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
    s.ch.deliverFrom(R2, proven(bob, 'gw', 'i/0'));
    expect(s.ch.to(R2).at(-1)!.type).toBe(MessageType.Welcome);
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([alice.publicKey, bob.publicKey]);
    expect(s.observer.lefts).toHaveLength(0);
    // The same key may hand its session over to a new connection; bob's session stays.
    s.ch.deliverFrom(R3, proven(alice, 'gw', 'i/0'));
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([bob.publicKey, alice.publicKey]);
    expect(s.observer.lefts).toHaveLength(1);
  });

  test('a connection whose new HELLO proves another key loses its old session first', async () => {
    const s = await curveEngine([alice.publicKey, bob.publicKey]);
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
    s.ch.deliverFrom(R1, proven(bob, 'gw', 'i/0'));
    expect(s.observer.lefts.map(e => e.publicKey)).toEqual([alice.publicKey]);
    expect(s.engine.peers().map(p => p.publicKey)).toEqual([bob.publicKey]);
  });

  test('a key removed from the list cannot open a session on a connection that is still up', async () => {
    const s = await curveEngine([alice.publicKey]);
    s.authority.set([]);
    s.ch.deliverFrom(R1, proven(alice, 'gw', 'i/0'));
    expect((s.ch.to(R1).at(-1)!.payload as { code: string }).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(s.engine.peers()).toEqual([]);
  });
});
