/**
 * Bad replies from a hand-driven zeromq.js ROUTER (a fake server) against a
 * real ClientZmq.
 *
 * Synchronization: the fake server sends PING after the bad message and waits
 * for the client's PONG. ZeroMQ keeps the order of messages on one connection
 * and the client handles each message synchronously, so by then the bad
 * message has been handled. No sleeps.
 */
import 'reflect-metadata';
import { firstValueFrom, Observable } from 'rxjs';
import { Router } from 'zeromq';
import {
  ClientZmq,
  DropCounts,
  ZmqError,
  ZmqHandshakeRefusedError,
  ZmqProtocolError,
  ZmqVersionMismatchError,
} from 'nestjs-zeromq';
import { Logger } from '@nestjs/common';
import { silentLogger } from '../helpers/nest';

const noop = () => undefined;
import { EMPTY, ENC, FLAG_END, header, json, ParsedEnvelope, parseEnvelopes, dropDelta, T } from '../helpers/wire';

const MAX_PAYLOAD = 512;

/** A ROUTER acting as a server, driven by hand. */
class FakeServer {
  readonly sock = new Router({ linger: 0, mandatory: true, receiveTimeout: 5_000, sendTimeout: 5_000 });
  endpoint = '';
  /** Routing id of the (single) client. */
  rid: Buffer = EMPTY;
  /** Messages received while waiting for something else. */
  readonly seen: ParsedEnvelope[] = [];

  async bind(): Promise<void> {
    await this.sock.bind('tcp://127.0.0.1:*');
    this.endpoint = this.sock.lastEndpoint!;
  }

  /** Receives until an envelope matches, keeping the others in `seen` (bounded). */
  async until(match: (m: ParsedEnvelope) => boolean, maxMessages = 50): Promise<ParsedEnvelope> {
    for (let n = 0; n < maxMessages; n++) {
      const frames = await this.sock.receive();
      this.rid = frames[0]!;
      for (const m of parseEnvelopes(frames, 1)) {
        if (match(m)) return m;
        this.seen.push(m);
      }
    }
    throw new Error(`no matching message within ${maxMessages} messages`);
  }

  send(frames: Buffer[]): Promise<void> {
    return this.sock.send([this.rid, ...frames]);
  }

  async welcome(): Promise<void> {
    const hello = await this.until(m => m.type === T.HELLO);
    expect(hello.body).toMatchObject({
      version: 1,
      id: expect.any(String),
      heartbeat: { interval: expect.any(Number), liveness: expect.any(Number) },
    });
    await this.send([
      header(T.WELCOME, { enc: ENC.JSON }),
      json({
        version: 1,
        id: 'fake-server',
        metadata: {},
        heartbeat: { interval: 1000, liveness: 3 },
        patterns: ['echo'],
        events: [],
      }),
    ]);
  }

  /** PING, then wait for the client's PONG. */
  async sync(): Promise<void> {
    await this.send([header(T.PING), EMPTY]);
    await this.until(m => m.type === T.PONG);
  }

  close(): void {
    this.sock.close();
  }
}

let fake: FakeServer;
let client: ClientZmq;

/** A call whose outcome is recorded; `settled` tells whether anything came back. */
function track<T>(obs: Observable<T>) {
  const state = { values: [] as T[], error: undefined as unknown, done: false, settled: false };
  const promise = new Promise<void>(resolve => {
    obs.subscribe({
      next: v => state.values.push(v),
      error: e => {
        state.error = e;
        state.settled = true;
        resolve();
      },
      complete: () => {
        state.done = true;
        state.settled = true;
        resolve();
      },
    });
  });
  return { state, promise };
}

function dropped(): DropCounts {
  return client.getStats().dropped;
}

function delta(before: DropCounts): Partial<DropCounts> {
  return dropDelta(before, dropped());
}

/** The client sends a request; the fake server answers it correctly. */
async function expectStillWorking(): Promise<void> {
  const value = { ok: true, n: Math.random() };
  const reply = firstValueFrom(client.send('echo', value));
  const req = await fake.until(m => m.type === T.REQUEST);
  expect(req.pattern).toBe('echo');
  expect(req.body).toEqual(value);
  await fake.send([header(T.CHUNK, { id: req.id, flags: FLAG_END, enc: ENC.JSON }), json(req.body)]);
  expect(await reply).toEqual(value);
}

/** Sends a request and returns it as seen by the fake server. */
async function pendingCall(data: unknown = 1) {
  const call = track(client.send('echo', data));
  const req = await fake.until(m => m.type === T.REQUEST);
  return { call, id: req.id };
}

beforeAll(() => {
  Logger.overrideLogger(silentLogger);
});

describe('a connected client', () => {
  beforeEach(async () => {
    fake = new FakeServer();
    await fake.bind();
    client = new ClientZmq({
      connect: fake.endpoint,
      maxPayloadSize: MAX_PAYLOAD,
      requestTimeout: 10_000,
      connectTimeout: 10_000,
      linger: 0,
    });
    const connected = client.connect();
    await fake.welcome();
    await connected;
  });

  afterEach(async () => {
    try {
      await expectStillWorking();
      expect(client.getStats().inFlight).toBe(0);
    } finally {
      await client.close();
      fake.close();
    }
  });

  const dropCases: Array<[string, () => Buffer[], Partial<DropCounts>]> = [
    ['a single frame (odd frame count)', () => [header(T.PONG)], { frameCount: 1 }],
    ['three frames (odd frame count)', () => [header(T.PONG), EMPTY, header(T.PONG)], { frameCount: 1 }],
    ['an empty message (one empty frame)', () => [EMPTY], { frameCount: 1 }],
    ['an empty header and payload', () => [EMPTY, EMPTY], { header: 1 }],
    ['a short header', () => [Buffer.from([1, T.CHUNK, 0]), EMPTY], { header: 1 }],
    ['an unknown version', () => [header(T.PONG, { version: 3 }), EMPTY], { version: 1 }],
    ['an unknown type', () => [header(200), EMPTY], { type: 1 }],
    ['an unknown flag', () => [header(T.END, { id: 4, flags: 0x40 }), EMPTY], { header: 1 }],
    ['an END without id', () => [header(T.END), EMPTY], { header: 1 }],
    ['a pattern on a CHUNK', () => [header(T.CHUNK, { id: 4, enc: ENC.JSON, pattern: 'x' }), json(1)], { header: 1 }],
    ['bad metadata', () => [header(T.PONG, { meta: '{"a":[1]}' }), EMPTY], { metadata: 1 }],
    ['metadata that is not JSON', () => [header(T.PONG, { meta: 'nope' }), EMPTY], { metadata: 1 }],
    [
      'an oversized chunk for no request',
      () => [header(T.CHUNK, { id: 999, enc: ENC.RAW }), Buffer.alloc(MAX_PAYLOAD + 1)],
      { oversized: 1 },
    ],
    [
      'a CHUNK for an unknown request id',
      () => [header(T.CHUNK, { id: 4242, enc: ENC.JSON }), json('late')],
      { lateReply: 1 },
    ],
    [
      'a last CHUNK for an unknown request id',
      () => [header(T.CHUNK, { id: 4243, flags: FLAG_END, enc: ENC.JSON }), json('late')],
      { lateReply: 1 },
    ],
    ['an END for an unknown request id', () => [header(T.END, { id: 4244 }), EMPTY], { lateReply: 1 }],
    [
      'an ERROR for an unknown request id',
      () => [header(T.ERROR, { id: 4245, enc: ENC.JSON }), json({ message: 'x' })],
      { lateReply: 1 },
    ],
    [
      'a REQUEST sent to a client',
      () => [header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'echo' }), json(1)],
      { unexpected: 1 },
    ],
    [
      'an EVENT sent to a client',
      () => [header(T.EVENT, { enc: ENC.JSON, pattern: 'audit' }), json(1)],
      { unexpected: 1 },
    ],
    [
      'a connection ERROR that is not JSON',
      () => [header(T.ERROR, { enc: ENC.JSON }), Buffer.from('{')],
      { payload: 1 },
    ],
    ['a WELCOME that is not valid', () => [header(T.WELCOME, { enc: ENC.JSON }), json({ version: 1 })], { payload: 1 }],
  ];

  it.each(dropCases)('drops and counts %s without touching a pending call', async (_name, frames, expected) => {
    const { call, id } = await pendingCall();
    const before = dropped();
    await fake.send(frames());
    await fake.sync();
    expect(delta(before)).toEqual(expected);
    expect(call.state.settled).toBe(false);
    expect(call.state.values).toEqual([]);
    expect(client.getStats().peers).toBe(1);
    // Answer the pending call so it ends cleanly.
    await fake.send([header(T.CHUNK, { id, flags: FLAG_END, enc: ENC.JSON }), json('done')]);
    await call.promise;
    expect(call.state.values).toEqual(['done']);
    expect(call.state.error).toBeUndefined();
    expect(fake.seen.filter(m => m.type === T.CANCEL)).toEqual([]);
  });

  const failCases: Array<[string, (id: number) => Buffer[], Partial<DropCounts>]> = [
    ['an undecodable CHUNK', id => [header(T.CHUNK, { id, enc: ENC.JSON }), Buffer.from('{"broken":')], { payload: 1 }],
    [
      'an undecodable last CHUNK',
      id => [header(T.CHUNK, { id, flags: FLAG_END, enc: ENC.JSON }), Buffer.from([0xff])],
      { payload: 1 },
    ],
    [
      'a CHUNK with bad metadata',
      id => [header(T.CHUNK, { id, enc: ENC.JSON, meta: '{"k":1}' }), json(1)],
      { metadata: 1 },
    ],
    [
      'a CHUNK with trailing header bytes',
      id => [Buffer.concat([header(T.CHUNK, { id, enc: ENC.JSON }), Buffer.from([0])]), json(1)],
      { header: 1 },
    ],
    ['a CHUNK of an unknown encoding', id => [header(T.CHUNK, { id, enc: 9 }), json(1)], { header: 1 }],
    [
      'an oversized CHUNK',
      id => [header(T.CHUNK, { id, enc: ENC.RAW }), Buffer.alloc(MAX_PAYLOAD + 1)],
      { oversized: 1 },
    ],
  ];

  it.each(failCases)(
    'fails the pending call with MALFORMED on %s (never a silent gap)',
    async (_name, frames, expected) => {
      const { call, id } = await pendingCall();
      const before = dropped();
      // A good chunk first: the stream is in progress when the bad one comes.
      await fake.send([header(T.CHUNK, { id, enc: ENC.JSON }), json('first')]);
      await fake.send(frames(id));
      await call.promise;
      expect(call.state.values).toEqual(['first']);
      expect(call.state.done).toBe(false);
      expect(call.state.error).toBeInstanceOf(ZmqProtocolError);
      expect(call.state.error).toBeInstanceOf(ZmqError);
      expect((call.state.error as ZmqError).code).toBe('MALFORMED');
      await fake.sync();
      expect(delta(before)).toEqual(expected);
      // Anything the server sends for that id afterwards is a late reply.
      const late = dropped();
      await fake.send([header(T.END, { id }), EMPTY]);
      await fake.sync();
      expect(delta(late)).toEqual({ lateReply: 1 });
    },
  );

  it('tells the server to stop a stream whose chunk it could not decode', async () => {
    const { call, id } = await pendingCall();
    await fake.send([header(T.CHUNK, { id, enc: ENC.JSON }), Buffer.from('not json')]);
    await call.promise;
    const cancel = await fake.until(m => m.type === T.CANCEL);
    expect(cancel.id).toBe(id);
  });

  it('fails only the call a malformed reply belongs to', async () => {
    const a = await pendingCall('a');
    const b = await pendingCall('b');
    await fake.send([header(T.CHUNK, { id: a.id, enc: ENC.JSON }), Buffer.from('{')]);
    await a.call.promise;
    expect((a.call.state.error as ZmqError).code).toBe('MALFORMED');
    await fake.sync();
    expect(b.call.state.settled).toBe(false);
    await fake.send([header(T.CHUNK, { id: b.id, flags: FLAG_END, enc: ENC.JSON }), json('b')]);
    await b.call.promise;
    expect(b.call.state.values).toEqual(['b']);
  });

  it('[W-24] survives seeded random frames without settling a pending call wrongly', async () => {
    const { call, id } = await pendingCall();
    let a = 0xbad5eed;
    const rand = () => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      return a / 4294967296;
    };
    const before = dropped();
    for (let m = 0; m < 200; m++) {
      const frames: Buffer[] = [];
      const count = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < count; f++) {
        const len = Math.floor(rand() * 24);
        const b = Buffer.alloc(len);
        for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
        if (len > 0 && rand() < 0.8) b[0] = 1;
        // Never PING (its PONG would end the sync early), BYE or ERROR
        // (which could legitimately end the session), nor the pending id.
        if (len > 1 && [T.PING, T.BYE, T.ERROR].includes(b[1]!)) b[1] = T.PONG;
        if (len > 7 && b.readUInt32BE(4) === id) b.writeUInt32BE(id + 1, 4);
        frames.push(b);
      }
      await fake.send(frames);
    }
    await fake.sync();
    const d = delta(before);
    expect(Object.values(d).reduce((s, v) => s + (v ?? 0), 0)).toBeGreaterThan(0);
    expect(call.state.settled).toBe(false);
    await fake.send([header(T.END, { id }), EMPTY]);
    await call.promise;
    expect(call.state.done).toBe(true);
  });
});

describe('handshake failures', () => {
  beforeEach(async () => {
    fake = new FakeServer();
    await fake.bind();
    // A connect timeout far beyond Jest's test timeout: a refusal must reject at once.
    client = new ClientZmq({ connect: fake.endpoint, connectTimeout: 120_000, linger: 0 });
  });

  afterEach(async () => {
    await client.close();
    fake.close();
  });

  async function refusedWith(frames: Buffer[]): Promise<unknown> {
    const connected = client.connect();
    connected.catch(noop);
    await fake.until(m => m.type === T.HELLO);
    await fake.send(frames);
    return connected.then(
      () => {
        throw new Error('connect() resolved');
      },
      (err: unknown) => err,
    );
  }

  it('rejects with VERSION_MISMATCH when the server answers HELLO with a version-2 ERROR header', async () => {
    const before = client.getStats().dropped;
    const v2error = Buffer.from([2, T.ERROR, 0, ENC.JSON, 0, 0, 0, 0, 0, 0]);
    const err = await refusedWith([
      v2error,
      json({ status: 'error', code: 'VERSION_MISMATCH', message: 'I speak 2', version: 2 }),
    ]);
    expect(err).toBeInstanceOf(ZmqVersionMismatchError);
    expect(err).toMatchObject({ code: 'VERSION_MISMATCH', localVersion: 1, remoteVersion: 2 });
    expect(client.getStats().dropped.version).toBe(before.version + 1);
  });

  it('rejects with VERSION_MISMATCH on a version-1 VERSION_MISMATCH refusal', async () => {
    const err = await refusedWith([
      header(T.ERROR, { enc: ENC.JSON }),
      json({ status: 'error', code: 'VERSION_MISMATCH', message: 'too new', version: 1 }),
    ]);
    expect(err).toBeInstanceOf(ZmqVersionMismatchError);
    expect(err).toMatchObject({ code: 'VERSION_MISMATCH' });
  });

  it('rejects with HANDSHAKE_REFUSED when the server refuses', async () => {
    const err = await refusedWith([
      header(T.ERROR, { enc: ENC.JSON }),
      json({ status: 'error', code: 'HANDSHAKE_REFUSED', message: 'go away', version: 1 }),
    ]);
    expect(err).toBeInstanceOf(ZmqHandshakeRefusedError);
    expect(err).toMatchObject({ code: 'HANDSHAKE_REFUSED', message: 'go away' });
  });

  it('rejects with VERSION_MISMATCH when the WELCOME says version 2', async () => {
    const err = await refusedWith([
      header(T.WELCOME, { enc: ENC.JSON }),
      json({ version: 2, id: 's', metadata: {}, heartbeat: { interval: 1000, liveness: 3 }, patterns: [], events: [] }),
    ]);
    expect(err).toBeInstanceOf(ZmqVersionMismatchError);
    expect(client.getStats().dropped.version).toBe(1);
  });

  it('ignores a NOT_READY connection error and still connects on a later WELCOME', async () => {
    const connected = client.connect();
    await fake.until(m => m.type === T.HELLO);
    await fake.send([
      header(T.ERROR, { enc: ENC.JSON }),
      json({ status: 'error', code: 'NOT_READY', message: 'wait', version: 1 }),
    ]);
    await fake.send([
      header(T.WELCOME, { enc: ENC.JSON }),
      json({ version: 1, id: 's', metadata: {}, heartbeat: { interval: 1000, liveness: 3 }, patterns: [], events: [] }),
    ]);
    await connected;
    expect(client.getStats().peers).toBe(1);
  });
});
