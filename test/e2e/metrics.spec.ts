/**
 * getMetrics() on real Nest apps over tcp, and the reserved `$zmq/metrics`
 * request (docs/PROTOCOL.md §5.10): what `npx nestjs-zeromq top` reads.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom, interval, lastValueFrom, map, take, toArray } from 'rxjs';
import {
  ZMQ_LATENCY_BUCKETS,
  ZMQ_METRICS_PATTERN,
  ZmqErrorCode,
  ZmqIntrospection,
  ZmqOptionsError,
  ZmqServerOptions,
} from 'nestjs-zeromq';
import { Probe, rejectionOf } from '../helpers/async';
import { Harness } from '../helpers/nest';

const probe = new Probe();

@Controller()
class MetricsController {
  @MessagePattern('sum')
  sum(@Payload() n: number[]) {
    return n.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('fail')
  fail() {
    throw new RpcException({ code: 'E_DEMO', message: 'no' });
  }

  @MessagePattern('ticks')
  ticks(@Payload() n: number) {
    return interval(1).pipe(
      take(n),
      map(i => i),
    );
  }

  @EventPattern('audit')
  audit(@Payload() v: unknown) {
    probe.hit('audit', v);
  }
}

@Controller()
class ReservedController {
  @MessagePattern('$zmq/metrics')
  mine() {
    return 'mine';
  }
}

describe('metrics and introspection (e2e)', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  async function start(options: Omit<ZmqServerOptions, 'bind'> = {}) {
    const { server, endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [MetricsController],
      options: { id: 'metrics-srv', introspection: true, ...options },
    });
    const client = await h.connectClient(endpoint, { id: 'metrics-cli' });
    return { server, client };
  }

  it('counts requests, errors, streams and events on both sides with latency histograms', async () => {
    const { server, client } = await start();
    for (let i = 0; i < 5; i++) expect(await firstValueFrom(client.send('sum', [i, 1]))).toBe(i + 1);
    const failure = await rejectionOf(firstValueFrom(client.send('fail', {})));
    expect(failure).toMatchObject({ code: 'E_DEMO' });
    expect(await lastValueFrom(client.send('ticks', 3).pipe(toArray()))).toEqual([0, 1, 2]);
    client.emit('audit', 'x');
    await probe.wait('audit');

    const c = client.getMetrics();
    expect(c.patterns.sum).toMatchObject({ requests: 5, ok: 5, errors: {}, cancels: 0, timeouts: 0 });
    expect(c.patterns.sum!.latency.count).toBe(5);
    expect(c.patterns.sum!.latency.sum).toBeGreaterThan(0);
    expect(c.patterns.sum!.latency.buckets.map(b => b.le)).toEqual(ZMQ_LATENCY_BUCKETS);
    expect(c.patterns.sum!.latency.buckets.at(-1)!.count).toBeLessThanOrEqual(5);
    expect(c.patterns.sum!.firstChunk!.count).toBe(5);
    expect(c.patterns.fail).toMatchObject({ requests: 1, ok: 0, errors: { E_DEMO: 1 } });
    expect(c.patterns.ticks).toMatchObject({ requests: 1, ok: 1 });
    expect(c.patterns.ticks!.firstChunk!.count).toBe(1);
    expect(c.patterns.audit).toMatchObject({ events: 1, requests: 0 });
    expect([c.peers, c.inFlight]).toEqual([1, 0]);

    const s = server.getMetrics();
    expect(s.patterns.sum).toMatchObject({ requests: 5, ok: 5 });
    expect(s.patterns.sum!.latency.count).toBe(5);
    expect(s.patterns.sum!.firstChunk).toBeUndefined();
    expect(s.patterns.fail).toMatchObject({ requests: 1, errors: { E_DEMO: 1 } });
    expect(s.patterns.ticks).toMatchObject({ requests: 1, ok: 1 });
    expect(s.patterns.audit).toMatchObject({ events: 1 });
    expect([s.peers, s.inFlight]).toEqual([1, 0]);
  });

  it('an unsubscribed stream is a cancel on both sides', async () => {
    const { server, client } = await start();
    await firstValueFrom(client.send('ticks', 1000)); // takes one value, then unsubscribes
    expect(client.getMetrics().patterns.ticks).toMatchObject({ requests: 1, ok: 0, cancels: 1 });
    // The server learns it from the CANCEL: wait for that through its own figures (bounded).
    for (let i = 0; i < 200 && server.getMetrics().patterns.ticks?.cancels !== 1; i++) await probeTurn(client);
    expect(server.getMetrics().patterns.ticks).toMatchObject({ requests: 1, ok: 0, cancels: 1 });
  });

  it('[S-22] answers $zmq/metrics with server id, uptime, peers and its metrics; the pattern is listed, never counted', async () => {
    const { server, client } = await start();
    await firstValueFrom(client.send('sum', [1, 2]));
    expect(client.getPeers()[0]!.patterns).toContain(ZMQ_METRICS_PATTERN);
    const answer = await firstValueFrom(client.send<ZmqIntrospection>(ZMQ_METRICS_PATTERN, {}));
    expect(answer.serverId).toBe('metrics-srv');
    expect(answer.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(answer.peers).toEqual([{ peerId: 'metrics-cli' }]);
    expect(answer.metrics.patterns.sum).toMatchObject({ requests: 1, ok: 1 });
    expect(answer.metrics.peers).toBe(1);
    expect(Object.keys(answer.metrics.patterns)).not.toContain(ZMQ_METRICS_PATTERN);
    expect(Object.keys(server.getMetrics().patterns)).not.toContain(ZMQ_METRICS_PATTERN);
    expect(Object.keys(client.getMetrics().patterns)).not.toContain(ZMQ_METRICS_PATTERN);
  });

  it('[S-22] introspection: false: the pattern is not listed (a client finds no server for it), the server has no handler', async () => {
    const { server, client } = await start({ introspection: false });
    expect(server.requestHandler(ZMQ_METRICS_PATTERN)).toBeNull(); // a REQUEST for it would get NO_HANDLER
    expect(client.getPeers()[0]!.patterns).not.toContain(ZMQ_METRICS_PATTERN);
    const err = await rejectionOf(firstValueFrom(client.send(ZMQ_METRICS_PATTERN, {})));
    expect(err).toMatchObject({ code: ZmqErrorCode.NO_PEER });
    const [link] = client.getPeers();
    const direct = await rejectionOf(firstValueFrom(client.sendTo(link!.peerId, ZMQ_METRICS_PATTERN, {})));
    expect(direct).toMatchObject({ code: ZmqErrorCode.NO_PEER });
  });

  it('metrics: false keeps no per-pattern figures, gauges still read', async () => {
    const { server, client } = await start({ metrics: false });
    await firstValueFrom(client.send('sum', [1]));
    expect(server.getMetrics()).toEqual({ patterns: {}, peers: 1, inFlight: 0, queued: 0 });
  });

  it('[S-22] a user handler for a reserved $zmq/ pattern fails listen() with INVALID_OPTIONS naming it', async () => {
    const err = await rejectionOf(h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [ReservedController] }));
    expect(err).toBeInstanceOf(ZmqOptionsError);
    expect(err).toMatchObject({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'pattern' });
    expect((err as Error).message).toContain('$zmq/metrics');
  });
});

/** One request round trip: lets the server's side of the connection move on (no sleep). */
async function probeTurn(client: { send: (p: string, d: unknown) => import('rxjs').Observable<unknown> }) {
  await firstValueFrom(client.send('sum', [0]));
}
