/**
 * A structure-aware fuzzer for the decoders and the handshake: valid
 * envelopes, HELLOs and JSON / MessagePack payloads, mutated (bytes flipped,
 * lengths rewritten, ranges cut, duplicated or spliced, JSON values replaced
 * by hostile ones) and fed to the envelope decoder, the payload decoder with
 * its expansion limit, and a CURVE server engine. Invariants: only
 * MalformedError escapes a decoder; the engine never throws, answers each
 * envelope at most once, and still welcomes a valid client at the end. A few
 * thousand inputs in CI (seconds); SOAK=1 runs 100 times as many.
 * FUZZ_SEED=<n> replays a run (the seed is in every failure message).
 */
import { loadMsgpack } from '../../lib/common/msgpack-loader';
import { generateCurveKeyPair } from '../../lib/security/keys';
import { KeyAuthority } from '../../lib/security/allow';
import { helloAuthorizer } from '../../lib/security/hello-auth';
import { helloProof } from '../../lib/security/hello-proof';
import { encodeZ85 } from '../../lib/security/z85';
import { decodePayload } from '../../lib/protocol/codec';
import { expansionProblem } from '../../lib/protocol/expansion';
import {
  decodeEnvelope,
  encodeHeader,
  encodePattern,
  encodeMetadata,
  MalformedError,
  MessageType,
  OutEnvelope,
} from '../../lib/protocol/frames';
import { msgpackCodec } from '../../lib/protocol/msgpack';
import type { ServerCall } from '../../lib/protocol/server/server-call';
import type { ServerHost } from '../../lib/protocol/server/server-deps';
import { payloadFrame } from '../helpers/fake-channel';
import { listeningEngine, serverConfig } from '../helpers/server-engine';
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { Harness } from '../helpers/nest';
import { RawPeer, SOAK, VictimModule } from './attack';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const ROUNDS = SOAK ? 300_000 : 3_000;
const HB = { interval: 1000, liveness: 3 };

/** mulberry32: a small deterministic PRNG, so that a seed replays a run. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

/** The all-zero Curve25519 point, a low-order key. */
const LOW_ORDER_KEY = encodeZ85(Buffer.alloc(32));

const INTERESTING = [
  0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5b, 0x7b, 0x5c, 0x2c, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xd4, 0xc7,
];

/** One mutation of `bytes` (a copy), maybe spliced with `other`. */
function mutate(r: Rng, bytes: Buffer, other: Buffer): Buffer {
  const b = Buffer.from(bytes);
  const at = () => r.int(Math.max(1, b.length));
  switch (r.int(8)) {
    case 0:
      if (b.length > 0) b[at()]! ^= 1 << r.int(8);
      return b;
    case 1:
      if (b.length > 0) b[at()] = r.pick(INTERESTING);
      return b;
    case 2: {
      // A length field rewritten: big-endian u16 / u32 at a random offset.
      const o = at();
      if (o + 4 <= b.length) b.writeUInt32BE(r.pick([0, 1, 0xffff, 0x7fffffff, 0xffffffff, r.int(1 << 20)]), o);
      else if (o + 2 <= b.length) b.writeUInt16BE(r.pick([0, 0xffff, r.int(1 << 16)]), o);
      return b;
    }
    case 3:
      return b.subarray(0, at());
    case 4: {
      const o = at();
      return Buffer.concat([b.subarray(0, o), b.subarray(o + 1 + r.int(8))]);
    }
    case 5: {
      const o = at();
      const piece = b.subarray(o, o + 1 + r.int(16));
      return Buffer.concat([b.subarray(0, o), piece, piece, b.subarray(o)]);
    }
    case 6:
      return Buffer.concat([b.subarray(0, at()), other.subarray(r.int(Math.max(1, other.length)))]);
    default: {
      const o = at();
      return Buffer.concat([
        b.subarray(0, o),
        Buffer.from([r.pick(INTERESTING), r.int(256), r.int(256)]),
        b.subarray(o),
      ]);
    }
  }
}

/** A hostile JSON value: deep nesting, prototype keys, huge numbers, control characters, long strings. */
function hostile(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0:
      return r.pick([0, -1, 1e308, -0, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    case 1:
      return r.pick([
        '',
        '\u001b[2J',
        '\u0000',
        'x'.repeat(r.int(300)),
        '\ud800',
        '$zmq/metrics',
        '__proto__',
        LOW_ORDER_KEY,
      ]);
    case 2:
      return r.pick([null, true, false]);
    case 3:
      return JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"p":1}}}');
    case 4:
      return [];
    case 5:
      return Array.from({ length: r.int(5) }, () => hostile(r, depth + 1));
    case 6:
      return Object.fromEntries(Array.from({ length: r.int(5) }, (_, i) => [`k${i}`, hostile(r, depth + 1)]));
    default:
      return JSON.parse('['.repeat(50) + ']'.repeat(50));
  }
}

/** A HELLO, valid or with one field replaced by a hostile value. */
function helloValue(
  r: Rng,
  pair: { publicKey: string; secretKey: string },
  serverKey: string,
): Record<string, unknown> {
  const id = `c${r.int(50)}`;
  const instance = `i${r.int(5)}/0`;
  const hello: Record<string, unknown> = {
    version: 1,
    id,
    instance,
    metadata: { app: 'fuzz' },
    heartbeat: HB,
    features: ['deadline', 'bye-ack', 'drain', 'msgpack', 'credit', 'curve-key'],
    window: 16,
    curve: helloProof(pair, serverKey, id, instance),
  };
  if (r.int(5) === 0) (hello.curve as Record<string, unknown>)[r.pick(['key', 'proof'])] = hostile(r);
  if (r.int(3) === 0) hello[r.pick(Object.keys(hello))] = hostile(r);
  return hello;
}

/** Valid envelopes of every type a client sends, the corpus the mutations start from. */
function corpus(r: Rng): OutEnvelope[] {
  const meta = encodeMetadata({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const env = (type: MessageType, over: Partial<OutEnvelope> = {}): OutEnvelope => ({
    type,
    flags: 0,
    encoding: 1,
    id: 1 + r.int(1000),
    pattern: undefined,
    metadata: undefined,
    deadline: undefined,
    payload: Buffer.from(JSON.stringify(hostile(r))),
    ...over,
  });
  return [
    env(MessageType.Request, { pattern: encodePattern('echo'), metadata: meta, flags: 0x02, deadline: 1000 }),
    env(MessageType.Event, { pattern: encodePattern(r.pick(['note', 'nobody'])) }),
    env(MessageType.Chunk),
    env(MessageType.Credit, { encoding: 0, payload: Buffer.from([0, 0, 0, 8]) }),
    env(MessageType.Cancel, { encoding: 0, payload: Buffer.alloc(0) }),
    env(MessageType.Ping, { id: 0, encoding: 0, payload: Buffer.alloc(0) }),
  ];
}

class Host implements ServerHost<string> {
  runs = 0;
  requestHandler(pattern: string): string | null {
    return pattern === 'echo' ? 'echo' : null;
  }
  served() {
    return { patterns: ['echo'], events: ['note'] };
  }
  servesEvent(pattern: string): boolean {
    return pattern === 'note';
  }
  runRequest(call: ServerCall): void {
    this.runs++;
    call.respond('ok');
  }
  runEvent(): void {
    this.runs++;
  }
}

/** Runs `fn`; anything thrown but MalformedError fails with the seed and the input. */
function onlyMalformed(what: string, input: Buffer, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MalformedError) return undefined;
    throw new Error(`${what} threw ${String(err)} (FUZZ_SEED=${SEED}) on ${input.toString('hex').slice(0, 400)}`);
  }
}

beforeAll(() => loadMsgpack());

describe('fuzzing a real server', () => {
  const h = new Harness();
  afterAll(() => h.closeAll());

  it('mutated messages from a session leave the server alive and serving its other clients', async () => {
    const r = rng(SEED + 3);
    const { server, endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      imports: [VictimModule],
      options: { codec: 'msgpack' },
    });
    const victim = await h.connectClient(endpoint, { id: 'victim', codec: 'msgpack' });
    const n = SOAK ? 50_000 : 500;
    let attacker = h.track(new RawPeer(endpoint));
    await attacker.hello({ features: ['msgpack', 'credit', 'deadline', 'bye-ack', 'drain'], window: 4 });
    for (let i = 0; i < n; i++) {
      const frames: Buffer[] = [];
      for (const env of corpus(r).slice(0, 1 + r.int(4))) {
        const header = encodeHeader(env);
        const payload = payloadFrame(env);
        frames.push(
          r.int(2) === 0 ? mutate(r, header, payload) : header,
          r.int(2) === 0 ? mutate(r, payload, header) : payload,
        );
      }
      await attacker.send(frames);
      if (i % 100 === 99) {
        // A mutated BYE may have ended the session: a fresh attacker goes on.
        attacker.close();
        attacker = h.track(new RawPeer(endpoint));
        await attacker.hello({ features: ['msgpack'] });
      }
    }
    expect(await firstValueFrom(victim.send('echo', { after: n }))).toEqual({ after: n });
    expect(server.getPeers().some(p => p.peerId === 'victim')).toBe(true);
  });
});

describe(`fuzzing (seed ${SEED}, ${ROUNDS} inputs per target)`, () => {
  it('the envelope decoder throws nothing but MalformedError', () => {
    const r = rng(SEED);
    const seeds = corpus(r).map(e => [encodeHeader(e), payloadFrame(e)] as const);
    for (let i = 0; i < ROUNDS; i++) {
      const [h, p] = r.pick(seeds);
      const [oh] = r.pick(seeds);
      const header = mutate(r, h, oh);
      onlyMalformed('decodeEnvelope', header, () => decodeEnvelope(header, p, 1 << 20));
    }
  });

  it('the payload decoders (JSON, MessagePack, text) throw nothing but MalformedError; the scanner passes every packed value', () => {
    const r = rng(SEED + 1);
    const codec = msgpackCodec()!;
    for (let i = 0; i < ROUNDS; i++) {
      const value = hostile(r);
      const packed = codec.pack(value instanceof Object && r.int(2) === 0 ? new Map(Object.entries(value)) : value);
      expect(expansionProblem('msgpack', packed)).toBeUndefined();
      const json = Buffer.from(JSON.stringify(value) ?? 'null');
      const [encoding, bytes] = r.pick([
        [4, mutate(r, packed, json)],
        [1, mutate(r, json, packed)],
        [3, mutate(r, json, packed)],
      ] as const);
      onlyMalformed(`decodePayload(${encoding})`, bytes, () => decodePayload(encoding, bytes, 1, true));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a CURVE server engine survives mutated HELLOs and envelopes, answers each envelope at most once, and still welcomes', async () => {
    const r = rng(SEED + 2);
    const server = generateCurveKeyPair();
    const clients = [generateCurveKeyPair(), generateCurveKeyPair()];
    const authority = new KeyAuthority('*', { refused: () => undefined, error: () => undefined });
    const host = new Host();
    const s = await listeningEngine(
      host,
      serverConfig(1 << 20, HB, { msgpack: true, stream: { window: 16, bufferLimit: 1 << 20 } }),
      {
        authorize: helloAuthorizer(server, authority, { acceptUnbound: true }),
      },
    );
    const rounds = Math.floor(ROUNDS / 3);
    for (let i = 0; i < rounds; i++) {
      const routingId = Buffer.from([0, 9, 9, r.int(8), r.int(256)]);
      const hello = Buffer.from(JSON.stringify(helloValue(r, r.pick(clients), server.publicKey)));
      const hEnv: OutEnvelope = {
        type: MessageType.Hello,
        flags: 0,
        encoding: 1,
        id: 0,
        pattern: undefined,
        metadata: undefined,
        deadline: undefined,
        payload: hello,
      };
      const frames: Buffer[] = [routingId];
      const mutated = r.int(3) === 0;
      frames.push(encodeHeader(hEnv), mutated ? mutate(r, hello, hello) : hello);
      for (const env of corpus(r).slice(0, r.int(4))) {
        const header = encodeHeader(env);
        frames.push(r.int(2) === 0 ? mutate(r, header, header) : header, payloadFrame(env));
      }
      const before = s.ch.to(routingId).length;
      try {
        s.ch.deliverFrames(frames);
      } catch (err) {
        throw new Error(`the engine threw ${String(err)} (FUZZ_SEED=${SEED}, input ${i})`);
      }
      const answers = s.ch
        .to(routingId)
        .slice(before)
        .filter(e => e.type === MessageType.Welcome || (e.type === MessageType.Error && e.id === 0));
      expect(answers.length).toBeLessThanOrEqual((frames.length - 1) / 2); // one answer per envelope at most
    }
    expect(s.engine.sessions.size).toBeLessThanOrEqual(rounds);
    const fresh = Buffer.from([0, 7, 7, 7, 7]);
    const pair = clients[0]!;
    const good = {
      version: 1,
      id: 'final',
      instance: 'f/0',
      metadata: {},
      heartbeat: HB,
      features: ['curve-key'],
      curve: helloProof(pair, server.publicKey, 'final', 'f/0'),
    };
    s.ch.deliverFrames([
      fresh,
      encodeHeader({
        type: MessageType.Hello,
        flags: 0,
        encoding: 1,
        id: 0,
        pattern: undefined,
        metadata: undefined,
        deadline: undefined,
        payload: Buffer.alloc(0),
      }),
      Buffer.from(JSON.stringify(good)),
    ]);
    expect(s.ch.to(fresh).at(-1)?.type).toBe(MessageType.Welcome);
  });
});
