/**
 * Bad input from a hand-driven zeromq.js DEALER against a real ServerZmq.
 *
 * Synchronization: ZeroMQ keeps the order of messages on one connection and
 * the server handles each message synchronously, so once the reply to a
 * message sent after the bad one arrives (PONG for a registered peer, WELCOME
 * for a fresh one), the bad message has been handled. No sleeps.
 */
import 'reflect-metadata';
import { connect as netConnect, Socket as NetSocket } from 'node:net';
import { Controller, Module } from '@nestjs/common';
import { silentLogger } from '../helpers/nest';

const noop = () => undefined;
import { EMPTY, ENC, header, helloPayload, json, ParsedEnvelope, parseEnvelopes, dropDelta, T } from '../helpers/wire';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { INestMicroservice } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import { Dealer } from 'zeromq';
import { ClientZmq, DropCounts, ServerZmq } from 'nestjs-zeromq';

const MAX_PAYLOAD = 512;

let peerSeq = 0;

/** A DEALER driven by hand. */
class RawPeer {
  readonly sock = new Dealer({ linger: 0, receiveTimeout: 5_000, sendTimeout: 5_000 });
  readonly id = `raw-${process.pid}-${++peerSeq}`;
  /** Replies received while waiting for a sync reply. */
  readonly seen: ParsedEnvelope[] = [];

  constructor(endpoint: string) {
    this.sock.connect(endpoint);
  }

  send(frames: Buffer[]): Promise<void> {
    return this.sock.send(frames);
  }

  /** Receives until a reply matches, keeping the others in `seen` (bounded count). */
  async until(match: (r: ParsedEnvelope) => boolean, maxMessages = 50): Promise<ParsedEnvelope> {
    for (let n = 0; n < maxMessages; n++) {
      for (const r of parseEnvelopes(await this.sock.receive(), 0)) {
        if (match(r)) return r;
        this.seen.push(r);
      }
    }
    throw new Error(`no matching reply within ${maxMessages} messages`);
  }

  async hello(): Promise<ParsedEnvelope> {
    await this.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload(this.id)]);
    return this.until(r => r.type === T.WELCOME || (r.type === T.ERROR && r.id === 0));
  }

  /** For a registered peer: PING, wait for PONG. */
  async syncReady(maxMessages = 50): Promise<void> {
    await this.send([header(T.PING), EMPTY]);
    await this.until(r => r.type === T.PONG, maxMessages);
  }

  close(): void {
    this.sock.close();
  }
}

const calls = { echo: 0, audit: 0 };

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown) {
    calls.echo++;
    return data;
  }

  @EventPattern('audit')
  audit(@Payload() _data: unknown) {
    calls.audit++;
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

let app: INestMicroservice;
let server: ServerZmq;
let endpoint: string;
let good: ClientZmq;
const raws: RawPeer[] = [];
const sockets: NetSocket[] = [];

function raw(): RawPeer {
  const p = new RawPeer(endpoint);
  raws.push(p);
  return p;
}

async function readyPeer(): Promise<RawPeer> {
  const p = raw();
  const welcome = await p.hello();
  expect(welcome.type).toBe(T.WELCOME);
  return p;
}

function dropped(): DropCounts {
  return server.getStats().dropped;
}

function delta(before: DropCounts): Partial<DropCounts> {
  return dropDelta(before, dropped());
}

let n = 0;
async function expectStillServing(): Promise<void> {
  const before = calls.echo;
  const value = { n: ++n, s: 'ok' };
  expect(await firstValueFrom(good.send('echo', value))).toEqual(value);
  expect(calls.echo).toBe(before + 1);
}

beforeAll(async () => {
  const mod = await Test.createTestingModule({ imports: [EchoModule] })
    .setLogger(silentLogger)
    .compile();
  server = new ServerZmq({ bind: 'tcp://127.0.0.1:*', maxPayloadSize: MAX_PAYLOAD });
  app = mod.createNestMicroservice({ strategy: server, logger: false });
  await app.listen();
  endpoint = server.endpoints[0]!;
  expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  good = new ClientZmq({ connect: endpoint, requestTimeout: 5_000 });
  await good.connect();
});

afterEach(async () => {
  for (const p of raws.splice(0)) p.close();
  for (const s of sockets.splice(0)) s.destroy();
  // Whatever the bad input was, the server still answers a well-behaved client.
  await expectStillServing();
});

afterAll(async () => {
  await good?.close();
  await app?.close();
});

describe('malformed messages from a registered peer are dropped and counted', () => {
  const cases: Array<[string, () => Buffer[], Partial<DropCounts>]> = [
    ['a single frame (odd frame count)', () => [header(T.PING)], { frameCount: 1 }],
    ['three frames (odd frame count)', () => [header(T.PING), EMPTY, header(T.PING)], { frameCount: 1 }],
    ['an empty header and payload', () => [EMPTY, EMPTY], { header: 1 }],
    ['a short header', () => [Buffer.from([1, T.REQUEST, 0, 1, 0]), EMPTY], { header: 1 }],
    ['an unknown version on a PING', () => [header(T.PING, { version: 2 }), EMPTY], { version: 1 }],
    ['an unknown type', () => [header(12), EMPTY], { type: 1 }],
    ['type 0', () => [header(0), EMPTY], { type: 1 }],
    ['an unknown flag', () => [header(T.PING, { flags: 0x10 }), EMPTY], { header: 1 }],
    ['an unknown encoding', () => [header(T.PING, { enc: 7 }), EMPTY], { header: 1 }],
    ['a request without id', () => [header(T.REQUEST, { enc: ENC.JSON, pattern: 'echo' }), json(1)], { header: 1 }],
    ['trailing header bytes', () => [Buffer.concat([header(T.PING), Buffer.from([0])]), EMPTY], { header: 1 }],
    ['NONE with a payload', () => [header(T.PING), Buffer.from('x')], { payload: 1 }],
    [
      'an event with non-string metadata',
      () => [header(T.EVENT, { enc: ENC.JSON, pattern: 'audit', meta: '{"a":1}' }), json(1)],
      { metadata: 1 },
    ],
    [
      'an event with metadata that is not JSON',
      () => [header(T.EVENT, { enc: ENC.JSON, pattern: 'audit', meta: '{a' }), json(1)],
      { metadata: 1 },
    ],
    [
      'an event whose payload is not JSON',
      () => [header(T.EVENT, { enc: ENC.JSON, pattern: 'audit' }), Buffer.from('{nope')],
      { payload: 1 },
    ],
    [
      'an oversized event',
      () => [header(T.EVENT, { enc: ENC.RAW, pattern: 'audit' }), Buffer.alloc(MAX_PAYLOAD + 1)],
      { oversized: 1 },
    ],
    // A client's CHUNK is a request stream's value (§5.9); for an id with no request stream it is late.
    ['a CHUNK sent to the server', () => [header(T.CHUNK, { id: 3, enc: ENC.JSON }), json(1)], { lateReply: 1 }],
    ['a WELCOME sent to the server', () => [header(T.WELCOME, { enc: ENC.JSON }), json({})], { unexpected: 1 }],
    [
      // Of another version only bytes 0 and 1 are read (§3): its id is unknown, so no MALFORMED reply.
      'a request of another version inside a session',
      () => [header(T.REQUEST, { version: 2, id: 7, enc: ENC.JSON, pattern: 'echo' }), json(1)],
      { version: 1 },
    ],
    [
      'a good envelope followed by a bad one in the same message',
      () => [header(T.PONG), EMPTY, header(T.PONG, { version: 9 }), EMPTY],
      { version: 1 },
    ],
  ];

  it.each(cases)('%s', async (_name, frames, expected) => {
    const peer = await readyPeer();
    const before = dropped();
    const handled = { ...calls };
    await peer.send(frames());
    await peer.syncReady();
    expect(delta(before)).toEqual(expected);
    expect(calls).toEqual(handled);
    expect(peer.seen).toEqual([]); // no reply to a message without a readable request id
  });

  it("[W-5] one empty frame is ZMQ_ROUTER_NOTIFY's closed-connection notice: the sender's session ends, no handler runs", async () => {
    const peer = await readyPeer();
    const left = new Promise<{ reason?: string }>(resolve =>
      server.on('peer:left', e => e.peerId === peer.id && resolve(e)),
    );
    const handled = { ...calls };
    await peer.send([EMPTY]);
    expect(await left).toMatchObject({ reason: 'disconnect' });
    expect(calls).toEqual(handled);
  });
});

describe('malformed requests with a readable id get a MALFORMED reply', () => {
  const cases: Array<[string, (id: number) => Buffer[], Partial<DropCounts>]> = [
    ['a request without pattern', id => [header(T.REQUEST, { id, enc: ENC.JSON }), json(1)], { header: 1 }],
    [
      'a request with a truncated pattern',
      id => [header(T.REQUEST, { id, enc: ENC.JSON, pattern: 'echo' }).subarray(0, 12), json(1)],
      { header: 1 },
    ],
    [
      'a request payload that is not JSON',
      id => [header(T.REQUEST, { id, enc: ENC.JSON, pattern: 'echo' }), Buffer.from('{"a":')],
      { payload: 1 },
    ],
    [
      'a request payload that is invalid UTF-8',
      id => [header(T.REQUEST, { id, enc: ENC.JSON, pattern: 'echo' }), Buffer.from([0xff, 0xfe])],
      { payload: 1 },
    ],
    [
      'a request with non-string metadata',
      id => [header(T.REQUEST, { id, enc: ENC.JSON, pattern: 'echo', meta: '{"trace":{"x":1}}' }), json(1)],
      { metadata: 1 },
    ],
    [
      'a request with array metadata',
      id => [header(T.REQUEST, { id, enc: ENC.JSON, pattern: 'echo', meta: '["a"]' }), json(1)],
      { metadata: 1 },
    ],
    [
      'an oversized request (maxPayloadSize)',
      id => [header(T.REQUEST, { id, enc: ENC.RAW, pattern: 'echo' }), Buffer.alloc(MAX_PAYLOAD + 1, 0x61)],
      { oversized: 1 },
    ],
  ];

  it.each(cases)('%s', async (_name, frames, expected) => {
    const peer = await readyPeer();
    const before = dropped();
    const handled = { ...calls };
    const id = 0x7000 + Math.floor(Math.random() * 0x1000);
    await peer.send(frames(id));
    const reply = await peer.until(r => r.id === id);
    expect(reply.type).toBe(T.ERROR);
    // Only its size is wrong with an oversized request: TOO_LARGE; anything else is MALFORMED.
    const code = expected.oversized === 1 ? 'TOO_LARGE' : 'MALFORMED';
    expect(reply.body).toMatchObject({ status: 'error', code, message: expect.any(String) });
    await peer.syncReady();
    expect(delta(before)).toEqual(expected);
    expect(calls).toEqual(handled);
    expect(peer.seen).toEqual([]);
    expect(server.getStats().inFlight).toBe(0);
  });
});

describe('messages before the handshake', () => {
  it('[S-9] answers a request before HELLO with NOT_READY and runs no handler', async () => {
    const peer = raw();
    const before = dropped();
    const handled = { ...calls };
    await peer.send([header(T.REQUEST, { id: 77, enc: ENC.JSON, pattern: 'echo' }), json('hi')]);
    const reply = await peer.until(r => r.id === 77);
    expect(reply.type).toBe(T.ERROR);
    expect(reply.body).toMatchObject({ status: 'error', code: 'NOT_READY' });
    expect(delta(before)).toEqual({ notReady: 1 });
    expect(calls).toEqual(handled);
  });

  it('drops an event, a PING and a CANCEL before HELLO; only the PING is answered, with NOT_READY (handshake first)', async () => {
    const peer = raw();
    const before = dropped();
    const handled = { ...calls };
    await peer.send([header(T.EVENT, { enc: ENC.JSON, pattern: 'audit' }), json(1)]);
    await peer.send([header(T.PING), EMPTY]);
    await peer.send([header(T.CANCEL, { id: 5 }), EMPTY]);
    await peer.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload(peer.id)]);
    await peer.until(r => r.type === T.WELCOME); // sync: the HELLO is handled after them
    expect(peer.seen).toHaveLength(1);
    expect(peer.seen[0]).toMatchObject({ type: T.ERROR, id: 0, body: { code: 'NOT_READY' } });
    expect(delta(before)).toEqual({ notReady: 3 });
    expect(calls).toEqual(handled);
  });
});

describe('handshake refusals', () => {
  async function expectRefusal(frames: Buffer[], code: string, expected: Partial<DropCounts>): Promise<RawPeer> {
    const peer = raw();
    const before = dropped();
    // Peers of earlier tests may leave meanwhile (the ROUTER reports closed connections): compare ids, not counts.
    const known = new Set(server.getPeers().map(p => p.peerId));
    await peer.send(frames);
    const reply = await peer.until(r => r.type === T.ERROR && r.id === 0);
    expect(reply.version).toBe(1);
    expect(reply.body).toMatchObject({ status: 'error', code, message: expect.any(String), version: 1 });
    expect(delta(before)).toEqual(expected);
    expect(server.getPeers().filter(p => !known.has(p.peerId))).toEqual([]); // nobody joined
    return peer;
  }

  it('refuses a HELLO whose header says version 2 with VERSION_MISMATCH', async () => {
    const peer = raw();
    await expectRefusal(
      [header(T.HELLO, { version: 2, enc: ENC.JSON }), helloPayload(peer.id, 2)],
      'VERSION_MISMATCH',
      { version: 1 },
    );
  });

  it('refuses a HELLO whose JSON says version 2 with VERSION_MISMATCH', async () => {
    await expectRefusal([header(T.HELLO, { enc: ENC.JSON }), helloPayload('json-v2', 2)], 'VERSION_MISMATCH', {
      version: 1,
    });
  });

  it('refuses a HELLO whose payload is not JSON with HANDSHAKE_REFUSED', async () => {
    await expectRefusal([header(T.HELLO, { enc: ENC.JSON }), Buffer.from('{"version":')], 'HANDSHAKE_REFUSED', {
      payload: 1,
    });
  });

  it('refuses a HELLO without heartbeat settings with HANDSHAKE_REFUSED', async () => {
    await expectRefusal([header(T.HELLO, { enc: ENC.JSON }), json({ version: 1, id: 'x' })], 'HANDSHAKE_REFUSED', {
      payload: 1,
    });
  });

  it('still treats a refused peer as unregistered', async () => {
    const peer = await expectRefusal(
      [header(T.HELLO, { enc: ENC.JSON }), helloPayload('refused-then-request', 2)],
      'VERSION_MISMATCH',
      { version: 1 },
    );
    await peer.send([header(T.REQUEST, { id: 5, enc: ENC.JSON, pattern: 'echo' }), json(1)]);
    const reply = await peer.until(r => r.id === 5);
    expect(reply.body).toMatchObject({ code: 'NOT_READY' });
  });

  it('accepts a HELLO larger than maxPayloadSize (the handshake has its own limit)', async () => {
    const peer = raw();
    const bigHello = json({
      version: 1,
      id: peer.id,
      metadata: { pad: 'x'.repeat(MAX_PAYLOAD) },
      heartbeat: { interval: 1000, liveness: 3 },
    });
    await peer.send([header(T.HELLO, { enc: ENC.JSON }), bigHello]);
    const reply = await peer.until(r => r.type === T.WELCOME || r.type === T.ERROR);
    expect(reply.type).toBe(T.WELCOME);
  });
});

const FUZZ_TYPES = [T.REQUEST, T.CHUNK, T.END, T.ERROR, T.EVENT, T.CANCEL, T.PONG];
const FUZZ_AVOID = new Set([T.HELLO, T.PING, T.BYE]);

describe('seeded random frames', () => {
  it('[W-24] never run a handler and never stop the server', async () => {
    let a = 0x5eed;
    const rand = () => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      return a / 4294967296;
    };
    const peer = await readyPeer();
    const handled = { ...calls };
    const before = dropped();
    for (let m = 0; m < 200; m++) {
      const frames: Buffer[] = [];
      const count = Math.floor(rand() * 5);
      for (let f = 0; f < count; f++) {
        const len = Math.floor(rand() * 24);
        const b = Buffer.alloc(len);
        for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
        // Mostly version 1 and a known type, so the deeper checks run too;
        // never HELLO or BYE (which could legitimately end the session) nor
        // PING (whose PONG would end the sync below too early).
        if (len > 0 && rand() < 0.8) b[0] = 1;
        if (len > 1)
          b[1] = rand() < 0.8 ? FUZZ_TYPES[Math.floor(rand() * FUZZ_TYPES.length)]! : FUZZ_AVOID.has(b[1]!) ? 0 : b[1]!;
        frames.push(b);
      }
      // (Never one empty frame: that is ZMQ_ROUTER_NOTIFY's closed-connection notice, see below.)
      if (frames.length === 0 || (frames.length === 1 && frames[0]!.length === 0))
        frames.splice(0, 1, Buffer.from([0]));
      await peer.send(frames);
    }
    await peer.syncReady(1_000);
    expect(calls).toEqual(handled);
    const d = delta(before);
    expect(Object.values(d).reduce((s, v) => s + (v ?? 0), 0)).toBeGreaterThan(0);
  });
});

describe('garbage on the TCP port', () => {
  async function sendRaw(bytes: Buffer): Promise<void> {
    const port = Number(endpoint.split(':').pop());
    const sock = netConnect({ host: '127.0.0.1', port });
    sockets.push(sock);
    sock.on('error', noop);
    sock.resume(); // read (and discard) libzmq's greeting, so its FIN is seen
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    await new Promise<void>(resolve => sock.write(bytes, () => resolve()));
    // libzmq closes a connection whose greeting it cannot accept; otherwise we
    // hang up ourselves. Either way the server must keep serving (afterEach).
    await new Promise<void>(resolve => {
      if (sock.destroyed) return resolve();
      sock.once('close', () => resolve());
      sock.end();
    });
  }

  it.each<[string, Buffer]>([
    ['an HTTP GET', Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')],
    ['random bytes', Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 151 + 7) & 0xff))],
    [
      'a ZMTP signature with a bogus mechanism',
      Buffer.concat([
        Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0]),
        Buffer.from('BOGUS'.padEnd(20, '\0')),
        Buffer.alloc(32),
      ]),
    ],
  ])('%s reaches no handler', async (_name, bytes) => {
    const handled = { ...calls };
    await sendRaw(bytes);
    // A registered raw peer still round-trips after the garbage connection. (Peers of earlier tests, whose
    // sockets closed, may leave meanwhile: the ROUTER reports closed connections.)
    const peer = await readyPeer();
    await peer.syncReady();
    expect(calls).toEqual(handled);
    expect(server.getPeers().map(p => p.peerId)).toContain(peer.id);
  });
});
