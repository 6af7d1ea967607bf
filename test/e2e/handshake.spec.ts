/**
 * The handshake over real sockets with the public API: after a NOT_READY
 * answer the client says HELLO once; close() during a pending connect()
 * pushes 'disconnected' once; a second WELCOME (a renewal) does not push
 * 'connected' again; a HELLO over the handshake limit gets ERROR(0)
 * HANDSHAKE_REFUSED.
 *
 * A raw zeromq.js ROUTER plays the server for the client's side, a raw
 * DEALER the client for the server's. Synchronization is on messages, never on sleeps: ZeroMQ
 * keeps the order of messages on one connection, and both sides handle each
 * message synchronously, so once the answer to a later message (a PONG to
 * our PING, a WELCOME to our HELLO) has arrived, everything the peer queued
 * before it has arrived too.
 *
 * Status: Nest's `ClientProxy.status` pipes `distinctUntilChanged()`, which
 * hides a value pushed twice in a row from its subscribers; the status tests
 * therefore also read what the client pushes into `_status$` (protected, so
 * through a subclass), where the repeated value shows.
 */
import 'reflect-metadata';
import { Controller, Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { Dealer, Router } from 'zeromq';
import { ClientZmq, ZmqClientOptions, ZmqErrorCode } from 'nestjs-zeromq';
import { MAX_HANDSHAKE_BYTES } from '../../lib/protocol/limits';
import { rejectionOf } from '../helpers/async';
import { Harness, silentLogger } from '../helpers/nest';
import { EMPTY, ENC, header, helloPayload, json, ParsedEnvelope, parseEnvelopes, T } from '../helpers/wire';

/** Bounds every receive: a missing message fails the test instead of hanging it. */
const RECEIVE_TIMEOUT = 5_000;
/** Most messages read while looking for one envelope. */
const MAX_MESSAGES = 50;

/**
 * A raw socket's inbound envelopes, in order. Unlike a helper that returns on
 * the first match, it keeps the rest of a message: two envelopes written in
 * one batch are both seen.
 */
class Inbox {
  private readonly queue: ParsedEnvelope[] = [];

  constructor(private readonly read: () => Promise<ParsedEnvelope[]>) {}

  async next(): Promise<ParsedEnvelope> {
    for (let n = 0; n < MAX_MESSAGES && this.queue.length === 0; n++) this.queue.push(...(await this.read()));
    const env = this.queue.shift();
    if (env === undefined) throw new Error(`no envelope within ${MAX_MESSAGES} messages`);
    return env;
  }

  /** Envelopes up to the first that matches: `match` is it, `before` are those before it. */
  async until(match: (m: ParsedEnvelope) => boolean): Promise<{ match: ParsedEnvelope; before: ParsedEnvelope[] }> {
    const before: ParsedEnvelope[] = [];
    for (let n = 0; n < MAX_MESSAGES * 4; n++) {
      const env = await this.next();
      if (match(env)) return { match: env, before };
      before.push(env);
    }
    throw new Error(`no matching envelope within ${MAX_MESSAGES * 4} envelopes`);
  }
}

/** A ROUTER acting as a server, driven by hand (one client). */
class RawServer {
  readonly sock = new Router({
    linger: 0,
    mandatory: true,
    receiveTimeout: RECEIVE_TIMEOUT,
    sendTimeout: RECEIVE_TIMEOUT,
  });
  endpoint = '';
  private rid: Buffer = EMPTY;
  readonly inbox = new Inbox(async () => {
    const frames = await this.sock.receive();
    this.rid = frames[0]!;
    return parseEnvelopes(frames, 1);
  });

  async bind(): Promise<void> {
    await this.sock.bind('tcp://127.0.0.1:*');
    this.endpoint = this.sock.lastEndpoint!;
  }

  send(frames: Buffer[]): Promise<void> {
    return this.sock.send([this.rid, ...frames]);
  }

  sendWelcome(patterns: string[] = ['echo']): Promise<void> {
    return this.send([
      header(T.WELCOME, { enc: ENC.JSON }),
      json({
        version: 1,
        id: 'raw-server',
        metadata: {},
        heartbeat: { interval: 10_000, liveness: 3 },
        patterns,
        events: [],
      }),
    ]);
  }

  /** Waits for the client's HELLO and welcomes it. */
  async welcome(): Promise<void> {
    await this.inbox.until(m => m.type === T.HELLO);
    await this.sendWelcome();
  }

  /** PING, then the envelopes the client sent before its PONG. */
  async sync(): Promise<ParsedEnvelope[]> {
    await this.send([header(T.PING), EMPTY]);
    return (await this.inbox.until(m => m.type === T.PONG)).before;
  }

  close(): void {
    this.sock.close();
  }
}

/** A ClientZmq that records every status it pushes, before Nest's distinctUntilChanged. */
class StatusProbeClient extends ClientZmq {
  readonly pushed: string[] = [];
  /** What a subscriber of the public `status` sees. */
  readonly seen: string[] = [];

  constructor(options: ZmqClientOptions) {
    super(options);
    this._status$.subscribe(s => this.pushed.push(s));
    this.status.subscribe(s => this.seen.push(s));
  }
}

/** Client settings that keep timers out of the way: no HELLO retry or PING within a test. */
const QUIET = { heartbeatInterval: 10_000, connectTimeout: 10_000, requestTimeout: 10_000, linger: 0 };

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown) {
    return data;
  }
}

const harness = new Harness();
const raws: Array<{ close(): void }> = [];

function rawServer(): RawServer {
  const s = new RawServer();
  raws.push(s);
  return s;
}

function client(options: ZmqClientOptions): StatusProbeClient {
  return harness.track(new StatusProbeClient(options));
}

beforeAll(() => {
  Logger.overrideLogger(silentLogger);
});

afterEach(async () => {
  try {
    await harness.closeAll();
  } finally {
    for (const r of raws.splice(0)) r.close();
  }
});

describe('NOT_READY on a ready link', () => {
  const notReadyCases: Array<[string, (id: number) => Buffer[]]> = [
    [
      'ERROR(id) NOT_READY to a request',
      id => [
        header(T.ERROR, { id, enc: ENC.JSON }),
        json({ status: 'error', code: ZmqErrorCode.NOT_READY, message: 'handshake first' }),
      ],
    ],
    [
      'a connection-level ERROR(0) NOT_READY',
      () => [
        header(T.ERROR, { enc: ENC.JSON }),
        json({ status: 'error', code: ZmqErrorCode.NOT_READY, message: 'handshake first', version: 1 }),
      ],
    ],
  ];

  it.each(notReadyCases)('%s: the client says HELLO exactly once after it', async (_name, notReady) => {
    const fake = rawServer();
    await fake.bind();
    const c = client({ connect: fake.endpoint, ...QUIET });
    const connected = c.connect();
    await fake.welcome();
    await connected;

    const reply = rejectionOf(firstValueFrom(c.send('echo', 'x')));
    const { match: req } = await fake.inbox.until(m => m.type === T.REQUEST);
    await fake.send(notReady(req.id));

    // The session is gone: the call fails, and the client asks for a new one.
    const err = await reply;
    expect(err).toMatchObject({ code: ZmqErrorCode.PEER_LOST, reason: 'disconnect' });
    const { before } = await fake.inbox.until(m => m.type === T.HELLO);
    expect(before.filter(m => m.type === T.HELLO)).toEqual([]);
    // Whatever the client queued before answering our PING is here now: no second HELLO.
    const afterHello = await fake.sync();
    expect(afterHello.filter(m => m.type === T.HELLO)).toEqual([]);

    // And the new handshake works.
    await fake.sendWelcome();
    await fake.sync(); // the WELCOME has been handled
    const echoed = firstValueFrom(c.send('echo', 'y'));
    const { match: req2 } = await fake.inbox.until(m => m.type === T.REQUEST);
    await fake.send([header(T.CHUNK, { id: req2.id, flags: 1, enc: ENC.JSON }), json('y')]);
    expect(await echoed).toBe('y');
  });
});

describe('close() during a pending connect()', () => {
  it("rejects it with CLOSED and pushes 'disconnected' once", async () => {
    const fake = rawServer(); // never answers
    await fake.bind();
    const c = client({ connect: fake.endpoint, ...QUIET });
    const connecting = rejectionOf(c.connect());
    // The link is up and its HELLO arrived: connect() is truly waiting on the handshake.
    await fake.inbox.until(m => m.type === T.HELLO);
    await c.close();
    expect(await connecting).toMatchObject({ code: ZmqErrorCode.CLOSED });
    expect(c.seen).toEqual(['disconnected']);
    expect(c.pushed).toEqual(['disconnected']);
  });
});

describe('a second WELCOME (renewal)', () => {
  it("does not push 'connected' again, nor a second peer:joined", async () => {
    const fake = rawServer();
    await fake.bind();
    const c = client({ connect: fake.endpoint, ...QUIET });
    const joined: string[] = [];
    c.on('peer:joined', e => joined.push(e.peerId));
    const connected = c.connect();
    await fake.welcome();
    await connected;
    expect(c.pushed).toEqual(['connected']);

    await fake.sendWelcome(['echo', 'more']);
    await fake.sync(); // the second WELCOME has been handled
    expect(c.getPeers()[0]!.patterns).toEqual(['echo', 'more']); // it was read
    expect(joined).toEqual(['raw-server']);
    expect(c.seen).toEqual(['connected']);
    expect(c.pushed).toEqual(['connected']);
  });
});

describe('a HELLO larger than the handshake limit (MAX_HANDSHAKE_BYTES)', () => {
  it('gets ERROR(0) HANDSHAKE_REFUSED from a ServerZmq', async () => {
    const { server, endpoint } = await harness.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [EchoController],
    });
    const dealer = new Dealer({ linger: 0, receiveTimeout: RECEIVE_TIMEOUT, sendTimeout: RECEIVE_TIMEOUT });
    raws.push(dealer);
    dealer.connect(endpoint);
    const inbox = new Inbox(async () => parseEnvelopes(await dealer.receive(), 0));
    const big = json({
      version: 1,
      id: 'big-hello',
      metadata: { blob: 'x'.repeat(MAX_HANDSHAKE_BYTES + 1024) },
      heartbeat: { interval: 1_000, liveness: 3 },
    });
    expect(big.length).toBeGreaterThan(MAX_HANDSHAKE_BYTES);
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), big]);
    // A valid HELLO after it: its WELCOME comes after whatever the big one got.
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload('small-hello')]);

    const first = await inbox.next();
    expect(first).toMatchObject({ type: T.ERROR, id: 0 });
    expect(first.body).toMatchObject({ status: 'error', code: ZmqErrorCode.HANDSHAKE_REFUSED });
    const second = await inbox.next();
    expect(second.type).toBe(T.WELCOME);
    expect(server.getStats().dropped.oversized).toBe(1);
    expect(server.getPeers().map(p => p.peerId)).toEqual(['small-hello']);
  });
});
