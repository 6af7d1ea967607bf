/**
 * What CURVE does on the wire: a TCP relay between client and
 * server records the traffic, and a known payload string is in it without
 * CURVE and never with it; and the ZAP handler fails closed: with none
 * answering for a server's domain, libzmq refuses the connection.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { createConnection, createServer, Server, Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { Context, Dealer, Request, Router } from 'zeromq';
import { generateCurveKeyPair, ZmqServerOptions } from 'nestjs-zeromq';
import { dealerCurveOptions, routerCurveOptions } from '../../lib/transport/curve-options';
import { registerZapDomain, ZAP_ENDPOINT } from '../../lib/transport/zap';
import { decodeZ85 } from '../../lib/security/z85';
import { within } from '../helpers/async';
import { Harness } from '../helpers/nest';

const SECRET = 'the-known-payload-3f9a1c-never-in-clear';

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() text: string) {
    return text;
  }
}

/** A TCP relay on 127.0.0.1 to `target`, recording every byte it forwards (both ways). */
class RecordingRelay {
  private readonly chunks: Buffer[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  async start(target: string): Promise<string> {
    const { hostname, port } = new URL(target.replace(/^tcp:/, 'http:'));
    this.server = createServer(inbound => {
      const outbound = createConnection({ host: hostname, port: Number(port) });
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      inbound.on('data', (b: Buffer) => this.chunks.push(Buffer.from(b)));
      outbound.on('data', (b: Buffer) => this.chunks.push(Buffer.from(b)));
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address() as { port: number };
    return `tcp://127.0.0.1:${address.port}`;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>(resolve => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const h = new Harness();
afterEach(() => h.closeAll());

async function recordEcho(options: Pick<ZmqServerOptions, 'curve' | 'allow'>, serverKey?: string): Promise<Buffer> {
  const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [EchoController], options });
  const relay = h.track(new RecordingRelay());
  const via = await relay.start(endpoint);
  const client = await h.connectClient(via, serverKey === undefined ? {} : { curve: { serverKey } });
  await expect(firstValueFrom(client.send('echo', SECRET))).resolves.toBe(SECRET);
  return relay.bytes;
}

describe('the bytes on the wire', () => {
  test('without CURVE the payload crosses the relay in clear (the relay sees it)', async () => {
    const bytes = await recordEcho({});
    expect(bytes.includes(SECRET)).toBe(true);
  });

  test('with CURVE the payload never appears in the recorded traffic', async () => {
    const pair = generateCurveKeyPair();
    const bytes = await recordEcho({ curve: pair, allow: '*' }, pair.publicKey);
    // The request and its reply did cross the relay: more than the greetings.
    expect(bytes.length).toBeGreaterThan(2 * SECRET.length);
    expect(bytes.includes(SECRET)).toBe(false);
    expect(bytes.includes(Buffer.from(SECRET).toString('base64'))).toBe(false);
    expect(bytes.includes('echo')).toBe(false);
  });
});

/** The next event of `socket` whose type starts with `prefix` (bounded in count and time). */
async function nextEventOf(socket: Router, prefix: string): Promise<string> {
  const seen = async () => {
    for (let i = 0; i < 100; i++) {
      const event = await socket.events.receive();
      if (event.type.startsWith(prefix)) return event.type;
    }
    throw new Error(`no ${prefix} event in 100 events`);
  };
  return within(seen(), 8_000, `a ${prefix} event`);
}

describe('the ZAP handler fails closed', () => {
  test('[S-28] no handler for the domain: refused; an unknown domain: refused; registered: the message arrives', async () => {
    // A context of its own: no ZAP handler runs in it until this test starts one.
    const context = new Context();
    const server = generateCurveKeyPair();
    const client = generateCurveKeyPair();
    const router = h.track(new Router({ context, ...routerCurveOptions({ ...server, zapDomain: 'curve-wire-test' }) }));
    await router.bind('tcp://127.0.0.1:*');
    const dealerOf = () =>
      h.track(
        new Dealer({
          context,
          linger: 0,
          reconnectInterval: 50,
          ...dealerCurveOptions({ ...client, serverKey: server.publicKey }),
        }),
      );
    const dealer = dealerOf();
    const failed = nextEventOf(router, 'handshake:error');
    dealer.connect(router.lastEndpoint!);
    await expect(failed).resolves.toMatch(/^handshake:error:/);

    // A handler that does not know this server's domain refuses it too. (libzmq does not reconnect a
    // client after a failed security handshake, it ends that session: each step has a new client.)
    const releaseOther = await registerZapDomain(
      'another-domain',
      () => Promise.resolve(true),
      () => undefined,
      context,
    );
    h.track({ close: releaseOther });
    const refused = nextEventOf(router, 'handshake:error');
    dealerOf().connect(router.lastEndpoint!);
    await expect(refused).resolves.toBe('handshake:error:auth');

    const asked: string[] = [];
    const release = await registerZapDomain(
      'curve-wire-test',
      peer => {
        asked.push(peer.publicKey);
        return Promise.resolve(true);
      },
      () => undefined,
      context,
    );
    h.track({ close: release });
    const admitted = dealerOf();
    admitted.connect(router.lastEndpoint!);
    const sent = admitted.send('knock');
    const [from, body] = await within(router.receive(), 8_000, 'the first message');
    await sent;
    expect(from!.length).toBeGreaterThan(0);
    expect(body!.toString()).toBe('knock');
    expect(asked).toContain(client.publicKey);
  });
});

describe('the ZAP handler answers RFC 27 requests', () => {
  test('[S-28] 200 with the key as user id when allowed; 400 for a refusal, another mechanism or domain; 500 when malformed', async () => {
    const context = new Context();
    const allowed = generateCurveKeyPair().publicKey;
    const problems: string[] = [];
    const release = await registerZapDomain(
      'zap-rfc27',
      peer => Promise.resolve(peer.publicKey === allowed && peer.address === '10.0.0.7'),
      message => problems.push(message),
      context,
    );
    h.track({ close: release });
    const req = h.track(new Request({ context, linger: 0 }));
    req.connect(ZAP_ENDPOINT);
    const ask = async (frames: Array<string | Buffer>) => {
      await req.send(frames);
      const [version, id, code, text, userId] = await within(req.receive(), 5_000, 'a ZAP reply');
      return {
        version: String(version),
        id: String(id),
        code: String(code),
        text: String(text),
        userId: String(userId),
      };
    };
    const request = (key: string, over: { domain?: string; mechanism?: string; version?: string } = {}) => [
      over.version ?? '1.0',
      '7',
      over.domain ?? 'zap-rfc27',
      '10.0.0.7',
      'server-identity',
      over.mechanism ?? 'CURVE',
      decodeZ85(key)!,
    ];
    await expect(ask(request(allowed))).resolves.toEqual({
      version: '1.0',
      id: '7',
      code: '200',
      text: 'OK',
      userId: allowed,
    });
    const other = generateCurveKeyPair().publicKey;
    await expect(ask(request(other))).resolves.toMatchObject({ code: '400', userId: '' });
    await expect(ask(request(allowed, { domain: 'not-registered' }))).resolves.toMatchObject({ code: '400' });
    await expect(ask(request(allowed, { mechanism: 'PLAIN' }))).resolves.toMatchObject({ code: '400' });
    expect(problems).toEqual([expect.stringMatching(/refused a PLAIN handshake/)]);
    await expect(ask(request(allowed, { version: '2.0' }))).resolves.toMatchObject({ version: '2.0', code: '500' });
  });
});
