/**
 * Fast return: a server that comes back is in use soon
 * after its listen, whatever libzmq's reconnect backoff has grown to. What
 * reconnects is the DEALER itself (ZMQ_RECONNECT_IVL doubling up to
 * ZMQ_RECONNECT_IVL_MAX), not our HELLO retry (a HELLO waits in the queue
 * until a connection is up). So the client gives the link a fresh DEALER:
 * one that retries every FAST_RECONNECT_MS after its server left, and one
 * with the configured backoff started afresh at each re-resolution of a name.
 *
 * The backoff is "grown" here by configuring it so: a first retry 20 s after
 * a failed connect, what a DEALER reaches after a long outage. The waits
 * are on events (the server's listen, then the client's peer:joined); the
 * hang guard (5 s) is a quarter of that backoff, so the test fails without
 * the fresh channel and passes with it on a loaded machine alike. The
 * figures printed are what the README quotes.
 */
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { ClientZmq, ServerZmq, ZmqPeerEvent } from 'nestjs-zeromq';
import { within } from '../helpers/async';
import { deadTcpEndpoint, Harness, silentLogger } from '../helpers/nest';
import { PingController } from '../helpers/ping.controller';

const GROWN_BACKOFF = { reconnectInterval: 20_000, reconnectMaxInterval: 20_000 };
const GUARD_MS = 5_000;

const h = new Harness();
afterEach(() => h.closeAll());

/** The next `event`, and when it came. */
function next(client: ClientZmq, event: 'peer:joined' | 'peer:left'): Promise<ZmqPeerEvent & { at: number }> {
  const seen = new Promise<ZmqPeerEvent & { at: number }>(resolve =>
    client.on(event, e => resolve({ ...e, at: Date.now() })),
  );
  const guarded = within(seen, GUARD_MS, event);
  guarded.catch(() => undefined); // awaited by the test; unawaited when the test failed before that
  return guarded;
}

/**
 * A Nest app with a ServerZmq on `endpoint`; resolves with the time its server reported listening. The
 * endpoint's port is outside the kernel's ephemeral range (deadTcpEndpoint), so no other socket takes it
 * meanwhile; libzmq closes a closed socket's listener in its I/O thread, a moment after close(): a bind that
 * finds the port still taken (EADDRINUSE) is tried again, at most 40 times, 50 ms apart (a bound, not a
 * timing assertion).
 */
async function listenAt(endpoint: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenOnce(endpoint);
    } catch (err) {
      if (attempt >= 40 || !String((err as Error).message).includes('in use')) throw err;
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }
}

async function listenOnce(endpoint: string): Promise<number> {
  const module = await Test.createTestingModule({ controllers: [PingController] })
    .setLogger(silentLogger)
    .compile();
  const server = new ServerZmq({ bind: endpoint });
  let listenedAt = 0;
  server.status.subscribe(status => {
    if (status === 'connected' && listenedAt === 0) listenedAt = Date.now();
  });
  const app = module.createNestMicroservice({ strategy: server, logger: false });
  try {
    await app.listen();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  h.track(app);
  return listenedAt;
}

describe('fast return', () => {
  it('a server drained, closed and started again on the same endpoint is back at once, despite a grown backoff', async () => {
    const endpoint = await deadTcpEndpoint();
    const first = await h.startServer({ bind: endpoint, controllers: [PingController] });
    const client = await h.connectClient(endpoint, GROWN_BACKOFF);
    const left = next(client, 'peer:left');
    await first.app.close();
    expect(await left).toMatchObject({ reason: 'bye' });

    const joined = next(client, 'peer:joined');
    const listenedAt = await listenAt(endpoint);
    const event = await joined;
    process.stdout.write(`fast return after a drain: joined ${event.at - listenedAt} ms after listen\n`);
    expect(event.endpoint).toBe(endpoint);
  });

  it('a name re-resolved gives a link without connection a fresh backoff: the server is in use soon after it listens', async () => {
    const endpoint = await deadTcpEndpoint();
    const port = endpoint.split(':').pop()!;
    let resolutions = 0;
    let secondResolution!: () => void;
    const resolvedTwice = new Promise<void>(resolve => (secondResolution = resolve));
    const client = h.track(
      new ClientZmq({
        connect: `tcp://svc.test:${port}`,
        resolver: () => {
          if (++resolutions === 2) secondResolution();
          return Promise.resolve(['127.0.0.1']);
        },
        resolveInterval: 200,
        connectTimeout: 30_000,
        ...GROWN_BACKOFF,
      }),
    );
    // Nothing listens yet: libzmq would wait 20 s to retry. connect() ends CONNECT_REFUSED when its probe finds the
    // port closed (the link keeps trying), or waits on when the probe comes after the listen (a loaded machine).
    const first = client.connect().then(
      () => 'connected',
      (err: { code?: unknown }) => err.code,
    );
    await within(resolvedTwice, GUARD_MS, 'a second resolution');
    const joined = next(client, 'peer:joined');
    const listenedAt = await listenAt(endpoint);
    const event = await joined;
    process.stdout.write(`fast return after re-resolution: joined ${event.at - listenedAt} ms after listen\n`);
    expect(event.endpoint).toBe(endpoint);
    expect(['connected', 'CONNECT_REFUSED']).toContain(await first);
    await client.connect();
    expect(client.getEndpoints()).toEqual([{ endpoint: `tcp://svc.test:${port}`, addresses: [endpoint] }]);
  });

  it('a DNS name (localhost) is resolved to its addresses, one link each', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    const port = endpoint.split(':').pop()!;
    const client = await h.connectClient(`tcp://localhost:${port}`);
    const [info] = client.getEndpoints();
    expect(info!.endpoint).toBe(`tcp://localhost:${port}`);
    expect(info!.addresses).toContain(`tcp://127.0.0.1:${port}`);
    expect(client.getPeers().map(p => p.endpoint)).toEqual([`tcp://127.0.0.1:${port}`]);
  });
});
