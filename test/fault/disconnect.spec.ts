/**
 * Each side finds a killed peer at once, from its connection's end, not
 * after the heartbeat timeout: the server through ZMQ_ROUTER_NOTIFY on its
 * ROUTER, the client through ZMQ_HICCUP_MSG on its DEALER. Both are messages
 * on the socket itself, nothing that can block libzmq's I/O thread (as an
 * unread socket monitor can). The heartbeats here are a minute, so only the
 * notices can end the sessions; a stopped (SIGSTOP) peer still needs the
 * heartbeat.
 */
import 'reflect-metadata';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { ClientZmq, ServerZmq, ZmqErrorCode, ZmqPeerEvent } from 'nestjs-zeromq';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { PingController } from '../helpers/ping.controller';
import { bindEndpoint } from '../helpers/transports';
import { Dealer, Router } from 'zeromq';

// Children are tracked by the harness too: closeAll() kills them.
const h = new Harness();

afterEach(() => h.closeAll());

const slowHeartbeat = { heartbeatInterval: 60_000, heartbeatLiveness: 3 };

function leftOf(server: ServerZmq, peerId: string): Promise<ZmqPeerEvent> {
  return new Promise(resolve => server.on('peer:left', e => e.peerId === peerId && resolve(e)));
}

async function startClient(endpoint: string, id: string): Promise<TsChild> {
  const client = new TsChild('test/fixtures/exiting-client.ts', [endpoint, id]);
  h.track(client);
  await client.line(/^READY$/, 30_000);
  return client;
}

it.each(['tcp', 'ipc'] as const)(
  '%s: a client killed with SIGKILL leaves at once, reason disconnect',
  async kind => {
    const { server, endpoint } = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [PingController],
      options: slowHeartbeat,
    });
    const client = await startClient(endpoint, `killed-${kind}`);
    expect(server.getPeers().map(p => p.peerId)).toContain(`killed-${kind}`);
    const left = leftOf(server, `killed-${kind}`);
    client.signal('SIGKILL');
    expect(await left).toMatchObject({ reason: 'disconnect' });
    expect(server.getPeers()).toHaveLength(0);
  },
  40_000,
);

it('the notifications wedge nothing: after clients were killed, new clients connect and are served', async () => {
  const { server, endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [PingController],
    options: slowHeartbeat,
  });
  for (let i = 0; i < 3; i++) {
    const client = await startClient(endpoint, `gone-${i}`);
    const left = leftOf(server, `gone-${i}`);
    client.signal('SIGKILL');
    await left;
  }
  for (let i = 0; i < 20; i++) {
    const client = await h.connectClient(endpoint, { id: `fresh-${i}` });
    await expect(firstValueFrom(client.send('ping', i))).resolves.toBe('pong');
  }
  expect(server.getPeers()).toHaveLength(20);
}, 60_000);

it('a stopped client (SIGSTOP) keeps its connection: it is found by the heartbeat, reason timeout', async () => {
  const { server, endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [PingController],
    options: { heartbeatInterval: 200, heartbeatLiveness: 3 },
  });
  const client = await startClient(endpoint, 'stopped');
  const left = leftOf(server, 'stopped');
  client.signal('SIGSTOP');
  expect(await left).toMatchObject({ reason: 'timeout' });
}, 40_000);

function clientLeft(client: ClientZmq, peerId: string): Promise<ZmqPeerEvent> {
  return new Promise(resolve => client.on('peer:left', e => e.peerId === peerId && resolve(e)));
}

async function startServer(bind: string): Promise<{ server: TsChild; endpoint: string }> {
  const server = h.track(new TsChild('test/fixtures/shutdown-server.ts', [bind]));
  const [, endpoint] = await server.line(/^READY (\S+)$/, 30_000);
  return { server, endpoint: endpoint! };
}

it.each(['tcp', 'ipc'] as const)(
  '%s: a server killed with SIGKILL leaves its client at once, reason disconnect; its call fails PEER_LOST',
  async kind => {
    const { server, endpoint } = await startServer(bindEndpoint(kind, h.dirs));
    const client = await h.connectClient(endpoint, { ...slowHeartbeat, requestTimeout: 0 });
    const inFlight = lastValueFrom(client.send('hang', {})).catch((err: unknown) => err);
    await expect(firstValueFrom(client.send('ping', 1))).resolves.toBe('pong'); // 'hang' reached it first
    const left = clientLeft(client, 'shutdown-server');
    server.signal('SIGKILL');
    expect(await left).toMatchObject({ reason: 'disconnect' });
    expect(await inFlight).toMatchObject({ code: ZmqErrorCode.PEER_LOST, reason: 'disconnect' });
    expect(client.getPeers()).toHaveLength(0);
  },
  40_000,
);

it('a restarted server on the same endpoint takes the client back, through the HELLO the notice queued', async () => {
  const dir = h.dirs.make();
  const bind = `ipc://${dir}/restart.sock`;
  const first = await startServer(bind);
  const client = await h.connectClient(first.endpoint, slowHeartbeat);
  const left = clientLeft(client, 'shutdown-server');
  first.server.signal('SIGKILL');
  await left;
  const joined = new Promise<void>(resolve => client.on('peer:joined', () => resolve()));
  await startServer(bind);
  await joined;
  await expect(firstValueFrom(client.send('ping', 2))).resolves.toBe('pong');
}, 60_000);

/** Resolves with the promise's value, or with `undefined` once `ms` passed (a bound on a loop, not an assertion). */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>(resolve => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

it('the client notices wedge nothing, even unread and overflowing: other sockets still work', async () => {
  const dir = h.dirs.make();
  const bind = `ipc://${dir}/flap.sock`;
  // A raw DEALER with the client's notice option and a receive queue of 5, never read. Each broken
  // connection queues a notice on it; at some point it overflows and that socket stops (only it).
  const unread = new Dealer({ linger: 0, receiveHighWaterMark: 5, reconnectInterval: 10, reconnectMaxInterval: 10 });
  (unread as unknown as { setStringOption(o: number, v: string): void }).setStringOption(114, 'lost');
  unread.connect(bind);
  let broken = 0;
  try {
    for (; broken < 150; broken++) {
      const router = new Router({ linger: 0 });
      await router.bind(bind);
      await unread.send(['x']);
      const connected = await within(router.receive(), 2_000);
      router.close(); // connected: this queues one notice on `unread`
      if (connected === undefined) break;
    }
    expect(broken).toBeGreaterThan(5); // more notices than its queue holds
    const { server, endpoint } = await startServer('tcp://127.0.0.1:*');
    const clients: ClientZmq[] = [];
    for (let i = 0; i < 10; i++) {
      const client = await h.connectClient(endpoint, { ...slowHeartbeat, id: `after-${i}` });
      await expect(firstValueFrom(client.send('ping', i))).resolves.toBe('pong');
      clients.push(client);
    }
    const left = clients.map(c => clientLeft(c, 'shutdown-server'));
    server.signal('SIGKILL');
    for (const l of left) expect(await l).toMatchObject({ reason: 'disconnect' });
  } finally {
    unread.close();
  }
}, 120_000);
