/**
 * The HELLO budget: many connections with HELLOs of a quarter megabyte (the
 * handshake limit) once grew a server by hundreds of megabytes of metadata
 * kept per session. A HELLO over MAX_HELLO_BYTES is refused TOO_LARGE before
 * it is decoded; the sessions of a server, and those of one CURVE key, hold
 * a bounded number of HELLO bytes; the victim is served throughout.
 */
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { ZmqErrorCode } from 'nestjs-zeromq';
import { MAX_HANDSHAKE_BYTES } from '../../lib/protocol/limits';
import { MAX_HELLO_BYTES, MAX_RETAINED_HELLO_BYTES_PER_KEY } from '../../lib/protocol/tuning';
import { encodeHeader, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { KeyAuthority } from '../../lib/security/allow';
import { helloAuthorizer } from '../../lib/security/hello-auth';
import { helloProof } from '../../lib/security/hello-proof';
import { generateCurveKeyPair } from '../../lib/security/keys';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { Harness } from '../helpers/nest';
import { listeningEngine, serverConfig } from '../helpers/server-engine';
import { ENC, json, T } from '../helpers/wire';
import { RawPeer, rssMiB, SOAK, VictimModule } from './attack';

const HB = { interval: 1000, liveness: 3 };

/** A HELLO of about `bytes` bytes: its metadata pads it. */
function bigHello(id: string, bytes: number, extra: Record<string, unknown> = {}): Buffer {
  const base = { version: 1, id, metadata: { pad: '' }, heartbeat: HB, ...extra };
  const pad = 'x'.repeat(Math.max(0, bytes - json(base).length));
  return json({ ...base, metadata: { pad } });
}

describe('HELLO size budget against a real server', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('[S-34] connections with quarter-megabyte HELLOs are refused TOO_LARGE unread; memory stays bounded; the victim is served', async () => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', imports: [VictimModule] });
    const victim = await h.connectClient(endpoint, { id: 'victim' });
    const n = SOAK ? 1_000 : 200;
    const hello = bigHello('x', MAX_HANDSHAKE_BYTES - 1_000);
    const before = rssMiB();
    const peers = Array.from({ length: n }, () => h.track(new RawPeer(endpoint)));
    await Promise.all(peers.map(p => p.envelope(T.HELLO, { enc: ENC.JSON }, hello)));
    for (const p of peers) {
      const answer = await p.until(r => r.id === 0);
      expect(answer.type).toBe(T.ERROR);
      expect(answer.body).toMatchObject({ code: ZmqErrorCode.TOO_LARGE });
    }
    expect(server.getPeers().map(p => p.peerId)).toEqual(['victim']);
    // Kept, 200 of these HELLOs were +394 MB; refused unread, they cost their receive buffers only.
    expect(rssMiB() - before).toBeLessThan(128);
    expect(await firstValueFrom(victim.send('echo', 'still here'))).toBe('still here');
    // A HELLO at the limit opens a session.
    const atLimit = h.track(new RawPeer(endpoint));
    await atLimit.envelope(T.HELLO, { enc: ENC.JSON }, bigHello(atLimit.id, MAX_HELLO_BYTES));
    expect((await atLimit.until(r => r.id === 0)).type).toBe(T.WELCOME);
  });
});

class Host implements ServerHost<string> {
  requestHandler(): string | null {
    return null;
  }
  served() {
    return { patterns: [], events: [] };
  }
  runRequest(_call: ServerCall): void {}
  runEvent(): void {}
}

describe('the HELLO budget of one CURVE key', () => {
  it('[S-34] one key that fills its share is refused TOO_LARGE; another key still gets in', async () => {
    const server = generateCurveKeyPair();
    const [bob, alice] = [generateCurveKeyPair(), generateCurveKeyPair()];
    const authority = new KeyAuthority('*', { refused: () => undefined, error: () => undefined });
    const s = await listeningEngine(new Host(), serverConfig(1 << 20, HB), {
      authorize: helloAuthorizer(server, authority, { acceptUnbound: true }),
    });
    const hello = (pair: typeof bob, id: string, i: number): OutEnvelope => {
      const instance = `${id}/${i}`;
      const curve = helloProof(pair, server.publicKey, id, instance);
      const payload = bigHello(id, MAX_HELLO_BYTES, { instance, features: ['curve-key'], curve });
      return {
        type: MessageType.Hello,
        flags: 0,
        encoding: 1,
        id: 0,
        pattern: undefined,
        metadata: undefined,
        deadline: undefined,
        payload,
      };
    };
    const share = Math.floor(MAX_RETAINED_HELLO_BYTES_PER_KEY / MAX_HELLO_BYTES);
    let refusedAt = -1;
    for (let i = 0; i < share + 2 && refusedAt < 0; i++) {
      const routingId = Buffer.from([0, 1, i >> 8, i & 0xff]);
      const env = hello(bob, `bob-${i}`, i);
      s.ch.deliverFrames([routingId, encodeHeader(env), env.payload as Buffer]);
      const last = s.ch.to(routingId).at(-1)!;
      if (last.type === MessageType.Error) {
        expect((last.payload as { code: string }).code).toBe(ZmqErrorCode.TOO_LARGE);
        refusedAt = i;
      }
    }
    expect(refusedAt).toBe(share);
    const routingId = Buffer.from([0, 2, 0, 0]);
    const env = hello(alice, 'alice', 0);
    s.ch.deliverFrames([routingId, encodeHeader(env), env.payload as Buffer]);
    expect(s.ch.to(routingId).at(-1)!.type).toBe(MessageType.Welcome);
  });
});
