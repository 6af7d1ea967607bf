/**
 * What a client's connect() says over real sockets when no session comes:
 * nothing accepting connections at an endpoint (a closed tcp port, an ipc
 * path without a socket file) fails CONNECT_REFUSED as soon as it is known,
 * for plaintext and CURVE clients alike, while the client keeps trying; a
 * listener that accepts and never completes a handshake (a plain `net`
 * server, a CURVE server for a plaintext client) gives a CONNECT_TIMEOUT
 * saying the connection was accepted and what to check.
 */
import 'reflect-metadata';
import { createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { Controller, Logger } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import {
  ClientZmq,
  generateCurveKeyPair,
  ZmqConnectRefusedError,
  ZmqConnectTimeoutError,
  ZmqErrorCode,
} from 'nestjs-zeromq';
import { Router } from 'zeromq';
import { probeEndpoint } from '../../lib/transport/tcp-probe';
import { deferred, rejectionOf } from '../helpers/async';
import { deadTcpEndpoint, Harness, silentLogger } from '../helpers/nest';

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(v: unknown) {
    return v;
  }
}

/** Far beyond each test's own limit: a CONNECT_REFUSED that waited for it would fail the test by its timeout. */
const LONG_CONNECT_TIMEOUT = 30_000;
const TEST_MS = 20_000;
/**
 * The connectTimeout of the cases that end with CONNECT_TIMEOUT: the probe
 * (at 250 ms, then up to 250 ms for a greeting) is over well before it, even
 * on a loaded machine, so the message can say what it found.
 */
const HANDSHAKE_WAIT = 3_000;

const h = new Harness();
beforeAll(() => Logger.overrideLogger(silentLogger));
afterEach(() => h.closeAll());

/** A tcp listener on loopback that runs `onConnection` for each connection (closed by the harness). */
async function tcpListener(onConnection: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  h.track({
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
  return `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A loopback port where something listened a moment ago and nothing listens now. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>(resolve => server.close(() => resolve()));
  return `tcp://127.0.0.1:${port}`;
}

function client(connect: string | string[], options: Record<string, unknown> = {}): ClientZmq {
  return h.track(new ClientZmq({ connect, connectTimeout: LONG_CONNECT_TIMEOUT, ...options }));
}

describe('nothing accepts connections: CONNECT_REFUSED as soon as it is known', () => {
  it(
    'a closed tcp port: CONNECT_REFUSED naming the endpoint, long before connectTimeout',
    async () => {
      const endpoint = await closedPort();
      const err = await rejectionOf(client(endpoint).connect());
      expect(err).toBeInstanceOf(ZmqConnectRefusedError);
      expect(err.code).toBe(ZmqErrorCode.CONNECT_REFUSED);
      expect(err.message).toBe(
        `Nothing accepts connections at ${endpoint} (ECONNREFUSED): is the server running, and bound to that address and port?`,
      );
      expect(err.message).not.toMatch(/CURVE/);
      expect((err as ZmqConnectRefusedError).seen).toEqual([expect.objectContaining({ endpoint, reason: 'refused' })]);
    },
    TEST_MS,
  );

  it(
    'an ipc path with no socket file: CONNECT_REFUSED saying so',
    async () => {
      const endpoint = `ipc://${join(h.dirs.make(), 'nobody.sock')}`;
      const err = await rejectionOf(client(endpoint).connect());
      expect(err.code).toBe(ZmqErrorCode.CONNECT_REFUSED);
      expect(err.message).toContain(`Nothing listens at ${endpoint} (no such socket file)`);
    },
    TEST_MS,
  );

  it(
    'a CURVE client is told the same (no CURVE guess), and connect:refused reports the endpoint',
    async () => {
      const endpoint = await closedPort();
      const pair = generateCurveKeyPair();
      const c = client(endpoint, { curve: { serverKey: generateCurveKeyPair().publicKey, ...pair } });
      const event = deferred<{ endpoint: string; attempts: number }>();
      c.on('connect:refused', e => event.resolve(e));
      const err = await rejectionOf(c.connect());
      expect(err.code).toBe(ZmqErrorCode.CONNECT_REFUSED);
      expect(err.message).not.toMatch(/CURVE/);
      expect(await event.promise).toEqual({ endpoint, attempts: 1 });
    },
    TEST_MS,
  );

  it(
    'the client keeps trying: a server started after CONNECT_REFUSED is reached by the next connect()',
    async () => {
      // Below the ephemeral range: no other socket takes the port before the server binds it.
      const endpoint = await deadTcpEndpoint();
      const c = client(endpoint);
      expect((await rejectionOf(c.connect())).code).toBe(ZmqErrorCode.CONNECT_REFUSED);
      await h.startServer({ bind: endpoint, controllers: [EchoController] });
      await c.connect();
      expect(c.getPeers()).toHaveLength(1);
    },
    TEST_MS,
  );
});

describe('something accepts the connection, no handshake completes: CONNECT_TIMEOUT saying so', () => {
  it('a plain tcp listener that says nothing: the connection was accepted, what to check', async () => {
    const endpoint = await tcpListener(() => undefined);
    const err = await rejectionOf(client(endpoint, { connectTimeout: HANDSHAKE_WAIT }).connect());
    expect(err).toBeInstanceOf(ZmqConnectTimeoutError);
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect((err as ZmqConnectTimeoutError).reason).toBe('no-handshake');
    expect(err.message).toContain(
      `something at ${endpoint} accepted the TCP connection but no ZeroMQ handshake (HELLO/WELCOME) completed: ` +
        'it sent no ZeroMQ greeting, so it is not a ZeroMQ server',
    );
  });

  it('a ZeroMQ socket that is not a nestjs-zeromq server: reason "no-session", no WELCOME', async () => {
    const router = new Router({ linger: 0 });
    h.track({ close: () => router.close() });
    await router.bind('tcp://127.0.0.1:*');
    const endpoint = router.lastEndpoint!;
    const err = (await rejectionOf(
      client(endpoint, { connectTimeout: HANDSHAKE_WAIT }).connect(),
    )) as ZmqConnectTimeoutError;
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.reason).toBe('no-session');
    expect(err.message).toContain(
      `a ZeroMQ socket at ${endpoint} accepted the connection but no nestjs-zeromq WELCOME`,
    );
  });

  it('a plaintext client of a CURVE server: the message names CURVE and the "curve" option', async () => {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [EchoController],
      options: { curve: generateCurveKeyPair(), allow: '*' },
    });
    const err = await rejectionOf(client(endpoint, { connectTimeout: HANDSHAKE_WAIT }).connect());
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.message).toContain(
      `something at ${endpoint} accepted the TCP connection but no ZeroMQ handshake (HELLO/WELCOME) completed: ` +
        'its ZeroMQ greeting asks for CURVE, and this client has no "curve" option',
    );
  });

  it('one endpoint refused and one accepting: connect() waits, each endpoint says its own', async () => {
    const dead = await closedPort();
    const silent = await tcpListener(() => undefined);
    const c = client([dead, silent], { connectTimeout: HANDSHAKE_WAIT });
    const refused = deferred<string>();
    c.on('connect:refused', e => refused.resolve(e.endpoint));
    const err = (await rejectionOf(c.connect())) as ZmqConnectTimeoutError;
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.seen.map(s => [s.endpoint, s.reason])).toEqual([
      [dead, 'refused'],
      [silent, 'no-handshake'],
    ]);
    expect(await refused.promise).toBe(dead);
  });
});

describe('the probe over real sockets (lib/transport/tcp-probe.ts)', () => {
  it('a closed port is refused; an ipc path without a file has no file; inproc is not probed', async () => {
    expect(await probeEndpoint(await closedPort())).toEqual({
      kind: 'refused',
      cause: 'refused',
      code: 'ECONNREFUSED',
    });
    const ipc = `ipc://${join(h.dirs.make(), 'none.sock')}`;
    expect(await probeEndpoint(ipc)).toEqual({ kind: 'refused', cause: 'no-file', code: 'ENOENT' });
    expect(await probeEndpoint('inproc://x')).toEqual({ kind: 'unprobed' });
  });

  it('a listener that sends something other than ZeroMQ, or nothing: accepted, no greeting', async () => {
    const http = await tcpListener(socket => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    expect(await probeEndpoint(http)).toEqual({ kind: 'accepted', greeting: { kind: 'none' } });
    const silent = await tcpListener(() => undefined);
    expect(await probeEndpoint(silent)).toEqual({ kind: 'accepted', greeting: { kind: 'none' } });
  });

  it('ZeroMQ sockets: their greeting names their mechanism (NULL, CURVE)', async () => {
    const router = new Router({ linger: 0 });
    h.track({ close: () => router.close() });
    await router.bind('tcp://127.0.0.1:*');
    expect(await probeEndpoint(router.lastEndpoint!)).toEqual({
      kind: 'accepted',
      greeting: { kind: 'zmtp', mechanism: 'NULL' },
    });
    const serverPair = generateCurveKeyPair();
    const { server, endpoint } = await h.startServer({
      bind: `ipc://${join(h.dirs.make(), 'curve.sock')}`,
      controllers: [EchoController],
      options: { curve: serverPair, allow: '*' },
    });
    const refusals: unknown[] = [];
    server.on('peer:refused', event => void refusals.push(event));
    expect(await probeEndpoint(endpoint)).toEqual({ kind: 'accepted', greeting: { kind: 'zmtp', mechanism: 'CURVE' } });
    // The server counts no refused handshake for a probe: a CURVE client served after it finds none.
    const c = client(endpoint, { curve: { serverKey: serverPair.publicKey } });
    await c.connect();
    expect(refusals).toEqual([]);
    expect(server.getStats().refused).toBe(0);
  });
});
