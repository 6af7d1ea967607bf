/**
 * Connect diagnostics over real sockets: a client whose server is not there
 * is told apart from one that reached something that is not a ZeroMQ server,
 * a ZeroMQ socket that is not a nestjs-zeromq server, and a failed CURVE
 * handshake, each in the error's `reason` and message; a refused connection
 * is said in a log line as soon as it happens.
 */
import 'reflect-metadata';
import { createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { Controller, Logger, LoggerService } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { Router } from 'zeromq';
import { ClientZmq, generateCurveKeyPair, ZmqConnectTimeoutError, ZmqErrorCode } from 'nestjs-zeromq';
import { deferred, rejectionOf } from '../helpers/async';
import { deadTcpEndpoint, Harness, silentLogger } from '../helpers/nest';

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(v: unknown) {
    return v;
  }
}

const h = new Harness();
afterEach(async () => {
  Logger.overrideLogger(silentLogger);
  await h.closeAll();
});
beforeAll(() => Logger.overrideLogger(silentLogger));

/** A tcp listener that runs `onConnection` for each connection (closed by the harness). */
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
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no tcp address');
  return `tcp://127.0.0.1:${address.port}`;
}

function client(connect: string, options: Record<string, unknown> = {}): ClientZmq {
  return h.track(new ClientZmq({ connect, connectTimeout: 1_000, reconnectInterval: 50, ...options }));
}

async function timeoutOf(c: ClientZmq): Promise<ZmqConnectTimeoutError> {
  const err = await rejectionOf(c.connect());
  expect(err).toBeInstanceOf(ZmqConnectTimeoutError);
  expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
  return err as ZmqConnectTimeoutError;
}

describe('CONNECT_TIMEOUT says what the attempts met', () => {
  it('no server running at a tcp endpoint: reason "refused", "nothing accepts connections at X"', async () => {
    const endpoint = await deadTcpEndpoint();
    const err = await timeoutOf(client(endpoint));
    expect(err.reason).toBe('refused');
    expect(err.seen).toEqual([expect.objectContaining({ endpoint, reason: 'refused' })]);
    expect(err.message).toContain(`nothing accepts connections at ${endpoint}`);
    expect(err.message).not.toMatch(/CURVE/);
  });

  it('no server at an ipc path: reason "refused"', async () => {
    const endpoint = `ipc://${join(h.dirs.make(), 'nobody.sock')}`;
    const err = await timeoutOf(client(endpoint));
    expect(err.reason).toBe('refused');
    expect(err.message).toContain(`nothing accepts connections at ${endpoint}`);
  });

  it('something accepts and closes connections: reason "no-handshake", not "refused"', async () => {
    const endpoint = await tcpListener(socket => socket.destroy());
    const err = await timeoutOf(client(endpoint));
    expect(err.reason).toBe('no-handshake');
    expect(err.message).toContain(`something at ${endpoint} accepts connections but no ZeroMQ handshake completed`);
    expect(err.message).toContain('is it a ZeroMQ server?');
  });

  it('something accepts connections and says nothing: reason "no-handshake"', async () => {
    const endpoint = await tcpListener(() => undefined);
    const err = await timeoutOf(client(endpoint));
    expect(err.reason).toBe('no-handshake');
  });

  it('a ZeroMQ socket that is not a nestjs-zeromq server: reason "no-session"', async () => {
    const router = new Router({ linger: 0 });
    h.track({ close: () => router.close() });
    await router.bind('tcp://127.0.0.1:*');
    const endpoint = router.lastEndpoint!;
    const err = await timeoutOf(client(endpoint));
    expect(err.reason).toBe('no-session');
    expect(err.message).toContain(`a ZeroMQ socket at ${endpoint} completed the ZeroMQ handshake`);
    expect(err.message).toContain('no nestjs-zeromq WELCOME');
  });

  it('a CURVE client with a wrong server key: "no-handshake", naming the key', async () => {
    const serverPair = generateCurveKeyPair();
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [EchoController],
      options: { curve: serverPair, allow: '*' },
    });
    const err = await timeoutOf(client(endpoint, { curve: { serverKey: generateCurveKeyPair().publicKey } }));
    expect(err.reason).toBe('no-handshake');
    expect(err.message).toContain('a wrong curve.serverKey');
  });

  it('two endpoints: each says its own, `reason` is the furthest', async () => {
    const dead = await deadTcpEndpoint();
    const silent = await tcpListener(() => undefined);
    const err = await timeoutOf(h.track(new ClientZmq({ connect: [dead, silent], connectTimeout: 1_000 })));
    expect(err.seen.map(s => [s.endpoint, s.reason])).toEqual([
      [dead, 'refused'],
      [silent, 'no-handshake'],
    ]);
    expect(err.reason).toBe('no-handshake');
  });
});

describe('said as early as it is known', () => {
  it('a refused connection is logged at once, long before connectTimeout', async () => {
    const endpoint = await deadTcpEndpoint();
    const warned = deferred<string>();
    const capture: LoggerService = {
      ...silentLogger,
      warn: (message: unknown) => {
        if (typeof message === 'string' && message.includes('Nothing accepts connections')) warned.resolve(message);
      },
    };
    Logger.overrideLogger(capture);
    const c = client(endpoint, { connectTimeout: 600_000 });
    const connecting = rejectionOf(c.connect());
    expect(await warned.promise).toContain(`Nothing accepts connections at ${endpoint}`);
    await c.close();
    expect((await connecting).code).toBe(ZmqErrorCode.CLOSED);
  });

  it('each refused attempt is a connect:refused event with the endpoint and the count', async () => {
    const endpoint = await deadTcpEndpoint();
    const c = client(endpoint, { connectTimeout: 600_000 });
    const second = deferred<{ endpoint: string; attempts: number }>();
    const seen: number[] = [];
    c.on('connect:refused', event => {
      seen.push(event.attempts);
      if (event.attempts === 2) second.resolve(event);
    });
    const connecting = rejectionOf(c.connect());
    expect(await second.promise).toEqual({ endpoint, attempts: 2 });
    expect(seen.slice(0, 2)).toEqual([1, 2]);
    await c.close();
    expect((await connecting).code).toBe(ZmqErrorCode.CLOSED);
  });

  it('a plaintext client of a CURVE server fails AUTH_FAILED at once, naming the "curve" option', async () => {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [EchoController],
      options: { curve: generateCurveKeyPair(), allow: '*' },
    });
    const err = await rejectionOf(client(endpoint, { connectTimeout: 600_000 }).connect());
    expect(err.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(err.message).toContain(`Server ${endpoint} requires CURVE: set this client's "curve" option`);
  });
});
