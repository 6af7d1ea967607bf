/**
 * A server finds a killed client at once, from its connection's end
 * (ZMQ_ROUTER_NOTIFY on the ROUTER: a message on the socket itself, nothing
 * that can block libzmq's I/O thread), not after the heartbeat timeout.
 * The server here has a heartbeat of a minute, so only the notification can
 * end the session; a stopped (SIGSTOP) client still needs the heartbeat.
 */
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { ServerZmq, ZmqPeerEvent } from 'nestjs-zeromq';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { PingController } from '../helpers/ping.controller';
import { bindEndpoint } from '../helpers/transports';

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
