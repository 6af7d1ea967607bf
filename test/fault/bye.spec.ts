/**
 * A BYE reaches the other side, idle or busy, in one process or two, however
 * fast the closing process exits after close(): the side that closes waits
 * for the answering BYE of a peer that took `bye-ack` (docs/PROTOCOL.md §9),
 * so a server stopped by SIGTERM with Nest's shutdown hooks after an idle
 * second still tells its callers, who never wait for the heartbeat timeout.
 *
 * The idle periods below are the scenario, not a synchronisation: a BYE lost
 * on a connection idle for about a second is what they check.
 */
import 'reflect-metadata';
import { ClientZmq, ServerZmq, ZmqPeerEvent } from 'nestjs-zeromq';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { PingController } from '../helpers/ping.controller';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

const IDLE_MS = 1_500;
const idle = () => new Promise(resolve => setTimeout(resolve, IDLE_MS));
const leftOnce = (side: ClientZmq | ServerZmq) =>
  new Promise<ZmqPeerEvent>(resolve => side.on('peer:left', e => resolve(e)));

// Children are tracked by the harness too: closeAll() kills them.
const h = new Harness();

afterEach(() => h.closeAll());

describe('a server that exits right after close()', () => {
  it.each([1, 2, 3])(
    'SIGTERM with shutdown hooks after an idle period: the client sees BYE (trial %i)',
    async () => {
      const server = new TsChild('test/fixtures/shutdown-server.ts');
      h.track(server);
      const [, endpoint] = await server.line(/^READY (\S+)$/, 30_000);
      const client = await h.connectClient(endpoint!, { connectTimeout: 10_000 });
      const left = leftOnce(client);
      await idle();
      server.signal('SIGTERM');
      expect(await left).toMatchObject({ peerId: 'shutdown-server', reason: 'bye' });
      expect(await server.exited).not.toEqual({ code: 1, signal: null });
    },
    40_000,
  );
});

describe('client and server in one process', () => {
  it.each(TRANSPORTS)('%s: app.close() after an idle period reaches the client as BYE', async kind => {
    const { app, endpoint } = await h.startServer({ bind: bindEndpoint(kind, h.dirs), controllers: [PingController] });
    const client = await h.connectClient(endpoint);
    const left = leftOnce(client);
    await idle();
    await app.close();
    expect(await left).toMatchObject({ reason: 'bye' });
  });
});

describe('a client that exits right after close()', () => {
  it('the server sees BYE, not a timeout', async () => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    const left = leftOnce(server);
    const client = new TsChild('test/fixtures/exiting-client.ts', [endpoint, 'exiting-client']);
    h.track(client);
    await client.line(/^READY$/, 30_000);
    await idle();
    client.signal('SIGTERM');
    expect(await left).toMatchObject({ peerId: 'exiting-client', reason: 'bye' });
    expect(await client.exited).toEqual({ code: 0, signal: null });
  }, 40_000);
});
