/**
 * The HELLO replay (finding 6) against a real CURVE ServerZmq: a victim
 * completes the bound handshake (docs/PROTOCOL.md §12.2) and its HELLO frames
 * are captured; an attacker holding another allowed key replays them on its
 * own connection. Each replay is refused AUTH_FAILED, no handler runs for the
 * attacker, and the victim's session is still served (no `peer:left`).
 * Synchronisation: replies on each raw connection; no sleeps.
 */
import 'reflect-metadata';
import { generateCurveKeyPair, ZmqErrorCode, ZmqPeerEvent, ZmqServerOptions } from 'nestjs-zeromq';
import { helloProof } from '../../lib/security/hello-proof';
import { dealerCurveOptions } from '../../lib/transport/curve-options';
import { Harness } from '../helpers/nest';
import { ENC, header, json, ParsedEnvelope, T } from '../helpers/wire';
import { RawPeer, runs, VictimModule } from './attack';

const HB = { interval: 1000, liveness: 3 };
const FEATURES = ['curve-key', 'curve-key-2'];

describe('a leaked HELLO replayed from another allowed key', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());
  const server = generateCurveKeyPair();
  const alice = generateCurveKeyPair(); // the victim
  const bob = generateCurveKeyPair(); // the attacker: allowed too

  async function start(options: Partial<ZmqServerOptions> = {}) {
    const started = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      imports: [VictimModule],
      options: { id: 'replay-srv', curve: server, allow: [alice.publicKey, bob.publicKey], ...options },
    });
    const lefts: ZmqPeerEvent[] = [];
    started.server.on('peer:left', e => lefts.push(e));
    return { ...started, lefts };
  }

  const peer = (endpoint: string, pair: typeof alice, id?: string) =>
    h.track(
      new RawPeer(
        endpoint,
        { ...dealerCurveOptions({ ...pair, serverKey: server.publicKey }), receiveTimeout: 5_000 },
        id,
      ),
    );

  const helloFrames = (payload: Record<string, unknown>): Buffer[] => [
    header(T.HELLO, { enc: ENC.JSON }),
    json(payload),
  ];

  /** The next WELCOME, CHALLENGE or ERROR(0) on `p`. */
  const handshakeAnswer = (p: RawPeer): Promise<ParsedEnvelope> =>
    p.until(r => r.type === T.WELCOME || r.type === T.CHALLENGE || (r.type === T.ERROR && r.id === 0));

  /** The victim's bound handshake: the frames of its two HELLOs, as a leak would show them. */
  async function victimJoins(victim: RawPeer): Promise<{ first: Buffer[]; answer: Buffer[] }> {
    const base = { version: 1, id: 'billing', instance: 'v/0', metadata: {}, heartbeat: HB, features: FEATURES };
    const first = helloFrames({ ...base, curve: helloProof(alice, server.publicKey, 'billing', 'v/0') });
    await victim.send(first);
    const challenge = await handshakeAnswer(victim);
    expect(challenge.type).toBe(T.CHALLENGE);
    const { nonce } = challenge.body as { nonce: string };
    const answer = helloFrames({ ...base, curve: helloProof(alice, server.publicKey, 'billing', 'v/0', nonce) });
    await victim.send(answer);
    expect((await handshakeAnswer(victim)).type).toBe(T.WELCOME);
    return { first, answer };
  }

  async function echo(p: RawPeer, id: number): Promise<ParsedEnvelope> {
    await p.envelope(T.REQUEST, { id, pattern: 'echo', enc: ENC.JSON }, json(id));
    return p.until(r => r.id === id);
  }

  function expectAuthFailed(r: ParsedEnvelope): void {
    expect(r.type).toBe(T.ERROR);
    expect(r.body).toMatchObject({ code: ZmqErrorCode.AUTH_FAILED });
  }

  it('[S-41] [S-42] the replayed HELLOs are refused AUTH_FAILED; the victim keeps its session and is served', async () => {
    const { endpoint, server: srv, lefts } = await start();
    const victim = peer(endpoint, alice);
    const leaked = await victimJoins(victim);
    const echoes = runs.echo;
    const attacker = peer(endpoint, bob);

    // The answer to the victim's CHALLENGE, replayed on the attacker's connection.
    await attacker.send(leaked.answer);
    expectAuthFailed(await handshakeAnswer(attacker));
    // The victim's first HELLO gets the attacker a nonce of its own, which the leaked answer does not cover.
    await attacker.send(leaked.first);
    expect((await handshakeAnswer(attacker)).type).toBe(T.CHALLENGE);
    await attacker.send(leaked.answer);
    expectAuthFailed(await handshakeAnswer(attacker));
    // The victim's unbound proof without curve-key-2 (a client that cannot bind): refused too.
    const stripped = JSON.parse(leaked.first[1]!.toString('utf8')) as Record<string, unknown>;
    await attacker.send(helloFrames({ ...stripped, features: ['curve-key'] }));
    const unbound = await handshakeAnswer(attacker);
    expectAuthFailed(unbound);
    expect((unbound.body as { message: string }).message).toMatch(/not bound to the connection/);

    // Nothing ran for the attacker: it has no session.
    expect((await echo(attacker, 7)).body).toMatchObject({ code: ZmqErrorCode.NOT_READY });
    expect(runs.echo).toBe(echoes);
    // The victim's session is whole and served.
    expect((await echo(victim, 8)).body).toBe(8);
    expect(runs.echo).toBe(echoes + 1);
    expect(lefts).toEqual([]);
    expect(srv.getPeers().map(p => [p.peerId, p.publicKey])).toEqual([['billing', alice.publicKey]]);
  });

  it('[S-41] the same replay against a server that accepts unbound proofs (a migration) is refused too', async () => {
    const { endpoint, lefts } = await start({ acceptUnboundKeyProof: true });
    const victim = peer(endpoint, alice);
    const leaked = await victimJoins(victim);
    const attacker = peer(endpoint, bob);
    await attacker.send(leaked.answer);
    expectAuthFailed(await handshakeAnswer(attacker));
    // A second use on the victim's own connection: the nonce is spent.
    await victim.send(leaked.answer);
    expectAuthFailed(await handshakeAnswer(victim));
    expect(lefts).toEqual([]);
  });
});
