/**
 * Identity attacks against a real CURVE ServerZmq: the bit-255 alias of a
 * denied key, low-order keys (in ZAP and in the HELLO), one key squatting
 * another key's client id, and a flood of slow `allow` decisions. Each
 * asserts a typed refusal or that the victim is still served, not only that
 * nothing crashed. Synchronisation: `peer:refused` events, replies on the
 * attacker's connection; no sleeps (the 200 ms `allow` is the attack).
 */
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { Context, Dealer, Request } from 'zeromq';
import { generateCurveKeyPair, ZmqErrorCode, ZmqPeerRefusedEvent, ZmqServerOptions } from 'nestjs-zeromq';
import { KeyAuthority } from '../../lib/security/allow';
import { helloProof } from '../../lib/security/hello-proof';
import { decodeZ85, encodeZ85 } from '../../lib/security/z85';
import { dealerCurveOptions } from '../../lib/transport/curve-options';
import { MAX_PENDING_ZAP_DECISIONS, registerZapDomain, ZAP_ENDPOINT } from '../../lib/transport/zap';
import { within } from '../helpers/async';
import { Harness } from '../helpers/nest';
import { ENC, header, json, T } from '../helpers/wire';
import { RawPeer, runs, VictimModule } from './attack';

const HB = { interval: 1000, liveness: 3 };

/** The same X25519 key with bit 255 set: another byte form X25519 reads as the same point. */
function alias(publicKey: string): string {
  const bytes = decodeZ85(publicKey)!;
  bytes[31]! |= 0x80;
  return encodeZ85(bytes);
}

const LOW_ORDER = [
  encodeZ85(Buffer.alloc(32)),
  encodeZ85(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
];

describe('identity attacks', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());
  const server = generateCurveKeyPair();

  async function start(options: Omit<ZmqServerOptions, 'bind'>) {
    const refused: ZmqPeerRefusedEvent[] = [];
    const started = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      imports: [VictimModule],
      options: { id: 'id-srv', curve: server, ...options },
    });
    started.server.on('peer:refused', e => refused.push(e));
    /** The first refusal of `publicKey`: a promise that settles on the event. */
    const refusalOf = (publicKey: string) =>
      new Promise<ZmqPeerRefusedEvent>(resolve =>
        started.server.on('peer:refused', e => {
          if (e.publicKey === publicKey) resolve(e);
        }),
      );
    return { ...started, refused, refusalOf };
  }

  /** A raw CURVE peer presenting `publicKey` (which may differ from the one of `secretKey`). */
  function curvePeer(endpoint: string, publicKey: string, secretKey: string): RawPeer {
    const options = {
      ...dealerCurveOptions({ publicKey, secretKey, serverKey: server.publicKey }),
      receiveTimeout: 3_000,
    };
    return h.track(new RawPeer(endpoint, options));
  }

  /**
   * A HELLO proving `pair` (its `publicKey` as given), with `id` and
   * `instance`: the unbound proof offering `curve-key-2`, or with `nonce` the
   * proof bound to that CHALLENGE nonce.
   */
  function provenHello(
    pair: { publicKey: string; secretKey: string },
    id: string,
    instance: string,
    nonce?: string,
  ): Buffer {
    const curve = helloProof(pair, server.publicKey, id, instance, nonce);
    const features = ['curve-key', 'curve-key-2'];
    return json({ version: 1, id, instance, metadata: {}, heartbeat: HB, features, curve });
  }

  /** The bound handshake of `pair` on `peer`: the answer to the HELLO that answers the CHALLENGE. */
  async function join(peer: RawPeer, pair: { publicKey: string; secretKey: string }, id: string, instance: string) {
    await peer.send([header(T.HELLO, { enc: ENC.JSON }), provenHello(pair, id, instance)]);
    const challenge = await peer.until(r => r.id === 0 && r.type !== T.PONG);
    if (challenge.type !== T.CHALLENGE) return challenge;
    const { nonce } = challenge.body as { nonce: string };
    await peer.send([header(T.HELLO, { enc: ENC.JSON }), provenHello(pair, id, instance, nonce)]);
    return peer.until(r => r.id === 0 && r.type !== T.PONG);
  }

  it('[S-36] the bit-255 alias of a key an allow function denies is refused at the CURVE handshake', async () => {
    const denied = generateCurveKeyPair();
    const victim = generateCurveKeyPair();
    const { endpoint, refusalOf } = await start({ allow: peer => peer.publicKey !== denied.publicKey });
    const refusal = refusalOf(alias(denied.publicKey));
    const echoes = runs.echo;
    const attacker = curvePeer(endpoint, alias(denied.publicKey), denied.secretKey);
    const hello = attacker.hello(
      {
        features: ['curve-key'],
        curve: helloProof({ ...denied, publicKey: alias(denied.publicKey) }, server.publicKey, attacker.id, 'a/0'),
      },
      attacker.id,
    );
    // The refusal, or (had the alias got in) the WELCOME, which fails the test.
    const event = await within(
      Promise.race([refusal, hello.then(r => Promise.reject(new Error(`admitted: ${JSON.stringify(r.body)}`)))]),
      8_000,
      'the refusal',
    );
    expect(event.error.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(event.error.message).toMatch(/canonical form/);
    expect(runs.echo).toBe(echoes);
    const client = await h.connectClient(endpoint, { curve: { ...victim, serverKey: server.publicKey } });
    expect(await firstValueFrom(client.send('echo', 'served'))).toBe('served');
  });

  it('[S-36] ZAP refuses low-order and non-canonical keys before any allow function runs', async () => {
    const context = new Context();
    const asked: string[] = [];
    const authority = new KeyAuthority(
      peer => {
        asked.push(peer.publicKey);
        return true;
      },
      { refused: () => undefined, error: () => undefined },
    );
    const release = await registerZapDomain(
      'zap-keys',
      peer => authority.admit(peer),
      () => undefined,
      context,
    );
    h.track({ close: release });
    const req = h.track(new Request({ context, linger: 0 }));
    req.connect(ZAP_ENDPOINT);
    const ask = async (key: string) => {
      await req.send(['1.0', '1', 'zap-keys', '127.0.0.1', 'id', 'CURVE', decodeZ85(key)!]);
      const [, , code] = await within(req.receive(), 5_000, 'a ZAP reply');
      return String(code);
    };
    const good = generateCurveKeyPair().publicKey;
    for (const key of [...LOW_ORDER, alias(good)]) expect(await ask(key)).toBe('400');
    expect(asked).toEqual([]);
    expect(await ask(good)).toBe('200');
    expect(asked).toEqual([good]);
  });

  it('[S-38] ZAP decisions in progress are bounded: beyond MAX_PENDING_ZAP_DECISIONS a handshake gets 300 at once', async () => {
    const context = new Context();
    let release: (ok: boolean) => void = () => undefined;
    const decided = new Promise<boolean>(resolve => (release = resolve));
    let asked = 0;
    const unregister = await registerZapDomain(
      'zap-bound',
      () => {
        asked++;
        return decided;
      },
      () => undefined,
      context,
    );
    h.track({ close: unregister });
    // A DEALER pipelines requests as libzmq's REQ clients would, one per handshake (an empty delimiter first).
    const dealer = h.track(new Dealer({ context, linger: 0, receiveTimeout: 5_000 }));
    dealer.connect(ZAP_ENDPOINT);
    const n = MAX_PENDING_ZAP_DECISIONS + 44;
    for (let i = 0; i < n; i++) {
      const key = decodeZ85(generateCurveKeyPair().publicKey)!;
      await dealer.send(['', '1.0', String(i), 'zap-bound', '127.0.0.1', 'id', 'CURVE', key]);
    }
    const codes = new Map<string, number>();
    const take = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const [, , , code] = await within(dealer.receive(), 5_000, 'a ZAP reply');
        codes.set(String(code), (codes.get(String(code)) ?? 0) + 1);
      }
    };
    await take(n - MAX_PENDING_ZAP_DECISIONS); // the busy answers come at once, the others wait for their decision
    expect(Object.fromEntries(codes)).toEqual({ '300': n - MAX_PENDING_ZAP_DECISIONS });
    expect(asked).toBe(MAX_PENDING_ZAP_DECISIONS);
    release(true);
    await take(MAX_PENDING_ZAP_DECISIONS);
    expect(codes.get('200')).toBe(MAX_PENDING_ZAP_DECISIONS);
  });

  it('[S-36] a low-order or aliased key in a HELLO is refused AUTH_FAILED, and the rest of its message is still read', async () => {
    const alice = generateCurveKeyPair();
    const { endpoint } = await start({ allow: '*' });
    const attacker = curvePeer(endpoint, alice.publicKey, alice.secretKey);
    const bad = LOW_ORDER.map(key =>
      json({
        version: 1,
        id: 'x',
        instance: 'x/0',
        metadata: {},
        heartbeat: HB,
        features: ['curve-key'],
        curve: { key, proof: 'AAAA' },
      }),
    );
    const aliased = provenHello({ ...alice, publicKey: alias(alice.publicKey) }, 'x', 'x/0');
    const hello = header(T.HELLO, { enc: ENC.JSON });
    // One message: three bad HELLOs, then a good one.
    await attacker.send([hello, bad[0]!, hello, bad[1]!, hello, aliased, hello, provenHello(alice, 'x', 'x/0')]);
    for (let i = 0; i < 3; i++) {
      const refusal = await attacker.until(r => r.type === T.ERROR && r.id === 0);
      expect(refusal.body).toMatchObject({ code: ZmqErrorCode.AUTH_FAILED });
    }
    const last = await attacker.until(r => r.type === T.CHALLENGE || r.type === T.WELCOME || r.type === T.ERROR);
    expect(last.type).toBe(T.CHALLENGE);
  });

  it('[S-37] a client id belongs to its key: another allowed key neither blocks it nor takes it over', async () => {
    const alice = generateCurveKeyPair();
    const bob = generateCurveKeyPair();
    const { endpoint, server: srv } = await start({ allow: [alice.publicKey, bob.publicKey] });
    // Bob squats the id first.
    const squatter = curvePeer(endpoint, bob.publicKey, bob.secretKey);
    expect((await join(squatter, bob, 'billing', 'b/0')).type).toBe(T.WELCOME);
    // Alice, the owner of "billing", still gets in and is served.
    const victim = await h.connectClient(endpoint, { id: 'billing', curve: { ...alice, serverKey: server.publicKey } });
    expect(await firstValueFrom(victim.send('echo', 1))).toBe(1);
    // Bob says HELLO as "billing" again from another connection: it never touches alice's session.
    const again = curvePeer(endpoint, bob.publicKey, bob.secretKey);
    await join(again, bob, 'billing', 'b/1');
    expect(srv.getPeers().filter(p => p.publicKey === alice.publicKey)).toHaveLength(1);
    expect(await firstValueFrom(victim.send('echo', 2))).toBe(2);
  });

  it('[S-38] slow allow decisions run concurrently: 60 throw-away keys do not keep an allowed client out', async () => {
    const victim = generateCurveKeyPair();
    let inFlight = 0;
    let most = 0;
    const { endpoint } = await start({
      allow: async peer => {
        most = Math.max(most, ++inFlight);
        await new Promise(resolve => setTimeout(resolve, 200));
        inFlight--;
        return peer.publicKey === victim.publicKey;
      },
    });
    for (let i = 0; i < 60; i++) {
      const junk = generateCurveKeyPair();
      curvePeer(endpoint, junk.publicKey, junk.secretKey);
    }
    // One at a time, 61 decisions of 200 ms would outlast the client's 5 s connect timeout.
    const client = await h.connectClient(endpoint, { curve: { ...victim, serverKey: server.publicKey } });
    expect(await firstValueFrom(client.send('echo', 'in'))).toBe('in');
    expect(most).toBeGreaterThan(1);
  });
});
