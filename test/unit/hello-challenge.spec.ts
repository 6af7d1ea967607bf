/**
 * A client's side of the bound key proof (docs/PROTOCOL.md §12.2): its first
 * HELLO offers curve-key-2 with the unbound proof, it answers a CHALLENGE at
 * once with the proof over that nonce while it waits for WELCOME, and drops
 * a CHALLENGE at any other time. Engine-level with the fake channel and the
 * manual clock; the server's side is checked with the real verifier.
 */
import { generateCurveKeyPair } from 'nestjs-zeromq';
import { curveHelloOf } from '../../lib/config/security-config';
import { MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { challengeEnvelope, type Hello } from '../../lib/protocol/handshake';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { MAX_HANDSHAKE_BYTES } from '../../lib/protocol/limits';
import { helloInstance } from '../../lib/protocol/client/hello';
import { BOUND_KEY_FEATURE, CURVE_KEY_FEATURE, HelloProofVerifier } from '../../lib/security/hello-proof';
import { A, clientEngine, welcome } from '../helpers/client-engine';

const server = generateCurveKeyPair();
const client = generateCurveKeyPair();
const verifier = new HelloProofVerifier(server);

function curveClient() {
  const curve = { ...client, serverKeys: [server.publicKey] };
  return clientEngine({ curveHello: curveHelloOf(curve, [A], 'client-1', slot => helloInstance('inst', slot)) });
}

const hellos = (s: ReturnType<typeof clientEngine>) =>
  s
    .ch(A)
    .of(MessageType.Hello)
    .map(e => e.payload as Hello);

describe('a CURVE client and the CHALLENGE', () => {
  it('[C-21] offers curve-key-2 with the unbound proof, then answers a CHALLENGE with the proof over its nonce', async () => {
    const s = curveClient();
    const connecting = s.engine.connect();
    const [first] = hellos(s);
    expect(first!.features).toEqual(expect.arrayContaining([CURVE_KEY_FEATURE, BOUND_KEY_FEATURE]));
    expect(first!.curve?.nonce).toBeUndefined();
    expect(verifier.verify(first!.curve, first!.id, first!.instance)).toEqual({ publicKey: client.publicKey });
    s.ch(A).deliver(challengeEnvelope('bm9uY2Utb25lLXR3by10aHJlZQ=='));
    const answers = hellos(s);
    expect(answers).toHaveLength(2);
    const answer = answers[1]!;
    expect(answer.curve?.nonce).toBe('bm9uY2Utb25lLXR3by10aHJlZQ==');
    expect(verifier.verify(answer.curve, answer.id, answer.instance)).toEqual({ publicKey: client.publicKey });
    // The proof is over that nonce: with another one it proves nothing.
    expect(verifier.verify({ ...answer.curve!, nonce: 'b3RoZXI=' }, answer.id, answer.instance)).toMatch(
      /does not match/,
    );
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await connecting;
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-a']);
  });

  it('[C-21] a server that welcomes the first HELLO (one without curve-key-2) takes the unbound proof', async () => {
    const s = curveClient();
    const connecting = s.engine.connect();
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await connecting;
    expect(hellos(s)).toHaveLength(1);
    expect(s.engine.peers().map(p => p.peerId)).toEqual(['srv-a']);
  });

  it('[C-21] a CHALLENGE while a session is up is dropped (unexpected): no HELLO goes out', async () => {
    const s = curveClient();
    const connecting = s.engine.connect();
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await connecting;
    const sent = s.ch(A).sent.length;
    s.ch(A).deliver(challengeEnvelope('bm9uY2U='));
    expect(s.ch(A).sent.length).toBe(sent);
    expect(s.observer.drops.map(d => d.reason)).toContain('unexpected');
    expect(s.engine.peers()).toHaveLength(1);
  });

  it('[C-21] a client without CURVE offers no curve-key-2 and drops a CHALLENGE', () => {
    const s = clientEngine();
    void s.engine.connect().catch(() => undefined);
    expect(hellos(s)[0]!.features).not.toContain(BOUND_KEY_FEATURE);
    s.ch(A).deliver(challengeEnvelope('bm9uY2U='));
    expect(hellos(s)).toHaveLength(1);
    expect(s.observer.drops.map(d => d.reason)).toContain('unexpected');
    void s.engine.close();
  });

  it('a CHALLENGE without a nonce is dropped (payload)', () => {
    const s = curveClient();
    void s.engine.connect().catch(() => undefined);
    const bad: OutEnvelope = dataEnvelope(MessageType.Challenge, 0, { nonce: 5 }, MAX_HANDSHAKE_BYTES);
    s.ch(A).deliver(bad);
    expect(hellos(s)).toHaveLength(1);
    expect(s.observer.drops.map(d => d.reason)).toContain('payload');
    void s.engine.close();
  });
});
